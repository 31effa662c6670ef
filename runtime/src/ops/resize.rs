//! Resize (ONNX `Resize`/`Upsample` on H and W), f32, NHWC. Parameters:
//! `mode` (0 nearest, 1 bilinear, 2 cubic), `nearest_mode` (0
//! round_prefer_floor, 1 round_prefer_ceil, 2 floor, 3 ceil), `coord` (0
//! half_pixel, 1 pytorch_half_pixel, 2 align_corners, 3 asymmetric,
//! 4 tf_half_pixel_for_nearest, 5 half_pixel_symmetric,
//! 6 tf_crop_and_resize), `scale_h`, `scale_w` (f32, output/input); then,
//! in the 12-word form only: `cubic_a` (f32), flags (bit 0 antialias, bit 1
//! exclude_outside), `extrapolation` (f32), `roi` y0, x0, y1, x1 (f32).
//! The 5-word form is the classic resize ([`ResizeExtra::default`]).
//! int8 form (classic resizes only): `i8` in and out with the same
//! quantization ([`resize::reference_i8`]).

use super::{shape4, Checked, Eval, Prep};
use crate::format::DType;
use crate::kernels::resize::{
    self, CoordTransform, NearestMode, ResizeExtra, ResizeMode, ResizeParams,
};
use crate::model::OpInfo;

fn params(op: &OpInfo<'_>) -> Option<ResizeParams> {
    let nearest = match op.param(1) {
        0 => NearestMode::RoundPreferFloor,
        1 => NearestMode::RoundPreferCeil,
        2 => NearestMode::Floor,
        3 => NearestMode::Ceil,
        _ => return None,
    };
    let mode = match op.param(0) {
        0 => ResizeMode::Nearest(nearest),
        1 => ResizeMode::Bilinear,
        2 => ResizeMode::Cubic,
        _ => return None,
    };
    let coord = match op.param(2) {
        0 => CoordTransform::HalfPixel,
        1 => CoordTransform::PytorchHalfPixel,
        2 => CoordTransform::AlignCorners,
        3 => CoordTransform::Asymmetric,
        4 => CoordTransform::TfHalfPixelForNearest,
        5 => CoordTransform::HalfPixelSymmetric,
        6 => CoordTransform::TfCropAndResize,
        _ => return None,
    };
    let (scale_h, scale_w) = (op.param_f32(3), op.param_f32(4));
    let ok = |s: f32| s.is_finite() && s > 0.0;
    let extra = match op.num_params() {
        5 => ResizeExtra::default(),
        12 => {
            let flags = op.param(6);
            let e = ResizeExtra {
                cubic_a: op.param_f32(5),
                antialias: flags & 1 != 0,
                exclude_outside: flags & 2 != 0,
                extrapolation: op.param_f32(7),
                roi: [
                    op.param_f32(8),
                    op.param_f32(9),
                    op.param_f32(10),
                    op.param_f32(11),
                ],
            };
            let finite = e.cubic_a.is_finite() && e.roi.iter().all(|v| v.is_finite());
            if flags > 3 || !finite {
                return None;
            }
            e
        }
        _ => return None,
    };
    let p = ResizeParams {
        mode,
        coord,
        scale_h,
        scale_w,
        extra,
    };
    (ok(scale_h) && ok(scale_w) && p.taps_fit()).then_some(p)
}

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    ctx.ensure(matches!(ctx.op.num_params(), 5 | 12))?;
    let p = params(&ctx.op).ok_or(ctx.bad())?;
    if ctx.out.dtype == DType::I8 {
        ctx.same_quant(0)?;
        ctx.ensure(p.is_classic())?;
    } else {
        ctx.f32_kernels()?;
    }
    ctx.ensure(ctx.op.num_inputs() == 1)?;
    let x = shape4(&ctx.input(0)?).ok_or(ctx.bad())?;
    let y = shape4(&ctx.out).ok_or(ctx.bad())?;
    ctx.ensure(x[0] == y[0] && x[3] == y[3] && x[1] >= 1 && x[2] >= 1)
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    let Some(p) = params(&ctx.op) else { return };
    let Some(ys) = shape4(&ctx.out) else { return };
    if ctx.out.dtype == DType::I8 {
        let (inputs, out) = ctx.split_i8();
        let Some(xs) = inputs.info(0).and_then(|t| shape4(&t)) else {
            return;
        };
        return resize::reference_i8(&p, inputs.i8(0), xs, out, ys);
    }
    if !cfg!(feature = "f32") {
        return; // refused by `prepare`: this build has no f32 kernels
    }
    let (inputs, out) = ctx.split_f32();
    let Some(xs) = inputs.info(0).and_then(|t| shape4(&t)) else {
        return;
    };
    resize::reference(&p, inputs.f32(0), xs, out, ys);
}
