//! Reductions (ONNX `ReduceSum`, `ReduceMean`, `ReduceMax`, `ReduceMin`,
//! `ReduceProd`), f32. Parameter: `axes_mask` (bit `d` = reduce dim `d` of the
//! input). The output holds the input's element count with reduced dims
//! removed (keepdims is a matter of the output's recorded shape).

use super::{pad_shape, Checked, Eval, OpCode, Prep};
use crate::format::{DType, MAX_RANK};
use crate::kernels::i8_reduce;
use crate::kernels::reduce::{self, ReduceKind};

fn kind(code: OpCode) -> ReduceKind {
    match code {
        OpCode::ReduceMean => ReduceKind::Mean,
        OpCode::ReduceMax => ReduceKind::Max,
        OpCode::ReduceMin => ReduceKind::Min,
        OpCode::ReduceProd => ReduceKind::Prod,
        _ => ReduceKind::Sum,
    }
}

/// The input's axes mask translated to the right-aligned `MAX_RANK` view.
fn padded_mask(mask: u32, rank: usize) -> u32 {
    mask << (MAX_RANK - rank)
}

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    ctx.ensure(ctx.op.num_inputs() == 1)?;
    let x = ctx.input(0)?;
    if ctx.out.dtype == DType::I8 {
        // int8: Mean requantizes with `[mask, mult, shift]`; Max keeps the
        // input's quantization. The i32 sum needs `count <= 2^23`.
        match ctx.op.code {
            OpCode::ReduceMean => {
                ctx.params(3)?;
                ctx.all_i8()?;
                let (mult, shift) = (ctx.op.param_i32(1), ctx.op.param_i32(2));
                ctx.ensure(mult >= 0 && super::valid_shift(shift))?;
                ctx.ensure(x.len() <= 1 << 23)?;
            }
            OpCode::ReduceMax => {
                ctx.params(1)?;
                ctx.same_quant(0)?;
            }
            _ => return Err(ctx.bad()),
        }
    } else {
        ctx.params(1)?;
        ctx.f32_kernels()?;
    }
    let mask = ctx.op.param(0);
    ctx.ensure(mask >> x.rank() == 0)?;
    let kept: usize = x
        .shape()
        .iter()
        .enumerate()
        .filter(|(d, _)| mask & (1 << d) == 0)
        .map(|(_, s)| *s)
        .product();
    ctx.ensure(ctx.out.len() == kept)?;
    // Max/Min of an empty set is undefined.
    let reduced_empty = x
        .shape()
        .iter()
        .enumerate()
        .any(|(d, s)| mask & (1 << d) != 0 && *s == 0);
    ctx.ensure(!reduced_empty || !matches!(ctx.op.code, OpCode::ReduceMax | OpCode::ReduceMin))
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    let k = kind(ctx.op.code);
    let mask = ctx.op.param(0);
    if ctx.out.dtype == DType::I8 {
        let (op, out_zp) = (ctx.op, ctx.out.zero_point);
        let (inputs, out) = ctx.split_i8();
        let Some(x) = inputs.info(0) else { return };
        let (xs, m) = (pad_shape(x.shape()), padded_mask(mask, x.rank()));
        if k == ReduceKind::Mean {
            let (mult, shift) = (op.param_i32(1), op.param_i32(2));
            i8_reduce::mean_reference(inputs.i8(0), xs, m, x.zero_point, mult, shift, out_zp, out);
        } else {
            i8_reduce::max_reference(inputs.i8(0), xs, m, out);
        }
        return;
    }
    if !cfg!(feature = "f32") {
        return; // refused by `prepare`: this build has no f32 kernels
    }
    let (inputs, out) = ctx.split_f32();
    let Some(x) = inputs.info(0) else { return };
    reduce::reference(
        k,
        inputs.f32(0),
        pad_shape(x.shape()),
        padded_mask(mask, x.rank()),
        out,
    );
}
