//! f32 softmax: ONNX `Softmax` and `LogSoftmax` (opset >= 13: one axis).
//!
//! Layout: the input viewed as `[outer, axis_len, inner]` row-major; the
//! normalization runs along the middle dim, independently for each
//! `(outer, inner)` pair. Output has the input's layout.
//!
//! ```text
//! m = max_j x[j]
//! Softmax:    out[j] = exp(x[j] - m) / sum_k exp(x[k] - m)
//! LogSoftmax: out[j] = (x[j] - m) - ln(sum_k exp(x[k] - m))
//! ```
//!
//! `exp`/`ln` are [`math::exp`] /
//! [`math::ln`]. Rounding: the max uses `f32::max`; each
//! softmax value is one division by the sum. The sum runs in [`LANES`]
//! interleaved partial sums, as a vector unit adds: with `full = axis_len −
//! axis_len % LANES`, lane `l` adds `e[k]` for `k ≡ l (mod LANES)`, `k <
//! full`, in ascending `k` from `0.0`; the lanes are combined pairwise
//! (`s[l] += s[l + w]` for `w = 8, 4, 2, 1`, `l < w`), then `e[full..]` are
//! added to `s[0]` in order. Every path and kernel table sums in this order,
//! so all give the same bits.

use crate::math;

/// Partial sums of the softmax denominator (see the module docs).
pub const LANES: usize = 16;

/// The denominator of `e[0..len]`, `e(k)` read through `at`, in the order
/// of the module docs.
#[inline(always)]
fn lane_sum(len: usize, at: impl Fn(usize) -> f32) -> f32 {
    let full = len - len % LANES;
    let mut s = [0.0f32; LANES];
    for k0 in (0..full).step_by(LANES) {
        for (l, v) in s.iter_mut().enumerate() {
            *v += at(k0 + l);
        }
    }
    combine(&mut s);
    (full..len).fold(s[0], |sum, k| sum + at(k))
}

/// `s[l] += s[l + w]` for `w = 8, 4, 2, 1`: the pairwise combination of the
/// lanes, left in `s[0]`.
#[inline(always)]
fn combine(s: &mut [f32; LANES]) {
    let mut w = LANES / 2;
    while w > 0 {
        for l in 0..w {
            s[l] += s[l + w];
        }
        w /= 2;
    }
}

/// Softmax (or LogSoftmax when `log`) of `input` along the middle dim of
/// `[outer, axis_len, inner]`; see the module docs.
#[inline(always)] // compiled inside each kernel table's target features
pub fn reference(
    input: &[f32],
    outer: usize,
    axis_len: usize,
    inner: usize,
    log: bool,
    out: &mut [f32],
) {
    let total = outer * axis_len * inner;
    debug_assert!(
        input.len() >= total && out.len() >= total,
        "buffer too short"
    );
    for o in 0..outer {
        for i in 0..inner {
            let base = o * axis_len * inner + i;
            let at = |j: usize| base + j * inner;
            if inner == 1 && !log {
                // Contiguous: loops that vectorize, with the same results.
                let (x, y) = (
                    &input[base..base + axis_len],
                    &mut out[base..base + axis_len],
                );
                contiguous(x, y);
                continue;
            }
            let mut max = f32::NEG_INFINITY;
            for j in 0..axis_len {
                max = max.max(input[at(j)]);
            }
            let sum = if log {
                lane_sum(axis_len, |j| math::exp_lane(input[at(j)] - max))
            } else {
                for j in 0..axis_len {
                    out[at(j)] = math::exp_lane(input[at(j)] - max);
                }
                lane_sum(axis_len, |j| out[at(j)])
            };
            if log {
                let l = math::ln(sum);
                for j in 0..axis_len {
                    out[at(j)] = (input[at(j)] - max) - l;
                }
            } else {
                for j in 0..axis_len {
                    out[at(j)] /= sum;
                }
            }
        }
    }
}

/// Softmax of one contiguous row `x` into `y`, the loops of [`reference()`]
/// in forms that vectorize: the maximum in 16 lanes (exact: NaNs are
/// skipped either way, and which zero it returns does not change `v − max`
/// for any `v`), the exponentials, the same lane sums, the divisions.
#[inline(always)]
fn contiguous(x: &[f32], y: &mut [f32]) {
    const L: usize = LANES;
    let mut lanes = [f32::NEG_INFINITY; L];
    let chunks = x.chunks_exact(L);
    let rest = chunks.remainder();
    for c in chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            *m = m.max(v);
        }
    }
    let max = lanes
        .iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for (e, &v) in y.iter_mut().zip(x) {
        *e = math::exp_lane(v - max);
    }
    let mut s = [0.0f32; L];
    let chunks = y.chunks_exact(L);
    let rest = chunks.remainder();
    for c in chunks {
        for (v, &e) in s.iter_mut().zip(c) {
            *v += e;
        }
    }
    combine(&mut s);
    let sum = rest.iter().fold(s[0], |sum, &e| sum + e);
    for e in y.iter_mut() {
        *e /= sum;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::test_util::{assert_close, Rng};
    use std::vec;
    use std::vec::Vec;

    /// Softmax in f64, straight from the definition.
    fn naive(x: &[f32], outer: usize, axis: usize, inner: usize, log: bool) -> Vec<f32> {
        let mut out = vec![0.0; x.len()];
        for o in 0..outer {
            for i in 0..inner {
                let idx = |j: usize| (o * axis + j) * inner + i;
                let m = (0..axis)
                    .map(|j| x[idx(j)] as f64)
                    .fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = (0..axis).map(|j| (x[idx(j)] as f64 - m).exp()).sum();
                for j in 0..axis {
                    let v = x[idx(j)] as f64 - m;
                    out[idx(j)] = if log { v - s.ln() } else { v.exp() / s } as f32;
                }
            }
        }
        out
    }

    #[test]
    fn contiguous_rows_equal_the_strided_loops() {
        // The same rows laid out with `inner == 2` take the strided loops
        // (the sequential maximum); both copies must give the contiguous
        // path's bits.
        let mut rng = Rng::new(42);
        let long = if cfg!(miri) { 200 } else { 6625 };
        for axis in [1, 2, 15, 16, 17, 33, 100, long] {
            let mut x = rng.vec(axis);
            for (j, v) in x.iter_mut().enumerate() {
                *v *= 30.0;
                match j % 23 {
                    3 => *v = 0.0,
                    5 => *v = -0.0,
                    7 if axis > 20 => *v = f32::NAN,
                    11 if axis > 50 => *v = f32::NEG_INFINITY,
                    _ => {}
                }
            }
            let mut y = vec![0.0; axis];
            reference(&x, 1, axis, 1, false, &mut y);
            let x2: Vec<f32> = x.iter().flat_map(|&v| [v, v]).collect();
            let mut y2 = vec![0.0; 2 * axis];
            reference(&x2, 1, axis, 2, false, &mut y2);
            // NaN payloads are not specified (Miri varies them): a NaN
            // must meet a NaN.
            let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
            for (j, &v) in y.iter().enumerate() {
                assert!(same(v, y2[2 * j]), "axis {axis}, {j}: {v} vs {}", y2[2 * j]);
                assert!(
                    same(v, y2[2 * j + 1]),
                    "axis {axis}, {j}: {v} vs {}",
                    y2[2 * j + 1]
                );
            }
        }
    }

    #[test]
    fn denominator_sums_in_interleaved_lanes() {
        // 2^24 then 34 ones: a sequential sum keeps 2^24 (each `+ 1` rounds
        // back to even), the lane order of the module docs does not.
        let big = 16_777_216.0f32;
        let mut e = [1.0f32; 35];
        e[0] = big;
        let mut s = [0.0f32; 16];
        for (k, &v) in e[..32].iter().enumerate() {
            s[k % 16] += v;
        }
        for w in [8, 4, 2, 1] {
            for l in 0..w {
                s[l] += s[l + w];
            }
        }
        let want = s[0] + e[32] + e[33] + e[34];
        assert_eq!(want, big + 32.0);
        assert_eq!(e.iter().fold(0.0f32, |a, &v| a + v), big);
        assert_eq!(lane_sum(35, |k| e[k]).to_bits(), want.to_bits());
        // Softmax over ln-values of `e` divides by the same sum on both paths.
        let x: Vec<f32> = e.iter().map(|&v| crate::math::ln(v)).collect();
        let (mut y1, mut y2) = (vec![0.0; 35], vec![0.0; 70]);
        reference(&x, 1, 35, 1, false, &mut y1);
        let x2: Vec<f32> = x.iter().flat_map(|&v| [v, v]).collect();
        reference(&x2, 1, 35, 2, false, &mut y2);
        for j in 0..35 {
            assert_eq!(y1[j].to_bits(), y2[2 * j].to_bits());
        }
    }

    #[test]
    fn matches_f64_definition() {
        let mut rng = Rng::new(41);
        for &(outer, axis, inner) in &[
            (1, 1, 1),
            (1, 10, 1),
            (3, 7, 1),
            (2, 5, 3),
            (1, 1000, 1),
            (4, 1, 6),
            (2, 3, 0),
        ] {
            for log in [false, true] {
                let x: Vec<f32> = rng
                    .vec(outer * axis * inner)
                    .iter()
                    .map(|v| v * 20.0)
                    .collect();
                let mut out = vec![f32::NAN; x.len()];
                reference(&x, outer, axis, inner, log, &mut out);
                assert_close(&out, &naive(&x, outer, axis, inner, log), 2e-6);
                if !log {
                    for o in 0..outer {
                        for i in 0..inner {
                            let s: f32 = (0..axis).map(|j| out[(o * axis + j) * inner + i]).sum();
                            assert!((s - 1.0).abs() < 1e-5);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn large_inputs_do_not_overflow() {
        let x = [1000.0, 1001.0, 1002.0, -1e30];
        let mut out = [0.0; 4];
        reference(&x, 1, 4, 1, false, &mut out);
        assert_close(&out, &[0.090_030_57, 0.244_728_47, 0.665_240_96, 0.0], 1e-6);
        reference(&x, 1, 4, 1, true, &mut out);
        assert_close(&out, &[-2.407_606, -1.407_606, -0.407_606, -1e30], 1e-6);
    }
}
