//! aarch64 int8 micro-kernels for [`tiled`](super::tiled):
//!
//! * `neon_4x16` / `_4x8` (Cortex-A72, no dotprod): `smlal`/`smlal2` by element on
//!   `i16` (A holds `x − zp` in `[-255, 255]`, B the weight; each product
//!   is exact in `i32`). 64 MACs per 16 multiply-accumulates.
//! * `neondot_4x16c4` / `_4x8c4` (Cortex-A76, dotprod): `sdot` by element, through
//!   `asm!` (the intrinsic is unstable): four `i8 × i8` products summed
//!   into each `i32` lane. A holds the raw input bytes, so `offset = zp`.

use core::arch::aarch64::*;
use core::arch::asm;

use super::tiled::QMicro;

/// NEON `smlal`, 4 rows × `8·NV` channels, 8 `k` per A load.
pub(crate) struct NeonMlal<const NV: usize>;

/// Expands `$body` for each lane index `0..8` as the const `$l`.
macro_rules! lanes8 {
    ($l:ident => $body:block) => {{
        {
            const $l: i32 = 0;
            $body
        }
        {
            const $l: i32 = 1;
            $body
        }
        {
            const $l: i32 = 2;
            $body
        }
        {
            const $l: i32 = 3;
            $body
        }
        {
            const $l: i32 = 4;
            $body
        }
        {
            const $l: i32 = 5;
            $body
        }
        {
            const $l: i32 = 6;
            $body
        }
        {
            const $l: i32 = 7;
            $body
        }
    }};
}

impl<const NV: usize> QMicro for NeonMlal<NV> {
    const MR: usize = 4;
    const NR: usize = 8 * NV;
    const G: usize = 1;
    const KSTEP: usize = 8;
    type A = i16;
    type B = i16;
    const B_ZERO: i16 = 0;
    #[inline(always)]
    fn a_val(x: i8, zp: i32) -> i16 {
        (x as i32 - zp) as i16
    }
    #[inline(always)]
    fn b_val(w: i8) -> i16 {
        w as i16
    }
    #[inline(always)]
    fn offset(_zp: i32) -> i32 {
        0
    }
    #[inline(always)]
    unsafe fn tile(a: *const i16, lda: usize, b: *const i16, kp: usize, acc: *mut i32) {
        // SAFETY: NEON is baseline; the caller guarantees `[4][lda]` values
        // of A, `kp · NR` of B (`kp` a multiple of 8) and 4 × NR accumulators.
        unsafe {
            let nr = Self::NR;
            // Per row and 8-channel group: the low and high four channels.
            let mut c = [[[vdupq_n_s32(0); 2]; NV]; 4];
            for (r, cr) in c.iter_mut().enumerate() {
                for (v, cv) in cr.iter_mut().enumerate() {
                    cv[0] = vld1q_s32(acc.add(r * nr + v * 8));
                    cv[1] = vld1q_s32(acc.add(r * nr + v * 8 + 4));
                }
            }
            for k8 in 0..kp / 8 {
                let mut av = [vdupq_n_s16(0); 4];
                for (r, ar) in av.iter_mut().enumerate() {
                    *ar = vld1q_s16(a.add(r * lda + k8 * 8));
                }
                let bk = b.add(k8 * 8 * nr);
                lanes8!(L => {
                    let mut bv = [vdupq_n_s16(0); NV];
                    for (v, bb) in bv.iter_mut().enumerate() {
                        *bb = vld1q_s16(bk.add(L as usize * nr + v * 8));
                    }
                    for (cr, &ar) in c.iter_mut().zip(&av) {
                        for (cv, &bb) in cr.iter_mut().zip(&bv) {
                            cv[0] = vmlal_laneq_s16::<L>(cv[0], vget_low_s16(bb), ar);
                            cv[1] = vmlal_high_laneq_s16::<L>(cv[1], bb, ar);
                        }
                    }
                });
            }
            for (r, cr) in c.iter().enumerate() {
                for (v, cv) in cr.iter().enumerate() {
                    vst1q_s32(acc.add(r * nr + v * 8), cv[0]);
                    vst1q_s32(acc.add(r * nr + v * 8 + 4), cv[1]);
                }
            }
        }
    }
}

/// NEON dotprod `sdot`, 4 rows × `4·NV` channels, 4 `k` per `sdot`.
pub(crate) struct NeonDot<const NV: usize>;

/// `acc + Σ_{i<4} b[4j+i] · a[4·LANE + i]` per `i32` lane `j`.
///
/// # Safety
/// The CPU has dotprod.
#[inline(always)]
unsafe fn sdot_lane<const LANE: i32>(acc: int32x4_t, b: int8x16_t, a: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: dotprod (caller); register-only.
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {b:v}.16b, {a:v}.4b[{l}]",
            acc = inout(vreg) acc,
            b = in(vreg) b,
            a = in(vreg) a,
            l = const LANE,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// Expands `$body` for each lane index `0..4` as the const `$l`.
macro_rules! lanes4 {
    ($l:ident => $body:block) => {{
        {
            const $l: i32 = 0;
            $body
        }
        {
            const $l: i32 = 1;
            $body
        }
        {
            const $l: i32 = 2;
            $body
        }
        {
            const $l: i32 = 3;
            $body
        }
    }};
}

impl<const NV: usize> QMicro for NeonDot<NV> {
    const MR: usize = 4;
    const NR: usize = 4 * NV;
    const G: usize = 4;
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
        // SAFETY: the caller guarantees dotprod, `[4][lda]` bytes of A,
        // `kp · NR` bytes of B (`kp` a multiple of 16) and 4 × NR
        // accumulators.
        unsafe {
            let nr = Self::NR;
            let mut c = [[vdupq_n_s32(0); NV]; 4];
            for (r, cr) in c.iter_mut().enumerate() {
                for (v, cv) in cr.iter_mut().enumerate() {
                    *cv = vld1q_s32(acc.add(r * nr + v * 4));
                }
            }
            for k16 in 0..kp / 16 {
                let mut av = [vdupq_n_s8(0); 4];
                for (r, ar) in av.iter_mut().enumerate() {
                    *ar = vld1q_s8(a.add(r * lda + k16 * 16));
                }
                let bk = b.add(k16 * 16 * nr);
                lanes4!(L => {
                    let mut bv = [vdupq_n_s8(0); NV];
                    for (v, bb) in bv.iter_mut().enumerate() {
                        *bb = vld1q_s8(bk.add(L as usize * 4 * nr + v * 16));
                    }
                    for (cr, &ar) in c.iter_mut().zip(&av) {
                        for (cv, &bb) in cr.iter_mut().zip(&bv) {
                            *cv = sdot_lane::<L>(*cv, bb, ar);
                        }
                    }
                });
            }
            for (r, cr) in c.iter().enumerate() {
                for (v, cv) in cr.iter().enumerate() {
                    vst1q_s32(acc.add(r * nr + v * 4), *cv);
                }
            }
        }
    }
}
