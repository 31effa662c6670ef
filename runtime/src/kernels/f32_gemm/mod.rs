//! f32 matrix multiply: ONNX `MatMul` and `Gemm` (after the compiler's
//! lowering: transposes folded into the operands, `alpha`/`beta` into the
//! weights and bias). The op layer loops over broadcast batch dims.
//!
//! ```text
//! c[i, j] = act(bias[j] + sum_{p < k} a[i, p] * b[p, j])     (i < m, j < n)
//! ```
//!
//! Layout: plain row-major `a [m, k]`, `b [k, n]`, `c [m, n]`, `bias [n]`.
//! Any `m, k, n >= 0` (`k = 0` gives `act(bias)`).
//!
//! Rounding: each `c[i, j]` is the `f32` sum accumulated sequentially over
//! `p = 0, 1, ..., k-1` starting from `0.0`, then `bias[j]` is added (when
//! present), then `act` is applied.

use super::simd::F32Simd;
use super::Act;

#[cfg(all(target_arch = "arm", ferrite_arm_neon, not(miri)))]
pub(crate) mod neon32;
pub(crate) mod tiled;

/// The SIMD `MatMul` of one kernel table: [`tiled`] over vector type `V`
/// with an `MR x NV` register tile (`MR1 x 1` for narrow outputs). Within `tiled`'s bound of
/// [`reference()`].
///
/// # Safety
/// The CPU supports `V`'s instructions.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn simd<V: F32Simd, const MR: usize, const NV: usize, const MR1: usize>(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    act: Act,
    c: &mut [f32],
) {
    let g = tiled::Geometry::matmul(m, k, n);
    // A few rows (a vector-matrix product: a recurrent step, a classifier
    // head) would spend more packing B than multiplying: the reference's
    // row-by-row form streams B once per row, vectorized by the compiler in
    // this table's target features, and gives the reference's bits.
    if m <= GEMV_ROWS {
        return reference(m, k, n, a, b, bias, act, c);
    }
    let b = tiled::BSource::PerK(b);
    // SAFETY: forwarded from the caller.
    unsafe { tiled_matmul::<V, MR, NV, MR1>(&g, a, b, bias, act, c) }
}

/// The tiled GEMM: `MR1 x 1` register tiles for at most one vector of
/// columns, else `MR x NV`.
///
/// # Safety
/// The CPU supports `V`'s instructions.
#[inline(always)]
unsafe fn tiled_matmul<V: F32Simd, const MR: usize, const NV: usize, const MR1: usize>(
    g: &tiled::Geometry,
    a: &[f32],
    b: tiled::BSource<'_>,
    bias: Option<&[f32]>,
    act: Act,
    c: &mut [f32],
) {
    // SAFETY (both): forwarded from the caller.
    if g.out_shape[3] <= V::LANES {
        unsafe { tiled::gemm::<V, MR1, 1>(g, a, b, bias, act, c) }
    } else {
        unsafe { tiled::gemm::<V, MR, NV>(g, a, b, bias, act, c) }
    }
}

/// Most rows of A that the SIMD tables multiply with [`reference()`]'s loop
/// instead of packing B.
const GEMV_ROWS: usize = 2;

/// [`simd`] over `b` packed by the compiler for packing `isa`
/// ([`crate::packing::Packing::of_f32`] of `n` columns, `[n/NR][k][NR]`):
/// the same register tiles over the same panels, and for at most
/// `GEMV_ROWS` rows [`reference()`]'s loop over the packed blocks, so the
/// same bits as [`simd`] on the plain `b`. Does nothing for
/// `ISA_REFERENCE` (a table without a packing is never handed packed
/// weights).
///
/// # Safety
/// The CPU supports `V`'s instructions.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) unsafe fn simd_packed<V: F32Simd, const MR: usize, const NV: usize, const MR1: usize>(
    isa: u32,
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    act: Act,
    c: &mut [f32],
) {
    if isa == crate::format::ISA_REFERENCE {
        return;
    }
    tiled::assert_packing::<V, NV>(isa, n);
    if m <= GEMV_ROWS && k > 0 {
        let nr = if n <= V::LANES {
            V::LANES
        } else {
            NV * V::LANES
        };
        return gemv_packed(m, k, n, nr, a, b, bias, act, c);
    }
    let g = tiled::Geometry::matmul(m, k, n);
    let b = tiled::BSource::Packed(b);
    // SAFETY: forwarded from the caller.
    unsafe { tiled_matmul::<V, MR, NV, MR1>(&g, a, b, bias, act, c) }
}

/// [`reference()`]'s loop with `b` in blocks of `nr` columns (`[n/nr][k][nr]`):
/// each output is the same sequence of roundings, so the same bits.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
fn gemv_packed(
    m: usize,
    k: usize,
    n: usize,
    nr: usize,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    act: Act,
    c: &mut [f32],
) {
    for i in 0..m {
        let c_row = &mut c[i * n..(i + 1) * n];
        let a_row = &a[i * k..(i + 1) * k];
        for (c_blk, panel) in c_row.chunks_mut(nr).zip(b.chunks_exact(nr * k)) {
            c_blk.fill(0.0);
            for (&a_ip, b_row) in a_row.iter().zip(panel.chunks_exact(nr)) {
                for (cij, &b_pj) in c_blk.iter_mut().zip(b_row) {
                    *cij += a_ip * b_pj;
                }
            }
        }
        finish_row(c_row, bias, act);
    }
}

/// `c = act(c + bias)` (bias when present), as [`reference()`] ends a row.
#[inline(always)]
fn finish_row(c_row: &mut [f32], bias: Option<&[f32]>, act: Act) {
    match bias {
        Some(bias) => {
            for (cij, &bj) in c_row.iter_mut().zip(bias) {
                *cij = act.apply(*cij + bj);
            }
        }
        None => {
            for cij in c_row.iter_mut() {
                *cij = act.apply(*cij);
            }
        }
    }
}

/// `c = act(a · b + bias)`; see the module docs.
///
/// Loop order i-p-j: the inner loop walks a row of `b` and a row of `c`
/// contiguously, accumulating into the `c` row.
#[allow(clippy::too_many_arguments)] // the op layer's fixed contract
#[inline]
pub fn reference(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    act: Act,
    c: &mut [f32],
) {
    debug_assert!(a.len() >= m * k, "a too short");
    debug_assert!(b.len() >= k * n, "b too short");
    debug_assert!(c.len() >= m * n, "c too short");
    debug_assert!(bias.is_none_or(|bias| bias.len() >= n), "bias too short");
    for i in 0..m {
        let c_row = &mut c[i * n..(i + 1) * n];
        c_row.fill(0.0);
        let a_row = &a[i * k..(i + 1) * k];
        for (p, &a_ip) in a_row.iter().enumerate() {
            let b_row = &b[p * n..(p + 1) * n];
            for (cij, &b_pj) in c_row.iter_mut().zip(b_row) {
                *cij += a_ip * b_pj;
            }
        }
        finish_row(c_row, bias, act);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::test_util::{assert_close, Rng};
    use std::vec;
    use std::vec::Vec;

    /// Dot-product formulation, summing in the same order.
    fn naive(
        m: usize,
        k: usize,
        n: usize,
        a: &[f32],
        b: &[f32],
        bias: Option<&[f32]>,
        act: Act,
    ) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f32;
                for p in 0..k {
                    s += a[i * k + p] * b[p * n + j];
                }
                if let Some(bias) = bias {
                    s += bias[j];
                }
                c[i * n + j] = act.apply(s);
            }
        }
        c
    }

    #[test]
    fn matches_naive_on_many_shapes() {
        let mut rng = Rng::new(7);
        let acts = [
            Act::None,
            Act::Clamp(0.0, 6.0),
            Act::HardSwish,
            Act::LeakyRelu(0.1),
            Act::Sigmoid,
        ];
        let mut cases = 0;
        for &(m, k, n) in &[
            (1, 1, 1),
            (1, 7, 1),
            (3, 5, 7),
            (4, 16, 9),
            (17, 3, 31),
            (2, 64, 65),
            (5, 0, 3),
            (0, 4, 4),
            (3, 4, 0),
        ] {
            for (t, &act) in acts.iter().enumerate() {
                let a = rng.vec(m * k);
                let b = rng.vec(k * n);
                let bias = rng.vec(n);
                let bias = (t % 2 == 0).then_some(&bias[..]);
                let mut c = vec![f32::NAN; m * n];
                reference(m, k, n, &a, &b, bias, act, &mut c);
                // Same summation order, so results are bit-identical.
                assert_close(&c, &naive(m, k, n, &a, &b, bias, act), 0.0);
                cases += 1;
            }
        }
        assert_eq!(cases, 45);
    }

    #[test]
    fn small_known_product() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2x3
        let b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0]; // 3x2
        let mut c = [0.0; 4];
        reference(
            2,
            3,
            2,
            &a,
            &b,
            Some(&[0.5, -100.0]),
            Act::Clamp(0.0, f32::INFINITY),
            &mut c,
        );
        assert_eq!(c, [58.5, 0.0, 139.5, 54.0]);
    }
}
