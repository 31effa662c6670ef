//! Reinterpreting validated byte ranges as typed element slices.
//!
//! `Model::load` checks that the image and every constant tensor are aligned
//! to [`crate::format::ALIGN`]; `Interpreter::new` aligns the arena. Every
//! range cast here is therefore aligned for its element type. The helpers
//! still degrade safely (to an empty slice) if handed a misaligned range.

/// Element types for which every bit pattern of their size is a value.
///
/// # Safety
/// Implementors must accept any bit pattern (no niches, no padding).
unsafe trait Plain: Copy {}
// SAFETY: every 4-byte pattern is an f32 (NaNs included), an i32 and a u32.
unsafe impl Plain for f32 {}
// SAFETY: as above.
unsafe impl Plain for i32 {}
// SAFETY: as above.
unsafe impl Plain for u32 {}

/// The aligned bytes as `T` values; empty if `b` is misaligned for `T`.
#[inline]
fn plain<T: Plain>(b: &[u8]) -> &[T] {
    // SAFETY: `align_to` only yields the correctly aligned middle part, and
    // any bit pattern is a valid `T` (`Plain`).
    let (head, mid, _) = unsafe { b.align_to::<T>() };
    if head.is_empty() {
        mid
    } else {
        &[]
    }
}

/// Views bytes as `f32` values (every bit pattern is a valid `f32`).
#[inline]
pub(crate) fn f32s(b: &[u8]) -> &[f32] {
    plain(b)
}

/// Views bytes as mutable `f32` values.
#[inline]
pub(crate) fn f32s_mut(b: &mut [u8]) -> &mut [f32] {
    // SAFETY: as in `plain`; the exclusive borrow of `b` is carried over.
    let (head, mid, _) = unsafe { b.align_to_mut::<f32>() };
    if head.is_empty() {
        mid
    } else {
        &mut []
    }
}

/// Views bytes as `i8` values.
#[inline]
pub(crate) fn i8s(b: &[u8]) -> &[i8] {
    // SAFETY: i8 and u8 have the same size, alignment and validity.
    unsafe { core::slice::from_raw_parts(b.as_ptr().cast::<i8>(), b.len()) }
}

/// Views bytes as mutable `i8` values.
#[inline]
pub(crate) fn i8s_mut(b: &mut [u8]) -> &mut [i8] {
    // SAFETY: i8 and u8 have the same size, alignment and validity; the
    // exclusive borrow of `b` is carried over.
    unsafe { core::slice::from_raw_parts_mut(b.as_mut_ptr().cast::<i8>(), b.len()) }
}

/// Views bytes as `u32` words (in the file's little-endian order: read
/// them through `u32::from_le`).
#[inline]
pub(crate) fn u32s(b: &[u8]) -> &[u32] {
    plain(b)
}

/// Views bytes as `i32` values.
#[inline]
pub(crate) fn i32s(b: &[u8]) -> &[i32] {
    plain(b)
}
