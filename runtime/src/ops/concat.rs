//! Concat (ONNX `Concat`), any dtype. Parameter: `axis`. Every input has the
//! output's shape except along `axis`; the lengths along `axis` add up.

use super::{Eval, Prep};
use crate::error::Error;
use crate::kernels::layout;

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Result<(), Error> {
    ctx.params(1)?;
    let axis = ctx.op.param(0) as usize;
    let y = ctx.out;
    ctx.ensure(axis < y.rank())?;
    let mut total = 0usize;
    for i in 0..ctx.op.num_inputs() {
        let x = ctx.input(i)?;
        ctx.ensure(x.dtype == y.dtype && x.rank() == y.rank())?;
        for d in 0..y.rank() {
            ctx.ensure(d == axis || x.shape()[d] == y.shape()[d])?;
        }
        total += x.shape()[axis];
    }
    ctx.ensure(total == y.shape()[axis])
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    let axis = ctx.op.param(0) as usize;
    let ys = ctx.out.shape_padded();
    let rank = ctx.out.rank();
    let esize = ctx.out.dtype.size();
    let (inputs, out) = ctx.split();
    if axis >= rank {
        return;
    }
    let d = axis + (ys.len() - rank);
    let outer: usize = ys[..d].iter().product();
    let inner: usize = ys[d + 1..].iter().product::<usize>() * esize;
    let out_inner = ys[d] * inner;
    let mut offset = 0;
    for i in 0..inputs.len() {
        let Some(x) = inputs.info(i) else { return };
        let in_inner = x.shape()[axis] * inner;
        layout::concat_part(inputs.bytes(i), outer, in_inner, out_inner, offset, out);
        offset += in_inner;
    }
}
