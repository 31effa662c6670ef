//! Lut: every int8 elementwise unary op (sigmoid, tanh, hard-swish, GELU,
//! requantization, ...) as a 256-entry table the compiler computes from the
//! real function and the input/output quantization.
//!
//! Inputs `x (i8)`, `table (i8 [256], constant)`; output `i8`, shape of `x`;
//! `y[i] = table[x[i] + 128]`. No parameters. May run in place.

use super::{Checked, Eval, Prep};
use crate::format::Storage;

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    ctx.params(0)?;
    ctx.ensure(ctx.op.num_inputs() == 2)?;
    ctx.all_i8()?;
    let (x, table) = (ctx.input(0)?, ctx.input(1)?);
    ctx.ensure(table.storage == Storage::Const && table.shape() == [256])?;
    ctx.ensure(x.shape() == ctx.out.shape())
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    let alias = ctx.alias;
    let lut = ctx.kernels.i8_lut;
    let (inputs, out) = ctx.split_i8();
    let table = inputs.i8(1);
    lut(table, (alias != Some(0)).then(|| inputs.i8(0)), out);
}
