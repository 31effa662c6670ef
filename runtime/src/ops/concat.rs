//! Concat (ONNX `Concat`), any dtype. Parameter: `axis`. Every input has the
//! output's shape except along `axis`; the lengths along `axis` add up.

use super::{Checked, Eval, Prep};
use crate::format::DType;
use crate::kernels::{i8_elementwise, layout};

/// The int8 requantization of input `i`: `Some((mult, shift))` when its
/// flag word is 1, `None` (plain copy) when 0.
fn requant(op: &crate::model::OpInfo<'_>, i: usize) -> Option<(i32, i32)> {
    (op.param(1 + 3 * i) == 1).then(|| (op.param_i32(2 + 3 * i), op.param_i32(3 + 3 * i)))
}

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    let n_in = ctx.op.num_inputs();
    let int8 = ctx.out.dtype == DType::I8;
    if int8 {
        // int8: per input `[flag, mult, shift]`; flag 1 requantizes the
        // input to the output's parameters, flag 0 requires equal ones.
        ctx.params(1 + 3 * n_in)?;
        for i in 0..n_in {
            match ctx.op.param(1 + 3 * i) {
                0 => ctx.same_quant(i)?,
                1 => {
                    ctx.ensure(ctx.input(i)?.dtype == DType::I8)?;
                    let (m, s) = requant(&ctx.op, i).ok_or(ctx.bad())?;
                    ctx.ensure(m >= 0 && super::valid_shift(s))?;
                }
                _ => return Err(ctx.bad()),
            }
        }
    } else {
        ctx.params(1)?;
    }
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
    let (op, out_zp) = (ctx.op, ctx.out.zero_point);
    let int8 = ctx.out.dtype == DType::I8;
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
        match requant(&op, i).filter(|_| int8) {
            // i8 elements are bytes: `inner` counts elements here.
            Some((mult, shift)) => {
                let (src, dst) = (inputs.i8(i), crate::bytes::i8s_mut(out));
                let table = i8_elementwise::requantize_table(x.zero_point, mult, shift, out_zp);
                for row in 0..outer {
                    let (Some(s), Some(d)) = (
                        src.get(row * in_inner..(row + 1) * in_inner),
                        dst.get_mut(row * out_inner + offset..row * out_inner + offset + in_inner),
                    ) else {
                        return;
                    };
                    i8_elementwise::lut(&table, s, d);
                }
            }
            None => layout::concat_part(inputs.bytes(i), outer, in_inner, out_inner, offset, out),
        }
        offset += in_inner;
    }
}
