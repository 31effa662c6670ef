//! The portable kernel table: the tiled drivers of the SIMD tables over
//! plain fixed-size arrays (4 f32 lanes; a 4 × 8 `i32` int8 tile), which
//! LLVM vectorizes for whatever the target offers (e.g. NEON on a
//! `thumbv7neon` Pi OS build) and which Miri can run. Its f32 "fma" is a
//! rounded product plus a rounded sum, the reference's arithmetic in the
//! reference's order; the only difference is that a padded conv tap adds a
//! zero product where the reference skips it, which changes nothing for
//! finite weights but the sign of an all-zero sum. int8 is bit-identical.

use super::f32_conv::ConvParams;
use super::i8_conv::QConvParams;
use super::i8_elementwise::{Operand, QBinary};
use super::i8_gemm::tiled::QMicro;
use super::i8_gemm::QGemmParams;
use super::select::{table, Kernels};
use super::simd::{F32Simd, I32Simd};
use super::Act;

/// Four i32 lanes in an array.
#[derive(Clone, Copy)]
pub(crate) struct I32x4([i32; 4]);

impl I32Simd for I32x4 {
    type Half = I32x4;
    crate::kernels::simd::requant_unprepared!();
    crate::kernels::simd::uniform_as_lanes!();
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn splat(x: i32) -> Self {
        I32x4([x; 4])
    }
    #[inline(always)]
    unsafe fn load_i8(p: *const i8) -> Self {
        // SAFETY: the caller guarantees 4 readable values at `p`.
        I32x4(core::array::from_fn(|l| unsafe { *p.add(l) } as i32))
    }
    #[inline(always)]
    unsafe fn load(p: *const i32) -> Self {
        // SAFETY: as `load_i8`.
        I32x4(unsafe { p.cast::<[i32; 4]>().read_unaligned() })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut i32) {
        // SAFETY: the caller guarantees 4 writable values at `p`.
        unsafe { p.cast::<[i32; 4]>().write_unaligned(self.0) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        I32x4(core::array::from_fn(|l| self.0[l].wrapping_add(b.0[l])))
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        I32x4(core::array::from_fn(|l| self.0[l].wrapping_sub(b.0[l])))
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        I32x4(core::array::from_fn(|l| self.0[l].wrapping_mul(b.0[l])))
    }
}

/// Four f32 lanes in an array.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub(crate) struct F32x4([f32; 4]);

impl F32Simd for F32x4 {
    const LANES: usize = 4;
    const FUSED: bool = false;
    #[inline(always)]
    unsafe fn zero() -> Self {
        F32x4([0.0; 4])
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        F32x4([x; 4])
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller guarantees 4 readable values at `p`.
        F32x4(unsafe { p.cast::<[f32; 4]>().read_unaligned() })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees 4 writable values at `p`.
        unsafe { p.cast::<[f32; 4]>().write_unaligned(self.0) }
    }
    #[inline(always)]
    unsafe fn fma(self, a: Self, b: Self) -> Self {
        let mut r = self.0;
        for ((r, &a), &b) in r.iter_mut().zip(&a.0).zip(&b.0) {
            *r += a * b;
        }
        F32x4(r)
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        let mut r = self.0;
        for (r, &b) in r.iter_mut().zip(&b.0) {
            *r += b;
        }
        F32x4(r)
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        let mut r = self.0;
        for (r, &b) in r.iter_mut().zip(&b.0) {
            *r *= b;
        }
        F32x4(r)
    }
    #[inline(always)]
    #[allow(clippy::manual_clamp)] // Act::Clamp's NaN rule
    unsafe fn clamp(self, lo: Self, hi: Self) -> Self {
        F32x4(core::array::from_fn(|i| {
            self.0[i].max(lo.0[i]).min(hi.0[i])
        }))
    }
}

/// A 4 × 8 int8 tile on `i32` arrays, one `k` per step.
pub(crate) struct Q4x8;

impl QMicro for Q4x8 {
    type V = I32x4;
    const MR: usize = 4;
    const NR: usize = 8;
    const G: usize = 1;
    const KSTEP: usize = 1;
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
        // SAFETY: the caller guarantees `[4][lda]` values of A, `kp · 8` of
        // B and 4 × 8 accumulators.
        unsafe {
            let mut c = acc.cast::<[[i32; 8]; 4]>().read_unaligned();
            for k in 0..kp {
                let bk = b.add(k * 8).cast::<[i16; 8]>().read_unaligned();
                for (r, cr) in c.iter_mut().enumerate() {
                    let av = *a.add(r * lda + k) as i32;
                    for (cv, &bv) in cr.iter_mut().zip(&bk) {
                        *cv = cv.wrapping_add(av * bv as i32);
                    }
                }
            }
            acc.cast::<[[i32; 8]; 4]>().write_unaligned(c);
        }
    }
}

fn f32_conv(
    p: &ConvParams,
    x: &[f32],
    xs: [usize; 4],
    w: &[f32],
    b: Option<&[f32]>,
    y: &mut [f32],
    ys: [usize; 4],
) {
    // SAFETY: F32x4 needs no CPU feature.
    unsafe { super::f32_conv::simd::<F32x4, 4, 2, 4, 2>(p, x, xs, w, b, y, ys) }
}

fn f32_conv_transpose(
    p: &ConvParams,
    x: &[f32],
    xs: [usize; 4],
    w: &[f32],
    b: Option<&[f32]>,
    y: &mut [f32],
    ys: [usize; 4],
) {
    // SAFETY: F32x4 needs no CPU feature.
    unsafe { super::f32_conv::simd_transpose::<F32x4, 4, 2, 4>(p, x, xs, w, b, y, ys) }
}

#[allow(clippy::too_many_arguments)]
fn i8_conv(
    p: &QConvParams,
    x: &[i8],
    xs: [usize; 4],
    w: &[i8],
    b: &[i32],
    rq: &[i32],
    y: &mut [i8],
    ys: [usize; 4],
) {
    // SAFETY: Q4x8 needs no CPU feature.
    unsafe { super::i8_conv::simd::<Q4x8, Q4x8, I32x4, 2>(p, x, xs, w, b, rq, y, ys) }
}

#[allow(clippy::too_many_arguments)]
fn f32_gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    act: Act,
    c: &mut [f32],
) {
    // SAFETY: F32x4 needs no CPU feature.
    unsafe { super::f32_gemm::simd::<F32x4, 4, 2, 4>(m, k, n, a, b, bias, act, c) }
}

#[allow(clippy::too_many_arguments)]
fn i8_gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[i8],
    b: &[i8],
    bias: Option<&[i32]>,
    rq: &[i32],
    p: &QGemmParams,
    c: &mut [i8],
) {
    // SAFETY: Q4x8 needs no CPU feature.
    unsafe { super::i8_gemm::simd::<Q4x8, Q4x8>(m, k, n, a, b, bias, rq, p, c) }
}

fn i8_binary(
    op: &QBinary,
    a: Operand<'_>,
    b: Operand<'_>,
    out: &mut [i8],
    shape: [usize; super::MAX_RANK],
) {
    // SAFETY: `I32x4` is plain Rust arrays; 8 is a multiple of its lanes.
    unsafe { super::i8_elementwise::binary_blocked::<I32x4, 8>(op, a, b, out, shape) }
}

/// The portable table.
pub static PORTABLE: Kernels = table(
    "portable",
    crate::format::ISA_REFERENCE,
    f32_conv,
    f32_conv_transpose,
    i8_conv,
    super::select::NO_PACKED,
    f32_gemm,
    i8_gemm,
    i8_binary,
    (
        super::softmax::reference,
        super::i8_elementwise::quantize,
        super::i8_elementwise::lut_any,
        super::elementwise::unary_any,
    ),
    (
        super::select::REFERENCE_F32_BINARY,
        super::select::REFERENCE_F32_POOL,
    ),
);

#[cfg(test)]
mod tests {
    #[test]
    fn requant_clamp_equals_the_scalar_form() {
        // SAFETY: plain Rust arrays.
        unsafe { crate::kernels::test_util::requant_matches_scalar::<super::I32x4>() }
    }
}
