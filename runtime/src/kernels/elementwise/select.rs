//! `Where(cmp(l, r), a, b)`: ONNX `Where` whose condition is one comparison
//! of f32 tensors (`Less`, `LessOrEqual`, `Greater`, `GreaterOrEqual`,
//! `Equal`, and `Not` of `Equal`), fused so that no boolean tensor exists.
//!
//! ```text
//! out[i] = cmp(l[bcast i], r[bcast i]) ? a[bcast i] : b[bcast i]
//! ```
//!
//! The four operands broadcast numpy-style to the output shape (element
//! strides, 0 on broadcast dims, as the binary kernels take them). The
//! comparisons are IEEE: any comparison with NaN is false except `Ne`.

use super::super::{next_index, MAX_RANK};

/// The comparison of a fused `Where`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpKind {
    /// `l < r`.
    Lt,
    /// `l <= r`.
    Le,
    /// `l > r`.
    Gt,
    /// `l >= r`.
    Ge,
    /// `l == r`.
    Eq,
    /// `l != r`.
    Ne,
}

impl CmpKind {
    /// All kinds, in encoding order (the op's parameter word is the index).
    pub const ALL: [CmpKind; 6] = [
        CmpKind::Lt,
        CmpKind::Le,
        CmpKind::Gt,
        CmpKind::Ge,
        CmpKind::Eq,
        CmpKind::Ne,
    ];

    /// `cmp(l, r)`.
    #[inline(always)]
    pub fn holds(self, l: f32, r: f32) -> bool {
        match self {
            CmpKind::Lt => l < r,
            CmpKind::Le => l <= r,
            CmpKind::Gt => l > r,
            CmpKind::Ge => l >= r,
            CmpKind::Eq => l == r,
            CmpKind::Ne => l != r,
        }
    }
}

/// `out = cmp(l, r) ? a : b` over `out_shape`; see the module docs.
/// `operands` are `[l, r, a, b]` with their broadcast element `strides`.
pub fn select_reference(
    cmp: CmpKind,
    operands: [&[f32]; 4],
    strides: [[usize; MAX_RANK]; 4],
    out: &mut [f32],
    out_shape: [usize; MAX_RANK],
) {
    let total: usize = out_shape.iter().product();
    debug_assert!(out.len() >= total, "out too short");
    let mut idx = [0usize; MAX_RANK];
    for o in out[..total].iter_mut() {
        let at = |k: usize| -> f32 {
            let off: usize = (0..MAX_RANK).map(|d| idx[d] * strides[k][d]).sum();
            operands[k][off]
        };
        *o = if cmp.holds(at(0), at(1)) {
            at(2)
        } else {
            at(3)
        };
        next_index(&mut idx, &out_shape);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_with_broadcast_and_nan() {
        // l [2, 1] against r scalar; a [1, 3]; b [2, 3].
        let shape = [1, 1, 1, 1, 2, 3];
        let l = [1.0, f32::NAN];
        let r = [1.0];
        let a = [10.0, 20.0, 30.0];
        let b = [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0];
        let st = [
            [0, 0, 0, 0, 1, 0],
            [0; MAX_RANK],
            [0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 3, 1],
        ];
        let expect = |cmp: CmpKind| -> [f32; 6] {
            let row0 = cmp.holds(1.0, 1.0);
            let row1 = cmp.holds(f32::NAN, 1.0);
            let pick = |c: bool, i: usize| if c { a[i % 3] } else { b[i] };
            core::array::from_fn(|i| pick(if i < 3 { row0 } else { row1 }, i))
        };
        for cmp in CmpKind::ALL {
            let mut out = [0.0; 7];
            out[6] = 99.0;
            select_reference(cmp, [&l, &r, &a, &b], st, &mut out[..6], shape);
            assert_eq!(&out[..6], &expect(cmp), "{cmp:?}");
            assert_eq!(out[6], 99.0, "wrote past the output");
        }
        assert!(CmpKind::Ne.holds(f32::NAN, 1.0) && !CmpKind::Eq.holds(f32::NAN, f32::NAN));
    }
}
