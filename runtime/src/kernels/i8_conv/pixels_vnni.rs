//! int8 `Conv2d` (`groups == 1`) of few output channels on AVX-512 VNNI,
//! vectorized over output pixels instead of output channels.
//!
//! The tiled GEMM puts output channels in the lanes: a conv to 24 channels
//! fills 24 of its 32 (and one to 12 channels 12 of 16). Here a block is
//! 32 horizontally adjacent output pixels of one output row, in two
//! vectors of 16 `i32` lanes, and each channel of a group of up to 12 has
//! its own pair of accumulators: per four input channels of a tap, two
//! loads of the pixels' bytes and two `vpdpbusd` per channel with that
//! channel's four weights broadcast from the packed weights (`[oc /
//! NR][kp / 4][NR][4]`, [`crate::packing`]) as they lie. The layout of
//! blocks, spans and strips is `f32_conv::pixels`'s.
//!
//! The pixels' four bytes must lie in one vector, so the input rows a
//! block reads are first transposed into strips `[ic / 4][cols]` of
//! 32-bit words (word `(q, i)` is bytes `4q..4q + 4` of the strip's pixel
//! `i`), flipped to `x + 128` as `vpdpbusd` multiplies unsigned bytes.
//! Columns outside the image, and whole rows outside it, hold `in_zp +
//! 128` in every byte. A strip covers the columns that a span of output
//! pixels reads (stride and dilation 1 along the width); the strips of
//! the last `kh` input rows are kept, so with `stride_h <` `kh` each row
//! is transposed once per span.
//!
//! Arithmetic, the reference's bit for bit: every tap, padding included,
//! adds `w·(x + 128)`; the packed weights' folded bias `bias − (in_zp +
//! 128)·Σ w` then leaves `bias + Σ w·(x − in_zp)` over the in-image taps
//! (mod 2^32), as the reference sums (the tiled GEMM's argument). Then
//! [`I32Simd::requant_uniform`] with the channel's multiplier and shift,
//! the requantization of every table. The last block of a span may
//! overlap the previous one; it recomputes the same values.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::QConvParams;
use crate::kernels::f32_conv::pixels::{
    group, slots, span_px, GROUP, KH_MAX, K_MIN, OC_MAX, PV, RING,
};
use crate::kernels::simd::{F32Simd, I32Simd};
use crate::kernels::x86::{Avx512F32, Avx512I32, Avx512Uniform};

/// Output pixels per block (`PV` vectors of 16 `i32` lanes).
const PX: usize = 16 * PV;

/// Whether [`conv`] takes this int8 conv over weights packed with `nr`
/// channels per block: one group, stride and dilation 1 along the width,
/// whole words of input channels, at least one block of output pixels,
/// and a channel tile at most 80% used by `oc`.
pub(crate) fn applies(
    p: &QConvParams,
    in_shape: [usize; 4],
    out_shape: [usize; 4],
    nr: usize,
) -> bool {
    let (ic, (ow, oc)) = (in_shape[3], (out_shape[2], out_shape[3]));
    let (kh, kw) = (p.kernel_h, p.kernel_w);
    p.groups == 1
        && p.stride_w == 1
        && p.dilation_w == 1
        && ic.is_multiple_of(4)
        && kh * kw * ic >= K_MIN
        && (1..=KH_MAX).contains(&kh)
        && ow >= PX
        && (1..=OC_MAX).contains(&oc)
        && nr.is_multiple_of(8)
        && oc.div_ceil(nr) * nr * 4 > oc * 5
        && span_px(kh, kw, ic / 4, PX) >= PX
}

/// int8 Conv2d of a shape that [`applies`] over the table's packed
/// weights `w` (`nr` channels per block) and folded `bias`.
///
/// # Safety
/// The CPU supports AVX-512F/BW/VNNI.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn conv(
    p: &QConvParams,
    x: &[i8],
    in_shape: [usize; 4],
    w: &[i8],
    nr: usize,
    bias: &[i32],
    requant: &[i32],
    out: &mut [i8],
    out_shape: [usize; 4],
) {
    let [n, ih, iw, ic] = in_shape;
    let [_, oh, ow, oc] = out_shape;
    let (kh, kw) = (p.kernel_h, p.kernel_w);
    let q4 = ic / 4;
    let kp = kh * kw * ic;
    assert!(applies(p, in_shape, out_shape, nr) && nr <= 32);
    assert!(x.len() >= n * ih * iw * ic && out.len() >= n * oh * ow * oc);
    assert!(w.len() >= oc.div_ceil(nr) * nr * kp);
    assert!(bias.len() >= oc && requant.len() >= 2 * oc);
    let span = span_px(kh, kw, q4, PX);
    let ws_max = span + kw - 1;
    let pad = u32::from_ne_bytes([(p.in_zp + 128) as u8; 4]);
    // The prepared output stage of each channel.
    let mut uni = [const { MaybeUninit::<Avx512Uniform>::uninit() }; OC_MAX];
    for (o, u) in uni.iter_mut().enumerate().take(oc) {
        // SAFETY: AVX-512F (caller).
        u.write(unsafe { Avx512I32::uniform_prep(requant[2 * o], requant[2 * o + 1]) });
    }
    // SAFETY: the first `oc` entries were written above.
    let uni = unsafe { core::slice::from_raw_parts(uni.as_ptr().cast::<Avx512Uniform>(), oc) };
    // Strips: slot `s` at `ring[s·q4·ws_max..]`, `q4` rows of `ws_max`
    // words each, holding input row `tag[s]` (batch, row) of the span.
    // Read only after `fill` wrote it.
    let mut ring = MaybeUninit::<[u32; RING]>::uninit();
    let ring = ring.as_mut_ptr().cast::<u32>();
    assert!(kh * q4 * ws_max <= RING);
    let out_q = (p.out_zp, p.act_min, p.act_max);
    for s0 in (0..ow).step_by(span) {
        let sa = s0.min(ow - PX);
        let se = (s0 + span).min(ow);
        let ws = se - sa + kw - 1;
        let mut tag = [None::<(usize, isize)>; KH_MAX];
        for b in 0..n {
            for oy in 0..oh {
                let want: [isize; KH_MAX] = core::array::from_fn(|ky| {
                    (oy * p.stride_h + ky * p.dilation_h) as isize - p.pad_top as isize
                });
                let (slot, fresh) = slots(&mut tag, b, &want[..kh]);
                for ky in (0..kh).filter(|&ky| fresh[ky]) {
                    let ix0 = sa as isize - p.pad_left as isize;
                    let strip = ring.wrapping_add(slot[ky] * q4 * ws_max);
                    // SAFETY: AVX-512F (caller); slot `s < kh` holds
                    // `q4·ws_max` words (the ring's size checked above),
                    // `ws <= ws_max`.
                    unsafe { fill(x, in_shape, (b, want[ky]), ix0, pad, strip, ws_max, ws) };
                }
                let rows: [*const u32; KH_MAX] = core::array::from_fn(|ky| {
                    ring.wrapping_add(slot[ky] * q4 * ws_max).cast_const()
                });
                let y_row = (b * oh + oy) * ow;
                for x0 in (sa..se).step_by(PX) {
                    let xb = x0.min(se - PX);
                    for n0 in (0..oc).step_by(nr) {
                        let nv = nr.min(oc - n0);
                        for g in 0..nv.div_ceil(GROUP) {
                            let (c0, ch) = group(nv, g);
                            let first = n0 + c0;
                            let valid = ch.min(nv - c0);
                            let args = Block {
                                rows: &rows[..kh],
                                col: xb - sa,
                                ws_max,
                                q4,
                                kw,
                                w: w.as_ptr().wrapping_add(n0 * kp + c0 * 4),
                                nr,
                                bias: &bias[first..first + valid],
                                uni: &uni[first..first + valid],
                                out_q,
                            };
                            let y = &mut out[(y_row + xb) * oc + first..][..(PX - 1) * oc + valid];
                            // SAFETY: AVX-512F/BW/VNNI (caller); the strips
                            // hold `q4` rows of `ws` words from column `col`
                            // on (`col + PX + kw - 1 <= ws`); block `n0 /
                            // nr` of the weights holds `kp` steps of `nr`
                            // channels, `c0 + ch <= nr`.
                            unsafe {
                                match ch {
                                    4 => block::<4>(&args, y, oc),
                                    8 => block::<8>(&args, y, oc),
                                    _ => block::<12>(&args, y, oc),
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Writes the strip of input row `(b, iy)` from input column `ix0` on:
/// `dst[q·stride + i]` = bytes `4q..4q + 4` of column `ix0 + i`, each
/// flipped to `x + 128`, for `i < ws`; `pad` where the row or column lies
/// outside the image. The image's columns are gathered 16 at a time, one
/// word of each.
///
/// # Safety
/// AVX-512F; `dst` is valid for `(ic / 4 - 1)·stride + ws` writes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn fill(
    x: &[i8],
    [_, ih, iw, ic]: [usize; 4],
    (b, iy): (usize, isize),
    ix0: isize,
    pad: u32,
    dst: *mut u32,
    stride: usize,
    ws: usize,
) {
    let q4 = ic / 4;
    // Strip columns `lo..hi` lie in the image (none outside its rows).
    let (lo, hi) = if (0..ih as isize).contains(&iy) {
        let lo = (-ix0).clamp(0, ws as isize) as usize;
        let hi = (iw as isize - ix0).clamp(lo as isize, ws as isize) as usize;
        (lo, hi)
    } else {
        (0, 0)
    };
    // SAFETY: AVX-512F (caller). Writes: `q < q4`, `i < ws` (caller's
    // bound). Gathers: the words of columns `lo..hi` of row `(b, iy)`,
    // which lie in `x` (`ix0 + lo >= 0`, `ix0 + hi <= iw`, checked by
    // slicing the row); masked-off lanes read nothing.
    unsafe {
        for q in 0..q4 {
            let d = dst.add(q * stride);
            for i in (0..lo).chain(hi..ws) {
                d.add(i).write(pad);
            }
        }
        if lo == hi {
            return;
        }
        let first = (b * ih + iy as usize) * iw + (ix0 + lo as isize) as usize;
        let run = &x[first * ic..(first + hi - lo) * ic];
        let step = _mm512_set1_epi32(16 * q4 as i32);
        let flip = _mm512_set1_epi32(0x8080_8080u32 as i32);
        let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        // Whole 16x16 blocks of words transposed in registers (the
        // shuffles move 32-bit lanes whole, whatever they hold), flipped
        // in place; the other words gathered.
        let (full, full_q) = ((hi - lo) / 16 * 16, q4 / 16 * 16);
        for q0 in (0..full_q).step_by(16) {
            for i in (0..full).step_by(16) {
                let src = run.as_ptr().add(i * ic + 4 * q0).cast::<f32>();
                let d = dst.add(q0 * stride + lo + i);
                Avx512F32::transpose_block(src, q4, d.cast(), stride);
                for r in 0..16 {
                    let p = d.add(r * stride).cast::<__m512i>();
                    _mm512_storeu_si512(p, _mm512_xor_si512(_mm512_loadu_si512(p), flip));
                }
            }
        }
        for q in 0..q4 {
            let d = dst.add(q * stride + lo);
            // Word `q` of columns `lo + i .. lo + i + 16`.
            let mut idx = _mm512_add_epi32(
                _mm512_mullo_epi32(lanes, _mm512_set1_epi32(q4 as i32)),
                _mm512_set1_epi32(q as i32),
            );
            let mut i = if q < full_q { full } else { 0 };
            idx = _mm512_add_epi32(idx, _mm512_set1_epi32((i * q4) as i32));
            while i < hi - lo {
                let n = (hi - lo - i).min(16);
                let m = if n == 16 { 0xffff } else { (1u16 << n) - 1 };
                let v = _mm512_mask_i32gather_epi32::<4>(
                    _mm512_setzero_si512(),
                    m,
                    idx,
                    run.as_ptr().cast(),
                );
                _mm512_mask_storeu_epi32(d.add(i).cast(), m, _mm512_xor_si512(v, flip));
                idx = _mm512_add_epi32(idx, step);
                i += 16;
            }
        }
    }
}

/// The operands of one block of output pixels and up to 12 channels.
struct Block<'a> {
    /// The strip of each kernel row.
    rows: &'a [*const u32],
    /// The block's first column in the strips (output pixel `sa + col`).
    col: usize,
    /// Words per strip row.
    ws_max: usize,
    /// Words per input pixel.
    q4: usize,
    /// Kernel columns.
    kw: usize,
    /// The group's first channel in its block of packed weights.
    w: *const i8,
    /// Channels per block of packed weights.
    nr: usize,
    /// Folded bias of the group's valid channels.
    bias: &'a [i32],
    /// Prepared output stage of the group's valid channels.
    uni: &'a [Avx512Uniform],
    /// Output zero point and clamp.
    out_q: (i32, i32, i32),
}

/// `CH` channels of a block's output pixels: `y[j·oc + c]` for pixel `j` and
/// valid channel `c < a.bias.len()`.
///
/// # Safety
/// As in [`conv`]: AVX-512F/BW/VNNI; the strips and weights hold what the
/// block reads; `y` holds `(PX - 1)·oc + a.bias.len()` bytes.
#[inline(always)]
unsafe fn block<const CH: usize>(a: &Block<'_>, y: &mut [i8], oc: usize) {
    let valid = a.bias.len();
    assert!(valid <= CH && y.len() >= (PX - 1) * oc + valid);
    // SAFETY (whole body): AVX-512F/BW/VNNI (caller). Strip reads: row
    // `q < q4` of a strip, words `col + kx .. col + kx + PX`, within the
    // strip (caller). Weight reads: step `(t·q4 + q)` of the block, 4
    // bytes of channel `c < CH <= nr - c0`.
    unsafe {
        let mut init = [[_mm512_setzero_si512(); CH]; PV];
        for (v, &b) in init[0].iter_mut().zip(a.bias) {
            *v = _mm512_set1_epi32(b);
        }
        init[1] = init[0];
        // Kept apart from the output stage's indexing by `c < valid`, so
        // that the accumulators stay in registers.
        let acc = sums::<CH>(a, init);
        // Channel `c`'s pixels as bytes, then pixel by pixel.
        let mut bytes = [[0i8; PX]; CH];
        let (zp, lo, hi) = a.out_q;
        for c in 0..valid {
            for (v, acc_v) in acc.iter().enumerate() {
                let r = Avx512I32(acc_v[c]).requant_uniform(&a.uni[c], zp, lo, hi);
                r.store_i8(bytes[c].as_mut_ptr().add(16 * v));
            }
        }
        for j in 0..PX {
            let dst = &mut y[j * oc..][..valid];
            for (c, d) in dst.iter_mut().enumerate() {
                *d = bytes[c][j];
            }
        }
    }
}

/// The accumulators of a block after every tap, from `acc`.
///
/// # Safety
/// As [`block`].
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `acc[v][c]`: one weight, both vectors
unsafe fn sums<const CH: usize>(
    a: &Block<'_>,
    mut acc: [[__m512i; CH]; PV],
) -> [[__m512i; CH]; PV] {
    let row_bytes = a.nr * 4;
    let mut wp = a.w;
    // SAFETY: as the caller vouches (see `block`).
    unsafe {
        for &row in a.rows {
            for kx in 0..a.kw {
                let mut xp = row.add(a.col + kx);
                for _ in 0..a.q4 {
                    let xv: [__m512i; PV] =
                        core::array::from_fn(|v| _mm512_loadu_si512(xp.add(16 * v).cast()));
                    for c in 0..CH {
                        let wv = _mm512_set1_epi32(wp.add(4 * c).cast::<i32>().read_unaligned());
                        for v in 0..PV {
                            acc[v][c] = _mm512_dpbusd_epi32(acc[v][c], xv[v], wv);
                        }
                    }
                    xp = xp.add(a.ws_max);
                    wp = wp.add(row_bytes);
                }
            }
        }
    }
    acc
}
