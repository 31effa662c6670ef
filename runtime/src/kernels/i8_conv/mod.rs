//! int8 2-D convolution, NHWC, per-channel quantized weights: TFLite
//! `reference_integer_ops::ConvPerChannel` / `DepthwiseConvPerChannel`,
//! ONNX `QLinearConv` (and QDQ `Conv`) after the compiler's lowering.
//!
//! Layout (as [`f32_conv`](super::f32_conv)): input `[n, ih, iw, ic]`,
//! weights OHWI `[oc, kh, kw, ic/groups]`, bias `[oc]` (`i32`, in units of
//! `S_x * S_w[o]`), `requant [2 * oc]` = `(mult, shift)` per output
//! channel, output `[n, oh, ow, oc]`. With `icg = ic/groups`,
//! `ocg = oc/groups` and output channel `o` in group `g = o / ocg`:
//!
//! ```text
//! acc[b,oy,ox,o] = bias[o] + sum_{ky,kx,i} w[o,ky,kx,i] * (x[b, iy, ix, g*icg+i] - in_zp)   (i32)
//!                  over the in-image taps only,
//!                  iy = oy*sh - pad_top + ky*dh,  ix = ox*sw - pad_left + kx*dw
//! y[b,oy,ox,o]   = clamp(mbqm(acc, mult[o], shift[o]) + out_zp, act_min, act_max)
//! ```
//!
//! Out-of-image taps are skipped ("zero padding by omitting the areas
//! outside the image", TFLite), which equals padding the input with
//! `in_zp`, the quantized real zero. Bottom/right padding is implied by
//! the output shape. Any `groups` that divides `ic` and `oc`: depthwise is
//! `groups = ic` with `ocg` the depth multiplier (TFLite's
//! `output_channel = m + in_channel * depth_multiplier`).
//! `mult[o] * 2^(shift[o] - 31) = S_x * S_w[o] / S_y` (compiler,
//! [`quantize_multiplier`](crate::quant::quantize_multiplier)).
//!
//! Rounding: [`mbqm`](crate::quant::mbqm) (TFLite double rounding), then
//! the saturating `+ out_zp` and the clamp of [`requantize_clamp`].
//!
//! Accumulator bounds: `w` in `[-128, 127]` and `x - in_zp` in
//! `[-255, 255]`, so each product lies in `[-32640, 32640]` and
//! `|acc| <= |bias| + kh*kw*icg * 32640`; `kh*kw*icg <= 2^16` keeps the
//! tap sum within `2^31 - 2^23`, leaving `2^23` for the bias. The op layer
//! guarantees the sum fits; it is defined mod 2^32 (wrapping), so
//! optimized kernels that fold `in_zp` into the bias (and pad with `in_zp`)
//! agree bit for bit.

use super::i8_gemm::tiled::{self, QBSource, QMicro, QOut};
use super::simd::I32Simd;
use crate::quant::requantize_clamp;

pub(crate) mod depthwise;
#[cfg(all(target_arch = "x86_64", not(miri)))]
pub(crate) mod depthwise_vnni;
#[cfg(all(target_arch = "x86_64", not(miri)))]
pub(crate) mod pixels_vnni;

/// Geometry, zero points and fused-activation clamp of an int8 `Conv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QConvParams {
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
    /// Padding rows above the input.
    pub pad_top: usize,
    /// Padding columns left of the input.
    pub pad_left: usize,
    /// Number of channel groups.
    pub groups: usize,
    /// Input zero point.
    pub in_zp: i32,
    /// Output zero point.
    pub out_zp: i32,
    /// Lower clamp (in `[-128, 127]`).
    pub act_min: i32,
    /// Upper clamp (in `[act_min, 127]`).
    pub act_max: i32,
}

/// Int8 Conv2d, NHWC / OHWI, per-channel requantization; see the module
/// docs.
#[allow(clippy::too_many_arguments)] // the op layer's fixed contract
pub fn reference(
    p: &QConvParams,
    x: &[i8],
    in_shape: [usize; 4],
    w: &[i8],
    bias: &[i32],
    requant: &[i32],
    out: &mut [i8],
    out_shape: [usize; 4],
) {
    let [n, ih, iw, ic] = in_shape;
    let [on, oh, ow, oc] = out_shape;
    let g = p.groups;
    debug_assert!(g >= 1 && ic % g == 0 && oc % g == 0, "bad groups");
    debug_assert!(p.kernel_h >= 1 && p.kernel_w >= 1, "empty kernel");
    debug_assert!(p.stride_h >= 1 && p.stride_w >= 1, "zero stride");
    debug_assert!(p.dilation_h >= 1 && p.dilation_w >= 1, "zero dilation");
    debug_assert_eq!(on, n, "batch mismatch");
    debug_assert!(x.len() >= n * ih * iw * ic, "input too short");
    debug_assert!(
        w.len() >= oc * p.kernel_h * p.kernel_w * (ic / g.max(1)),
        "weights too short"
    );
    debug_assert!(bias.len() >= oc, "bias too short");
    debug_assert!(requant.len() >= 2 * oc, "requant too short");
    debug_assert!(out.len() >= n * oh * ow * oc, "output too short");
    let icg = ic / g.max(1);
    let ocg = oc / g.max(1);
    let w_len = p.kernel_h * p.kernel_w * icg;
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                let px = &mut out[((b * oh + oy) * ow + ox) * oc..][..oc];
                for (o, y) in px.iter_mut().enumerate() {
                    let grp = o / ocg;
                    let w_o = &w[o * w_len..][..w_len];
                    let mut acc = bias[o];
                    for ky in 0..p.kernel_h {
                        let Some(iy) = tap(oy, ky, p.stride_h, p.dilation_h, p.pad_top, ih) else {
                            continue;
                        };
                        for kx in 0..p.kernel_w {
                            let Some(ix) = tap(ox, kx, p.stride_w, p.dilation_w, p.pad_left, iw)
                            else {
                                continue;
                            };
                            let xs = &x[((b * ih + iy) * iw + ix) * ic + grp * icg..][..icg];
                            let ws = &w_o[(ky * p.kernel_w + kx) * icg..][..icg];
                            for (&xi, &wi) in xs.iter().zip(ws) {
                                acc = acc.wrapping_add(wi as i32 * (xi as i32 - p.in_zp));
                            }
                        }
                    }
                    *y = requantize_clamp(
                        acc,
                        requant[2 * o],
                        requant[2 * o + 1],
                        p.out_zp,
                        p.act_min,
                        p.act_max,
                    );
                }
            }
        }
    }
}

/// The SIMD int8 Conv2d of one kernel table: `groups == 1` as a tiled GEMM
/// with micro-kernel `Q` (`QN` when the output channels fit its narrower
/// tile), depthwise in blocks of `DW` vectors `V`, anything else
/// by [`reference()`]. Bit-identical to [`reference()`].
///
/// # Safety
/// The CPU supports `Q`'s and `V`'s instructions.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn simd<Q: QMicro, QN: QMicro, V: I32Simd, const DW: usize>(
    p: &QConvParams,
    x: &[i8],
    in_shape: [usize; 4],
    w: &[i8],
    bias: &[i32],
    requant: &[i32],
    out: &mut [i8],
    out_shape: [usize; 4],
) {
    if p.groups == 1 {
        let g = tiled_geometry(p, in_shape, out_shape);
        let q = q_out(p, &requant[..2 * out_shape[3]]);
        let b = QBSource::PerOutput(w);
        // SAFETY (both): forwarded from the caller.
        if out_shape[3] <= QN::NR {
            unsafe { tiled::qgemm::<QN>(&g, x, b, Some(bias), &q, out) }
        } else {
            unsafe { tiled::qgemm::<Q>(&g, x, b, Some(bias), &q, out) }
        }
    } else if depthwise::applies(p, in_shape, out_shape) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        if Q::VNNI512 && depthwise_vnni::applies(p, in_shape[3]) {
            // SAFETY: forwarded from the caller (`Q` runs on AVX-512 VNNI).
            return unsafe {
                depthwise_vnni::depthwise(p, x, in_shape, w, bias, requant, out, out_shape)
            };
        }
        // SAFETY: forwarded from the caller (whose CPU runs `Q` runs `V`).
        unsafe { depthwise::depthwise::<V, DW>(p, x, in_shape, w, bias, requant, out, out_shape) };
    } else {
        reference(p, x, in_shape, w, bias, requant, out, out_shape);
    }
}

/// The SIMD int8 Conv2d (`groups == 1`) of a table over weights in its
/// packing `isa` ([`crate::packing`]): `w` is the packed `[oc / NR][kp /
/// G][NR][G]` tensor and `bias` the folded accumulator start. Bit-identical
/// to [`reference()`] over the unpacked weights and bias.
///
/// # Safety
/// The CPU supports `Q`'s instructions.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) unsafe fn simd_packed<Q: QMicro, QN: QMicro>(
    isa: u32,
    p: &QConvParams,
    x: &[i8],
    in_shape: [usize; 4],
    w: &[i8],
    bias: &[i32],
    requant: &[i32],
    out: &mut [i8],
    out_shape: [usize; 4],
) {
    if isa == crate::format::ISA_REFERENCE {
        return; // a table without a packing is never handed packed weights
    }
    let oc = out_shape[3];
    let g = tiled_geometry(p, in_shape, out_shape);
    let q = q_out(p, &requant[..2 * oc]);
    let b = QBSource::Packed(w);
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if Q::VNNI512 {
        let nr = if oc <= QN::NR { QN::NR } else { Q::NR };
        if pixels_vnni::applies(p, in_shape, out_shape, nr) {
            if oc <= QN::NR {
                tiled::assert_packing::<QN>(isa, oc);
            } else {
                tiled::assert_packing::<Q>(isa, oc);
            }
            // SAFETY: forwarded from the caller (`Q` runs on AVX-512 VNNI);
            // the packing is the one `pixels_vnni` reads (checked above).
            return unsafe {
                pixels_vnni::conv(p, x, in_shape, w, nr, bias, requant, out, out_shape)
            };
        }
    }
    // The compiler packed for the micro-kernel the table runs on `oc`
    // channels; a disagreement would read the weights in the wrong order.
    // SAFETY (both): forwarded from the caller.
    if oc <= QN::NR {
        tiled::assert_packing::<QN>(isa, oc);
        unsafe { tiled::qgemm::<QN>(&g, x, b, Some(bias), &q, out) }
    } else {
        tiled::assert_packing::<Q>(isa, oc);
        unsafe { tiled::qgemm::<Q>(&g, x, b, Some(bias), &q, out) }
    }
}

/// The tiled GEMM's output stage of a conv.
fn q_out<'a>(p: &QConvParams, requant: &'a [i32]) -> QOut<'a> {
    QOut {
        in_zp: p.in_zp,
        out_zp: p.out_zp,
        act_min: p.act_min,
        act_max: p.act_max,
        requant,
        b_zp: 0,
    }
}

fn tiled_geometry(
    p: &QConvParams,
    in_shape: [usize; 4],
    out_shape: [usize; 4],
) -> super::f32_gemm::tiled::Geometry {
    super::f32_gemm::tiled::Geometry {
        in_shape,
        out_shape,
        kernel: [p.kernel_h, p.kernel_w],
        stride: [p.stride_h, p.stride_w],
        dilation: [p.dilation_h, p.dilation_w],
        pad: [p.pad_top, p.pad_left],
    }
}

/// The input coordinate `o*stride - pad + k*dilation` that kernel tap `k`
/// of output coordinate `o` reads, or `None` in the padding.
#[inline(always)]
fn tap(
    o: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    pad: usize,
    len: usize,
) -> Option<usize> {
    (o * stride + k * dilation)
        .checked_sub(pad)
        .filter(|&i| i < len)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::test_util::{iters, Rng};
    use crate::quant::test_support::{
        act_range, expect, out_scale, scale, vec_i8, zero_point, Guarded, Lsb,
    };
    use crate::quant::{mbqm, quantize_multiplier};
    use std::vec::Vec;

    struct Case {
        p: QConvParams,
        pb: usize,
        pr: usize,
        in_shape: [usize; 4],
        oc: usize,
    }

    const SIZES: [usize; 10] = [1, 3, 4, 5, 7, 8, 9, 15, 16, 17];

    fn random_case(rng: &mut Rng, kind: usize) -> Case {
        // kind 0: groups 1; 1: depthwise (multiplier 1..3); 2: grouped.
        let (groups, ic, oc) = match kind {
            0 => {
                let ic = SIZES[rng.below(SIZES.len())];
                (1, ic, SIZES[rng.below(SIZES.len())])
            }
            1 => {
                let c = SIZES[rng.below(SIZES.len())];
                (c, c, c * (1 + rng.below(3)))
            }
            _ => {
                let g = 2 + rng.below(3);
                (g, g * (1 + rng.below(5)), g * (1 + rng.below(5)))
            }
        };
        let (kh, kw) = (1 + rng.below(4), 1 + rng.below(4));
        let (dh, dw) = (1 + rng.below(2), 1 + rng.below(2));
        let out_zp = zero_point(rng);
        let (act_min, act_max) = act_range(rng, out_zp);
        Case {
            p: QConvParams {
                kernel_h: kh,
                kernel_w: kw,
                stride_h: 1 + rng.below(2),
                stride_w: 1 + rng.below(2),
                dilation_h: dh,
                dilation_w: dw,
                pad_top: rng.below(dh * (kh - 1) + 2),
                pad_left: rng.below(dw * (kw - 1) + 2),
                groups,
                in_zp: zero_point(rng),
                out_zp,
                act_min,
                act_max,
            },
            pb: rng.below(dh * (kh - 1) + 2),
            pr: rng.below(dw * (kw - 1) + 2),
            in_shape: [1 + rng.below(2), 1 + rng.below(9), 1 + rng.below(9), ic],
            oc,
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

    /// Signed input coordinate of a tap (may be outside the image).
    fn coord(o: usize, k: usize, s: usize, d: usize, pad: usize) -> i64 {
        (o * s + k * d) as i64 - pad as i64
    }

    /// Runs one case; returns false when its geometry has no output.
    fn check(rng: &mut Rng, c: &Case, lsb: &mut Lsb) -> bool {
        let p = &c.p;
        let [n, ih, iw, ic] = c.in_shape;
        let (Some(oh), Some(ow)) = (
            conv_out_len(ih, p.pad_top, c.pb, p.kernel_h, p.dilation_h, p.stride_h),
            conv_out_len(iw, p.pad_left, c.pr, p.kernel_w, p.dilation_w, p.stride_w),
        ) else {
            return false;
        };
        let (icg, ocg) = (ic / p.groups, c.oc / p.groups);
        let (kh, kw) = (p.kernel_h, p.kernel_w);
        let x = vec_i8(rng, n * ih * iw * ic);
        let w = vec_i8(rng, c.oc * kh * kw * icg);
        let bias: Vec<i32> = (0..c.oc)
            .map(|_| (rng.next_u64() % 20_001) as i32 - 10_000)
            .collect();
        // Input and per-channel weight scales, extreme and tiny.
        let sx = scale(rng, -16.0, 4.0);
        let sw: Vec<f32> = (0..c.oc).map(|_| scale(rng, -12.0, 0.0)).collect();
        // Integer (NCHW-style loop nest, i64 sums) and real (f64) sums,
        // indexed like the output.
        let len = n * oh * ow * c.oc;
        let (mut acc, mut real) = (std::vec![0i64; len], std::vec![0f64; len]);
        for b in 0..n {
            for o in 0..c.oc {
                let g = o / ocg;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut a = bias[o] as i64;
                        let mut r = sx as f64 * sw[o] as f64 * bias[o] as f64;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = coord(oy, ky, p.stride_h, p.dilation_h, p.pad_top);
                                let ix = coord(ox, kx, p.stride_w, p.dilation_w, p.pad_left);
                                if iy < 0 || ix < 0 || iy >= ih as i64 || ix >= iw as i64 {
                                    continue;
                                }
                                for i in 0..icg {
                                    let xv = x[((b * ih + iy as usize) * iw + ix as usize) * ic
                                        + g * icg
                                        + i] as i64
                                        - p.in_zp as i64;
                                    let wv = w[((o * kh + ky) * kw + kx) * icg + i] as i64;
                                    a += wv * xv;
                                    r += sx as f64 * xv as f64 * sw[o] as f64 * wv as f64;
                                }
                            }
                        }
                        let at = ((b * oh + oy) * ow + ox) * c.oc + o;
                        acc[at] = a;
                        real[at] = r;
                    }
                }
            }
        }
        // Output scale; M <= 4 as the compiler keeps `acc * 2^shift` from wrapping.
        let sw_max = sw.iter().fold(0.0f32, |m, &v| m.max(v));
        let sy = out_scale(rng, &real, sx * sw_max / 4.0);
        let requant: Vec<i32> = sw
            .iter()
            .flat_map(|&s| {
                let (m, sh) = quantize_multiplier(sx as f64 * s as f64 / sy as f64);
                [m, sh]
            })
            .collect();
        let mut out = Guarded::new(len);
        reference(
            p,
            &x,
            c.in_shape,
            &w,
            &bias,
            &requant,
            out.out(),
            [n, oh, ow, c.oc],
        );
        for (at, &got) in out.body().iter().enumerate() {
            let o = at % c.oc;
            let q = mbqm(
                i32::try_from(acc[at]).unwrap(),
                requant[2 * o],
                requant[2 * o + 1],
            ) as i64
                + p.out_zp as i64;
            let want_int = q.clamp(p.act_min as i64, p.act_max as i64) as i8;
            assert_eq!(got, want_int, "{:?} at {at}", p);
            let want_real = expect(real[at] / sy as f64, p.out_zp, p.act_min, p.act_max);
            lsb.check(got, want_real, (p.act_min, p.act_max), p);
        }
        true
    }

    #[test]
    fn conv_matches_integer_and_real_definitions() {
        for (kind, name, seed, cases) in [
            (0, "i8_conv", 201, 300),
            (1, "i8_conv depthwise", 202, 300),
            (2, "i8_conv grouped", 203, 200),
        ] {
            let mut rng = Rng::new(seed);
            let mut lsb = Lsb::default();
            let mut done = 0;
            while done < iters(cases) {
                let c = random_case(&mut rng, kind);
                done += check(&mut rng, &c, &mut lsb) as usize;
            }
            lsb.finish(name, 0.01);
        }
    }

    #[test]
    fn stride2_dilation2_asymmetric_padding() {
        let mut rng = Rng::new(204);
        let mut lsb = Lsb::default();
        for (t, &ic) in [1, 3, 4, 8, 16, 17].iter().enumerate() {
            for (u, &(groups, oc)) in [(1, 5), (ic, ic), (ic, 2 * ic)].iter().enumerate() {
                let zps = [-128, 0, 127];
                let c = Case {
                    p: QConvParams {
                        kernel_h: 3,
                        kernel_w: 3,
                        stride_h: 2,
                        stride_w: 2,
                        dilation_h: 2,
                        dilation_w: 2,
                        pad_top: 2,
                        pad_left: 1,
                        groups,
                        in_zp: zps[(t + u) % 3],
                        out_zp: zps[(t + 2 * u + 1) % 3],
                        act_min: -128,
                        act_max: 127,
                    },
                    pb: 0,
                    pr: 3,
                    in_shape: [1, 9, 8, ic],
                    oc,
                };
                assert!(check(&mut rng, &c, &mut lsb));
            }
        }
        lsb.finish("i8_conv s2 d2", 0.01);
    }

    #[test]
    fn hand_computed() {
        // 1x3x3x1 input 1..9 with zp 1 (real 0..8), 2x2 kernel of ones,
        // pad 1 top/left, stride 2: sums over the in-image taps only.
        let x: Vec<i8> = (1..=9).collect();
        let p = QConvParams {
            kernel_h: 2,
            kernel_w: 2,
            stride_h: 2,
            stride_w: 2,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 1,
            pad_left: 1,
            groups: 1,
            in_zp: 1,
            out_zp: -10,
            act_min: -128,
            act_max: 127,
        };
        let mut out = [0i8; 4];
        // M = 1 -> (2^30, 1); bias 2.
        reference(
            &p,
            &x,
            [1, 3, 3, 1],
            &[1; 4],
            &[2],
            &[1 << 30, 1],
            &mut out,
            [1, 2, 2, 1],
        );
        // windows (real): [0], [1+2], [3+6], [4+5+7+8] -> + 2 - 10.
        assert_eq!(out, [-8, -5, 1, 16]);
        // ReLU-style clamp at the output zero point.
        let p2 = QConvParams {
            act_min: -10,
            act_max: 0,
            ..p
        };
        reference(
            &p2,
            &x,
            [1, 3, 3, 1],
            &[-1; 4],
            &[0],
            &[1 << 30, 1],
            &mut out,
            [1, 2, 2, 1],
        );
        assert_eq!(out, [-10, -10, -10, -10]);
    }
}
