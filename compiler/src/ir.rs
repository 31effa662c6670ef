//! The compiler's intermediate representation: a small typed graph.
//!
//! Before the layout pass, every op has ONNX semantics (NCHW activations,
//! OIHW weights). After it, shapes and axes are physical: rank-4 activations
//! feeding spatial ops are NHWC and conv weights OHWI, which is what the
//! runtime executes.

use ferrite::format::DType;
use ferrite::kernels::elementwise::{BinaryKind, CmpKind, UnaryKind};
use ferrite::kernels::i8_elementwise::{QAddParams, QMulParams};
use ferrite::kernels::layout::PadMode;
use ferrite::kernels::recurrent::Cell;
use ferrite::kernels::reduce::ReduceKind;
use ferrite::kernels::resize::{CoordTransform, ResizeExtra, ResizeMode};
use ferrite::kernels::Act;

/// Index of a tensor in [`Graph::tensors`].
pub type TensorId = usize;

/// Constant data of a tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// `f32` elements, row-major.
    F32(Vec<f32>),
    /// `i8` elements (quantized weights, lookup tables).
    I8(Vec<i8>),
    /// `i32` elements (quantized biases, requantization multipliers).
    I32(Vec<i32>),
}

impl Data {
    /// The `f32` elements, when the data is `f32`.
    pub fn f32(&self) -> Option<&[f32]> {
        match self {
            Data::F32(v) => Some(v),
            _ => None,
        }
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        match self {
            Data::F32(_) => DType::F32,
            Data::I8(_) => DType::I8,
            Data::I32(_) => DType::I32,
        }
    }

    /// Little-endian bytes of the elements.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::I8(v) => v.iter().map(|&x| x as u8).collect(),
            Data::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// Affine quantization of an `i8` tensor: `real = scale * (q - zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quant {
    /// Step size (> 0).
    pub scale: f32,
    /// The quantized value of real 0, in `[-128, 127]`.
    pub zero_point: i32,
}

/// A tensor: an activation (computed in the arena) or a constant.
#[derive(Clone, Debug)]
pub struct Tensor {
    /// Name from the source model (unique within the graph).
    pub name: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Constant data, for weights and other initializers.
    pub data: Option<Data>,
    /// Element type (`F32` unless the quantizer rewrote the tensor).
    pub dtype: DType,
    /// Quantization parameters of an `i8` tensor (per tensor; per-channel
    /// weight scales live in the consuming op's requantization constants).
    pub quant: Option<Quant>,
}

impl Tensor {
    /// Element count.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The constant `f32` data, if constant.
    pub fn const_f32(&self) -> Option<&[f32]> {
        self.data.as_ref().and_then(Data::f32)
    }

    /// Size in bytes.
    pub fn byte_len(&self) -> usize {
        self.numel() * self.dtype.size()
    }

    /// The value of a constant with exactly one element.
    pub fn scalar(&self) -> Option<f32> {
        self.const_f32().filter(|d| d.len() == 1).map(|d| d[0])
    }
}

/// Spatial geometry shared by convolutions and pools (2-D, NCHW semantics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Kernel `[h, w]`.
    pub kernel: [usize; 2],
    /// Strides `[h, w]`.
    pub stride: [usize; 2],
    /// Dilations `[h, w]`.
    pub dilation: [usize; 2],
    /// Padding `[top, left, bottom, right]`.
    pub pads: [usize; 4],
}

/// An operation, with every attribute resolved to a constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Inputs `x, w, [b]`.
    Conv {
        window: Window,
        groups: usize,
        act: Act,
    },
    /// Inputs `x, w, [b]` with `w` OIHW (`[oc, ic/groups, kh, kw]`); `adj` is
    /// ONNX's `output_padding`.
    ConvTranspose {
        window: Window,
        groups: usize,
        adj: [usize; 2],
        act: Act,
    },
    /// Inputs `a, b, [bias]`.
    MatMul { act: Act },
    /// Broadcasting binary op.
    Binary { kind: BinaryKind, act: Act },
    /// Elementwise unary op.
    Unary(UnaryKind),
    /// 2-D max pooling.
    MaxPool { window: Window, ceil: bool },
    /// 2-D average pooling.
    AvgPool {
        window: Window,
        ceil: bool,
        count_include_pad: bool,
    },
    /// Reduction over `axes` (sorted); the output shape says whether dims are kept.
    Reduce { kind: ReduceKind, axes: Vec<usize> },
    /// Softmax along `axis`.
    Softmax { axis: usize, log: bool },
    /// `out.shape[d] = in.shape[perm[d]]`.
    Transpose(Vec<usize>),
    /// Same elements, new shape.
    Reshape,
    /// Concatenation along an axis.
    Concat(usize),
    /// Per-axis `start` and `step`; the output shape gives the counts.
    Slice {
        starts: Vec<usize>,
        steps: Vec<isize>,
    },
    /// Padding with `before` per axis; the output shape gives the rest.
    Pad {
        mode: PadMode,
        value: f32,
        before: Vec<usize>,
    },
    /// Resize of the two spatial axes (`scales` = output/input for H and W).
    Resize {
        mode: ResizeMode,
        coord: CoordTransform,
        scales: [f32; 2],
        /// Cubic coefficient, antialias, exclude-outside, crop.
        extra: ResizeExtra,
    },
    /// `f32 -> f32`: quantize with these parameters and dequantize (an
    /// imported ONNX QuantizeLinear/DequantizeLinear pair).
    FakeQuant(Quant),
    /// `f32 -> i8` with the output tensor's quantization.
    Quantize,
    /// `i8 -> f32` with the input tensor's quantization.
    Dequantize,
    /// int8 elementwise map through a 256-entry table (input 1, `i8 [256]`).
    Lut,
    /// int8 convolution: inputs `x, w (i8 OHWI), bias (i32 [oc]), requant
    /// (i32 [oc, 2] = multiplier, shift)`; output clamped to `[act_min, act_max]`.
    QConv {
        window: Window,
        groups: usize,
        act_min: i32,
        act_max: i32,
    },
    /// int8 matrix product: inputs `a, b, bias (i32 [n]), requant (i32 [n|1, 2])`.
    QMatMul { act_min: i32, act_max: i32 },
    /// int8 add / subtract (TFLite arithmetic).
    QAdd(QAddParams),
    /// int8 multiply.
    QMul(QMulParams),
    /// int8 mean over `axes` with a requantization `(mult, shift)`.
    QMean {
        axes: Vec<usize>,
        mult: i32,
        shift: i32,
    },
    /// int8 softmax along `axis`; input 1 is the `i32 [256]` exp table.
    QSoftmax { axis: usize },
    /// int8 padding with the `i8` code `code` (normally the zero point).
    QPad {
        mode: PadMode,
        code: i32,
        before: Vec<usize>,
    },
    /// int8 concatenation; per input, `Some((mult, shift))` requantizes it to
    /// the output's parameters, `None` copies it.
    QConcat {
        axis: usize,
        requant: Vec<Option<(i32, i32)>>,
    },
    /// LSTM / GRU / RNN layer: inputs `x [seq, batch, I], w [dirs, I, G·H],
    /// r [dirs, H, G·H], b [dirs, 2·G·H], h0 [dirs, batch, H]` (LSTM: `c0`,
    /// optional `p`); output `[seq + 2 + S, dirs, batch, H]`
    /// (`ferrite::kernels::recurrent`). `direction`: 0 forward, 1 reverse,
    /// 2 bidirectional; `clip`: `+inf` for none.
    Recurrent {
        cell: Cell,
        direction: u32,
        clip: f32,
    },
    /// ONNX `Where(cmp(l, r), a, b)`: inputs `l, r, a, b`, broadcasting.
    Select(CmpKind),
}

impl Op {
    /// Short name, for reports and errors.
    pub fn name(&self) -> String {
        match self {
            Op::Conv { .. } => "Conv".into(),
            Op::ConvTranspose { .. } => "ConvTranspose".into(),
            Op::MatMul { .. } => "MatMul".into(),
            Op::Binary { kind, .. } => format!("{kind:?}"),
            Op::Unary(k) => format!("{k:?}"),
            Op::MaxPool { .. } => "MaxPool".into(),
            Op::AvgPool { .. } => "AvgPool".into(),
            Op::Reduce { kind, .. } => format!("Reduce{kind:?}"),
            Op::Softmax { log, .. } => if *log { "LogSoftmax" } else { "Softmax" }.into(),
            Op::Transpose(_) => "Transpose".into(),
            Op::Reshape => "Reshape".into(),
            Op::Concat(_) => "Concat".into(),
            Op::Slice { .. } => "Slice".into(),
            Op::Pad { .. } => "Pad".into(),
            Op::Resize { .. } => "Resize".into(),
            Op::FakeQuant(_) => "FakeQuant".into(),
            Op::Quantize => "Quantize".into(),
            Op::Dequantize => "Dequantize".into(),
            Op::Lut => "Lut".into(),
            Op::QConv { .. } => "Conv".into(),
            Op::QMatMul { .. } => "MatMul".into(),
            Op::QAdd(p) => if p.sub { "Sub" } else { "Add" }.into(),
            Op::QMul(_) => "Mul".into(),
            Op::QMean { .. } => "ReduceMean".into(),
            Op::QSoftmax { .. } => "Softmax".into(),
            Op::QConcat { .. } => "Concat".into(),
            Op::QPad { .. } => "Pad".into(),
            Op::Select(_) => "Where".into(),
            Op::Recurrent { cell, .. } => match cell {
                Cell::Lstm => "LSTM",
                Cell::Gru { .. } => "GRU",
                Cell::Rnn(_) => "RNN",
            }
            .into(),
        }
    }
}

/// A node: one op, its inputs and its single output.
#[derive(Clone, Debug)]
pub struct Node {
    /// Name from the source model.
    pub name: String,
    /// The operation.
    pub op: Op,
    /// Input tensors.
    pub inputs: Vec<TensorId>,
    /// Output tensor.
    pub output: TensorId,
}

/// A graph whose node list is in a valid execution order.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// All tensors.
    pub tensors: Vec<Tensor>,
    /// Nodes in execution order.
    pub nodes: Vec<Node>,
    /// Graph inputs.
    pub inputs: Vec<TensorId>,
    /// Graph outputs.
    pub outputs: Vec<TensorId>,
    /// `(key, value)` notes written to the image's notes section (e.g. why
    /// a node stayed `f32` in a quantized model).
    pub notes: Vec<(String, String)>,
    /// Weight packing of the int8 conv weights ([`ferrite::packing`]; 0 =
    /// none), written to the image's header.
    pub packing: u32,
}

impl Graph {
    /// Adds a tensor and returns its id.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        shape: Vec<usize>,
        data: Option<Data>,
    ) -> TensorId {
        let dtype = data.as_ref().map_or(DType::F32, Data::dtype);
        self.tensors.push(Tensor {
            name: name.into(),
            shape,
            data,
            dtype,
            quant: None,
        });
        self.tensors.len() - 1
    }

    /// Adds a constant `f32` tensor.
    pub fn add_const(
        &mut self,
        name: impl Into<String>,
        shape: Vec<usize>,
        data: Vec<f32>,
    ) -> TensorId {
        self.add_tensor(name, shape, Some(Data::F32(data)))
    }

    /// Adds an `i8` activation tensor with quantization parameters.
    pub fn add_i8(&mut self, name: impl Into<String>, shape: Vec<usize>, q: Quant) -> TensorId {
        let t = self.add_tensor(name, shape, None);
        self.tensors[t].dtype = DType::I8;
        self.tensors[t].quant = Some(q);
        t
    }

    /// A tensor name not used yet, derived from `base`.
    pub fn fresh_name(&self, base: &str) -> String {
        let taken = |n: &str| self.tensors.iter().any(|t| t.name == n);
        if !taken(base) {
            return base.to_string();
        }
        (1..)
            .map(|i| format!("{base}.{i}"))
            .find(|n| !taken(n))
            .unwrap_or_default()
    }

    /// The number of nodes reading tensor `t`, plus one if it is a graph output.
    pub fn use_count(&self, t: TensorId) -> usize {
        let reads: usize = self
            .nodes
            .iter()
            .map(|n| n.inputs.iter().filter(|&&i| i == t).count())
            .sum();
        reads + self.outputs.iter().filter(|&&o| o == t).count()
    }

    /// Index of the node producing `t`.
    pub fn producer(&self, t: TensorId) -> Option<usize> {
        self.nodes.iter().position(|n| n.output == t)
    }

    /// Replaces every read of `from` (by nodes and graph outputs) with `to`.
    pub fn replace_uses(&mut self, from: TensorId, to: TensorId) {
        for n in &mut self.nodes {
            for i in &mut n.inputs {
                if *i == from {
                    *i = to;
                }
            }
        }
        for o in &mut self.outputs {
            if *o == from {
                *o = to;
            }
        }
    }

    /// Is `t` a constant?
    pub fn is_const(&self, t: TensorId) -> bool {
        self.tensors[t].data.is_some()
    }

    /// Tensor ids by (unique) name.
    pub fn ids_by_name(&self) -> std::collections::HashMap<&str, TensorId> {
        self.tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), i))
            .collect()
    }
}
