//! The compiler's intermediate representation: a small typed graph.
//!
//! Before the layout pass, every op has ONNX semantics (NCHW activations,
//! OIHW weights). After it, shapes and axes are physical: rank-4 activations
//! feeding spatial ops are NHWC and conv weights OHWI, which is what the
//! runtime executes.

use ferrite::kernels::elementwise::{BinaryKind, UnaryKind};
use ferrite::kernels::layout::PadMode;
use ferrite::kernels::reduce::ReduceKind;
use ferrite::kernels::resize::{CoordTransform, ResizeMode};
use ferrite::kernels::Act;

/// Index of a tensor in [`Graph::tensors`].
pub type TensorId = usize;

/// Constant data of a tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// `f32` elements, row-major.
    F32(Vec<f32>),
}

impl Data {
    /// The `f32` elements.
    pub fn f32(&self) -> &[f32] {
        match self {
            Data::F32(v) => v,
        }
    }
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
}

impl Tensor {
    /// Element count.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The constant `f32` data, if constant.
    pub fn const_f32(&self) -> Option<&[f32]> {
        self.data.as_ref().map(Data::f32)
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
    },
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
}

impl Graph {
    /// Adds a tensor and returns its id.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        shape: Vec<usize>,
        data: Option<Data>,
    ) -> TensorId {
        self.tensors.push(Tensor {
            name: name.into(),
            shape,
            data,
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
}
