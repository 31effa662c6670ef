//! Operands shared by the kernel benchmarks.

use ferrite::kernels::i8_gemm::QGemmParams;

/// The int8 GEMM benchmarks' zero points (no clamp beyond int8's range).
pub const GEMM_QPARAMS: QGemmParams = QGemmParams {
    a_zp: 3,
    b_zp: 0,
    out_zp: -5,
    act_min: -128,
    act_max: 127,
};

/// The int8 GEMM benchmarks' requantization of `n` channels: `(mult,
/// shift) = (2^30, -8)` each.
pub fn gemm_requant(n: usize) -> Vec<i32> {
    (0..n).flat_map(|_| [1 << 30, -8]).collect()
}

/// `n` pseudo-random bytes (a linear congruential generator from `seed`).
pub fn bytes(n: usize, seed: u32) -> Vec<i8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 24) as i8
        })
        .collect()
}

/// [`bytes`] scaled into `[-1, 1)`.
pub fn floats(n: usize, seed: u32) -> Vec<f32> {
    bytes(n, seed)
        .into_iter()
        .map(|b| b as f32 / 128.0)
        .collect()
}

/// `len` elements of `buf` from a 64-byte boundary, where the compiler puts
/// packed weights in a `.fer` (`buf` has 64 bytes to spare; also the L1
/// panels of `peak`).
pub fn cache_line<T>(buf: &mut [T], len: usize) -> &mut [T] {
    let off = buf.as_ptr().align_offset(64);
    &mut buf[off..off + len]
}
