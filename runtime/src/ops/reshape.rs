//! Reshape (ONNX `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`), any dtype:
//! a copy into a tensor with the same element count, or nothing when the
//! output shares the input's bytes. No parameters.

use super::{Checked, Eval, Prep};

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    ctx.params(0)?;
    let x = ctx.input(0)?;
    ctx.ensure(ctx.op.num_inputs() == 1 && x.byte_len == ctx.out.byte_len)?;
    ctx.same_quant(0)
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    if ctx.alias.is_some() {
        return; // in place: the bytes already are the output
    }
    let (inputs, out) = ctx.split();
    let src = inputs.bytes(0);
    if src.len() == out.len() {
        out.copy_from_slice(src);
    }
}
