//! Reinterpreting validated byte ranges as typed element slices.
//!
//! `Model::load` checks that the image and every constant tensor are aligned
//! to [`crate::format::ALIGN`]; `Interpreter::new` aligns the arena. Every
//! range cast here is therefore aligned for its element type. The helpers
//! still degrade safely (to an empty slice) if handed a misaligned range.

/// Views bytes as `f32` values (every bit pattern is a valid `f32`).
#[inline]
pub(crate) fn f32s(b: &[u8]) -> &[f32] {
    // SAFETY: `align_to` only yields the correctly aligned middle part, and any
    // 4-byte pattern is a valid f32.
    let (head, mid, _) = unsafe { b.align_to::<f32>() };
    if head.is_empty() {
        mid
    } else {
        &[]
    }
}

/// Views bytes as mutable `f32` values.
#[inline]
pub(crate) fn f32s_mut(b: &mut [u8]) -> &mut [f32] {
    // SAFETY: as in `f32s`; the exclusive borrow of `b` is carried over.
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

/// Views bytes as `i32` values.
#[inline]
pub(crate) fn i32s(b: &[u8]) -> &[i32] {
    // SAFETY: `align_to` yields only the aligned middle; any pattern is a valid i32.
    let (head, mid, _) = unsafe { b.align_to::<i32>() };
    if head.is_empty() {
        mid
    } else {
        &[]
    }
}
