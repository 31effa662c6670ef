//! MaxPool2d and AvgPool2d (ONNX `MaxPool`, `AveragePool`,
//! `GlobalAveragePool`, `GlobalMaxPool`), f32, NHWC.
//!
//! Parameters (12 words): `kh, kw, sh, sw, dh, dw, pad_top, pad_left,
//! pad_bottom, pad_right, count_include_pad, ceil_mode`. Output
//! `oh = floor_or_ceil((ih + pt + pb - dh*(kh-1) - 1) / sh) + 1` (ceil when
//! `ceil_mode`, dropping a last window that would start in the bottom padding).
//!
//! int8 form: `i8` input and output with the same scale and zero point
//! (pooling never requantizes); same parameters; arithmetic in
//! [`crate::kernels::i8_pool`]. Average windows are limited to `2^23`
//! elements so the i32 sum cannot overflow.

use super::{shape4, Checked, Eval, OpCode, Prep};
use crate::format::DType;
use crate::kernels::i8_pool;
use crate::kernels::pool::PoolParams;
use crate::model::OpInfo;

fn params(op: &OpInfo<'_>) -> PoolParams {
    let p = |i| op.param(i) as usize;
    PoolParams {
        kernel_h: p(0),
        kernel_w: p(1),
        stride_h: p(2),
        stride_w: p(3),
        dilation_h: p(4),
        dilation_w: p(5),
        pad_top: p(6),
        pad_left: p(7),
        pad_bottom: p(8),
        pad_right: p(9),
    }
}

/// Whether `o` is the output length of one pooled dim (`out_len`), checked
/// with multiplications only: a 64-bit division would link a ~1 KB runtime
/// routine into 32-bit firmware.
#[allow(clippy::too_many_arguments)]
fn out_len_is(o: u64, len: u64, pa: u64, pz: u64, k: u64, d: u64, s: u64, ceil: bool) -> bool {
    let ext = d * (k - 1) + 1;
    let padded = len + pa + pz;
    if padded < ext || o == 0 {
        return false;
    }
    let span = padded - ext;
    // `c == span / s` (floor) or `c == span.div_ceil(s)` (ceil).
    let quotient = |c: u64| {
        if ceil {
            c * s >= span && (c == 0 || (c - 1) * s < span)
        } else {
            c * s <= span && span < (c + 1) * s
        }
    };
    if !ceil {
        return quotient(o - 1);
    }
    // Ceil mode drops a last window that starts in the end padding.
    (quotient(o - 1) && (o - 1) * s < len + pa) || (quotient(o) && o * s >= len + pa)
}

/// Output length of one pooled dim, or `None` when the window does not fit.
#[cfg(test)]
pub(crate) fn out_len(
    len: u64,
    pa: u64,
    pz: u64,
    k: u64,
    d: u64,
    s: u64,
    ceil: bool,
) -> Option<u64> {
    let ext = d * (k - 1) + 1;
    let padded = len + pa + pz;
    if padded < ext {
        return None;
    }
    let span = padded - ext;
    let mut o = if ceil { span.div_ceil(s) } else { span / s } + 1;
    if ceil && (o - 1) * s >= len + pa {
        o -= 1;
    }
    Some(o)
}

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    ctx.params(12)?;
    ctx.ensure(ctx.op.num_inputs() == 1)?;
    if ctx.out.dtype == DType::I8 {
        ctx.same_quant(0)?;
        let window = ctx.op.param(0) as u64 * ctx.op.param(1) as u64;
        ctx.ensure(window <= 1 << 23)?;
    } else {
        ctx.f32_kernels()?;
    }
    for i in 0..12 {
        ctx.ensure(ctx.op.param(i) <= 0xFFFF)?;
    }
    ctx.ensure(ctx.op.param(10) <= 1 && ctx.op.param(11) <= 1)?;
    let p = params(&ctx.op);
    let ceil = ctx.op.param(11) == 1;
    ctx.ensure(p.kernel_h >= 1 && p.kernel_w >= 1 && p.stride_h >= 1 && p.stride_w >= 1)?;
    ctx.ensure(p.dilation_h >= 1 && p.dilation_w >= 1)?;
    let x = shape4(&ctx.input(0)?).ok_or(ctx.bad())?;
    let y = shape4(&ctx.out).ok_or(ctx.bad())?;
    ctx.ensure(x[0] == y[0] && x[3] == y[3] && x[1] >= 1 && x[2] >= 1)?;
    let u = |v: usize| v as u64;
    ctx.ensure(out_len_is(
        u(y[1]),
        u(x[1]),
        u(p.pad_top),
        u(p.pad_bottom),
        u(p.kernel_h),
        u(p.dilation_h),
        u(p.stride_h),
        ceil,
    ))?;
    ctx.ensure(out_len_is(
        u(y[2]),
        u(x[2]),
        u(p.pad_left),
        u(p.pad_right),
        u(p.kernel_w),
        u(p.dilation_w),
        u(p.stride_w),
        ceil,
    ))?;
    // Every window must hold at least one input element, so max pooling never
    // yields -inf and average pooling never divides by zero.
    let hits = |o: usize, len: usize, pa: usize, k: usize, d: usize, s: usize| {
        (0..o).all(|i| window_hits(u(i) * u(s), u(pa), u(k), u(d), u(len)))
    };
    ctx.ensure(hits(
        y[1],
        x[1],
        p.pad_top,
        p.kernel_h,
        p.dilation_h,
        p.stride_h,
    ))?;
    ctx.ensure(hits(
        y[2],
        x[2],
        p.pad_left,
        p.kernel_w,
        p.dilation_w,
        p.stride_w,
    ))
}

/// Whether a window starting at `at − pa` (in input coordinates) with `k`
/// taps `d` apart touches `[0, len)`. `pa` and `d` are at most 0xFFFF
/// (checked by `prepare`), so the one division is a 32-bit one.
fn window_hits(at: u64, pa: u64, k: u64, d: u64, len: u64) -> bool {
    if at >= pa {
        return at - pa < len;
    }
    // The first tap at or after input position 0.
    let before = (pa - at) as u32;
    let k0 = before.div_ceil(d as u32) as u64;
    k0 < k && k0 * d - (pa - at) < len
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    let p = params(&ctx.op);
    let include_pad = ctx.op.param(10) == 1;
    let code = ctx.op.code;
    let Some(ys) = shape4(&ctx.out) else { return };
    if ctx.out.dtype == DType::I8 {
        let (inputs, out) = ctx.split_i8();
        let Some(xi) = inputs.info(0) else { return };
        let Some(xs) = shape4(&xi) else { return };
        // An op whose feature is off was refused by `prepare`.
        if code == OpCode::MaxPool2d {
            if cfg!(feature = "op-maxpool") {
                i8_pool::max_reference(&p, -128, 127, inputs.i8(0), xs, out, ys);
            }
        } else if cfg!(feature = "op-avgpool") {
            // Counted padding positions are real 0, i.e. the zero point.
            let (x, zp) = (inputs.i8(0), xi.zero_point);
            i8_pool::avg_reference(&p, include_pad, zp, -128, 127, x, xs, out, ys);
        }
        return;
    }
    if !cfg!(feature = "f32") {
        return; // refused by `prepare`: this build has no f32 kernels
    }
    let f32_pool = ctx.kernels.f32_pool;
    let (inputs, out) = ctx.split_f32();
    let Some(xs) = inputs.info(0).and_then(|t| shape4(&t)) else {
        return;
    };
    let avg = (code != OpCode::MaxPool2d).then_some(include_pad);
    f32_pool(&p, avg, inputs.f32(0), xs, out, ys);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_free_checks_match_their_definitions() {
        for ceil in [false, true] {
            for len in 1..12u64 {
                for (pa, pz) in [(0, 0), (1, 0), (0, 2), (2, 1), (3, 3)] {
                    for k in 1..5u64 {
                        for d in 1..4u64 {
                            for s in 1..5u64 {
                                let want = out_len(len, pa, pz, k, d, s, ceil);
                                for o in 0..20 {
                                    let is = out_len_is(o, len, pa, pz, k, d, s, ceil);
                                    assert_eq!(
                                        is,
                                        want == Some(o),
                                        "{len} {pa} {pz} {k} {d} {s} {ceil} {o}"
                                    );
                                }
                                for at in 0..20u64 {
                                    let brute = (0..k).any(|j| {
                                        let p = (at + j * d) as i64 - pa as i64;
                                        (0..len as i64).contains(&p)
                                    });
                                    assert_eq!(window_hits(at, pa, k, d, len), brute);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
