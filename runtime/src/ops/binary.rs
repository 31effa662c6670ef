//! Broadcasting binary ops (ONNX `Add`, `Sub`, `Mul`, `Div`, `Max`, `Min`,
//! `Pow`, `PRelu`), f32. Inputs `a`, `b` of rank <= 6 broadcasting
//! numpy-style to the output shape. Parameters: `act(3)`.
//! `y[i] = act(op(a[bcast i], b[bcast i]))`. An input of the output's shape
//! may share the output's bytes (in place). Either input may share the
//! output's bytes when it has the output's shape (in place).

use super::{decode_act, pad_shape, strides, Eval, OpCode, Prep};
use crate::error::Error;
use crate::format::MAX_RANK;
use crate::kernels::elementwise::{self, BinaryKind};

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

/// Element strides of an input broadcast to `out`: 0 where the input dim is 1.
fn bcast_strides(shape: &[usize], out: &[usize; MAX_RANK]) -> [usize; MAX_RANK] {
    let s = pad_shape(shape);
    let mut st = strides(&s);
    for d in 0..MAX_RANK {
        if s[d] == 1 && out[d] != 1 {
            st[d] = 0;
        }
    }
    st
}

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Result<(), Error> {
    ctx.params(3)?;
    ctx.act(0)?;
    ctx.all_f32()?;
    ctx.ensure(ctx.op.num_inputs() == 2)?;
    let y = pad_shape(ctx.out.shape());
    for i in 0..2 {
        let t = ctx.input(i)?;
        ctx.ensure(t.rank() <= ctx.out.rank())?;
        let s = pad_shape(t.shape());
        for d in 0..MAX_RANK {
            ctx.ensure(s[d] == y[d] || s[d] == 1)?;
        }
    }
    Ok(())
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    let Some(act) = decode_act(&ctx.op, 0) else {
        return;
    };
    let k = kind(ctx.op.code);
    let ys = pad_shape(ctx.out.shape());
    let alias = ctx.alias;
    let (inputs, out) = ctx.split_f32();
    let (Some(ai), Some(bi)) = (inputs.info(0), inputs.info(1)) else {
        return;
    };
    let (ast, bst) = (
        bcast_strides(ai.shape(), &ys),
        bcast_strides(bi.shape(), &ys),
    );
    // In place, the aliased input's bytes are the output's.
    match alias {
        Some(0) => elementwise::binary_inplace(k, true, inputs.f32(1), bst, out, ys, act),
        Some(_) => elementwise::binary_inplace(k, false, inputs.f32(0), ast, out, ys, act),
        None => {
            elementwise::binary_reference(k, inputs.f32(0), ast, inputs.f32(1), bst, out, ys, act)
        }
    }
}
