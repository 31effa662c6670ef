//! Transpose (ONNX `Transpose`; the compiler's NHWC/NCHW conversions), any
//! dtype. Parameters: `perm[rank]` with `out.shape[d] = in.shape[perm[d]]`.

use super::{Checked, Eval, Prep};
use crate::format::MAX_RANK;
use crate::kernels::layout;

/// The permutation right-aligned into `MAX_RANK` dims.
fn padded_perm(op: &crate::model::OpInfo<'_>, rank: usize) -> [usize; MAX_RANK] {
    let mut perm = [0, 1, 2, 3, 4, 5];
    let off = MAX_RANK - rank;
    for d in 0..rank {
        perm[off + d] = off + (op.param(d) as usize).min(rank - 1);
    }
    perm
}

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    let x = ctx.input(0)?;
    let r = x.rank();
    ctx.params(r)?;
    ctx.ensure(ctx.op.num_inputs() == 1 && ctx.out.rank() == r)?;
    ctx.same_quant(0)?;
    let mut seen = 0u32;
    for d in 0..r {
        let p = ctx.op.param(d) as usize;
        ctx.ensure(p < r && seen & (1 << p) == 0)?;
        seen |= 1 << p;
        ctx.ensure(ctx.out.shape()[d] == x.shape()[p])?;
    }
    Ok(())
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    let op = ctx.op;
    let (inputs, out) = ctx.split();
    let Some(x) = inputs.info(0) else { return };
    let perm = padded_perm(&op, x.rank());
    let shape = x.shape_padded();
    let src = inputs.bytes(0);
    match x.dtype.size() {
        4 => layout::transpose(
            crate::bytes::f32s(src),
            shape,
            perm,
            crate::bytes::f32s_mut(out),
        ),
        _ => layout::transpose(src, shape, perm, out),
    }
}
