//! armv7 NEON f32 depthwise loops for [`depthwise`](mod@super::depthwise):
//! four output pixels (`PIX`) × 8 or 4 channels, over a window's taps
//! (`F32Simd::dw_window` of `Neon32F32`).
//!
//! Per tap: one load of the tap's weights (the driver's `[tap][NV]`
//! panel), one load of each pixel's input channels (`vld1.32` with the
//! pixel step as post-increment), and a `vmla.f32 q, q, q` per pixel and
//! vector. `vmla` rounds the product, then the sum, which is the
//! reference's per-tap arithmetic, and the taps go in the driver's order,
//! so the outputs are the reference's bits except where armv7 NEON
//! flushes a subnormal operand or result to zero (see
//! [`f32_gemm::neon32`](crate::kernels::f32_gemm::neon32)).
//!
//! The accumulators pass through memory (`vldm`/`vstm` once per window):
//! no stable 128-bit type exists for `asm!`'s `qreg` operands on arm.
//! Compiled only when the build enables NEON (`cfg(ferrite_arm_neon)`).

use core::arch::asm;

/// `acc[q·8 + j] += x_t[q][j] · w[t·8 + j]` (`q < 4`, `j < 8`), rounded
/// product then rounded sum, for taps `t < taps` in order, where `x_t[q]`
/// is the 8 values `offs[t] + q·pix_step` bytes past `x`.
///
/// # Safety
/// The build enables NEON. `acc` has 32 readable and writable f32, `w`
/// `8·taps`, `offs` `taps >= 1` entries, and every `x_t[q]` 8 readable
/// values.
#[inline(always)]
pub(crate) unsafe fn dw_4x8(
    acc: *mut f32,
    x: *const f32,
    offs: *const usize,
    pix_step: usize,
    w: *const f32,
    taps: usize,
) {
    // SAFETY: as the caller guarantees. The loop runs `taps` times, reads
    // one offset, 8 weights and the four pixels' 8 values per tap, and
    // `acc`'s 32 values once each way. Every `q` register written is
    // declared clobbered (the compiler saves the callee-saved `d8`–`d15`);
    // the stack is not touched.
    unsafe {
        asm!(
            "vldm {acc}, {{d16-d31}}",
            "2:",
            "ldr {p}, [{offs}], #4",
            "add {p}, {p}, {x}",
            "vld1.32 {{d8-d11}}, [{w}]!",
            "vld1.32 {{d0-d3}}, [{p}], {ps}",
            "vld1.32 {{d4-d7}}, [{p}], {ps}",
            "vmla.f32 q8, q0, q4",
            "vmla.f32 q9, q1, q5",
            "vmla.f32 q10, q2, q4",
            "vmla.f32 q11, q3, q5",
            "vld1.32 {{d0-d3}}, [{p}], {ps}",
            "vld1.32 {{d4-d7}}, [{p}]",
            "vmla.f32 q12, q0, q4",
            "vmla.f32 q13, q1, q5",
            "vmla.f32 q14, q2, q4",
            "vmla.f32 q15, q3, q5",
            "subs {n}, {n}, #1",
            "bne 2b",
            "vstm {acc}, {{d16-d31}}",
            acc = in(reg) acc,
            x = in(reg) x,
            offs = inout(reg) offs => _,
            ps = in(reg) pix_step,
            w = inout(reg) w => _,
            n = inout(reg) taps => _,
            p = out(reg) _,
            out("q0") _, out("q1") _, out("q2") _, out("q3") _,
            out("q4") _, out("q5") _,
            out("q8") _, out("q9") _, out("q10") _, out("q11") _,
            out("q12") _, out("q13") _, out("q14") _, out("q15") _,
            options(nostack),
        );
    }
}

/// [`dw_4x8`] for 4 channels: `acc` 16 values, `w` `4·taps`, 4 values per
/// pixel and tap.
///
/// # Safety
/// As [`dw_4x8`], with those sizes.
#[inline(always)]
pub(crate) unsafe fn dw_4x4(
    acc: *mut f32,
    x: *const f32,
    offs: *const usize,
    pix_step: usize,
    w: *const f32,
    taps: usize,
) {
    // SAFETY: as in `dw_4x8`, with 4 weights and 4 values per pixel per
    // tap and 16 accumulators.
    unsafe {
        asm!(
            "vldm {acc}, {{d16-d23}}",
            "2:",
            "ldr {p}, [{offs}], #4",
            "add {p}, {p}, {x}",
            "vld1.32 {{d8-d9}}, [{w}]!",
            "vld1.32 {{d0-d1}}, [{p}], {ps}",
            "vld1.32 {{d2-d3}}, [{p}], {ps}",
            "vld1.32 {{d4-d5}}, [{p}], {ps}",
            "vld1.32 {{d6-d7}}, [{p}]",
            "vmla.f32 q8, q0, q4",
            "vmla.f32 q9, q1, q4",
            "vmla.f32 q10, q2, q4",
            "vmla.f32 q11, q3, q4",
            "subs {n}, {n}, #1",
            "bne 2b",
            "vstm {acc}, {{d16-d23}}",
            acc = in(reg) acc,
            x = in(reg) x,
            offs = inout(reg) offs => _,
            ps = in(reg) pix_step,
            w = inout(reg) w => _,
            n = inout(reg) taps => _,
            p = out(reg) _,
            out("q0") _, out("q1") _, out("q2") _, out("q3") _,
            out("q4") _,
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

    /// Both loops on windows of 1–25 taps at scattered offsets, pixels
    /// further apart than their channels, from nonzero accumulators: the
    /// reference's rounded product and sum per tap in order, and nothing
    /// written outside the accumulators.
    #[test]
    fn windows_give_the_rounded_sums_in_order() {
        let mut rng = Rng::new(83);
        for nr in [4usize, 8] {
            for taps in [1usize, 2, 3, 9, 25] {
                let pix = nr + rng.below(5); // elements between pixels
                let offs: Vec<usize> = (0..taps).map(|t| (t * 7 + rng.below(3)) * nr).collect();
                let span = offs.iter().max().unwrap() + 3 * pix + nr;
                let x = rng.vec(span);
                let w = rng.vec(taps * nr);
                let mut acc = rng.vec(4 * nr + 2);
                acc[0] = 3.5;
                acc[4 * nr + 1] = -1.25;
                let mut want = acc.clone();
                for q in 0..4 {
                    for j in 0..nr {
                        let a = &mut want[1 + q * nr + j];
                        for (t, &o) in offs.iter().enumerate() {
                            *a += x[o + q * pix + j] * w[t * nr + j];
                        }
                    }
                }
                let bytes: Vec<usize> = offs.iter().map(|o| o * 4).collect();
                // SAFETY: the build enables NEON; `acc[1..]` holds the
                // accumulators, `w` `nr · taps`, and every pixel's `nr`
                // values lie within `x` (`span`).
                unsafe {
                    let f = if nr == 8 { dw_4x8 } else { dw_4x4 };
                    f(
                        acc[1..].as_mut_ptr(),
                        x.as_ptr(),
                        bytes.as_ptr(),
                        pix * 4,
                        w.as_ptr(),
                        taps,
                    );
                }
                for (i, (g, e)) in acc.iter().zip(&want).enumerate() {
                    assert_eq!(g.to_bits(), e.to_bits(), "nr {nr} taps {taps} acc {i}");
                }
            }
        }
    }
}
