//! Softmax and LogSoftmax along one axis (ONNX opset >= 13 semantics), f32.
//! Parameter: `axis` (of the input). Output shape = input shape.

use super::{Eval, OpCode, Prep};
use crate::error::Error;
use crate::kernels::softmax;

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Result<(), Error> {
    ctx.params(1)?;
    ctx.all_f32()?;
    ctx.ensure(ctx.op.num_inputs() == 1)?;
    let x = ctx.input(0)?;
    ctx.ensure((ctx.op.param(0) as usize) < x.rank() && x.shape() == ctx.out.shape())
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    let axis = ctx.op.param(0) as usize;
    let log = ctx.op.code == OpCode::LogSoftmax;
    let (inputs, out) = ctx.split_f32();
    let Some(x) = inputs.info(0) else { return };
    let s = x.shape();
    if axis >= s.len() {
        return;
    }
    let outer: usize = s[..axis].iter().product();
    let inner: usize = s[axis + 1..].iter().product();
    softmax::reference(inputs.f32(0), outer, s[axis], inner, log, out);
}
