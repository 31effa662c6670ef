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
use crate::kernels::simd::F32Simd;
use crate::kernels::Act;

/// Largest `kh·kw` the panel holds; bigger kernels use the reference.
pub(crate) const MAX_TAPS: usize = 64;

/// Whether [`depthwise`] handles this conv.
pub(crate) fn applies(p: &ConvParams, in_shape: [usize; 4], out_shape: [usize; 4]) -> bool {
    let ic = in_shape[3];
    p.groups == ic && out_shape[3] == ic && ic > 1 && p.kernel_h * p.kernel_w <= MAX_TAPS
}

/// Depthwise conv, NHWC, weights `[c, kh, kw, 1]`; see the module docs.
/// Channels go in blocks of `NV` vectors of `V`, then single vectors (the
/// last one overlapping), and only fewer channels than a vector in scalar
/// blocks.
///
/// # Safety
/// The CPU supports `V`'s instructions.
#[inline(always)]
pub(crate) unsafe fn depthwise<V: F32Simd, const NV: usize>(
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
    // SAFETY (both): forwarded from the caller.
    while c0 + NV * V::LANES <= ch {
        unsafe { vblock::<V, NV>(p, x, in_shape, w, bias, out, out_shape, c0) };
        c0 += NV * V::LANES;
    }
    while c0 + V::LANES <= ch {
        unsafe { vblock::<V, 1>(p, x, in_shape, w, bias, out, out_shape, c0) };
        c0 += V::LANES;
    }
    if c0 < ch && ch >= V::LANES {
        // The last vector overlaps the previous block: channels are
        // independent and the output never aliases the input, so the
        // overlapped channels are computed again to the same values.
        unsafe { vblock::<V, 1>(p, x, in_shape, w, bias, out, out_shape, ch - V::LANES) };
        c0 = ch;
    }
    while c0 + 4 <= ch {
        block::<4>(p, x, in_shape, w, bias, out, out_shape, c0);
        c0 += 4;
    }
    while c0 < ch {
        block::<1>(p, x, in_shape, w, bias, out, out_shape, c0);
        c0 += 1;
    }
}

/// Channels `c0..c0 + NV·LANES` of every output pixel, in vectors: the same
/// operations as [`block`] (and the reference), lane for lane.
///
/// # Safety
/// The CPU supports `V`'s instructions; `V::LANES <= 16`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn vblock<V: F32Simd, const NV: usize>(
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
    let lanes = V::LANES;
    assert!(lanes <= 16 && c0 + NV * lanes <= ch);
    assert!(x.len() >= n * ih * iw * ch && out.len() >= n * oh * ow * ch);
    assert!(w.len() >= ch * taps && bias.is_none_or(|b| b.len() >= ch));
    // SAFETY (every vector op below): the CPU supports `V`. Loads and
    // stores stay in bounds: the asserts above bound every pixel offset
    // `(pixel)·ch + c0 + v·lanes + lanes <= len`.
    let mut panel = [[unsafe { V::zero() }; NV]; MAX_TAPS];
    let mut tmp = [0.0f32; 16];
    for (t, row) in panel.iter_mut().enumerate().take(taps) {
        for (v, r) in row.iter_mut().enumerate() {
            for (l, e) in tmp[..lanes].iter_mut().enumerate() {
                *e = w[(c0 + v * lanes + l) * taps + t];
            }
            *r = unsafe { V::load(tmp.as_ptr()) };
        }
    }
    let b: [V; NV] = core::array::from_fn(|v| match bias {
        Some(b) => unsafe { V::load(b[c0 + v * lanes..].as_ptr()) },
        None => unsafe { V::zero() },
    });
    let clamp = match p.act {
        Act::Clamp(lo, hi) => Some(unsafe { (V::splat(lo), V::splat(hi)) }),
        _ => None,
    };
    let xp = x.as_ptr();
    let yp = out.as_mut_ptr();
    let ep = Epilogue {
        bias: bias.map(|_| b),
        act: p.act,
        clamp,
    };
    let (sw, dw) = (p.stride_w as isize, p.dilation_w as isize);
    // Byte offsets of the taps `(j, kx)` from a window's first valid row,
    // `j` rows further, and between two pixels, for `V::dw_window`.
    let mut offs = [0usize; MAX_TAPS];
    if V::DW_WINDOW {
        for (t, o) in offs.iter_mut().enumerate().take(taps) {
            let (j, kx) = (t / kw, t % kw);
            *o = (j * p.dilation_h * iw + kx * p.dilation_w) * ch * 4;
        }
    }
    let pix_bytes = p.stride_w * ch * 4;
    for bi in 0..n {
        for oy in 0..oh {
            let y0 = (oy * p.stride_h) as isize - p.pad_top as isize;
            let (ky0, ky1) = valid_taps(y0, p.dilation_h, kh, ih);
            let out_row = (bi * oh + oy) * ow;
            let mut ox = 0;
            while ox < ow {
                let x0 = ox as isize * sw - p.pad_left as isize;
                // `PIX` pixels whose windows lie inside the row at once:
                // independent sums, so the adds overlap (each pixel's
                // sum is a chain of dependent adds).
                let last = x0 + (PIX as isize - 1) * sw + (kw as isize - 1) * dw;
                if ox + PIX <= ow && x0 >= 0 && last < iw as isize {
                    let mut acc = [[unsafe { V::zero() }; NV]; PIX];
                    let n_taps = (ky1 - ky0) * kw;
                    // SAFETY: with `ky1 > ky0` row `ky0` is in the image,
                    // so its first tap of pixel 0 is; `offs` and the panel
                    // from `ky0·kw` cover `n_taps` taps, each inside the
                    // row's window (the branch's condition).
                    let done = V::DW_WINDOW
                        && n_taps > 0
                        && unsafe {
                            let iy = (y0 + (ky0 * p.dilation_h) as isize) as usize;
                            let first = (((bi * ih + iy) * iw) as isize + x0) as usize;
                            V::dw_window::<NV, PIX>(
                                &mut acc,
                                xp.add(first * ch + c0),
                                &offs,
                                pix_bytes,
                                panel[ky0 * kw].as_ptr(),
                                n_taps,
                            )
                        };
                    // The taps `dw_window` did not sum (none, or all).
                    let rows = if done { ky0..ky0 } else { ky0..ky1 };
                    for ky in rows {
                        let iy = (y0 + (ky * p.dilation_h) as isize) as usize;
                        let row = ((bi * ih + iy) * iw) as isize;
                        for kx in 0..kw {
                            let ws = &panel[ky * kw + kx];
                            for (q, acc_q) in acc.iter_mut().enumerate() {
                                let ix = x0 + q as isize * sw + kx as isize * dw;
                                let px = unsafe { xp.add((row + ix) as usize * ch + c0) };
                                for v in 0..NV {
                                    unsafe {
                                        let xv = V::load(px.add(v * lanes));
                                        acc_q[v] = acc_q[v].add(xv.mul(ws[v]));
                                    }
                                }
                            }
                        }
                    }
                    for (q, acc_q) in acc.iter().enumerate() {
                        let dst = unsafe { yp.add((out_row + ox + q) * ch + c0) };
                        unsafe { ep.store(acc_q, dst, &mut tmp) };
                    }
                    ox += PIX;
                    continue;
                }
                let (kx0, kx1) = valid_taps(x0, p.dilation_w, kw, iw);
                let mut acc = [unsafe { V::zero() }; NV];
                for ky in ky0..ky1 {
                    let iy = (y0 + (ky * p.dilation_h) as isize) as usize;
                    let row = ((bi * ih + iy) * iw) as isize;
                    for kx in kx0..kx1 {
                        let ix = x0 + (kx * p.dilation_w) as isize;
                        let px = unsafe { xp.add((row + ix) as usize * ch + c0) };
                        let ws = &panel[ky * kw + kx];
                        for v in 0..NV {
                            unsafe {
                                let xv = V::load(px.add(v * lanes));
                                acc[v] = acc[v].add(xv.mul(ws[v]));
                            }
                        }
                    }
                }
                let dst = unsafe { yp.add((out_row + ox) * ch + c0) };
                unsafe { ep.store(&acc, dst, &mut tmp) };
                ox += 1;
            }
        }
    }
}

/// Output pixels [`vblock`] sums at once where their windows lie inside
/// the input row.
const PIX: usize = 4;

/// The end of a depthwise output: `+ bias`, then the activation.
struct Epilogue<V: F32Simd, const NV: usize> {
    bias: Option<[V; NV]>,
    act: Act,
    /// `act`'s bounds when it is a clamp.
    clamp: Option<(V, V)>,
}

impl<V: F32Simd, const NV: usize> Epilogue<V, NV> {
    /// Stores `NV` vectors of sums at `dst` after the bias and activation
    /// (`Act::None` as is, NaN included; `Clamp` in vectors; the others
    /// lane by lane through `tmp`).
    ///
    /// # Safety
    /// The CPU supports `V`; `dst` has `NV·LANES` values; `LANES <= 16`.
    #[inline(always)]
    unsafe fn store(&self, acc: &[V; NV], dst: *mut f32, tmp: &mut [f32; 16]) {
        let lanes = V::LANES;
        // SAFETY: as the caller vouches.
        unsafe {
            for v in 0..NV {
                let mut a = acc[v];
                if let Some(b) = &self.bias {
                    a = a.add(b[v]);
                }
                let d = dst.add(v * lanes);
                match (self.act, self.clamp) {
                    (Act::None, _) => a.store(d),
                    (_, Some((lo, hi))) => a.clamp(lo, hi).store(d),
                    _ => {
                        a.store(tmp.as_mut_ptr());
                        for (l, &t) in tmp[..lanes].iter().enumerate() {
                            *d.add(l) = self.act.apply(t);
                        }
                    }
                }
            }
        }
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
