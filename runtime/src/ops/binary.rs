//! Broadcasting binary ops (ONNX `Add`, `Sub`, `Mul`, `Div`, `Max`, `Min`,
//! `Pow`, `PRelu`), f32. Inputs `a`, `b` of rank <= 6 broadcasting
//! numpy-style to the output shape. Parameters: `act(3)`.
//! `y[i] = act(op(a[bcast i], b[bcast i]))`. An input of the output's shape
//! may share the output's bytes (in place). Either input may share the
//! output's bytes when it has the output's shape (in place).
//!
//! int8 form (`Add`, `Sub`, `Mul` with `i8` inputs and output; zero points
//! from the records): `Add`/`Sub` parameters are `qact(3), left_shift,
//! a_mult, a_shift, b_mult, b_shift, out_mult, out_shift` (TFLite's ADD);
//! `Mul` parameters are `qact(3), mult, shift`. Arithmetic:
//! [`crate::kernels::i8_elementwise`].

use super::{bcast_strides, decode_act, pad_shape, Checked, Eval, OpCode, Prep};
use crate::format::DType;
use crate::kernels::elementwise::BinaryKind;
use crate::kernels::i8_elementwise::{Operand, QAddParams, QBinary, QMulParams};
use crate::kernels::MAX_RANK;

fn kind(code: OpCode) -> BinaryKind {
    match code {
        OpCode::Sub => BinaryKind::Sub,
        OpCode::Mul => BinaryKind::Mul,
        OpCode::Div => BinaryKind::Div,
        OpCode::Max => BinaryKind::Max,
        OpCode::Min => BinaryKind::Min,
        OpCode::Pow => BinaryKind::Pow,
        OpCode::PRelu => BinaryKind::PRelu,
        _ => BinaryKind::Add,
    }
}

/// The int8 operation of an `i8` Add/Sub/Mul, from its parameters and the
/// zero points of its tensors.
fn qbinary(op: &crate::model::OpInfo<'_>, zps: [i32; 3]) -> Option<QBinary> {
    let (act_min, act_max) = super::decode_qact(op, 0)?;
    let w = |i| op.param_i32(i);
    let [a_zp, b_zp, out_zp] = zps;
    match op.code {
        OpCode::Add | OpCode::Sub if op.num_params() == 10 => {
            let q = QAddParams {
                a_zp,
                b_zp,
                out_zp,
                left_shift: w(3),
                a_mult: w(4),
                a_shift: w(5),
                b_mult: w(6),
                b_shift: w(7),
                out_mult: w(8),
                out_shift: w(9),
                act_min,
                act_max,
                sub: op.code == OpCode::Sub,
            };
            let ok = (0..=20).contains(&q.left_shift)
                && [q.a_mult, q.b_mult, q.out_mult].iter().all(|&m| m >= 0)
                && [q.a_shift, q.b_shift, q.out_shift]
                    .iter()
                    .all(|&s| super::valid_shift(s));
            ok.then_some(QBinary::Add(q))
        }
        OpCode::Mul if op.num_params() == 5 => {
            let q = QMulParams {
                a_zp,
                b_zp,
                out_zp,
                mult: w(3),
                shift: w(4),
                act_min,
                act_max,
            };
            (q.mult >= 0 && super::valid_shift(q.shift)).then_some(QBinary::Mul(q))
        }
        _ => None,
    }
}

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    if ctx.out.dtype == DType::I8 {
        ctx.all_i8()?;
        let zps = [
            ctx.input(0)?.zero_point,
            ctx.input(1)?.zero_point,
            ctx.out.zero_point,
        ];
        qbinary(&ctx.op, zps).ok_or(ctx.bad())?;
    } else {
        ctx.params(3)?;
        ctx.act(0)?;
        ctx.f32_kernels()?;
    }
    ctx.ensure(ctx.op.num_inputs() == 2)?;
    ctx.broadcast_inputs()
}

fn eval_i8(ctx: &mut Eval<'_, '_>) {
    let ys = pad_shape(ctx.out.shape());
    let (op, out_zp, alias) = (ctx.op, ctx.out.zero_point, ctx.alias);
    let kernels = ctx.kernels;
    let (inputs, out) = ctx.split_i8();
    let (Some(ai), Some(bi)) = (inputs.info(0), inputs.info(1)) else {
        return;
    };
    let Some(q) = qbinary(&op, [ai.zero_point, bi.zero_point, out_zp]) else {
        return;
    };
    let (ast, bst) = (
        bcast_strides(ai.shape(), &ys),
        bcast_strides(bi.shape(), &ys),
    );
    let (a, b) = operands(alias, (inputs.i8(0), ast), (inputs.i8(1), bst));
    (kernels.i8_binary)(&q, a, b, out, ys);
}

/// The two operands of a binary op whose input `alias` (if any) is the
/// output: in place, the aliased input's bytes are the output's.
fn operands<'a, T>(
    alias: Option<usize>,
    a: (&'a [T], [usize; MAX_RANK]),
    b: (&'a [T], [usize; MAX_RANK]),
) -> (Operand<'a, T>, Operand<'a, T>) {
    match alias {
        Some(0) => (Operand::Output, Operand::Tensor(b.0, b.1)),
        Some(_) => (Operand::Tensor(a.0, a.1), Operand::Output),
        None => (Operand::Tensor(a.0, a.1), Operand::Tensor(b.0, b.1)),
    }
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    if ctx.out.dtype == DType::I8 {
        return eval_i8(ctx);
    }
    let Some(act) = decode_act(&ctx.op, 0) else {
        return;
    };
    let k = kind(ctx.op.code);
    let ys = pad_shape(ctx.out.shape());
    let alias = ctx.alias;
    if !cfg!(feature = "f32") {
        return; // refused by `prepare`: this build has no f32 kernels
    }
    let binary = ctx.kernels.f32_binary;
    let (inputs, out) = ctx.split_f32();
    let (Some(ai), Some(bi)) = (inputs.info(0), inputs.info(1)) else {
        return;
    };
    let (ast, bst) = (
        bcast_strides(ai.shape(), &ys),
        bcast_strides(bi.shape(), &ys),
    );
    let (a, b) = operands(alias, (inputs.f32(0), ast), (inputs.f32(1), bst));
    binary(k, a, b, out, ys, act);
}
