//! f32 2-D convolution, NHWC: ONNX `Conv` and `ConvTranspose`.
//!
//! Layout: input `[n, ih, iw, ic]`, weights OHWI `[oc, kh, kw, ic/groups]`
//! (the compiler repacks ONNX's OIHW, and ConvTranspose's
//! `[ic, oc/groups, kh, kw]`, into it), bias `[oc]`, output `[n, oh, ow, oc]`.
//! With `icg = ic/groups`, `ocg = oc/groups` and output channel `o` in group
//! `g = o / ocg`:
//!
//! ```text
//! Conv:          out[b,oy,ox,o] = act(bias[o] + sum_{ky,kx,i} in[b, iy, ix, g*icg+i] * w[o,ky,kx,i])
//!                with iy = oy*sh - pad_top + ky*dh, ix = ox*sw - pad_left + kx*dw,
//!                out-of-range (iy, ix) contributing 0 (zero padding)
//! ConvTranspose: out[b,oy,ox,o] = act(bias[o] + sum_{ky,kx,i} in[b, iy, ix, g*icg+i] * w[o,ky,kx,i])
//!                over the (iy, ix) in range with iy*sh - pad_top + ky*dh = oy
//!                and ix*sw - pad_left + kx*dw = ox
//! ```
//!
//! The ConvTranspose sum is ONNX's scatter (`out[iy*sh - pt + ky*dh, ...] +=
//! in[iy, ...] * w[...]`, positions outside the output dropped) written as a
//! gather. Bottom/right padding and ConvTranspose's `output_padding` are
//! implied by the output shape. Parameters: all of `kernel_*`, `stride_*`,
//! `dilation_*`, `groups` are `>= 1`; `groups` divides `ic` and `oc`; pads
//! are any value (the op layer checked the output shape).
//!
//! Rounding: every output is the `f32` sum over the valid taps in `ky`,
//! then `kx`, then `i` order, accumulated sequentially from `0.0`; then
//! `bias[o]` is added and `act` applied. The depthwise path (`groups == ic ==
//! oc`) has the same order and so the same results.

use super::f32_gemm::tiled::{self, BSource, Geometry, Scatter};
use super::simd::F32Simd;
use super::Act;

pub(crate) mod depthwise;
#[cfg(all(target_arch = "arm", ferrite_arm_neon, not(miri)))]
pub(crate) mod neon32;
pub(crate) mod pixels;

/// Geometry and fused activation of a `Conv` / `ConvTranspose`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvParams {
    /// Kernel height `kh`.
    pub kernel_h: usize,
    /// Kernel width `kw`.
    pub kernel_w: usize,
    /// Vertical stride `sh`.
    pub stride_h: usize,
    /// Horizontal stride `sw`.
    pub stride_w: usize,
    /// Vertical dilation `dh`.
    pub dilation_h: usize,
    /// Horizontal dilation `dw`.
    pub dilation_w: usize,
    /// Zero rows added above the input (Conv) / cropped from the top of the
    /// full output (ConvTranspose).
    pub pad_top: usize,
    /// Zero columns added left of the input / cropped from the left.
    pub pad_left: usize,
    /// Number of channel groups.
    pub groups: usize,
    /// Activation applied after the bias.
    pub act: Act,
}

/// Conv2d, NHWC; see the module docs.
pub fn reference(
    p: &ConvParams,
    input: &[f32],
    in_shape: [usize; 4],
    weights: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
    out_shape: [usize; 4],
) {
    let ctx = Ctx::new(p, false, input, in_shape, weights, bias, out_shape);
    let [_, _, _, ic] = in_shape;
    if p.groups == ic && out_shape[3] == ic && ic > 1 {
        depthwise(&ctx, output);
    } else {
        general(&ctx, output);
    }
}

/// The SIMD Conv2d of one kernel table: `groups == 1` as a tiled GEMM over
/// vector type `V` (`MR x NV` register tile; `MR1 x 1` when the output
/// channels fit one vector), depthwise in blocks of `DW`
/// vectors, anything else by [`reference()`]. Within the bound of
/// [`tiled`] of the reference (depthwise: equal).
///
/// # Safety
/// The CPU supports `V`'s instructions.
#[inline(always)]
pub(crate) unsafe fn simd<
    V: F32Simd,
    const MR: usize,
    const NV: usize,
    const MR1: usize,
    const DW: usize,
>(
    p: &ConvParams,
    input: &[f32],
    in_shape: [usize; 4],
    weights: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
    out_shape: [usize; 4],
) {
    if p.groups == 1 {
        let b = BSource::PerOutput(weights);
        // SAFETY: forwarded from the caller.
        unsafe { dense::<V, MR, NV, MR1>(p, input, in_shape, b, bias, output, out_shape) }
    } else if depthwise::applies(p, in_shape, out_shape) {
        // SAFETY: forwarded from the caller.
        unsafe {
            depthwise::depthwise::<V, DW>(p, input, in_shape, weights, bias, output, out_shape)
        };
    } else {
        reference(p, input, in_shape, weights, bias, output, out_shape);
    }
}

/// [`simd`]'s `groups == 1` path over weights packed by the compiler for
/// packing `isa` ([`crate::packing::Packing::of_f32`]): the same register
/// tiles over the same panels, so the same bits as [`simd`] on the
/// unpacked weights. Does nothing for `ISA_REFERENCE` (a table without a
/// packing is never handed packed weights).
///
/// # Safety
/// The CPU supports `V`'s instructions.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) unsafe fn simd_packed<V: F32Simd, const MR: usize, const NV: usize, const MR1: usize>(
    isa: u32,
    p: &ConvParams,
    input: &[f32],
    in_shape: [usize; 4],
    weights: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
    out_shape: [usize; 4],
) {
    if isa == crate::format::ISA_REFERENCE {
        return;
    }
    tiled::assert_packing::<V, NV>(isa, out_shape[3]);
    let nr = if out_shape[3] <= V::LANES {
        V::LANES
    } else {
        NV * V::LANES
    };
    if pixels::applies::<V>(p, in_shape, out_shape, nr) {
        // SAFETY: forwarded from the caller; the weights are packed for
        // `nr` channels per block (checked above).
        return unsafe {
            pixels::conv::<V>(p, input, in_shape, weights, nr, bias, output, out_shape)
        };
    }
    let b = BSource::Packed(weights);
    // SAFETY: forwarded from the caller.
    unsafe { dense::<V, MR, NV, MR1>(p, input, in_shape, b, bias, output, out_shape) }
}

/// A `groups == 1` conv as the tiled GEMM: `MR x NV` register tiles, or
/// `MR1 x 1` when the output channels fit one vector.
///
/// # Safety
/// The CPU supports `V`'s instructions.
#[inline(always)]
unsafe fn dense<V: F32Simd, const MR: usize, const NV: usize, const MR1: usize>(
    p: &ConvParams,
    input: &[f32],
    in_shape: [usize; 4],
    b: BSource<'_>,
    bias: Option<&[f32]>,
    output: &mut [f32],
    out_shape: [usize; 4],
) {
    let g = geometry(p, in_shape, out_shape);
    // SAFETY (both): forwarded from the caller.
    if out_shape[3] <= V::LANES {
        unsafe { tiled::gemm::<V, MR1, 1>(&g, input, b, bias, p.act, output) }
    } else {
        unsafe { tiled::gemm::<V, MR, NV>(&g, input, b, bias, p.act, output) }
    }
}

/// The SIMD ConvTranspose2d of one kernel table: when the kernel equals the
/// stride (no overlap, no padding, no dilation, one group), every output
/// pixel has exactly one tap, and each tap `(ky, kx)` is a tiled GEMM of the
/// input with that tap's weights, scattered to the pixels
/// `(y·s + ky, x·s + kx)`: the reference's sum (over the input channels,
/// from 0.0, then bias and activation) with fused multiply-adds. Anything
/// else by [`transpose_reference`].
///
/// # Safety
/// The CPU supports `V`'s instructions.
#[inline(always)]
pub(crate) unsafe fn simd_transpose<
    V: F32Simd,
    const MR: usize,
    const NV: usize,
    const MR1: usize,
>(
    p: &ConvParams,
    input: &[f32],
    in_shape: [usize; 4],
    weights: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
    out_shape: [usize; 4],
) {
    let [n, ih, iw, ic] = in_shape;
    let [on, oh, ow, oc] = out_shape;
    let (kh, kw) = (p.kernel_h, p.kernel_w);
    let plain = p.groups == 1
        && (p.stride_h, p.stride_w) == (kh, kw)
        && (p.dilation_h, p.dilation_w) == (1, 1)
        && (p.pad_top, p.pad_left) == (0, 0)
        && on == n
        && (oh, ow) == (ih * kh, iw * kw)
        && ih * iw > 0;
    if !plain {
        return transpose_reference(p, input, in_shape, weights, bias, output, out_shape);
    }
    let pixels = n * ih * iw;
    if oc * kh * kw <= FEW_OUTPUTS && oc < V::LANES && ic <= FEW_MAX_IC && pixels >= V::LANES {
        // SAFETY: forwarded from the caller.
        return unsafe { transpose_few::<V>(p, input, in_shape, weights, bias, output, out_shape) };
    }
    let g = Geometry {
        in_shape,
        out_shape: [n, ih, iw, oc],
        kernel: [1, 1],
        stride: [1, 1],
        dilation: [1, 1],
        pad: [0, 0],
    };
    for ky in 0..kh {
        for kx in 0..kw {
            let b = BSource::Strided(weights, kh * kw * ic, (ky * kw + kx) * ic);
            let s = Some(Scatter {
                stride: [kh, kw],
                tap: [ky, kx],
                out_hw: [oh, ow],
            });
            // SAFETY (both): forwarded from the caller.
            if oc <= V::LANES {
                unsafe { tiled::gemm_scatter::<V, MR1, 1>(&g, input, b, bias, p.act, output, s) }
            } else {
                unsafe { tiled::gemm_scatter::<V, MR, NV>(&g, input, b, bias, p.act, output, s) }
            }
        }
    }
}

/// Most `oc·kh·kw` values per input pixel for [`transpose_few`].
const FEW_OUTPUTS: usize = 16;
/// Most input channels for [`transpose_few`] (its transposed block is
/// `16·FEW_MAX_IC` floats on the stack).
const FEW_MAX_IC: usize = 256;

/// `simd_transpose`'s plain case when each input pixel feeds only a few
/// output values (`oc·kh·kw <= 16`, e.g. a segmentation head's 2×2
/// up-sampling to one channel), where a GEMM over the output channels
/// would leave most lanes empty: vectorized over `LANES` input pixels
/// instead, one accumulator per output value, `k` in order with fused
/// multiply-adds (the tiled GEMM's bound). The last block of pixels
/// overlaps the previous one (outputs of a pixel depend on it alone, and
/// the output never aliases the input).
///
/// # Safety
/// The CPU supports `V`'s instructions; the caller checked the plain case,
/// `oc·kh·kw <= FEW_OUTPUTS`, `ic <= FEW_MAX_IC`, `n·ih·iw >= LANES` and
/// `LANES <= 16`.
#[inline(always)]
unsafe fn transpose_few<V: F32Simd>(
    p: &ConvParams,
    input: &[f32],
    in_shape: [usize; 4],
    weights: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
    out_shape: [usize; 4],
) {
    let [n, ih, iw, ic] = in_shape;
    let [_, oh, ow, oc] = out_shape;
    let (kh, kw) = (p.kernel_h, p.kernel_w);
    let (lanes, taps) = (V::LANES, kh * kw);
    let outs = oc * taps;
    let pixels = n * ih * iw;
    assert!(lanes <= 16 && outs <= FEW_OUTPUTS && ic <= FEW_MAX_IC && pixels >= lanes);
    assert!(input.len() >= pixels * ic && weights.len() >= outs * ic);
    assert!(output.len() >= n * oh * ow * oc && bias.is_none_or(|b| b.len() >= oc));
    let mut xt = [0.0f32; 16 * FEW_MAX_IC];
    let mut tmp = [0.0f32; 16];
    // Output value `t = (o, ky, kx)`: its channel, and its offset from the
    // pixel's tap (0, 0) channel 0.
    let chan: [usize; FEW_OUTPUTS] = core::array::from_fn(|t| t / taps);
    let at: [usize; FEW_OUTPUTS] = core::array::from_fn(|t| {
        let tap = t % taps;
        ((tap / kw) * ow + tap % kw) * oc + t / taps
    });
    let mut p0 = 0;
    while p0 < pixels {
        let p0c = p0.min(pixels - lanes);
        // Block transposed: `xt[k·16 + j]` = channel `k` of pixel `p0c + j`
        // (written a row of `xt` at a time: strided reads gather, where
        // strided writes would scatter).
        let block = &input[p0c * ic..(p0c + lanes) * ic];
        for (k, row) in xt.chunks_exact_mut(16).take(ic).enumerate() {
            for (j, x) in row[..lanes].iter_mut().enumerate() {
                *x = block[j * ic + k];
            }
        }
        // SAFETY (vector ops): the CPU supports `V`; every load reads
        // `lanes <= 16` floats of a 16-float row of `xt`.
        let mut acc = [unsafe { V::zero() }; FEW_OUTPUTS];
        for k in 0..ic {
            let xv = unsafe { V::load(xt[k * 16..].as_ptr()) };
            for (t, a) in acc.iter_mut().enumerate().take(outs) {
                // Weights OHWI: output value `t = (o, ky, kx)`.
                *a = unsafe { a.fma(xv, V::splat(weights[t * ic + k])) };
            }
        }
        // Output offset of each pixel's tap (0, 0), channel 0: the block's
        // first pixel divided out once, the others stepped to.
        let mut base = [0usize; 16];
        let (mut bi, mut y, mut x) = (p0c / (ih * iw), p0c / iw % ih, p0c % iw);
        for b in base.iter_mut().take(lanes) {
            *b = ((bi * oh + y * kh) * ow + x * kw) * oc;
            x += 1;
            if x == iw {
                (x, y) = (0, y + 1);
                if y == ih {
                    (y, bi) = (0, bi + 1);
                }
            }
        }
        for ((a, &at), &o) in acc.iter().zip(&at).zip(&chan).take(outs) {
            // SAFETY: the CPU supports `V`; `tmp` holds 16 >= LANES floats.
            unsafe {
                let a = bias.map_or(*a, |b| a.add(V::splat(b[o])));
                match p.act {
                    Act::None => a.store(tmp.as_mut_ptr()),
                    Act::Clamp(lo, hi) => {
                        a.clamp(V::splat(lo), V::splat(hi)).store(tmp.as_mut_ptr())
                    }
                    act => {
                        a.store(tmp.as_mut_ptr());
                        for t in &mut tmp[..lanes] {
                            *t = act.apply(*t);
                        }
                    }
                }
            }
            for (&v, &base) in tmp[..lanes].iter().zip(&base) {
                output[base + at] = v;
            }
        }
        p0 = p0c + lanes;
    }
}

/// The tiled GEMM's view of a conv.
pub(crate) fn geometry(p: &ConvParams, in_shape: [usize; 4], out_shape: [usize; 4]) -> Geometry {
    Geometry {
        in_shape,
        out_shape,
        kernel: [p.kernel_h, p.kernel_w],
        stride: [p.stride_h, p.stride_w],
        dilation: [p.dilation_h, p.dilation_w],
        pad: [p.pad_top, p.pad_left],
    }
}

/// ConvTranspose2d, NHWC, weights `[oc, kh, kw, ic/groups]`; see the module
/// docs.
pub fn transpose_reference(
    p: &ConvParams,
    input: &[f32],
    in_shape: [usize; 4],
    weights: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
    out_shape: [usize; 4],
) {
    let ctx = Ctx::new(p, true, input, in_shape, weights, bias, out_shape);
    general(&ctx, output);
}

/// Everything one output pixel needs.
struct Ctx<'a> {
    p: &'a ConvParams,
    transposed: bool,
    input: &'a [f32],
    weights: &'a [f32],
    bias: Option<&'a [f32]>,
    /// `[n, ih, iw, ic]`.
    in_shape: [usize; 4],
    /// `[n, oh, ow, oc]`.
    out_shape: [usize; 4],
    /// Input channels per group.
    icg: usize,
    /// Output channels per group.
    ocg: usize,
    /// Weights per output channel: `kh * kw * icg`.
    w_len: usize,
}

impl<'a> Ctx<'a> {
    fn new(
        p: &'a ConvParams,
        transposed: bool,
        input: &'a [f32],
        in_shape: [usize; 4],
        weights: &'a [f32],
        bias: Option<&'a [f32]>,
        out_shape: [usize; 4],
    ) -> Self {
        let [n, ih, iw, ic] = in_shape;
        let [on, _, _, oc] = out_shape;
        let g = p.groups;
        debug_assert!(g >= 1 && ic % g == 0 && oc % g == 0, "bad groups");
        debug_assert!(p.kernel_h >= 1 && p.kernel_w >= 1, "empty kernel");
        debug_assert!(p.stride_h >= 1 && p.stride_w >= 1, "zero stride");
        debug_assert!(p.dilation_h >= 1 && p.dilation_w >= 1, "zero dilation");
        debug_assert_eq!(on, n, "batch mismatch");
        debug_assert!(input.len() >= n * ih * iw * ic, "input too short");
        debug_assert!(
            weights.len() >= oc * p.kernel_h * p.kernel_w * (ic / g),
            "weights too short"
        );
        debug_assert!(bias.is_none_or(|b| b.len() >= oc), "bias too short");
        let icg = ic / g.max(1);
        Ctx {
            p,
            transposed,
            input,
            weights,
            bias,
            in_shape,
            out_shape,
            icg,
            ocg: oc / g.max(1),
            w_len: p.kernel_h * p.kernel_w * icg,
        }
    }

    /// Input row read by kernel row `ky` for output row `oy`, if any.
    #[inline(always)]
    fn tap_y(&self, oy: usize, ky: usize) -> Option<usize> {
        let p = self.p;
        tap(
            self.transposed,
            oy,
            ky,
            p.stride_h,
            p.dilation_h,
            p.pad_top,
            self.in_shape[1],
        )
    }

    /// Input column read by kernel column `kx` for output column `ox`, if any.
    #[inline(always)]
    fn tap_x(&self, ox: usize, kx: usize) -> Option<usize> {
        let p = self.p;
        tap(
            self.transposed,
            ox,
            kx,
            p.stride_w,
            p.dilation_w,
            p.pad_left,
            self.in_shape[2],
        )
    }

    /// `act(acc + bias[o])`.
    #[inline(always)]
    fn finish(&self, acc: f32, o: usize) -> f32 {
        self.p.act.apply(match self.bias {
            Some(b) => acc + b[o],
            None => acc,
        })
    }
}

/// The input coordinate that kernel tap `k` connects to output coordinate
/// `o` along one axis, or `None` when it falls into the padding (Conv) or
/// no input position maps there (ConvTranspose).
#[inline(always)]
fn tap(
    transposed: bool,
    o: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    pad: usize,
    len: usize,
) -> Option<usize> {
    let i = if transposed {
        // i * stride - pad + k * dilation == o
        let t = (o + pad).checked_sub(k * dilation)?;
        if t % stride != 0 {
            return None;
        }
        t / stride
    } else {
        // i = o * stride - pad + k * dilation
        (o * stride + k * dilation).checked_sub(pad)?
    };
    (i < len).then_some(i)
}

/// Any groups, Conv or ConvTranspose: per output pixel, output channels in
/// blocks of four (four independent sums, each in the specified order).
fn general(c: &Ctx<'_>, output: &mut [f32]) {
    let [n, oh, ow, oc] = c.out_shape;
    debug_assert!(output.len() >= n * oh * ow * oc, "output too short");
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                let px = &mut output[((b * oh + oy) * ow + ox) * oc..][..oc];
                for g in 0..c.p.groups {
                    let end = (g + 1) * c.ocg;
                    let mut o = g * c.ocg;
                    while o + 4 <= end {
                        let acc = sums::<4>(c, b, oy, ox, g, o);
                        for (j, &a) in acc.iter().enumerate() {
                            px[o + j] = c.finish(a, o + j);
                        }
                        o += 4;
                    }
                    while o < end {
                        let [a] = sums::<1>(c, b, oy, ox, g, o);
                        px[o] = c.finish(a, o);
                        o += 1;
                    }
                }
            }
        }
    }
}

/// The bias-free sums of output channels `o..o + N` (all in group `g`) at
/// output pixel `(b, oy, ox)`.
#[inline(always)]
fn sums<const N: usize>(
    c: &Ctx<'_>,
    b: usize,
    oy: usize,
    ox: usize,
    g: usize,
    o: usize,
) -> [f32; N] {
    let [_, ih, iw, ic] = c.in_shape;
    let (kh, kw, icg) = (c.p.kernel_h, c.p.kernel_w, c.icg);
    let mut acc = [0.0f32; N];
    for ky in 0..kh {
        let Some(iy) = c.tap_y(oy, ky) else { continue };
        for kx in 0..kw {
            let Some(ix) = c.tap_x(ox, kx) else { continue };
            let x = &c.input[((b * ih + iy) * iw + ix) * ic + g * icg..][..icg];
            let tap = (ky * kw + kx) * icg;
            let w: [&[f32]; N] =
                core::array::from_fn(|j| &c.weights[(o + j) * c.w_len + tap..][..icg]);
            for (i, &xi) in x.iter().enumerate() {
                for (a, wj) in acc.iter_mut().zip(&w) {
                    *a += xi * wj[i];
                }
            }
        }
    }
    acc
}

/// Depthwise Conv (`groups == ic == oc`): one weight per channel and tap;
/// the output pixel row accumulates all channels at once.
fn depthwise(c: &Ctx<'_>, output: &mut [f32]) {
    let [n, oh, ow, ch] = c.out_shape;
    let [_, ih, iw, _] = c.in_shape;
    let (kh, kw) = (c.p.kernel_h, c.p.kernel_w);
    let taps = kh * kw; // = w_len
    debug_assert!(output.len() >= n * oh * ow * ch, "output too short");
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                let px = &mut output[((b * oh + oy) * ow + ox) * ch..][..ch];
                px.fill(0.0);
                for ky in 0..kh {
                    let Some(iy) = c.tap_y(oy, ky) else { continue };
                    for kx in 0..kw {
                        let Some(ix) = c.tap_x(ox, kx) else { continue };
                        let x = &c.input[((b * ih + iy) * iw + ix) * ch..][..ch];
                        let w = &c.weights[ky * kw + kx..];
                        for (k, (acc, &xk)) in px.iter_mut().zip(x).enumerate() {
                            *acc += xk * w[k * taps];
                        }
                    }
                }
                for (o, v) in px.iter_mut().enumerate() {
                    *v = c.finish(*v, o);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::test_util::{assert_close, iters, Rng};
    use std::vec;
    use std::vec::Vec;

    struct Case {
        p: ConvParams,
        pb: usize,
        pr: usize,
        in_shape: [usize; 4],
        oc: usize,
        bias: bool,
    }

    /// Direct formula, NCHW-style loop nest (output channel outermost),
    /// signed coordinates with explicit bounds checks.
    fn naive_conv(c: &Case, x: &[f32], w: &[f32], bias: &[f32], oh: usize, ow: usize) -> Vec<f32> {
        let p = &c.p;
        let [n, ih, iw, ic] = c.in_shape;
        let (icg, ocg) = (ic / p.groups, c.oc / p.groups);
        let mut out = vec![0.0; n * oh * ow * c.oc];
        for b in 0..n {
            for o in 0..c.oc {
                let g = o / ocg;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut s = 0.0f32;
                        for ky in 0..p.kernel_h {
                            for kx in 0..p.kernel_w {
                                for i in 0..icg {
                                    let iy = (oy * p.stride_h) as i64 - p.pad_top as i64
                                        + (ky * p.dilation_h) as i64;
                                    let ix = (ox * p.stride_w) as i64 - p.pad_left as i64
                                        + (kx * p.dilation_w) as i64;
                                    if iy < 0 || ix < 0 || iy >= ih as i64 || ix >= iw as i64 {
                                        continue;
                                    }
                                    let (iy, ix) = (iy as usize, ix as usize);
                                    s += x[((b * ih + iy) * iw + ix) * ic + g * icg + i]
                                        * w[((o * p.kernel_h + ky) * p.kernel_w + kx) * icg + i];
                                }
                            }
                        }
                        if c.bias {
                            s += bias[o];
                        }
                        out[((b * oh + oy) * ow + ox) * c.oc + o] = p.act.apply(s);
                    }
                }
            }
        }
        out
    }

    /// ONNX ConvTranspose as a scatter, weights in ONNX order
    /// `[ic, oc/groups, kh, kw]`.
    fn naive_transpose(
        c: &Case,
        x: &[f32],
        w_onnx: &[f32],
        bias: &[f32],
        oh: usize,
        ow: usize,
    ) -> Vec<f32> {
        let p = &c.p;
        let [n, ih, iw, ic] = c.in_shape;
        let (icg, ocg) = (ic / p.groups, c.oc / p.groups);
        let mut out = vec![0.0f32; n * oh * ow * c.oc];
        for b in 0..n {
            for ci in 0..ic {
                let g = ci / icg;
                for iy in 0..ih {
                    for ix in 0..iw {
                        for oo in 0..ocg {
                            for ky in 0..p.kernel_h {
                                for kx in 0..p.kernel_w {
                                    let oy = (iy * p.stride_h + ky * p.dilation_h) as i64
                                        - p.pad_top as i64;
                                    let ox = (ix * p.stride_w + kx * p.dilation_w) as i64
                                        - p.pad_left as i64;
                                    if oy < 0 || ox < 0 || oy >= oh as i64 || ox >= ow as i64 {
                                        continue;
                                    }
                                    let o = g * ocg + oo;
                                    out[((b * oh + oy as usize) * ow + ox as usize) * c.oc + o] += x
                                        [((b * ih + iy) * iw + ix) * ic + ci]
                                        * w_onnx
                                            [((ci * ocg + oo) * p.kernel_h + ky) * p.kernel_w + kx];
                                }
                            }
                        }
                    }
                }
            }
        }
        for (k, v) in out.iter_mut().enumerate() {
            let o = k % c.oc;
            *v = p.act.apply(if c.bias { *v + bias[o] } else { *v });
        }
        out
    }

    /// ONNX `[ic, oc/g, kh, kw]` -> `[oc, kh, kw, ic/g]`, as the compiler does.
    fn repack_transposed(
        w: &[f32],
        ic: usize,
        oc: usize,
        g: usize,
        kh: usize,
        kw: usize,
    ) -> Vec<f32> {
        let (icg, ocg) = (ic / g, oc / g);
        let mut out = vec![0.0; oc * kh * kw * icg];
        for o in 0..oc {
            let (grp, oo) = (o / ocg, o % ocg);
            for ky in 0..kh {
                for kx in 0..kw {
                    for i in 0..icg {
                        let ci = grp * icg + i;
                        out[((o * kh + ky) * kw + kx) * icg + i] =
                            w[((ci * ocg + oo) * kh + ky) * kw + kx];
                    }
                }
            }
        }
        out
    }

    fn random_case(rng: &mut Rng, depthwise: bool) -> Case {
        let acts = [
            Act::None,
            Act::Clamp(0.0, 6.0),
            Act::HardSwish,
            Act::LeakyRelu(0.2),
            Act::Sigmoid,
        ];
        let groups = if depthwise {
            1 + rng.below(9)
        } else {
            [1, 1, 1, 2, 3][rng.below(5)]
        };
        let ic = if depthwise {
            groups
        } else {
            groups * (1 + rng.below(6))
        };
        let oc = if depthwise {
            groups
        } else {
            groups * (1 + rng.below(7))
        };
        let (kh, kw) = (1 + rng.below(4), 1 + rng.below(4));
        let (dh, dw) = (1 + rng.below(3), 1 + rng.below(3));
        Case {
            p: ConvParams {
                kernel_h: kh,
                kernel_w: kw,
                stride_h: 1 + rng.below(3),
                stride_w: 1 + rng.below(3),
                dilation_h: dh,
                dilation_w: dw,
                pad_top: rng.below(dh * (kh - 1) + 2),
                pad_left: rng.below(dw * (kw - 1) + 2),
                groups,
                act: acts[rng.below(acts.len())],
            },
            pb: rng.below(dh * (kh - 1) + 2),
            pr: rng.below(dw * (kw - 1) + 2),
            in_shape: [1 + rng.below(2), 1 + rng.below(9), 1 + rng.below(9), ic],
            oc,
            bias: rng.below(3) != 0,
        }
    }

    fn conv_out_len(
        len: usize,
        pa: usize,
        pz: usize,
        k: usize,
        d: usize,
        s: usize,
    ) -> Option<usize> {
        let ext = d * (k - 1) + 1;
        (len + pa + pz).checked_sub(ext).map(|span| span / s + 1)
    }

    fn check_conv(rng: &mut Rng, c: &Case) -> bool {
        let p = &c.p;
        let [n, ih, iw, ic] = c.in_shape;
        let (Some(oh), Some(ow)) = (
            conv_out_len(ih, p.pad_top, c.pb, p.kernel_h, p.dilation_h, p.stride_h),
            conv_out_len(iw, p.pad_left, c.pr, p.kernel_w, p.dilation_w, p.stride_w),
        ) else {
            return false;
        };
        let x = rng.vec(n * ih * iw * ic);
        let w = rng.vec(c.oc * p.kernel_h * p.kernel_w * (ic / p.groups));
        let bias = rng.vec(c.oc);
        let mut out = vec![f32::NAN; n * oh * ow * c.oc];
        reference(
            p,
            &x,
            c.in_shape,
            &w,
            c.bias.then_some(&bias[..]),
            &mut out,
            [n, oh, ow, c.oc],
        );
        // Same summation order as the kernel: bit-identical.
        assert_close(&out, &naive_conv(c, &x, &w, &bias, oh, ow), 0.0);
        true
    }

    #[test]
    fn conv_matches_naive_random_geometries() {
        let mut rng = Rng::new(1);
        let mut done = 0;
        while done < iters(600) {
            let c = random_case(&mut rng, false);
            done += check_conv(&mut rng, &c) as usize;
        }
    }

    #[test]
    fn depthwise_matches_naive() {
        let mut rng = Rng::new(2);
        let mut done = 0;
        while done < iters(300) {
            let c = random_case(&mut rng, true);
            done += check_conv(&mut rng, &c) as usize;
        }
    }

    #[test]
    fn conv_hand_computed() {
        // 1x3x3x1 input, 2x2 kernel of ones, pad 1 all round, stride 2:
        // output 2x2 of window sums.
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let p = ConvParams {
            kernel_h: 2,
            kernel_w: 2,
            stride_h: 2,
            stride_w: 2,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 1,
            pad_left: 1,
            groups: 1,
            act: Act::None,
        };
        let mut out = [0.0; 4];
        reference(
            &p,
            &x,
            [1, 3, 3, 1],
            &[1.0; 4],
            Some(&[0.5]),
            &mut out,
            [1, 2, 2, 1],
        );
        assert_eq!(out, [1.5, 5.5, 11.5, 28.5]);
        // Two groups of one channel each, weights 1 and -1.
        let x2 = [1.0, 10.0, 2.0, 20.0]; // [1, 1, 2, 2]
        let p2 = ConvParams {
            kernel_h: 1,
            kernel_w: 2,
            pad_top: 0,
            pad_left: 0,
            groups: 2,
            ..p
        };
        let mut out2 = [0.0; 2];
        reference(
            &p2,
            &x2,
            [1, 1, 2, 2],
            &[1.0, 1.0, -1.0, -1.0],
            None,
            &mut out2,
            [1, 1, 1, 2],
        );
        assert_eq!(out2, [3.0, -30.0]);
    }

    #[test]
    fn transpose_matches_onnx_scatter() {
        let mut rng = Rng::new(3);
        let mut done = 0;
        while done < iters(400) {
            let depthwise = rng.below(4) == 0;
            let mut c = random_case(&mut rng, depthwise);
            let p = c.p;
            let [n, ih, iw, ic] = c.in_shape;
            let adj_h = rng.below(p.stride_h);
            let adj_w = rng.below(p.stride_w);
            let full_h = (ih - 1) * p.stride_h + p.dilation_h * (p.kernel_h - 1) + 1 + adj_h;
            let full_w = (iw - 1) * p.stride_w + p.dilation_w * (p.kernel_w - 1) + 1 + adj_w;
            c.pb = rng.below(3);
            c.pr = rng.below(3);
            let (Some(oh), Some(ow)) = (
                full_h.checked_sub(p.pad_top + c.pb).filter(|&v| v > 0),
                full_w.checked_sub(p.pad_left + c.pr).filter(|&v| v > 0),
            ) else {
                continue;
            };
            let x = rng.vec(n * ih * iw * ic);
            let w_onnx = rng.vec(ic * (c.oc / p.groups) * p.kernel_h * p.kernel_w);
            let w = repack_transposed(&w_onnx, ic, c.oc, p.groups, p.kernel_h, p.kernel_w);
            let bias = rng.vec(c.oc);
            let mut out = vec![f32::NAN; n * oh * ow * c.oc];
            transpose_reference(
                &p,
                &x,
                c.in_shape,
                &w,
                c.bias.then_some(&bias[..]),
                &mut out,
                [n, oh, ow, c.oc],
            );
            // Scatter sums in another order: compare with a tolerance.
            assert_close(&out, &naive_transpose(&c, &x, &w_onnx, &bias, oh, ow), 1e-5);
            done += 1;
        }
    }

    #[test]
    fn transpose_hand_computed() {
        // 1x2x2x1 input, 2x2 kernel, stride 2: each input pixel becomes a
        // 2x2 block scaled by the kernel.
        let p = ConvParams {
            kernel_h: 2,
            kernel_w: 2,
            stride_h: 2,
            stride_w: 2,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 0,
            pad_left: 0,
            groups: 1,
            act: Act::None,
        };
        let mut out = [0.0; 16];
        transpose_reference(
            &p,
            &[1.0, 2.0, 3.0, 4.0],
            [1, 2, 2, 1],
            &[1.0, 10.0, 100.0, 1000.0],
            None,
            &mut out,
            [1, 4, 4, 1],
        );
        #[rustfmt::skip]
        let want = [
            1.0, 10.0, 2.0, 20.0,
            100.0, 1000.0, 200.0, 2000.0,
            3.0, 30.0, 4.0, 40.0,
            300.0, 3000.0, 400.0, 4000.0,
        ];
        assert_eq!(out, want);
        // Stride 1, pad 1 crops the border of the full 3x3 output to 1x1:
        // the centre collects all four products.
        let p1 = ConvParams {
            stride_h: 1,
            stride_w: 1,
            pad_top: 1,
            pad_left: 1,
            ..p
        };
        let mut out1 = [0.0; 1];
        transpose_reference(
            &p1,
            &[1.0, 2.0, 3.0, 4.0],
            [1, 2, 2, 1],
            &[1.0, 10.0, 100.0, 1000.0],
            Some(&[0.5]),
            &mut out1,
            [1, 1, 1, 1],
        );
        // out[1,1] = x00*w11 + x01*w10 + x10*w01 + x11*w00
        assert_eq!(out1, [1000.0 + 200.0 + 30.0 + 4.0 + 0.5]);
    }
}
