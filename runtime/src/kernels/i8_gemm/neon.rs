//! aarch64 int8 micro-kernels for [`tiled`](super::tiled):
//!
//! * `neon_2x8c16` (Cortex-A72, no dotprod): `smull`/`smull2` of 8 `i8 × i8`
//!   products into `i16` lanes (exact: `|x · w| <= 128 · 128`), then
//!   `sadalp` pairwise into `i32` accumulators, one per row and channel,
//!   reduced across lanes once per tile. A holds the raw input bytes, so
//!   `offset = zp`. 16 MACs per two multiplies and two `sadalp`s, which the
//!   A72 issues on its two NEON pipes side by side.
//! * `neondot_4x16c4` / `_4x8c4` (Cortex-A76, dotprod): `sdot` by element, through
//!   `asm!` (the intrinsic is unstable): four `i8 × i8` products summed
//!   into each `i32` lane. A holds the raw input bytes, so `offset = zp`.

use core::arch::aarch64::*;
use core::arch::asm;

use super::tiled::QMicro;

/// NEON `smull` + `sadalp`, `R` rows × `N` channels (`N` a multiple of 4),
/// 16 `k` per load; `R · N` accumulators (`2 × 8` fills 16 of the 32
/// registers, leaving room for the operands).
pub(crate) struct NeonSmull<const R: usize, const N: usize>;

impl<const R: usize, const N: usize> QMicro for NeonSmull<R, N> {
    type V = crate::kernels::neon::NeonI32;
    const MR: usize = R;
    const NR: usize = N;
    const G: usize = 16;
    const KSTEP: usize = 16;
    type A = i8;
    type B = i8;
    const B_ZERO: i8 = 0;
    const RAW_B: bool = true;
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
        // SAFETY: NEON is baseline; the caller guarantees `[R][lda]` bytes
        // of A, `kp · N` bytes of B (`kp` a multiple of 16) and R × N
        // accumulators.
        unsafe {
            // c[r][j]: four partial sums of row r, channel j.
            let mut c = [[vdupq_n_s32(0); N]; R];
            for k16 in 0..kp / 16 {
                let mut av = [vdupq_n_s8(0); R];
                for (r, ar) in av.iter_mut().enumerate() {
                    *ar = vld1q_s8(a.add(r * lda + k16 * 16));
                }
                let bk = b.add(k16 * 16 * N);
                for j in 0..N {
                    let bj = vld1q_s8(bk.add(j * 16));
                    for (cr, &ar) in c.iter_mut().zip(&av) {
                        let lo = vmull_s8(vget_low_s8(ar), vget_low_s8(bj));
                        let hi = vmull_high_s8(ar, bj);
                        cr[j] = vpadalq_s16(vpadalq_s16(cr[j], lo), hi);
                    }
                }
            }
            // Lane sums, four channels at a time, added to `acc` (mod 2^32,
            // as the reference accumulates).
            for (r, cr) in c.iter().enumerate() {
                for (j, q) in cr.chunks_exact(4).enumerate() {
                    let s = vpaddq_s32(vpaddq_s32(q[0], q[1]), vpaddq_s32(q[2], q[3]));
                    let p = acc.add(r * N + j * 4);
                    vst1q_s32(p, vaddq_s32(vld1q_s32(p), s));
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
    type V = crate::kernels::neon::NeonI32;
    const MR: usize = 4;
    const NR: usize = 4 * NV;
    const G: usize = 4;
    const KSTEP: usize = 16;
    type A = i8;
    type B = i8;
    const B_ZERO: i8 = 0;
    const RAW_B: bool = true;
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
