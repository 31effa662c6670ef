//! x86-64 int8 micro-kernels for [`tiled`](super::tiled):
//!
//! * `avx512vnni_12x32c4` / `_12x16c4`: `vpdpbusd` (unsigned × signed bytes, four
//!   products summed into each `i32` lane without saturation). A holds
//!   `x + 128` as unsigned bytes (`x ^ 0x80`), so `offset = 128 + zp`.
//! * `avx512_8x32c2` / `_8x16c2`, `avx2_6x16c2` / `_6x8c2`: `vpmaddwd` on `i16` (A holds
//!   `x − zp` in `[-255, 255]`, B the weight; each pair of products is at
//!   most `2·255·128 = 65280` in magnitude and lands in an `i32` lane
//!   exactly). `vpmaddubsw` is not used: its `i16` pair sums saturate
//!   (`2·255·127 > 32767`), which would break bit-exactness.

use core::arch::x86_64::*;

use super::tiled::{QMicro, NR_MAX};
use crate::kernels::simd::{I32Simd, RQ_VECS};
use crate::kernels::x86::{Avx512I32, Avx512Requant};

/// AVX-512 VNNI, `MR` rows × `16·NV` channels, 4 `k` per `vpdpbusd`.
pub(crate) struct Avx512Vnni<const NV: usize, const MR: usize>;

impl<const NV: usize, const MR: usize> QMicro for Avx512Vnni<NV, MR> {
    type V = crate::kernels::x86::Avx512I32;
    const MR: usize = MR;
    const NR: usize = 16 * NV;
    const G: usize = 4;
    const KSTEP: usize = 4;
    type A = u8;
    type B = i8;
    const B_ZERO: i8 = 0;
    const RAW_B: bool = true;
    const VNNI512: bool = true;
    #[inline(always)]
    fn a_val(x: i8, _zp: i32) -> u8 {
        (x as u8) ^ 0x80
    }
    #[inline(always)]
    fn b_val(w: i8) -> i8 {
        w
    }
    #[inline(always)]
    fn offset(zp: i32) -> i32 {
        128 + zp
    }
    #[inline(always)]
    unsafe fn a_copy(src: &[i8], _zp: i32, dst: *mut u8) {
        // SAFETY: the caller guarantees AVX-512BW and `src.len()` writable
        // bytes at `dst`; masked-off bytes are neither read nor written.
        unsafe {
            let flip = _mm512_set1_epi8(-128);
            let mut i = 0;
            while i < src.len() {
                let n = (src.len() - i).min(64);
                let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
                let v = _mm512_maskz_loadu_epi8(mask, src.as_ptr().add(i));
                _mm512_mask_storeu_epi8(dst.add(i).cast(), mask, _mm512_xor_si512(v, flip));
                i += n;
            }
        }
    }
    #[inline(always)]
    unsafe fn a_copy_over(src: &[i8], n: usize, _zp: i32, dst: *mut u8) {
        // SAFETY: the caller guarantees AVX-512BW, `n <= src.len()` and
        // `n + A_SLACK` writable bytes at `dst`: whole 64-byte blocks where
        // `src` holds them (writing at most 63 bytes past `n`), masked
        // loads and stores otherwise.
        unsafe {
            // Short runs (a few taps of few channels) in one narrower
            // vector: fewer bytes stored, fewer cache-line splits.
            if n <= 16 && src.len() >= 16 {
                let v = _mm_loadu_si128(src.as_ptr().cast());
                _mm_storeu_si128(dst.cast(), _mm_xor_si128(v, _mm_set1_epi8(-128)));
                return;
            }
            if n <= 32 && src.len() >= 32 {
                let v = _mm256_loadu_si256(src.as_ptr().cast());
                _mm256_storeu_si256(dst.cast(), _mm256_xor_si256(v, _mm256_set1_epi8(-128)));
                return;
            }
            let flip = _mm512_set1_epi8(-128);
            let mut i = 0;
            while i < n && i + 64 <= src.len() {
                let v = _mm512_loadu_si512(src.as_ptr().add(i).cast());
                _mm512_storeu_si512(dst.add(i).cast(), _mm512_xor_si512(v, flip));
                i += 64;
            }
            if i < n {
                // Near the end of `src`: `a_copy`'s masked blocks.
                Self::a_copy(&src[i..n], 0, dst.add(i));
            }
        }
    }
    #[inline(always)]
    unsafe fn tile(a: *const u8, lda: usize, b: *const i8, kp: usize, acc: *mut i32) {
        // SAFETY: the caller guarantees AVX-512F/VNNI and that the panels hold `kp`
        // steps (`[MR][lda]` values of A, `kp/4 · 4·NR` of B) and `acc`
        // MR × NR values.
        unsafe {
            let nr = Self::NR;
            let mut c = [[_mm512_setzero_si512(); NV]; MR];
            for (r, cr) in c.iter_mut().enumerate() {
                for (v, cv) in cr.iter_mut().enumerate() {
                    *cv = _mm512_loadu_si512(acc.add(r * nr + v * 16).cast());
                }
            }
            Self::steps(a, lda, b, kp, &mut c);
            for (r, cr) in c.iter().enumerate() {
                for (v, cv) in cr.iter().enumerate() {
                    _mm512_storeu_si512(acc.add(r * nr + v * 16).cast(), *cv);
                }
            }
        }
    }
    #[inline(always)]
    unsafe fn tile_store(
        a: *const u8,
        lda: usize,
        b: *const i8,
        kp: usize,
        init: &[i32; NR_MAX],
        (rq, pair): (&[Avx512Requant; RQ_VECS], &Avx512Requant),
        (zp, lo, hi): (i32, i32, i32),
        (y, ldy, rows, nv): (&mut [i8], usize, usize, usize),
    ) {
        assert!(rows <= MR && nv <= 16 * NV && y.len() >= (rows - 1) * ldy + nv);
        // SAFETY: the caller guarantees AVX-512F/VNNI and the panels (as
        // `tile`); `init` holds NR_MAX >= 16·NV values; each store writes
        // within row `r < rows` of `y`: bytes `r·ldy + 16·v ..` up to
        // `r·ldy + nv` (checked above).
        unsafe {
            let mut c = [[_mm512_setzero_si512(); NV]; MR];
            for cr in c.iter_mut() {
                for (v, cv) in cr.iter_mut().enumerate() {
                    *cv = _mm512_loadu_si512(init.as_ptr().add(v * 16).cast());
                }
            }
            Self::steps(a, lda, b, kp, &mut c);
            // The last vector `nv` reaches; at most half used, it goes two
            // rows at a time (its first 8 lanes of row `r`, then of `r + 1`).
            let last = (nv - 1) / 16;
            let rest = nv - 16 * last;
            let paired = rest <= 8;
            for (r, cr) in c.iter().enumerate() {
                if r == rows {
                    break;
                }
                let row = y.as_mut_ptr().add(r * ldy);
                for (v, cv) in cr.iter().enumerate() {
                    let c0 = v * 16;
                    if c0 >= nv || (paired && v == last) {
                        break;
                    }
                    let res = Avx512I32(*cv).requant_with(&rq[v], zp, lo, hi);
                    if c0 + 16 <= nv {
                        res.store_i8(row.add(c0));
                    } else {
                        res.store_i8_partial(row.add(c0), nv - c0);
                    }
                }
            }
            if paired {
                let c0 = 16 * last;
                let m = ((1u32 << rest) - 1) as u16;
                for r in (0..MR).step_by(2) {
                    if r >= rows {
                        break;
                    }
                    let row = y.as_mut_ptr().add(r * ldy + c0);
                    let a = if last == 0 { c[r][0] } else { c[r][NV - 1] };
                    if r + 1 == rows {
                        let res = Avx512I32(a).requant_with(&rq[last], zp, lo, hi);
                        res.store_i8_partial(row, rest);
                        break;
                    }
                    let b = if last == 0 {
                        c[r + 1][0]
                    } else {
                        c[r + 1][NV - 1]
                    };
                    // Lanes 0..8 of row `r`, then 0..8 of row `r + 1`.
                    let ab = _mm512_shuffle_i64x2(a, b, 0b01_00_01_00);
                    let res = Avx512I32(ab).requant_with(pair, zp, lo, hi);
                    _mm512_mask_cvtepi32_storeu_epi8(row.cast(), m, res.0);
                    // Lane `8 + j` to row `r + 1`'s byte `c0 + j` (the base
                    // may lie before `y`: only the masked lanes are written).
                    let next = row.wrapping_add(ldy).wrapping_sub(8);
                    _mm512_mask_cvtepi32_storeu_epi8(next.cast(), m << 8, res.0);
                }
            }
        }
    }
}

impl<const NV: usize, const MR: usize> Avx512Vnni<NV, MR> {
    /// The accumulators of one tile after `kp` steps from `c` (the
    /// K loop of [`QMicro::tile`]).
    ///
    /// # Safety
    /// As [`QMicro::tile`].
    #[inline(always)]
    unsafe fn steps(
        a: *const u8,
        lda: usize,
        b: *const i8,
        kp: usize,
        c: &mut [[__m512i; NV]; MR],
    ) {
        // SAFETY: the caller guarantees AVX-512F/VNNI and that the panels
        // hold `kp` steps (`[MR][lda]` values of A, `kp/4 · 4·NR` of B).
        unsafe {
            let nr = 16 * NV;
            for kg in 0..kp / 4 {
                let mut bv = [_mm512_setzero_si512(); NV];
                for (v, bb) in bv.iter_mut().enumerate() {
                    *bb = _mm512_loadu_si512(b.add(kg * 4 * nr + v * 64).cast());
                }
                for (r, cr) in c.iter_mut().enumerate() {
                    let av =
                        _mm512_set1_epi32(a.add(r * lda + kg * 4).cast::<i32>().read_unaligned());
                    for (cv, &bb) in cr.iter_mut().zip(&bv) {
                        *cv = _mm512_dpbusd_epi32(*cv, av, bb);
                    }
                }
            }
        }
    }
}

/// AVX-512BW, 8 rows × `16·NV` channels, 2 `k` per `vpmaddwd`.
pub(crate) struct Avx512Madd<const NV: usize>;

impl<const NV: usize> QMicro for Avx512Madd<NV> {
    type V = crate::kernels::x86::Avx512I32;
    const MR: usize = 8;
    const NR: usize = 16 * NV;
    const G: usize = 2;
    const KSTEP: usize = 2;
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
        // SAFETY: the caller guarantees AVX-512BW and that the panels hold `kp`
        // steps (`[8][lda]` values of A, `kp/2 · 2·NR` of B) and `acc`
        // 8 × NR values.
        unsafe {
            let nr = Self::NR;
            let mut c = [[_mm512_setzero_si512(); NV]; 8];
            for (r, cr) in c.iter_mut().enumerate() {
                for (v, cv) in cr.iter_mut().enumerate() {
                    *cv = _mm512_loadu_si512(acc.add(r * nr + v * 16).cast());
                }
            }
            for kg in 0..kp / 2 {
                let mut bv = [_mm512_setzero_si512(); NV];
                for (v, bb) in bv.iter_mut().enumerate() {
                    *bb = _mm512_loadu_si512(b.add(kg * 2 * nr + v * 32).cast());
                }
                for (r, cr) in c.iter_mut().enumerate() {
                    let av =
                        _mm512_set1_epi32(a.add(r * lda + kg * 2).cast::<i32>().read_unaligned());
                    for (cv, &bb) in cr.iter_mut().zip(&bv) {
                        *cv = _mm512_add_epi32(*cv, _mm512_madd_epi16(av, bb));
                    }
                }
            }
            for (r, cr) in c.iter().enumerate() {
                for (v, cv) in cr.iter().enumerate() {
                    _mm512_storeu_si512(acc.add(r * nr + v * 16).cast(), *cv);
                }
            }
        }
    }
}

/// AVX2, 6 rows × `8·NV` channels, 2 `k` per `vpmaddwd`.
pub(crate) struct Avx2Madd<const NV: usize>;

impl<const NV: usize> QMicro for Avx2Madd<NV> {
    type V = crate::kernels::x86::Avx2I32;
    const MR: usize = 6;
    const NR: usize = 8 * NV;
    const G: usize = 2;
    const KSTEP: usize = 2;
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
        // SAFETY: the caller guarantees AVX2 and that the panels hold `kp`
        // steps (`[6][lda]` values of A, `kp/2 · 2·NR` of B) and `acc`
        // 6 × NR values.
        unsafe {
            let nr = Self::NR;
            let mut c = [[_mm256_setzero_si256(); NV]; 6];
            for (r, cr) in c.iter_mut().enumerate() {
                for (v, cv) in cr.iter_mut().enumerate() {
                    *cv = _mm256_loadu_si256(acc.add(r * nr + v * 8).cast());
                }
            }
            for kg in 0..kp / 2 {
                let mut bv = [_mm256_setzero_si256(); NV];
                for (v, bb) in bv.iter_mut().enumerate() {
                    *bb = _mm256_loadu_si256(b.add(kg * 2 * nr + v * 16).cast());
                }
                for (r, cr) in c.iter_mut().enumerate() {
                    let av =
                        _mm256_set1_epi32(a.add(r * lda + kg * 2).cast::<i32>().read_unaligned());
                    for (cv, &bb) in cr.iter_mut().zip(&bv) {
                        *cv = _mm256_add_epi32(*cv, _mm256_madd_epi16(av, bb));
                    }
                }
            }
            for (r, cr) in c.iter().enumerate() {
                for (v, cv) in cr.iter().enumerate() {
                    _mm256_storeu_si256(acc.add(r * nr + v * 8).cast(), *cv);
                }
            }
        }
    }
}
