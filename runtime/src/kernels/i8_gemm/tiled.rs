//! Register-blocked int8 GEMM with int32 accumulation and fused
//! requantization over an indirect (im2col-free) A operand: the SIMD form
//! of int8 `Conv2d` with `groups == 1` and of int8 `MatMul` with symmetric
//! weights (`b_zp == 0`). Generic over the micro-kernel ([`QMicro`]); the
//! ISA files supply those (`x86.rs`: AVX-512 VNNI `vpdpbusd`, AVX2
//! `vpmaddwd`; `neon.rs`: `sdot`, `smlal`).
//!
//! Rows of A are output pixels, as in the f32 driver
//! ([`Geometry`]). Per block of `NR` output channels and chunk of at most
//! [`KC`] reduction steps:
//! * B is packed into a `[k / G][NR][G]` stack panel (`G` consecutive `k`
//!   of one channel together, as `vpdpbusd` / `sdot` consume them), zeros
//!   past the last channel and the end of the chunk;
//! * each `MR`-row tile of A is gathered into a row-major `[MR][kp]` stack
//!   panel of the micro-kernel's element type (`kp`: the chunk rounded up to
//!   the micro-kernel's step), padding taps as the input zero point.
//!
//! Arithmetic: the micro-kernel computes `Σ_k b·a(x)` exactly in `i32`
//! (mod 2^32), where `a(x) = x − zp + offset` for an ISA-specific `offset`
//! (`vpdpbusd` multiplies unsigned bytes, so it reads `x + 128`). The
//! accumulator starts at `bias[o] − offset·Σ_k b[k, o]`, so the result is the
//! reference's `bias[o] + Σ_k b·(x − zp)` mod 2^32 bit for bit; padding taps
//! read `x = zp` and contribute 0, as the reference's skipped taps.
//! Requantization is [`requantize_clamp`], per lane.

use super::super::f32_gemm::tiled::Geometry;
use crate::quant::requantize_clamp;

/// Reduction steps packed at a time.
pub(crate) const KC: usize = 512;
/// Widest `NR` of any micro-kernel.
pub(crate) const NR_MAX: usize = 32;
/// Rows of A whose accumulators are kept between K chunks.
const MC: usize = 64;

/// An int8 micro-kernel: `acc[r][j] += Σ_{k < kp} a[r][k] · b[k][j]`.
pub(crate) trait QMicro {
    /// Rows of the register tile.
    const MR: usize;
    /// Output channels of the register tile (`<= NR_MAX`).
    const NR: usize;
    /// Consecutive `k` of one channel stored together in the B panel.
    const G: usize;
    /// `k` consumed per inner iteration; `kp` is a multiple of it.
    const KSTEP: usize;
    /// Packed A element.
    type A: Copy;
    /// Packed B element.
    type B: Copy;
    /// Zero of `B`.
    const B_ZERO: Self::B;
    /// The packed A value of input `x`: `x − zp + offset(zp)` in `A`.
    fn a_val(x: i8, zp: i32) -> Self::A;
    /// The packed B value of weight `w`.
    fn b_val(w: i8) -> Self::B;
    /// The constant that `a_val` adds to `x − zp`.
    fn offset(zp: i32) -> i32;
    /// Accumulates one tile: `a` is `[MR][lda]`, `b` is the `[kp / G][NR][G]`
    /// panel, `acc` is `[MR][NR]` row-major.
    ///
    /// # Safety
    /// The CPU supports the micro-kernel's ISA; `kp` is a multiple of
    /// `KSTEP` and the panels hold `kp` steps.
    unsafe fn tile(a: *const Self::A, lda: usize, b: *const Self::B, kp: usize, acc: *mut i32);
}

/// Where the output-channel weights come from.
#[derive(Clone, Copy)]
pub(crate) enum QBSource<'a> {
    /// OHWI conv weights: channel `o`'s `K` values at `w[o*K..]`.
    PerOutput(&'a [i8]),
    /// `MatMul`'s row-major `b [K, n]` (zero point 0).
    PerK(&'a [i8]),
}

impl QBSource<'_> {
    #[inline(always)]
    fn get(&self, k: usize, o: usize, k_total: usize, n_total: usize) -> i8 {
        match self {
            QBSource::PerOutput(w) => w[o * k_total + k],
            QBSource::PerK(b) => b[k * n_total + o],
        }
    }
}

/// Requantization and zero points of one int8 GEMM.
#[derive(Clone, Copy)]
pub(crate) struct QOut<'a> {
    pub in_zp: i32,
    pub out_zp: i32,
    pub act_min: i32,
    pub act_max: i32,
    /// `(mult, shift)` pairs: one (per tensor) or one per output channel.
    pub requant: &'a [i32],
}

/// `out = clamp(requant(A·B + bias))`; see the module docs.
///
/// # Safety
/// The CPU supports `Q`'s instructions.
#[inline(always)]
pub(crate) unsafe fn qgemm<Q: QMicro>(
    g: &Geometry,
    x: &[i8],
    b: QBSource<'_>,
    bias: Option<&[i32]>,
    q: &QOut<'_>,
    out: &mut [i8],
) {
    let (m_total, k_total, oc) = (g.m(), g.k(), g.out_shape[3]);
    let ic = g.in_shape[3];
    // The micro-kernel's panel reads rely on the first; the rest are
    // checked by slicing, here once per call.
    assert!(
        Q::NR <= NR_MAX
            && Q::MR <= 8
            && KC.is_multiple_of(Q::KSTEP)
            && Q::KSTEP.is_multiple_of(Q::G)
    );
    assert!(
        x.len() >= g.in_shape.iter().product::<usize>(),
        "input too short"
    );
    assert!(out.len() >= m_total * oc, "output too short");
    assert!(g.out_shape[0] <= g.in_shape[0], "batch mismatch");
    assert!(
        q.requant.len() == 2 || q.requant.len() >= 2 * oc,
        "requant too short"
    );
    if m_total == 0 || oc == 0 {
        return;
    }
    let per_channel = q.requant.len() != 2;
    let mc = MC / Q::MR * Q::MR;
    let a_pad = Q::a_val(q.in_zp as i8, q.in_zp);
    let mut bpanel = [Q::B_ZERO; KC * NR_MAX];
    let mut apanel = [a_pad; KC * 8];
    let mut acc = [0i32; MC * NR_MAX];
    let n_chunks = k_total.div_ceil(KC).max(1);
    for n0 in (0..oc).step_by(Q::NR) {
        let nv = Q::NR.min(oc - n0);
        // acc starts at bias - offset * sum_k b (mod 2^32).
        let mut init = [0i32; NR_MAX];
        let mut mult = [0i32; NR_MAX];
        let mut shift = [0i32; NR_MAX];
        let off = Q::offset(q.in_zp);
        for j in 0..nv {
            let mut s = 0i32;
            for k in 0..k_total {
                s = s.wrapping_add(b.get(k, n0 + j, k_total, oc) as i32);
            }
            init[j] = bias
                .map_or(0, |bias| bias[n0 + j])
                .wrapping_sub(off.wrapping_mul(s));
            let r = if per_channel { 2 * (n0 + j) } else { 0 };
            mult[j] = q.requant[r];
            shift[j] = q.requant[r + 1];
        }
        let mut packed = usize::MAX;
        for m0 in (0..m_total).step_by(mc) {
            let rows = mc.min(m_total - m0);
            for r in 0..rows {
                acc[r * Q::NR..][..Q::NR].copy_from_slice(&init[..Q::NR]);
            }
            for c in 0..n_chunks {
                let (k0, k1) = (c * KC, ((c + 1) * KC).min(k_total));
                let kp = (k1 - k0).div_ceil(Q::KSTEP) * Q::KSTEP;
                if packed != c {
                    pack_b::<Q>(b, k_total, oc, (k0, k1, kp), (n0, nv), &mut bpanel);
                    packed = c;
                }
                for t0 in (0..rows).step_by(Q::MR) {
                    let tr = Q::MR.min(rows - t0);
                    pack_a::<Q>(g, x, ic, q.in_zp, m0 + t0, tr, (k0, k1, kp), &mut apanel);
                    // SAFETY: the CPU supports Q (caller); the panels hold
                    // `kp` steps (`kp <= KC`, `MR <= 8`, `NR <= NR_MAX`) and
                    // `acc` rows `t0..t0 + MR` lie within `MC` (`mc` is a
                    // multiple of MR).
                    unsafe {
                        Q::tile(
                            apanel.as_ptr(),
                            kp,
                            bpanel.as_ptr(),
                            kp,
                            acc.as_mut_ptr().add(t0 * Q::NR),
                        );
                    }
                }
            }
            for r in 0..rows {
                let y = &mut out[(m0 + r) * oc + n0..][..nv];
                let a = &acc[r * Q::NR..][..Q::NR];
                requant_row::<NR_MAX>(a, &mult, &shift, q, y);
            }
        }
    }
}

/// Requantizes one row of accumulators (`y.len()` lanes).
#[inline(always)]
fn requant_row<const N: usize>(
    acc: &[i32],
    mult: &[i32; N],
    shift: &[i32; N],
    q: &QOut<'_>,
    y: &mut [i8],
) {
    for (j, v) in y.iter_mut().enumerate() {
        *v = requantize_clamp(acc[j], mult[j], shift[j], q.out_zp, q.act_min, q.act_max);
    }
}

/// Packs steps `k0..k1` (padded with zero weights to `kp`) of channels
/// `n0..n0 + nv` (zeros up to `NR`) as `[k / G][NR][G]`.
#[inline(always)]
fn pack_b<Q: QMicro>(
    b: QBSource<'_>,
    k_total: usize,
    n_total: usize,
    (k0, k1, kp): (usize, usize, usize),
    (n0, nv): (usize, usize),
    panel: &mut [Q::B],
) {
    let (nr, gs) = (Q::NR, Q::G);
    panel[..kp * nr].fill(Q::B_ZERO);
    match b {
        QBSource::PerOutput(w) => {
            for j in 0..nv {
                let src = &w[(n0 + j) * k_total + k0..(n0 + j) * k_total + k1];
                for (kk, &v) in src.iter().enumerate() {
                    panel[(kk / gs) * nr * gs + j * gs + kk % gs] = Q::b_val(v);
                }
            }
        }
        QBSource::PerK(bm) => {
            for kk in 0..k1 - k0 {
                let src = &bm[(k0 + kk) * n_total + n0..][..nv];
                let base = (kk / gs) * nr * gs + kk % gs;
                for (j, &v) in src.iter().enumerate() {
                    panel[base + j * gs] = Q::b_val(v);
                }
            }
        }
    }
}

/// Gathers steps `k0..k1` of A rows `m0..m0 + rows` into `[MR][kp]`; rows
/// past `rows` repeat the last one, steps past `k1` hold the padding value.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pack_a<Q: QMicro>(
    g: &Geometry,
    x: &[i8],
    ic: usize,
    zp: i32,
    m0: usize,
    rows: usize,
    (k0, k1, kp): (usize, usize, usize),
    panel: &mut [Q::A],
) {
    let pad = Q::a_val(zp as i8, zp);
    for r in 0..Q::MR {
        let origin = g.origin(m0 + r.min(rows - 1));
        let dst = &mut panel[r * kp..(r + 1) * kp];
        let mut k = k0;
        while k < k1 {
            let (t, i0) = (k / ic, k % ic);
            let seg = (ic - i0).min(k1 - k);
            let d = &mut dst[k - k0..k - k0 + seg];
            match g.tap_offset(origin, t / g.kernel[1], t % g.kernel[1]) {
                Some(off) => {
                    for (a, &v) in d.iter_mut().zip(&x[off + i0..off + i0 + seg]) {
                        *a = Q::a_val(v, zp);
                    }
                }
                None => d.fill(pad),
            }
            k += seg;
        }
        dst[k1 - k0..].fill(pad);
    }
}
