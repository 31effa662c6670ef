//! The int8 rewrite: from a calibrated `f32` graph to a mixed-precision one.
//!
//! Each node whose op has an int8 form (and is not kept in `f32`) becomes
//! its int8 op; every other node stays `f32`. Where values cross between
//! the two, `Quantize` / `Dequantize` nodes are inserted, once per tensor.
//! Graph inputs and outputs stay `f32` with their names.
//!
//! Numerics follow the TFLite int8 specification (`doc/quantization.md`):
//! weights symmetric per output channel in `[-127, 127]`; activations
//! asymmetric per tensor with a range that contains 0; int32 biases with
//! scale `s_x * s_w[c]` (the weight scale of a channel is raised when the
//! bias would not fit in 31 bits); requantization multipliers from `f64`
//! products of the `f32` scales through
//! [`ferrite::quant::quantize_multiplier`]; fused ReLU/ReLU6/Clip become
//! output clamps. Data movement ops (pooling, reshape, transpose, slice,
//! pad, resize) keep their input's quantization.

use ferrite::kernels::resize::ResizeParams;
use std::collections::{HashMap, HashSet};

use anyhow::{bail, Result};

use crate::ir::{Data, Graph, Node, Op, Quant, TensorId};
use ferrite::kernels::elementwise::{self, BinaryKind, UnaryKind};
use ferrite::kernels::i8_elementwise::{QAddParams, QMulParams};
use ferrite::kernels::reduce::ReduceKind;
use ferrite::kernels::Act;
use ferrite::ops::{SOFTMAX_I8_SCALE, SOFTMAX_I8_ZERO_POINT};
use ferrite::quant::{quantize, quantize_multiplier};

/// What happened to one node of the `f32` graph.
#[derive(Clone, Debug)]
pub struct Decision {
    /// Node name.
    pub node: String,
    /// Op name.
    pub op: String,
    /// Name of its output tensor (the key of its note in the image).
    pub output: String,
    /// Whether it runs in int8.
    pub int8: bool,
    /// Why it stayed `f32` (when it did).
    pub reason: Option<String>,
    /// Largest |quantized bias| and the number of channels whose weight
    /// scale was raised to keep the bias in range (conv / matmul).
    pub bias: Option<(i64, usize)>,
}

/// The rewritten graph with the links back to the `f32` one.
pub struct QuantGraph {
    /// The mixed-precision graph.
    pub graph: Graph,
    /// One entry per node of the `f32` graph, in order.
    pub decisions: Vec<Decision>,
    /// int8 output tensor name of each int8 node -> name of the `f32`
    /// tensor it stands for (and the producing node's name).
    pub twins: Vec<(String, String, String)>,
    /// Every int8 activation (also those made by Quantize nodes): its name
    /// and the name of the `f32` tensor it stands for.
    pub all_twins: Vec<(String, String)>,
}

/// Rewrites `src` (runtime-ready `f32`, calibrated) into int8 where it can.
/// `ranges[t]` is the real range chosen for activation `t`.
pub fn rewrite(
    src: &Graph,
    ranges: &[Option<(f32, f32)>],
    keep_float: &HashSet<String>,
    quantize_inputs: bool,
    fixed: &HashMap<TensorId, Quant>,
) -> Result<QuantGraph> {
    let mut g = src.clone();
    g.nodes.clear();
    let mut rw = Rw {
        src,
        ranges,
        g,
        q: HashMap::new(),
        int8_made: HashSet::new(),
        dequantized: HashSet::new(),
        all_twins: Vec::new(),
        luts: HashMap::new(),
        fixed,
    };
    if quantize_inputs {
        for &i in &src.inputs {
            rw.q_of(i).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    let mut decisions = Vec::new();
    let mut twins = Vec::new();
    for node in &src.nodes {
        let forced = keep_float.contains(&node.name);
        let attempt = if forced {
            Err("kept in f32 (--keep-float)".to_string())
        } else {
            rw.try_int8(node)
        };
        match attempt {
            Ok((new_node, bias)) => {
                let out_name = rw.g.tensors[new_node.output].name.clone();
                twins.push((
                    out_name,
                    src.tensors[node.output].name.clone(),
                    node.name.clone(),
                ));
                rw.q.insert(node.output, new_node.output);
                rw.int8_made.insert(node.output);
                rw.g.nodes.push(new_node);
                decisions.push(Decision {
                    node: node.name.clone(),
                    op: node.op.name(),
                    output: src.tensors[node.output].name.clone(),
                    int8: true,
                    reason: None,
                    bias,
                });
            }
            Err(reason) => {
                for &i in &node.inputs {
                    rw.f32_of(i);
                }
                rw.g.nodes.push(node.clone());
                decisions.push(Decision {
                    node: node.name.clone(),
                    op: node.op.name(),
                    output: src.tensors[node.output].name.clone(),
                    int8: false,
                    reason: Some(reason),
                    bias: None,
                });
            }
        }
    }
    for o in src.outputs.clone() {
        rw.f32_of(o);
    }
    let mut g = std::mem::take(&mut rw.g);
    crate::passes::remove_dead(&mut g)?;
    for d in decisions.iter().filter(|d| !d.int8) {
        if let Some(r) = &d.reason {
            g.notes.push((format!("f32 {}", d.output), r.clone()));
        }
    }
    Ok(QuantGraph {
        graph: g,
        decisions,
        twins,
        all_twins: rw.all_twins,
    })
}

/// Asymmetric int8 parameters for the real range `[lo, hi]` (widened to
/// contain 0): `scale = (hi - lo) / 255`, `zero_point = round(-128 - lo/scale)`.
pub fn affine(lo: f32, hi: f32) -> Quant {
    let (lo, hi) = (lo.min(0.0) as f64, hi.max(0.0) as f64);
    let scale = ((hi - lo) / 255.0).max(1e-9) as f32;
    let zp = (-128.0 - lo / scale as f64).round().clamp(-128.0, 127.0) as i32;
    Quant {
        scale,
        zero_point: zp,
    }
}

/// Integer clamp of a fused activation on the output's quantization.
fn act_clamp(act: Act, q: Quant) -> Option<(i32, i32)> {
    match act {
        Act::None => Some((-128, 127)),
        Act::Clamp(lo, hi) => {
            let lo = quantize(lo, q.scale, q.zero_point) as i32;
            let hi = quantize(hi, q.scale, q.zero_point) as i32;
            Some((lo, hi))
        }
        _ => None,
    }
}

/// `(mult, shift)` of a real multiplier, when the runtime can apply it.
fn multiplier(m: f64) -> Result<(i32, i32), String> {
    let (mult, shift) = quantize_multiplier(m);
    if (-31..=30).contains(&shift) {
        Ok((mult, shift))
    } else {
        Err(format!(
            "requantization multiplier {m:e} is out of the int8 range"
        ))
    }
}

struct Rw<'a> {
    src: &'a Graph,
    ranges: &'a [Option<(f32, f32)>],
    g: Graph,
    /// `f32` tensor -> its int8 twin.
    q: HashMap<TensorId, TensorId>,
    /// `f32` tensors computed only in int8 so far (their producer is int8).
    int8_made: HashSet<TensorId>,
    /// Those of them already dequantized back to `f32`.
    dequantized: HashSet<TensorId>,
    all_twins: Vec<(String, String)>,
    /// Parameters fixed by the model (QDQ import), by tensor.
    fixed: &'a HashMap<TensorId, Quant>,
    /// Lookup-table outputs (`f32` id): the int8 tensor the table reads, the
    /// real function it applies, and its int8 output.
    luts: HashMap<TensorId, (TensorId, Vec<Elem>, TensorId)>,
}

/// One elementwise real function of a lookup-table chain, evaluated with
/// the runtime's own `f32` kernels.
#[derive(Clone, Debug)]
enum Elem {
    Unary(UnaryKind),
    Scalar {
        kind: BinaryKind,
        c: f32,
        scalar_lhs: bool,
        act: Act,
    },
}

impl Elem {
    fn apply(&self, xs: &[f32]) -> Vec<f32> {
        let mut ys = vec![0f32; xs.len()];
        match *self {
            Elem::Unary(k) => elementwise::unary_reference(k, xs, &mut ys),
            Elem::Scalar {
                kind,
                c,
                scalar_lhs,
                act,
            } => {
                let mut shape = [1; ferrite::kernels::MAX_RANK];
                shape[ferrite::kernels::MAX_RANK - 1] = xs.len();
                let dense = ferrite::kernels::contiguous_strides(shape);
                let bcast = [0; ferrite::kernels::MAX_RANK];
                let cs = [c];
                let (a, sa, b, sb) = if scalar_lhs {
                    (&cs[..], bcast, xs, dense)
                } else {
                    (xs, dense, &cs[..], bcast)
                };
                elementwise::binary_reference(kind, a, sa, b, sb, &mut ys, shape, act);
            }
        }
        ys
    }
}

type Outcome = Result<(Node, Option<(i64, usize)>), String>;

impl Rw<'_> {
    /// Makes the `f32` value of `t` available (dequantizing its twin when
    /// an int8 node produced it).
    fn f32_of(&mut self, t: TensorId) {
        if self.int8_made.contains(&t) && self.dequantized.insert(t) {
            let name = format!("{}.dequantize", self.src.tensors[t].name);
            let input = self.q[&t];
            self.g.nodes.push(Node {
                name,
                op: Op::Dequantize,
                inputs: vec![input],
                output: t,
            });
        }
    }

    /// Whether `t` is a graph output or reaches one through data movement
    /// only (reshape, transpose, slice).
    fn feeds_output(&self, t: TensorId) -> bool {
        self.src.outputs.contains(&t)
            || self.src.nodes.iter().any(|n| {
                n.inputs.first() == Some(&t)
                    && matches!(n.op, Op::Reshape | Op::Transpose(_) | Op::Slice { .. })
                    && self.feeds_output(n.output)
            })
    }

    /// Data movement and lookup tables follow their input's precision:
    /// quantizing just for them would add error and conversions for no
    /// arithmetic saved.
    fn input_is_int8(&self, t: TensorId) -> Result<(), String> {
        if self.q.contains_key(&t) {
            Ok(())
        } else {
            Err("follows its f32 input (no int8 producer to continue from)".into())
        }
    }

    /// The int8 parameters of activation `t`: fixed by the model (an
    /// imported QDQ pair) or from its calibrated range.
    fn params(&self, t: TensorId) -> Result<Quant, String> {
        if let Some(&q) = self.fixed.get(&t) {
            return Ok(q);
        }
        let (lo, hi) = self.range(t)?;
        Ok(affine(lo, hi))
    }

    fn range(&self, t: TensorId) -> Result<(f32, f32), String> {
        self.ranges
            .get(t)
            .copied()
            .flatten()
            .ok_or_else(|| format!("no calibration range for '{}'", self.src.tensors[t].name))
    }

    fn twin(&mut self, t: TensorId, q: Quant) -> TensorId {
        let name = self
            .g
            .fresh_name(&format!("{}.q", self.src.tensors[t].name));
        let shape = self.src.tensors[t].shape.clone();
        self.all_twins
            .push((name.clone(), self.src.tensors[t].name.clone()));
        self.g.add_i8(name, shape, q)
    }

    /// The int8 twin of `t`: an int8 constant for constants, a Quantize
    /// node for `f32` activations.
    fn q_of(&mut self, t: TensorId) -> Result<TensorId, String> {
        if let Some(&q) = self.q.get(&t) {
            return Ok(q);
        }
        let tq = if let Some(d) = self.src.tensors[t].const_f32() {
            let (lo, hi) = d
                .iter()
                .fold((0f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
            if !(lo.is_finite() && hi.is_finite()) {
                return Err("a constant input is not finite".into());
            }
            let q = affine(lo, hi);
            let codes = d
                .iter()
                .map(|&v| quantize(v, q.scale, q.zero_point))
                .collect();
            let name = self
                .g
                .fresh_name(&format!("{}.q", self.src.tensors[t].name));
            let id = self.g.add_tensor(
                name,
                self.src.tensors[t].shape.clone(),
                Some(Data::I8(codes)),
            );
            self.g.tensors[id].quant = Some(q);
            id
        } else {
            let q = self.params(t)?;
            let tq = self.twin(t, q);
            self.g.nodes.push(Node {
                name: format!("{}.quantize", self.src.tensors[t].name),
                op: Op::Quantize,
                inputs: vec![t],
                output: tq,
            });
            tq
        };
        self.q.insert(t, tq);
        Ok(tq)
    }

    fn quant(&self, t: TensorId) -> Quant {
        self.g.tensors[t].quant.unwrap_or(Quant {
            scale: 1.0,
            zero_point: 0,
        })
    }

    fn add_const(&mut self, base: &str, shape: Vec<usize>, d: Data) -> TensorId {
        let name = self.g.fresh_name(base);
        self.g.add_tensor(name, shape, Some(d))
    }

    fn try_int8(&mut self, n: &Node) -> Outcome {
        let no = || Err(format!("no int8 kernel for {}", n.op.name()));
        let out = n.output;
        let x = n.inputs[0];
        let node = |op: Op, inputs: Vec<TensorId>, output: TensorId| Node {
            name: n.name.clone(),
            op,
            inputs,
            output,
        };
        match &n.op {
            Op::Conv {
                window,
                groups,
                act,
            } => {
                let w = n.inputs[1];
                if !self.src.is_const(w) || n.inputs.get(2).is_some_and(|&b| !self.src.is_const(b))
                {
                    return Err("weights are not constant".into());
                }
                if act_clamp(
                    *act,
                    Quant {
                        scale: 1.0,
                        zero_point: 0,
                    },
                )
                .is_none()
                {
                    return Err(format!("fused {act:?} has no int8 form"));
                }
                let oc = self.src.tensors[w].shape[0];
                let (yq, (w_i8, bias, requant, info)) = self.weights(n, 0, oc)?;
                let (act_min, act_max) = act_clamp(*act, self.quant(yq)).unwrap_or((-128, 127));
                Ok((
                    node(
                        Op::QConv {
                            window: *window,
                            groups: *groups,
                            act_min,
                            act_max,
                        },
                        vec![self.q[&x], w_i8, bias, requant],
                        yq,
                    ),
                    Some(info),
                ))
            }
            Op::MatMul { act } => {
                if act_clamp(
                    *act,
                    Quant {
                        scale: 1.0,
                        zero_point: 0,
                    },
                )
                .is_none()
                {
                    return Err(format!("fused {act:?} has no int8 form"));
                }
                let b = n.inputs[1];
                if n.inputs.get(2).is_some_and(|&b| !self.src.is_const(b)) {
                    return Err("bias is not constant".into());
                }
                let bshape = self.src.tensors[b].shape.clone();
                let ncols = *bshape.last().unwrap_or(&1);
                if self.src.is_const(b) {
                    let (yq, (b_i8, bias, requant, info)) = self.weights(n, 1, ncols)?;
                    let (act_min, act_max) = act_clamp(*act, self.quant(yq)).unwrap_or((-128, 127));
                    Ok((
                        node(
                            Op::QMatMul { act_min, act_max },
                            vec![self.q[&x], b_i8, bias, requant],
                            yq,
                        ),
                        Some(info),
                    ))
                } else {
                    // Both operands are activations: per-tensor everything.
                    let (xq, bq) = (self.q_of(x)?, self.q_of(b)?);
                    let (sa, sb) = (self.quant(xq).scale as f64, self.quant(bq).scale as f64);
                    let yp = self.params(out)?;
                    let yq = self.twin(out, yp);
                    let sy = self.quant(yq).scale as f64;
                    let bias_f: Vec<f32> = match n.inputs.get(2) {
                        Some(&bt) => self.src.tensors[bt].const_f32().unwrap_or(&[]).to_vec(),
                        None => vec![0.0; ncols],
                    };
                    let mut max_b = 0i64;
                    let mut bias = Vec::with_capacity(ncols);
                    for &v in &bias_f {
                        let r = (v as f64 / (sa * sb)).round();
                        if r.abs() >= i32::MAX as f64 {
                            return Err("bias does not fit in 32 bits".into());
                        }
                        max_b = max_b.max(r.abs() as i64);
                        bias.push(r as i32);
                    }
                    let (mult, shift) = multiplier(sa * sb / sy)?;
                    let bias_t =
                        self.add_const(&format!("{}.bias.q", n.name), vec![ncols], Data::I32(bias));
                    let rq = self.add_const(
                        &format!("{}.requant", n.name),
                        vec![1, 2],
                        Data::I32(vec![mult, shift]),
                    );
                    let (act_min, act_max) = act_clamp(*act, self.quant(yq)).unwrap_or((-128, 127));
                    Ok((
                        node(
                            Op::QMatMul { act_min, act_max },
                            vec![xq, bq, bias_t, rq],
                            yq,
                        ),
                        Some((max_b, 0)),
                    ))
                }
            }
            Op::Binary { kind, act }
                if self.scalar_operand(n).is_some()
                    && self.q.contains_key(&self.data_operand(n)) =>
            {
                // One operand is a scalar constant: an elementwise function
                // of the other, i.e. a lookup table (exact per code, and no
                // requantization of the constant).
                let (c, scalar_lhs) = self.scalar_operand(n).unwrap_or((0.0, false));
                let x = self.data_operand(n);
                self.lut(
                    n,
                    x,
                    Elem::Scalar {
                        kind: *kind,
                        c,
                        scalar_lhs,
                        act: *act,
                    },
                )
            }
            Op::Binary { kind, act } => {
                if !matches!(kind, BinaryKind::Add | BinaryKind::Sub | BinaryKind::Mul) {
                    return no();
                }
                if act_clamp(
                    *act,
                    Quant {
                        scale: 1.0,
                        zero_point: 0,
                    },
                )
                .is_none()
                {
                    return Err(format!("fused {act:?} has no int8 form"));
                }
                let (aq, bq) = (self.q_of(n.inputs[0])?, self.q_of(n.inputs[1])?);
                let yq_params = self.params(out)?;
                let (act_min, act_max) = act_clamp(*act, yq_params).unwrap_or((-128, 127));
                let (a, b) = (self.quant(aq), self.quant(bq));
                let y = yq_params;
                let op = if *kind == BinaryKind::Mul {
                    let p = QMulParams::from_scales(
                        a.scale,
                        a.zero_point,
                        b.scale,
                        b.zero_point,
                        y.scale,
                        y.zero_point,
                        act_min,
                        act_max,
                    );
                    multiplier(a.scale as f64 * b.scale as f64 / y.scale as f64)?;
                    Op::QMul(p)
                } else {
                    let p = QAddParams::from_scales(
                        a.scale,
                        a.zero_point,
                        b.scale,
                        b.zero_point,
                        y.scale,
                        y.zero_point,
                        act_min,
                        act_max,
                        *kind == BinaryKind::Sub,
                    );
                    for s in [p.a_shift, p.b_shift, p.out_shift] {
                        if !(-31..=30).contains(&s) {
                            return Err("add rescaling is out of the int8 range".into());
                        }
                    }
                    Op::QAdd(p)
                };
                let yq = self.twin(out, y);
                Ok((node(op, vec![aq, bq], yq), None))
            }
            Op::Unary(kind) => self.lut(n, x, Elem::Unary(*kind)),
            Op::Resize {
                mode,
                coord,
                scales,
                extra,
            } if !(ResizeParams {
                mode: *mode,
                coord: *coord,
                scale_h: scales[0],
                scale_w: scales[1],
                extra: *extra,
            })
            .is_classic() =>
            {
                Err("cubic, antialiased and cropping resizes have no int8 kernel".into())
            }
            Op::MaxPool { .. }
            | Op::AvgPool { .. }
            | Op::Transpose(_)
            | Op::Reshape
            | Op::Slice { .. }
            | Op::Resize { .. } => self.pass_through(n, n.op.clone()),
            Op::Reduce {
                kind: ReduceKind::Max,
                ..
            } => self.pass_through(n, n.op.clone()),
            Op::Pad {
                mode,
                value,
                before,
            } => {
                self.input_is_int8(x)?;
                let xq = self.q_of(x)?;
                let q = self.quant(xq);
                let code = quantize(*value, q.scale, q.zero_point) as i32;
                let op = Op::QPad {
                    mode: *mode,
                    code,
                    before: before.clone(),
                };
                self.pass_through(n, op)
            }
            Op::Reduce {
                kind: ReduceKind::Mean,
                axes,
            } => {
                let xq = self.q_of(x)?;
                let shape = &self.src.tensors[x].shape;
                let count: usize = axes.iter().map(|&a| shape[a]).product();
                if self.src.tensors[x].numel() > 1 << 23 || count == 0 {
                    return Err("reduction too large for the int8 accumulator".into());
                }
                let y = self.params(out)?;
                let sx = self.quant(xq).scale as f64;
                let (mult, shift) = multiplier(sx / (count as f64 * y.scale as f64))?;
                if shift > 0 && (255 * count as i64) << shift >= 1 << 31 {
                    return Err("mean rescaling overflows the int8 accumulator".into());
                }
                let yq = self.twin(out, y);
                Ok((
                    node(
                        Op::QMean {
                            axes: axes.clone(),
                            mult,
                            shift,
                        },
                        vec![xq],
                        yq,
                    ),
                    None,
                ))
            }
            Op::Softmax { axis, log: false } => {
                if self.feeds_output(out) {
                    return Err(
                        "graph output probabilities stay f32 (int8 softmax resolves 1/256)".into(),
                    );
                }
                let xq = self.q_of(x)?;
                let s = self.quant(xq).scale as f64;
                let table: Vec<i32> = (0..256)
                    .map(|d| ((1u64 << 24) as f64 * (-s * d as f64).exp()).round() as i32)
                    .collect();
                let t = self.add_const(&format!("{}.exp", n.name), vec![256], Data::I32(table));
                let yq = self.twin(
                    out,
                    Quant {
                        scale: SOFTMAX_I8_SCALE,
                        zero_point: SOFTMAX_I8_ZERO_POINT,
                    },
                );
                Ok((node(Op::QSoftmax { axis: *axis }, vec![xq, t], yq), None))
            }
            Op::Concat(axis) => {
                if self.feeds_output(out) {
                    // Dequantizing each part keeps its own resolution; a
                    // common int8 scale would be the widest part's.
                    return Err("a graph output is concatenated in f32 (each part keeps its own int8 scale)".into());
                }
                let y = self.params(out)?;
                let mut inputs = Vec::new();
                let mut requant = Vec::new();
                for &i in &n.inputs {
                    let iq = self.q_of(i)?;
                    let p = self.quant(iq);
                    inputs.push(iq);
                    requant.push(if p == y {
                        None
                    } else {
                        Some(multiplier(p.scale as f64 / y.scale as f64)?)
                    });
                }
                let yq = self.twin(out, y);
                Ok((
                    node(
                        Op::QConcat {
                            axis: *axis,
                            requant,
                        },
                        inputs,
                        yq,
                    ),
                    None,
                ))
            }
            _ => no(),
        }
    }

    /// The scalar constant operand of a binary node, and whether it is the
    /// left one.
    fn scalar_operand(&self, n: &Node) -> Option<(f32, bool)> {
        let (a, b) = (n.inputs[0], n.inputs[1]);
        let scalar = |t: TensorId| self.src.tensors[t].scalar();
        match (scalar(a), scalar(b)) {
            (None, Some(c)) if !self.src.is_const(a) => Some((c, false)),
            (Some(c), None) if !self.src.is_const(b) => Some((c, true)),
            _ => None,
        }
        .filter(|_| {
            self.src.tensors[n.output].shape == self.src.tensors[self.data_operand(n)].shape
        })
    }

    /// The non-constant operand of a binary node with a scalar operand.
    fn data_operand(&self, n: &Node) -> TensorId {
        if self.src.is_const(n.inputs[0]) {
            n.inputs[1]
        } else {
            n.inputs[0]
        }
    }

    /// An elementwise function of int8 `x` as a lookup table. When `x` is
    /// itself the output of a lookup table read by nothing else, the two
    /// are composed in real arithmetic into one table over that table's
    /// input (one rounding instead of two).
    fn lut(&mut self, n: &Node, x: TensorId, e: Elem) -> Outcome {
        self.input_is_int8(x)?;
        let (mut src_q, mut chain) = (self.q_of(x)?, vec![e]);
        if self.src.use_count(x) == 1 {
            if let Some((prev_src, prev_chain, prev_out)) = self.luts.get(&x).cloned() {
                self.g.nodes.retain(|m| m.output != prev_out);
                src_q = prev_src;
                chain = prev_chain.into_iter().chain(chain).collect();
            }
        }
        let (xp, yp) = (self.quant(src_q), self.params(n.output)?);
        let mut ys: Vec<f32> = (-128..=127)
            .map(|v: i32| ferrite::quant::dequantize(v as i8, xp.scale, xp.zero_point))
            .collect();
        for e in &chain {
            ys = e.apply(&ys);
        }
        let table = ys
            .iter()
            .map(|&v| quantize(v, yp.scale, yp.zero_point))
            .collect();
        let t = self.add_const(&format!("{}.lut", n.name), vec![256], Data::I8(table));
        let yq = self.twin(n.output, yp);
        self.luts.insert(n.output, (src_q, chain, yq));
        Ok((
            Node {
                name: n.name.clone(),
                op: Op::Lut,
                inputs: vec![src_q, t],
                output: yq,
            },
            None,
        ))
    }

    /// Ops that move or select int8 values without rescaling: the output
    /// takes the input's quantization.
    fn pass_through(&mut self, n: &Node, op: Op) -> Outcome {
        self.input_is_int8(n.inputs[0])?;
        let xq = self.q_of(n.inputs[0])?;
        if n.inputs.len() != 1 {
            return Err(format!("{} with {} inputs", n.op.name(), n.inputs.len()));
        }
        let q = self.quant(xq);
        let yq = self.twin(n.output, q);
        Ok((
            Node {
                name: n.name.clone(),
                op,
                inputs: vec![xq],
                output: yq,
            },
            None,
        ))
    }

    /// Quantizes the constant weights (input 1) of a conv (channel axis 0)
    /// or matmul (channel = last axis) per output channel, with the bias
    /// (input 2, or zeros) and the requantization table; also quantizes
    /// the data input and creates the output twin.
    #[allow(clippy::type_complexity)]
    fn weights(
        &mut self,
        n: &Node,
        axis_is_last: usize,
        channels: usize,
    ) -> Result<(TensorId, (TensorId, TensorId, TensorId, (i64, usize))), String> {
        let (x, w, out) = (n.inputs[0], n.inputs[1], n.output);
        let xq = self.q_of(x)?;
        let sx = self.quant(xq).scale;
        let y = self.params(out)?;
        let wt = &self.src.tensors[w];
        let wd = wt.const_f32().unwrap_or(&[]);
        if channels == 0 || !wd.len().is_multiple_of(channels) {
            return Err("weights of an unexpected shape".into());
        }
        let per = wd.len() / channels;
        let chan = |i: usize| {
            if axis_is_last == 1 {
                i % channels
            } else {
                i / per
            }
        };
        let mut amax = vec![0f32; channels];
        for (i, &v) in wd.iter().enumerate() {
            if !v.is_finite() {
                return Err("weights are not finite".into());
            }
            amax[chan(i)] = amax[chan(i)].max(v.abs());
        }
        let bias_f: Vec<f32> = match n.inputs.get(2) {
            Some(&b) => self.src.tensors[b].const_f32().unwrap_or(&[]).to_vec(),
            None => vec![0.0; channels],
        };
        if bias_f.len() != channels || bias_f.iter().any(|b| !b.is_finite()) {
            return Err("bias of an unexpected shape or not finite".into());
        }
        // Per-channel weight scales; raised where the bias would overflow.
        let limit = (i32::MAX - 1) as f64;
        let mut sw = vec![0f32; channels];
        let mut adjusted = 0;
        for c in 0..channels {
            let mut s = if amax[c] > 0.0 { amax[c] / 127.0 } else { 1.0 };
            let need = bias_f[c].abs() as f64 / (sx as f64 * limit);
            if (s as f64) < need {
                s = (need * (1.0 + 1e-6)) as f32;
                adjusted += 1;
            }
            sw[c] = s;
        }
        let codes: Vec<i8> = wd
            .iter()
            .enumerate()
            .map(|(i, &v)| (v / sw[chan(i)]).round().clamp(-127.0, 127.0) as i8)
            .collect();
        let mut bias = Vec::with_capacity(channels);
        let mut requant = Vec::with_capacity(2 * channels);
        let mut max_b = 0i64;
        for c in 0..channels {
            let bs = sx as f64 * sw[c] as f64;
            let b = (bias_f[c] as f64 / bs).round();
            max_b = max_b.max(b.abs() as i64);
            bias.push(b.clamp(-limit, limit) as i32);
            let (m, s) = multiplier(bs / y.scale as f64)?;
            requant.extend([m, s]);
        }
        let w_i8 = self.add_const(&format!("{}.q", wt.name), wt.shape.clone(), Data::I8(codes));
        let bias_t = self.add_const(
            &format!("{}.bias.q", n.name),
            vec![channels],
            Data::I32(bias),
        );
        let rq = self.add_const(
            &format!("{}.requant", n.name),
            vec![channels, 2],
            Data::I32(requant),
        );
        let yq = self.twin(out, y);
        Ok((yq, (w_i8, bias_t, rq, (max_b, adjusted))))
    }
}

/// Fails when the rewrite left an `i8` tensor feeding an `f32` op or the
/// reverse (an internal consistency check run on every rewrite).
pub fn check_dtypes(g: &Graph) -> Result<()> {
    use ferrite::DType;
    for n in &g.nodes {
        let int8_op = matches!(
            n.op,
            Op::QConv { .. }
                | Op::QMatMul { .. }
                | Op::QAdd(_)
                | Op::QMul(_)
                | Op::QMean { .. }
                | Op::QSoftmax { .. }
                | Op::QConcat { .. }
                | Op::QPad { .. }
                | Op::Lut
                | Op::Dequantize
        );
        let x = g.tensors[n.inputs[0]].dtype;
        let mixed_io = matches!(n.op, Op::Quantize | Op::Dequantize);
        if !mixed_io && !int8_op && x != g.tensors[n.output].dtype {
            bail!("internal error: node '{}' mixes dtypes", n.name);
        }
        if int8_op && x != DType::I8 {
            bail!("internal error: int8 node '{}' reads {x:?}", n.name);
        }
    }
    Ok(())
}
