//! Softmax and LogSoftmax along one axis (ONNX opset >= 13 semantics), f32.
//! Parameter: `axis` (of the input). Output shape = input shape.

use super::{Checked, Eval, OpCode, Prep};
use super::{SOFTMAX_I8_SCALE, SOFTMAX_I8_ZERO_POINT};
use crate::format::{DType, Storage};
use crate::kernels::i8_softmax;

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    ctx.params(1)?;
    let x = ctx.input(0)?;
    if ctx.out.dtype == DType::I8 {
        // int8 (Softmax only): input 1 is the exp table; every entry in
        // [0, 2^24] and entry 0 (the row maximum's) >= 1, so the row sum is
        // positive and `e << 8` fits comfortably in u64.
        ctx.ensure(ctx.op.code == OpCode::Softmax && ctx.op.num_inputs() == 2)?;
        ctx.ensure(x.dtype == DType::I8)?;
        ctx.ensure(
            ctx.out.scale == SOFTMAX_I8_SCALE && ctx.out.zero_point == SOFTMAX_I8_ZERO_POINT,
        )?;
        let t = ctx.input(1)?;
        ctx.ensure(t.dtype == DType::I32 && t.storage == Storage::Const && t.shape() == [256])?;
        let table = crate::bytes::i32s(ctx.model.const_data(&t));
        ctx.ensure(table.len() == 256 && table[0] >= 1)?;
        ctx.ensure(table.iter().all(|&e| (0..=1 << 24).contains(&e)))?;
    } else {
        ctx.f32_kernels()?;
        ctx.ensure(ctx.op.num_inputs() == 1)?;
    }
    ctx.ensure((ctx.op.param(0) as usize) < x.rank() && x.shape() == ctx.out.shape())
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    let axis = ctx.op.param(0) as usize;
    let log = ctx.op.code == OpCode::LogSoftmax;
    if ctx.out.dtype == DType::I8 {
        let (inputs, out) = ctx.split_i8();
        let Some(x) = inputs.info(0) else { return };
        let s = x.shape();
        if axis >= s.len() {
            return;
        }
        let outer: usize = s[..axis].iter().product();
        let inner: usize = s[axis + 1..].iter().product();
        i8_softmax::reference(inputs.i8(0), outer, s[axis], inner, inputs.i32(1), out);
        return;
    }
    if !cfg!(feature = "f32") {
        return; // refused by `prepare`: this build has no f32 kernels
    }
    let kernels = ctx.kernels;
    let (inputs, out) = ctx.split_f32();
    let Some(x) = inputs.info(0) else { return };
    let s = x.shape();
    if axis >= s.len() {
        return;
    }
    let outer: usize = s[..axis].iter().product();
    let inner: usize = s[axis + 1..].iter().product();
    (kernels.f32_softmax)(inputs.f32(0), outer, s[axis], inner, log, out);
}
