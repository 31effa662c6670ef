//! int8 matrix multiply: quantized `MatMul` / `Gemm` / fully connected
//! (TFLite `reference_integer_ops::FullyConnected[PerChannel]`,
//! ONNX `QLinearMatMul` / `MatMulInteger` after the compiler's lowering).
//!
//! ```text
//! acc[i, j] = bias[j] + sum_{p < k} (a[i, p] - a_zp) * (b[p, j] - b_zp)        (i32)
//! c[i, j]   = clamp(mbqm(acc[i, j], mult, shift) + out_zp, act_min, act_max)
//! ```
//!
//! Layout: row-major `a [m, k]`, `b [k, n]`, `c [m, n]`; `bias` absent
//! (0) or `[n]`; `requant` holds `(mult, shift)` pairs: 2 words (per
//! tensor) or `2 * n` words (pair `j` for output column `j`, per-channel
//! weights). `mult * 2^(shift - 31)` is `M = S_a * S_b[j] / S_c`, computed
//! by the compiler with [`quantize_multiplier`](crate::quant::quantize_multiplier).
//!
//! Rounding: [`mbqm`](crate::quant::mbqm) (TFLite double rounding), then
//! the saturating `+ out_zp` and the clamp of [`requantize_clamp`].
//!
//! Accumulator bounds: with zero points in `[-128, 127]` each product lies
//! in `[-65025, 65025]` (`255 * 255`; `[-32640, 32640]` when `b_zp = 0`),
//! so the sum fits in `i32` whenever `k * 65025 + |bias| < 2^31`, e.g.
//! `k <= 33025` with `|bias| <= 2^20`, or `k <= 65793` for symmetric
//! weights without bias. The op layer guarantees it. The accumulation is
//! defined mod 2^32 (wrapping), so optimized kernels that fold the zero
//! points (`sum ab - a_zp sum b - b_zp sum a + k a_zp b_zp`) agree bit for
//! bit even beyond it.

use crate::quant::requantize_clamp;

#[cfg(all(target_arch = "aarch64", not(miri)))]
pub(crate) mod neon;
#[cfg(all(target_arch = "arm", ferrite_arm_neon, not(miri)))]
pub(crate) mod neon32;
pub(crate) mod tiled;
#[cfg(all(target_arch = "x86_64", not(miri)))]
pub(crate) mod x86;

/// Zero points and fused-activation clamp of an int8 matrix multiply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QGemmParams {
    /// Zero point of `a`.
    pub a_zp: i32,
    /// Zero point of `b` (0 for symmetric per-channel weights).
    pub b_zp: i32,
    /// Zero point of `c`.
    pub out_zp: i32,
    /// Lower clamp (in `[-128, 127]`).
    pub act_min: i32,
    /// Upper clamp (in `[act_min, 127]`).
    pub act_max: i32,
}

/// `c = clamp(requant(a · b + bias))`; see the module docs.
#[allow(clippy::too_many_arguments)] // the op layer's fixed contract
pub fn reference(
    m: usize,
    k: usize,
    n: usize,
    a: &[i8],
    b: &[i8],
    bias: Option<&[i32]>,
    requant: &[i32],
    p: &QGemmParams,
    c: &mut [i8],
) {
    debug_assert!(a.len() >= m * k, "a too short");
    debug_assert!(b.len() >= k * n, "b too short");
    debug_assert!(c.len() >= m * n, "c too short");
    debug_assert!(bias.is_none_or(|bias| bias.len() >= n), "bias too short");
    debug_assert!(
        requant.len() == 2 || requant.len() >= 2 * n,
        "requant must be 2 or 2*n words"
    );
    let per_column = requant.len() != 2;
    for i in 0..m {
        let a_row = &a[i * k..(i + 1) * k];
        for (j, cij) in c[i * n..(i + 1) * n].iter_mut().enumerate() {
            let mut acc = bias.map_or(0, |bias| bias[j]);
            for (q, &a_ip) in a_row.iter().enumerate() {
                let prod = (a_ip as i32 - p.a_zp) * (b[q * n + j] as i32 - p.b_zp);
                acc = acc.wrapping_add(prod);
            }
            let r = if per_column { 2 * j } else { 0 };
            *cij = requantize_clamp(
                acc,
                requant[r],
                requant[r + 1],
                p.out_zp,
                p.act_min,
                p.act_max,
            );
        }
    }
}

/// The SIMD int8 `MatMul` of one kernel table: [`tiled`] with micro-kernel
/// `Q` (`QN` for narrow outputs). Bit-identical to [`reference()`].
///
/// # Safety
/// The CPU supports `Q`'s instructions.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn simd<Q: tiled::QMicro, QN: tiled::QMicro>(
    m: usize,
    k: usize,
    n: usize,
    a: &[i8],
    b: &[i8],
    bias: Option<&[i32]>,
    requant: &[i32],
    p: &QGemmParams,
    c: &mut [i8],
) {
    let b = tiled::QBSource::PerK(b);
    // SAFETY: forwarded from the caller.
    unsafe { tiled_matmul::<Q, QN>(None, (m, k, n), a, b, bias, requant, p, c) }
}

/// The tiled GEMM of `a [m, k]` and `b`: `QN` for at most `QN::NR`
/// columns, else `Q`; with `Some(isa)` `b` is in that packing, which must
/// be the one the micro-kernel reads.
///
/// # Safety
/// The CPU supports `Q`'s and `QN`'s instructions.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tiled_matmul<Q: tiled::QMicro, QN: tiled::QMicro>(
    isa: Option<u32>,
    (m, k, n): (usize, usize, usize),
    a: &[i8],
    b: tiled::QBSource<'_>,
    bias: Option<&[i32]>,
    requant: &[i32],
    p: &QGemmParams,
    c: &mut [i8],
) {
    let g = super::f32_gemm::tiled::Geometry::matmul(m, k, n);
    let q = tiled::QOut {
        in_zp: p.a_zp,
        out_zp: p.out_zp,
        act_min: p.act_min,
        act_max: p.act_max,
        requant,
        b_zp: p.b_zp,
    };
    // SAFETY (both): forwarded from the caller.
    if n <= QN::NR {
        isa.inspect(|&isa| tiled::assert_packing::<QN>(isa, n));
        unsafe { tiled::qgemm::<QN>(&g, a, b, bias, &q, c) }
    } else {
        isa.inspect(|&isa| tiled::assert_packing::<Q>(isa, n));
        unsafe { tiled::qgemm::<Q>(&g, a, b, bias, &q, c) }
    }
}

/// [`simd`] over `b` packed by the compiler for packing `isa`
/// ([`crate::packing::Packing::of`] of `n` columns) with `bias` folded
/// ([`crate::packing::Packing::bias`], `a`'s zero point); `b`'s zero point
/// is 0. Bit-identical to [`reference()`] over the plain `b` and bias. Does
/// nothing for `ISA_REFERENCE`.
///
/// # Safety
/// The CPU supports `Q`'s instructions.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) unsafe fn simd_packed<Q: tiled::QMicro, QN: tiled::QMicro>(
    isa: u32,
    m: usize,
    k: usize,
    n: usize,
    a: &[i8],
    b: &[i8],
    bias: Option<&[i32]>,
    requant: &[i32],
    p: &QGemmParams,
    c: &mut [i8],
) {
    if isa == crate::format::ISA_REFERENCE {
        return;
    }
    assert!(p.b_zp == 0, "packed weights have zero point 0");
    let b = tiled::QBSource::Packed(b);
    // SAFETY: forwarded from the caller.
    unsafe { tiled_matmul::<Q, QN>(Some(isa), (m, k, n), a, b, bias, requant, p, c) }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::test_util::{iters, Rng};
    use crate::quant::test_support::{
        act_range, expect, out_scale, scale, vec_i8, zero_point, Guarded, Lsb,
    };
    use crate::quant::{mbqm, quantize_multiplier};
    use std::vec::Vec;

    /// Integer re-implementation: dot products in i64, then mbqm.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        m: usize,
        k: usize,
        n: usize,
        a: &[i8],
        b: &[i8],
        bias: Option<&[i32]>,
        rq: &[i32],
        p: &QGemmParams,
    ) -> Vec<i8> {
        let mut c = std::vec![0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut acc: i64 = bias.map_or(0, |b| b[j] as i64);
                for q in 0..k {
                    acc += (a[i * k + q] as i64 - p.a_zp as i64)
                        * (b[q * n + j] as i64 - p.b_zp as i64);
                }
                let r = if rq.len() == 2 { 0 } else { 2 * j };
                let v =
                    mbqm(i32::try_from(acc).unwrap(), rq[r], rq[r + 1]) as i64 + p.out_zp as i64;
                c[i * n + j] = v.clamp(p.act_min as i64, p.act_max as i64) as i8;
            }
        }
        c
    }

    const SIZES: [usize; 11] = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17];

    #[test]
    fn matches_integer_and_real_definitions() {
        let mut rng = Rng::new(101);
        let mut lsb = Lsb::default();
        for t in 0..iters(600) {
            let m = SIZES[rng.below(SIZES.len())];
            let n = SIZES[rng.below(SIZES.len())];
            let k = [SIZES[rng.below(SIZES.len())], 31, 64, 100][rng.below(4)];
            let per_column = t % 2 == 0;
            let out_zp = zero_point(&mut rng);
            let (act_min, act_max) = act_range(&mut rng, out_zp);
            let p = QGemmParams {
                a_zp: zero_point(&mut rng),
                // Per-channel weights are symmetric in TFLite; test both.
                b_zp: if rng.below(2) == 0 {
                    0
                } else {
                    zero_point(&mut rng)
                },
                out_zp,
                act_min,
                act_max,
            };
            let a = vec_i8(&mut rng, m * k);
            let b = vec_i8(&mut rng, k * n);
            let bias: Vec<i32> = (0..n)
                .map(|_| (rng.next_u64() % 200_001) as i32 - 100_000)
                .collect();
            let bias = (t % 3 != 0).then_some(&bias[..]);
            // Extreme and tiny input/weight scales.
            let sa = scale(&mut rng, -20.0, 4.0);
            let sb0 = scale(&mut rng, -12.0, 0.0);
            let sb: Vec<f32> = (0..n)
                .map(|_| {
                    if per_column {
                        scale(&mut rng, -14.0, 0.0)
                    } else {
                        sb0
                    }
                })
                .collect();
            // Real-valued: r = sum S_a(a - za) S_b(b - zb) + S_a S_b bias.
            let mut real = std::vec![0.0f64; m * n];
            for i in 0..m {
                for j in 0..n {
                    let (fa, fb) = (sa as f64, sb[j] as f64);
                    let mut r = bias.map_or(0.0, |b| fa * fb * b[j] as f64);
                    for q in 0..k {
                        r += fa
                            * (a[i * k + q] as i32 - p.a_zp) as f64
                            * fb
                            * (b[q * n + j] as i32 - p.b_zp) as f64;
                    }
                    real[i * n + j] = r;
                }
            }
            // M <= 4: the compiler keeps `acc * 2^shift` from wrapping.
            let sb_max = sb.iter().fold(0.0f32, |m, &v| m.max(v));
            let sc = out_scale(&mut rng, &real, sa * sb_max / 4.0);
            let cols = if per_column { n } else { 1 };
            let rq: Vec<i32> = (0..cols)
                .flat_map(|j| {
                    let (mult, shift) = quantize_multiplier(sa as f64 * sb[j] as f64 / sc as f64);
                    [mult, shift]
                })
                .collect();
            let mut c = Guarded::new(m * n);
            reference(m, k, n, &a, &b, bias, &rq, &p, c.out());
            let c = c.body();
            assert_eq!(c, &naive(m, k, n, &a, &b, bias, &rq, &p)[..], "case {t}");
            for (at, (&got, &r)) in c.iter().zip(&real).enumerate() {
                let want = expect(r / sc as f64, p.out_zp, p.act_min, p.act_max);
                lsb.check(got, want, (p.act_min, p.act_max), &(t, at));
            }
        }
        lsb.finish("i8_gemm", 0.01);
    }

    #[test]
    fn extreme_operands_do_not_overflow() {
        // Largest products (-255 * 255) summed over k = 4096, as an AVX2
        // kernel with 16-bit intermediate sums would see them.
        for &(a_val, b_val, a_zp, b_zp) in &[
            (-128i8, -127i8, 127, 127),
            (-128, 127, 127, -128),
            (127, 127, -128, -128),
            (-128, -128, 127, 0),
        ] {
            for &k in &[1usize, 255, 256, 1024, 4095, 4096] {
                let (m, n) = if cfg!(miri) { (1, 2) } else { (3, 17) };
                let a = std::vec![a_val; m * k];
                let b = std::vec![b_val; k * n];
                let prod = (a_val as i64 - a_zp as i64) * (b_val as i64 - b_zp as i64);
                let exact = prod * k as i64;
                assert!(exact.abs() < 1 << 31);
                // M chosen so the extreme sum maps to about +-100.
                let (mult, shift) = quantize_multiplier(100.0 / (65025.0 * 4096.0));
                let p = QGemmParams {
                    a_zp,
                    b_zp,
                    out_zp: 0,
                    act_min: -128,
                    act_max: 127,
                };
                let mut c = Guarded::new(m * n);
                reference(m, k, n, &a, &b, None, &[mult, shift], &p, c.out());
                let want = mbqm(exact as i32, mult, shift) as i8;
                assert!(c.body().iter().all(|&v| v == want), "k {k}");
                let real = exact as f64 * 100.0 / (65025.0 * 4096.0);
                assert!((want as f64 - real).abs() <= 0.5 + 1e-6);
            }
        }
    }

    #[test]
    fn per_tensor_equals_repeated_per_column() {
        let mut rng = Rng::new(102);
        let (m, k, n) = (5, 9, 7);
        let a = vec_i8(&mut rng, m * k);
        let b = vec_i8(&mut rng, k * n);
        let p = QGemmParams {
            a_zp: -3,
            b_zp: 0,
            out_zp: 5,
            act_min: -128,
            act_max: 127,
        };
        let rq = [1_518_500_250, -7];
        let rq_n: Vec<i32> = (0..n).flat_map(|_| rq).collect();
        let (mut c1, mut c2) = (Guarded::new(m * n), Guarded::new(m * n));
        reference(m, k, n, &a, &b, Some(&[7; 7]), &rq, &p, c1.out());
        reference(m, k, n, &a, &b, Some(&[7; 7]), &rq_n, &p, c2.out());
        assert_eq!(c1.body(), c2.body());
    }

    #[test]
    fn hand_computed() {
        // a = [[1, 2], [3, 4]] (zp 1), b = [[1, 0], [0, 1]] (zp 0): a - 1.
        // M = 0.5 -> (2^30, 0); bias 1; out_zp -1.
        let p = QGemmParams {
            a_zp: 1,
            b_zp: 0,
            out_zp: -1,
            act_min: -128,
            act_max: 127,
        };
        let mut c = [0i8; 4];
        reference(
            2,
            2,
            2,
            &[1, 2, 3, 4],
            &[1, 0, 0, 1],
            Some(&[1, 1]),
            &[1 << 30, 0],
            &p,
            &mut c,
        );
        // acc = [[1, 2], [3, 4]] -> *0.5 = [0.5, 1, 1.5, 2] -> ties away: [1, 1, 2, 2] - 1.
        assert_eq!(c, [0, 0, 1, 1]);
        // k = 0: bias only; empty m or n: nothing written.
        reference(
            1,
            0,
            2,
            &[],
            &[],
            Some(&[4, -4]),
            &[1 << 30, 0],
            &p,
            &mut c[..2],
        );
        assert_eq!(c[..2], [1, -3]);
        reference(0, 3, 2, &[], &[0; 6], None, &[1 << 30, 0], &p, &mut []);
    }
}
