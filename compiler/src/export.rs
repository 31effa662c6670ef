//! `--emit-onnx-qdq`: a runtime-ready graph (int8, `f32` or mixed) written
//! as an ONNX model in QDQ form, so that ONNX Runtime or tract can run what
//! Ferrite runs and cross-check it.
//!
//! * Graph inputs and outputs keep their names, shapes and `f32` type.
//! * An `i8` activation is an ONNX `int8` tensor. An int8 op that computes
//!   reads `DequantizeLinear` of its inputs, runs the `f32` ONNX op, clips
//!   to its fused activation and ends in `QuantizeLinear` with its output's
//!   parameters (the QDQ "fake quantization" of the same arithmetic; ONNX
//!   rounds `f32` products half to even where Ferrite uses TFLite's integer
//!   requantization, so outputs may differ by one step).
//! * int8 weights are `int8` initializers with per-output-channel
//!   `DequantizeLinear` (axis 0 for convolutions, the last axis for matrix
//!   products); biases are `int32` initializers dequantized with scale
//!   `s_in * s_w[c]`. The weight scales are not stored in a `.fer` graph:
//!   they are recovered from the requantization multipliers as
//!   `s_w[c] = M[c] * s_out / s_in` (exact to the multiplier's 31 bits).
//! * Ops on int8 values that only move them (transpose, reshape, slice,
//!   max pooling, max reduction, constant padding) and lookup tables
//!   (`Gather` on the 256 codes) run on the `int8` tensors directly, bit
//!   for bit.
//! * The graph is NHWC, as the runtime runs it; ONNX convolutions, pools
//!   and resizes are NCHW, so each is wrapped in two `Transpose` nodes and
//!   its weights are rearranged (OHWI to OIHW, or to ConvTranspose's
//!   `[ic, oc/groups, kh, kw]`).

use std::collections::{HashMap, HashSet};

use anyhow::{bail, Result};
use prost::Message;
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

use crate::ir::{Data, Graph, Node, Op, Quant, TensorId, Window};
use ferrite::kernels::elementwise::{BinaryKind, CmpKind, UnaryKind};
use ferrite::kernels::recurrent::{Cell, RnnAct};
use ferrite::kernels::reduce::ReduceKind;
use ferrite::kernels::resize::{CoordTransform, NearestMode, ResizeMode};
use ferrite::kernels::Act;
use ferrite::DType;

/// The opset written (HardSwish needs 14).
const OPSET: i64 = 14;

/// Writes `g` as an ONNX model (serialized `ModelProto`).
pub fn to_onnx(g: &Graph, name: &str) -> Result<Vec<u8>> {
    let mut w = Writer {
        g,
        nodes: Vec::new(),
        inits: Vec::new(),
        written: HashSet::new(),
        dequantized: HashMap::new(),
        counter: 0,
    };
    let mut failed = Vec::new();
    for n in &g.nodes {
        if let Err(e) = w.node(n) {
            failed.push(format!("node '{}' ({}): {e}", n.name, n.op.name()));
        }
    }
    if !failed.is_empty() {
        bail!(
            "cannot write {} node(s) as ONNX:\n  {}",
            failed.len(),
            failed.join("\n  ")
        );
    }
    let value_info = |t: TensorId| {
        let t = &g.tensors[t];
        ValueInfoProto {
            name: t.name.clone(),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: DataType::Float as i32,
                    shape: Some(TensorShapeProto {
                        dim: t
                            .shape
                            .iter()
                            .map(|&d| tensor_shape_proto::Dimension {
                                value: Some(tensor_shape_proto::dimension::Value::DimValue(
                                    d as i64,
                                )),
                                ..Default::default()
                            })
                            .collect(),
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    };
    for &t in g.inputs.iter().chain(&g.outputs) {
        if g.tensors[t].dtype != DType::F32 {
            bail!("graph input/output '{}' is not f32", g.tensors[t].name);
        }
    }
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "ferrite".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("{name}: Ferrite's compiled graph in QDQ form (--emit-onnx-qdq)"),
        graph: Some(GraphProto {
            node: w.nodes,
            name: name.into(),
            initializer: w.inits,
            input: g.inputs.iter().map(|&t| value_info(t)).collect(),
            output: g.outputs.iter().map(|&t| value_info(t)).collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}

struct Writer<'a> {
    g: &'a Graph,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    /// Constants already written as initializers.
    written: HashSet<TensorId>,
    /// `i8` activation -> name of its `DequantizeLinear` output.
    dequantized: HashMap<TensorId, String>,
    counter: usize,
}

fn attr_i(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

fn attr_f(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f,
        ..Default::default()
    }
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn attr_s(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// The real multiplier `mult * 2^(shift - 31)` of a `(mult, shift)` pair.
fn multiplier(mult: i32, shift: i32) -> f64 {
    mult as f64 * 2f64.powi(shift - 31)
}

/// Geometry attributes of a 2-D window.
fn window_attrs(w: &Window, dilations: bool) -> Vec<AttributeProto> {
    let mut a = vec![
        attr_ints("kernel_shape", &[w.kernel[0] as i64, w.kernel[1] as i64]),
        attr_ints("strides", &[w.stride[0] as i64, w.stride[1] as i64]),
        attr_ints("pads", &w.pads.map(|p| p as i64)),
    ];
    if dilations {
        a.push(attr_ints(
            "dilations",
            &[w.dilation[0] as i64, w.dilation[1] as i64],
        ));
    }
    a
}

/// OHWI `[o, kh, kw, i]` data rearranged to OIHW.
fn ohwi_to_oihw(d: &[f32], s: &[usize]) -> Vec<f32> {
    crate::util::transpose(d, s, &[0, 3, 1, 2])
}

impl Writer<'_> {
    fn fresh(&mut self, base: &str) -> String {
        self.counter += 1;
        format!("{base}::{}", self.counter)
    }

    fn push(&mut self, op: &str, inputs: Vec<String>, output: String, attrs: Vec<AttributeProto>) {
        let name = self.fresh(op);
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![output],
            name,
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        });
    }

    /// A node writing a fresh tensor; returns its name.
    fn op(&mut self, op: &str, inputs: Vec<String>, attrs: Vec<AttributeProto>) -> String {
        let out = self.fresh(&format!("{op}_out"));
        self.push(op, inputs, out.clone(), attrs);
        out
    }

    fn init(&mut self, name: String, dims: &[usize], dt: DataType, raw: Vec<u8>) -> String {
        self.inits.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: dt as i32,
            name: name.clone(),
            raw_data: raw,
            ..Default::default()
        });
        name
    }

    fn init_f32(&mut self, base: &str, dims: &[usize], v: &[f32]) -> String {
        let name = self.fresh(base);
        let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.init(name, dims, DataType::Float, raw)
    }

    fn init_i64(&mut self, base: &str, v: &[i64]) -> String {
        let name = self.fresh(base);
        let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.init(name, &[v.len()], DataType::Int64, raw)
    }

    fn init_i8(&mut self, base: &str, dims: &[usize], v: &[i8]) -> String {
        let name = self.fresh(base);
        let raw = v.iter().map(|&x| x as u8).collect();
        self.init(name, dims, DataType::Int8, raw)
    }

    fn init_i32(&mut self, base: &str, dims: &[usize], v: &[i32]) -> String {
        let name = self.fresh(base);
        let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.init(name, dims, DataType::Int32, raw)
    }

    /// The ONNX name of tensor `t`; a constant is written as an initializer
    /// the first time.
    fn tensor(&mut self, t: TensorId) -> Result<String> {
        let tensor = &self.g.tensors[t];
        let name = tensor.name.clone();
        if let Some(d) = &tensor.data {
            if self.written.insert(t) {
                let (dt, raw) = match d {
                    Data::F32(_) => (DataType::Float, d.to_le_bytes()),
                    Data::I8(_) => (DataType::Int8, d.to_le_bytes()),
                    Data::I32(_) => (DataType::Int32, d.to_le_bytes()),
                };
                let shape = tensor.shape.clone();
                self.init(name.clone(), &shape, dt, raw);
            }
        }
        Ok(name)
    }

    /// The quantization of an `i8` tensor.
    fn quant(&self, t: TensorId) -> Result<Quant> {
        self.g.tensors[t]
            .quant
            .filter(|q| q.scale > 0.0)
            .ok_or_else(|| anyhow::anyhow!("int8 tensor '{}' has no scale", self.g.tensors[t].name))
    }

    /// `(scale, zero point)` initializers of a per-tensor quantization.
    fn qparams(&mut self, q: Quant) -> (String, String) {
        let s = self.init_f32("scale", &[], &[q.scale]);
        let z = self.init_i8("zero_point", &[], &[q.zero_point as i8]);
        (s, z)
    }

    /// The `f32` value of an `i8` activation (or the `f32` tensor itself).
    fn real(&mut self, t: TensorId) -> Result<String> {
        if self.g.tensors[t].dtype != DType::I8 {
            return self.tensor(t);
        }
        if let Some(n) = self.dequantized.get(&t) {
            return Ok(n.clone());
        }
        let q = self.quant(t)?;
        let x = self.tensor(t)?;
        let (s, z) = self.qparams(q);
        let out = self.op("DequantizeLinear", vec![x, s, z], vec![]);
        self.dequantized.insert(t, out.clone());
        Ok(out)
    }

    /// Quantizes `x` with the parameters of `i8` tensor `out`, into `out`.
    fn quantize_into(&mut self, x: String, out: TensorId) -> Result<()> {
        let q = self.quant(out)?;
        let (s, z) = self.qparams(q);
        let name = self.g.tensors[out].name.clone();
        self.push("QuantizeLinear", vec![x, s, z], name, vec![]);
        Ok(())
    }

    /// Ends a chain: renames the last node's output `cur` to the graph
    /// tensor `out` (or copies when `cur` is not the last node's output).
    fn finish(&mut self, cur: String, out: TensorId) {
        let name = self.g.tensors[out].name.clone();
        let shared = self.dequantized.values().any(|v| *v == cur);
        match self.nodes.last_mut() {
            Some(n) if n.output[0] == cur && !shared => n.output[0] = name,
            _ => self.push("Identity", vec![cur], name, vec![]),
        }
    }

    /// The real clamp `[lo, hi]` of int8 codes `[act_min, act_max]` of `out`,
    /// applied to `x` unless it is the whole int8 range.
    fn clamp_codes(&mut self, x: String, out: TensorId, lo: i32, hi: i32) -> Result<String> {
        if lo <= -128 && hi >= 127 {
            return Ok(x);
        }
        let q = self.quant(out)?;
        let l = self.init_f32("clip_min", &[], &[q.scale * (lo - q.zero_point) as f32]);
        let h = self.init_f32("clip_max", &[], &[q.scale * (hi - q.zero_point) as f32]);
        Ok(self.op("Clip", vec![x, l, h], vec![]))
    }

    fn act(&mut self, x: String, act: Act) -> String {
        match act {
            Act::None => x,
            Act::Clamp(lo, hi) => self.clip(x, lo, hi),
            Act::HardSwish => self.op("HardSwish", vec![x], vec![]),
            Act::LeakyRelu(a) => self.op("LeakyRelu", vec![x], vec![attr_f("alpha", a)]),
            Act::Sigmoid => self.op("Sigmoid", vec![x], vec![]),
        }
    }

    fn clip(&mut self, x: String, lo: f32, hi: f32) -> String {
        if lo == 0.0 && hi == f32::INFINITY {
            return self.op("Relu", vec![x], vec![]);
        }
        let mut ins = vec![x];
        ins.push(if lo == f32::NEG_INFINITY {
            String::new()
        } else {
            self.init_f32("clip_min", &[], &[lo])
        });
        if hi != f32::INFINITY {
            ins.push(self.init_f32("clip_max", &[], &[hi]));
        }
        self.op("Clip", ins, vec![])
    }

    fn nchw(&mut self, x: String) -> String {
        self.op("Transpose", vec![x], vec![attr_ints("perm", &[0, 3, 1, 2])])
    }

    fn nhwc(&mut self, x: String) -> String {
        self.op("Transpose", vec![x], vec![attr_ints("perm", &[0, 2, 3, 1])])
    }

    /// An NCHW ONNX op applied to NHWC `x`.
    fn spatial(
        &mut self,
        op: &str,
        x: String,
        extra: Vec<String>,
        a: Vec<AttributeProto>,
    ) -> String {
        let x = self.nchw(x);
        let mut ins = vec![x];
        ins.extend(extra);
        let y = self.op(op, ins, a);
        self.nhwc(y)
    }

    fn node(&mut self, n: &Node) -> Result<()> {
        let g = self.g;
        let out = n.output;
        let in_i8 = n
            .inputs
            .first()
            .is_some_and(|&x| g.tensors[x].dtype == DType::I8);
        let out_i8 = g.tensors[out].dtype == DType::I8;
        match &n.op {
            Op::FakeQuant(_) => bail!("internal error: FakeQuant in a compiled graph"),
            Op::Quantize => {
                let x = self.tensor(n.inputs[0])?;
                self.quantize_into(x, out)
            }
            Op::Dequantize => {
                let q = self.quant(n.inputs[0])?;
                let x = self.tensor(n.inputs[0])?;
                let (s, z) = self.qparams(q);
                let name = g.tensors[out].name.clone();
                self.push("DequantizeLinear", vec![x, s, z], name, vec![]);
                Ok(())
            }
            Op::Lut => {
                let x = self.tensor(n.inputs[0])?;
                let table = self.tensor(n.inputs[1])?;
                let wide = self.op("Cast", vec![x], vec![attr_i("to", DataType::Int32 as i64)]);
                let k = self.init_i32("offset", &[], &[128]);
                let idx = self.op("Add", vec![wide, k], vec![]);
                let y = self.op("Gather", vec![table, idx], vec![attr_i("axis", 0)]);
                self.finish(y, out);
                Ok(())
            }
            Op::QConv {
                window,
                groups,
                act_min,
                act_max,
            } => self.qconv(n, window, *groups, *act_min, *act_max),
            Op::QMatMul { act_min, act_max } => self.qmatmul(n, *act_min, *act_max),
            Op::QAdd(p) => {
                let (a, b) = (self.real(n.inputs[0])?, self.real(n.inputs[1])?);
                let y = self.op(if p.sub { "Sub" } else { "Add" }, vec![a, b], vec![]);
                let y = self.clamp_codes(y, out, p.act_min, p.act_max)?;
                self.quantize_into(y, out)
            }
            Op::QMul(p) => {
                let (a, b) = (self.real(n.inputs[0])?, self.real(n.inputs[1])?);
                let y = self.op("Mul", vec![a, b], vec![]);
                let y = self.clamp_codes(y, out, p.act_min, p.act_max)?;
                self.quantize_into(y, out)
            }
            Op::QMean { axes, .. } => {
                let x = self.real(n.inputs[0])?;
                let y = self.reduce("ReduceMean", x, axes, n)?;
                self.quantize_into(y, out)
            }
            Op::QSoftmax { axis } => {
                let x = self.real(n.inputs[0])?;
                let y = self.op("Softmax", vec![x], vec![attr_i("axis", *axis as i64)]);
                self.quantize_into(y, out)
            }
            Op::QConcat { axis, .. } => {
                let ins = n
                    .inputs
                    .iter()
                    .map(|&t| self.real(t))
                    .collect::<Result<Vec<_>>>()?;
                let y = self.op("Concat", ins, vec![attr_i("axis", *axis as i64)]);
                self.quantize_into(y, out)
            }
            Op::QPad { mode, code, before } => {
                let x = self.tensor(n.inputs[0])?;
                let value = self.init_i8("pad_value", &[], &[*code as i8]);
                let y = self.pad(x, *mode, value, before, n)?;
                self.finish(y, out);
                Ok(())
            }
            // Moving int8 codes, or taking their maximum, is exact on the
            // codes themselves.
            Op::Transpose(_)
            | Op::Reshape
            | Op::Slice { .. }
            | Op::MaxPool { .. }
            | Op::Reduce {
                kind: ReduceKind::Max,
                ..
            } if in_i8 && out_i8 => {
                let x = self.tensor(n.inputs[0])?;
                let y = self.f32_op(n, vec![x])?;
                self.finish(y, out);
                Ok(())
            }
            _ => {
                let ins = self.inputs(n)?;
                let y = self.f32_op(n, ins)?;
                if out_i8 {
                    self.quantize_into(y, out)
                } else {
                    self.finish(y, out);
                    Ok(())
                }
            }
        }
    }

    /// The `f32` names of `n`'s inputs; a convolution's weights are left
    /// empty ([`Writer::f32_op`] writes them rearranged).
    fn inputs(&mut self, n: &Node) -> Result<Vec<String>> {
        let conv = matches!(n.op, Op::Conv { .. } | Op::ConvTranspose { .. });
        n.inputs
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                if conv && i == 1 {
                    Ok(String::new())
                } else {
                    self.real(t)
                }
            })
            .collect()
    }

    /// Per-channel requantization multipliers `M[c]` of a conv / matmul.
    fn multipliers(&self, requant: TensorId) -> Result<Vec<f64>> {
        match &self.g.tensors[requant].data {
            Some(Data::I32(v)) if v.len() % 2 == 0 => {
                Ok(v.chunks(2).map(|p| multiplier(p[0], p[1])).collect())
            }
            _ => bail!("requantization table is not an i32 constant"),
        }
    }

    /// Dequantized weights and bias of an int8 conv / matmul: `(w, b)`
    /// names, with `w_dims`, per-channel scales along `axis`, `channels`.
    #[allow(clippy::too_many_arguments)]
    fn qweights(
        &mut self,
        n: &Node,
        codes: &[i8],
        w_dims: &[usize],
        axis: usize,
        channels: usize,
    ) -> Result<(String, String)> {
        let (x, bias, requant, out) = (n.inputs[0], n.inputs[2], n.inputs[3], n.output);
        let (sx, sy) = (self.quant(x)?.scale as f64, self.quant(out)?.scale as f64);
        let m = self.multipliers(requant)?;
        let m_of = |c: usize| if m.len() == 1 { m[0] } else { m[c] };
        let w_scale: Vec<f32> = (0..channels).map(|c| (m_of(c) * sy / sx) as f32).collect();
        let b_scale: Vec<f32> = (0..channels).map(|c| (m_of(c) * sy) as f32).collect();
        let Some(Data::I32(b)) = self.g.tensors[bias].data.clone() else {
            bail!("bias is not an i32 constant");
        };
        let wq = self.init_i8("weight", w_dims, codes);
        let ws = self.init_f32("weight_scale", &[channels], &w_scale);
        let wz = self.init_i8("weight_zero_point", &[channels], &vec![0; channels]);
        let w = self.op(
            "DequantizeLinear",
            vec![wq, ws, wz],
            vec![attr_i("axis", axis as i64)],
        );
        let bq = self.init_i32("bias", &[channels], &b);
        let bs = self.init_f32("bias_scale", &[channels], &b_scale);
        let bz = self.init_i32("bias_zero_point", &[channels], &vec![0; channels]);
        let b = self.op(
            "DequantizeLinear",
            vec![bq, bs, bz],
            vec![attr_i("axis", 0)],
        );
        Ok((w, b))
    }

    fn qconv(&mut self, n: &Node, w: &Window, groups: usize, lo: i32, hi: i32) -> Result<()> {
        let wt = &self.g.tensors[n.inputs[1]];
        let Some(Data::I8(codes)) = &wt.data else {
            bail!("weights are not an i8 constant");
        };
        let s = wt.shape.clone();
        let oihw: Vec<i8> = {
            let f: Vec<f32> = codes.iter().map(|&c| c as f32).collect();
            ohwi_to_oihw(&f, &s).iter().map(|&v| v as i8).collect()
        };
        let dims = [s[0], s[3], s[1], s[2]];
        let (wd, bd) = self.qweights(n, &oihw, &dims, 0, s[0])?;
        let x = self.real(n.inputs[0])?;
        let mut a = window_attrs(w, true);
        a.push(attr_i("group", groups as i64));
        let y = self.spatial("Conv", x, vec![wd, bd], a);
        let y = self.clamp_codes(y, n.output, lo, hi)?;
        self.quantize_into(y, n.output)
    }

    fn qmatmul(&mut self, n: &Node, lo: i32, hi: i32) -> Result<()> {
        let bt = &self.g.tensors[n.inputs[1]];
        let a = self.real(n.inputs[0])?;
        let y = if let Some(Data::I8(codes)) = bt.data.clone() {
            let dims = bt.shape.clone();
            let channels = *dims.last().unwrap_or(&1);
            let (b, bias) = self.qweights(n, &codes, &dims, dims.len() - 1, channels)?;
            let y = self.op("MatMul", vec![a, b], vec![]);
            self.op("Add", vec![y, bias], vec![])
        } else {
            // Two activations: per-tensor parameters, bias in s_a * s_b units.
            let b = self.real(n.inputs[1])?;
            let y = self.op("MatMul", vec![a, b], vec![]);
            let (sa, sb) = (
                self.quant(n.inputs[0])?.scale,
                self.quant(n.inputs[1])?.scale,
            );
            let Some(Data::I32(bias)) = self.g.tensors[n.inputs[2]].data.clone() else {
                bail!("bias is not an i32 constant");
            };
            let real: Vec<f32> = bias.iter().map(|&v| v as f32 * sa * sb).collect();
            let bias = self.init_f32("bias", &[real.len()], &real);
            self.op("Add", vec![y, bias], vec![])
        };
        let y = self.clamp_codes(y, n.output, lo, hi)?;
        self.quantize_into(y, n.output)
    }

    fn reduce(&mut self, op: &str, x: String, axes: &[usize], n: &Node) -> Result<String> {
        let keep = self.g.tensors[n.output].shape.len() == self.g.tensors[n.inputs[0]].shape.len();
        let axes: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
        let mut attrs = vec![attr_i("keepdims", keep as i64)];
        let mut ins = vec![x];
        if op == "ReduceSum" {
            ins.push(self.init_i64("axes", &axes));
        } else {
            attrs.push(attr_ints("axes", &axes));
        }
        Ok(self.op(op, ins, attrs))
    }

    fn pad(
        &mut self,
        x: String,
        mode: ferrite::kernels::layout::PadMode,
        value: String,
        before: &[usize],
        n: &Node,
    ) -> Result<String> {
        use ferrite::kernels::layout::PadMode;
        let (xs, ys) = (
            &self.g.tensors[n.inputs[0]].shape,
            &self.g.tensors[n.output].shape,
        );
        let mut pads: Vec<i64> = before.iter().map(|&b| b as i64).collect();
        for d in 0..xs.len() {
            pads.push(ys[d] as i64 - xs[d] as i64 - before[d] as i64);
        }
        let mode = match mode {
            PadMode::Constant => "constant",
            PadMode::Reflect => "reflect",
            PadMode::Edge => "edge",
        };
        let p = self.init_i64("pads", &pads);
        let ins = if mode == "constant" {
            vec![x, p, value]
        } else {
            vec![x, p]
        };
        Ok(self.op("Pad", ins, vec![attr_s("mode", mode)]))
    }

    /// An ONNX `LSTM` / `GRU` / `RNN` node (weights transposed back to
    /// `[dirs, G·H, I|H]`) whose `Y`, `Y_h` and `Y_c` are concatenated into
    /// the op's output layout, zeros in place of its working rows.
    fn recurrent(
        &mut self,
        n: &Node,
        ins: &[String],
        cell: Cell,
        direction: u32,
        clip: f32,
    ) -> Result<String> {
        let g = self.g;
        let onnx_weight = |this: &mut Self, i: usize, what: &str| -> Result<String> {
            let t = &g.tensors[n.inputs[i]];
            let Some(d) = t.const_f32() else {
                bail!("{what} is not an f32 constant");
            };
            let s = &t.shape;
            let v = crate::util::transpose(d, s, &[0, 2, 1]);
            Ok(this.init_f32(what, &[s[0], s[2], s[1]], &v))
        };
        let w = onnx_weight(self, 1, "W")?;
        let r = onnx_weight(self, 2, "R")?;
        let out = g.tensors[n.output].shape.clone();
        let (rows, state) = (out[0], out[1..].to_vec());
        let seq = g.tensors[n.inputs[0]].shape[0];
        let hidden = state[2];
        let (op, variant) = match cell {
            Cell::Lstm => ("LSTM", vec![]),
            Cell::Gru {
                linear_before_reset,
            } => (
                "GRU",
                vec![attr_i("linear_before_reset", linear_before_reset as i64)],
            ),
            Cell::Rnn(act) => {
                let a = match act {
                    RnnAct::Tanh => "Tanh",
                    RnnAct::Relu => "Relu",
                    RnnAct::Sigmoid => "Sigmoid",
                };
                let acts = vec![a.as_bytes().to_vec(); state[0]];
                let mut attr = attr_s("activations", a);
                attr.r#type = AttributeType::Strings as i32;
                attr.s = vec![];
                attr.strings = acts;
                ("RNN", vec![attr])
            }
        };
        let mut inputs = vec![
            ins[0].clone(),
            w,
            r,
            ins[3].clone(),
            String::new(),
            ins[4].clone(),
        ];
        if cell == Cell::Lstm {
            inputs.push(ins[5].clone());
            if let Some(p) = ins.get(6) {
                inputs.push(p.clone());
            }
        }
        let dir = ["forward", "reverse", "bidirectional"][direction.min(2) as usize];
        let mut attrs = vec![
            attr_i("hidden_size", hidden as i64),
            attr_s("direction", dir),
        ];
        if clip.is_finite() {
            attrs.push(attr_f("clip", clip));
        }
        attrs.extend(variant);
        let outs: Vec<String> = ["Y", "Y_h", "Y_c"]
            .iter()
            .take(if cell == Cell::Lstm { 3 } else { 2 })
            .map(|o| self.fresh(&format!("{op}_{o}")))
            .collect();
        let name = self.fresh(op);
        self.nodes.push(NodeProto {
            input: inputs,
            output: outs.clone(),
            name,
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        });
        let axis0 = self.init_i64("axes", &[0]);
        let mut parts = vec![outs[0].clone()];
        for o in &outs[1..] {
            parts.push(self.op("Unsqueeze", vec![o.clone(), axis0.clone()], vec![]));
        }
        let filled = seq + parts.len() - 1;
        let zeros: Vec<f32> = vec![0.0; (rows - filled) * state.iter().product::<usize>()];
        let dims = [vec![rows - filled], state].concat();
        parts.push(self.init_f32("working_rows", &dims, &zeros));
        Ok(self.op("Concat", parts, vec![attr_i("axis", 0)]))
    }

    /// The ONNX form of a (non-int8) op on already-named inputs; returns
    /// the output name.
    fn f32_op(&mut self, n: &Node, ins: Vec<String>) -> Result<String> {
        let g = self.g;
        let out_shape = g.tensors[n.output].shape.clone();
        let in_shape = n
            .inputs
            .first()
            .map(|&t| g.tensors[t].shape.clone())
            .unwrap_or_default();
        Ok(match &n.op {
            Op::Conv {
                window,
                groups,
                act,
            } => {
                let wt = &g.tensors[n.inputs[1]];
                let Some(d) = wt.const_f32() else {
                    bail!("weights are not an f32 constant");
                };
                let s = &wt.shape;
                let w = self.init_f32("weight", &[s[0], s[3], s[1], s[2]], &ohwi_to_oihw(d, s));
                let mut extra = vec![w];
                if let Some(b) = ins.get(2) {
                    extra.push(b.clone());
                }
                let mut a = window_attrs(window, true);
                a.push(attr_i("group", *groups as i64));
                let y = self.spatial("Conv", ins[0].clone(), extra, a);
                self.act(y, *act)
            }
            Op::ConvTranspose {
                window,
                groups,
                adj,
                act,
            } => {
                let wt = &g.tensors[n.inputs[1]];
                let Some(d) = wt.const_f32() else {
                    bail!("weights are not an f32 constant");
                };
                // OHWI [oc, kh, kw, icg] -> [ic, ocg, kh, kw].
                let [oc, kh, kw, icg] = [wt.shape[0], wt.shape[1], wt.shape[2], wt.shape[3]];
                let ocg = oc / groups;
                let mut v = vec![0f32; d.len()];
                for o in 0..oc {
                    let (grp, oo) = (o / ocg, o % ocg);
                    for ky in 0..kh {
                        for kx in 0..kw {
                            for i in 0..icg {
                                let ic = grp * icg + i;
                                v[((ic * ocg + oo) * kh + ky) * kw + kx] =
                                    d[((o * kh + ky) * kw + kx) * icg + i];
                            }
                        }
                    }
                }
                let w = self.init_f32("weight", &[icg * groups, ocg, kh, kw], &v);
                let mut extra = vec![w];
                if let Some(b) = ins.get(2) {
                    extra.push(b.clone());
                }
                let mut a = window_attrs(window, true);
                a.push(attr_i("group", *groups as i64));
                a.push(attr_ints("output_padding", &[adj[0] as i64, adj[1] as i64]));
                let y = self.spatial("ConvTranspose", ins[0].clone(), extra, a);
                self.act(y, *act)
            }
            Op::MatMul { act } => {
                let mut y = self.op("MatMul", ins[..2].to_vec(), vec![]);
                if let Some(b) = ins.get(2) {
                    y = self.op("Add", vec![y, b.clone()], vec![]);
                }
                self.act(y, *act)
            }
            Op::Binary { kind, act } => {
                let op = match kind {
                    BinaryKind::Add => "Add",
                    BinaryKind::Sub => "Sub",
                    BinaryKind::Mul => "Mul",
                    BinaryKind::Div => "Div",
                    BinaryKind::Max => "Max",
                    BinaryKind::Min => "Min",
                    BinaryKind::Pow => "Pow",
                    BinaryKind::PRelu => "PRelu",
                };
                let y = self.op(op, ins, vec![]);
                self.act(y, *act)
            }
            Op::Unary(kind) => self.unary(*kind, ins[0].clone()),
            Op::MaxPool { window, ceil } => {
                let mut a = window_attrs(window, true);
                a.push(attr_i("ceil_mode", *ceil as i64));
                self.spatial("MaxPool", ins[0].clone(), vec![], a)
            }
            Op::AvgPool {
                window,
                ceil,
                count_include_pad,
            } => {
                if window.dilation != [1, 1] {
                    bail!("dilated average pooling has no opset-{OPSET} form");
                }
                let mut a = window_attrs(window, false);
                a.push(attr_i("ceil_mode", *ceil as i64));
                a.push(attr_i("count_include_pad", *count_include_pad as i64));
                self.spatial("AveragePool", ins[0].clone(), vec![], a)
            }
            Op::Reduce { kind, axes } => {
                let op = match kind {
                    ReduceKind::Sum => "ReduceSum",
                    ReduceKind::Mean => "ReduceMean",
                    ReduceKind::Max => "ReduceMax",
                    ReduceKind::Min => "ReduceMin",
                    ReduceKind::Prod => "ReduceProd",
                    ReduceKind::SumSquare => "ReduceSumSquare",
                    ReduceKind::L2 => "ReduceL2",
                    ReduceKind::L1 => "ReduceL1",
                };
                self.reduce(op, ins[0].clone(), axes, n)?
            }
            Op::Softmax { axis, log } => self.op(
                if *log { "LogSoftmax" } else { "Softmax" },
                ins,
                vec![attr_i("axis", *axis as i64)],
            ),
            Op::Transpose(perm) => {
                let perm: Vec<i64> = perm.iter().map(|&p| p as i64).collect();
                self.op("Transpose", ins, vec![attr_ints("perm", &perm)])
            }
            Op::Reshape => {
                let shape: Vec<i64> = out_shape.iter().map(|&d| d as i64).collect();
                let s = self.init_i64("shape", &shape);
                self.op("Reshape", vec![ins[0].clone(), s], vec![])
            }
            Op::Concat(axis) => self.op("Concat", ins, vec![attr_i("axis", *axis as i64)]),
            Op::Slice { starts, steps } => {
                let mut ends = Vec::new();
                for d in 0..starts.len() {
                    let end = starts[d] as i64 + out_shape[d] as i64 * steps[d] as i64;
                    // A negative end means "from the back" in ONNX.
                    ends.push(if end < 0 { i64::MIN } else { end });
                }
                let st: Vec<i64> = starts.iter().map(|&s| s as i64).collect();
                let sp: Vec<i64> = steps.iter().map(|&s| s as i64).collect();
                let axes: Vec<i64> = (0..starts.len() as i64).collect();
                let i = [
                    self.init_i64("starts", &st),
                    self.init_i64("ends", &ends),
                    self.init_i64("axes", &axes),
                    self.init_i64("steps", &sp),
                ];
                let mut v = vec![ins[0].clone()];
                v.extend(i);
                self.op("Slice", v, vec![])
            }
            Op::Pad {
                mode,
                value,
                before,
            } => {
                let v = self.init_f32("pad_value", &[], &[*value]);
                self.pad(ins[0].clone(), *mode, v, before, n)?
            }
            Op::Resize {
                mode,
                coord,
                scales,
                extra,
            } => {
                if in_shape.len() != 4 {
                    bail!("resize of rank {}", in_shape.len());
                }
                let coord = match coord {
                    CoordTransform::HalfPixel => "half_pixel",
                    CoordTransform::PytorchHalfPixel => "pytorch_half_pixel",
                    CoordTransform::AlignCorners => "align_corners",
                    CoordTransform::Asymmetric => "asymmetric",
                    CoordTransform::TfHalfPixelForNearest => "tf_half_pixel_for_nearest",
                    CoordTransform::HalfPixelSymmetric => "half_pixel_symmetric",
                    CoordTransform::TfCropAndResize => "tf_crop_and_resize",
                };
                if extra.antialias {
                    bail!("antialiased Resize has no opset-{OPSET} form (antialias is opset 18)");
                }
                let mut a = vec![attr_s("coordinate_transformation_mode", coord)];
                if extra.exclude_outside {
                    a.push(attr_i("exclude_outside", 1));
                }
                if extra.extrapolation != 0.0 {
                    a.push(attr_f("extrapolation_value", extra.extrapolation));
                }
                match mode {
                    ResizeMode::Bilinear => a.push(attr_s("mode", "linear")),
                    ResizeMode::Cubic => {
                        a.push(attr_s("mode", "cubic"));
                        a.push(attr_f("cubic_coeff_a", extra.cubic_a));
                    }
                    ResizeMode::Nearest(m) => {
                        a.push(attr_s("mode", "nearest"));
                        a.push(attr_s(
                            "nearest_mode",
                            match m {
                                NearestMode::RoundPreferFloor => "round_prefer_floor",
                                NearestMode::RoundPreferCeil => "round_prefer_ceil",
                                NearestMode::Floor => "floor",
                                NearestMode::Ceil => "ceil",
                            },
                        ));
                    }
                }
                let roi = if coord == "tf_crop_and_resize" {
                    let [y0, x0, y1, x1] = extra.roi;
                    self.init_f32("roi", &[8], &[0.0, 0.0, y0, x0, 1.0, 1.0, y1, x1])
                } else {
                    self.init_f32("roi", &[0], &[])
                };
                let sc = self.init_f32("scales", &[4], &[1.0, 1.0, scales[0], scales[1]]);
                self.spatial("Resize", ins[0].clone(), vec![roi, sc], a)
            }
            Op::Select(cmp) => {
                let (op, negate) = match cmp {
                    CmpKind::Lt => ("Less", false),
                    CmpKind::Le => ("LessOrEqual", false),
                    CmpKind::Gt => ("Greater", false),
                    CmpKind::Ge => ("GreaterOrEqual", false),
                    CmpKind::Eq => ("Equal", false),
                    CmpKind::Ne => ("Equal", true),
                };
                let mut c = self.op(op, ins[..2].to_vec(), vec![]);
                if negate {
                    c = self.op("Not", vec![c], vec![]);
                }
                self.op("Where", vec![c, ins[2].clone(), ins[3].clone()], vec![])
            }
            Op::Recurrent {
                cell,
                direction,
                clip,
            } => self.recurrent(n, &ins, *cell, *direction, *clip)?,
            op => bail!("internal error: {} is not an f32 op", op.name()),
        })
    }

    fn unary(&mut self, kind: UnaryKind, x: String) -> String {
        let simple = |op: &str| (op.to_string(), Vec::new());
        let (op, attrs) = match kind {
            UnaryKind::Relu => simple("Relu"),
            UnaryKind::Clamp(lo, hi) => return self.clip(x, lo, hi),
            UnaryKind::LeakyRelu(a) => ("LeakyRelu".into(), vec![attr_f("alpha", a)]),
            UnaryKind::Sigmoid => simple("Sigmoid"),
            UnaryKind::HardSigmoid(a, b) => (
                "HardSigmoid".into(),
                vec![attr_f("alpha", a), attr_f("beta", b)],
            ),
            UnaryKind::HardSwish => simple("HardSwish"),
            UnaryKind::Tanh => simple("Tanh"),
            UnaryKind::Sqrt => simple("Sqrt"),
            UnaryKind::Exp => simple("Exp"),
            UnaryKind::Log => simple("Log"),
            UnaryKind::Abs => simple("Abs"),
            UnaryKind::Neg => simple("Neg"),
            UnaryKind::Reciprocal => simple("Reciprocal"),
            UnaryKind::Erf => simple("Erf"),
            UnaryKind::Floor => simple("Floor"),
            UnaryKind::Ceil => simple("Ceil"),
            UnaryKind::Round => simple("Round"),
            UnaryKind::GeluTanh => {
                // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
                let x3 = self.op("Mul", vec![x.clone(), x.clone()], vec![]);
                let x3 = self.op("Mul", vec![x3, x.clone()], vec![]);
                let c = self.init_f32("gelu_c", &[], &[0.044_715]);
                let x3 = self.op("Mul", vec![x3, c], vec![]);
                let inner = self.op("Add", vec![x.clone(), x3], vec![]);
                let k = self.init_f32("sqrt_2_over_pi", &[], &[0.797_884_6]);
                let inner = self.op("Mul", vec![inner, k], vec![]);
                let t = self.op("Tanh", vec![inner], vec![]);
                let one = self.init_f32("one", &[], &[1.0]);
                let t1 = self.op("Add", vec![t, one], vec![]);
                let xt = self.op("Mul", vec![x, t1], vec![]);
                let half = self.init_f32("half", &[], &[0.5]);
                return self.op("Mul", vec![xt, half], vec![]);
            }
            UnaryKind::Gelu => {
                // 0.5 x (1 + erf(x / sqrt 2)); Gelu is an opset-20 op.
                let r = self.init_f32("inv_sqrt2", &[], &[std::f32::consts::FRAC_1_SQRT_2]);
                let t = self.op("Mul", vec![x.clone(), r], vec![]);
                let e = self.op("Erf", vec![t], vec![]);
                let one = self.init_f32("one", &[], &[1.0]);
                let e1 = self.op("Add", vec![e, one], vec![]);
                let xe = self.op("Mul", vec![x, e1], vec![]);
                let half = self.init_f32("half", &[], &[0.5]);
                return self.op("Mul", vec![xe, half], vec![]);
            }
        };
        self.op(&op, vec![x], attrs)
    }
}
