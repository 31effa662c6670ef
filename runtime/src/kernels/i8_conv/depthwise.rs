//! Depthwise int8 convolution (`groups == ic == oc`) vectorized across
//! channels: blocks of `C` channels per output pixel, the block's weights
//! widened and transposed once into a `[tap][C]` stack panel.
//!
//! Plain Rust over fixed-size arrays, compiled inside each ISA's
//! `#[target_feature]` entry point, where LLVM vectorizes the `C`-wide
//! loops. The integer arithmetic is the reference's (wrapping `i32` sums of
//! `w · (x − in_zp)` over the in-image taps from `bias`, then
//! [`requantize_clamp`](crate::quant::requantize_clamp), lane-parallel: `I32Simd::requant_clamp` in the
//! vector blocks, [`requantize_clamp_block`] in the scalar ones), so the
//! results are bit-identical to [`reference`](super::reference).

use super::QConvParams;
use crate::kernels::simd::I32Simd;
use crate::quant::requantize_clamp_block;

/// Largest `kh·kw` the panel holds; bigger kernels use the reference.
pub(crate) const MAX_TAPS: usize = 64;

/// Whether [`depthwise`] handles this conv.
pub(crate) fn applies(p: &QConvParams, in_shape: [usize; 4], out_shape: [usize; 4]) -> bool {
    let ic = in_shape[3];
    p.groups == ic && out_shape[3] == ic && ic > 1 && p.kernel_h * p.kernel_w <= MAX_TAPS
}

/// Depthwise int8 conv, NHWC, weights `[c, kh, kw, 1]`; see the module docs.
/// Channels go in blocks of `NV` vectors of `V`, then single vectors (the
/// last one overlapping), and only fewer channels than a vector in scalar
/// blocks; fewer channels than `V` has lanes but at least `V::Half`'s go
/// in vectors of `V::Half` the same way.
///
/// # Safety
/// The CPU supports `V`'s instructions.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn depthwise<V: I32Simd, const NV: usize>(
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
    let half = <V::Half as I32Simd>::LANES;
    if ch < V::LANES && half < V::LANES && ch >= half {
        // Fewer channels than a vector: the ISA's narrower vectors.
        // SAFETY: forwarded from the caller (`V::Half` runs where `V` does).
        return unsafe {
            depthwise::<V::Half, 1>(p, x, in_shape, w, bias, requant, out, out_shape)
        };
    }
    let mut c0 = 0;
    if NV == 2 && ch > 2 * V::LANES && ch < 3 * V::LANES {
        // Between two and three vectors (36, 42 channels on AVX-512): one
        // pass of three, the last overlapping, rather than two passes.
        let at = (0, 3 * V::LANES - ch);
        // SAFETY: forwarded from the caller.
        return unsafe { vblock::<V, 3>(p, x, in_shape, w, bias, requant, out, out_shape, at) };
    }
    // SAFETY (all): forwarded from the caller.
    while c0 + NV * V::LANES <= ch {
        unsafe { vblock::<V, NV>(p, x, in_shape, w, bias, requant, out, out_shape, (c0, 0)) };
        c0 += NV * V::LANES;
    }
    let rest = ch - c0;
    if rest > 0 && ch >= V::LANES {
        // The last vector ends at the last channel, overlapping the one
        // before it: channels are independent and the output never
        // aliases the input, so the overlapped channels are computed again
        // to the same values. Rest for `NV` vectors: one block, one pass.
        let back = rest.div_ceil(V::LANES) * V::LANES - rest;
        if rest.div_ceil(V::LANES) == NV {
            let at = (c0, back);
            unsafe { vblock::<V, NV>(p, x, in_shape, w, bias, requant, out, out_shape, at) };
        } else {
            while c0 + V::LANES <= ch {
                let at = (c0, 0);
                unsafe { vblock::<V, 1>(p, x, in_shape, w, bias, requant, out, out_shape, at) };
                c0 += V::LANES;
            }
            if c0 < ch {
                let at = (ch - V::LANES, 0);
                unsafe { vblock::<V, 1>(p, x, in_shape, w, bias, requant, out, out_shape, at) };
            }
        }
        c0 = ch;
    }
    while c0 + 4 <= ch {
        block::<4>(p, x, in_shape, w, bias, requant, out, out_shape, c0);
        c0 += 4;
    }
    while c0 < ch {
        block::<1>(p, x, in_shape, w, bias, requant, out, out_shape, c0);
        c0 += 1;
    }
}

/// Channels `c0..c0 + NV·LANES − back` of every output pixel, in vectors
/// (the last one starting `back` channels early): the integer operations
/// of [`block`] (and the reference), lane for lane.
///
/// # Safety
/// The CPU supports `V`'s instructions; `V::LANES` is 4, 8 or 16.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn vblock<V: I32Simd, const NV: usize>(
    p: &QConvParams,
    x: &[i8],
    in_shape: [usize; 4],
    w: &[i8],
    bias: &[i32],
    requant: &[i32],
    out: &mut [i8],
    out_shape: [usize; 4],
    (c0, back): (usize, usize),
) {
    let [n, ih, iw, ch] = in_shape;
    let [_, oh, ow, _] = out_shape;
    let (kh, kw) = (p.kernel_h, p.kernel_w);
    let taps = kh * kw;
    let lanes = V::LANES;
    assert!(matches!(lanes, 4 | 8 | 16) && c0 + NV * lanes <= ch + back && back < lanes);
    // First channel of each vector.
    let first: [usize; NV] =
        core::array::from_fn(|v| c0 + v * lanes - if v + 1 == NV { back } else { 0 });
    assert!(x.len() >= n * ih * iw * ch && out.len() >= n * oh * ow * ch);
    assert!(w.len() >= ch * taps && bias.len() >= ch && requant.len() >= 2 * ch);
    // SAFETY (every vector op below): the CPU supports `V`. Loads and the
    // output stores stay in bounds: the asserts above bound every pixel
    // offset `(pixel)·ch + first[v] + lanes <= len`.
    let mut panel = [[unsafe { V::splat(0) }; NV]; MAX_TAPS];
    let mut tmp = [0i32; 16];
    for (t, row) in panel.iter_mut().enumerate().take(taps) {
        for (v, r) in row.iter_mut().enumerate() {
            for (l, e) in tmp[..lanes].iter_mut().enumerate() {
                *e = V::weight_lane(w[(first[v] + l) * taps + t]);
            }
            *r = unsafe { V::load(tmp.as_ptr()) };
        }
    }
    let mult: [[i32; 16]; NV] = core::array::from_fn(|v| {
        core::array::from_fn(|l| {
            if l < lanes {
                requant[2 * (first[v] + l)]
            } else {
                0
            }
        })
    });
    let shift: [[i32; 16]; NV] = core::array::from_fn(|v| {
        core::array::from_fn(|l| {
            if l < lanes {
                requant[2 * (first[v] + l) + 1]
            } else {
                0
            }
        })
    });
    let b: [V; NV] = core::array::from_fn(|v| unsafe { V::load(bias[first[v]..].as_ptr()) });
    let mult: [V; NV] = core::array::from_fn(|v| unsafe { V::load(mult[v].as_ptr()) });
    let shift: [V; NV] = core::array::from_fn(|v| unsafe { V::load(shift[v].as_ptr()) });
    let mut rq = [unsafe { V::requant_prep(mult[0], shift[0]) }; NV];
    for (v, r) in rq.iter_mut().enumerate().skip(1) {
        *r = unsafe { V::requant_prep(mult[v], shift[v]) };
    }
    let zp = unsafe { V::splat(p.in_zp) };
    let xp = x.as_ptr();
    for bi in 0..n {
        for oy in 0..oh {
            let y0 = (oy * p.stride_h) as isize - p.pad_top as isize;
            let (ky0, ky1) = valid_taps(y0, p.dilation_h, kh, ih);
            for ox in 0..ow {
                let x0 = (ox * p.stride_w) as isize - p.pad_left as isize;
                let (kx0, kx1) = valid_taps(x0, p.dilation_w, kw, iw);
                let mut acc = b;
                for ky in ky0..ky1 {
                    let iy = (y0 + (ky * p.dilation_h) as isize) as usize;
                    let row = ((bi * ih + iy) * iw) as isize;
                    for kx in kx0..kx1 {
                        let ix = x0 + (kx * p.dilation_w) as isize;
                        let px = unsafe { xp.add((row + ix) as usize * ch) };
                        let ws = &panel[ky * kw + kx];
                        for v in 0..NV {
                            unsafe {
                                let xv = V::load_i8(px.add(first[v])).sub(zp);
                                acc[v] = acc[v].add(xv.mul_weight(ws[v]));
                            }
                        }
                    }
                }
                let off = ((bi * oh + oy) * ow + ox) * ch;
                for (v, a) in acc.iter().enumerate() {
                    unsafe {
                        let r = a.requant_with(&rq[v], p.out_zp, p.act_min, p.act_max);
                        r.store_i8(out.as_mut_ptr().add(off + first[v]));
                    }
                }
            }
        }
    }
}

use crate::kernels::f32_conv::depthwise::valid_taps;

/// Channels `c0..c0 + C` of every output pixel.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<const C: usize>(
    p: &QConvParams,
    x: &[i8],
    in_shape: [usize; 4],
    w: &[i8],
    bias: &[i32],
    requant: &[i32],
    out: &mut [i8],
    out_shape: [usize; 4],
    c0: usize,
) {
    let [n, ih, iw, ch] = in_shape;
    let [_, oh, ow, _] = out_shape;
    let (kh, kw) = (p.kernel_h, p.kernel_w);
    let taps = kh * kw;
    let mut panel = [[0i32; C]; MAX_TAPS];
    for (t, row) in panel.iter_mut().enumerate().take(taps) {
        for (j, v) in row.iter_mut().enumerate() {
            *v = w[(c0 + j) * taps + t] as i32;
        }
    }
    let b: [i32; C] = core::array::from_fn(|j| bias[c0 + j]);
    let mult: [i32; C] = core::array::from_fn(|j| requant[2 * (c0 + j)]);
    let shift: [i32; C] = core::array::from_fn(|j| requant[2 * (c0 + j) + 1]);
    for bi in 0..n {
        for oy in 0..oh {
            let y0 = (oy * p.stride_h) as isize - p.pad_top as isize;
            let (ky0, ky1) = valid_taps(y0, p.dilation_h, kh, ih);
            for ox in 0..ow {
                let x0 = (ox * p.stride_w) as isize - p.pad_left as isize;
                let mut acc = b;
                let (kx0, kx1) = valid_taps(x0, p.dilation_w, kw, iw);
                for ky in ky0..ky1 {
                    let iy = (y0 + (ky * p.dilation_h) as isize) as usize;
                    for kx in kx0..kx1 {
                        let ix = (x0 + (kx * p.dilation_w) as isize) as usize;
                        let off = ((bi * ih + iy) * iw + ix) * ch + c0;
                        let xs: &[i8; C] = x[off..off + C].try_into().unwrap_or(&[0; C]);
                        let ws = &panel[ky * kw + kx];
                        for j in 0..C {
                            acc[j] = acc[j].wrapping_add(ws[j] * (xs[j] as i32 - p.in_zp));
                        }
                    }
                }
                let off = ((bi * oh + oy) * ow + ox) * ch + c0;
                let r = requantize_clamp_block(&acc, &mult, &shift, p.out_zp, p.act_min, p.act_max);
                out[off..off + C].copy_from_slice(&r);
            }
        }
    }
}
