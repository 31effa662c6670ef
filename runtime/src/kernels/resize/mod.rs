//! f32 resize of H and W, NHWC: ONNX `Resize` (opset >= 13, 2-D nearest /
//! linear, `exclude_outside = 0`) and `Upsample`.
//!
//! Layout: input `[n, ih, iw, c]`, output `[n, oh, ow, c]`. Per axis (length
//! `in_len` -> `out_len`, ONNX scale `s = out/in` as given to the op), the
//! output coordinate `x` maps to an input coordinate `x'` (computed in `f32`):
//!
//! ```text
//! HalfPixel:             x' = (x + 0.5) / s - 0.5
//! PytorchHalfPixel:      x' = (x + 0.5) / s - 0.5, or 0 when out_len == 1
//! AlignCorners:          x' = x * (in_len - 1) / (s*in_len - 1), or 0 when s*in_len == 1
//! Asymmetric:            x' = x / s
//! TfHalfPixelForNearest: x' = (x + 0.5) / s
//! ```
//!
//! Nearest: `i = round(x')` by the nearest mode (`RoundPreferFloor`:
//! `ceil(x' - 0.5)`, `RoundPreferCeil`: `floor(x' + 0.5)`, `Floor`, `Ceil`),
//! clamped to `[0, in_len - 1]`; `out = in[i_y, i_x]`.
//!
//! Bilinear: `x'` clamped to `[0, in_len - 1]`, `x0 = floor(x')`,
//! `x1 = min(x0 + 1, in_len - 1)`, `fx = x' - x0` (same for y), and
//!
//! ```text
//! out = (1 - fy) * ((1 - fx) * in[y0, x0] + fx * in[y0, x1])
//!     +      fy  * ((1 - fx) * in[y1, x0] + fx * in[y1, x1])
//! ```
//!
//! (Clamping equals ONNX's edge-replicated neighbours for `exclude_outside =
//! 0`.) `AlignCorners` uses ONNX's "resized length" `s * in_len` (the ONNX
//! reference implementation, and tract): with scales given it is fractional,
//! e.g. a 4-wide row at scale 0.6 maps output 1 to `3 / 1.4`; with sizes
//! given `s = out_len / in_len` and it is `out_len`. Parameters: scales
//! finite and `> 0`, `in_len >= 1`.

use crate::math;

/// Mapping from output to input coordinates (ONNX
/// `coordinate_transformation_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoordTransform {
    /// `(x + 0.5) / scale - 0.5`.
    HalfPixel,
    /// As `HalfPixel`, but 0 when the output length is 1.
    PytorchHalfPixel,
    /// `x * (in - 1) / (scale*in - 1)` (0 when `scale*in == 1`).
    AlignCorners,
    /// `x / scale`.
    Asymmetric,
    /// `(x + 0.5) / scale`.
    TfHalfPixelForNearest,
    /// Half-pixel with the output canvas centred on the input:
    /// `offset + (x + 0.5) / scale - 0.5`, `offset = in/2 · (1 - out / (scale·in))`.
    HalfPixelSymmetric,
    /// TensorFlow `CropAndResize`: `x' = roi0·(in-1) + x·(roi1-roi0)·(in-1)/(out-1)`
    /// (the ROI's middle when `out == 1`); outside `[0, in-1]` the output is
    /// the extrapolation value.
    TfCropAndResize,
}

/// Rounding of the input coordinate for nearest-neighbour resize (ONNX
/// `nearest_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NearestMode {
    /// Round half down: `ceil(x - 0.5)`.
    RoundPreferFloor,
    /// Round half up: `floor(x + 0.5)`.
    RoundPreferCeil,
    /// `floor(x)`.
    Floor,
    /// `ceil(x)`.
    Ceil,
}

/// Interpolation mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeMode {
    /// Nearest neighbour with the given rounding.
    Nearest(NearestMode),
    /// Linear in H and W.
    Bilinear,
    /// Keys cubic convolution in H and W (coefficient `cubic_a`).
    Cubic,
}

/// The options of ONNX `Resize` beyond the classic nearest / bilinear
/// resize ([`ResizeExtra::default`] is the classic one).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResizeExtra {
    /// Cubic kernel coefficient `A` (ONNX default -0.75).
    pub cubic_a: f32,
    /// When downscaling, linear and cubic kernels are stretched by
    /// `1 / scale` (and renormalized), so every input pixel contributes.
    pub antialias: bool,
    /// Taps outside the input get weight 0 (the rest renormalized) instead
    /// of repeating the edge.
    pub exclude_outside: bool,
    /// Output value outside the crop of [`CoordTransform::TfCropAndResize`].
    pub extrapolation: f32,
    /// `[y0, x0, y1, x1]` of [`CoordTransform::TfCropAndResize`], in 0..=1.
    pub roi: [f32; 4],
}

impl Default for ResizeExtra {
    fn default() -> Self {
        ResizeExtra {
            cubic_a: -0.75,
            antialias: false,
            exclude_outside: false,
            extrapolation: 0.0,
            roi: [0.0, 0.0, 1.0, 1.0],
        }
    }
}

/// Most taps one output pixel takes along one axis (antialiased cubic at
/// scale `s` needs about `4 / s`: scales down to 1/15).
pub const MAX_TAPS: usize = 64;

/// Resize parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResizeParams {
    /// Interpolation.
    pub mode: ResizeMode,
    /// Coordinate transform.
    pub coord: CoordTransform,
    /// ONNX scale (output / input) along H, as used by the transform.
    pub scale_h: f32,
    /// ONNX scale (output / input) along W.
    pub scale_w: f32,
    /// Cubic, antialias, exclude-outside and crop options.
    pub extra: ResizeExtra,
}

impl ResizeParams {
    /// True when the classic nearest / bilinear path computes this resize
    /// (the only one with an int8 form).
    pub fn is_classic(&self) -> bool {
        self.mode != ResizeMode::Cubic
            && !self.extra.antialias
            && !self.extra.exclude_outside
            && !matches!(
                self.coord,
                CoordTransform::HalfPixelSymmetric | CoordTransform::TfCropAndResize
            )
    }

    /// True when no axis needs more than [`MAX_TAPS`] taps.
    pub fn taps_fit(&self) -> bool {
        [self.scale_h, self.scale_w]
            .iter()
            .all(|&s| taps_for(self.mode, &self.extra, s) <= MAX_TAPS)
    }
}

/// Taps per axis of `mode` at `scale`.
fn taps_for(mode: ResizeMode, extra: &ResizeExtra, scale: f32) -> usize {
    let (support, standard) = match mode {
        ResizeMode::Nearest(_) => return 1,
        ResizeMode::Bilinear => (1.0, 2),
        ResizeMode::Cubic => (2.0, 4),
    };
    if !extra.antialias || scale >= 1.0 {
        return standard;
    }
    if scale.is_nan() || scale <= 0.0 {
        return usize::MAX;
    }
    // start = floor(-support / s) + 1, taps = 2 - 2 * start.
    let start = math::floor(-support / scale) + 1.0;
    let n = 2.0 - 2.0 * start;
    if n > MAX_TAPS as f32 {
        usize::MAX
    } else {
        n as usize
    }
}

/// Resizes H and W of an NHWC tensor; see the module docs.
pub fn reference(
    p: &ResizeParams,
    input: &[f32],
    in_shape: [usize; 4],
    out: &mut [f32],
    out_shape: [usize; 4],
) {
    if !p.is_classic() {
        return general(p, input, in_shape, out, out_shape);
    }
    walk(
        p,
        input,
        in_shape,
        out,
        out_shape,
        |[a, b, c, d], fx, fy| {
            let top = (1.0 - fx) * a + fx * b;
            let bottom = (1.0 - fx) * c + fx * d;
            (1.0 - fy) * top + fy * bottom
        },
    );
}

/// [`reference()`] on `i8` codes that share one scale and zero point in and
/// out: nearest copies codes; bilinear blends the codes in `f32` with the
/// same weights and order as the `f32` kernel, then rounds half away from
/// zero (exact in any IEEE `f32` implementation, so the result is the same
/// on every target).
pub fn reference_i8(
    p: &ResizeParams,
    input: &[i8],
    in_shape: [usize; 4],
    out: &mut [i8],
    out_shape: [usize; 4],
) {
    walk(
        p,
        input,
        in_shape,
        out,
        out_shape,
        |[a, b, c, d], fx, fy| {
            let f = |v: i8| v as f32;
            let top = (1.0 - fx) * f(a) + fx * f(b);
            let bottom = (1.0 - fx) * f(c) + fx * f(d);
            let v = (1.0 - fy) * top + fy * bottom;
            // A convex blend of codes stays in [-128, 127].
            math::round_half_away(v).clamp(-128.0, 127.0) as i8
        },
    );
}

/// The loop both element types share: nearest copies the source pixel;
/// bilinear calls `blend([top-left, top-right, bottom-left, bottom-right],
/// fx, fy)` per channel.
fn walk<T: Copy>(
    p: &ResizeParams,
    input: &[T],
    in_shape: [usize; 4],
    out: &mut [T],
    out_shape: [usize; 4],
    blend: impl Fn([T; 4], f32, f32) -> T,
) {
    let [n, ih, iw, c] = in_shape;
    let [on, oh, ow, oc] = out_shape;
    debug_assert!(on == n && oc == c, "shape mismatch");
    debug_assert!(ih >= 1 && iw >= 1, "empty input plane");
    debug_assert!(
        input.len() >= n * ih * iw * c && out.len() >= n * oh * ow * c,
        "buffer too short"
    );
    let pixel = |b: usize, y: usize, x: usize| &input[((b * ih + y) * iw + x) * c..][..c];
    for b in 0..n {
        for oy in 0..oh {
            let sy = source_coord(p.coord, oy, p.scale_h, ih, oh);
            for ox in 0..ow {
                let sx = source_coord(p.coord, ox, p.scale_w, iw, ow);
                let px = &mut out[((b * oh + oy) * ow + ox) * c..][..c];
                match p.mode {
                    ResizeMode::Nearest(m) => {
                        px.copy_from_slice(pixel(b, nearest(m, sy, ih), nearest(m, sx, iw)))
                    }
                    // Cubic never takes the classic path (`is_classic`).
                    ResizeMode::Bilinear | ResizeMode::Cubic => {
                        let (y0, y1, fy) = linear(sy, ih);
                        let (x0, x1, fx) = linear(sx, iw);
                        let (a, bb) = (pixel(b, y0, x0), pixel(b, y0, x1));
                        let (cc, d) = (pixel(b, y1, x0), pixel(b, y1, x1));
                        for (k, o) in px.iter_mut().enumerate() {
                            *o = blend([a[k], bb[k], cc[k], d[k]], fx, fy);
                        }
                    }
                }
            }
        }
    }
}

/// Input coordinate of output coordinate `x` along one axis.
fn source_coord(coord: CoordTransform, x: usize, scale: f32, in_len: usize, out_len: usize) -> f32 {
    let xf = x as f32;
    match coord {
        CoordTransform::HalfPixel => (xf + 0.5) / scale - 0.5,
        CoordTransform::PytorchHalfPixel if out_len > 1 => (xf + 0.5) / scale - 0.5,
        CoordTransform::PytorchHalfPixel => 0.0,
        CoordTransform::AlignCorners => {
            let resized = scale * in_len as f32;
            if resized == 1.0 {
                0.0
            } else {
                xf * (in_len - 1) as f32 / (resized - 1.0)
            }
        }
        CoordTransform::Asymmetric => xf / scale,
        CoordTransform::TfHalfPixelForNearest => (xf + 0.5) / scale,
        // Only reached through `general` (not classic).
        CoordTransform::HalfPixelSymmetric | CoordTransform::TfCropAndResize => {
            (xf + 0.5) / scale - 0.5
        }
    }
}

/// One axis of the general path: taps `(index, weight)`, or `None` when the
/// output lies outside a `TfCropAndResize` crop.
struct Taps {
    idx: [usize; MAX_TAPS],
    w: [f32; MAX_TAPS],
    n: usize,
}

/// The ONNX reference's input coordinate (`_interpolate_1d_with_x`); `None`
/// outside a `TfCropAndResize` crop. `roi` is `(start, end)` of this axis.
fn general_coord(
    p: &ResizeParams,
    x: usize,
    scale: f32,
    in_len: usize,
    out_len: usize,
    roi: (f32, f32),
) -> Option<f32> {
    let xf = x as f32;
    let resized = scale * in_len as f32;
    let x = match p.coord {
        CoordTransform::AlignCorners if resized == 1.0 => 0.0,
        CoordTransform::AlignCorners => xf * (in_len - 1) as f32 / (resized - 1.0),
        CoordTransform::Asymmetric => xf / scale,
        CoordTransform::PytorchHalfPixel if resized == 1.0 => -0.5,
        CoordTransform::PytorchHalfPixel | CoordTransform::HalfPixel => (xf + 0.5) / scale - 0.5,
        CoordTransform::TfHalfPixelForNearest => (xf + 0.5) / scale,
        CoordTransform::HalfPixelSymmetric => {
            let adjustment = out_len as f32 / resized;
            let offset = in_len as f32 / 2.0 * (1.0 - adjustment);
            offset + (xf + 0.5) / scale - 0.5
        }
        CoordTransform::TfCropAndResize => {
            let span = (roi.1 - roi.0) * (in_len - 1) as f32;
            let x = if out_len == 1 {
                span / 2.0
            } else {
                xf * span / (out_len - 1) as f32
            } + roi.0 * (in_len - 1) as f32;
            if !(0.0..=(in_len - 1) as f32).contains(&x) {
                return None;
            }
            x
        }
    };
    Some(x)
}

/// Keys' cubic convolution kernel with coefficient `a`.
fn cubic(x: f32, a: f32) -> f32 {
    let x = math::abs(x);
    if x <= 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    } else {
        0.0
    }
}

/// The taps at input coordinate `xo` of an axis of `in_len` pixels.
fn taps(p: &ResizeParams, xo: f32, scale: f32, in_len: usize) -> Taps {
    let mut t = Taps {
        idx: [0; MAX_TAPS],
        w: [0.0; MAX_TAPS],
        n: 0,
    };
    if let ResizeMode::Nearest(m) = p.mode {
        t.idx[0] = nearest(m, xo, in_len);
        t.w[0] = 1.0;
        t.n = 1;
        return t;
    }
    // `base + ratio = x'` with `ratio` in (0, 1]: the ONNX reference prefers
    // the pixel left of an integer coordinate.
    let fl = math::floor(xo);
    let (base, ratio) = if xo == fl {
        (fl - 1.0, 1.0)
    } else {
        (fl, xo - fl)
    };
    let n = taps_for(p.mode, &p.extra, scale);
    let start = 1 - (n / 2) as i64;
    let s = if p.extra.antialias {
        scale.min(1.0)
    } else {
        1.0
    };
    let mut sum = 0.0;
    for k in 0..n {
        let j = start + k as i64;
        let d = (j as f32 - ratio) * s;
        let mut w = match p.mode {
            ResizeMode::Bilinear => (1.0 - math::abs(d)).max(0.0),
            _ => cubic(d, p.extra.cubic_a),
        };
        // `base` saturates for huge coordinates (a validated but extreme
        // scale or roi); the clamp below brings the tap back into the axis.
        let at = (base as i64).saturating_add(j);
        if p.extra.exclude_outside && (at < 0 || at >= in_len as i64) {
            w = 0.0;
        }
        t.idx[k] = at.clamp(0, in_len as i64 - 1) as usize;
        t.w[k] = w;
        sum += w;
    }
    t.n = n;
    // Antialiased and edge-excluded kernels are renormalized (the plain
    // ones already sum to 1).
    if (p.extra.antialias || p.extra.exclude_outside) && sum != 0.0 {
        for w in &mut t.w[..n] {
            *w /= sum;
        }
    }
    t
}

/// The general path: separable taps per axis (cubic, antialias, exclude
/// outside, half-pixel-symmetric and crop-and-resize), f32 only.
fn general(
    p: &ResizeParams,
    input: &[f32],
    in_shape: [usize; 4],
    out: &mut [f32],
    out_shape: [usize; 4],
) {
    let [n, ih, iw, c] = in_shape;
    let [_, oh, ow, _] = out_shape;
    let r = p.extra.roi;
    for b in 0..n {
        for oy in 0..oh {
            let ty = general_coord(p, oy, p.scale_h, ih, oh, (r[0], r[2]))
                .map(|c| taps(p, c, p.scale_h, ih));
            for ox in 0..ow {
                let px = &mut out[((b * oh + oy) * ow + ox) * c..][..c];
                let tx = general_coord(p, ox, p.scale_w, iw, ow, (r[1], r[3]))
                    .map(|c| taps(p, c, p.scale_w, iw));
                let (Some(ty), Some(tx)) = (&ty, tx) else {
                    px.fill(p.extra.extrapolation);
                    continue;
                };
                px.fill(0.0);
                for (&y, &wy) in ty.idx[..ty.n].iter().zip(&ty.w[..ty.n]) {
                    for (&x, &wx) in tx.idx[..tx.n].iter().zip(&tx.w[..tx.n]) {
                        let w = wy * wx;
                        let src = &input[((b * ih + y) * iw + x) * c..][..c];
                        for (o, &v) in px.iter_mut().zip(src) {
                            *o += w * v;
                        }
                    }
                }
            }
        }
    }
}

/// Nearest input index for input coordinate `x`, clamped into the input.
fn nearest(mode: NearestMode, x: f32, len: usize) -> usize {
    let r = match mode {
        NearestMode::RoundPreferFloor => math::ceil(x - 0.5),
        NearestMode::RoundPreferCeil => math::floor(x + 0.5),
        NearestMode::Floor => math::floor(x),
        NearestMode::Ceil => math::ceil(x),
    };
    clamp_index(r, len)
}

/// `r` clamped to `[0, len - 1]` (NaN gives 0).
fn clamp_index(r: f32, len: usize) -> usize {
    let hi = (len - 1) as f32;
    if r >= hi {
        len - 1
    } else if r > 0.0 {
        r as usize
    } else {
        0
    }
}

/// Neighbours and weight of the second one for linear interpolation at
/// input coordinate `x` (clamped into `[0, len - 1]`).
fn linear(x: f32, len: usize) -> (usize, usize, f32) {
    let x = x.max(0.0).min((len - 1) as f32);
    let i0 = clamp_index(math::floor(x), len);
    let i1 = (i0 + 1).min(len - 1);
    (i0, i1, x - i0 as f32)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::test_util::{assert_close, iters, Rng};
    use std::vec;
    use std::vec::Vec;

    fn run(
        mode: ResizeMode,
        coord: CoordTransform,
        sh: f32,
        sw: f32,
        x: &[f32],
        ins: [usize; 4],
        outs: [usize; 4],
    ) -> Vec<f32> {
        let p = ResizeParams {
            mode,
            coord,
            scale_h: sh,
            scale_w: sw,
            extra: ResizeExtra::default(),
        };
        let mut out = vec![f32::NAN; outs.iter().product()];
        reference(&p, x, ins, &mut out, outs);
        out
    }

    const X22: [f32; 4] = [1.0, 2.0, 3.0, 4.0];
    const X24: [f32; 8] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
    const RPF: ResizeMode = ResizeMode::Nearest(NearestMode::RoundPreferFloor);

    // Expected values below are the ONNX Resize operator documentation's
    // examples (onnx/docs/Operators.md, test cases of the same names).

    #[test]
    fn onnx_upsample_scales_linear() {
        let out = run(
            ResizeMode::Bilinear,
            CoordTransform::HalfPixel,
            2.0,
            2.0,
            &X22,
            [1, 2, 2, 1],
            [1, 4, 4, 1],
        );
        #[rustfmt::skip]
        let want = [
            1.0, 1.25, 1.75, 2.0,
            1.5, 1.75, 2.25, 2.5,
            2.5, 2.75, 3.25, 3.5,
            3.0, 3.25, 3.75, 4.0,
        ];
        assert_close(&out, &want, 1e-6);
    }

    #[test]
    fn onnx_upsample_scales_linear_align_corners() {
        let out = run(
            ResizeMode::Bilinear,
            CoordTransform::AlignCorners,
            2.0,
            2.0,
            &X22,
            [1, 2, 2, 1],
            [1, 4, 4, 1],
        );
        #[rustfmt::skip]
        let want = [
            1.0, 1.333_333_3, 1.666_666_7, 2.0,
            1.666_666_7, 2.0, 2.333_333_3, 2.666_666_7,
            2.333_333_3, 2.666_666_7, 3.0, 3.333_333_3,
            3.0, 3.333_333_3, 3.666_666_7, 4.0,
        ];
        assert_close(&out, &want, 1e-6);
    }

    #[test]
    fn upsample_linear_non_integer_scales() {
        // 2x2 -> 5x4 at scales 2.94, 2.3 (the output shape is floor(in*s)).
        let out = run(
            ResizeMode::Bilinear,
            CoordTransform::HalfPixel,
            2.94,
            2.3,
            &X22,
            [1, 2, 2, 1],
            [1, 5, 4, 1],
        );
        // On [[1, 2], [3, 4]] bilinear interpolation is 1 + x' + 2y'
        // (clamped coordinates, y' = (y+0.5)/2.94 - 0.5).
        let mut want = Vec::new();
        for y in 0..5 {
            let sy = ((y as f32 + 0.5) / 2.94 - 0.5).clamp(0.0, 1.0);
            for x in 0..4 {
                let sx = ((x as f32 + 0.5) / 2.3 - 0.5).clamp(0.0, 1.0);
                let top = 1.0 + sx;
                want.push(top + 2.0 * sy);
            }
        }
        assert_close(&out, &want, 1e-6);
    }

    #[test]
    fn onnx_downsample_scales_linear() {
        let out = run(
            ResizeMode::Bilinear,
            CoordTransform::HalfPixel,
            0.6,
            0.6,
            &X24,
            [1, 2, 4, 1],
            [1, 1, 2, 1],
        );
        assert_close(&out, &[2.666_666_5, 4.333_333], 1e-6);
    }

    #[test]
    fn onnx_downsample_scales_linear_align_corners() {
        // The resized length is 0.6 * 4 = 2.4, so output 1 samples 3/1.4.
        let out = run(
            ResizeMode::Bilinear,
            CoordTransform::AlignCorners,
            0.6,
            0.6,
            &X24,
            [1, 2, 4, 1],
            [1, 1, 2, 1],
        );
        assert_close(&out, &[1.0, 3.142_857], 1e-6);
        // Sizes given instead (scale = 2/4): the corners map to the corners.
        let out = run(
            ResizeMode::Bilinear,
            CoordTransform::AlignCorners,
            0.5,
            0.5,
            &X24,
            [1, 2, 4, 1],
            [1, 1, 2, 1],
        );
        assert_close(&out, &[1.0, 4.0], 1e-6);
    }

    #[test]
    fn onnx_upsample_scales_nearest() {
        let out = run(
            RPF,
            CoordTransform::HalfPixel,
            2.0,
            3.0,
            &X22,
            [1, 2, 2, 1],
            [1, 4, 6, 1],
        );
        #[rustfmt::skip]
        let want = [
            1.0, 1.0, 1.0, 2.0, 2.0, 2.0,
            1.0, 1.0, 1.0, 2.0, 2.0, 2.0,
            3.0, 3.0, 3.0, 4.0, 4.0, 4.0,
            3.0, 3.0, 3.0, 4.0, 4.0, 4.0,
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn onnx_downsample_scales_nearest() {
        let out = run(
            RPF,
            CoordTransform::HalfPixel,
            0.6,
            0.6,
            &X24,
            [1, 2, 4, 1],
            [1, 1, 2, 1],
        );
        assert_eq!(out, [1.0, 3.0]);
    }

    /// 4x4 input 1..16 used by the ONNX `sizes` examples.
    fn x44() -> Vec<f32> {
        (1..=16).map(|v| v as f32).collect()
    }

    #[test]
    fn onnx_upsample_sizes_nearest_modes() {
        // resize_upsample_sizes_nearest_ceil_half_pixel: 4x4 -> 8x8.
        let out = run(
            ResizeMode::Nearest(NearestMode::Ceil),
            CoordTransform::HalfPixel,
            2.0,
            2.0,
            &x44(),
            [1, 4, 4, 1],
            [1, 8, 8, 1],
        );
        #[rustfmt::skip]
        let want = [
            1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 4.0,
            5.0, 6.0, 6.0, 7.0, 7.0, 8.0, 8.0, 8.0,
            5.0, 6.0, 6.0, 7.0, 7.0, 8.0, 8.0, 8.0,
            9.0, 10.0, 10.0, 11.0, 11.0, 12.0, 12.0, 12.0,
            9.0, 10.0, 10.0, 11.0, 11.0, 12.0, 12.0, 12.0,
            13.0, 14.0, 14.0, 15.0, 15.0, 16.0, 16.0, 16.0,
            13.0, 14.0, 14.0, 15.0, 15.0, 16.0, 16.0, 16.0,
            13.0, 14.0, 14.0, 15.0, 15.0, 16.0, 16.0, 16.0,
        ];
        assert_eq!(out, want);
        // resize_upsample_sizes_nearest_floor_align_corners: 4x4 -> 8x8.
        let out = run(
            ResizeMode::Nearest(NearestMode::Floor),
            CoordTransform::AlignCorners,
            2.0,
            2.0,
            &x44(),
            [1, 4, 4, 1],
            [1, 8, 8, 1],
        );
        #[rustfmt::skip]
        let want = [
            1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0,
            1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0,
            1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0,
            5.0, 5.0, 5.0, 6.0, 6.0, 7.0, 7.0, 8.0,
            5.0, 5.0, 5.0, 6.0, 6.0, 7.0, 7.0, 8.0,
            9.0, 9.0, 9.0, 10.0, 10.0, 11.0, 11.0, 12.0,
            9.0, 9.0, 9.0, 10.0, 10.0, 11.0, 11.0, 12.0,
            13.0, 13.0, 13.0, 14.0, 14.0, 15.0, 15.0, 16.0,
        ];
        assert_eq!(out, want);
        // resize_upsample_sizes_nearest_round_prefer_ceil_asymmetric: 4x4 -> 8x8.
        let out = run(
            ResizeMode::Nearest(NearestMode::RoundPreferCeil),
            CoordTransform::Asymmetric,
            2.0,
            2.0,
            &x44(),
            [1, 4, 4, 1],
            [1, 8, 8, 1],
        );
        #[rustfmt::skip]
        let want = [
            1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 4.0,
            5.0, 6.0, 6.0, 7.0, 7.0, 8.0, 8.0, 8.0,
            5.0, 6.0, 6.0, 7.0, 7.0, 8.0, 8.0, 8.0,
            9.0, 10.0, 10.0, 11.0, 11.0, 12.0, 12.0, 12.0,
            9.0, 10.0, 10.0, 11.0, 11.0, 12.0, 12.0, 12.0,
            13.0, 14.0, 14.0, 15.0, 15.0, 16.0, 16.0, 16.0,
            13.0, 14.0, 14.0, 15.0, 15.0, 16.0, 16.0, 16.0,
            13.0, 14.0, 14.0, 15.0, 15.0, 16.0, 16.0, 16.0,
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn onnx_tf_half_pixel_and_pytorch_single_output() {
        // tf_half_pixel_for_nearest, 2x2 -> 4x4 nearest floor: x' = (x+0.5)/2.
        let out = run(
            ResizeMode::Nearest(NearestMode::Floor),
            CoordTransform::TfHalfPixelForNearest,
            2.0,
            2.0,
            &X22,
            [1, 2, 2, 1],
            [1, 4, 4, 1],
        );
        #[rustfmt::skip]
        let want = [
            1.0, 1.0, 2.0, 2.0,
            1.0, 1.0, 2.0, 2.0,
            3.0, 3.0, 4.0, 4.0,
            3.0, 3.0, 4.0, 4.0,
        ];
        assert_eq!(out, want);
        // pytorch_half_pixel with a single output row samples row 0.
        let out = run(
            ResizeMode::Bilinear,
            CoordTransform::PytorchHalfPixel,
            0.5,
            1.0,
            &X24,
            [1, 2, 4, 1],
            [1, 1, 4, 1],
        );
        assert_eq!(out, [1.0, 2.0, 3.0, 4.0]);
        // half_pixel would sample between the rows instead: y' = 0.5.
        let out = run(
            ResizeMode::Bilinear,
            CoordTransform::HalfPixel,
            0.5,
            1.0,
            &X24,
            [1, 2, 4, 1],
            [1, 1, 4, 1],
        );
        assert_eq!(out, [3.0, 4.0, 5.0, 6.0]);
    }

    fn general_run(p: ResizeParams, x: &[f32], ins: [usize; 4], outs: [usize; 4]) -> Vec<f32> {
        let mut out = vec![f32::NAN; outs.iter().product()];
        reference(&p, x, ins, &mut out, outs);
        out
    }

    fn params(mode: ResizeMode, coord: CoordTransform, s: f32, extra: ResizeExtra) -> ResizeParams {
        ResizeParams {
            mode,
            coord,
            scale_h: s,
            scale_w: s,
            extra,
        }
    }

    #[test]
    fn cubic_reproduces_a_ramp_inside_and_weights_sum_to_one() {
        // Keys' kernel with a = -0.5 reproduces linear functions where no
        // tap is clamped.
        let x: Vec<f32> = (0..64)
            .map(|i| (i % 8) as f32 + 10.0 * (i / 8) as f32)
            .collect();
        let p = params(
            ResizeMode::Cubic,
            CoordTransform::HalfPixel,
            2.0,
            ResizeExtra {
                cubic_a: -0.5,
                ..ResizeExtra::default()
            },
        );
        let out = general_run(p, &x, [1, 8, 8, 1], [1, 16, 16, 1]);
        for oy in 4..12 {
            for ox in 4..12 {
                let (sy, sx) = ((oy as f32 + 0.5) / 2.0 - 0.5, (ox as f32 + 0.5) / 2.0 - 0.5);
                let want = sx + 10.0 * sy;
                assert!((out[oy * 16 + ox] - want).abs() < 1e-4, "{oy},{ox}");
            }
        }
        // A constant stays constant everywhere, also antialiased and with
        // the outside taps excluded (renormalized).
        let c = [3.5f32; 64];
        for (antialias, exclude_outside) in
            [(false, false), (true, false), (true, true), (false, true)]
        {
            let e = ResizeExtra {
                antialias,
                exclude_outside,
                ..ResizeExtra::default()
            };
            for mode in [ResizeMode::Cubic, ResizeMode::Bilinear] {
                for s in [0.3, 0.5, 2.0] {
                    let o = (8.0 * s) as usize;
                    let out = general_run(
                        params(mode, CoordTransform::HalfPixel, s, e),
                        &c,
                        [1, 8, 8, 1],
                        [1, o, o, 1],
                    );
                    assert!(
                        out.iter().all(|v| (v - 3.5).abs() < 1e-5),
                        "{mode:?} {s} {e:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn antialias_averages_what_a_plain_filter_skips() {
        // 1x8 -> 1x2 at scale 1/4: plain linear samples 2 pixels, the
        // antialiased triangle spans 8 (weights 1,3,5,7,7,5,3,1 / 32 around
        // x' = 1.5 for the first output).
        let x: Vec<f32> = (0..8).map(|i| if i % 2 == 0 { 1.0 } else { 0.0 }).collect();
        let e = ResizeExtra {
            antialias: true,
            ..ResizeExtra::default()
        };
        let out = general_run(
            params(ResizeMode::Bilinear, CoordTransform::HalfPixel, 0.25, e),
            &x,
            [1, 1, 8, 1],
            [1, 1, 2, 1],
        );
        // Edge-clamped taps at -2, -1 read pixel 0 (1.0).
        let want = (1.0 * 1.0
            + 3.0 * 1.0
            + 5.0 * 1.0
            + 7.0 * 0.0
            + 7.0 * 1.0
            + 5.0 * 0.0
            + 3.0 * 1.0
            + 1.0 * 0.0)
            / 32.0;
        assert!((out[0] - want).abs() < 1e-6, "{} vs {want}", out[0]);
        assert_eq!(taps_for(ResizeMode::Cubic, &e, 0.01), usize::MAX);
        assert!(!params(ResizeMode::Cubic, CoordTransform::HalfPixel, 0.01, e).taps_fit());
    }

    #[test]
    fn crop_and_resize_extrapolates_outside_the_roi() {
        let x: Vec<f32> = (1..=16).map(|v| v as f32).collect();
        let e = ResizeExtra {
            extrapolation: -9.0,
            roi: [0.0, 0.5, 1.0, 1.5],
            ..ResizeExtra::default()
        };
        let p = params(
            ResizeMode::Bilinear,
            CoordTransform::TfCropAndResize,
            1.0,
            e,
        );
        let out = general_run(p, &x, [1, 4, 4, 1], [1, 4, 4, 1]);
        // x' = 1.5 + x (cols 0, 1 inside; 2, 3 past the right edge), y' = y.
        assert_eq!(&out[..4], &[2.5, 3.5, -9.0, -9.0]);
        assert_eq!(&out[12..], &[14.5, 15.5, -9.0, -9.0]);
    }

    /// Independent bilinear formulation (onnxruntime's weights), many
    /// channels and batches.
    #[test]
    fn bilinear_matches_weighted_sum_multichannel() {
        let mut rng = Rng::new(61);
        for _ in 0..iters(50) {
            let ins = [
                1 + rng.below(2),
                1 + rng.below(6),
                1 + rng.below(6),
                1 + rng.below(4),
            ];
            let outs = [ins[0], 1 + rng.below(9), 1 + rng.below(9), ins[3]];
            let (sh, sw) = (
                outs[1] as f32 / ins[1] as f32,
                outs[2] as f32 / ins[2] as f32,
            );
            let x = rng.vec(ins.iter().product());
            for coord in [
                CoordTransform::HalfPixel,
                CoordTransform::AlignCorners,
                CoordTransform::Asymmetric,
                CoordTransform::PytorchHalfPixel,
            ] {
                let out = run(ResizeMode::Bilinear, coord, sh, sw, &x, ins, outs);
                let [n, ih, iw, c] = ins;
                let mut want = Vec::new();
                for b in 0..n {
                    for oy in 0..outs[1] {
                        for ox in 0..outs[2] {
                            let fy = source_coord(coord, oy, sh, ih, outs[1])
                                .clamp(0.0, (ih - 1) as f32);
                            let fx = source_coord(coord, ox, sw, iw, outs[2])
                                .clamp(0.0, (iw - 1) as f32);
                            let (y1, x1) = (fy as usize, fx as usize);
                            let (y2, x2) = ((y1 + 1).min(ih - 1), (x1 + 1).min(iw - 1));
                            let (dy1, dx1) = (fy - y1 as f32, fx - x1 as f32);
                            for ch in 0..c {
                                let v = |y: usize, xx: usize| x[((b * ih + y) * iw + xx) * c + ch];
                                want.push(
                                    (1.0 - dy1) * (1.0 - dx1) * v(y1, x1)
                                        + (1.0 - dy1) * dx1 * v(y1, x2)
                                        + dy1 * (1.0 - dx1) * v(y2, x1)
                                        + dy1 * dx1 * v(y2, x2),
                                );
                            }
                        }
                    }
                }
                assert_close(&out, &want, 1e-6);
            }
        }
    }
}
