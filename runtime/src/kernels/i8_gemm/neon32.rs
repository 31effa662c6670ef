//! armv7 NEON int8 micro-kernel for [`tiled`](super::tiled):
//! `neon32_2x4c16`, the 32-bit form of aarch64's `neon_2x8c16`.
//!
//! `vmull.s8` multiplies 8 `i8 × i8` pairs into `i16` lanes (exact:
//! `|x · w| <= 128 · 128 = 16384`), `vpadal.s16` adds neighbouring pairs
//! into `i32` accumulators (exact; the accumulators wrap mod 2^32 as the
//! reference's sum does). One accumulator per row and channel, reduced
//! across its four lanes once per tile. A holds the raw input bytes, so
//! `offset = zp`.
//!
//! Stable Rust has no arm NEON intrinsics and no 128-bit vector type for
//! `qreg` operands, so the whole tile (loop, lane reduction, update of
//! `acc`) is one `asm!` block on fixed registers: A rows in `q0`–`q1`,
//! two channels' B at a time in `q2`–`q3`, four products in flight in
//! `q4`–`q7` and the 2 × 4 accumulators in `q8`–`q15` (row 0 in
//! `q8`–`q11`, row 1 in `q12`–`q15`): all 16 `q` registers of armv7. Per 16
//! `k`: 4 loads, 16 `vmull.s8` and 16 `vpadal.s16` for 128 MACs.
//!
//! Compiled only when the build enables NEON (the target's baseline, or
//! `-C target-feature=+neon`: `cfg(ferrite_arm_neon)`, see `build.rs`),
//! which is what makes the instructions sound to run.

use core::arch::asm;

use super::tiled::QMicro;

/// NEON `vmull.s8` + `vpadal.s16`, 2 rows × 4 channels, 16 `k` per step.
pub(crate) struct Neon32Smull;

impl QMicro for Neon32Smull {
    type V = crate::kernels::portable::I32x4;
    const MR: usize = 2;
    const NR: usize = 4;
    const G: usize = 16;
    const KSTEP: usize = 16;
    type A = i8;
    type B = i8;
    const B_ZERO: i8 = 0;
    #[inline(always)]
    fn a_val(x: i8, _zp: i32) -> i8 {
        x
    }
    #[inline(always)]
    fn b_val(w: i8) -> i8 {
        w
    }
    #[inline(always)]
    fn offset(zp: i32) -> i32 {
        zp
    }
    #[inline(always)]
    unsafe fn tile(a: *const i8, lda: usize, b: *const i8, kp: usize, acc: *mut i32) {
        if kp == 0 {
            return;
        }
        // SAFETY: the build enables NEON (this module is compiled only
        // then). The caller guarantees `[2][lda]` bytes of A of which
        // the first `kp` of each row are read, `kp · 4` bytes of B (`kp` a
        // nonzero multiple of 16, so the loop runs `kp / 16 >= 1` times and
        // reads exactly that much), and 2 × 4 accumulators at `acc`, read and
        // written once. Every `q` register the block writes is declared
        // clobbered (the compiler saves the callee-saved `d8`–`d15`); the
        // stack is not touched.
        unsafe {
            asm!(
                "vmov.i32 q8, #0",
                "vmov.i32 q9, #0",
                "vmov.i32 q10, #0",
                "vmov.i32 q11, #0",
                "vmov.i32 q12, #0",
                "vmov.i32 q13, #0",
                "vmov.i32 q14, #0",
                "vmov.i32 q15, #0",
                "2:",
                // B of channels 0, 1 (16 k each), the two A rows.
                "vld1.8 {{d4-d7}}, [{b}]!",
                "vld1.8 {{d0-d1}}, [{a0}]!",
                "vld1.8 {{d2-d3}}, [{a1}]!",
                // Four products in flight (q4-q7), each added to its
                // accumulator three to five instructions after its multiply.
                "vmull.s8 q4, d0, d4",
                "vmull.s8 q5, d2, d4",
                "vmull.s8 q6, d0, d6",
                "vmull.s8 q7, d2, d6",
                "vpadal.s16 q8, q4",
                "vmull.s8 q4, d1, d5",
                "vpadal.s16 q12, q5",
                "vmull.s8 q5, d3, d5",
                "vpadal.s16 q9, q6",
                "vmull.s8 q6, d1, d7",
                "vpadal.s16 q13, q7",
                "vmull.s8 q7, d3, d7",
                // B of channels 2, 3, over 0, 1 (read for the last time).
                "vld1.8 {{d4-d7}}, [{b}]!",
                "vpadal.s16 q8, q4",
                "vpadal.s16 q12, q5",
                "vmull.s8 q4, d0, d4",
                "vpadal.s16 q9, q6",
                "vmull.s8 q5, d2, d4",
                "vpadal.s16 q13, q7",
                "vmull.s8 q6, d0, d6",
                "vmull.s8 q7, d2, d6",
                "vpadal.s16 q10, q4",
                "vmull.s8 q4, d1, d5",
                "vpadal.s16 q14, q5",
                "vmull.s8 q5, d3, d5",
                "vpadal.s16 q11, q6",
                "vmull.s8 q6, d1, d7",
                "vpadal.s16 q15, q7",
                "vmull.s8 q7, d3, d7",
                "vpadal.s16 q10, q4",
                "vpadal.s16 q14, q5",
                "vpadal.s16 q11, q6",
                "subs {n}, {n}, #1",
                "vpadal.s16 q15, q7",
                "bne 2b",
                // Lane sums: q8 = [Σq8, Σq9, Σq10, Σq11], q12 likewise.
                "vpadd.i32 d16, d16, d17",
                "vpadd.i32 d17, d18, d19",
                "vpadd.i32 d18, d20, d21",
                "vpadd.i32 d19, d22, d23",
                "vpadd.i32 d16, d16, d17",
                "vpadd.i32 d17, d18, d19",
                "vpadd.i32 d24, d24, d25",
                "vpadd.i32 d25, d26, d27",
                "vpadd.i32 d26, d28, d29",
                "vpadd.i32 d27, d30, d31",
                "vpadd.i32 d24, d24, d25",
                "vpadd.i32 d25, d26, d27",
                // acc[0][..4] and acc[1][..4] are 8 consecutive i32.
                "vld1.32 {{d0-d3}}, [{acc}]",
                "vadd.i32 q8, q8, q0",
                "vadd.i32 q12, q12, q1",
                "vst1.32 {{d16-d17}}, [{acc}]!",
                "vst1.32 {{d24-d25}}, [{acc}]",
                a0 = inout(reg) a => _,
                a1 = inout(reg) a.add(lda) => _,
                b = inout(reg) b => _,
                n = inout(reg) kp / 16 => _,
                acc = inout(reg) acc => _,
                out("q0") _, out("q1") _, out("q2") _, out("q3") _,
                out("q4") _, out("q5") _, out("q6") _, out("q7") _,
                out("q8") _, out("q9") _, out("q10") _, out("q11") _,
                out("q12") _, out("q13") _, out("q14") _, out("q15") _,
                options(nostack),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::test_util::Rng;
    use std::vec::Vec;

    /// `acc[r][j] + Σ_k a[r][k] · b[k][j]` (wrapping), B in the panel's
    /// `[k / 16][4][16]` layout.
    fn scalar(a: &[i8], lda: usize, b: &[i8], kp: usize, acc: &[i32]) -> [i32; 8] {
        let mut out = [0i32; 8];
        for r in 0..2 {
            for j in 0..4 {
                let mut s = acc[r * 4 + j];
                for k in 0..kp {
                    let w = b[(k / 16) * 64 + j * 16 + k % 16] as i32;
                    s = s.wrapping_add(a[r * lda + k] as i32 * w);
                }
                out[r * 4 + j] = s;
            }
        }
        out
    }

    /// The tile alone at every `kp` up to 4 steps and a long one, with
    /// random, all-`-128` and mixed-extreme operands, accumulators that
    /// wrap, a row stride wider than `kp`, and guards around `acc`.
    #[test]
    fn tile_matches_scalar_and_writes_only_its_accumulators() {
        let mut rng = Rng::new(61);
        for kp in [0, 16, 32, 48, 64, 2048] {
            for mode in 0..3 {
                let lda = kp + 16 * rng.below(2);
                let byte = |rng: &mut Rng, i: usize| -> i8 {
                    match mode {
                        0 => rng.next_u64() as i8,
                        1 => -128,
                        _ => [-128, 127][i % 2],
                    }
                };
                let a: Vec<i8> = (0..2 * lda.max(1)).map(|i| byte(&mut rng, i)).collect();
                let b: Vec<i8> = (0..kp * 4).map(|i| byte(&mut rng, i / 3)).collect();
                let mut acc = [0x5a5a_5a5a_i32; 10];
                for (i, v) in acc[1..9].iter_mut().enumerate() {
                    *v = [i32::MAX - 5, i32::MIN + 7, rng.next_u64() as i32][i % 3];
                }
                let want = scalar(&a, lda, &b, kp, &acc[1..9]);
                // SAFETY: the build enables NEON; A holds 2 rows of
                // `lda >= kp` bytes, B `kp · 4` bytes, `acc[1..9]` the 2 × 4
                // accumulators; `kp` is a multiple of 16.
                unsafe {
                    Neon32Smull::tile(a.as_ptr(), lda, b.as_ptr(), kp, acc.as_mut_ptr().add(1))
                };
                assert_eq!(acc[1..9], want, "kp {kp} mode {mode}");
                assert_eq!([acc[0], acc[9]], [0x5a5a_5a5a; 2], "guards, kp {kp}");
            }
        }
    }
}
