//! Depthwise f32 convolution (`groups == ic == oc`) vectorized across
//! channels: each output pixel's channels are processed in blocks of `C`,
//! with the block's weights transposed once into a `[tap][C]` stack panel.
//!
//! Plain Rust over fixed-size arrays, compiled inside each ISA's
//! `#[target_feature]` entry point, where LLVM turns the `C`-wide loops
//! into vector code. The arithmetic is the reference's, operation for
//! operation (a rounded product added to the running sum over the valid
//! taps in `ky`, `kx` order from `0.0`, then `+ bias`, then the
//! activation), so the results are bit-identical to
//! [`reference`](super::reference).

use super::ConvParams;

/// Largest `kh·kw` the panel holds; bigger kernels use the reference.
pub(crate) const MAX_TAPS: usize = 64;

/// Whether [`depthwise`] handles this conv.
pub(crate) fn applies(p: &ConvParams, in_shape: [usize; 4], out_shape: [usize; 4]) -> bool {
    let ic = in_shape[3];
    p.groups == ic && out_shape[3] == ic && ic > 1 && p.kernel_h * p.kernel_w <= MAX_TAPS
}

/// Depthwise conv, NHWC, weights `[c, kh, kw, 1]`; see the module docs.
#[inline(always)]
pub(crate) fn depthwise<const C: usize>(
    p: &ConvParams,
    x: &[f32],
    in_shape: [usize; 4],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    out_shape: [usize; 4],
) {
    let ch = in_shape[3];
    let mut c0 = 0;
    while c0 + C <= ch {
        block::<C>(p, x, in_shape, w, bias, out, out_shape, c0);
        c0 += C;
    }
    // The tail in narrower blocks (16, 8, 4, then single channels).
    while C > 16 && c0 + 16 <= ch {
        block::<16>(p, x, in_shape, w, bias, out, out_shape, c0);
        c0 += 16;
    }
    while C > 8 && c0 + 8 <= ch {
        block::<8>(p, x, in_shape, w, bias, out, out_shape, c0);
        c0 += 8;
    }
    while C > 4 && c0 + 4 <= ch {
        block::<4>(p, x, in_shape, w, bias, out, out_shape, c0);
        c0 += 4;
    }
    while c0 < ch {
        block::<1>(p, x, in_shape, w, bias, out, out_shape, c0);
        c0 += 1;
    }
}

/// The kernel taps `k` (in `0..k_len`) whose input coordinate
/// `origin + k·dilation` lies in `0..len`: a half-open range.
#[inline(always)]
pub(crate) fn valid_taps(
    origin: isize,
    dilation: usize,
    k_len: usize,
    len: usize,
) -> (usize, usize) {
    let d = dilation as isize;
    let lo = if origin < 0 { (-origin + d - 1) / d } else { 0 };
    let hi = if origin < len as isize {
        (len as isize - origin + d - 1) / d
    } else {
        0
    };
    let hi = (hi as usize).min(k_len);
    ((lo as usize).min(hi), hi)
}

/// Channels `c0..c0 + C` of every output pixel.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<const C: usize>(
    p: &ConvParams,
    x: &[f32],
    in_shape: [usize; 4],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    out_shape: [usize; 4],
    c0: usize,
) {
    let [n, ih, iw, ch] = in_shape;
    let [_, oh, ow, _] = out_shape;
    let (kh, kw) = (p.kernel_h, p.kernel_w);
    let taps = kh * kw;
    let mut panel = [[0.0f32; C]; MAX_TAPS];
    for (t, row) in panel.iter_mut().enumerate().take(taps) {
        for (j, v) in row.iter_mut().enumerate() {
            *v = w[(c0 + j) * taps + t];
        }
    }
    let mut b = [0.0f32; C];
    if let Some(bias) = bias {
        b.copy_from_slice(&bias[c0..c0 + C]);
    }
    for bi in 0..n {
        for oy in 0..oh {
            let y0 = (oy * p.stride_h) as isize - p.pad_top as isize;
            let (ky0, ky1) = valid_taps(y0, p.dilation_h, kh, ih);
            for ox in 0..ow {
                let x0 = (ox * p.stride_w) as isize - p.pad_left as isize;
                let mut acc = [0.0f32; C];
                let (kx0, kx1) = valid_taps(x0, p.dilation_w, kw, iw);
                for ky in ky0..ky1 {
                    let iy = (y0 + (ky * p.dilation_h) as isize) as usize;
                    for kx in kx0..kx1 {
                        let ix = (x0 + (kx * p.dilation_w) as isize) as usize;
                        let off = ((bi * ih + iy) * iw + ix) * ch + c0;
                        let xs: &[f32; C] = x[off..off + C].try_into().unwrap_or(&[0.0; C]);
                        let ws = &panel[ky * kw + kx];
                        for j in 0..C {
                            acc[j] += xs[j] * ws[j];
                        }
                    }
                }
                let off = ((bi * oh + oy) * ow + ox) * ch + c0;
                let ys: &mut [f32] = &mut out[off..off + C];
                if bias.is_some() {
                    for j in 0..C {
                        acc[j] += b[j];
                    }
                }
                for (y, &a) in ys.iter_mut().zip(&acc) {
                    *y = p.act.apply(a);
                }
            }
        }
    }
}
