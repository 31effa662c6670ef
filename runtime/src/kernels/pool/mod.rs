//! f32 2-D pooling, NHWC: ONNX `MaxPool`, `AveragePool`, `GlobalMaxPool`,
//! `GlobalAveragePool` (a global pool is a window covering the input).
//!
//! Layout: input `[n, ih, iw, c]`, output `[n, oh, ow, c]`. Window of output
//! `(oy, ox)`: rows `iy = oy*sh - pad_top + ky*dh` (`ky < kh`), columns
//! `ix = ox*sw - pad_left + kx*dw` (`kx < kw`). Positions outside the input
//! are padding; `ceil_mode` is only a matter of the output shape.
//!
//! ```text
//! max: out = max over the in-bounds window elements (padding ignored)
//! avg: out = (sum over the in-bounds window elements) / count
//!      count = number of in-bounds positions                 (count_include_pad = false)
//!      count = number of positions with iy in [-pad_top, ih + pad_bottom)
//!              and ix in [-pad_left, iw + pad_right)         (count_include_pad = true)
//! ```
//!
//! With `count_include_pad`, window positions beyond the explicit padding
//! (ceil-mode overhang) are not counted, as in ONNX. Parameters: kernel,
//! stride and dilation `>= 1`; the op layer guarantees every window holds at
//! least one input element. Rounding: the window is visited in `ky`, then
//! `kx` order; the average is the sequential `f32` sum divided by `count`.
//! Max uses `f32::max` (a NaN element is skipped unless all are NaN).

/// Pooling window geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolParams {
    /// Window height `kh`.
    pub kernel_h: usize,
    /// Window width `kw`.
    pub kernel_w: usize,
    /// Vertical stride `sh`.
    pub stride_h: usize,
    /// Horizontal stride `sw`.
    pub stride_w: usize,
    /// Vertical dilation `dh`.
    pub dilation_h: usize,
    /// Horizontal dilation `dw`.
    pub dilation_w: usize,
    /// Padding rows above the input.
    pub pad_top: usize,
    /// Padding columns left of the input.
    pub pad_left: usize,
    /// Padding rows below the input (only used by `count_include_pad`).
    pub pad_bottom: usize,
    /// Padding columns right of the input (only used by `count_include_pad`).
    pub pad_right: usize,
}

/// Max pool (`avg` `None`) or average pool (`Some(count_include_pad)`):
/// [`max_reference`] or [`avg_reference`], the entry of the kernel tables.
#[inline(always)] // compiled inside each kernel table's target features
pub fn pool_any(
    p: &PoolParams,
    avg: Option<bool>,
    input: &[f32],
    in_shape: [usize; 4],
    output: &mut [f32],
    out_shape: [usize; 4],
) {
    match avg {
        None if cfg!(feature = "op-maxpool") => {
            max_reference(p, input, in_shape, output, out_shape)
        }
        Some(include_pad) if cfg!(feature = "op-avgpool") => {
            avg_reference(p, include_pad, input, in_shape, output, out_shape)
        }
        // The op's feature is off: `prepare` refused it.
        _ => {}
    }
}

/// Max pool, NHWC; padded positions are ignored. See the module docs.
#[inline(always)]
pub fn max_reference(
    p: &PoolParams,
    input: &[f32],
    in_shape: [usize; 4],
    output: &mut [f32],
    out_shape: [usize; 4],
) {
    pool(
        p,
        input,
        in_shape,
        output,
        out_shape,
        f32::NEG_INFINITY,
        f32::max,
        |_, _| 1.0,
    );
}

/// Average pool, NHWC. See the module docs for the divisor.
#[inline(always)]
pub fn avg_reference(
    p: &PoolParams,
    count_include_pad: bool,
    input: &[f32],
    in_shape: [usize; 4],
    output: &mut [f32],
    out_shape: [usize; 4],
) {
    let [_, ih, iw, _] = in_shape;
    let count = |oy: usize, ox: usize| {
        let (ny, nx) = if count_include_pad {
            (
                positions(
                    oy,
                    p.kernel_h,
                    p.stride_h,
                    p.dilation_h,
                    0,
                    p.pad_top + ih + p.pad_bottom,
                ),
                positions(
                    ox,
                    p.kernel_w,
                    p.stride_w,
                    p.dilation_w,
                    0,
                    p.pad_left + iw + p.pad_right,
                ),
            )
        } else {
            (
                positions(
                    oy,
                    p.kernel_h,
                    p.stride_h,
                    p.dilation_h,
                    p.pad_top,
                    p.pad_top + ih,
                ),
                positions(
                    ox,
                    p.kernel_w,
                    p.stride_w,
                    p.dilation_w,
                    p.pad_left,
                    p.pad_left + iw,
                ),
            )
        };
        (ny * nx) as f32
    };
    pool(
        p,
        input,
        in_shape,
        output,
        out_shape,
        0.0,
        |acc, x| acc + x,
        count,
    );
}

/// Number of window taps `k < kernel` of output `o` whose padded coordinate
/// `o*stride + k*dilation` lies in `[lo, hi)`.
fn positions(
    o: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    lo: usize,
    hi: usize,
) -> usize {
    (0..kernel)
        .filter(|k| (lo..hi).contains(&(o * stride + k * dilation)))
        .count()
}

/// Folds every in-bounds window element into `init` with `combine`, per
/// channel, then divides by `divisor(oy, ox)` (1 for max).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn pool(
    p: &PoolParams,
    input: &[f32],
    in_shape: [usize; 4],
    output: &mut [f32],
    out_shape: [usize; 4],
    init: f32,
    combine: impl Fn(f32, f32) -> f32,
    divisor: impl Fn(usize, usize) -> f32,
) {
    let [n, ih, iw, c] = in_shape;
    let [on, oh, ow, oc] = out_shape;
    debug_assert!(on == n && oc == c, "shape mismatch");
    debug_assert!(p.kernel_h >= 1 && p.kernel_w >= 1 && p.stride_h >= 1 && p.stride_w >= 1);
    debug_assert!(p.dilation_h >= 1 && p.dilation_w >= 1);
    debug_assert!(input.len() >= n * ih * iw * c, "input too short");
    debug_assert!(output.len() >= n * oh * ow * c, "output too short");
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                let px = &mut output[((b * oh + oy) * ow + ox) * c..][..c];
                px.fill(init);
                for ky in 0..p.kernel_h {
                    let Some(iy) = (oy * p.stride_h + ky * p.dilation_h)
                        .checked_sub(p.pad_top)
                        .filter(|&i| i < ih)
                    else {
                        continue;
                    };
                    for kx in 0..p.kernel_w {
                        let Some(ix) = (ox * p.stride_w + kx * p.dilation_w)
                            .checked_sub(p.pad_left)
                            .filter(|&i| i < iw)
                        else {
                            continue;
                        };
                        let x = &input[((b * ih + iy) * iw + ix) * c..][..c];
                        for (acc, &v) in px.iter_mut().zip(x) {
                            *acc = combine(*acc, v);
                        }
                    }
                }
                let d = divisor(oy, ox);
                if d != 1.0 {
                    for v in px.iter_mut() {
                        *v /= d;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::test_util::{assert_close, iters, Rng};
    use std::vec;
    use std::vec::Vec;

    /// Brute force: scan the whole padded plane for positions in the window.
    fn naive(
        p: &PoolParams,
        avg: bool,
        include_pad: bool,
        x: &[f32],
        s: [usize; 4],
        oh: usize,
        ow: usize,
    ) -> Vec<f32> {
        let [n, ih, iw, c] = s;
        let mut out = vec![0.0; n * oh * ow * c];
        for b in 0..n {
            for ch in 0..c {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let (mut m, mut sum, mut cnt, mut cnt_pad) =
                            (f32::NEG_INFINITY, 0.0f32, 0, 0);
                        for y in -(p.pad_top as i64)..(ih + p.pad_bottom) as i64 + 64 {
                            for xx in -(p.pad_left as i64)..(iw + p.pad_right) as i64 + 64 {
                                let dy = y + p.pad_top as i64 - (oy * p.stride_h) as i64;
                                let dx = xx + p.pad_left as i64 - (ox * p.stride_w) as i64;
                                let in_win = dy >= 0
                                    && dx >= 0
                                    && dy % p.dilation_h as i64 == 0
                                    && dx % p.dilation_w as i64 == 0
                                    && dy / (p.dilation_h as i64) < p.kernel_h as i64
                                    && dx / (p.dilation_w as i64) < p.kernel_w as i64;
                                if !in_win {
                                    continue;
                                }
                                if y < (ih + p.pad_bottom) as i64 && xx < (iw + p.pad_right) as i64
                                {
                                    cnt_pad += 1;
                                }
                                if y >= 0 && xx >= 0 && y < ih as i64 && xx < iw as i64 {
                                    let v = x[((b * ih + y as usize) * iw + xx as usize) * c + ch];
                                    m = m.max(v);
                                    sum += v;
                                    cnt += 1;
                                }
                            }
                        }
                        let v = if !avg {
                            m
                        } else if include_pad {
                            sum / cnt_pad as f32
                        } else {
                            sum / cnt as f32
                        };
                        out[((b * oh + oy) * ow + ox) * c + ch] = v;
                    }
                }
            }
        }
        out
    }

    /// ONNX output length (floor or ceil mode, dropping a last window that
    /// starts in the bottom padding).
    fn out_len(
        len: usize,
        pa: usize,
        pz: usize,
        k: usize,
        d: usize,
        s: usize,
        ceil: bool,
    ) -> Option<usize> {
        let ext = d * (k - 1) + 1;
        let span = (len + pa + pz).checked_sub(ext)?;
        let mut o = if ceil { span.div_ceil(s) } else { span / s } + 1;
        if ceil && (o - 1) * s >= len + pa {
            o -= 1;
        }
        Some(o)
    }

    #[test]
    fn max_and_avg_match_brute_force() {
        let mut rng = Rng::new(11);
        let mut done = 0;
        while done < iters(500) {
            let (kh, kw) = (1 + rng.below(4), 1 + rng.below(4));
            let (dh, dw) = (1 + rng.below(2), 1 + rng.below(2));
            let p = PoolParams {
                kernel_h: kh,
                kernel_w: kw,
                stride_h: 1 + rng.below(3),
                stride_w: 1 + rng.below(3),
                dilation_h: dh,
                dilation_w: dw,
                pad_top: rng.below(kh * dh),
                pad_left: rng.below(kw * dw),
                pad_bottom: rng.below(kh * dh),
                pad_right: rng.below(kw * dw),
            };
            let s = [
                1 + rng.below(2),
                1 + rng.below(8),
                1 + rng.below(8),
                1 + rng.below(5),
            ];
            let ceil = rng.below(2) == 1;
            let (Some(oh), Some(ow)) = (
                out_len(s[1], p.pad_top, p.pad_bottom, kh, dh, p.stride_h, ceil),
                out_len(s[2], p.pad_left, p.pad_right, kw, dw, p.stride_w, ceil),
            ) else {
                continue;
            };
            // The op layer guarantees no window is all padding; skip such cases.
            let empty = |o: usize, st: usize, d: usize, k: usize, pa: usize, len: usize| {
                (0..k).all(|kk| !(pa..pa + len).contains(&(o * st + kk * d)))
            };
            if (0..oh).any(|o| empty(o, p.stride_h, dh, kh, p.pad_top, s[1]))
                || (0..ow).any(|o| empty(o, p.stride_w, dw, kw, p.pad_left, s[2]))
            {
                continue;
            }
            let x = rng.vec(s.iter().product());
            let os = [s[0], oh, ow, s[3]];
            let mut out = vec![f32::NAN; os.iter().product()];
            max_reference(&p, &x, s, &mut out, os);
            assert_close(&out, &naive(&p, false, false, &x, s, oh, ow), 0.0);
            for include_pad in [false, true] {
                avg_reference(&p, include_pad, &x, s, &mut out, os);
                assert_close(&out, &naive(&p, true, include_pad, &x, s, oh, ow), 1e-6);
            }
            done += 1;
        }
    }

    #[test]
    fn hand_computed_avg_with_padding() {
        // 3x3 input 1..9, 2x2 window, stride 2, pad 1 top/left, none
        // bottom/right (ceil-mode style overhang on the last window).
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let p = PoolParams {
            kernel_h: 2,
            kernel_w: 2,
            stride_h: 2,
            stride_w: 2,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 1,
            pad_left: 1,
            pad_bottom: 0,
            pad_right: 0,
        };
        let mut out = [0.0; 4];
        avg_reference(&p, false, &x, [1, 3, 3, 1], &mut out, [1, 2, 2, 1]);
        assert_eq!(out, [1.0, 2.5, 5.5, 7.0]);
        avg_reference(&p, true, &x, [1, 3, 3, 1], &mut out, [1, 2, 2, 1]);
        // Every window lies inside the padded extent: always 4 positions.
        assert_eq!(out, [0.25, 1.25, 2.75, 7.0]);
        max_reference(&p, &x, [1, 3, 3, 1], &mut out, [1, 2, 2, 1]);
        assert_eq!(out, [1.0, 3.0, 7.0, 9.0]);
        // Negative inputs with padding: max never sees the padding.
        let neg: Vec<f32> = x.iter().map(|v| -v).collect();
        max_reference(&p, &neg, [1, 3, 3, 1], &mut out, [1, 2, 2, 1]);
        assert_eq!(out, [-1.0, -2.0, -4.0, -5.0]);
        // No padding, ceil-mode overhang: positions beyond the input are not
        // counted even with count_include_pad.
        let p0 = PoolParams {
            pad_top: 0,
            pad_left: 0,
            ..p
        };
        for include_pad in [false, true] {
            avg_reference(&p0, include_pad, &x, [1, 3, 3, 1], &mut out, [1, 2, 2, 1]);
            assert_eq!(out, [3.0, 4.5, 7.5, 9.0]);
        }
    }

    #[test]
    fn global_average() {
        let mut rng = Rng::new(5);
        let x = rng.vec(2 * 7 * 5 * 3);
        let p = PoolParams {
            kernel_h: 7,
            kernel_w: 5,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 0,
            pad_left: 0,
            pad_bottom: 0,
            pad_right: 0,
        };
        let mut out = [0.0; 6];
        avg_reference(&p, false, &x, [2, 7, 5, 3], &mut out, [2, 1, 1, 3]);
        for b in 0..2 {
            for c in 0..3 {
                let s: f32 = (0..35).map(|i| x[(b * 35 + i) * 3 + c]).sum();
                assert!((out[b * 3 + c] - s / 35.0).abs() < 1e-6);
            }
        }
    }
}
