//! ONNX `LSTM`, `GRU` and `RNN`.
//!
//! tract's own parsers unroll a recurrent layer into a `Scan` loop over a
//! body graph, which Ferrite has no form for, so the importer registers the
//! parsers below instead ([`register`]). They keep tract's shape inference
//! (its `CommonRec` rules) and type each layer as one [`Recurrent`] op whose
//! single output is the runtime's: `[seq + 2 + S, dirs, batch, H]` with `Y`,
//! `Y_h`, `Y_c` and the working rows (`ferrite::kernels::recurrent`). tract
//! `Slice` nodes read the ONNX outputs out of it and lower as usual.
//! Reference runs (`reference.rs`) use tract's parsers, so tests compare
//! against an independent implementation.
//!
//! Attributes the runtime lacks (other activations, `input_forget`, partial
//! `sequence_lens`) type fine and are reported as unsupported at lowering,
//! with every other unsupported node of the model.

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::ops::rec::common::{CommonRec, WireBody};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_core::ops::array::Slice;

use super::{Cx, LResult};
use crate::ir::{Op as IrOp, TensorId};
use ferrite::kernels::recurrent::{Cell, RnnAct};

/// Replaces tract's parsers of the recurrent ops with Ferrite's.
pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("LSTM", parse_lstm);
    reg.insert("GRU", parse_gru);
    reg.insert("RNN", parse_rnn);
}

/// One recurrent layer, in layout 0 (the parser moves axes around it for
/// `layout = 1`). Inputs: ONNX's `X, W, R` then those of `B, sequence_lens,
/// initial_h, initial_c, P` that the node has, in that order.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Recurrent {
    pub cell: Cell,
    /// 0 forward, 1 reverse, 2 bidirectional.
    pub direction: u32,
    /// `f32` bits of the bound on activation inputs (`+inf`: none).
    pub clip_bits: u32,
    pub bias: Option<usize>,
    pub seq_lens: Option<usize>,
    pub initial_h: Option<usize>,
    pub initial_c: Option<usize>,
    pub peepholes: Option<usize>,
    /// Why the runtime cannot run this layer, if it cannot.
    pub unsupported: Option<String>,
}

impl Recurrent {
    fn rows(&self, seq: &TDim) -> TDim {
        seq.clone() + (2 + self.cell.scratch_rows()) as i64
    }
}

impl Op for Recurrent {
    fn name(&self) -> StaticName {
        match self.cell {
            Cell::Lstm => "LSTM",
            Cell::Gru { .. } => "GRU",
            Cell::Rnn(_) => "RNN",
        }
        .into()
    }

    op_as_typed_op!();
}

impl EvalOp for Recurrent {
    fn eval(&self, _ctx: &EvalContext, _inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        bail!("{} runs in the Ferrite runtime only", self.name())
    }

    /// Not folded at compile time, even on constant inputs.
    fn eval_out_of_plan(&self, _inputs: TVec<TValue>) -> TractResult<Option<TVec<TValue>>> {
        Ok(None)
    }
}

impl TypedOp for Recurrent {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (x, r) = (&inputs[0].shape, &inputs[2].shape);
        ensure!(x.rank() == 3 && r.rank() == 3, "X and R must have rank 3");
        let shape = tvec![self.rows(&x[0]), r[0].clone(), x[1].clone(), r[2].clone()];
        Ok(tvec!(inputs[0].datum_type.fact(shape)))
    }
}

/// The gate counts tract's shape rules need (its bodies are never wired).
#[derive(Debug, Clone)]
struct Gates(Cell);

impl WireBody for Gates {
    fn name(&self) -> &'static str {
        match self.0 {
            Cell::Lstm => "LSTM",
            Cell::Gru { .. } => "GRU",
            Cell::Rnn(_) => "RNN",
        }
    }

    fn wire_body(&self, _prefix: &str, _body: &mut TypedModel) -> TractResult<()> {
        bail!("Ferrite's recurrent layers have no Scan body")
    }

    fn w_b_multipliers(&self) -> (usize, usize) {
        let g = self.0.gates();
        (g, 2 * g)
    }

    fn have_extra_c_state(&self) -> bool {
        self.0 == Cell::Lstm
    }
}

/// The inference-time form: tract's rules, Ferrite's wiring.
#[derive(Debug, Clone)]
struct RecExpansion {
    common: CommonRec,
    op: Recurrent,
}

impl Expansion for RecExpansion {
    fn name(&self) -> StaticName {
        self.op.name()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.common.nboutputs()?.max(1))
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        self.common.rules(s, inputs, outputs)
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let batch_first = self.common.batch_first;
        let mut ins: TVec<OutletId> = inputs.into();
        if batch_first {
            // [batch, seq, I] -> [seq, batch, I]; states [batch, dirs, H] -> [dirs, batch, H].
            let moved = [Some(0), self.op.initial_h, self.op.initial_c];
            for (k, slot) in moved.into_iter().flatten().enumerate() {
                let name = format!("{prefix}.layout0_{k}");
                ins[slot] = model.wire_node(name, AxisOp::Move(1, 0), &[ins[slot]])?[0];
            }
        }
        let seq = model.outlet_fact(ins[0])?.shape[0].clone();
        let rec = model.wire_node(prefix, self.op.clone(), &ins)?[0];
        let mut wire = |name: &str, op: Box<dyn TypedOp>, x: OutletId| -> TractResult<OutletId> {
            Ok(model.wire_node(format!("{prefix}.{name}"), op, &[x])?[0])
        };
        let row = |at: TDim| -> Box<dyn TypedOp> { Box::new(Slice::new(0, at.clone(), at + 1)) };
        let mut outs = tvec![rec; self.nboutputs()?];
        if let Some(slot) = self.common.optional_y_output {
            let mut y = wire("y", Box::new(Slice::new(0, 0, seq.clone())), rec)?;
            if batch_first {
                y = wire("y_layout1", Box::new(AxisOp::Move(2, 0)), y)?;
            }
            outs[slot] = y;
        }
        let states = [
            (self.common.optional_y_h_output, seq.clone(), "y_h"),
            (self.common.optional_y_c_output, seq + 1, "y_c"),
        ];
        for (slot, at, name) in states {
            let Some(slot) = slot else { continue };
            let t = wire(&format!("{name}_row"), row(at), rec)?;
            let mut t = wire(name, Box::new(AxisOp::Rm(0)), t)?;
            if batch_first {
                t = wire(&format!("{name}_layout1"), Box::new(AxisOp::Move(1, 0)), t)?;
            }
            outs[slot] = t;
        }
        Ok(outs)
    }
}

fn parse_lstm(
    _: &ParsingContext,
    pb: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    parse(pb, Cell::Lstm)
}

fn parse_gru(
    _: &ParsingContext,
    pb: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let lbr = pb.get_attr_opt::<i64>("linear_before_reset")?.unwrap_or(0) != 0;
    parse(
        pb,
        Cell::Gru {
            linear_before_reset: lbr,
        },
    )
}

fn parse_rnn(
    _: &ParsingContext,
    pb: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    parse(pb, Cell::Rnn(RnnAct::Tanh))
}

/// ONNX's default activations of `cell`, per direction.
fn default_activations(cell: Cell) -> &'static [&'static str] {
    match cell {
        Cell::Lstm => &["Sigmoid", "Tanh", "Tanh"],
        Cell::Gru { .. } => &["Sigmoid", "Tanh"],
        Cell::Rnn(_) => &["Tanh"],
    }
}

fn parse(pb: &NodeProto, mut cell: Cell) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let common = CommonRec::from_node_and_options(pb, 3, 0, Box::new(Gates(cell)))?;
    let mut unsupported = Vec::new();
    let direction = match pb.get_attr_opt::<&str>("direction")?.unwrap_or("forward") {
        "forward" => 0,
        "reverse" => 1,
        "bidirectional" => 2,
        other => {
            unsupported.push(format!("direction '{other}'"));
            0
        }
    };
    let dirs = if direction == 2 { 2 } else { 1 };
    if let Some(acts) = pb.get_attr_opt_vec::<String>("activations")? {
        let defaults = default_activations(cell);
        let rnn = matches!(cell, Cell::Rnn(_));
        let per_dir: Vec<&[String]> = acts.chunks(defaults.len()).collect();
        let same = acts.len() == defaults.len() * dirs && per_dir.iter().all(|a| *a == per_dir[0]);
        match (rnn, same) {
            (true, true) => match per_dir[0][0].as_str() {
                "Tanh" => cell = Cell::Rnn(RnnAct::Tanh),
                "Relu" => cell = Cell::Rnn(RnnAct::Relu),
                "Sigmoid" => cell = Cell::Rnn(RnnAct::Sigmoid),
                other => unsupported.push(format!("activation {other}")),
            },
            (false, true)
                if per_dir[0]
                    .iter()
                    .map(String::as_str)
                    .eq(defaults.iter().copied()) => {}
            _ => unsupported.push(format!(
                "activations {acts:?} (supported: {defaults:?}{})",
                if rnn {
                    " with Tanh, Relu or Sigmoid"
                } else {
                    ""
                }
            )),
        }
    }
    if pb.get_attr_opt::<i64>("input_forget")?.unwrap_or(0) != 0 {
        unsupported.push("input_forget = 1".into());
    }
    let clip = pb.get_attr_opt::<f32>("clip")?.unwrap_or(f32::INFINITY);
    if clip.is_nan() || clip <= 0.0 {
        unsupported.push(format!("clip {clip} (must be positive)"));
    }
    let op = Recurrent {
        cell,
        direction,
        clip_bits: clip.to_bits(),
        bias: common.optional_bias_input,
        seq_lens: common.optional_sequence_lens_input,
        initial_h: common.optional_initial_h_input,
        initial_c: common.optional_initial_c_input,
        peepholes: common.optional_p_input,
        unsupported: (!unsupported.is_empty()).then(|| unsupported.join(", ")),
    };
    Ok((expand(RecExpansion { common, op }), vec![]))
}

/// Lowers a [`Recurrent`] op: ONNX `W` and `R` transposed to `[dirs, I|H, G·H]`,
/// absent bias and states as zero constants.
pub(super) fn lower(cx: &mut Cx, node: &TypedNode) -> LResult<Option<TensorId>> {
    let Some(op) = node.op_as::<Recurrent>() else {
        return Ok(None);
    };
    if let Some(reason) = &op.unsupported {
        return Err(format!("unsupported {reason}"));
    }
    let input = |slot: Option<usize>| slot.map(|s| node.inputs[s]);
    let [seq, batch, _] = cx.shape_of(node.inputs[0])?[..] else {
        return Err("X must have rank 3".into());
    };
    let [dirs, gw, hidden] = cx.shape_of(node.inputs[2])?[..] else {
        return Err("R must have rank 3".into());
    };
    if dirs != if op.direction == 2 { 2 } else { 1 } {
        return Err(format!(
            "{dirs} weight directions for direction {}",
            op.direction
        ));
    }
    if let Some(o) = input(op.seq_lens) {
        let full = cx
            .konst(o)
            .and_then(|k| super::values::<i64>(&k).ok())
            .is_some_and(|v| v.iter().all(|&l| l == seq as i64));
        if !full {
            return Err("sequence_lens other than a constant full length".into());
        }
    }
    let x = cx.tensor(node.inputs[0])?;
    let w = cx.tensor(node.inputs[1])?;
    let w = cx.transpose(w, &[0, 2, 1]);
    let r = cx.tensor(node.inputs[2])?;
    let r = cx.transpose(r, &[0, 2, 1]);
    let zeros = |cx: &mut Cx, what: &str, shape: Vec<usize>| {
        let name = cx.graph.fresh_name(&format!("{}.{what}", node.name));
        let n = shape.iter().product();
        cx.graph.add_const(name, shape, vec![0.0; n])
    };
    let b = match input(op.bias) {
        Some(o) => cx.tensor(o)?,
        None => zeros(cx, "b", vec![dirs, 2 * gw]),
    };
    let state = vec![dirs, batch, hidden];
    let h0 = match input(op.initial_h) {
        Some(o) => cx.tensor(o)?,
        None => zeros(cx, "h0", state.clone()),
    };
    let mut inputs = vec![x, w, r, b, h0];
    if op.cell == Cell::Lstm {
        inputs.push(match input(op.initial_c) {
            Some(o) => cx.tensor(o)?,
            None => zeros(cx, "c0", state),
        });
        if let Some(o) = input(op.peepholes) {
            inputs.push(cx.tensor(o)?);
        }
    }
    let shape = cx.shape_of(node.id.into())?;
    let lowered = IrOp::Recurrent {
        cell: op.cell,
        direction: op.direction,
        clip: f32::from_bits(op.clip_bits),
    };
    Ok(Some(cx.emit(lowered, inputs, shape)))
}
