//! f32 reductions: ONNX `ReduceSum`, `ReduceMean`, `ReduceMax`, `ReduceMin`,
//! `ReduceProd`, `ReduceSumSquare`, `ReduceL2`, `ReduceL1`.
//!
//! Layout: `in_shape` has `MAX_RANK` dims (leading 1s); bit `d` of
//! `axes_mask` set = reduce dim `d`. The output is row-major over `in_shape`
//! with the reduced dims set to 1 (keepdims or not is only a matter of the
//! recorded shape).
//!
//! ```text
//! Sum: s = sum x          Mean: s / count      Max / Min: f32::max / f32::min
//! Prod: prod x            SumSquare: sum x*x   L2: sqrt(sum x*x)    L1: sum |x|
//! ```
//!
//! `count` is the product of the reduced dims. Rounding: each output folds
//! its elements in increasing row-major input order, in `f32`, starting from
//! the identity (`0`, `1`, `-inf`, `+inf`); `Mean` divides the sum by
//! `count` (an empty reduction gives `0/0 = NaN`), `L2` takes
//! [`math::sqrt`].

use super::{contiguous_strides, next_index, MAX_RANK};
use crate::math;

/// A reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceKind {
    /// Sum.
    Sum,
    /// Sum / count.
    Mean,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
    /// Product.
    Prod,
    /// Sum of squares.
    SumSquare,
    /// `sqrt` of the sum of squares.
    L2,
    /// Sum of absolute values.
    L1,
}

/// Reduces `input` (shape `in_shape`) over the dims in `axes_mask` into
/// `out`; see the module docs.
pub fn reference(
    kind: ReduceKind,
    input: &[f32],
    in_shape: [usize; MAX_RANK],
    axes_mask: u32,
    out: &mut [f32],
) {
    debug_assert!(axes_mask >> MAX_RANK == 0, "axes_mask beyond MAX_RANK");
    let reduced = |d: usize| axes_mask & (1 << d) != 0;
    let mut out_shape = in_shape;
    let mut count = 1usize;
    for (d, s) in out_shape.iter_mut().enumerate() {
        if reduced(d) {
            count *= *s;
            *s = 1;
        }
    }
    let out_len: usize = out_shape.iter().product();
    debug_assert!(out.len() >= out_len, "out too short");
    let out = &mut out[..out_len];
    // Output strides as seen from an input index: 0 along reduced dims.
    let mut ostr = contiguous_strides(out_shape);
    for (d, s) in ostr.iter_mut().enumerate() {
        if reduced(d) {
            *s = 0;
        }
    }
    let total: usize = in_shape.iter().product();
    debug_assert!(input.len() >= total, "input too short");
    let input = &input[..total];
    // One monomorphized walk per formula (a function pointer would be an
    // indirect call per element).
    match kind {
        ReduceKind::Sum | ReduceKind::Mean => fold(input, in_shape, ostr, out, 0.0, |a, x| a + x),
        ReduceKind::Max => fold(input, in_shape, ostr, out, f32::NEG_INFINITY, f32::max),
        ReduceKind::Min => fold(input, in_shape, ostr, out, f32::INFINITY, f32::min),
        ReduceKind::Prod => fold(input, in_shape, ostr, out, 1.0, |a, x| a * x),
        ReduceKind::SumSquare | ReduceKind::L2 => {
            fold(input, in_shape, ostr, out, 0.0, |a, x| a + x * x)
        }
        ReduceKind::L1 => fold(input, in_shape, ostr, out, 0.0, |a, x| a + math::abs(x)),
    }
    match kind {
        ReduceKind::Mean => {
            let n = count as f32;
            out.iter_mut().for_each(|v| *v /= n);
        }
        ReduceKind::L2 => out.iter_mut().for_each(|v| *v = math::sqrt(*v)),
        _ => {}
    }
}

/// Fills `out` with `init`, then walks the input in row-major order,
/// folding each element into the output element at
/// `sum_d idx[d] * ostr[d]`.
#[inline(always)]
fn fold(
    input: &[f32],
    in_shape: [usize; MAX_RANK],
    ostr: [usize; MAX_RANK],
    out: &mut [f32],
    init: f32,
    f: impl Fn(f32, f32) -> f32,
) {
    out.fill(init);
    if input.is_empty() {
        return;
    }
    let inner = in_shape[MAX_RANK - 1];
    let si = ostr[MAX_RANK - 1];
    let mut idx = [0usize; MAX_RANK - 1];
    for row in input.chunks_exact(inner) {
        let base: usize = idx.iter().zip(&ostr).map(|(i, s)| i * s).sum();
        if si == 0 {
            let acc = &mut out[base];
            for &x in row {
                *acc = f(*acc, x);
            }
        } else {
            for (o, &x) in out[base..base + inner].iter_mut().zip(row) {
                *o = f(*o, x);
            }
        }
        next_index(&mut idx, &in_shape[..MAX_RANK - 1]);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::test_util::{assert_close, Rng};
    use std::vec;
    use std::vec::Vec;

    /// For each output element, gather its inputs by scanning all input
    /// indices in row-major order and keeping those that project onto it.
    fn naive(kind: ReduceKind, x: &[f32], s: [usize; MAX_RANK], mask: u32) -> Vec<f32> {
        let os: Vec<usize> = (0..MAX_RANK)
            .map(|d| if mask & (1 << d) != 0 { 1 } else { s[d] })
            .collect();
        let n_out: usize = os.iter().product();
        let total: usize = s.iter().product();
        let mut out = vec![0.0; n_out];
        for (o, slot) in out.iter_mut().enumerate() {
            let mut vals = Vec::new();
            for (flat, &v) in x[..total].iter().enumerate() {
                let mut rem = flat;
                let mut idx = [0; MAX_RANK];
                for d in (0..MAX_RANK).rev() {
                    idx[d] = rem % s[d];
                    rem /= s[d];
                }
                let mut lin = 0;
                for d in 0..MAX_RANK {
                    lin = lin * os[d] + if mask & (1 << d) != 0 { 0 } else { idx[d] };
                }
                if lin == o {
                    vals.push(v);
                }
            }
            let sum = |g: &dyn Fn(f32) -> f32| vals.iter().fold(0.0f32, |a, &v| a + g(v));
            *slot = match kind {
                ReduceKind::Sum => sum(&|v| v),
                ReduceKind::Mean => sum(&|v| v) / vals.len() as f32,
                ReduceKind::Max => vals.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v)),
                ReduceKind::Min => vals.iter().fold(f32::INFINITY, |a, &v| a.min(v)),
                ReduceKind::Prod => vals.iter().fold(1.0, |a, &v| a * v),
                ReduceKind::SumSquare => sum(&|v| v * v),
                ReduceKind::L2 => (sum(&|v| v * v) as f64).sqrt() as f32,
                ReduceKind::L1 => sum(&|v| v.abs()),
            };
        }
        out
    }

    const KINDS: [ReduceKind; 8] = [
        ReduceKind::Sum,
        ReduceKind::Mean,
        ReduceKind::Max,
        ReduceKind::Min,
        ReduceKind::Prod,
        ReduceKind::SumSquare,
        ReduceKind::L2,
        ReduceKind::L1,
    ];

    #[test]
    fn matches_naive_for_all_masks() {
        let mut rng = Rng::new(31);
        let shapes = [
            [1, 1, 2, 3, 4, 5],
            [2, 3, 1, 2, 2, 3],
            [1, 1, 1, 1, 1, 7],
            [1, 1, 1, 1, 6, 1],
            [1, 1, 3, 0, 2, 2],
        ];
        let mut cases = 0;
        for s in shapes {
            let x = rng.vec(s.iter().product());
            for mask in 0..64u32 {
                for kind in KINDS {
                    let want = naive(kind, &x, s, mask);
                    let mut out = vec![f32::NAN; want.len()];
                    reference(kind, &x, s, mask, &mut out);
                    // Same order of operations: bit-identical.
                    assert_close(&out, &want, 0.0);
                    cases += 1;
                }
            }
        }
        assert_eq!(cases, 5 * 64 * 8);
    }

    #[test]
    fn known_values() {
        // [[1, 2, 3], [4, 5, 6]]
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let s = [1, 1, 1, 1, 2, 3];
        let mut o2 = [0.0; 2];
        let mut o3 = [0.0; 3];
        reference(ReduceKind::Sum, &x, s, 0b10_0000, &mut o2);
        assert_eq!(o2, [6.0, 15.0]);
        reference(ReduceKind::Mean, &x, s, 0b01_0000, &mut o3);
        assert_eq!(o3, [2.5, 3.5, 4.5]);
        reference(ReduceKind::Prod, &x, s, 0b10_0000, &mut o2);
        assert_eq!(o2, [6.0, 120.0]);
        reference(
            ReduceKind::L2,
            &[3.0, -4.0],
            [1, 1, 1, 1, 1, 2],
            0b10_0000,
            &mut o2[..1],
        );
        assert_eq!(o2[0], 5.0);
        reference(
            ReduceKind::L1,
            &[3.0, -4.0],
            [1, 1, 1, 1, 1, 2],
            0b10_0000,
            &mut o2[..1],
        );
        assert_eq!(o2[0], 7.0);
        // Empty reduction: Sum 0, Prod 1, Mean NaN.
        reference(ReduceKind::Sum, &[], [1, 1, 1, 1, 2, 0], 0b10_0000, &mut o2);
        assert_eq!(o2, [0.0, 0.0]);
        reference(
            ReduceKind::Prod,
            &[],
            [1, 1, 1, 1, 2, 0],
            0b10_0000,
            &mut o2,
        );
        assert_eq!(o2, [1.0, 1.0]);
        reference(
            ReduceKind::Mean,
            &[],
            [1, 1, 1, 1, 2, 0],
            0b10_0000,
            &mut o2,
        );
        assert!(o2[0].is_nan());
    }
}
