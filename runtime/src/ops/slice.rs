//! Slice (ONNX `Slice` with constant starts/ends/axes/steps), any dtype.
//! Parameters: `start[rank]`, `step[rank]` (as i32). Output dim `d` reads
//! input indices `start[d] + i*step[d]` for `i < out.shape[d]`, all in range.

use super::{Checked, Eval, Prep};
use crate::format::MAX_RANK;
use crate::kernels::layout;

fn padded(op: &crate::model::OpInfo<'_>, rank: usize) -> ([usize; MAX_RANK], [isize; MAX_RANK]) {
    let (mut start, mut step) = ([0; MAX_RANK], [1; MAX_RANK]);
    let off = MAX_RANK - rank;
    for d in 0..rank {
        start[off + d] = op.param(d) as usize;
        step[off + d] = op.param_i32(rank + d) as isize;
    }
    (start, step)
}

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    let x = ctx.input(0)?;
    let r = x.rank();
    ctx.params(2 * r)?;
    ctx.ensure(ctx.op.num_inputs() == 1 && ctx.out.rank() == r)?;
    ctx.same_quant(0)?;
    for d in 0..r {
        let (start, step) = (ctx.op.param(d) as i64, ctx.op.param_i32(r + d) as i64);
        let (len, n) = (x.shape()[d] as i64, ctx.out.shape()[d] as i64);
        ctx.ensure(step != 0)?;
        if n > 0 {
            let last = start + (n - 1) * step;
            ctx.ensure(start < len && last >= 0 && last < len)?;
        }
    }
    Ok(())
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    let op = ctx.op;
    let ys = ctx.out.shape_padded();
    let (inputs, out) = ctx.split();
    let Some(x) = inputs.info(0) else { return };
    let (start, step) = padded(&op, x.rank());
    let xs = x.shape_padded();
    let src = inputs.bytes(0);
    match x.dtype.size() {
        4 => layout::slice(
            crate::bytes::f32s(src),
            xs,
            start,
            step,
            crate::bytes::f32s_mut(out),
            ys,
        ),
        _ => layout::slice(src, xs, start, step, out, ys),
    }
}
