//! Quantize (`f32 -> i8`) and Dequantize (`i8 -> f32`): the boundaries the
//! compiler inserts between int8 and f32 parts of a mixed-precision graph.
//!
//! One input, same shape as the output, no parameters. The `i8` side's
//! tensor record carries the scale and zero point; the arithmetic is
//! [`crate::quant::quantize`] / [`crate::quant::dequantize`].

use super::{Checked, Eval, OpCode, Prep};
use crate::format::DType;
use crate::kernels::i8_elementwise;

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    ctx.params(0)?;
    ctx.ensure(ctx.op.num_inputs() == 1)?;
    let x = ctx.input(0)?;
    let (from, to) = if ctx.op.code == OpCode::Quantize {
        (DType::F32, DType::I8)
    } else {
        (DType::I8, DType::F32)
    };
    ctx.ensure(x.dtype == from && ctx.out.dtype == to && x.shape() == ctx.out.shape())
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    let (scale, zp) = (ctx.out.scale, ctx.out.zero_point);
    if ctx.op.code == OpCode::Quantize {
        let kernels = ctx.kernels;
        let (inputs, out) = ctx.split_i8();
        (kernels.quantize)(inputs.f32(0), scale, zp, out);
    } else {
        let (inputs, out) = ctx.split_f32();
        let Some(x) = inputs.info(0) else { return };
        i8_elementwise::dequantize(inputs.i8(0), x.scale, x.zero_point, out);
    }
}
