//! `Where` with a fused comparison (ONNX `Where(Less(l, r), a, b)` and the
//! other comparisons), f32: [`crate::kernels::elementwise::select_reference`].
//!
//! Inputs `l, r, a, b` of rank <= 6, each broadcasting numpy-style to the
//! output shape. Parameter: `cmp` (0 `<`, 1 `<=`, 2 `>`, 3 `>=`, 4 `==`,
//! 5 `!=`). `y[i] = cmp(l[i], r[i]) ? a[i] : b[i]`.

use super::{bcast_strides, pad_shape, Checked, Eval, Prep};
use crate::format::MAX_RANK;
use crate::kernels::elementwise::{select_reference, CmpKind};

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    ctx.params(1)?;
    ctx.f32_kernels()?;
    ctx.ensure(CmpKind::ALL.get(ctx.op.param(0) as usize).is_some())?;
    ctx.ensure(ctx.op.num_inputs() == 4)?;
    ctx.broadcast_inputs()
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
