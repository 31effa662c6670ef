//! `Where` with a fused comparison (ONNX `Where(Less(l, r), a, b)` and the
//! other comparisons), f32: [`crate::kernels::elementwise::select_reference`].
//!
//! Inputs `l, r, a, b` of rank <= 6, each broadcasting numpy-style to the
//! output shape. Parameter: `cmp` (0 `<`, 1 `<=`, 2 `>`, 3 `>=`, 4 `==`,
//! 5 `!=`). `y[i] = cmp(l[i], r[i]) ? a[i] : b[i]`.

use super::{pad_shape, strides, Eval, Prep};
use crate::error::Error;
use crate::format::MAX_RANK;
use crate::kernels::elementwise::{select_reference, CmpKind};

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
    ctx.params(1)?;
    ctx.f32_kernels()?;
    ctx.ensure(CmpKind::ALL.get(ctx.op.param(0) as usize).is_some())?;
    ctx.ensure(ctx.op.num_inputs() == 4)?;
    let y = pad_shape(ctx.out.shape());
    for i in 0..4 {
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
    if !cfg!(feature = "f32") {
        return; // refused by `prepare`: this build has no f32 kernels
    }
    let Some(&cmp) = CmpKind::ALL.get(ctx.op.param(0) as usize) else {
        return;
    };
    let ys = pad_shape(ctx.out.shape());
    let (inputs, out) = ctx.split_f32();
    let mut st = [[0; MAX_RANK]; 4];
    for (i, s) in st.iter_mut().enumerate() {
        let Some(t) = inputs.info(i) else { return };
        *s = bcast_strides(t.shape(), &ys);
    }
    let ops = [inputs.f32(0), inputs.f32(1), inputs.f32(2), inputs.f32(3)];
    select_reference(cmp, ops, st, out, ys);
}
