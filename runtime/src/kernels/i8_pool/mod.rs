//! int8 2-D pooling, NHWC: TFLite `reference_integer_ops::MaxPool` /
//! `AveragePool`, ONNX `MaxPool` / `QLinearAveragePool` /
//! `QLinearGlobalAveragePool` (input and output share scale and zero point).
//!
//! Layout and window geometry exactly as [`pool`](super::pool) (same
//! [`PoolParams`]): input `[n, ih, iw, c]`, output `[n, oh, ow, c]`,
//! window rows `iy = oy*sh - pad_top + ky*dh`, columns
//! `ix = ox*sw - pad_left + kx*dw`.
//!
//! ```text
//! max: y = clamp(max over the in-bounds window elements, act_min, act_max)
//! avg: s = sum over the in-bounds window elements (i32)  [+ (count - in_bounds) * zero_point]
//!      y = clamp((s + (s > 0 ? count/2 : -count/2)) / count, act_min, act_max)
//!      ('/' truncates: round half away from zero)
//! ```
//!
//! `count` is [`pool::avg_reference`](super::pool::avg_reference)'s
//! divisor: the in-bounds positions, or with `count_include_pad` the
//! positions inside the explicitly padded extent. The bracketed term: a
//! counted padding position holds the quantized zero. With
//! `zero_point = 0` this is TFLite's formula as is (padding adds 0 to the
//! raw sum).
//!
//! Bounds: `|s| <= 128 * kh * kw`, so windows up to `2^24` elements are
//! exact in `i32`. The op layer guarantees every window holds at least one
//! input element.

use crate::kernels::pool::PoolParams;

/// Channels per block of [`max_reference`]'s vectorizable path.
#[cfg(not(target_os = "none"))]
const LANES: usize = 16;

/// Max pool (padded positions ignored), then the clamp; see the module
/// docs.
#[allow(clippy::too_many_arguments)] // the op layer's fixed contract
pub fn max_reference(
    p: &PoolParams,
    act_min: i32,
    act_max: i32,
    input: &[i8],
    in_shape: [usize; 4],
    output: &mut [i8],
    out_shape: [usize; 4],
) {
    let [_, _, _, c] = in_shape;
    // Off on bare metal, where the flash it takes matters more.
    #[cfg(not(target_os = "none"))]
    if c >= LANES {
        return max_blocks(p, act_min, act_max, input, in_shape, output, out_shape);
    }
    // Taps outer, channels inner (contiguous): `max` is exact, so the
    // order does not change a value.
    for_each_window(p, input, in_shape, output, out_shape, |_, _, px, taps| {
        px.fill(i8::MIN);
        for x in taps {
            for (y, &v) in px.iter_mut().zip(&input[x * c..x * c + c]) {
                *y = (*y).max(v);
            }
        }
        for y in px.iter_mut() {
            *y = (*y as i32).max(act_min).min(act_max) as i8;
        }
    });
}

/// [`max_reference`] for at least `LANES` channels: per output pixel, the
/// in-image taps as a range of kernel rows and one of columns, and the
/// channels in fixed-width blocks, the last one ending at the last channel
/// (overlapping the one before: the overlapped channels get the same
/// values again; the output never aliases the input).
#[cfg(not(target_os = "none"))]
fn max_blocks(
    p: &PoolParams,
    act_min: i32,
    act_max: i32,
    input: &[i8],
    in_shape: [usize; 4],
    output: &mut [i8],
    out_shape: [usize; 4],
) {
    let [n, ih, iw, c] = in_shape;
    let [_, oh, ow, _] = out_shape;
    debug_assert!(c >= LANES && input.len() >= n * ih * iw * c);
    // Kernel positions `k0..k1` whose coordinate `o*stride + k*dilation −
    // pad` lies in `[0, len)` (contiguous: the coordinate grows with `k`).
    let valid = |o: usize, stride: usize, dilation: usize, pad: usize, k: usize, len: usize| {
        let inside = |k: usize| {
            (o * stride + k * dilation)
                .checked_sub(pad)
                .is_some_and(|i| i < len)
        };
        let k0 = (0..k).find(|&k| inside(k)).unwrap_or(k);
        let k1 = (k0..k).find(|&k| !inside(k)).unwrap_or(k);
        (k0, k1)
    };
    for b in 0..n {
        for oy in 0..oh {
            let (ky0, ky1) = valid(oy, p.stride_h, p.dilation_h, p.pad_top, p.kernel_h, ih);
            for ox in 0..ow {
                let (kx0, kx1) = valid(ox, p.stride_w, p.dilation_w, p.pad_left, p.kernel_w, iw);
                let px = &mut output[((b * oh + oy) * ow + ox) * c..][..c];
                let mut c0 = 0;
                while c0 < c {
                    let at = c0.min(c - LANES);
                    // As `x ^ 0x80` (order-preserving onto `u8`, whose
                    // vector max every x86-64 has).
                    let mut m = [0u8; LANES];
                    for ky in ky0..ky1 {
                        let iy = oy * p.stride_h + ky * p.dilation_h - p.pad_top;
                        for kx in kx0..kx1 {
                            let ix = ox * p.stride_w + kx * p.dilation_w - p.pad_left;
                            let v = &input[((b * ih + iy) * iw + ix) * c + at..][..LANES];
                            for (m, &v) in m.iter_mut().zip(v) {
                                *m = (*m).max(v as u8 ^ 0x80);
                            }
                        }
                    }
                    let (lo, hi) = ((act_min as u8) ^ 0x80, (act_max as u8) ^ 0x80);
                    for (y, &m) in px[at..at + LANES].iter_mut().zip(&m) {
                        *y = (m.max(lo).min(hi) ^ 0x80) as i8;
                    }
                    c0 += LANES;
                }
            }
        }
    }
}

/// Average pool with TFLite's rounding whose counted padding positions
/// (`count_include_pad`) hold `zero_point`, the quantized real zero: the
/// real-valued `AveragePool` for any zero point (TFLite's formula, which
/// adds 0 for them, is the case `zero_point == 0`).
#[allow(clippy::too_many_arguments)] // the op layer's fixed contract
pub fn avg_reference(
    p: &PoolParams,
    count_include_pad: bool,
    zero_point: i32,
    act_min: i32,
    act_max: i32,
    input: &[i8],
    in_shape: [usize; 4],
    output: &mut [i8],
    out_shape: [usize; 4],
) {
    let [_, ih, iw, c] = in_shape;
    for_each_window(p, input, in_shape, output, out_shape, |oy, ox, px, taps| {
        let in_bounds = taps.clone().count();
        let count = if count_include_pad {
            positions(
                oy,
                p.kernel_h,
                p.stride_h,
                p.dilation_h,
                0,
                p.pad_top + ih + p.pad_bottom,
            ) * positions(
                ox,
                p.kernel_w,
                p.stride_w,
                p.dilation_w,
                0,
                p.pad_left + iw + p.pad_right,
            )
        } else {
            in_bounds
        };
        // `count >= in_bounds >= 1` (op layer); `max(1)` keeps a bad
        // geometry from dividing by zero.
        let pad_sum = ((count - in_bounds.min(count)) as i32).wrapping_mul(zero_point);
        let count = count.max(1) as i32;
        // Blocks of channels, taps outer: contiguous rows of the input
        // added lane by lane (wrapping `i32` sums, so any order gives the
        // same values).
        const BLOCK: usize = 64;
        for (c0, ys) in (0..c).step_by(BLOCK).zip(px.chunks_mut(BLOCK)) {
            let mut sums = [pad_sum; BLOCK];
            for x in taps.clone() {
                let row = &input[x * c + c0..][..ys.len()];
                for (s, &v) in sums.iter_mut().zip(row) {
                    *s = s.wrapping_add(v as i32);
                }
            }
            for (y, &s) in ys.iter_mut().zip(&sums) {
                let half = if s > 0 { count / 2 } else { -(count / 2) };
                let avg = s.wrapping_add(half) / count;
                *y = avg.max(act_min).min(act_max) as i8;
            }
        }
    });
}

/// Number of taps `k < kernel` of output `o` whose padded coordinate
/// `o*stride + k*dilation` lies in `[lo, hi)` (as in `pool`).
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

/// The in-bounds window positions of one output pixel, as pixel indices
/// `(b*ih + iy)*iw + ix`, in `ky`, then `kx` order.
#[derive(Clone)]
struct Taps<'a> {
    p: &'a PoolParams,
    base: usize,
    ih: usize,
    iw: usize,
    oy: usize,
    ox: usize,
    ky: usize,
    kx: usize,
}

impl Iterator for Taps<'_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        let p = self.p;
        while self.ky < p.kernel_h {
            let row = (self.oy * p.stride_h + self.ky * p.dilation_h)
                .checked_sub(p.pad_top)
                .filter(|&i| i < self.ih);
            if let Some(iy) = row {
                while self.kx < p.kernel_w {
                    let kx = self.kx;
                    self.kx += 1;
                    let col = (self.ox * p.stride_w + kx * p.dilation_w)
                        .checked_sub(p.pad_left)
                        .filter(|&i| i < self.iw);
                    if let Some(ix) = col {
                        return Some((self.base + iy) * self.iw + ix);
                    }
                }
            }
            self.ky += 1;
            self.kx = 0;
        }
        None
    }
}

/// Calls `f(oy, ox, output pixel, window taps)` for every output pixel.
#[inline(always)]
fn for_each_window(
    p: &PoolParams,
    input: &[i8],
    in_shape: [usize; 4],
    output: &mut [i8],
    out_shape: [usize; 4],
    mut f: impl FnMut(usize, usize, &mut [i8], Taps<'_>),
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
                let taps = Taps {
                    p,
                    base: b * ih,
                    ih,
                    iw,
                    oy,
                    ox,
                    ky: 0,
                    kx: 0,
                };
                f(oy, ox, px, taps);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::test_util::{iters, Rng};
    use crate::quant::test_support::{act_range, expect, vec_i8, zero_point, Guarded, Lsb};
    use std::vec::Vec;

    /// Brute force over the whole padded plane: per output, the in-bounds
    /// values, the count of positions within the explicit padding, and
    /// the number of taps whose position is in the window at all.
    fn window(
        p: &PoolParams,
        x: &[i8],
        s: [usize; 4],
        b: usize,
        ch: usize,
        oy: usize,
        ox: usize,
    ) -> (Vec<i8>, usize) {
        let [_, ih, iw, c] = s;
        let (mut vals, mut cnt_pad) = (Vec::new(), 0);
        // The padded plane plus any ceil-mode overhang.
        let ey = (p.kernel_h * p.dilation_h + p.stride_h) as i64;
        let ex = (p.kernel_w * p.dilation_w + p.stride_w) as i64;
        for y in -(p.pad_top as i64)..(ih + p.pad_bottom) as i64 + ey {
            for xx in -(p.pad_left as i64)..(iw + p.pad_right) as i64 + ex {
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
                if y < (ih + p.pad_bottom) as i64 && xx < (iw + p.pad_right) as i64 {
                    cnt_pad += 1;
                }
                if y >= 0 && xx >= 0 && y < ih as i64 && xx < iw as i64 {
                    vals.push(x[((b * ih + y as usize) * iw + xx as usize) * c + ch]);
                }
            }
        }
        (vals, cnt_pad)
    }

    /// ONNX output length (floor or ceil mode).
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

    /// TFLite's integer average of `sum / count`.
    fn tflite_avg(sum: i64, count: i64) -> i64 {
        if sum > 0 {
            (sum + count / 2) / count
        } else {
            (sum - count / 2) / count
        }
    }

    #[test]
    fn max_and_avg_match_brute_force_and_real_average() {
        let mut rng = Rng::new(401);
        let (mut lsb_excl, mut lsb_incl) = (Lsb::default(), Lsb::default());
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
            let chans = [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 130];
            let s = [
                1 + rng.below(2),
                1 + rng.below(8),
                1 + rng.below(8),
                // Fewer channels under Miri (the brute force is slow there).
                chans[rng.below(if cfg!(miri) { 4 } else { chans.len() })],
            ];
            let ceil = rng.below(2) == 1;
            let (Some(oh), Some(ow)) = (
                out_len(s[1], p.pad_top, p.pad_bottom, kh, dh, p.stride_h, ceil),
                out_len(s[2], p.pad_left, p.pad_right, kw, dw, p.stride_w, ceil),
            ) else {
                continue;
            };
            let empty = |o: usize, st: usize, d: usize, k: usize, pa: usize, len: usize| {
                (0..k).all(|kk| !(pa..pa + len).contains(&(o * st + kk * d)))
            };
            if (0..oh).any(|o| empty(o, p.stride_h, dh, kh, p.pad_top, s[1]))
                || (0..ow).any(|o| empty(o, p.stride_w, dw, kw, p.pad_left, s[2]))
            {
                continue;
            }
            let zp = zero_point(&mut rng);
            let (lo, hi) = act_range(&mut rng, zp);
            let x = vec_i8(&mut rng, s.iter().product());
            let os = [s[0], oh, ow, s[3]];
            let len = os.iter().product();
            let mut mx = Guarded::new(len);
            max_reference(&p, lo, hi, &x, s, mx.out(), os);
            let mut avg = [
                Guarded::new(len),
                Guarded::new(len),
                Guarded::new(len),
                Guarded::new(len),
            ];
            avg_reference(&p, false, 0, lo, hi, &x, s, avg[0].out(), os);
            avg_reference(&p, true, 0, lo, hi, &x, s, avg[1].out(), os);
            avg_reference(&p, false, zp, lo, hi, &x, s, avg[2].out(), os);
            avg_reference(&p, true, zp, lo, hi, &x, s, avg[3].out(), os);
            let (mx, avg) = (mx.body(), avg.each_ref().map(|g| g.body()));
            assert_eq!(
                avg[0], avg[2],
                "zero point irrelevant without count_include_pad"
            );
            let mut at = 0;
            for b in 0..s[0] {
                for oy in 0..oh {
                    for ox in 0..ow {
                        for ch in 0..s[3] {
                            let (vals, cnt_pad) = window(&p, &x, s, b, ch, oy, ox);
                            let clamp = |v: i64| v.clamp(lo as i64, hi as i64) as i8;
                            let m = *vals.iter().max().unwrap();
                            assert_eq!(mx[at], clamp(m as i64), "max");
                            let sum: i64 = vals.iter().map(|&v| v as i64).sum();
                            let n_in = vals.len() as i64;
                            let npad = cnt_pad as i64 - n_in;
                            assert_eq!(avg[0][at], clamp(tflite_avg(sum, n_in)), "avg");
                            assert_eq!(
                                avg[1][at],
                                clamp(tflite_avg(sum, cnt_pad as i64)),
                                "avg incl pad"
                            );
                            assert_eq!(
                                avg[3][at],
                                clamp(tflite_avg(sum + npad * zp as i64, cnt_pad as i64))
                            );
                            // Real-valued averages (scale cancels): padding is real 0.
                            let dsum: f64 = vals.iter().map(|&v| (v as i32 - zp) as f64).sum();
                            // Mismatches may only be exact ties, rounded the other way.
                            let tie = |cnt: usize| {
                                let d = dsum as i64;
                                d % cnt as i64 != 0 && (2 * d) % cnt as i64 == 0
                            };
                            let want = expect(dsum / n_in as f64, zp, lo, hi);
                            lsb_excl.check(avg[0][at], want, (lo, hi), &p);
                            assert!(avg[0][at] == want || tie(vals.len()), "not a tie");
                            let want = expect(dsum / cnt_pad as f64, zp, lo, hi);
                            lsb_incl.check(avg[3][at], want, (lo, hi), &p);
                            assert!(avg[3][at] == want || tie(cnt_pad), "not a tie");
                            at += 1;
                        }
                    }
                }
            }
            done += 1;
        }
        // TFLite rounds ties of the raw sum away from zero, the real-valued
        // average those of the sum of (x - zp): where the two sums differ in
        // sign, a tie (even counts) goes the other way. Measured: about 5%.
        lsb_excl.finish("i8 avg pool", 0.08);
        lsb_incl.finish("i8 avg pool (count_include_pad, zp)", 0.08);
    }

    #[test]
    fn hand_computed() {
        // 3x3 input 1..9, 2x2 window, stride 2, pad 1 top/left.
        let x: Vec<i8> = (1..=9).collect();
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
        let mut out = [0i8; 4];
        // Windows: [1], [2, 3], [4, 7], [5, 6, 8, 9].
        avg_reference(
            &p,
            false,
            0,
            -128,
            127,
            &x,
            [1, 3, 3, 1],
            &mut out,
            [1, 2, 2, 1],
        );
        assert_eq!(out, [1, 3, 6, 7]); // 2.5 -> 3, 5.5 -> 6
        avg_reference(
            &p,
            true,
            0,
            -128,
            127,
            &x,
            [1, 3, 3, 1],
            &mut out,
            [1, 2, 2, 1],
        );
        assert_eq!(out, [0, 1, 3, 7]); // 0.25, 1.25, 2.75, 7
                                       // Padding holds zero point -2: (1 - 6) / 4 = -1.25; (5 - 4) / 4; (11 - 4) / 4.
        avg_reference(
            &p,
            true,
            -2,
            -128,
            127,
            &x,
            [1, 3, 3, 1],
            &mut out,
            [1, 2, 2, 1],
        );
        assert_eq!(out, [-1, 0, 2, 7]);
        max_reference(&p, -128, 127, &x, [1, 3, 3, 1], &mut out, [1, 2, 2, 1]);
        assert_eq!(out, [1, 3, 7, 9]);
        max_reference(&p, -128, 5, &x, [1, 3, 3, 1], &mut out, [1, 2, 2, 1]);
        assert_eq!(out, [1, 3, 5, 5]);
        // Negative ties round away from zero: -2.5 -> -3, -5.5 -> -6.
        let neg: Vec<i8> = x.iter().map(|v| -v).collect();
        avg_reference(
            &p,
            false,
            0,
            -128,
            127,
            &neg,
            [1, 3, 3, 1],
            &mut out,
            [1, 2, 2, 1],
        );
        assert_eq!(out, [-1, -3, -6, -7]);
        max_reference(&p, -128, 127, &neg, [1, 3, 3, 1], &mut out, [1, 2, 2, 1]);
        assert_eq!(out, [-1, -2, -4, -5]);
    }

    #[test]
    fn global_average_large_window() {
        // 64x64 window of -128: the sum -524288 stays exact.
        let x = std::vec![-128i8; 64 * 64 * 3];
        let p = PoolParams {
            kernel_h: 64,
            kernel_w: 64,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 0,
            pad_left: 0,
            pad_bottom: 0,
            pad_right: 0,
        };
        let mut out = Guarded::new(3);
        avg_reference(
            &p,
            false,
            0,
            -128,
            127,
            &x,
            [1, 64, 64, 3],
            out.out(),
            [1, 1, 1, 3],
        );
        assert_eq!(out.body(), [-128; 3]);
    }
}
