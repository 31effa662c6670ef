//! Lowering of convolutions, pools and resize (tract `Conv`, `Deconv`,
//! `MaxPool`, `SumPool`, `Resize`). Only 2-D NCHW data with explicit
//! geometry is accepted; weights must be constants.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{Conv, Deconv, KernelFormat, MaxPool, PoolSpec, SumPool};
use tract_onnx::tract_core::ops::nn::{CoordTransformer, DataFormat, Interpolator};
use tract_onnx_opl::resize::{AspectRatio, CoordTransform as OnnxCoord, Nearest, Resize};

use super::{Cx, LResult};
use crate::ir::{Op, TensorId, Window};
use ferrite::kernels::resize::{
    CoordTransform, NearestMode, ResizeExtra, ResizeMode, ResizeParams, MAX_TAPS,
};
use ferrite::kernels::Act;

pub(super) fn lower(cx: &mut Cx, node: &TypedNode) -> LResult<Option<TensorId>> {
    if let Some(op) = node.op_as::<Conv>() {
        return conv(cx, node, op).map(Some);
    }
    if let Some(op) = node.op_as::<Deconv>() {
        return deconv(cx, node, op).map(Some);
    }
    if let Some(op) = node.op_as::<MaxPool>() {
        if op.with_index_outputs.is_some() {
            return Err("MaxPool with index output".into());
        }
        if op.pool_spec.kernel_shape.len() == 3 {
            return pool3d(cx, node, &op.pool_spec, |window, ceil| Op::MaxPool {
                window,
                ceil,
            })
            .map(Some);
        }
        let (window, ceil) = window(cx, node, &op.pool_spec)?;
        let x = cx.tensor(node.inputs[0])?;
        return spatial(cx, node, Op::MaxPool { window, ceil }, x, vec![]).map(Some);
    }
    if let Some(op) = node.op_as::<SumPool>() {
        if !op.normalize {
            return Err("SumPool without normalization".into());
        }
        let count_include_pad = op.count_include_pad;
        if op.pool_spec.kernel_shape.len() == 3 {
            let avg = |window, ceil| Op::AvgPool {
                window,
                ceil,
                count_include_pad,
            };
            return pool3d(cx, node, &op.pool_spec, avg).map(Some);
        }
        let (window, ceil) = window(cx, node, &op.pool_spec)?;
        let op = Op::AvgPool {
            window,
            ceil,
            count_include_pad: op.count_include_pad,
        };
        let x = cx.tensor(node.inputs[0])?;
        return spatial(cx, node, op, x, vec![]).map(Some);
    }
    if let Some(op) = node.op_as::<Resize>() {
        return resize(cx, node, op).map(Some);
    }
    Ok(None)
}

/// Runs a 2-D NCHW op on `x` (with further inputs `rest`) for `node`: a
/// 1-D node (`[n, c, l]`) runs as 2-D on `[n, c, 1, l]` and is reshaped back.
fn spatial(
    cx: &mut Cx,
    node: &TypedNode,
    op: Op,
    x: TensorId,
    rest: Vec<TensorId>,
) -> LResult<TensorId> {
    let y = cx.shape_of(node.id.into())?;
    let xs = cx.graph.tensors[x].shape.clone();
    if xs.len() == 4 {
        return Ok(cx.emit(op, [vec![x], rest].concat(), y));
    }
    let lift = |s: &[usize]| vec![s[0], s[1], 1, s[2]];
    let x4 = cx.reshape(x, lift(&xs));
    let y4 = cx.emit(op, [vec![x4], rest].concat(), lift(&y));
    Ok(cx.reshape(y4, y))
}

/// Output length of a window of `k` taps (dilation `dil`) at stride `stride`
/// over `padded` positions, without ceil mode.
fn floor_out(padded: usize, k: usize, dil: usize, stride: usize) -> usize {
    let ext = dil * (k - 1) + 1;
    if padded >= ext {
        (padded - ext) / stride + 1
    } else {
        0
    }
}

/// A 3-D pool (`[n, c, d, h, w]`) as two 2-D ones: over `h, w` with the
/// depth folded into the channels, then over `d` with `h·w` as the width.
/// Max pooling is separable, and so is average pooling: the window is a box
/// and its in-bounds part too, so the divisor (with or without the padding,
/// never the ceil-mode overhang) is the product of the per-axis counts. Both
/// passes use the same ceil flag, as ONNX applies ceil mode to every axis.
fn pool3d(
    cx: &mut Cx,
    node: &TypedNode,
    spec: &PoolSpec,
    op: impl Fn(Window, bool) -> Op,
) -> LResult<TensorId> {
    if spec.data_format != DataFormat::NCHW {
        return Err(format!("data format {:?} (only NCHW)", spec.data_format));
    }
    let x = cx.shape_of(node.inputs[0])?;
    let y = cx.shape_of(node.id.into())?;
    if x.len() != 5 || y.len() != 5 {
        return Err(format!("input rank {} (expected 5)", x.len()));
    }
    let k = &spec.kernel_shape;
    let dil = spec.dilations.clone().unwrap_or_else(|| tvec![1; 3]);
    let str = spec.strides.clone().unwrap_or_else(|| tvec![1; 3]);
    let pads = spec.padding.compute(&x[2..], k, &dil, &str);
    let ceil = (0..3).any(|a| {
        let padded = x[2 + a] + pads[a].pad_before + pads[a].pad_after;
        y[2 + a] != floor_out(padded, k[a], dil[a], str[a])
    });
    let hw = Window {
        kernel: [k[1], k[2]],
        stride: [str[1], str[2]],
        dilation: [dil[1], dil[2]],
        pads: [
            pads[1].pad_before,
            pads[2].pad_before,
            pads[1].pad_after,
            pads[2].pad_after,
        ],
    };
    let d = Window {
        kernel: [k[0], 1],
        stride: [str[0], 1],
        dilation: [dil[0], 1],
        pads: [pads[0].pad_before, 0, pads[0].pad_after, 0],
    };
    let xt = cx.tensor(node.inputs[0])?;
    let x1 = cx.reshape(xt, vec![x[0], x[1] * x[2], x[3], x[4]]);
    let y1 = cx.emit(op(hw, ceil), vec![x1], vec![x[0], x[1] * x[2], y[3], y[4]]);
    let x2 = cx.reshape(y1, vec![x[0], x[1], x[2], y[3] * y[4]]);
    let y2 = cx.emit(op(d, ceil), vec![x2], vec![y[0], y[1], y[2], y[3] * y[4]]);
    Ok(cx.reshape(y2, y))
}

/// Explicit 2-D geometry of a pool spec, and whether ceil mode produced the
/// output size. A 1-D window is the 2-D one with a unit height.
fn window(cx: &Cx, node: &TypedNode, spec: &PoolSpec) -> LResult<(Window, bool)> {
    if spec.data_format != DataFormat::NCHW {
        return Err(format!("data format {:?} (only NCHW)", spec.data_format));
    }
    let nd = spec.kernel_shape.len();
    if nd != 1 && nd != 2 {
        return Err(format!("{nd}-D window (only 1-D and 2-D)"));
    }
    let x = cx.shape_of(node.inputs[0])?;
    let y = cx.shape_of(node.id.into())?;
    if x.len() != nd + 2 || y.len() != nd + 2 {
        return Err(format!("input rank {} (expected {})", x.len(), nd + 2));
    }
    let dil = spec.dilations.clone().unwrap_or_else(|| tvec![1; nd]);
    let str = spec.strides.clone().unwrap_or_else(|| tvec![1; nd]);
    let pads = spec
        .padding
        .compute(&x[2..], &spec.kernel_shape, &dil, &str);
    if nd == 1 {
        let padded = x[2] + pads[0].pad_before + pads[0].pad_after;
        let floor = floor_out(padded, spec.kernel_shape[0], dil[0], str[0]);
        return Ok((
            Window {
                kernel: [1, spec.kernel_shape[0]],
                stride: [1, str[0]],
                dilation: [1, dil[0]],
                pads: [0, pads[0].pad_before, 0, pads[0].pad_after],
            },
            y[2] != floor,
        ));
    }
    let mut ceil = false;
    for d in 0..2 {
        let padded = x[2 + d] + pads[d].pad_before + pads[d].pad_after;
        if y[2 + d] != floor_out(padded, spec.kernel_shape[d], dil[d], str[d]) {
            ceil = true;
        }
    }
    Ok((
        Window {
            kernel: [spec.kernel_shape[0], spec.kernel_shape[1]],
            stride: [str[0], str[1]],
            dilation: [dil[0], dil[1]],
            pads: [
                pads[0].pad_before,
                pads[1].pad_before,
                pads[0].pad_after,
                pads[1].pad_after,
            ],
        },
        ceil,
    ))
}

/// Weights converted to OIHW from the kernel format tract recorded.
fn oihw(cx: &mut Cx, w: OutletId, fmt: KernelFormat) -> LResult<TensorId> {
    if cx.konst(w).is_none() {
        return Err("weights are not constant".into());
    }
    let t = cx.tensor(w)?;
    Ok(to_oihw(cx, t, fmt))
}

/// A constant kernel in `fmt` rearranged to OIHW.
pub(super) fn to_oihw(cx: &mut Cx, t: TensorId, fmt: KernelFormat) -> TensorId {
    match fmt {
        KernelFormat::OIHW => t,
        KernelFormat::HWIO => cx.transpose(t, &[3, 2, 0, 1]),
        KernelFormat::OHWI => cx.transpose(t, &[0, 3, 1, 2]),
    }
}

/// Bias as a `[c]` constant, or `None` when absent or all zeros.
fn bias(cx: &mut Cx, b: OutletId, c: usize) -> LResult<Option<TensorId>> {
    let Some(v) = cx.konst_f32(b) else {
        return Err("bias is not constant".into());
    };
    if v.iter().all(|&x| x == 0.0) {
        return Ok(None);
    }
    let data = if v.len() == 1 { vec![v[0]; c] } else { v };
    if data.len() != c {
        return Err(format!("bias has {} values for {c} channels", data.len()));
    }
    let name = cx
        .graph
        .fresh_name(&format!("{}.bias", cx.model.node(b.node).name));
    Ok(Some(cx.graph.add_const(name, vec![c], data)))
}

fn conv(cx: &mut Cx, node: &TypedNode, op: &Conv) -> LResult<TensorId> {
    if op.q_params.is_some() {
        return Err("quantized convolution".into());
    }
    let x = cx.tensor(node.inputs[0])?;
    let w = if op.pool_spec.kernel_shape.len() == 1 {
        // 1-D: ONNX's [o, i, k]; tract keeps it as given.
        if op.kernel_fmt != KernelFormat::OIHW || cx.konst(node.inputs[1]).is_none() {
            return Err("1-D convolution weights that are not constant OIW".into());
        }
        cx.tensor(node.inputs[1])?
    } else {
        oihw(cx, node.inputs[1], op.kernel_fmt)?
    };
    let oc = cx.graph.tensors[w].shape[0];
    let b = bias(cx, node.inputs[2], oc)?;
    conv_of(cx, node, op, x, w, b)
}

/// The `f32` convolution of `node` on `x` with OIHW weights `w`.
pub(super) fn conv_of(
    cx: &mut Cx,
    node: &TypedNode,
    op: &Conv,
    x: TensorId,
    w: TensorId,
    b: Option<TensorId>,
) -> LResult<TensorId> {
    let (window, _) = window(cx, node, &op.pool_spec)?;
    // 1-D weights [o, i, k] run as [o, i, 1, k].
    let ws = cx.graph.tensors[w].shape.clone();
    let w = if ws.len() == 3 {
        cx.reshape(w, vec![ws[0], ws[1], 1, ws[2]])
    } else {
        w
    };
    let mut rest = vec![w];
    rest.extend(b);
    let op = Op::Conv {
        window,
        groups: op.group,
        act: Act::None,
    };
    spatial(cx, node, op, x, rest)
}

fn deconv(cx: &mut Cx, node: &TypedNode, op: &Deconv) -> LResult<TensorId> {
    let spec = &op.pool_spec;
    if spec.data_format != DataFormat::NCHW || spec.kernel_shape.len() != 2 {
        return Err("only 2-D NCHW transposed convolution".into());
    }
    let x_shape = cx.shape_of(node.inputs[0])?;
    let y = cx.shape_of(node.id.into())?;
    let dil = spec.dilations.clone().unwrap_or_else(|| tvec!(1, 1));
    let str = spec.strides.clone().unwrap_or_else(|| tvec!(1, 1));
    // tract regroups ONNX's [ic, oc/g, kh, kw] deconv kernel into OIHW
    // ([oc, ic/g, kh, kw]) when typing, like a conv kernel.
    let w = oihw(cx, node.inputs[1], op.kernel_format)?;
    let ws = cx.graph.tensors[w].shape.clone();
    let oc = ws[0];
    // Pads: derive from the output size. tract resolves SAME-style specs.
    let pads = match &spec.padding {
        tract_onnx::tract_core::ops::cnn::PaddingSpec::Explicit(b, a) => [b[0], b[1], a[0], a[1]],
        tract_onnx::tract_core::ops::cnn::PaddingSpec::Valid => [0, 0, 0, 0],
        p => return Err(format!("padding {p:?} on ConvTranspose")),
    };
    let mut adj = [0; 2];
    for d in 0..2 {
        let full = (x_shape[2 + d] - 1) * str[d] + dil[d] * (ws[2 + d] - 1) + 1;
        let base = full
            .checked_sub(pads[d] + pads[d + 2])
            .ok_or("padding larger than output")?;
        adj[d] = y[2 + d]
            .checked_sub(base)
            .ok_or("inconsistent output size")?;
        if adj[d] >= str[d] {
            return Err("output_padding must be smaller than the stride".into());
        }
    }
    let window = Window {
        kernel: [ws[2], ws[3]],
        stride: [str[0], str[1]],
        dilation: [dil[0], dil[1]],
        pads,
    };
    let x = cx.tensor(node.inputs[0])?;
    let mut ins = vec![x, w];
    if let Some(b) = bias(cx, node.inputs[2], oc)? {
        ins.push(b);
    }
    Ok(cx.emit(
        Op::ConvTranspose {
            window,
            groups: op.group,
            adj,
            act: Act::None,
        },
        ins,
        y,
    ))
}

fn resize(cx: &mut Cx, node: &TypedNode, op: &Resize) -> LResult<TensorId> {
    let x = cx.shape_of(node.inputs[0])?;
    let y = cx.shape_of(node.id.into())?;
    if x.len() != 4 || x[0] != y[0] || x[1] != y[1] {
        return Err(format!(
            "resize {x:?} -> {y:?} (only H and W of NCHW may change)"
        ));
    }
    let coord = match op.coord_transformer {
        OnnxCoord::TfCropAndResize => CoordTransform::TfCropAndResize,
        OnnxCoord::Plain(ref c) => match *c {
            CoordTransformer::HalfPixel => CoordTransform::HalfPixel,
            CoordTransformer::PytorchHalfPixel => CoordTransform::PytorchHalfPixel,
            CoordTransformer::AlignCorners => CoordTransform::AlignCorners,
            CoordTransformer::Asymmetric => CoordTransform::Asymmetric,
            CoordTransformer::TfHalfPixelForNn => CoordTransform::TfHalfPixelForNearest,
            CoordTransformer::HalfPixelSymmetric => CoordTransform::HalfPixelSymmetric,
        },
    };
    let mode = match op.interpolator {
        Interpolator::Linear => ResizeMode::Bilinear,
        Interpolator::Cubic => ResizeMode::Cubic,
        Interpolator::Nearest => ResizeMode::Nearest(match op.nearest {
            Nearest::Floor => NearestMode::Floor,
            Nearest::Ceil => NearestMode::Ceil,
            Nearest::RoundPreferFloor => NearestMode::RoundPreferFloor,
            Nearest::RoundPreferCeil => NearestMode::RoundPreferCeil,
        }),
    };
    // ONNX uses the given scales in the coordinate transform; with sizes,
    // out/in, or under a keep-aspect-ratio policy the one scale of all the
    // resized axes (the smallest or largest size/in ratio).
    let axes: Vec<usize> = match &op.axes {
        Some(a) => a
            .iter()
            .map(|&v| usize::try_from(if v < 0 { v + 4 } else { v }).unwrap_or(usize::MAX))
            .collect(),
        None => (0..4).collect(),
    };
    if axes.iter().any(|&a| a >= 4) {
        return Err(format!("axes {:?} out of range", op.axes));
    }
    let mut per_axis: Vec<f32> = (0..4).map(|a| y[a] as f32 / x[a] as f32).collect();
    if let Some(i) = op.optional_scales_input {
        let Some(s) = cx.konst_f32(node.inputs[i]) else {
            return Err("scales are not constant".into());
        };
        if s.len() == axes.len() {
            for (&a, &v) in axes.iter().zip(&s) {
                per_axis[a] = v;
            }
        }
    } else if op.keep_aspect_ratio_policy != AspectRatio::Stretch {
        let sizes = op
            .optional_sizes_input
            .and_then(|i| cx.konst(node.inputs[i]))
            .and_then(|k| super::values::<i64>(&k).ok())
            .filter(|v| v.len() == axes.len())
            .ok_or("a keep_aspect_ratio_policy without constant sizes")?;
        let ratios = axes
            .iter()
            .zip(&sizes)
            .map(|(&a, &n)| n as f32 / x[a] as f32);
        let scale = if op.keep_aspect_ratio_policy == AspectRatio::NotLarger {
            ratios.fold(f32::INFINITY, f32::min)
        } else {
            ratios.fold(0.0, f32::max)
        };
        for &a in &axes {
            per_axis[a] = scale;
        }
    }
    let scales = [per_axis[2], per_axis[3]];
    let mut extra = ResizeExtra {
        cubic_a: op.cubic_coeff_a(),
        antialias: op.antialias,
        exclude_outside: op.exclude_outside,
        extrapolation: op.extrapolation_value(),
        ..ResizeExtra::default()
    };
    if coord == CoordTransform::TfCropAndResize {
        // roi: starts then ends, one per resized axis.
        let roi = op
            .optional_roi_input
            .and_then(|i| cx.konst_f32(node.inputs[i]))
            .filter(|r| r.len() == 2 * axes.len())
            .ok_or("tf_crop_and_resize without a constant roi")?;
        let of = |axis: usize, k: usize| {
            axes.iter()
                .position(|&a| a == axis)
                .map_or(if k == 0 { 0.0 } else { 1.0 }, |i| roi[k * axes.len() + i])
        };
        extra.roi = [of(2, 0), of(3, 0), of(2, 1), of(3, 1)];
    }
    let params = ResizeParams {
        mode,
        coord,
        scale_h: scales[0],
        scale_w: scales[1],
        extra,
    };
    if !params.taps_fit() {
        return Err(format!(
            "antialiased resize at scales {scales:?} needs more than {MAX_TAPS} taps per axis"
        ));
    }
    cx.simple(
        node,
        Op::Resize {
            mode,
            coord,
            scales,
            extra,
        },
        &node.inputs[..1],
    )
}
