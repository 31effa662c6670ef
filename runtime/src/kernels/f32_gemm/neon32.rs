//! armv7 NEON f32 micro-kernels for [`tiled`](super::tiled): the 4 × 8
//! (`neon32_f32_4x8`) and 4 × 4 (`neon32_f32_4x4`) register tiles of the
//! `neon32` table's dense convs, `ConvTranspose`s and `MatMul`s.
//!
//! `vmla.f32 q, q, d[x]` multiplies four B channels by one A value (a
//! lane of a `d` register) and adds the product to four accumulators. It
//! is not fused: the product is rounded, then the sum, which is the
//! reference's arithmetic (and `portable`'s [`F32x4`] "fma"), and each
//! output adds its products in order of `k`. So the tiles give
//! `portable`'s bits, with one difference: armv7 NEON runs with the
//! standard FPSCR value, which flushes subnormal inputs and results
//! (products and sums) to zero of the same sign. An output can then
//! differ from `portable`'s by at most `2^-126` per step of `k`, and only
//! where a product or a partial sum is smaller than `2^-126` in magnitude.
//!
//! Stable Rust has no arm NEON intrinsics and no 128-bit type for `asm!`'s
//! `qreg` operands, so the accumulators pass through memory: each call
//! loads them with one `vldm`, runs the whole segment, and stores them with
//! one `vstm`. Registers: A in `q0`–`q3` (four steps of `k` of each row,
//! `d0`–`d7` so that `vmla` can take their lanes as scalars), B in
//! `q4`–`q7`, accumulators in `q8`–`q15`.
//!
//! Everything else of [`Neon32F32`] (zero, loads, the epilogue's adds and
//! clamps, depthwise) is [`F32x4`]'s: scalar VFP, IEEE with subnormals.
//!
//! Compiled only when the build enables NEON (`cfg(ferrite_arm_neon)`, see
//! `build.rs`), which is what makes the instructions sound to run.

use core::arch::asm;

use super::super::f32_conv::neon32::{dw_4x4, dw_4x8};
use super::super::portable::F32x4;
use super::super::simd::F32Simd;

/// Four f32 lanes: [`F32x4`] with NEON `asm!` loops for the `4 × 8` and
/// `4 × 4` GEMM tiles ([`F32Simd::mac_segment`]) and the depthwise
/// windows of four pixels × 8 or 4 channels ([`F32Simd::dw_window`]).
#[derive(Clone, Copy)]
#[repr(transparent)]
pub(crate) struct Neon32F32(F32x4);

impl F32Simd for Neon32F32 {
    const LANES: usize = 4;
    const FUSED: bool = false;
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: `F32x4` runs on every CPU.
        Neon32F32(unsafe { F32x4::zero() })
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: as `zero`.
        Neon32F32(unsafe { F32x4::splat(x) })
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller guarantees 4 readable values at `p`.
        Neon32F32(unsafe { F32x4::load(p) })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees 4 writable values at `p`.
        unsafe { self.0.store(p) }
    }
    #[inline(always)]
    unsafe fn fma(self, a: Self, b: Self) -> Self {
        // SAFETY: as `zero`.
        Neon32F32(unsafe { self.0.fma(a.0, b.0) })
    }
    #[inline(always)]
    unsafe fn mac_segment<const MR: usize, const NV: usize>(
        acc: &mut [[Self; NV]; MR],
        rp: &[*const f32; MR],
        bp: *const f32,
        seg: usize,
    ) -> bool {
        if MR != 4 || !(NV == 1 || NV == 2) {
            return false;
        }
        // `[[Neon32F32; NV]; 4]` is `4·NV·4` consecutive f32 (both wrappers
        // are `repr(transparent)` over `[f32; 4]`), row `r`'s vector `v` at
        // `(r·NV + v)·4`, as the tiles expect.
        let acc = acc.as_mut_ptr().cast::<f32>();
        let rows = [rp[0], rp[1], rp[2], rp[3]];
        // SAFETY: the build enables NEON; forwarded from the caller, with
        // `MR == 4` and `NV` the tile's width checked above.
        unsafe {
            if NV == 2 {
                tile_4x8(acc, rows, bp, seg);
            } else {
                tile_4x4(acc, rows, bp, seg);
            }
        }
        true
    }
    const DW_WINDOW: bool = true;
    #[inline(always)]
    unsafe fn dw_window<const NV: usize, const PIX: usize>(
        acc: &mut [[Self; NV]; PIX],
        x: *const f32,
        offs: &[usize],
        pix_step: usize,
        w: *const Self,
        taps: usize,
    ) -> bool {
        if PIX != 4 || !(NV == 1 || NV == 2) {
            return false;
        }
        let acc = acc.as_mut_ptr().cast::<f32>();
        let w = w.cast::<f32>();
        debug_assert!(offs.len() >= taps && taps >= 1);
        // SAFETY: the build enables NEON; forwarded from the caller, the
        // accumulators and weights consecutive f32 as in `mac_segment`.
        unsafe {
            if NV == 2 {
                dw_4x8(acc, x, offs.as_ptr(), pix_step, w, taps);
            } else {
                dw_4x4(acc, x, offs.as_ptr(), pix_step, w, taps);
            }
        }
        true
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        // SAFETY: as `zero`.
        Neon32F32(unsafe { self.0.add(b.0) })
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        // SAFETY: as `zero`.
        Neon32F32(unsafe { self.0.mul(b.0) })
    }
    #[inline(always)]
    unsafe fn clamp(self, lo: Self, hi: Self) -> Self {
        // SAFETY: as `zero`.
        Neon32F32(unsafe { self.0.clamp(lo.0, hi.0) })
    }
}

/// `neon32_f32_4x8`: `acc[r·8 + j] += Σ_{k < seg} a[r][k] · b[k·8 + j]`
/// (`r < 4`, `j < 8`), `vmla.f32` per step in order of `k`.
///
/// # Safety
/// The build enables NEON. `acc` has 32 readable and writable f32 (4-byte
/// aligned), `a[r]` `seg` readable values, `b` `seg · 8`; `seg <= 2^30`.
#[inline(always)]
unsafe fn tile_4x8(acc: *mut f32, a: [*const f32; 4], b: *const f32, seg: usize) {
    // SAFETY: as the caller guarantees. The loop of four steps runs
    // `seg / 4` times and reads 4 values of each A row and 32 of B per
    // iteration; the one-step loop then runs `seg % 4` times and reads 1
    // and 8. So exactly `seg` values of each row and `8·seg` of B are read,
    // and `acc`'s 32 values once each way. Every `q` register the block
    // writes is declared clobbered (the compiler saves the callee-saved
    // `d8`–`d15`); the stack is not touched.
    unsafe {
        asm!(
            "vldm {acc}, {{d16-d31}}",
            "subs {n}, {n}, #4",
            "blt 3f",
            "2:",
            // Four steps of each A row (k .. k+3 in d0-d1, d2-d3, ...),
            // then B's 8 channels per step, alternately in q4-q5 and q6-q7.
            "vld1.32 {{d0-d1}}, [{a0}]!",
            "vld1.32 {{d2-d3}}, [{a1}]!",
            "vld1.32 {{d4-d5}}, [{a2}]!",
            "vld1.32 {{d6-d7}}, [{a3}]!",
            "vld1.32 {{d8-d11}}, [{b}]!",
            "vmla.f32 q8, q4, d0[0]",
            "vmla.f32 q9, q5, d0[0]",
            "vmla.f32 q10, q4, d2[0]",
            "vmla.f32 q11, q5, d2[0]",
            "vmla.f32 q12, q4, d4[0]",
            "vmla.f32 q13, q5, d4[0]",
            "vmla.f32 q14, q4, d6[0]",
            "vmla.f32 q15, q5, d6[0]",
            "vld1.32 {{d12-d15}}, [{b}]!",
            "vmla.f32 q8, q6, d0[1]",
            "vmla.f32 q9, q7, d0[1]",
            "vmla.f32 q10, q6, d2[1]",
            "vmla.f32 q11, q7, d2[1]",
            "vmla.f32 q12, q6, d4[1]",
            "vmla.f32 q13, q7, d4[1]",
            "vmla.f32 q14, q6, d6[1]",
            "vmla.f32 q15, q7, d6[1]",
            "vld1.32 {{d8-d11}}, [{b}]!",
            "vmla.f32 q8, q4, d1[0]",
            "vmla.f32 q9, q5, d1[0]",
            "vmla.f32 q10, q4, d3[0]",
            "vmla.f32 q11, q5, d3[0]",
            "vmla.f32 q12, q4, d5[0]",
            "vmla.f32 q13, q5, d5[0]",
            "vmla.f32 q14, q4, d7[0]",
            "vmla.f32 q15, q5, d7[0]",
            "vld1.32 {{d12-d15}}, [{b}]!",
            "vmla.f32 q8, q6, d1[1]",
            "vmla.f32 q9, q7, d1[1]",
            "vmla.f32 q10, q6, d3[1]",
            "vmla.f32 q11, q7, d3[1]",
            "vmla.f32 q12, q6, d5[1]",
            "vmla.f32 q13, q7, d5[1]",
            "vmla.f32 q14, q6, d7[1]",
            "vmla.f32 q15, q7, d7[1]",
            "subs {n}, {n}, #4",
            "bge 2b",
            "3:",
            "adds {n}, {n}, #4",
            "beq 5f",
            "4:",
            "vld1.32 {{d0[0]}}, [{a0}]!",
            "vld1.32 {{d2[0]}}, [{a1}]!",
            "vld1.32 {{d4[0]}}, [{a2}]!",
            "vld1.32 {{d6[0]}}, [{a3}]!",
            "vld1.32 {{d8-d11}}, [{b}]!",
            "vmla.f32 q8, q4, d0[0]",
            "vmla.f32 q9, q5, d0[0]",
            "vmla.f32 q10, q4, d2[0]",
            "vmla.f32 q11, q5, d2[0]",
            "vmla.f32 q12, q4, d4[0]",
            "vmla.f32 q13, q5, d4[0]",
            "vmla.f32 q14, q4, d6[0]",
            "vmla.f32 q15, q5, d6[0]",
            "subs {n}, {n}, #1",
            "bne 4b",
            "5:",
            "vstm {acc}, {{d16-d31}}",
            a0 = inout(reg) a[0] => _,
            a1 = inout(reg) a[1] => _,
            a2 = inout(reg) a[2] => _,
            a3 = inout(reg) a[3] => _,
            b = inout(reg) b => _,
            n = inout(reg) seg => _,
            acc = in(reg) acc,
            out("q0") _, out("q1") _, out("q2") _, out("q3") _,
            out("q4") _, out("q5") _, out("q6") _, out("q7") _,
            out("q8") _, out("q9") _, out("q10") _, out("q11") _,
            out("q12") _, out("q13") _, out("q14") _, out("q15") _,
            options(nostack),
        );
    }
}

/// `neon32_f32_4x4`: [`tile_4x8`] for four channels (`acc` 16 values,
/// `b` `seg · 4`).
///
/// # Safety
/// As [`tile_4x8`], with 16 accumulators and `seg · 4` values of B.
#[inline(always)]
unsafe fn tile_4x4(acc: *mut f32, a: [*const f32; 4], b: *const f32, seg: usize) {
    // SAFETY: as in `tile_4x8`: `seg` values of each A row and `4·seg` of
    // B are read (16 per iteration of four steps, 4 per single step), and
    // `acc`'s 16 values once each way.
    unsafe {
        asm!(
            "vldm {acc}, {{d16-d23}}",
            "subs {n}, {n}, #4",
            "blt 3f",
            "2:",
            "vld1.32 {{d0-d1}}, [{a0}]!",
            "vld1.32 {{d2-d3}}, [{a1}]!",
            "vld1.32 {{d4-d5}}, [{a2}]!",
            "vld1.32 {{d6-d7}}, [{a3}]!",
            // B of steps k, k+1 in q4, q5, then k+2, k+3 in q6, q7.
            "vld1.32 {{d8-d11}}, [{b}]!",
            "vld1.32 {{d12-d15}}, [{b}]!",
            "vmla.f32 q8, q4, d0[0]",
            "vmla.f32 q9, q4, d2[0]",
            "vmla.f32 q10, q4, d4[0]",
            "vmla.f32 q11, q4, d6[0]",
            "vmla.f32 q8, q5, d0[1]",
            "vmla.f32 q9, q5, d2[1]",
            "vmla.f32 q10, q5, d4[1]",
            "vmla.f32 q11, q5, d6[1]",
            "vmla.f32 q8, q6, d1[0]",
            "vmla.f32 q9, q6, d3[0]",
            "vmla.f32 q10, q6, d5[0]",
            "vmla.f32 q11, q6, d7[0]",
            "vmla.f32 q8, q7, d1[1]",
            "vmla.f32 q9, q7, d3[1]",
            "vmla.f32 q10, q7, d5[1]",
            "vmla.f32 q11, q7, d7[1]",
            "subs {n}, {n}, #4",
            "bge 2b",
            "3:",
            "adds {n}, {n}, #4",
            "beq 5f",
            "4:",
            "vld1.32 {{d0[0]}}, [{a0}]!",
            "vld1.32 {{d2[0]}}, [{a1}]!",
            "vld1.32 {{d4[0]}}, [{a2}]!",
            "vld1.32 {{d6[0]}}, [{a3}]!",
            "vld1.32 {{d8-d9}}, [{b}]!",
            "vmla.f32 q8, q4, d0[0]",
            "vmla.f32 q9, q4, d2[0]",
            "vmla.f32 q10, q4, d4[0]",
            "vmla.f32 q11, q4, d6[0]",
            "subs {n}, {n}, #1",
            "bne 4b",
            "5:",
            "vstm {acc}, {{d16-d23}}",
            a0 = inout(reg) a[0] => _,
            a1 = inout(reg) a[1] => _,
            a2 = inout(reg) a[2] => _,
            a3 = inout(reg) a[3] => _,
            b = inout(reg) b => _,
            n = inout(reg) seg => _,
            acc = in(reg) acc,
            out("q0") _, out("q1") _, out("q2") _, out("q3") _,
            out("q4") _, out("q5") _, out("q6") _, out("q7") _,
            out("q8") _, out("q9") _, out("q10") _, out("q11") _,
            options(nostack),
        );
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::test_util::Rng;
    use std::vec::Vec;

    /// NEON's treatment of a subnormal operand or result: zero of its sign.
    fn flush(x: f32) -> f32 {
        if x.is_subnormal() {
            0.0f32.copysign(x)
        } else {
            x
        }
    }

    /// The tile's arithmetic written out: per output, in order of `k`,
    /// `acc = flush(flush(acc) + flush(flush(a)·flush(b)))`.
    fn model(a: &[Vec<f32>; 4], b: &[f32], nr: usize, seg: usize, acc: &[f32]) -> Vec<f32> {
        let mut out = acc.to_vec();
        for r in 0..4 {
            for j in 0..nr {
                let mut s = out[r * nr + j];
                for k in 0..seg {
                    let p = flush(flush(a[r][k]) * flush(b[k * nr + j]));
                    s = flush(flush(s) + p);
                }
                out[r * nr + j] = s;
            }
        }
        out
    }

    /// Runs the `nr`-channel tile on `acc[1..=4·nr]` (guards around it).
    fn run(a: &[Vec<f32>; 4], b: &[f32], nr: usize, seg: usize, acc: &mut [f32]) {
        let rows = core::array::from_fn(|r| a[r].as_ptr());
        let p = acc[1..].as_mut_ptr();
        // SAFETY: the build enables NEON (this module is compiled only
        // then); each A row holds at least `seg` values, B `seg · nr`,
        // `acc[1..]` the `4 · nr` accumulators.
        unsafe {
            if nr == 8 {
                tile_4x8(p, rows, b.as_ptr(), seg);
            } else {
                tile_4x4(p, rows, b.as_ptr(), seg);
            }
        }
    }

    /// Both tiles at every `seg` through two iterations of four steps, a
    /// whole chunk and one past, from nonzero accumulators: the bits of
    /// the rounded product and sum in order of `k`, and nothing written
    /// outside the accumulators or read past `seg`.
    #[test]
    fn tiles_give_the_rounded_sums_in_order() {
        let mut rng = Rng::new(77);
        for nr in [4, 8] {
            for seg in (0..=9).chain([13, 256, 257]) {
                // One value past `seg` in every row and in B: NaN, which
                // would reach every output if it were read.
                let a: [Vec<f32>; 4] = core::array::from_fn(|_| {
                    let mut v = rng.vec(seg);
                    v.push(f32::NAN);
                    v
                });
                let mut b = rng.vec(seg * nr);
                b.extend([f32::NAN; 8]);
                let mut acc = rng.vec(4 * nr + 2);
                acc[0] = -7.5;
                acc[4 * nr + 1] = 9.25;
                let want = model(&a, &b, nr, seg, &acc[1..=4 * nr]);
                run(&a, &b, nr, seg, &mut acc);
                for (i, (g, w)) in acc[1..=4 * nr].iter().zip(&want).enumerate() {
                    assert_eq!(g.to_bits(), w.to_bits(), "nr {nr} seg {seg} out {i}");
                }
                assert_eq!([acc[0], acc[4 * nr + 1]], [-7.5, 9.25], "guards");
            }
        }
    }

    /// Subnormal operands and products become zeros of their sign (the
    /// one difference to `portable`'s scalar VFP, which keeps them).
    #[test]
    fn subnormals_flush_to_zero() {
        let tiny = f32::MIN_POSITIVE / 8.0; // subnormal
        let seg = 5;
        for nr in [4, 8] {
            // Row 0: subnormal A values; row 1: products below 2^-126
            // (1e-20 · 1e-20); rows 2, 3: normal values around them.
            let a: [Vec<f32>; 4] = [
                std::vec![tiny; seg],
                std::vec![1e-20; seg],
                (0..seg).map(|k| k as f32 - 2.0).collect(),
                std::vec![-tiny; seg],
            ];
            // Channels 0 and 1: weights 1e-20; the others normal.
            let b: Vec<f32> = (0..seg * nr)
                .map(|i| {
                    if i % nr < 2 {
                        1e-20
                    } else {
                        1.5 - (i % 5) as f32
                    }
                })
                .collect();
            let mut acc = std::vec![0.0f32; 4 * nr + 2];
            run(&a, &b, nr, seg, &mut acc);
            let want = model(&a, &b, nr, seg, &std::vec![0.0; 4 * nr]);
            for (i, (g, w)) in acc[1..=4 * nr].iter().zip(&want).enumerate() {
                assert_eq!(g.to_bits(), w.to_bits(), "nr {nr} out {i}");
            }
            // Without the flush, row 1 would hold 5e-40 in channels 0 and
            // 1, and row 0 sums of `tiny · w` in the others.
            assert!(acc[1..=4 * nr].iter().all(|v| !v.is_subnormal()));
            assert_eq!(acc[1], 0.0);
            assert_eq!(acc[1 + nr], 0.0);
        }
    }
}
