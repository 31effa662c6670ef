//! Pre-quantized ONNX in operator form: `QLinearConv` (tract `Conv` with
//! `q_params`) and `QLinearMatMul` (tract `EinSum` with `q_params`).
//!
//! Each becomes the `f32` op on the values its quantized operands stand
//! for, followed by a [`crate::ir::Op::FakeQuant`] with the output's
//! parameters, exactly as the same model in QDQ form would import
//! ([`super::qdq`]):
//! * a quantized activation operand is the `f32` tensor of its producer
//!   (a `QuantizeLinear` or another QLinear op), whose parameters must be
//!   the ones this op states;
//! * constant weights become `(code - zero_point) * scale` per output
//!   channel (`QLinearConv`) or per column / row (`QLinearMatMul`);
//! * the i32 bias becomes `bias * x_scale * w_scale[c]`.
//!
//! `--quantize int8` then requantizes the weights symmetric per channel;
//! for weights that already are (ONNX Runtime's default) the codes come out
//! the same, and so does the bias.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::einsum::EinSum;

use super::qdq::{self, QValue};
use super::{values, Cx, LResult};
use crate::ir::{Op, Quant, TensorId};

pub(super) fn lower(cx: &mut Cx, node: &TypedNode) -> LResult<Option<TensorId>> {
    if let Some(op) = node.op_as::<Conv>() {
        if op.q_params.is_some() {
            return conv(cx, node, op).map(Some);
        }
    }
    if let Some(op) = node.op_as::<EinSum>() {
        if op.q_params.is_some() {
            return matmul(cx, node, op).map(Some);
        }
    }
    Ok(None)
}

/// A constant input as `T`s.
fn konst<T: Datum + Copy>(cx: &Cx, o: OutletId, what: &str) -> LResult<Vec<T>> {
    let k = cx
        .konst(o)
        .ok_or_else(|| format!("{what} is not a constant"))?;
    values::<T>(&k)
}

/// One (scale, zero point) pair, both scalars.
fn scalar_params(cx: &Cx, zp: OutletId, scale: OutletId, what: &str) -> LResult<(f32, i32)> {
    let (z, s) = (
        konst::<i32>(cx, zp, &format!("{what} zero point"))?,
        konst::<f32>(cx, scale, &format!("{what} scale"))?,
    );
    match (z.as_slice(), s.as_slice()) {
        ([z], [s]) => Ok((*s, *z)),
        _ => Err(format!(
            "{what} has {} scales and {} zero points (only per-tensor)",
            s.len(),
            z.len()
        )),
    }
}

/// The output's parameters and the s8 quant of the output type.
fn output_quant(cx: &Cx, node: &TypedNode, zp: OutletId, scale: OutletId) -> LResult<Quant> {
    let (s, z) = scalar_params(cx, zp, scale, "output")?;
    let dt = node.outputs[0].fact.datum_type;
    qdq::quant(s, z + qdq::offset(dt)?)
}

/// A quantized activation operand as the `f32` tensor it stands for.
fn activation(
    cx: &mut Cx,
    node: &TypedNode,
    input: usize,
    zp: OutletId,
    scale: OutletId,
) -> LResult<TensorId> {
    let o = node.inputs[input];
    let (s, z) = scalar_params(cx, zp, scale, &format!("input {input}"))?;
    let dt = cx
        .model
        .outlet_fact(o)
        .map_err(|e| e.to_string())?
        .datum_type;
    let q = qdq::quant(s, z + qdq::offset(dt)?)?;
    qdq::dequantized(cx, o, q, node.op.name().as_ref())
}

/// `(code - zp[c]) * scale[c]` for a constant of `shape` whose element `i`
/// belongs to channel `channel(i)`; `zp` and `scale` have one value or one
/// per channel (`channels` of them).
fn dequantize_const(
    codes: &[f32],
    zp: &[i32],
    scale: &[f32],
    channels: usize,
    channel: impl Fn(usize) -> usize,
    what: &str,
) -> LResult<Vec<f32>> {
    for (n, name) in [(zp.len(), "zero points"), (scale.len(), "scales")] {
        if n != 1 && n != channels {
            return Err(format!("{what} has {n} {name} for {channels} channels"));
        }
    }
    if let Some(s) = scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(format!("{what} scale {s} is not a positive number"));
    }
    let pick = |v: usize, c: usize| if v == 1 { 0 } else { c };
    Ok(codes
        .iter()
        .enumerate()
        .map(|(i, &q)| {
            let c = channel(i);
            (q - zp[pick(zp.len(), c)] as f32) * scale[pick(scale.len(), c)]
        })
        .collect())
}

fn conv(cx: &mut Cx, node: &TypedNode, op: &Conv) -> LResult<TensorId> {
    let &[_, w, b, x0, xs, k0, ks, y0, ys] = node.inputs.as_slice() else {
        return Err(format!("{} inputs (expected 9)", node.inputs.len()));
    };
    let x = activation(cx, node, 0, x0, xs)?;
    let (x_scale, _) = scalar_params(cx, x0, xs, "input 0")?;
    let y = output_quant(cx, node, y0, ys)?;
    // Weights: the output channel is axis 0 of OIHW / OHWI, the last of HWIO.
    let wk = cx.konst(w).ok_or("weights are not constant")?;
    let shape = wk.shape().to_vec();
    let codes = values::<f32>(&wk)?;
    let oc = op.output_channels();
    let (k_zp, k_scale) = (
        konst::<i32>(cx, k0, "weight zero point")?,
        konst::<f32>(cx, ks, "weight scale")?,
    );
    let per = codes.len() / oc.max(1);
    let data = match op.kernel_fmt {
        KernelFormat::HWIO => dequantize_const(&codes, &k_zp, &k_scale, oc, |i| i % oc, "weights")?,
        KernelFormat::OIHW | KernelFormat::OHWI => {
            dequantize_const(&codes, &k_zp, &k_scale, oc, |i| i / per, "weights")?
        }
    };
    let name = cx
        .graph
        .fresh_name(&format!("{}.dequantized", cx.model.node(w.node).name));
    let wt = cx.graph.add_const(name, shape, data);
    let wt = super::cnn::to_oihw(cx, wt, op.kernel_fmt);
    // Bias: i32 in units of x_scale * w_scale[c].
    let bias = konst::<i32>(cx, b, "bias")?;
    let bt = if bias.iter().all(|&v| v == 0) {
        None
    } else {
        if bias.len() != 1 && bias.len() != oc {
            return Err(format!("bias has {} values for {oc} channels", bias.len()));
        }
        let data: Vec<f32> = (0..oc)
            .map(|c| {
                let v = bias[if bias.len() == 1 { 0 } else { c }] as f64;
                let s = k_scale[if k_scale.len() == 1 { 0 } else { c }] as f64;
                (v * x_scale as f64 * s) as f32
            })
            .collect();
        let name = cx
            .graph
            .fresh_name(&format!("{}.bias", cx.model.node(b.node).name));
        Some(cx.graph.add_const(name, vec![oc], data))
    };
    let out = super::cnn::conv_of(cx, node, op, x, wt, bt)?;
    Ok(fake_quant(cx, node, out, y))
}

/// A `QLinearMatMul` operand: a quantized activation, or a constant with
/// per-tensor parameters or (constants only) one per `m` row of A / `n`
/// column of B.
fn operand(
    cx: &mut Cx,
    node: &TypedNode,
    input: usize,
    zp: OutletId,
    scale: OutletId,
) -> LResult<TensorId> {
    let o = node.inputs[input];
    let Some(k) = cx.konst(o) else {
        return activation(cx, node, input, zp, scale);
    };
    let shape = k.shape().to_vec();
    let codes = values::<f32>(&k)?;
    let what = format!("operand {input}");
    let (z, s) = (
        konst::<i32>(cx, zp, &format!("{what} zero point"))?,
        konst::<f32>(cx, scale, &format!("{what} scale"))?,
    );
    let rank = shape.len();
    // A [.., M, K]: per row, axis rank-2. B [.., K, N]: per column, the last axis.
    let (channels, stride) = match (input, rank) {
        (0, 2..) => (shape[rank - 2], shape[rank - 1]),
        (_, 1..) => (shape[rank - 1], 1),
        _ => (1, 1),
    };
    let data = dequantize_const(
        &codes,
        &z,
        &s,
        channels,
        |i| (i / stride) % channels.max(1),
        &what,
    )?;
    let name = cx
        .graph
        .fresh_name(&format!("{}.dequantized", cx.model.node(o.node).name));
    Ok(cx.graph.add_const(name, shape, data))
}

fn matmul(cx: &mut Cx, node: &TypedNode, op: &EinSum) -> LResult<TensorId> {
    let &[_, _, bias, a0, a_s, b0, b_s, y0, ys] = node.inputs.as_slice() else {
        return Err(format!("{} inputs (expected 9)", node.inputs.len()));
    };
    if konst::<i32>(cx, bias, "bias")?.iter().any(|&v| v != 0) {
        return Err("quantized matrix product with a bias".into());
    }
    let y = output_quant(cx, node, y0, ys)?;
    let a = operand(cx, node, 0, a0, a_s)?;
    let b = operand(cx, node, 1, b0, b_s)?;
    let out = super::einsum::matmul_of(cx, node, op, a, b)?;
    Ok(fake_quant(cx, node, out, y))
}

/// Quantizes `node`'s `f32` result with its output parameters.
fn fake_quant(cx: &mut Cx, node: &TypedNode, t: TensorId, q: Quant) -> TensorId {
    let shape = cx.graph.tensors[t].shape.clone();
    let out = cx.emit(Op::FakeQuant(q), vec![t], shape);
    cx.quantized
        .insert(OutletId::new(node.id, 0), QValue::Done { t: out, q });
    out
}
