//! x86-64 kernel tables: AVX2+FMA, AVX-512F/BW, AVX-512 VNNI.
//!
//! Each table's entry points are safe functions with the reference
//! kernels' signatures that call a `#[target_feature]` instantiation of the
//! generic SIMD kernels. They are reachable only through the tables, which
//! [`select`](super::select) hands out after checking the CPU (the
//! `*_table` constructors here): that check is what makes each `unsafe`
//! call below sound.

use core::arch::x86_64::*;

use super::i8_gemm::x86::{Avx2Madd, Avx512Madd, Avx512Vnni};
use super::select::Kernels;
use super::simd::{F32Simd, I32Simd};

/// Eight f32 lanes (AVX + FMA).
#[derive(Clone, Copy)]
pub(crate) struct Avx2F32(__m256);

impl F32Simd for Avx2F32 {
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: the caller guarantees AVX (trait contract).
        Avx2F32(unsafe { _mm256_setzero_ps() })
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: as `zero`.
        Avx2F32(unsafe { _mm256_set1_ps(x) })
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller guarantees AVX and 8 readable values at `p`.
        Avx2F32(unsafe { _mm256_loadu_ps(p) })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees AVX and 8 writable values at `p`.
        unsafe { _mm256_storeu_ps(p, self.0) }
    }
    #[inline(always)]
    unsafe fn load_first(p: *const f32, n: usize) -> Self {
        // SAFETY: the caller guarantees AVX and `n <= 8` readable values;
        // masked-off lanes are not accessed (no fault).
        Avx2F32(unsafe { _mm256_maskload_ps(p, first_lanes_avx2(n)) })
    }
    #[inline(always)]
    unsafe fn store_first(self, p: *mut f32, n: usize) {
        // SAFETY: as `load_first`, for writable values.
        unsafe { _mm256_maskstore_ps(p, first_lanes_avx2(n), self.0) }
    }
    #[inline(always)]
    unsafe fn fma(self, a: Self, b: Self) -> Self {
        // SAFETY: the caller guarantees FMA.
        Avx2F32(unsafe { _mm256_fmadd_ps(a.0, b.0, self.0) })
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        // SAFETY: as `zero`.
        Avx2F32(unsafe { _mm256_add_ps(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        // SAFETY: as `zero`.
        Avx2F32(unsafe { _mm256_mul_ps(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn clamp(self, lo: Self, hi: Self) -> Self {
        // SAFETY: as `zero`. `maxps` returns its second operand when either
        // is NaN, so a NaN lane becomes `lo`.
        Avx2F32(unsafe { _mm256_min_ps(_mm256_max_ps(self.0, lo.0), hi.0) })
    }
}

/// The mask of `vmaskmovps` for lanes `0..n`: all ones there, zeros after.
///
/// # Safety
/// The CPU supports AVX.
#[inline(always)]
unsafe fn first_lanes_avx2(n: usize) -> __m256i {
    // SAFETY: AVX (caller).
    unsafe {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx)
    }
}

/// Sixteen f32 lanes (AVX-512F).
#[derive(Clone, Copy)]
pub(crate) struct Avx512F32(__m512);

impl F32Simd for Avx512F32 {
    const LANES: usize = 16;
    const PIXEL_BLOCKS: bool = true;
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: the caller guarantees AVX-512F (trait contract).
        Avx512F32(unsafe { _mm512_setzero_ps() })
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: as `zero`.
        Avx512F32(unsafe { _mm512_set1_ps(x) })
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller guarantees AVX-512F and 16 readable values.
        Avx512F32(unsafe { _mm512_loadu_ps(p) })
    }
    #[inline(always)]
    unsafe fn load_strided(p: *const f32, stride: usize) -> Self {
        // SAFETY: the caller guarantees AVX-512F and the 16 values `stride`
        // apart (whose offsets fit `i32`: `15·stride` is within one tensor).
        unsafe {
            let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            let idx = _mm512_mullo_epi32(lanes, _mm512_set1_epi32(stride as i32));
            Avx512F32(_mm512_i32gather_ps::<4>(idx, p))
        }
    }
    #[inline(always)]
    unsafe fn transpose_block(
        src: *const f32,
        src_stride: usize,
        dst: *mut f32,
        dst_stride: usize,
    ) {
        // SAFETY: the caller guarantees AVX-512F and the 16 rows of 16
        // values at `src` and `dst`.
        unsafe {
            let mut r = [_mm512_setzero_ps(); 16];
            for (i, ri) in r.iter_mut().enumerate() {
                *ri = _mm512_loadu_ps(src.add(i * src_stride));
            }
            // Pairs of rows interleaved by 32-bit lanes, then by 64-bit
            // lanes: each 128-bit lane holds a 4x4 block, transposed.
            let mut t = [_mm512_setzero_ps(); 16];
            for i in (0..16).step_by(2) {
                t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
            }
            let mut td = [_mm512_setzero_pd(); 16];
            for (d, &f) in td.iter_mut().zip(&t) {
                *d = _mm512_castps_pd(f);
            }
            let t = td;
            let mut u = [_mm512_setzero_ps(); 16];
            for i in (0..16).step_by(4) {
                u[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(t[i], t[i + 2]));
                u[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t[i], t[i + 2]));
                u[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t[i + 1], t[i + 3]));
                u[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t[i + 1], t[i + 3]));
            }
            // Then the 128-bit blocks: rows 4m + j of `u` hold column
            // `j`'s values of rows 4m..4m + 4 in each block.
            let mut v = [_mm512_setzero_ps(); 16];
            for j in 0..4 {
                v[j] = _mm512_shuffle_f32x4::<0x88>(u[j], u[4 + j]);
                v[4 + j] = _mm512_shuffle_f32x4::<0xdd>(u[j], u[4 + j]);
                v[8 + j] = _mm512_shuffle_f32x4::<0x88>(u[8 + j], u[12 + j]);
                v[12 + j] = _mm512_shuffle_f32x4::<0xdd>(u[8 + j], u[12 + j]);
            }
            for j in 0..8 {
                let a = _mm512_shuffle_f32x4::<0x88>(v[j], v[8 + j]);
                let b = _mm512_shuffle_f32x4::<0xdd>(v[j], v[8 + j]);
                _mm512_storeu_ps(dst.add(j * dst_stride), a);
                _mm512_storeu_ps(dst.add((j + 8) * dst_stride), b);
            }
        }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees AVX-512F and 16 writable values.
        unsafe { _mm512_storeu_ps(p, self.0) }
    }
    #[inline(always)]
    unsafe fn load_first(p: *const f32, n: usize) -> Self {
        // SAFETY: the caller guarantees AVX-512F and `n <= 16` readable
        // values; masked-off lanes are not accessed (no fault).
        Avx512F32(unsafe { _mm512_maskz_loadu_ps(((1u32 << n) - 1) as u16, p) })
    }
    #[inline(always)]
    unsafe fn store_first(self, p: *mut f32, n: usize) {
        // SAFETY: as `load_first`, for writable values.
        unsafe { _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as u16, self.0) }
    }
    #[inline(always)]
    unsafe fn fma(self, a: Self, b: Self) -> Self {
        // SAFETY: as `zero`.
        Avx512F32(unsafe { _mm512_fmadd_ps(a.0, b.0, self.0) })
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        // SAFETY: as `zero`.
        Avx512F32(unsafe { _mm512_add_ps(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        // SAFETY: as `zero`.
        Avx512F32(unsafe { _mm512_mul_ps(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn clamp(self, lo: Self, hi: Self) -> Self {
        // SAFETY: as `zero`; NaN rule as for AVX2.
        Avx512F32(unsafe { _mm512_min_ps(_mm512_max_ps(self.0, lo.0), hi.0) })
    }
}

/// Eight i32 lanes (AVX2).
#[derive(Clone, Copy)]
pub(crate) struct Avx2I32(__m256i);

// SAFETY (every method): callers guarantee AVX2 (the trait's contract)
// and, for loads and stores, that the lanes at the pointer are in bounds.
impl I32Simd for Avx2I32 {
    type Half = Avx2I32;
    crate::kernels::simd::requant_unprepared!();
    crate::kernels::simd::uniform_as_lanes!();
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn splat(x: i32) -> Self {
        Avx2I32(unsafe { _mm256_set1_epi32(x) })
    }
    #[inline(always)]
    unsafe fn load_i8(p: *const i8) -> Self {
        Avx2I32(unsafe { _mm256_cvtepi8_epi32(_mm_loadl_epi64(p.cast())) })
    }
    #[inline(always)]
    unsafe fn load(p: *const i32) -> Self {
        Avx2I32(unsafe { _mm256_loadu_si256(p.cast()) })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut i32) {
        unsafe { _mm256_storeu_si256(p.cast(), self.0) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        Avx2I32(unsafe { _mm256_add_epi32(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        Avx2I32(unsafe { _mm256_sub_epi32(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        Avx2I32(unsafe { _mm256_mullo_epi32(self.0, b.0) })
    }
    #[inline(always)]
    fn weight_lane(w: i8) -> i32 {
        // `w` in the low 16 bits, zeros above: `vpmaddwd` then adds
        // `lo16(x)·w + hi16(x)·0`, and `lo16(x)` is `x` for |x| <= 255.
        w as i16 as u16 as i32
    }
    #[inline(always)]
    unsafe fn mul_weight(self, w: Self) -> Self {
        // SAFETY: AVX2 (the caller); exact for the operands documented.
        Avx2I32(unsafe { _mm256_madd_epi16(self.0, w.0) })
    }
    #[inline(always)]
    unsafe fn requant_clamp(self, mult: Self, shift: Self, zp: i32, lo: i32, hi: i32) -> Self {
        // The steps of `quant::mbqm_block`, per lane (module docs there).
        // SAFETY: AVX2 (caller).
        unsafe {
            let (zero, one) = (_mm256_setzero_si256(), _mm256_set1_epi32(1));
            let left = _mm256_max_epi32(shift.0, zero);
            let right = _mm256_min_epi32(
                _mm256_max_epi32(_mm256_sub_epi32(zero, shift.0), zero),
                _mm256_set1_epi32(31),
            );
            // x·2^left mod 2^32 (a count of 32 gives 0).
            let xs = _mm256_sllv_epi32(self.0, left);
            // SRDHM = floor((xs·m + 2^30) / 2^31): the 64-bit products of
            // the even and the odd lanes, bits 31..62 of each sum.
            let nudge = _mm256_set1_epi64x(1 << 30);
            let even = _mm256_add_epi64(_mm256_mul_epi32(xs, mult.0), nudge);
            let odd = _mm256_add_epi64(
                _mm256_mul_epi32(_mm256_srli_epi64(xs, 32), _mm256_srli_epi64(mult.0, 32)),
                nudge,
            );
            let q = _mm256_blend_epi32(
                _mm256_srli_epi64(even, 31),
                _mm256_slli_epi64(odd, 1),
                0b1010_1010,
            );
            let min = _mm256_set1_epi32(i32::MIN);
            let sat =
                _mm256_and_si256(_mm256_cmpeq_epi32(xs, min), _mm256_cmpeq_epi32(mult.0, min));
            let q = _mm256_blendv_epi8(q, _mm256_set1_epi32(i32::MAX), sat);
            // RoundingDivideByPOT: `(q >> right) + (rem > (mask >> 1) + (q < 0))`
            // (a true comparison is -1, hence the subtractions).
            let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
            let rem = _mm256_and_si256(q, mask);
            let thr = _mm256_sub_epi32(_mm256_srai_epi32(mask, 1), _mm256_cmpgt_epi32(zero, q));
            let r = _mm256_sub_epi32(_mm256_srav_epi32(q, right), _mm256_cmpgt_epi32(rem, thr));
            // `saturating_add(zp)` then the clamp, as a clamp into
            // `[lo − zp, hi − zp]` then `+ zp` (equal for `lo <= hi`).
            let r = _mm256_min_epi32(
                _mm256_max_epi32(r, _mm256_set1_epi32(lo - zp)),
                _mm256_set1_epi32(hi - zp),
            );
            Avx2I32(_mm256_add_epi32(r, _mm256_set1_epi32(zp)))
        }
    }
}

/// Sixteen i32 lanes (AVX-512F).
#[derive(Clone, Copy)]
pub(crate) struct Avx512I32(pub(crate) __m512i);

/// [`Avx512I32::requant_prep`]'s constants: what `requant_clamp` derives
/// from `mult` and `shift` alone.
#[derive(Clone, Copy)]
pub(crate) struct Avx512Requant {
    mult: __m512i,
    /// `mult`'s odd lanes moved to the even ones (for `vpmuldq`).
    mult_odd: __m512i,
    /// `max(shift, 0)`.
    left: __m512i,
    /// `min(max(−shift, 0), 31)`.
    right: __m512i,
    /// `2^right − 1`.
    mask: __m512i,
    /// `mask >> 1`.
    half: __m512i,
    /// Lanes whose `mult` is `i32::MIN`.
    min_mult: __mmask16,
}

/// [`Avx512I32::uniform_prep`]'s constants: one `mult` and `shift` for
/// every lane, applied with one rounding.
///
/// `mbqm` rounds twice: `q = ⌊(p + 2^30) / 2^31⌋` of the product `p = (x
/// << left)·mult` (SRDHM), then `⌊(q + 2^(e−1) − [q < 0]) / 2^e⌋` for `e =
/// right ≥ 1` (RDBPOT; `q` itself for `e = 0`). As `⌊(⌊a / m⌋ + c) / n⌋ =
/// ⌊(a + c·m) / (m·n)⌋` for integers, that is one arithmetic shift of the
/// 64-bit product: `(p + 2^30 + 2^(30+e) − [p < −2^30]·2^31) >> (31 + e)`,
/// the `2^(30+e)` and `2^31` terms only for `e ≥ 1` (`q < 0` exactly when
/// `p < −2^30`). `|p| <= 2^62`, so nothing overflows, and the result is
/// `mbqm` exactly and fits an `i32`, except for `MIN · MIN` with `e = 0`,
/// which SRDHM saturates: a `mult` of `i32::MIN` with `e = 0` takes the
/// two-rounding form instead.
#[derive(Clone, Copy)]
pub(crate) struct Avx512Uniform {
    /// `mult` in every lane (`vpmuldq` reads the even ones).
    mult: __m512i,
    /// `left`, and `31 + e`, as shift counts.
    left: __m128i,
    total: __m128i,
    /// The rounding constant `2^30 (+ 2^(30+e))` in every 64-bit lane.
    round: __m512i,
    /// All 64-bit lanes when `e >= 1` (the `[p < −2^30]` term), none
    /// otherwise.
    fix: __mmask8,
    /// The per-lane form, when the one-rounding form does not apply.
    general: Option<Avx512Requant>,
}

// SAFETY (every method): as for `Avx2I32`, with AVX-512F.
impl I32Simd for Avx512I32 {
    type Half = Avx2I32;
    type Uniform = Avx512Uniform;
    #[inline(always)]
    unsafe fn uniform_prep(mult: i32, shift: i32) -> Avx512Uniform {
        let left = shift.clamp(0, 32) as i64;
        let e = (-shift).clamp(0, 31) as i64;
        // SAFETY: AVX-512F (caller).
        unsafe {
            // Not `bool::then`: a closure would not get the target features.
            let general = if mult == i32::MIN && e == 0 {
                let (m, s) = (_mm512_set1_epi32(mult), _mm512_set1_epi32(shift));
                Some(Self::requant_prep(Avx512I32(m), Avx512I32(s)))
            } else {
                None
            };
            Avx512Uniform {
                mult: _mm512_set1_epi32(mult),
                left: _mm_set_epi64x(0, left),
                total: _mm_set_epi64x(0, 31 + e),
                round: _mm512_set1_epi64((1 << 30) + if e >= 1 { 1 << (30 + e) } else { 0 }),
                fix: if e >= 1 { 0xFF } else { 0 },
                general,
            }
        }
    }
    #[inline(always)]
    unsafe fn requant_uniform(self, u: &Avx512Uniform, zp: i32, lo: i32, hi: i32) -> Self {
        // SAFETY: AVX-512F (caller).
        unsafe {
            if let Some(r) = &u.general {
                return self.requant_with(r, zp, lo, hi);
            }
            let xs = _mm512_sll_epi32(self.0, u.left);
            // The odd lanes in the even ones, where `vpmuldq` reads.
            let xs_odd = _mm512_shuffle_epi32::<0b10_11_00_01>(xs);
            let (below, fix) = (_mm512_set1_epi64(-(1 << 30)), _mm512_set1_epi64(1 << 31));
            let p_even = _mm512_mul_epi32(xs, u.mult);
            let p_odd = _mm512_mul_epi32(xs_odd, u.mult);
            let n_even = _mm512_mask_cmplt_epi64_mask(u.fix, p_even, below);
            let n_odd = _mm512_mask_cmplt_epi64_mask(u.fix, p_odd, below);
            let t_even = _mm512_add_epi64(p_even, u.round);
            let t_odd = _mm512_add_epi64(p_odd, u.round);
            let t_even = _mm512_mask_sub_epi64(t_even, n_even, t_even, fix);
            let t_odd = _mm512_mask_sub_epi64(t_odd, n_odd, t_odd, fix);
            let q_even = _mm512_sra_epi64(t_even, u.total);
            let q_odd = _mm512_sra_epi64(t_odd, u.total);
            // Each result's low half: the odd ones back to the odd lanes.
            let q = _mm512_mask_shuffle_epi32::<0b10_11_00_01>(q_even, 0xAAAA, q_odd);
            let res = _mm512_min_epi32(
                _mm512_max_epi32(q, _mm512_set1_epi32(lo - zp)),
                _mm512_set1_epi32(hi - zp),
            );
            Avx512I32(_mm512_add_epi32(res, _mm512_set1_epi32(zp)))
        }
    }
    type Requant = Avx512Requant;
    #[inline(always)]
    unsafe fn requant_prep(mult: Self, shift: Self) -> Avx512Requant {
        // SAFETY: AVX-512F (caller).
        unsafe {
            let (zero, one) = (_mm512_setzero_si512(), _mm512_set1_epi32(1));
            let right = _mm512_min_epi32(
                _mm512_max_epi32(_mm512_sub_epi32(zero, shift.0), zero),
                _mm512_set1_epi32(31),
            );
            let mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, right), one);
            Avx512Requant {
                mult: mult.0,
                mult_odd: _mm512_srli_epi64(mult.0, 32),
                left: _mm512_max_epi32(shift.0, zero),
                right,
                mask,
                half: _mm512_srai_epi32(mask, 1),
                min_mult: _mm512_cmpeq_epi32_mask(mult.0, _mm512_set1_epi32(i32::MIN)),
            }
        }
    }
    #[inline(always)]
    unsafe fn requant_with(self, r: &Avx512Requant, zp: i32, lo: i32, hi: i32) -> Self {
        // `requant_clamp`'s operations, those of `mult` and `shift` alone
        // done by `requant_prep`.
        // SAFETY: AVX-512F (caller).
        unsafe {
            let (zero, one) = (_mm512_setzero_si512(), _mm512_set1_epi32(1));
            let xs = _mm512_sllv_epi32(self.0, r.left);
            let nudge = _mm512_set1_epi64(1 << 30);
            let even = _mm512_add_epi64(_mm512_mul_epi32(xs, r.mult), nudge);
            let odd = _mm512_add_epi64(
                _mm512_mul_epi32(_mm512_srli_epi64(xs, 32), r.mult_odd),
                nudge,
            );
            let q = _mm512_mask_blend_epi32(
                0xAAAA,
                _mm512_srli_epi64(even, 31),
                _mm512_slli_epi64(odd, 1),
            );
            let sat = _mm512_mask_cmpeq_epi32_mask(r.min_mult, xs, _mm512_set1_epi32(i32::MIN));
            let q = _mm512_mask_mov_epi32(q, sat, _mm512_set1_epi32(i32::MAX));
            let rem = _mm512_and_si512(q, r.mask);
            let thr = _mm512_mask_add_epi32(r.half, _mm512_cmplt_epi32_mask(q, zero), r.half, one);
            let sh = _mm512_srav_epi32(q, r.right);
            let res = _mm512_mask_add_epi32(sh, _mm512_cmpgt_epi32_mask(rem, thr), sh, one);
            let res = _mm512_min_epi32(
                _mm512_max_epi32(res, _mm512_set1_epi32(lo - zp)),
                _mm512_set1_epi32(hi - zp),
            );
            Avx512I32(_mm512_add_epi32(res, _mm512_set1_epi32(zp)))
        }
    }
    #[inline(always)]
    unsafe fn requant_clamp(self, mult: Self, shift: Self, zp: i32, lo: i32, hi: i32) -> Self {
        // As `Avx2I32::requant_clamp`, with mask registers.
        // SAFETY: AVX-512F (caller).
        unsafe {
            let (zero, one) = (_mm512_setzero_si512(), _mm512_set1_epi32(1));
            let left = _mm512_max_epi32(shift.0, zero);
            let right = _mm512_min_epi32(
                _mm512_max_epi32(_mm512_sub_epi32(zero, shift.0), zero),
                _mm512_set1_epi32(31),
            );
            let xs = _mm512_sllv_epi32(self.0, left);
            let nudge = _mm512_set1_epi64(1 << 30);
            let even = _mm512_add_epi64(_mm512_mul_epi32(xs, mult.0), nudge);
            let odd = _mm512_add_epi64(
                _mm512_mul_epi32(_mm512_srli_epi64(xs, 32), _mm512_srli_epi64(mult.0, 32)),
                nudge,
            );
            let q = _mm512_mask_blend_epi32(
                0xAAAA,
                _mm512_srli_epi64(even, 31),
                _mm512_slli_epi64(odd, 1),
            );
            let min = _mm512_set1_epi32(i32::MIN);
            let sat = _mm512_cmpeq_epi32_mask(xs, min) & _mm512_cmpeq_epi32_mask(mult.0, min);
            let q = _mm512_mask_mov_epi32(q, sat, _mm512_set1_epi32(i32::MAX));
            let mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, right), one);
            let rem = _mm512_and_si512(q, mask);
            let half = _mm512_srai_epi32(mask, 1);
            let thr = _mm512_mask_add_epi32(half, _mm512_cmplt_epi32_mask(q, zero), half, one);
            let sh = _mm512_srav_epi32(q, right);
            let r = _mm512_mask_add_epi32(sh, _mm512_cmpgt_epi32_mask(rem, thr), sh, one);
            let r = _mm512_min_epi32(
                _mm512_max_epi32(r, _mm512_set1_epi32(lo - zp)),
                _mm512_set1_epi32(hi - zp),
            );
            Avx512I32(_mm512_add_epi32(r, _mm512_set1_epi32(zp)))
        }
    }
    #[inline(always)]
    unsafe fn store_i8(self, p: *mut i8) {
        // SAFETY: AVX-512F (caller); 16 bytes at `p` (caller).
        unsafe { _mm_storeu_si128(p.cast(), _mm512_cvtepi32_epi8(self.0)) }
    }
    #[inline(always)]
    unsafe fn store_i8_partial(self, p: *mut i8, n: usize) {
        // SAFETY: AVX-512F (caller); `n < 16` bytes at `p` (caller), the
        // masked-off ones not written.
        unsafe { _mm512_mask_cvtepi32_storeu_epi8(p.cast(), ((1u32 << n) - 1) as u16, self.0) }
    }
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn splat(x: i32) -> Self {
        Avx512I32(unsafe { _mm512_set1_epi32(x) })
    }
    #[inline(always)]
    unsafe fn load_i8(p: *const i8) -> Self {
        Avx512I32(unsafe { _mm512_cvtepi8_epi32(_mm_loadu_si128(p.cast())) })
    }
    #[inline(always)]
    unsafe fn load(p: *const i32) -> Self {
        Avx512I32(unsafe { _mm512_loadu_si512(p.cast()) })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut i32) {
        unsafe { _mm512_storeu_si512(p.cast(), self.0) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        Avx512I32(unsafe { _mm512_add_epi32(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        Avx512I32(unsafe { _mm512_sub_epi32(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        Avx512I32(unsafe { _mm512_mullo_epi32(self.0, b.0) })
    }
    #[inline(always)]
    fn weight_lane(w: i8) -> i32 {
        // As `Avx2I32::weight_lane`.
        w as i16 as u16 as i32
    }
    #[inline(always)]
    unsafe fn mul_weight(self, w: Self) -> Self {
        // SAFETY: AVX-512BW (the caller); exact as `Avx2I32::mul_weight`.
        Avx512I32(unsafe { _mm512_madd_epi16(self.0, w.0) })
    }
}

/// Whether the CPU has all of the listed features: at compile time, or
/// with `std` by runtime detection.
macro_rules! has {
    ($($f:tt),+) => {
        (true $(&& cfg!(target_feature = $f))+) || detected!($($f),+)
    };
}

#[cfg(feature = "std")]
macro_rules! detected {
    ($($f:tt),+) => {
        (true $(&& std::is_x86_feature_detected!($f))+)
    };
}

#[cfg(not(feature = "std"))]
macro_rules! detected {
    ($($f:tt),+) => {
        false
    };
}

simd_table!(
    avx2_table, "avx2", "avx2,fma", has!("avx2", "fma"),
    f32: (Avx2F32, 6, 2, 8, 2),
    i8: (Avx2Madd<2>, Avx2Madd<1>, Avx2I32, 2),
    packing: crate::format::ISA_REFERENCE
);

simd_table!(
    avx512_table, "avx512", "avx512f,avx512bw,avx2,fma", has!("avx512f", "avx512bw", "avx2", "fma"),
    f32: (Avx512F32, 8, 2, 12, 2),
    i8: (Avx512Madd<2>, Avx512Madd<1>, Avx512I32, 2),
    packing: crate::format::ISA_REFERENCE
);

simd_table!(
    avx512vnni_table, "avx512vnni", "avx512f,avx512bw,avx512vnni,avx2,fma",
    has!("avx512f", "avx512bw", "avx512vnni", "avx2", "fma"),
    f32: (Avx512F32, 8, 2, 12, 2),
    i8: (Avx512Vnni<2, 12>, Avx512Vnni<1, 12>, Avx512I32, 2),
    packing: crate::packing::ISA_AVX512VNNI
);

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::kernels::test_util::requant_matches_scalar;

    #[target_feature(enable = "avx2")]
    unsafe fn avx2() {
        // SAFETY: AVX2 is enabled here.
        unsafe { requant_matches_scalar::<Avx2I32>() }
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn avx512() {
        // SAFETY: AVX-512F/BW are enabled here.
        unsafe { requant_matches_scalar::<Avx512I32>() }
    }

    #[test]
    fn requant_clamp_equals_the_scalar_form() {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: detected.
            unsafe { avx2() }
        }
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw") {
            // SAFETY: detected.
            unsafe { avx512() }
        }
    }
}
