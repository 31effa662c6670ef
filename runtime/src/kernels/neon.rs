//! aarch64 kernel tables: NEON (Cortex-A72, Raspberry Pi 4) and NEON with
//! dotprod (Cortex-A76, Raspberry Pi 5).
//!
//! NEON is part of the aarch64 base ISA; dotprod is checked at compile
//! time (`-C target-cpu=cortex-a76`) or, with `std`, at run time. The
//! entry points follow the pattern of `x86.rs` (see
//! [`simd_table!`](super::select)).

use core::arch::aarch64::*;

use super::i8_gemm::neon::{NeonDot, NeonSmull};
use super::select::Kernels;
use super::simd::{F32Simd, I32Simd};

/// Four f32 lanes.
#[derive(Clone, Copy)]
pub(crate) struct NeonF32(float32x4_t);

impl F32Simd for NeonF32 {
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: NEON is baseline on aarch64.
        NeonF32(unsafe { vdupq_n_f32(0.0) })
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: as `zero`.
        NeonF32(unsafe { vdupq_n_f32(x) })
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller guarantees 4 readable values at `p`.
        NeonF32(unsafe { vld1q_f32(p) })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees 4 writable values at `p`.
        unsafe { vst1q_f32(p, self.0) }
    }
    #[inline(always)]
    unsafe fn fma(self, a: Self, b: Self) -> Self {
        // SAFETY: as `zero`. `vfmaq_f32(c, a, b)` = c + a·b, one rounding.
        NeonF32(unsafe { vfmaq_f32(self.0, a.0, b.0) })
    }
    const FMA_BY_LANE: bool = true;
    #[inline(always)]
    unsafe fn fma_lane<const L: i32>(self, a: Self, b: Self) -> Self {
        // SAFETY: as `zero`; `L < 4` (caller, and checked at compile time).
        // `fmla v.4s, a.4s, b.s[L]`: c + a·b[L], one rounding.
        NeonF32(unsafe { vfmaq_laneq_f32::<L>(self.0, a.0, b.0) })
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        // SAFETY: as `zero`.
        NeonF32(unsafe { vaddq_f32(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        // SAFETY: as `zero`.
        NeonF32(unsafe { vmulq_f32(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn clamp(self, lo: Self, hi: Self) -> Self {
        // SAFETY: as `zero`. `fmaxnm` returns the number when one operand is
        // NaN, so a NaN lane becomes `lo`.
        NeonF32(unsafe { vminnmq_f32(vmaxnmq_f32(self.0, lo.0), hi.0) })
    }
}

#[cfg(feature = "std")]
macro_rules! dotprod_detected {
    () => {
        std::arch::is_aarch64_feature_detected!("dotprod")
    };
}

#[cfg(not(feature = "std"))]
macro_rules! dotprod_detected {
    () => {
        false
    };
}

/// Four i32 lanes (NEON).
#[derive(Clone, Copy)]
pub(crate) struct NeonI32(int32x4_t);

// SAFETY (every method): NEON is part of the aarch64 base ISA; for loads
// and stores callers guarantee the lanes at the pointer are in bounds.
impl I32Simd for NeonI32 {
    type Half = NeonI32;
    crate::kernels::simd::requant_unprepared!();
    crate::kernels::simd::uniform_as_lanes!();
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn splat(x: i32) -> Self {
        NeonI32(unsafe { vdupq_n_s32(x) })
    }
    #[inline(always)]
    unsafe fn load_i8(p: *const i8) -> Self {
        unsafe {
            // The 4 bytes as one unaligned word; its low half after widening.
            let b = vdup_n_s32(p.cast::<i32>().read_unaligned());
            NeonI32(vmovl_s16(vget_low_s16(vmovl_s8(vreinterpret_s8_s32(b)))))
        }
    }
    #[inline(always)]
    unsafe fn load(p: *const i32) -> Self {
        NeonI32(unsafe { vld1q_s32(p) })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut i32) {
        unsafe { vst1q_s32(p, self.0) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        NeonI32(unsafe { vaddq_s32(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        NeonI32(unsafe { vsubq_s32(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        NeonI32(unsafe { vmulq_s32(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn requant_clamp(self, mult: Self, shift: Self, zp: i32, lo: i32, hi: i32) -> Self {
        // The steps of `quant::mbqm_block`, per lane.
        unsafe {
            let (zero, one) = (vdupq_n_s32(0), vdupq_n_s32(1));
            let left = vminq_s32(vmaxq_s32(shift.0, zero), vdupq_n_s32(32));
            let right = vminq_s32(vmaxq_s32(vnegq_s32(shift.0), zero), vdupq_n_s32(31));
            // x·2^left mod 2^32 (`sshl` by 32 gives 0).
            let xs = vshlq_s32(self.0, left);
            // `sqrdmulh` is SRDHM exactly: floor((2·xs·m + 2^31) / 2^32),
            // MIN·MIN saturating to MAX.
            let q = vqrdmulhq_s32(xs, mult.0);
            // RoundingDivideByPOT (a true comparison is -1).
            let mask = vsubq_s32(vshlq_s32(one, right), one);
            let rem = vandq_s32(q, mask);
            let thr = vsubq_s32(vshrq_n_s32::<1>(mask), vreinterpretq_s32_u32(vcltzq_s32(q)));
            let up = vreinterpretq_s32_u32(vcgtq_s32(rem, thr));
            let r = vsubq_s32(vshlq_s32(q, vnegq_s32(right)), up);
            let r = vminq_s32(vmaxq_s32(r, vdupq_n_s32(lo - zp)), vdupq_n_s32(hi - zp));
            NeonI32(vaddq_s32(r, vdupq_n_s32(zp)))
        }
    }
}

simd_table!(
    neon_table, "neon", "neon", true,
    f32: (NeonF32, 4, 4, 8, 4),
    i8: (NeonSmull<2, 8>, NeonSmull<2, 8>, NeonI32, 4),
    packing: crate::packing::ISA_NEON
);

simd_table!(
    neondot_table, "neondot", "neon,dotprod",
    cfg!(target_feature = "dotprod") || dotprod_detected!(),
    f32: (NeonF32, 4, 4, 8, 4),
    i8: (NeonDot<4>, NeonDot<2>, NeonI32, 4),
    packing: crate::packing::ISA_NEONDOT
);

#[cfg(test)]
mod tests {
    #[test]
    fn requant_clamp_equals_the_scalar_form() {
        // SAFETY: NEON is part of the aarch64 base ISA.
        unsafe { crate::kernels::test_util::requant_matches_scalar::<super::NeonI32>() }
    }
}
