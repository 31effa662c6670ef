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
//! `exp`/`ln` are [`math::exp`](crate::math::exp) /
//! [`math::ln`](crate::math::ln). Rounding: the max uses `f32::max`, the
//! sum is accumulated sequentially over `k = 0..axis_len` from `0.0`, and
//! each softmax value is one division by the sum.

use crate::math;

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
            let mut max = f32::NEG_INFINITY;
            for j in 0..axis_len {
                max = max.max(input[at(j)]);
            }
            let mut sum = 0.0f32;
            if inner == 1 && !log {
                // Contiguous: the exponentials in one loop that vectorizes,
                // then the same sequential sum.
                let (x, y) = (
                    &input[base..base + axis_len],
                    &mut out[base..base + axis_len],
                );
                for (e, &v) in y.iter_mut().zip(x) {
                    *e = math::exp_lane(v - max);
                }
                for &e in y.iter() {
                    sum += e;
                }
            } else {
                for j in 0..axis_len {
                    let e = math::exp_lane(input[at(j)] - max);
                    sum += e;
                    if !log {
                        out[at(j)] = e;
                    }
                }
            }
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
