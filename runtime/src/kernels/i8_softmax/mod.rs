//! int8 softmax: ONNX `Softmax` (QDQ form) / TFLite `SOFTMAX` on int8,
//! with the output quantization TFLite fixes for it: scale `1/256`, zero
//! point `-128`.
//!
//! Layout as [`softmax`](super::softmax): the input viewed as
//! `[outer, axis_len, inner]`, normalized along the middle dim for each
//! `(outer, inner)` pair; the output has the input's layout.
//!
//! ```text
//! table[d] = round(2^24 * exp(-S_in * beta * d))          d = 0..255, built by the compiler
//! m        = max_j x[j]
//! e_j      = table[m - x[j]]                                (u64, <= 2^24)
//! sum      = sum_j e_j                                      (u64, >= table[0] = 2^24)
//! y_j      = clamp(((e_j << 8) + sum/2) / sum - 128, -128, 127)
//! ```
//!
//! `y_j + 128` is `256 * e_j / sum` rounded half up (ties toward `+inf`;
//! both are positive); the clamp only turns a probability of 1 (256) into
//! 255. The table carries `exp` with a relative error of at most `2^-25`
//! (for entries not flushed to 0), so outputs are within 1 LSB of the f64
//! softmax quantized the same way. Bounds: `e_j << 8 <= 2^32` and
//! `sum <= axis_len * 2^24`, far inside `u64`. `axis_len >= 1` and
//! `0 <= table[d] <= 2^24` with `table[0] > 0` are the op layer's
//! preconditions (a zero sum is treated as 1, never a division by zero).

/// int8 softmax along the middle dim of `[outer, axis_len, inner]`; see
/// the module docs. `table.len() == 256`.
pub fn reference(
    input: &[i8],
    outer: usize,
    axis_len: usize,
    inner: usize,
    table: &[i32],
    out: &mut [i8],
) {
    let total = outer * axis_len * inner;
    debug_assert!(
        input.len() >= total && out.len() >= total,
        "buffer too short"
    );
    debug_assert!(table.len() == 256, "table length");
    debug_assert!(
        table.iter().all(|&t| (0..=1 << 24).contains(&t)),
        "table range"
    );
    let e = |m: i8, x: i8| table[(m as i32 - x as i32) as usize] as u64;
    for o in 0..outer {
        for i in 0..inner {
            let base = o * axis_len * inner + i;
            let at = |j: usize| base + j * inner;
            let mut m = i8::MIN;
            for j in 0..axis_len {
                m = m.max(input[at(j)]);
            }
            let mut sum = 0u64;
            for j in 0..axis_len {
                sum += e(m, input[at(j)]);
            }
            let sum = sum.max(1);
            for j in 0..axis_len {
                let p = ((e(m, input[at(j)]) << 8) + sum / 2) / sum;
                out[at(j)] = (p as i64 - 128).clamp(-128, 127) as i8;
            }
        }
    }
}

/// The table [`reference()`] reads, built in `f64`:
/// `table[d] = round(2^24 * exp(-(scale_times_beta as f64) * d))` (half
/// away from zero), for the compiler and tests. `scale_times_beta` is the
/// input scale times softmax's `beta` (1 for ONNX), `>= 0`.
#[cfg(any(test, feature = "std"))]
pub fn exp_table(scale_times_beta: f32) -> [i32; 256] {
    extern crate std;
    let s = scale_times_beta as f64;
    core::array::from_fn(|d| (16_777_216.0 * (-s * d as f64).exp()).round() as i32)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::test_util::{iters, Rng};
    use crate::quant::test_support::{expect, scale, vec_i8, Guarded, Lsb};
    use std::vec::Vec;

    /// Softmax of the dequantized input in f64, quantized with scale 1/256
    /// and zero point -128.
    fn real(x: &[i8], outer: usize, axis: usize, inner: usize, s: f32) -> Vec<i8> {
        let mut out = std::vec![0; x.len()];
        for o in 0..outer {
            for i in 0..inner {
                let idx = |j: usize| (o * axis + j) * inner + i;
                // The input zero point cancels; use the raw values.
                let m = (0..axis)
                    .map(|j| x[idx(j)] as f64)
                    .fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = (0..axis)
                    .map(|j| (s as f64 * (x[idx(j)] as f64 - m)).exp())
                    .collect();
                let sum: f64 = e.iter().sum();
                for j in 0..axis {
                    out[idx(j)] = expect(e[j] / sum * 256.0, -128, -128, 127);
                }
            }
        }
        out
    }

    /// The formula transcribed with u128 arithmetic.
    fn naive(x: &[i8], outer: usize, axis: usize, inner: usize, table: &[i32; 256]) -> Vec<i8> {
        let mut out = std::vec![0; x.len()];
        for o in 0..outer {
            for i in 0..inner {
                let idx = |j: usize| (o * axis + j) * inner + i;
                let m = (0..axis).map(|j| x[idx(j)]).max().unwrap();
                let e = |j: usize| table[(m as i32 - x[idx(j)] as i32) as usize] as u128;
                let sum: u128 = (0..axis).map(e).sum();
                for j in 0..axis {
                    let p = (256 * e(j) + sum / 2) / sum;
                    out[idx(j)] = (p as i64 - 128).clamp(-128, 127) as i8;
                }
            }
        }
        out
    }

    #[test]
    fn table_values() {
        let t = exp_table(0.0);
        assert!(t.iter().all(|&v| v == 1 << 24));
        let t = exp_table(core::f32::consts::LN_2);
        assert_eq!(t[0], 1 << 24);
        assert_eq!(t[1], 1 << 23);
        assert_eq!(t[24], 1);
        assert_eq!(t[26], 0); // 0.25
                              // Half-way values round away from zero: exp(-ln 4) * 2^24 = 2^22 exactly
                              // for the f64 scale; a table entry 0.5 needs 2^-25.
        let t = exp_table(100.0);
        assert_eq!((t[0], t[1]), (1 << 24, 0));
    }

    #[test]
    fn matches_integer_and_real_definitions() {
        let mut rng = Rng::new(601);
        let mut lsb = Lsb::default();
        let axes = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 100, 1000];
        for t in 0..iters(300) {
            let axis = axes[rng.below(axes.len())];
            let (outer, inner) = (1 + rng.below(3), [1, 1, 2, 3][rng.below(4)]);
            // Input scales from tiny (all equal probabilities) to huge (one-hot).
            let s = scale(&mut rng, -12.0, 3.0);
            let table = exp_table(s);
            let mut x = vec_i8(&mut rng, outer * axis * inner);
            if t % 4 == 0 {
                // Narrow input ranges, so that many values tie with the max.
                x.iter_mut().for_each(|v| *v = (*v as i32 % 4 + 100) as i8);
            }
            let mut out = Guarded::new(x.len());
            reference(&x, outer, axis, inner, &table, out.out());
            let out = out.body();
            assert_eq!(out, &naive(&x, outer, axis, inner, &table)[..]);
            for (&got, &want) in out.iter().zip(&real(&x, outer, axis, inner, s)) {
                lsb.check(got, want, (-129, 128), &(s, axis));
            }
            // Probabilities stay sane: each row sums to 1 within its
            // rounding (at most half an LSB per element, plus the clamp).
            for o in 0..outer {
                for i in 0..inner {
                    let p: f64 = (0..axis)
                        .map(|j| (out[(o * axis + j) * inner + i] as f64 + 128.0) / 256.0)
                        .sum();
                    assert!(
                        (p - 1.0).abs() <= (0.5 * axis as f64 + 1.0) / 256.0,
                        "row sum {p}"
                    );
                    // The max element never has the smallest probability.
                    let row: Vec<i8> = (0..axis).map(|j| x[(o * axis + j) * inner + i]).collect();
                    let jm = (0..axis).max_by_key(|&j| row[j]).unwrap();
                    let ym = out[(o * axis + jm) * inner + i];
                    assert!((0..axis).all(|j| out[(o * axis + j) * inner + i] <= ym));
                }
            }
        }
        lsb.finish("i8 softmax", 0.01);
    }

    #[test]
    fn known_values() {
        // Equal inputs: 1/n each; n = 1 gives probability 1, clamped to 255/256.
        let t = exp_table(0.1);
        let mut out = [0i8; 4];
        reference(&[7; 4], 1, 4, 1, &t, &mut out);
        assert_eq!(out, [-64; 4]); // 64/256 = 0.25
        reference(&[-128], 1, 1, 1, &t, &mut out[..1]);
        assert_eq!(out[0], 127);
        // One-hot with a steep table: [1, 0] -> [127, -128].
        let t = exp_table(50.0);
        reference(&[10, 9], 1, 2, 1, &t, &mut out[..2]);
        assert_eq!(out[..2], [127, -128]);
        // Extreme spread: max - min = 255 indexes the table's last entry.
        let t = exp_table(0.0);
        reference(&[127, -128], 1, 2, 1, &t, &mut out[..2]);
        assert_eq!(out[..2], [0, 0]); // 1/2 each
                                      // inner > 1: normalized along the middle dim.
        reference(&[1, 2, 1, 2], 1, 2, 2, &t, &mut out);
        assert_eq!(out, [0; 4]);
        // Zero rows or columns: nothing to do.
        reference(&[], 0, 3, 2, &t, &mut []);
        reference(&[], 2, 3, 0, &t, &mut []);
    }
}
