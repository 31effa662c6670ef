//! The int8 256-entry lookup ([`lut`](super::lut)) on AVX-512 VBMI: per 64
//! bytes, `vpermi2b` looks each index up in both 128-byte halves of the
//! table and the index's top bit picks the half. The index of `x` is
//! `x + 128`, i.e. `x ^ 0x80` as a byte.

use core::arch::x86_64::*;

/// Whether this CPU runs [`lut`]: detected at run time with `std`, from the
/// build's target features otherwise.
#[inline]
pub(crate) fn available() -> bool {
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("avx512vbmi")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(all(
            target_feature = "avx512bw",
            target_feature = "avx512vbmi"
        ))
    }
}

/// `out[i] = table[x[i] + 128]` for `i < n`; `x` may equal `out` (in place).
///
/// # Safety
/// The CPU has AVX-512F/BW/VBMI ([`available`]); `table` holds 256 values;
/// `x` is valid for `n` reads and `out` for `n` writes, and the two are the
/// same pointer or do not overlap.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn lut(table: &[i8], x: *const i8, out: *mut i8, n: usize) {
    assert!(table.len() >= 256, "table length");
    // SAFETY: the CPU features and pointer ranges are the caller's; the
    // table loads read `table[0..256]`; masked-off bytes are neither read
    // nor written.
    unsafe {
        let t = table.as_ptr();
        let (t0, t1) = (
            _mm512_loadu_si512(t.cast()),
            _mm512_loadu_si512(t.add(64).cast()),
        );
        let (t2, t3) = (
            _mm512_loadu_si512(t.add(128).cast()),
            _mm512_loadu_si512(t.add(192).cast()),
        );
        let flip = _mm512_set1_epi8(-128);
        let mut i = 0;
        while i < n {
            let (len, mask) = block(n - i);
            let idx = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, x.add(i)), flip);
            let lo = _mm512_permutex2var_epi8(t0, idx, t1);
            let hi = _mm512_permutex2var_epi8(t2, idx, t3);
            let r = _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi);
            _mm512_mask_storeu_epi8(out.add(i), mask, r);
            i += len;
        }
    }
}

/// The next block of a byte loop with `left > 0` bytes to go: its length
/// (at most 64) and the mask of its bytes.
#[inline(always)]
pub(super) fn block(left: usize) -> (usize, u64) {
    let len = left.min(64);
    let mask = if len == 64 {
        u64::MAX
    } else {
        (1u64 << len) - 1
    };
    (len, mask)
}
