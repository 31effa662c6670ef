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

/// Sixteen f32 lanes (AVX-512F).
#[derive(Clone, Copy)]
pub(crate) struct Avx512F32(__m512);

impl F32Simd for Avx512F32 {
    const LANES: usize = 16;
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
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees AVX-512F and 16 writable values.
        unsafe { _mm512_storeu_ps(p, self.0) }
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
}

/// Sixteen i32 lanes (AVX-512F).
#[derive(Clone, Copy)]
pub(crate) struct Avx512I32(__m512i);

// SAFETY (every method): as for `Avx2I32`, with AVX-512F.
impl I32Simd for Avx512I32 {
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
    i8: (Avx512Vnni<2>, Avx512Vnni<1>, Avx512I32, 2),
    packing: crate::packing::ISA_AVX512VNNI
);
