//! int8 reductions: `ReduceMean` (TFLite `MEAN`, ONNX `ReduceMean` /
//! `GlobalAveragePool` in QDQ form) and `ReduceMax`.
//!
//! Layout as [`reduce`](super::reduce): `in_shape` has `MAX_RANK` dims
//! (leading 1s); bit `d` of `axes_mask` set = reduce dim `d`; the output
//! is row-major over `in_shape` with the reduced dims set to 1.
//!
//! ```text
//! Mean: s = sum (x - in_zp)                                     (i32)
//!       y = clamp(mbqm(s, mult, shift) + out_zp, -128, 127)
//!       mult * 2^(shift - 31) ~ S_in / (count * S_out)         (compiler)
//! Max:  y = max x                                               (same scale and zero point)
//! ```
//!
//! `count` is the product of the reduced dims. Rounding: one
//! [`mbqm`](crate::quant::mbqm) (TFLite double rounding). Bounds:
//! `|s| <= 255 * count`; the op layer guarantees `count <= 2^23`, so `s`
//! is exact in `i32`. An empty reduction gives `out_zp` (mean) and `-128`
//! (max).

use super::{contiguous_strides, next_index, MAX_RANK};
use crate::quant::requantize_clamp;

/// Mean over the dims in `axes_mask`; see the module docs.
#[allow(clippy::too_many_arguments)] // the op layer's fixed contract
pub fn mean_reference(
    input: &[i8],
    in_shape: [usize; MAX_RANK],
    axes_mask: u32,
    in_zp: i32,
    mult: i32,
    shift: i32,
    out_zp: i32,
    out: &mut [i8],
) {
    if let Some((rows, cols)) = leading_rows(in_shape, axes_mask) {
        // The same sums, column-parallel: `COLS` running sums per pass over
        // the rows (LLVM vectorizes the inner loop). The raw inputs are
        // summed in `i16` over runs of at most `RUN` rows (`|Σ x| <= 128 ·
        // RUN` fits), each run's sums then added to the `i32` ones, and `rows
        // · in_zp` subtracted at the end: the same integer, all exact.
        const COLS: usize = 64;
        const RUN: usize = 256;
        debug_assert!(input.len() >= rows * cols && out.len() >= cols);
        let zp_total = (rows as i32).wrapping_mul(in_zp);
        let mut c0 = 0;
        while c0 < cols {
            let n = (cols - c0).min(COLS);
            let mut acc = [0i32; COLS];
            for r0 in (0..rows).step_by(RUN) {
                let mut run = [0i16; COLS];
                for r in r0..(r0 + RUN).min(rows) {
                    let row = &input[r * cols + c0..][..n];
                    for (a, &x) in run.iter_mut().zip(row) {
                        *a += x as i16;
                    }
                }
                for (a, &s) in acc.iter_mut().zip(&run) {
                    *a = a.wrapping_add(s as i32);
                }
            }
            for (y, &a) in out[c0..c0 + n].iter_mut().zip(&acc) {
                let s = a.wrapping_sub(zp_total);
                *y = requantize_clamp(s, mult, shift, out_zp, -128, 127);
            }
            c0 += n;
        }
        return;
    }
    reduce(
        input,
        in_shape,
        axes_mask,
        out,
        0i32,
        |s, x| s.wrapping_add(x as i32 - in_zp),
        |s| requantize_clamp(s, mult, shift, out_zp, -128, 127),
    );
}

/// Max over the dims in `axes_mask`; see the module docs.
pub fn max_reference(input: &[i8], in_shape: [usize; MAX_RANK], axes_mask: u32, out: &mut [i8]) {
    reduce(input, in_shape, axes_mask, out, i8::MIN, i8::max, |m| m);
}

/// `(rows, cols)` when every reduced dim of extent > 1 comes before every
/// kept dim of extent > 1 (e.g. a mean over H and W of NHWC with N = 1):
/// the input is then `rows × cols` row-major and output `j` reduces column
/// `j`.
fn leading_rows(in_shape: [usize; MAX_RANK], axes_mask: u32) -> Option<(usize, usize)> {
    let (mut rows, mut cols) = (1usize, 1usize);
    for (d, &e) in in_shape.iter().enumerate() {
        if e == 1 {
            continue;
        }
        if axes_mask & (1 << d) != 0 {
            if cols > 1 {
                return None;
            }
            rows *= e;
        } else {
            cols *= e;
        }
    }
    Some((rows, cols))
}

/// For each output element (row-major), folds its inputs into `init` with
/// `step` in increasing row-major input order, then stores `finish(acc)`.
#[inline(always)]
fn reduce<T: Copy>(
    input: &[i8],
    in_shape: [usize; MAX_RANK],
    axes_mask: u32,
    out: &mut [i8],
    init: T,
    step: impl Fn(T, i8) -> T,
    finish: impl Fn(T) -> i8,
) {
    debug_assert!(axes_mask >> MAX_RANK == 0, "axes_mask beyond MAX_RANK");
    let reduced = |d: usize| axes_mask & (1 << d) != 0;
    let in_strides = contiguous_strides(in_shape);
    let total: usize = in_shape.iter().product();
    debug_assert!(input.len() >= total, "input too short");
    // Kept dims (reduced ones set to 1) and reduced dims (kept ones set to 1).
    let (mut kept, mut red) = (in_shape, in_shape);
    for d in 0..MAX_RANK {
        if reduced(d) {
            kept[d] = 1;
        } else {
            red[d] = 1;
        }
    }
    let out_len: usize = kept.iter().product();
    let count: usize = red.iter().product();
    debug_assert!(out.len() >= out_len, "out too short");
    let offset = |idx: &[usize; MAX_RANK]| -> usize {
        idx.iter().zip(&in_strides).map(|(i, s)| i * s).sum()
    };
    let mut oidx = [0usize; MAX_RANK];
    for y in out[..out_len].iter_mut() {
        let base = offset(&oidx);
        let mut acc = init;
        let mut ridx = [0usize; MAX_RANK];
        for _ in 0..count {
            acc = step(acc, input[base + offset(&ridx)]);
            next_index(&mut ridx, &red);
        }
        *y = finish(acc);
        next_index(&mut oidx, &kept);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::test_util::Rng;
    use crate::quant::test_support::{expect, scale, vec_i8, zero_point, Guarded, Lsb};
    use crate::quant::{mbqm, quantize_multiplier};
    use std::vec;
    use std::vec::Vec;

    /// For each output element, its inputs: scan all input indices in
    /// row-major order and keep those that project onto it.
    fn groups(x: &[i8], s: [usize; MAX_RANK], mask: u32) -> Vec<Vec<i8>> {
        let os: Vec<usize> = (0..MAX_RANK)
            .map(|d| if mask & (1 << d) != 0 { 1 } else { s[d] })
            .collect();
        let mut out = vec![Vec::new(); os.iter().product()];
        for (flat, &v) in x[..s.iter().product()].iter().enumerate() {
            let mut rem = flat;
            let mut idx = [0; MAX_RANK];
            for d in (0..MAX_RANK).rev() {
                idx[d] = rem % s[d];
                rem /= s[d];
            }
            let lin = (0..MAX_RANK).fold(0, |l, d| {
                l * os[d] + if mask & (1 << d) != 0 { 0 } else { idx[d] }
            });
            out[lin].push(v);
        }
        out
    }

    #[test]
    fn matches_integer_and_real_definitions_for_all_masks() {
        let mut rng = Rng::new(501);
        let shapes = [
            [1, 1, 2, 3, 4, 5],
            [2, 3, 1, 2, 2, 3],
            [1, 1, 1, 1, 1, 17],
            [1, 1, 1, 9, 16, 1],
            [1, 1, 3, 0, 2, 2],
            [1, 2, 1, 7, 1, 15],
            [1, 1, 1, 3, 2, 70],
            // Over two of the `i16` runs of rows, and two column blocks.
            [1, 1, 1, 23, 29, 67],
        ];
        let mut lsb = Lsb::default();
        for s in shapes {
            // Every mask natively, four random cases each; a sample under Miri.
            let (step, reps) = if cfg!(miri) { (5, 1) } else { (1, 4) };
            for mask in (0..64u32).step_by(step) {
                for _ in 0..reps {
                    let x = vec_i8(&mut rng, s.iter().product());
                    let g = groups(&x, s, mask);
                    let count: usize = (0..MAX_RANK)
                        .filter(|d| mask & (1 << d) != 0)
                        .map(|d| s[d])
                        .product();
                    let (zi, zo) = (zero_point(&mut rng), zero_point(&mut rng));
                    let si = scale(&mut rng, -16.0, 4.0);
                    let so = si * scale(&mut rng, -2.0, 3.0);
                    let (m, sh) =
                        quantize_multiplier(si as f64 / (count.max(1) as f64 * so as f64));
                    let mut mean = Guarded::new(g.len());
                    mean_reference(&x, s, mask, zi, m, sh, zo, mean.out());
                    let mut max = Guarded::new(g.len());
                    max_reference(&x, s, mask, max.out());
                    for ((vals, &got), &got_max) in g.iter().zip(mean.body()).zip(max.body()) {
                        let sum: i64 = vals.iter().map(|&v| v as i64 - zi as i64).sum();
                        let exact = (mbqm(sum as i32, m, sh) as i64 + zo as i64).clamp(-128, 127);
                        assert_eq!(got as i64, exact, "{s:?} {mask:#b}");
                        assert_eq!(got_max, vals.iter().copied().max().unwrap_or(i8::MIN));
                        if !vals.is_empty() {
                            let real = si as f64 * sum as f64 / count as f64 / so as f64;
                            lsb.check(got, expect(real, zo, -128, 127), (-128, 127), &(s, mask));
                        }
                    }
                }
            }
        }
        // Small sums show the double-rounding artifact (SRDHM keeps few
        // bits of a small `s`; see `known_values`): measured about 5%.
        lsb.finish("i8 mean", 0.08);
    }

    #[test]
    fn global_mean_extremes() {
        // 2^16 values (2^10 under Miri) of -128 with zero point 127:
        // s = -255 * n.
        let side = if cfg!(miri) { 32 } else { 256 };
        let n = side * side;
        let x = vec![-128i8; n];
        let s = [1, 1, 1, side, side, 1];
        let (m, sh) = quantize_multiplier(1.0 / n as f64);
        let mut out = [0i8; 1];
        mean_reference(&x, s, 0b01_1000, 127, m, sh, 127, &mut out);
        assert_eq!(out, [-128]); // -255 + 127
        mean_reference(&x, s, 0b01_1000, -128, m, sh, 5, &mut out);
        assert_eq!(out, [5]);
        max_reference(&x, s, 0b01_1000, &mut out);
        assert_eq!(out, [-128]);
    }

    #[test]
    fn known_values() {
        // [[1, 2, 3], [4, 5, 7]], zp 1, same scale in and out.
        let x = [1, 2, 3, 4, 5, 7];
        let s = [1, 1, 1, 1, 2, 3];
        let mut o2 = [0i8; 2];
        let mut o3 = [0i8; 3];
        let (m3, s3) = quantize_multiplier(1.0 / 3.0);
        mean_reference(&x, s, 0b10_0000, 1, m3, s3, 1, &mut o2);
        // 1 + 3/3, and 1 + 13/3 = 5.33 rounded twice: M = 1/3 is
        // (1431655765, -1), SRDHM gives round(13 * 2/3) = 9, then 9/2 = 4.5
        // rounds away to 5: TFLite's result is 6, not 5.
        assert_eq!(o2, [2, 6]);
        let (m2, s2) = quantize_multiplier(0.5);
        mean_reference(&x, s, 0b01_0000, 1, m2, s2, 1, &mut o3);
        // 1 + 3/2, 1 + 5/2, 1 + 8/2: SRDHM rounds the ties up (no right shift).
        assert_eq!(o3, [3, 4, 5]);
        max_reference(&x, s, 0b10_0000, &mut o2);
        assert_eq!(o2, [3, 7]);
        max_reference(&x, s, 0b01_0000, &mut o3);
        assert_eq!(o3, [4, 5, 7]);
        // Empty reduction: out_zp and -128.
        mean_reference(&[], [1, 1, 1, 1, 2, 0], 0b10_0000, 0, m2, s2, 9, &mut o2);
        assert_eq!(o2, [9, 9]);
        max_reference(&[], [1, 1, 1, 1, 2, 0], 0b10_0000, &mut o2);
        assert_eq!(o2, [-128, -128]);
    }
}
