//! Pad (ONNX `Pad`, constant pads), f32. Parameters: `mode` (0 constant,
//! 1 reflect, 2 edge), `value` (f32 bits), `before[rank]`; the pads after
//! each dim follow from the output shape. int8 form: same quantization in
//! and out, and `value` is the `i8` code to pad with (as `i32`), normally
//! the zero point.

use super::{Checked, Eval, Prep};
use crate::format::{DType, MAX_RANK};
use crate::kernels::layout::{self, PadMode};

fn mode(v: u32) -> Option<PadMode> {
    match v {
        0 => Some(PadMode::Constant),
        1 => Some(PadMode::Reflect),
        2 => Some(PadMode::Edge),
        _ => None,
    }
}

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    let x = ctx.input(0)?;
    if ctx.out.dtype == DType::I8 {
        // int8: same quantization in and out; word 1 is the pad code (i32).
        ctx.same_quant(0)?;
        ctx.ensure((-128..=127).contains(&ctx.op.param_i32(1)))?;
    } else {
        ctx.f32_kernels()?;
    }
    let r = x.rank();
    ctx.params(2 + r)?;
    ctx.ensure(ctx.op.num_inputs() == 1 && ctx.out.rank() == r)?;
    let m = mode(ctx.op.param(0)).ok_or(ctx.bad())?;
    for d in 0..r {
        let (len, before, n) = (
            x.shape()[d] as u64,
            ctx.op.param(2 + d) as u64,
            ctx.out.shape()[d] as u64,
        );
        ctx.ensure(n >= len + before)?;
        let after = n - len - before;
        match m {
            PadMode::Constant => {}
            PadMode::Reflect => ctx.ensure(len >= 1 && before < len && after < len)?,
            PadMode::Edge => ctx.ensure(len >= 1 || n == 0)?,
        }
    }
    Ok(())
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    let op = ctx.op;
    let Some(m) = mode(op.param(0)) else { return };
    let ys = ctx.out.shape_padded();
    let int8 = ctx.out.dtype == DType::I8;
    let (inputs, out) = ctx.split();
    let Some(x) = inputs.info(0) else { return };
    let mut before = [0; MAX_RANK];
    let off = MAX_RANK - x.rank();
    for d in 0..x.rank() {
        before[off + d] = op.param(2 + d) as usize;
    }
    if int8 {
        let out = crate::bytes::i8s_mut(out);
        let value = op.param_i32(1) as i8;
        return layout::pad(m, value, inputs.i8(0), x.shape_padded(), before, out, ys);
    }
    if !cfg!(feature = "f32") {
        return; // refused by `prepare`: this build has no f32 kernels
    }
    let out = crate::bytes::f32s_mut(out);
    layout::pad(
        m,
        op.param_f32(1),
        inputs.f32(0),
        x.shape_padded(),
        before,
        out,
        ys,
    );
}
