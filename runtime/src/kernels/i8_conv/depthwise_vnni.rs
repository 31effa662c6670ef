//! Depthwise int8 convolution on AVX-512 VNNI, one 64-byte row of input
//! per tap.
//!
//! A block is 64 bytes of the NHWC input as it lies in memory: 64
//! channels of one pixel, or, with `stride_w == 1` and at most 32
//! channels, `P = 64 / ch` horizontally adjacent output pixels (slot `s`
//! of a tap reads the tap's input pixel of output pixel `ox + s`, which
//! is the next pixel in memory). Byte `b` of the block is channel
//! `c(b) = c0 + b % width` of slot `b / width`.
//!
//! Per tap, the block's input bytes are loaded once, flipped to `x + 128`
//! (`vpdpbusd` multiplies unsigned bytes) and multiplied into four
//! accumulators: accumulator `j`'s weights hold `w[c(b), tap]` at the
//! bytes `b ≡ j (mod 4)` and 0 elsewhere, so its 32-bit lane `L` sums the
//! products of byte `4L + j` alone. Lanes never mix channels; no shuffle
//! is needed. After the taps, the four accumulators are requantized and
//! their low bytes interleaved back into the block's byte order.
//!
//! Arithmetic, the reference's bit for bit: a tap outside the image
//! reads `in_zp` instead, so every tap contributes `w·(x + 128)`; the
//! accumulator starts at `bias − (128 + in_zp)·Σ_t w[t]` over all taps (mod
//! 2^32), which leaves `bias + Σ w·(x − in_zp)` over the in-image taps, as
//! the reference sums. Then [`I32Simd::requant_with`], the requantization
//! of every table. Lanes of slots past the last output pixel of a row
//! are computed from whatever was loaded there and not stored.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::depthwise::MAX_TAPS;
use super::QConvParams;
use crate::kernels::f32_conv::depthwise::valid_taps;
use crate::kernels::simd::I32Simd;
use crate::kernels::x86::{Avx512I32, Avx512Requant};

/// Depthwise int8 conv, NHWC, weights `[c, kh, kw, 1]`, of a shape that
/// [`applies`]: blocks of `P = 64 / ch` pixels, or of 64 channels.
///
/// # Safety
/// The CPU supports AVX-512F/BW/VNNI.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn depthwise(
    p: &QConvParams,
    x: &[i8],
    in_shape: [usize; 4],
    w: &[i8],
    bias: &[i32],
    requant: &[i32],
    out: &mut [i8],
    out_shape: [usize; 4],
) {
    let ch = in_shape[3];
    assert!(applies(p, ch));
    let a = (p, x, in_shape, w, bias, requant);
    // SAFETY (all): forwarded from the caller.
    if ch <= 32 {
        return unsafe { block(a, out, out_shape, 0, ch, 64 / ch) };
    }
    for c0 in (0..ch).step_by(64) {
        unsafe { block(a, out, out_shape, c0, 64, 1) };
    }
}

/// Whether [`depthwise`] takes a depthwise conv of `ch` channels: when
/// its blocks are mostly used (several pixels of at most 32 channels, or
/// whole blocks of 64 channels); otherwise the four accumulators'
/// requantization costs more than the vector kernel's.
pub(crate) fn applies(p: &QConvParams, ch: usize) -> bool {
    p.kernel_h * p.kernel_w <= MAX_TAPS && ((ch <= 32 && p.stride_w == 1) || ch.is_multiple_of(64))
}

/// The conv's inputs: params, input, its shape, weights, bias, requant.
type Args<'a> = (
    &'a QConvParams,
    &'a [i8],
    [usize; 4],
    &'a [i8],
    &'a [i32],
    &'a [i32],
);

/// Channels `c0..c0 + width` of every output pixel, `slots` pixels per
/// block (`width · slots <= 64`; `slots > 1` only with `stride_w == 1`
/// and all the channels).
///
/// # Safety
/// The CPU supports AVX-512F/BW/VNNI.
#[inline(always)]
unsafe fn block(
    (p, x, in_shape, w, bias, requant): Args<'_>,
    out: &mut [i8],
    out_shape: [usize; 4],
    c0: usize,
    width: usize,
    slots: usize,
) {
    let [n, ih, iw, ch] = in_shape;
    let [_, oh, ow, _] = out_shape;
    let (kh, kw) = (p.kernel_h, p.kernel_w);
    let (dh, dw) = (p.dilation_h, p.dilation_w);
    let taps = kh * kw;
    let used = width * slots;
    assert!(width >= 1 && used <= 64 && c0 + width <= ch && taps <= MAX_TAPS);
    assert!(slots == 1 || (p.stride_w == 1 && width == ch));
    assert!(x.len() >= n * ih * iw * ch && out.len() >= n * oh * ow * ch);
    assert!(w.len() >= ch * taps && bias.len() >= ch && requant.len() >= 2 * ch);
    // Channel of each byte of the block.
    let mut chan = [0usize; 64];
    for (b, c) in chan.iter_mut().enumerate().take(used) {
        *c = c0 + b % width;
    }
    // Weights of accumulator `j` per tap: byte `b ≡ j (mod 4)` holds
    // `w[chan[b], t]`, the others 0; bytes past `used` are 0.
    // (Only the `taps` entries used are written: no 16 KB memset per call.)
    let mut panel_mem = [const { MaybeUninit::<[[i8; 64]; 4]>::uninit() }; MAX_TAPS];
    for (t, slot) in panel_mem.iter_mut().enumerate().take(taps) {
        let mut tw = [[0i8; 64]; 4];
        for (b, &c) in chan.iter().enumerate().take(used) {
            tw[b % 4][b] = w[c * taps + t];
        }
        slot.write(tw);
    }
    // SAFETY: the first `taps <= MAX_TAPS` entries were written above.
    let panel: &[[[i8; 64]; 4]] =
        unsafe { core::slice::from_raw_parts(panel_mem.as_ptr().cast(), taps) };
    // Lane `L` of accumulator `j` is byte `4L + j`: its start `bias −
    // (128 + in_zp)·Σ_t w` and its requantization.
    let off = 128i32.wrapping_add(p.in_zp);
    let mut init = [[0i32; 16]; 4];
    let mut mult = [[0i32; 16]; 4];
    let mut shift = [[0i32; 16]; 4];
    for j in 0..4 {
        for l in 0..16 {
            let c = chan[4 * l + j];
            let sum = w[c * taps..(c + 1) * taps]
                .iter()
                .fold(0i32, |s, &v| s.wrapping_add(v as i32));
            init[j][l] = bias[c].wrapping_sub(off.wrapping_mul(sum));
            mult[j][l] = requant[2 * c];
            shift[j][l] = requant[2 * c + 1];
        }
    }
    // SAFETY (every intrinsic below): the CPU supports AVX-512F/BW/VNNI
    // (caller). Loads are masked to the bytes of in-image pixels: slot `s`
    // of a tap reads channels `c0..c0 + width <= ch` of an input pixel
    // inside the image (the asserts above bound every pixel offset);
    // masked-off bytes are not accessed (the address of a border tap's
    // block may lie before the input: formed with wrapping arithmetic,
    // only its in-image bytes are read). Stores are masked to the bytes of
    // output pixels `ox..ox + count <= ow`, channels `c0..c0 + width`.
    unsafe {
        let mut acc0 = [_mm512_setzero_si512(); 4];
        let zero = Avx512I32::splat(0);
        let mut rq: [Avx512Requant; 4] = [Avx512I32::requant_prep(zero, zero); 4];
        for j in 0..4 {
            acc0[j] = _mm512_loadu_si512(init[j].as_ptr().cast());
            rq[j] = Avx512I32::requant_prep(
                Avx512I32::load(mult[j].as_ptr()),
                Avx512I32::load(shift[j].as_ptr()),
            );
        }
        let flip = _mm512_set1_epi8(-128);
        let zpv = _mm512_set1_epi8(p.in_zp as i8);
        let zpx = _mm512_xor_si512(zpv, flip);
        // Per kernel row: `Σ_kx w·(in_zp + 128)`, what the row adds when
        // it lies outside the image.
        let mut rowc_mem = [const { MaybeUninit::<[__m512i; 4]>::uninit() }; MAX_TAPS];
        for (ky, slot) in rowc_mem.iter_mut().enumerate().take(kh) {
            let mut rc = [_mm512_setzero_si512(); 4];
            for tw in &panel[ky * kw..(ky + 1) * kw] {
                for j in 0..4 {
                    rc[j] = _mm512_dpbusd_epi32(rc[j], zpx, weights(&tw[j]));
                }
            }
            slot.write(rc);
        }
        // The first `kh <= MAX_TAPS` entries were written above.
        let rowc: &[[__m512i; 4]] = core::slice::from_raw_parts(rowc_mem.as_ptr().cast(), kh);
        let xp = x.as_ptr();
        let op = out.as_mut_ptr();
        let mut geo = Taps {
            off: [0; MAX_TAPS],
            kx: [0; MAX_TAPS],
            dw,
            iw,
            width,
            end: xp.wrapping_add(x.len()),
        };
        for t in 0..taps {
            geo.off[t] = ((t / kw) * dh * iw + (t % kw) * dw) * ch;
            geo.kx[t] = t % kw;
        }
        for bi in 0..n {
            for oy in 0..oh {
                let y0 = (oy * p.stride_h) as isize - p.pad_top as isize;
                let (ky0, ky1) = valid_taps(y0, dh, kh, ih);
                // The kernel rows outside the image read `in_zp` at
                // every tap: their constant contribution.
                let mut acc_row = acc0;
                for rc in rowc[ky1..].iter().chain(&rowc[..ky0]) {
                    for j in 0..4 {
                        acc_row[j] = _mm512_add_epi32(acc_row[j], rc[j]);
                    }
                }
                for ox in (0..ow).step_by(slots) {
                    let count = slots.min(ow - ox);
                    let mask = byte_mask(0, width * count);
                    let x0 = (ox * p.stride_w) as isize - p.pad_left as isize;
                    // Taps `kx0..kx1` have every slot inside the width.
                    let (kx0, _) = valid_taps(x0, dw, kw, iw);
                    let (_, kx1) = valid_taps(x0 + count as isize - 1, dw, kw, iw);
                    // The window's top-left input pixel (perhaps outside
                    // the input: wrapping arithmetic, read only inside).
                    let win = xp.wrapping_add(c0).wrapping_offset(
                        (((bi * ih) as isize + y0) * iw as isize + x0) * ch as isize,
                    );
                    let g = Group {
                        win,
                        x0,
                        kx: (kx0, kx1),
                        count,
                        mask,
                    };
                    // The taps of the rows inside the image, two at a time
                    // into two sets of accumulators (independent chains).
                    let (mut acc, mut acc2) = (acc_row, [_mm512_setzero_si512(); 4]);
                    let (mut t, t1) = (ky0 * kw, ky1 * kw);
                    while t + 1 < t1 {
                        let a = tap_input(&g, &geo, t, zpv);
                        let b = tap_input(&g, &geo, t + 1, zpv);
                        for j in 0..4 {
                            acc[j] = _mm512_dpbusd_epi32(acc[j], a, weights(&panel[t][j]));
                            acc2[j] = _mm512_dpbusd_epi32(acc2[j], b, weights(&panel[t + 1][j]));
                        }
                        t += 2;
                    }
                    if t < t1 {
                        let a = tap_input(&g, &geo, t, zpv);
                        for j in 0..4 {
                            acc[j] = _mm512_dpbusd_epi32(acc[j], a, weights(&panel[t][j]));
                        }
                    }
                    for j in 0..4 {
                        acc[j] = _mm512_add_epi32(acc[j], acc2[j]);
                    }
                    // Requantized, and each lane's low byte back to byte
                    // `4L + j` of the block.
                    let mut r = [_mm512_setzero_si512(); 4];
                    for j in 0..4 {
                        r[j] = Avx512I32(acc[j])
                            .requant_with(&rq[j], p.out_zp, p.act_min, p.act_max)
                            .0;
                    }
                    let y = _mm512_mask_blend_epi8(
                        0x2222_2222_2222_2222,
                        r[0],
                        _mm512_slli_epi32(r[1], 8),
                    );
                    let y = _mm512_mask_blend_epi8(
                        0x4444_4444_4444_4444,
                        y,
                        _mm512_slli_epi32(r[2], 16),
                    );
                    let y = _mm512_mask_blend_epi8(
                        0x8888_8888_8888_8888,
                        y,
                        _mm512_slli_epi32(r[3], 24),
                    );
                    let o = ((bi * oh + oy) * ow + ox) * ch + c0;
                    _mm512_mask_storeu_epi8(op.add(o), mask, y);
                }
            }
        }
    }
}

/// Where each tap of a window reads.
struct Taps {
    /// Byte offset from the window's top-left input pixel.
    off: [usize; MAX_TAPS],
    /// Kernel column.
    kx: [usize; MAX_TAPS],
    dw: usize,
    iw: usize,
    /// Channels per slot.
    width: usize,
    /// One past the input's last byte.
    end: *const i8,
}

/// One block of output pixels.
struct Group {
    /// The window's top-left input pixel, channel `c0` (wrapping).
    win: *const i8,
    /// Its input column.
    x0: isize,
    /// Kernel columns whose every slot lies inside the image's width.
    kx: (usize, usize),
    /// Output pixels (slots) of the block.
    count: usize,
    /// The bytes of those slots.
    mask: u64,
}

/// Tap `t`'s input block of group `g`, as `x + 128`: slots reading
/// outside the image's width read `in_zp` (the bytes of `zpv`).
///
/// # Safety
/// The CPU supports AVX-512F/BW; tap `t` lies in a kernel row inside the
/// image, and `g` and `geo` describe the conv's input (the bytes of the
/// slots inside the width are in bounds).
#[inline(always)]
unsafe fn tap_input(g: &Group, geo: &Taps, t: usize, zpv: __m512i) -> __m512i {
    let kx = geo.kx[t];
    let at = g.win.wrapping_add(geo.off[t]);
    // SAFETY: masked to the slots inside the image (caller); masked-off
    // bytes are not accessed.
    unsafe {
        let v = if (g.kx.0..g.kx.1).contains(&kx) {
            if (geo.end as usize).saturating_sub(at as usize) >= 64 {
                // A whole 64-byte block inside the input: a plain load
                // (the bytes past the slots are other pixels' inputs,
                // multiplied by weights of 0 or in lanes not stored).
                _mm512_loadu_si512(at.cast())
            } else {
                _mm512_maskz_loadu_epi8(g.mask, at)
            }
        } else {
            // Slots `s0..s1` read pixels inside the width (`0 <= ix + s <
            // iw`).
            let ix = g.x0 + (kx * geo.dw) as isize;
            let n = g.count as isize;
            let s0 = (-ix).clamp(0, n) as usize;
            let s1 = (geo.iw as isize - ix).clamp(s0 as isize, n) as usize;
            _mm512_mask_loadu_epi8(zpv, byte_mask(geo.width * s0, geo.width * s1), at)
        };
        _mm512_xor_si512(v, _mm512_set1_epi8(-128))
    }
}

/// Bits `lo..hi` set (`lo <= hi <= 64`): the bytes `lo..hi` of a block.
#[inline(always)]
fn byte_mask(lo: usize, hi: usize) -> u64 {
    if lo >= hi {
        0
    } else {
        (u64::MAX >> (64 - hi)) & (u64::MAX << lo)
    }
}

/// One accumulator's weights of a tap, as a vector.
///
/// # Safety
/// The CPU supports AVX-512F.
#[inline(always)]
unsafe fn weights(w: &[i8; 64]) -> __m512i {
    // SAFETY: 64 bytes; AVX-512F (caller).
    unsafe { _mm512_loadu_si512(w.as_ptr().cast()) }
}
