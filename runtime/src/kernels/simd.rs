//! The vector operations the generic SIMD kernels are written in.
//!
//! Each ISA module (`x86.rs`, `neon.rs`, `portable.rs`) implements
//! [`F32Simd`] and [`I32Simd`] for its register types. The generic kernels are `#[inline(always)]` so that they
//! are compiled inside the ISA's `#[target_feature]` entry point, where
//! the intrinsics inline.
//!
//! Every method is `unsafe`: the caller guarantees that the CPU supports
//! the implementing ISA (the kernel tables of
//! [`select`](super::select) only hand out supported ones) and, for loads
//! and stores, that `LANES` elements at the pointer are in bounds.

/// A vector of `LANES` f32 values.
pub(crate) trait F32Simd: Copy {
    /// Number of f32 lanes.
    const LANES: usize;
    /// All lanes `0.0`.
    unsafe fn zero() -> Self;
    /// All lanes `x`.
    unsafe fn splat(x: f32) -> Self;
    /// Unaligned load of `LANES` values.
    unsafe fn load(p: *const f32) -> Self;
    /// Unaligned store of `LANES` values.
    unsafe fn store(self, p: *mut f32);
    /// `self + a * b` with one rounding (fused multiply-add).
    unsafe fn fma(self, a: Self, b: Self) -> Self;
    /// `self + b`.
    unsafe fn add(self, b: Self) -> Self;
    /// `self * b` (rounded: never fused with a following `add`).
    unsafe fn mul(self, b: Self) -> Self;
    /// `max(self, lo)` then `min(.., hi)`, lane-wise, with `Act::Clamp`'s
    /// NaN rule (a NaN lane becomes `lo`).
    unsafe fn clamp(self, lo: Self, hi: Self) -> Self;
}

/// A vector of `LANES` i32 values (the int8 depthwise conv's accumulators).
pub(crate) trait I32Simd: Copy {
    /// Number of i32 lanes (at most 16).
    const LANES: usize;
    /// All lanes `x`.
    unsafe fn splat(x: i32) -> Self;
    /// `LANES` i8 values at `p`, sign-extended.
    unsafe fn load_i8(p: *const i8) -> Self;
    /// Unaligned load of `LANES` values.
    unsafe fn load(p: *const i32) -> Self;
    /// Unaligned store of `LANES` values.
    unsafe fn store(self, p: *mut i32);
    /// `self + b`, wrapping.
    unsafe fn add(self, b: Self) -> Self;
    /// `self - b`, wrapping.
    unsafe fn sub(self, b: Self) -> Self;
    /// `self * b`, the low 32 bits of the product.
    unsafe fn mul(self, b: Self) -> Self;
}
