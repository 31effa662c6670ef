//! f32 elementwise ops.
//!
//! Binary (ONNX `Add`, `Sub`, `Mul`, `Div`, `Max`, `Min`, `Pow`, `PRelu`),
//! numpy broadcasting over a `MAX_RANK`-dim index space:
//!
//! ```text
//! out[idx] = act(op(a[sum_d idx[d]*a_strides[d]], b[sum_d idx[d]*b_strides[d]]))
//! ```
//!
//! `out` is row-major over `out_shape` (leading 1s for lower ranks); the
//! strides are element strides, 0 along broadcast dims (strides of dims of
//! size 1 are never used). `Div` by zero gives IEEE inf/NaN; `Max`/`Min` use
//! `f32::max`/`f32::min` (a NaN operand yields the other one); `Pow` is
//! [`math::powf`]; `PRelu` is `a if a >= 0 else a * b`.
//!
//! Unary (ONNX `Relu`, `Clip`, `LeakyRelu`, `Sigmoid`, `HardSigmoid`,
//! `HardSwish`, `Tanh`, `Sqrt`, `Exp`, `Log`, `Abs`, `Neg`, `Reciprocal`,
//! `Erf`, `Gelu`, `Floor`, `Ceil`, `Round`): `out[i] = f(in[i])`, any
//! length, formulas on [`UnaryKind`]. Activations shared with [`Act`] use
//! [`Act::apply`], so fused and standalone activations agree bit for bit.

use super::{contiguous_strides, next_index, Act, Operand, MAX_RANK};

mod select;
use crate::math;
pub use select::{select_reference, CmpKind};

/// A broadcasting binary operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryKind {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b` (IEEE: `x / 0` is `±inf` or NaN).
    Div,
    /// `f32::max(a, b)`.
    Max,
    /// `f32::min(a, b)`.
    Min,
    /// `a ^ b` ([`math::powf`]).
    Pow,
    /// `a if a >= 0 else a * b` (`b` is the slope).
    PRelu,
}

impl BinaryKind {
    /// Every kind, in declaration order.
    pub const ALL: [BinaryKind; 8] = [
        BinaryKind::Add,
        BinaryKind::Sub,
        BinaryKind::Mul,
        BinaryKind::Div,
        BinaryKind::Max,
        BinaryKind::Min,
        BinaryKind::Pow,
        BinaryKind::PRelu,
    ];
}

/// Broadcasting binary op with a fused activation; see the module docs.
///
/// Fast paths (same results as the general walk): both operands
/// contiguous; one contiguous and the other a scalar or broadcast along
/// all but the innermost dim (per-channel).
#[allow(clippy::too_many_arguments)] // the op layer's fixed contract
#[inline(always)] // compiled inside each kernel table's target features
pub fn binary_reference(
    kind: BinaryKind,
    a: &[f32],
    a_strides: [usize; MAX_RANK],
    b: &[f32],
    b_strides: [usize; MAX_RANK],
    out: &mut [f32],
    out_shape: [usize; MAX_RANK],
    act: Act,
) {
    let v = Operands {
        a,
        a_strides,
        b,
        b_strides,
        out_shape,
    };
    with_binary(kind, Copying { v: &v, out, act });
}

/// [`binary_reference`]'s loop, as a [`BinaryRun`].
struct Copying<'a, 'b> {
    v: &'a Operands<'a>,
    out: &'b mut [f32],
    act: Act,
}

impl BinaryRun for Copying<'_, '_> {
    #[inline(always)]
    fn run(self, f: impl Fn(f32, f32) -> f32) {
        // Without an activation the loops have nothing to branch on, so
        // they vectorize; bare-metal builds keep one copy (flash).
        // A clamp (ReLU, ReLU6) and hard-swish, the usual fused
        // activations, get their own branch-free copies too.
        let bare = cfg!(target_os = "none");
        match self.act {
            Act::None if !bare => binary(self.v, self.out, |x| x, f),
            Act::Clamp(lo, hi) if !bare => {
                binary(self.v, self.out, |x| Act::Clamp(lo, hi).apply(x), f)
            }
            Act::HardSwish if !bare => binary(self.v, self.out, |x| Act::HardSwish.apply(x), f),
            act => binary(self.v, self.out, |x| act.apply(x), f),
        }
    }
}

/// Calls `run` with the scalar function of `kind`: the one place that maps
/// a [`BinaryKind`] to its formula.
#[inline(always)]
fn with_binary(kind: BinaryKind, run: impl BinaryRun) {
    match kind {
        BinaryKind::Add => run.run(|x, y| x + y),
        BinaryKind::Sub => run.run(|x, y| x - y),
        BinaryKind::Mul => run.run(|x, y| x * y),
        BinaryKind::Div => run.run(|x, y| x / y),
        BinaryKind::Max => run.run(f32::max),
        BinaryKind::Min => run.run(f32::min),
        BinaryKind::Pow => run.run(math::powf),
        BinaryKind::PRelu => run.run(|x, y| if x >= 0.0 { x } else { x * y }),
    }
}

/// A loop to run with a binary scalar function (monomorphized per kind).
trait BinaryRun {
    fn run(self, f: impl Fn(f32, f32) -> f32);
}

/// [`binary_reference`], or [`binary_inplace`] when an operand is the
/// output: the kernel tables' f32 binary entry.
#[inline(always)] // compiled inside each kernel table's target features
#[cfg_attr(not(all(feature = "op-binary", feature = "f32")), allow(dead_code))]
pub(crate) fn binary_any(
    kind: BinaryKind,
    a: Operand<'_, f32>,
    b: Operand<'_, f32>,
    out: &mut [f32],
    shape: [usize; MAX_RANK],
    act: Act,
) {
    match (a, b) {
        (Operand::Tensor(a, ast), Operand::Tensor(b, bst)) => {
            binary_reference(kind, a, ast, b, bst, out, shape, act)
        }
        (Operand::Output, Operand::Tensor(b, bst)) => {
            binary_inplace(kind, true, b, bst, out, shape, act)
        }
        (Operand::Tensor(a, ast), Operand::Output) => {
            binary_inplace(kind, false, a, ast, out, shape, act)
        }
        // The op layer never aliases both inputs to the output.
        (Operand::Output, Operand::Output) => {}
    }
}

/// In-place broadcasting binary op: `data` is one operand and the output
/// (row-major over `shape`); `other` broadcasts with `other_strides`.
/// `data_is_lhs` says whether `data` is the left operand. Fast paths as
/// [`binary_reference`].
#[inline(always)] // compiled inside each kernel table's target features
pub fn binary_inplace(
    kind: BinaryKind,
    data_is_lhs: bool,
    other: &[f32],
    other_strides: [usize; MAX_RANK],
    data: &mut [f32],
    shape: [usize; MAX_RANK],
    act: Act,
) {
    let total: usize = shape.iter().product();
    debug_assert!(data.len() >= total, "data too short");
    if total == 0 {
        return;
    }
    let run = InPlace {
        data_is_lhs,
        other,
        other_strides,
        data: &mut data[..total],
        shape,
        act,
    };
    with_binary(kind, run);
}

/// [`binary_inplace`]'s loop, as a [`BinaryRun`].
struct InPlace<'a, 'b> {
    data_is_lhs: bool,
    other: &'a [f32],
    other_strides: [usize; MAX_RANK],
    data: &'b mut [f32],
    shape: [usize; MAX_RANK],
    act: Act,
}

impl BinaryRun for InPlace<'_, '_> {
    #[inline(always)]
    fn run(self, f: impl Fn(f32, f32) -> f32) {
        // As `Copying::run`: the loops without an activation, with a
        // clamp or with hard-swish vectorize.
        let bare = cfg!(target_os = "none");
        match (self.act, self.data_is_lhs) {
            (Act::None, true) if !bare => self.walk(|x| x, f),
            (Act::None, false) if !bare => self.walk(|x| x, |x, y| f(y, x)),
            (Act::Clamp(lo, hi), true) if !bare => self.walk(|x| Act::Clamp(lo, hi).apply(x), f),
            (Act::Clamp(lo, hi), false) if !bare => {
                self.walk(|x| Act::Clamp(lo, hi).apply(x), |x, y| f(y, x))
            }
            (Act::HardSwish, true) if !bare => self.walk(|x| Act::HardSwish.apply(x), f),
            (Act::HardSwish, false) if !bare => {
                self.walk(|x| Act::HardSwish.apply(x), |x, y| f(y, x))
            }
            (act, lhs) => self.walk(|x| act.apply(x), |x, y| if lhs { f(x, y) } else { f(y, x) }),
        }
    }
}

impl InPlace<'_, '_> {
    /// `data[i] = g(f(data[i], other[..]))` (the order of `f`'s operands
    /// already chosen by the caller).
    #[inline(always)]
    fn walk(self, g: impl Fn(f32) -> f32, f: impl Fn(f32, f32) -> f32) {
        let shape = self.shape;
        let total = self.data.len();
        if strides_match(&self.other_strides, &[0; MAX_RANK], &shape) {
            let y = self.other[0];
            for d in self.data.iter_mut() {
                *d = g(f(*d, y));
            }
            return;
        }
        if strides_match(&self.other_strides, &contiguous_strides(shape), &shape) {
            for (d, &y) in self.data.iter_mut().zip(&self.other[..total]) {
                *d = g(f(*d, y));
            }
            return;
        }
        let inner = self.shape[MAX_RANK - 1];
        let mut per_channel = [0; MAX_RANK];
        per_channel[MAX_RANK - 1] = 1;
        if strides_match(&self.other_strides, &per_channel, &shape) {
            let other = &self.other[..inner];
            for row in self.data.chunks_exact_mut(inner) {
                for (d, &y) in row.iter_mut().zip(other) {
                    *d = g(f(*d, y));
                }
            }
            return;
        }
        let s_in = self.other_strides[MAX_RANK - 1];
        let mut idx = [0usize; MAX_RANK - 1];
        for row in self.data.chunks_exact_mut(inner) {
            let base: usize = idx
                .iter()
                .zip(&self.other_strides)
                .map(|(i, s)| i * s)
                .sum();
            for (j, d) in row.iter_mut().enumerate() {
                *d = g(f(*d, self.other[base + j * s_in]));
            }
            next_index(&mut idx, &self.shape[..MAX_RANK - 1]);
        }
    }
}

/// The inputs of a broadcasting binary op.
struct Operands<'a> {
    a: &'a [f32],
    a_strides: [usize; MAX_RANK],
    b: &'a [f32],
    b_strides: [usize; MAX_RANK],
    out_shape: [usize; MAX_RANK],
}

/// Whether `strides` equal `want` on every dim of `shape` longer than 1.
fn strides_match(
    strides: &[usize; MAX_RANK],
    want: &[usize; MAX_RANK],
    shape: &[usize; MAX_RANK],
) -> bool {
    (0..MAX_RANK).all(|d| shape[d] <= 1 || strides[d] == want[d])
}

#[inline(always)]
fn binary(
    v: &Operands<'_>,
    out: &mut [f32],
    act: impl Fn(f32) -> f32,
    f: impl Fn(f32, f32) -> f32,
) {
    let shape = v.out_shape;
    let total: usize = shape.iter().product();
    debug_assert!(out.len() >= total, "out too short");
    if total == 0 {
        return;
    }
    let out = &mut out[..total];
    let dense = contiguous_strides(shape);
    let inner = shape[MAX_RANK - 1];
    // One operand dense, the other dense, a scalar or one row per channel
    // (`f`'s operand order kept when `b` is the dense one).
    if strides_match(&v.a_strides, &dense, &shape)
        && dense_with(&v.a[..total], v.b, &v.b_strides, &shape, out, |x, y| {
            act(f(x, y))
        })
    {
        return;
    }
    if strides_match(&v.b_strides, &dense, &shape)
        && dense_with(&v.b[..total], v.a, &v.a_strides, &shape, out, |y, x| {
            act(f(x, y))
        })
    {
        return;
    }
    // General walk: odometer over the outer dims, strided inner loop.
    let (sa, sb) = (v.a_strides[MAX_RANK - 1], v.b_strides[MAX_RANK - 1]);
    let mut idx = [0usize; MAX_RANK - 1];
    for o_row in out.chunks_exact_mut(inner) {
        let offset = |s: &[usize; MAX_RANK]| idx.iter().zip(s).map(|(i, s)| i * s).sum::<usize>();
        let (oa, ob) = (offset(&v.a_strides), offset(&v.b_strides));
        for (j, o) in o_row.iter_mut().enumerate() {
            *o = act(f(v.a[oa + j * sa], v.b[ob + j * sb]));
        }
        next_index(&mut idx, &shape[..MAX_RANK - 1]);
    }
}

/// `out[i] = g(d[i], o at i)` when `o` (strides `o_strides`) is dense, a
/// scalar or one row per channel; false (nothing written) otherwise.
#[inline(always)]
fn dense_with(
    d: &[f32],
    o: &[f32],
    o_strides: &[usize; MAX_RANK],
    shape: &[usize; MAX_RANK],
    out: &mut [f32],
    g: impl Fn(f32, f32) -> f32,
) -> bool {
    let total = d.len();
    let inner = shape[MAX_RANK - 1];
    let zero = [0; MAX_RANK];
    let mut per_channel = zero;
    per_channel[MAX_RANK - 1] = 1;
    if strides_match(o_strides, &contiguous_strides(*shape), shape) {
        for ((r, &x), &y) in out.iter_mut().zip(d).zip(&o[..total]) {
            *r = g(x, y);
        }
    } else if strides_match(o_strides, &zero, shape) {
        let y = o[0];
        for (r, &x) in out.iter_mut().zip(d) {
            *r = g(x, y);
        }
    } else if strides_match(o_strides, &per_channel, shape) {
        let row = &o[..inner];
        for (r_row, d_row) in out.chunks_exact_mut(inner).zip(d.chunks_exact(inner)) {
            for ((r, &x), &y) in r_row.iter_mut().zip(d_row).zip(row) {
                *r = g(x, y);
            }
        }
    } else {
        return false;
    }
    true
}

/// An elementwise unary function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryKind {
    /// `max(x, 0)` (as [`Act::Clamp`]`(0, inf)`).
    Relu,
    /// `min(max(x, lo), hi)` (ONNX `Clip`; as [`Act::Clamp`]).
    Clamp(f32, f32),
    /// `x if x >= 0 else alpha * x` (as [`Act::LeakyRelu`]).
    LeakyRelu(f32),
    /// `1 / (1 + exp(-x))` (as [`Act::Sigmoid`]).
    Sigmoid,
    /// `max(0, min(1, alpha * x + beta))`, fields `(alpha, beta)`.
    HardSigmoid(f32, f32),
    /// `x * min(max(x + 3, 0), 6) / 6` (as [`Act::HardSwish`]).
    HardSwish,
    /// [`math::tanh`].
    Tanh,
    /// [`math::sqrt`] (correctly rounded).
    Sqrt,
    /// [`math::exp`].
    Exp,
    /// Natural log, [`math::ln`].
    Log,
    /// `|x|`.
    Abs,
    /// `-x`.
    Neg,
    /// `1 / x`.
    Reciprocal,
    /// [`math::erf`].
    Erf,
    /// `0.5 * x * (1 + erf(x * (1/sqrt 2)))` (exact GELU).
    Gelu,
    /// `0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))` (ONNX `Gelu`
    /// with `approximate = "tanh"`).
    GeluTanh,
    /// Round toward negative infinity.
    Floor,
    /// Round toward positive infinity.
    Ceil,
    /// Round half to even (ONNX `Round`).
    Round,
}

/// `out[i] = kind(input[i])` for `i < input.len()`; see [`UnaryKind`].
pub fn unary_reference(kind: UnaryKind, input: &[f32], out: &mut [f32]) {
    debug_assert!(out.len() >= input.len(), "out too short");
    let n = input.len();
    with_unary(
        kind,
        Map {
            input,
            out: &mut out[..n],
        },
    );
}

/// `data[i] = kind(data[i])` in place; same values as [`unary_reference`].
pub fn unary_inplace(kind: UnaryKind, data: &mut [f32]) {
    with_unary(kind, MapInPlace(data));
}

/// A loop to run with a unary scalar function (monomorphized per kind).
trait UnaryRun {
    fn run(self, f: impl Fn(f32) -> f32);
}

struct Map<'a, 'b> {
    input: &'a [f32],
    out: &'b mut [f32],
}

impl UnaryRun for Map<'_, '_> {
    #[inline(always)]
    fn run(self, f: impl Fn(f32) -> f32) {
        for (o, &x) in self.out.iter_mut().zip(self.input) {
            *o = f(x);
        }
    }
}

struct MapInPlace<'a>(&'a mut [f32]);

impl UnaryRun for MapInPlace<'_> {
    #[inline(always)]
    fn run(self, f: impl Fn(f32) -> f32) {
        for v in self.0.iter_mut() {
            *v = f(*v);
        }
    }
}

/// `Sigmoid`: `Act::Sigmoid`'s formula with the branch-free `exp`.
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + math::exp_lane(-x))
}

/// The unary ops whose loops the SIMD tables compile with their target
/// features (`Sigmoid`, `Exp`: the same formulas, so the same bits, in
/// wider vectors; the other kinds stay on the baseline ISA, see
/// `doc/kernels.md`).
#[cfg_attr(
    any(
        miri,
        not(any(
            target_arch = "x86_64",
            target_arch = "aarch64",
            all(target_arch = "arm", ferrite_arm_neon)
        ))
    ),
    allow(dead_code)
)]
pub(crate) fn unary_in_table(kind: UnaryKind) -> bool {
    matches!(kind, UnaryKind::Sigmoid | UnaryKind::Exp)
}

/// [`unary_reference`] of `input`, or [`unary_inplace`] when `None`, for
/// the kinds of [`unary_in_table`] (others: nothing).
#[inline(always)]
#[cfg_attr(
    any(
        miri,
        not(any(
            target_arch = "x86_64",
            target_arch = "aarch64",
            all(target_arch = "arm", ferrite_arm_neon)
        ))
    ),
    allow(dead_code)
)]
pub(crate) fn unary_table_kinds(kind: UnaryKind, input: Option<&[f32]>, out: &mut [f32]) {
    #[inline(always)]
    fn map(input: Option<&[f32]>, out: &mut [f32], f: impl Fn(f32) -> f32) {
        match input {
            Some(x) => {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = f(v);
                }
            }
            None => {
                for v in out.iter_mut() {
                    *v = f(*v);
                }
            }
        }
    }
    match kind {
        UnaryKind::Sigmoid => map(input, out, sigmoid),
        UnaryKind::Exp => map(input, out, math::exp_lane),
        _ => {}
    }
}

/// [`unary_reference`] of `input`, or [`unary_inplace`] when `None`.
pub fn unary_any(kind: UnaryKind, input: Option<&[f32]>, out: &mut [f32]) {
    match input {
        Some(x) => unary_reference(kind, x, out),
        None => unary_inplace(kind, out),
    }
}

/// The one place that maps a [`UnaryKind`] to its formula.
#[inline(always)]
fn with_unary(kind: UnaryKind, run: impl UnaryRun) {
    match kind {
        UnaryKind::Relu => run.run(|x| Act::Clamp(0.0, f32::INFINITY).apply(x)),
        UnaryKind::Clamp(lo, hi) => run.run(|x| Act::Clamp(lo, hi).apply(x)),
        UnaryKind::LeakyRelu(alpha) => run.run(|x| Act::LeakyRelu(alpha).apply(x)),
        // `Act::Sigmoid`'s formula with the branch-free `exp` (the same
        // bits), so that the loop vectorizes.
        UnaryKind::Sigmoid => run.run(sigmoid),
        // max/min (not clamp): NaN maps to 0, like Relu.
        #[allow(clippy::manual_clamp)]
        UnaryKind::HardSigmoid(alpha, beta) => run.run(|x| (alpha * x + beta).max(0.0).min(1.0)),
        UnaryKind::HardSwish => run.run(|x| Act::HardSwish.apply(x)),
        UnaryKind::Tanh => run.run(math::tanh),
        UnaryKind::Sqrt => run.run(math::sqrt),
        UnaryKind::Exp => run.run(math::exp_lane),
        UnaryKind::Log => run.run(math::ln),
        UnaryKind::Abs => run.run(math::abs),
        UnaryKind::Neg => run.run(|x| -x),
        UnaryKind::Reciprocal => run.run(|x| 1.0 / x),
        UnaryKind::Erf => run.run(math::erf),
        UnaryKind::Gelu => run.run(gelu),
        UnaryKind::GeluTanh => run.run(gelu_tanh),
        UnaryKind::Floor => run.run(math::floor),
        UnaryKind::Ceil => run.run(math::ceil),
        UnaryKind::Round => run.run(math::round_half_even),
    }
}

/// Exact (erf-based) GELU.
#[inline]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + math::erf(x * core::f32::consts::FRAC_1_SQRT_2))
}

/// GELU's tanh approximation.
#[inline]
fn gelu_tanh(x: f32) -> f32 {
    // sqrt(2 / pi)
    const K: f32 = 0.797_884_6;
    0.5 * x * (1.0 + math::tanh(K * (x + 0.044_715 * x * x * x)))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::test_util::{assert_close, Rng};
    use std::vec;
    use std::vec::Vec;

    fn op(kind: BinaryKind, x: f32, y: f32) -> f32 {
        match kind {
            BinaryKind::Add => x + y,
            BinaryKind::Sub => x - y,
            BinaryKind::Mul => x * y,
            BinaryKind::Div => x / y,
            BinaryKind::Max => x.max(y),
            BinaryKind::Min => x.min(y),
            BinaryKind::Pow => math::powf(x, y),
            BinaryKind::PRelu => {
                if x >= 0.0 {
                    x
                } else {
                    x * y
                }
            }
        }
    }

    /// Numpy-style broadcast by explicit index arithmetic on the original
    /// (unpadded, right-aligned) shapes.
    fn naive(
        kind: BinaryKind,
        a: &[f32],
        ash: &[usize],
        b: &[f32],
        bsh: &[usize],
        act: Act,
    ) -> (Vec<f32>, Vec<usize>) {
        let rank = ash.len().max(bsh.len());
        let pad = |s: &[usize]| {
            let mut v = vec![1; rank - s.len()];
            v.extend_from_slice(s);
            v
        };
        let (ap, bp) = (pad(ash), pad(bsh));
        let osh: Vec<usize> = (0..rank)
            .map(|d| if ap[d] == 1 { bp[d] } else { ap[d] })
            .collect();
        let total: usize = osh.iter().product();
        let mut out = Vec::with_capacity(total);
        for flat in 0..total {
            let mut rem = flat;
            let mut idx = vec![0; rank];
            for d in (0..rank).rev() {
                idx[d] = rem % osh[d];
                rem /= osh[d];
            }
            let lin = |shape: &[usize]| {
                let mut l = 0;
                for d in 0..rank {
                    l = l * shape[d] + if shape[d] == 1 { 0 } else { idx[d] };
                }
                l
            };
            out.push(act.apply(op(kind, a[lin(&ap)], b[lin(&bp)])));
        }
        (out, osh)
    }

    /// The op layer's stride computation: right-aligned, 0 on broadcast dims.
    fn bstrides(s: &[usize], out: &[usize; MAX_RANK]) -> [usize; MAX_RANK] {
        let mut p = [1; MAX_RANK];
        p[MAX_RANK - s.len()..].copy_from_slice(s);
        let mut st = contiguous_strides(p);
        for d in 0..MAX_RANK {
            if p[d] == 1 && out[d] != 1 {
                st[d] = 0;
            }
        }
        st
    }

    const KINDS: [BinaryKind; 8] = BinaryKind::ALL;

    #[test]
    fn binary_broadcast_patterns() {
        let shapes: &[(&[usize], &[usize])] = &[
            (&[7], &[7]),                            // contiguous
            (&[2, 3, 4], &[2, 3, 4]),                // contiguous
            (&[2, 3, 4], &[1]),                      // scalar
            (&[2, 3, 4], &[]),                       // rank-0 scalar
            (&[1], &[2, 3, 4]),                      // scalar a
            (&[1, 1, 8], &[2, 5, 8]),                // per-channel a
            (&[1, 5, 5, 8], &[8]),                   // per-channel
            (&[2, 5, 8], &[1, 1, 8]),                // per-channel
            (&[8], &[3, 8]),                         // a broadcast
            (&[3, 1], &[1, 4]),                      // outer product
            (&[2, 1, 4], &[3, 1]),                   // both broadcast
            (&[1, 3, 1, 5], &[2, 1, 4, 1]),          // interleaved
            (&[2, 3, 2, 3, 2, 3], &[3, 1, 3, 1, 3]), // rank 6
            (&[4, 1], &[4, 6]),                      // a broadcast along the inner dim
            (&[0, 3], &[3]),                         // empty
        ];
        let acts = [
            Act::None,
            Act::Clamp(-0.5, 0.5),
            Act::HardSwish,
            Act::LeakyRelu(0.1),
        ];
        let mut rng = Rng::new(21);
        for &(ash, bsh) in shapes {
            for (kind, act) in KINDS.into_iter().flat_map(|k| acts.map(|a| (k, a))) {
                let mut a = rng.vec(ash.iter().product());
                let b = rng.vec(bsh.iter().product());
                if kind == BinaryKind::Pow {
                    // Positive bases, so Pow is defined everywhere.
                    a.iter_mut().for_each(|v| *v = v.abs() * 3.0);
                }
                let (want, osh) = naive(kind, &a, ash, &b, bsh, act);
                let mut out_shape = [1; MAX_RANK];
                out_shape[MAX_RANK - osh.len()..].copy_from_slice(&osh);
                let mut out = vec![f32::NAN; want.len()];
                binary_reference(
                    kind,
                    &a,
                    bstrides(ash, &out_shape),
                    &b,
                    bstrides(bsh, &out_shape),
                    &mut out,
                    out_shape,
                    act,
                );
                assert_close(&out, &want, 0.0);
                // In place: the operand of the output's shape is the output.
                let full = |sh: &[usize]| sh.iter().product::<usize>() == want.len();
                for (lhs, data, other, osh_other) in [(true, &a, &b, bsh), (false, &b, &a, ash)] {
                    if !full(if lhs { ash } else { bsh }) {
                        continue;
                    }
                    let mut d = data.clone();
                    let st = bstrides(osh_other, &out_shape);
                    binary_inplace(kind, lhs, other, st, &mut d, out_shape, act);
                    assert_close(&d, &want, 0.0);
                }
            }
        }
    }

    #[test]
    fn binary_ieee_cases() {
        let a = [1.0, -1.0, 0.0, 2.0, -8.0, -3.0];
        let b = [0.0, 0.0, 0.0, 0.5, 1.0 / 3.0, 0.25];
        let mut out = [0.0; 6];
        let st = contiguous_strides([1, 1, 1, 1, 1, 6]);
        binary_reference(
            BinaryKind::Div,
            &a,
            st,
            &b,
            st,
            &mut out,
            [1, 1, 1, 1, 1, 6],
            Act::None,
        );
        assert_eq!(out[..2], [f32::INFINITY, f32::NEG_INFINITY]);
        assert!(out[2].is_nan());
        binary_reference(
            BinaryKind::Pow,
            &a,
            st,
            &b,
            st,
            &mut out,
            [1, 1, 1, 1, 1, 6],
            Act::None,
        );
        assert_eq!(out[..4], [1.0, 1.0, 1.0, core::f32::consts::SQRT_2]);
        assert!(out[4].is_nan() && out[5].is_nan());
        binary_reference(
            BinaryKind::PRelu,
            &a,
            st,
            &b,
            st,
            &mut out,
            [1, 1, 1, 1, 1, 6],
            Act::None,
        );
        assert_eq!(out, [1.0, -0.0, 0.0, 2.0, -8.0 / 3.0, -0.75]);
    }

    #[test]
    fn unary_kinds() {
        let xs = [
            -3.5f32, -2.5, -1.0, -0.5, -0.0, 0.0, 0.25, 0.5, 1.5, 2.5, 3.0, 7.0,
        ];
        let check = |kind: UnaryKind, f: &dyn Fn(f32) -> f32, tol: f32| {
            let mut out = [0.0; 12];
            unary_reference(kind, &xs, &mut out);
            let want: Vec<f32> = xs.iter().map(|&x| f(x)).collect();
            assert_close(&out, &want, tol);
        };
        check(UnaryKind::Relu, &|x| if x > 0.0 { x } else { 0.0 }, 0.0);
        check(UnaryKind::Clamp(-1.0, 2.0), &|x| x.clamp(-1.0, 2.0), 0.0);
        check(
            UnaryKind::LeakyRelu(0.1),
            &|x| if x >= 0.0 { x } else { 0.1 * x },
            0.0,
        );
        check(
            UnaryKind::Sigmoid,
            &|x| (1.0 / (1.0 + (-x as f64).exp())) as f32,
            2e-7,
        );
        check(
            UnaryKind::HardSigmoid(0.2, 0.5),
            &|x| (0.2 * x + 0.5).clamp(0.0, 1.0),
            0.0,
        );
        check(
            UnaryKind::HardSwish,
            &|x| x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            2e-7,
        );
        check(UnaryKind::Tanh, &|x| (x as f64).tanh() as f32, 2e-7);
        check(UnaryKind::Exp, &|x| (x as f64).exp() as f32, 2e-7);
        check(UnaryKind::Abs, &|x| x.abs(), 0.0);
        check(UnaryKind::Neg, &|x| -x, 0.0);
        check(UnaryKind::Reciprocal, &|x| 1.0 / x, 0.0);
        check(UnaryKind::Floor, &|x| x.floor(), 0.0);
        check(UnaryKind::Ceil, &|x| x.ceil(), 0.0);
        check(UnaryKind::Round, &|x| x.round_ties_even(), 0.0);
        check(UnaryKind::Sqrt, &|x| x.sqrt(), 0.0);
        check(UnaryKind::Log, &|x| (x as f64).ln() as f32, 2e-7);
        // erf / GELU reference values (Abramowitz & Stegun tables / numpy).
        let mut out = [0.0; 4];
        unary_reference(UnaryKind::Erf, &[0.5, -1.0, 2.0, 0.1], &mut out);
        assert_close(
            &out,
            &[0.520_499_9, -0.842_700_8, 0.995_322_3, 0.112_462_9],
            2e-7,
        );
        unary_reference(UnaryKind::Gelu, &[1.0, -1.0, 3.0, -3.0], &mut out);
        assert_close(
            &out,
            &[0.841_344_7, -0.158_655_3, 2.995_950_4, -0.004_049_6],
            3e-7,
        );
        // The tanh approximation (f64 values of the formula).
        unary_reference(UnaryKind::GeluTanh, &[1.0, -1.0, 3.0, -3.0], &mut out);
        assert_close(
            &out,
            &[0.841_192, -0.158_808_01, 2.996_362_6, -0.003_637_39],
            3e-7,
        );
        // Round halves to even, keeps -0.
        let mut r = [0.0; 3];
        unary_reference(UnaryKind::Round, &[-0.5, 0.5, -1.5], &mut r);
        assert_eq!(
            r.map(f32::to_bits),
            [(-0.0f32).to_bits(), 0, (-2.0f32).to_bits()]
        );
        // Empty input is fine.
        unary_reference(UnaryKind::Exp, &[], &mut []);
    }
}
