//! The op table and the op layer.
//!
//! `op_table!` below is the one list of opcodes. It generates [`OpCode`]
//! and the `prepare`/`eval` dispatch; the compiler's writer maps its IR onto
//! these opcodes with exhaustive matches. Opcodes are append-only: a number, once shipped,
//! keeps its meaning.
//!
//! Each op module has `prepare(&Prep) -> Checked` (validation at
//! load: decode parameters, check every shape the kernel relies on) and
//! `eval(&mut Eval)` (compute only; it re-decodes the validated parameters).

use crate::bytes;
use crate::error::Error;
use crate::format::{DType, Storage, MAX_RANK};
use crate::kernels::Act;
use crate::model::{Model, OpInfo, TensorInfo};

#[cfg_attr(not(feature = "op-binary"), allow(dead_code))]
mod binary;
#[cfg_attr(not(feature = "op-concat"), allow(dead_code))]
mod concat;
#[cfg_attr(not(feature = "op-conv"), allow(dead_code))]
mod conv;
#[cfg_attr(not(feature = "op-lut"), allow(dead_code))]
mod lut;
#[cfg_attr(not(feature = "op-matmul"), allow(dead_code))]
mod matmul;
#[cfg_attr(not(feature = "op-pad"), allow(dead_code))]
mod pad;
#[cfg_attr(
    not(any(feature = "op-maxpool", feature = "op-avgpool")),
    allow(dead_code)
)]
mod pool;
#[cfg_attr(not(feature = "op-quant"), allow(dead_code))]
mod qdq;
#[cfg_attr(not(feature = "op-recurrent"), allow(dead_code))]
mod recurrent;
#[cfg_attr(not(feature = "op-reduce"), allow(dead_code))]
mod reduce;
#[cfg_attr(not(feature = "op-reshape"), allow(dead_code))]
mod reshape;
#[cfg_attr(not(feature = "op-resize"), allow(dead_code))]
mod resize;
#[cfg_attr(not(feature = "op-select"), allow(dead_code))]
mod select;
#[cfg_attr(not(feature = "op-slice"), allow(dead_code))]
mod slice;
#[cfg_attr(not(feature = "op-softmax"), allow(dead_code))]
mod softmax;
#[cfg_attr(not(feature = "op-transpose"), allow(dead_code))]
mod transpose;
#[cfg_attr(not(feature = "op-unary"), allow(dead_code))]
mod unary;

macro_rules! op_table {
    ($( $code:literal => $name:ident ($module:ident, $feature:literal) : $doc:literal ),* $(,)?) => {
        /// Operation codes of the `.fer` format (append-only).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u16)]
        #[non_exhaustive]
        pub enum OpCode {
            $( #[doc = $doc] $name = $code, )*
        }

        impl OpCode {
            /// Every opcode, in table order.
            pub const ALL: &'static [OpCode] = &[$(OpCode::$name),*];

            /// Decodes an opcode.
            pub fn from_u16(v: u16) -> Option<OpCode> {
                match v {
                    $( $code => Some(OpCode::$name), )*
                    _ => None,
                }
            }

            /// The op's name, as shown by `ferrite inspect`.
            pub fn name(self) -> &'static str {
                match self {
                    $( OpCode::$name => stringify!($name), )*
                }
            }

            /// The runtime cargo feature that builds this op's kernels.
            pub fn feature(self) -> &'static str {
                match self {
                    $( OpCode::$name => $feature, )*
                }
            }

            /// Whether the op's `f32` form needs the runtime's `f32` feature
            /// too: every op but those that only move values (transpose,
            /// reshape, concat, slice) and the quantize / dequantize / lookup
            /// ops.
            pub fn f32_form_needs_feature(self) -> bool {
                !matches!(
                    self,
                    OpCode::Transpose
                        | OpCode::Reshape
                        | OpCode::Concat
                        | OpCode::Slice
                        | OpCode::Quantize
                        | OpCode::Dequantize
                        | OpCode::Lut
                )
            }

            /// Whether this build of the runtime has the op's kernels.
            pub fn is_built(self) -> bool {
                match self {
                    $( OpCode::$name => cfg!(feature = $feature), )*
                }
            }
        }

        pub(crate) fn prepare(ctx: &Prep<'_, '_>) -> Result<(), Error> {
            let r: Checked = match ctx.op.code {
                $( OpCode::$name => {
                    #[cfg(feature = $feature)]
                    let r = $module::prepare(ctx);
                    #[cfg(not(feature = $feature))]
                    let r = Err(Refusal::NotBuilt);
                    r
                } )*
            };
            r.map_err(|e| match e {
                Refusal::Bad => Error::BadParams(ctx.index),
                Refusal::NotBuilt => Error::OpNotBuilt(ctx.index, ctx.op.code as u16),
            })
        }

        pub(crate) fn eval(ctx: &mut Eval<'_, '_>) {
            match ctx.op.code {
                // Unreachable when the feature is off: `prepare` refused the model.
                $( OpCode::$name => {
                    #[cfg(feature = $feature)]
                    $module::eval(ctx);
                } )*
            }
        }
    };
}

op_table! {
    1 => Conv2d(conv, "op-conv"): "2-D convolution, NHWC, any group count; weights OHWI; fused activation.",
    2 => ConvTranspose2d(conv, "op-conv"): "2-D transposed convolution, NHWC; weights OHWI; fused activation.",
    3 => MatMul(matmul, "op-matmul"): "Batched matrix product with batch broadcasting, optional bias, fused activation.",
    4 => Add(binary, "op-binary"): "Broadcasting addition with fused activation.",
    5 => Sub(binary, "op-binary"): "Broadcasting subtraction with fused activation.",
    6 => Mul(binary, "op-binary"): "Broadcasting multiplication with fused activation.",
    7 => Div(binary, "op-binary"): "Broadcasting division with fused activation.",
    8 => Max(binary, "op-binary"): "Broadcasting maximum.",
    9 => Min(binary, "op-binary"): "Broadcasting minimum.",
    10 => Pow(binary, "op-binary"): "Broadcasting power.",
    11 => PRelu(binary, "op-binary"): "Parametric ReLU with a broadcast slope.",
    12 => Relu(unary, "op-unary"): "max(x, 0).",
    13 => Clip(unary, "op-unary"): "min(max(x, lo), hi).",
    14 => LeakyRelu(unary, "op-unary"): "x or alpha*x.",
    15 => Sigmoid(unary, "op-unary"): "1/(1+exp(-x)).",
    16 => HardSigmoid(unary, "op-unary"): "max(0, min(1, alpha*x + beta)).",
    17 => HardSwish(unary, "op-unary"): "x*relu6(x+3)/6.",
    18 => Tanh(unary, "op-unary"): "tanh(x).",
    19 => Sqrt(unary, "op-unary"): "sqrt(x).",
    20 => Exp(unary, "op-unary"): "exp(x).",
    21 => Log(unary, "op-unary"): "ln(x).",
    22 => Abs(unary, "op-unary"): "|x|.",
    23 => Neg(unary, "op-unary"): "-x.",
    24 => Reciprocal(unary, "op-unary"): "1/x.",
    25 => Erf(unary, "op-unary"): "erf(x).",
    26 => Gelu(unary, "op-unary"): "x*(1+erf(x/sqrt 2))/2.",
    27 => MaxPool2d(pool, "op-maxpool"): "2-D max pooling, NHWC.",
    28 => AvgPool2d(pool, "op-avgpool"): "2-D average pooling, NHWC.",
    29 => ReduceSum(reduce, "op-reduce"): "Sum over a set of axes.",
    30 => ReduceMean(reduce, "op-reduce"): "Mean over a set of axes.",
    31 => ReduceMax(reduce, "op-reduce"): "Maximum over a set of axes.",
    32 => ReduceMin(reduce, "op-reduce"): "Minimum over a set of axes.",
    33 => ReduceProd(reduce, "op-reduce"): "Product over a set of axes.",
    34 => Softmax(softmax, "op-softmax"): "Softmax along one axis.",
    35 => LogSoftmax(softmax, "op-softmax"): "Log-softmax along one axis.",
    36 => Transpose(transpose, "op-transpose"): "Axis permutation.",
    37 => Reshape(reshape, "op-reshape"): "Copy into a new shape with the same element count.",
    38 => Concat(concat, "op-concat"): "Concatenation along one axis.",
    39 => Slice(slice, "op-slice"): "Strided slice (negative steps allowed).",
    40 => Pad(pad, "op-pad"): "Constant, reflect or edge padding.",
    41 => Resize(resize, "op-resize"): "Nearest or bilinear resize of H and W, NHWC.",
    42 => Floor(unary, "op-unary"): "floor(x).",
    43 => Ceil(unary, "op-unary"): "ceil(x).",
    44 => Round(unary, "op-unary"): "x rounded half to even.",
    45 => Quantize(qdq, "op-quant"): "f32 to int8 with the output's scale and zero point (TFLite QUANTIZE).",
    46 => Dequantize(qdq, "op-quant"): "int8 to f32 with the input's scale and zero point.",
    47 => Lut(lut, "op-lut"): "int8 elementwise map through a 256-entry table (int8 unary ops).",
    48 => Lstm(recurrent, "op-recurrent"): "LSTM layer over a whole sequence (forward, reverse or bidirectional; peepholes, clip).",
    49 => Gru(recurrent, "op-recurrent"): "GRU layer over a whole sequence (either linear_before_reset).",
    50 => Rnn(recurrent, "op-recurrent"): "Simple recurrent layer over a whole sequence (tanh, relu or sigmoid).",
    51 => Select(select, "op-select"): "Where(cmp(l, r), a, b): a select on a fused f32 comparison, broadcasting.",
    52 => GeluTanh(unary, "op-unary"): "x*(1+tanh(sqrt(2/pi)*(x+0.044715*x^3)))/2.",
}

/// Whether input `i` of `op` may share its bytes with the output (in-place
/// execution): elementwise ops on an input of the output's shape, and
/// reshapes. The kernels for these read element `k` before writing it.
pub fn may_alias(op: &OpInfo<'_>, i: usize, input: &TensorInfo<'_>, out: &TensorInfo<'_>) -> bool {
    let same = input.shape() == out.shape() && input.dtype == out.dtype;
    match op.code {
        OpCode::Reshape => i == 0 && input.byte_len == out.byte_len && input.dtype == out.dtype,
        OpCode::Add
        | OpCode::Sub
        | OpCode::Mul
        | OpCode::Div
        | OpCode::Max
        | OpCode::Min
        | OpCode::Pow
        | OpCode::PRelu => i < 2 && same,
        OpCode::Relu
        | OpCode::Clip
        | OpCode::LeakyRelu
        | OpCode::Sigmoid
        | OpCode::HardSigmoid
        | OpCode::HardSwish
        | OpCode::Tanh
        | OpCode::Sqrt
        | OpCode::Exp
        | OpCode::Log
        | OpCode::Abs
        | OpCode::Neg
        | OpCode::Reciprocal
        | OpCode::Erf
        | OpCode::Gelu
        | OpCode::Floor
        | OpCode::Ceil
        | OpCode::Round
        | OpCode::Lut => i == 0 && same,
        _ => false,
    }
}

/// Why an op's `prepare` refused it. [`prepare`] turns it into the
/// [`Error`] that names the op; as one byte in a register it keeps each of
/// the many checks down to a compare and a branch (flash, on MCUs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Parameters or shapes are inconsistent: [`Error::BadParams`].
    Bad,
    /// The op's kernels are not in this build: [`Error::OpNotBuilt`].
    NotBuilt,
}

/// What an op's validation returns.
pub(crate) type Checked<T = ()> = Result<T, Refusal>;

/// Validation context of one op (at load).
pub(crate) struct Prep<'m, 'a> {
    pub model: &'m Model<'a>,
    pub op: OpInfo<'a>,
    pub index: u32,
    pub out: TensorInfo<'a>,
}

impl<'a> Prep<'_, 'a> {
    /// The "parameters or shapes are inconsistent" refusal.
    pub fn bad(&self) -> Refusal {
        Refusal::Bad
    }

    /// Fails unless `cond` holds.
    pub fn ensure(&self, cond: bool) -> Checked {
        if cond {
            Ok(())
        } else {
            Err(self.bad())
        }
    }

    /// Input `i` (validated to exist by the loader).
    pub fn input(&self, i: usize) -> Checked<TensorInfo<'a>> {
        self.op
            .input(i)
            .and_then(|t| self.model.tensor(t))
            .ok_or(self.bad())
    }

    /// Requires exactly `n` parameter words.
    pub fn params(&self, n: usize) -> Checked {
        self.ensure(self.op.num_params() == n)
    }

    /// Requires every input and the output to be `f32`.
    pub fn all_f32(&self) -> Checked {
        for i in 0..self.op.num_inputs() {
            self.ensure(self.input(i)?.dtype == DType::F32)?;
        }
        self.ensure(self.out.dtype == DType::F32)
    }

    /// [`Prep::all_f32`] for an op's `f32` arithmetic form, which needs the
    /// runtime's `f32` feature (`OpNotBuilt` without it).
    pub fn f32_kernels(&self) -> Checked {
        if !cfg!(feature = "f32") {
            return Err(Refusal::NotBuilt);
        }
        self.all_f32()
    }

    /// Requires every input and the output to be `i8`.
    pub fn all_i8(&self) -> Checked {
        for i in 0..self.op.num_inputs() {
            self.ensure(self.input(i)?.dtype == DType::I8)?;
        }
        self.ensure(self.out.dtype == DType::I8)
    }

    /// Requires input `i` to have the output's dtype and, for `i8`, its
    /// scale and zero point (data movement ops do not requantize).
    pub fn same_quant(&self, i: usize) -> Checked {
        let x = self.input(i)?;
        let y = &self.out;
        self.ensure(x.dtype == y.dtype)?;
        if y.dtype == DType::I8 {
            self.ensure(x.scale == y.scale && x.zero_point == y.zero_point)?;
        }
        Ok(())
    }

    /// Requires input `i` to be a constant `i32` requantization table of
    /// `rows` `(multiplier, shift)` pairs with multipliers `>= 0` and shifts
    /// in `[-31, 30]` (the range [`crate::quant::mbqm`] is defined on).
    pub fn requant(&self, i: usize, rows: usize) -> Checked {
        let t = self.input(i)?;
        self.ensure(t.dtype == DType::I32 && t.storage == Storage::Const)?;
        self.ensure(t.shape() == [rows, 2])?;
        let words = bytes::i32s(self.model.const_data(&t));
        self.ensure(words.len() == 2 * rows)?;
        for pair in words.chunks_exact(2) {
            self.ensure(pair[0] >= 0 && valid_shift(pair[1]))?;
        }
        Ok(())
    }

    /// Decodes an integer output clamp stored as `[5, act_min, act_max]` at
    /// word `at` (the `i8` form of a fused activation).
    pub fn qact(&self, at: usize) -> Checked<(i32, i32)> {
        decode_qact(&self.op, at).ok_or(self.bad())
    }

    /// Requires every input to broadcast numpy-style (right-aligned) to the
    /// output's shape.
    pub fn broadcast_inputs(&self) -> Checked {
        let y = pad_shape(self.out.shape());
        for i in 0..self.op.num_inputs() {
            let t = self.input(i)?;
            self.ensure(t.rank() <= self.out.rank())?;
            let s = pad_shape(t.shape());
            for d in 0..MAX_RANK {
                self.ensure(s[d] == y[d] || s[d] == 1)?;
            }
        }
        Ok(())
    }

    /// Validates a fused activation encoded at parameter word `at`.
    pub fn act(&self, at: usize) -> Checked {
        decode_act(&self.op, at).map(|_| ()).ok_or(self.bad())
    }
}

/// Execution context of one op: the arena split around the op's output.
pub(crate) struct Eval<'m, 'x> {
    pub model: &'m Model<'m>,
    pub op: OpInfo<'m>,
    pub out: TensorInfo<'m>,
    pub out_bytes: &'x mut [u8],
    pub lo: &'x [u8],
    pub hi: &'x [u8],
    pub hi_start: usize,
    /// The input whose bytes are the output's (in-place execution), if any.
    pub alias: Option<usize>,
    /// The kernel table of the dispatched families.
    pub kernels: &'static crate::kernels::Kernels,
    /// Where ops that split in parts run them, if anywhere.
    pub parallel: Option<&'x dyn crate::kernels::parallel::Parallel>,
}

/// Read access to an op's inputs, borrowed apart from its output.
pub(crate) struct Inputs<'m, 'x> {
    model: &'m Model<'m>,
    op: OpInfo<'m>,
    lo: &'x [u8],
    hi: &'x [u8],
    hi_start: usize,
}

impl<'m, 'x> Eval<'m, 'x> {
    /// Splits the context into input access and the output bytes.
    pub fn split(&mut self) -> (Inputs<'m, '_>, &mut [u8]) {
        (
            Inputs {
                model: self.model,
                op: self.op,
                lo: self.lo,
                hi: self.hi,
                hi_start: self.hi_start,
            },
            &mut *self.out_bytes,
        )
    }

    /// The output as `i8` elements together with input access.
    pub fn split_i8(&mut self) -> (Inputs<'m, '_>, &mut [i8]) {
        let (inputs, out) = self.split();
        (inputs, bytes::i8s_mut(out))
    }

    /// The output as `f32` elements together with input access.
    pub fn split_f32(&mut self) -> (Inputs<'m, '_>, &mut [f32]) {
        let (inputs, out) = self.split();
        (inputs, bytes::f32s_mut(out))
    }
}

impl<'m, 'x> Inputs<'m, 'x> {
    /// Description of input `i`; a zero-sized placeholder if absent (never, after validation).
    pub fn info(&self, i: usize) -> Option<TensorInfo<'m>> {
        self.op.input(i).and_then(|t| self.model.tensor(t))
    }

    /// Number of inputs.
    pub fn len(&self) -> usize {
        self.op.num_inputs()
    }

    /// Bytes of input `i`.
    pub fn bytes(&self, i: usize) -> &'x [u8]
    where
        'm: 'x,
    {
        let Some(t) = self.info(i) else { return &[] };
        match t.storage {
            Storage::Const => self.model.const_data(&t),
            Storage::Arena => {
                let end = t.offset + t.byte_len;
                if end <= self.lo.len() {
                    &self.lo[t.offset..end]
                } else if t.offset >= self.hi_start {
                    self.hi
                        .get(t.offset - self.hi_start..end - self.hi_start)
                        .unwrap_or(&[])
                } else {
                    &[]
                }
            }
        }
    }

    /// Input `i` as `i8` elements.
    pub fn i8(&self, i: usize) -> &'x [i8]
    where
        'm: 'x,
    {
        bytes::i8s(self.bytes(i))
    }

    /// Input `i` as `i32` elements.
    pub fn i32(&self, i: usize) -> &'x [i32]
    where
        'm: 'x,
    {
        bytes::i32s(self.bytes(i))
    }

    /// Input `i` as `f32` elements.
    pub fn f32(&self, i: usize) -> &'x [f32]
    where
        'm: 'x,
    {
        bytes::f32s(self.bytes(i))
    }
}

/// Decodes a fused activation stored as `[kind, a, b]` at word `at`.
///
/// Kinds: 0 none, 1 clamp(a, b), 2 hard-swish, 3 leaky-relu(a), 4 sigmoid.
pub(crate) fn decode_act(op: &OpInfo<'_>, at: usize) -> Option<Act> {
    if op.num_params() < at + 3 {
        return None;
    }
    let (a, b) = (op.param_f32(at + 1), op.param_f32(at + 2));
    match op.param(at) {
        0 => Some(Act::None),
        1 if !a.is_nan() && !b.is_nan() && a <= b => Some(Act::Clamp(a, b)),
        2 => Some(Act::HardSwish),
        3 if a.is_finite() => Some(Act::LeakyRelu(a)),
        4 => Some(Act::Sigmoid),
        _ => None,
    }
}

/// Word `at` of an `i8` op holds this kind when the next two words are an
/// integer output clamp.
pub const QACT_KIND: u32 = 5;

/// Decodes `[QACT_KIND, act_min, act_max]` at word `at`:
/// `-128 <= act_min <= act_max <= 127`.
pub(crate) fn decode_qact(op: &OpInfo<'_>, at: usize) -> Option<(i32, i32)> {
    if op.num_params() < at + 3 || op.param(at) != QACT_KIND {
        return None;
    }
    let (lo, hi) = (op.param_i32(at + 1), op.param_i32(at + 2));
    (-128 <= lo && lo <= hi && hi <= 127).then_some((lo, hi))
}

/// Encodes an integer output clamp as the three words `decode_qact` reads.
pub fn encode_qact(act_min: i32, act_max: i32) -> [u32; 3] {
    [QACT_KIND, act_min as u32, act_max as u32]
}

/// Output scale of int8 softmax (TFLite's): 1/256.
pub const SOFTMAX_I8_SCALE: f32 = 1.0 / 256.0;
/// Output zero point of int8 softmax (TFLite's): -128.
pub const SOFTMAX_I8_ZERO_POINT: i32 = -128;

/// Shifts [`crate::quant::mbqm`] accepts: `[-31, 30]`.
pub(crate) fn valid_shift(shift: i32) -> bool {
    (-31..=30).contains(&shift)
}

/// Encodes a fused activation as the three words `decode_act` reads.
pub fn encode_act(act: Act) -> [u32; 3] {
    match act {
        Act::None => [0, 0, 0],
        Act::Clamp(a, b) => [1, a.to_bits(), b.to_bits()],
        Act::HardSwish => [2, 0, 0],
        Act::LeakyRelu(a) => [3, a.to_bits(), 0],
        Act::Sigmoid => [4, 0, 0],
    }
}

/// A shape as a fixed 4-array, when it has rank 4.
pub(crate) fn shape4(t: &TensorInfo<'_>) -> Option<[usize; 4]> {
    let s = t.shape();
    (s.len() == 4).then(|| [s[0], s[1], s[2], s[3]])
}

/// Right-aligns a shape into `MAX_RANK` dims with leading 1s.
pub(crate) fn pad_shape(s: &[usize]) -> [usize; MAX_RANK] {
    let mut out = [1; MAX_RANK];
    let n = s.len().min(MAX_RANK);
    out[MAX_RANK - n..].copy_from_slice(&s[s.len() - n..]);
    out
}

/// Element strides of an input broadcast to `out`: 0 where the input dim is 1.
pub(crate) fn bcast_strides(shape: &[usize], out: &[usize; MAX_RANK]) -> [usize; MAX_RANK] {
    let s = pad_shape(shape);
    let mut st = strides(&s);
    for d in 0..MAX_RANK {
        if s[d] == 1 && out[d] != 1 {
            st[d] = 0;
        }
    }
    st
}

/// Row-major element strides of a `MAX_RANK` shape.
pub(crate) fn strides(s: &[usize; MAX_RANK]) -> [usize; MAX_RANK] {
    let mut st = [0; MAX_RANK];
    let mut acc = 1;
    for d in (0..MAX_RANK).rev() {
        st[d] = acc;
        acc *= s[d];
    }
    st
}
