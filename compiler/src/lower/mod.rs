//! Lowering tract's typed `TypedModel` to the Ferrite IR, one file per op
//! family. tract expands many ONNX ops while typing (Relu becomes `Max(x, 0)`,
//! Gemm an `EinSum` plus `Add`, GlobalAveragePool a `Sum` and a `Div`,
//! BatchNormalization a `Mul` and an `Add`), so lowering matches tract ops and
//! the passes fuse the patterns.
//!
//! Every node is visited even after a failure, so that all unsupported nodes
//! are reported together.

mod arith;
mod array;
mod cnn;
mod einsum;
mod qdq;
mod qlinear;
pub(crate) mod recurrent;

use std::collections::HashMap;

use anyhow::Result;
use tract_onnx::prelude::*;

use crate::ir::{Graph, Node, Op, TensorId};

/// Why one node could not be lowered.
#[derive(Debug, Clone)]
pub struct Unsupported {
    /// Node name in the model.
    pub node: String,
    /// tract op name.
    pub op: String,
    /// What is missing.
    pub reason: String,
}

/// A lowering failure for the node being visited.
pub(crate) type LResult<T> = std::result::Result<T, String>;

/// State of the lowering walk.
pub(crate) struct Cx<'a> {
    pub model: &'a TypedModel,
    pub graph: Graph,
    map: HashMap<OutletId, TensorId>,
    /// Values of outlets computed at compile time (tract evaluates the ops).
    folded: HashMap<OutletId, Arc<Tensor>>,
    node_name: String,
    /// The quantized (u8 / s8) values of the model ([`qdq`]).
    quantized: HashMap<OutletId, qdq::QValue>,
}

impl<'a> Cx<'a> {
    /// The concrete shape of an outlet.
    pub fn shape_of(&self, o: OutletId) -> LResult<Vec<usize>> {
        let fact = self.model.outlet_fact(o).map_err(|e| e.to_string())?;
        fact.shape.as_concrete().map(|s| s.to_vec()).ok_or_else(|| {
            format!(
                "shape {:?} is not concrete (fix symbolic dims with --input-shape)",
                fact.shape
            )
        })
    }

    /// The constant value of an outlet, if tract knows it.
    pub fn konst(&self, o: OutletId) -> Option<Arc<Tensor>> {
        if let Some(k) = self.folded.get(&o) {
            return Some(k.clone());
        }
        self.model.outlet_fact(o).ok()?.konst.clone()
    }

    /// Evaluates `node` at compile time when all its inputs are constants.
    fn fold(&mut self, node: &TypedNode) -> bool {
        if node.inputs.is_empty() {
            return false;
        }
        let Some(inputs) = node
            .inputs
            .iter()
            .map(|&i| self.konst(i).map(|k| k.into_tvalue()))
            .collect::<Option<TVec<TValue>>>()
        else {
            return false;
        };
        let eval = crate::onnx_check::guard_importer("constant folding", || {
            node.op.eval_out_of_plan(inputs)
        });
        match eval {
            Ok(Some(outs)) => {
                for (slot, v) in outs.into_iter().enumerate() {
                    self.folded
                        .insert(OutletId::new(node.id, slot), v.into_arc_tensor());
                }
                true
            }
            _ => false,
        }
    }

    /// The constant value of an outlet as `f32`s.
    pub fn konst_f32(&self, o: OutletId) -> Option<Vec<f32>> {
        let k = self.konst(o)?;
        values::<f32>(&k).ok()
    }

    /// The IR tensor of an outlet: already lowered, or a constant made now.
    pub fn tensor(&mut self, o: OutletId) -> LResult<TensorId> {
        if let Some(&t) = self.map.get(&o) {
            return Ok(t);
        }
        let Some(k) = self.konst(o) else {
            return Err(format!("input {o:?} was not lowered"));
        };
        let data = values::<f32>(&k).map_err(|_| {
            format!(
                "constant of type {:?} cannot be used as f32",
                k.datum_type()
            )
        })?;
        let name = self.model.node(o.node).name.clone();
        let name = self.graph.fresh_name(&name);
        let t = self.graph.add_const(name, k.shape().to_vec(), data);
        self.map.insert(o, t);
        Ok(t)
    }

    /// Adds a node computing a new tensor of `shape`; returns the tensor.
    pub fn emit(&mut self, op: Op, inputs: Vec<TensorId>, shape: Vec<usize>) -> TensorId {
        let name = self.graph.fresh_name(&self.node_name);
        let out = self.graph.add_tensor(name.clone(), shape, None);
        self.graph.nodes.push(Node {
            name,
            op,
            inputs,
            output: out,
        });
        out
    }

    /// Transposes `t`, folding constants at compile time.
    pub fn transpose(&mut self, t: TensorId, perm: &[usize]) -> TensorId {
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return t;
        }
        let shape: Vec<usize> = perm
            .iter()
            .map(|&p| self.graph.tensors[t].shape[p])
            .collect();
        if let Some(d) = self.graph.tensors[t].const_f32() {
            let data = crate::util::transpose(d, &self.graph.tensors[t].shape, perm);
            let name = self
                .graph
                .fresh_name(&format!("{}.T", self.graph.tensors[t].name));
            return self.graph.add_const(name, shape, data);
        }
        self.emit(Op::Transpose(perm.to_vec()), vec![t], shape)
    }

    /// Reshapes `t`, folding constants at compile time.
    pub fn reshape(&mut self, t: TensorId, shape: Vec<usize>) -> TensorId {
        if self.graph.tensors[t].shape == shape {
            return t;
        }
        if let Some(d) = self.graph.tensors[t].const_f32() {
            let data = d.to_vec();
            let name = self
                .graph
                .fresh_name(&format!("{}.r", self.graph.tensors[t].name));
            return self.graph.add_const(name, shape, data);
        }
        self.emit(Op::Reshape, vec![t], shape)
    }

    /// Lowers a single-op node whose output shape is tract's.
    pub fn simple(&mut self, node: &TypedNode, op: Op, inputs: &[OutletId]) -> LResult<TensorId> {
        let ins = inputs
            .iter()
            .map(|&i| self.tensor(i))
            .collect::<LResult<Vec<_>>>()?;
        let shape = self.shape_of(node.id.into())?;
        Ok(self.emit(op, ins, shape))
    }
}

/// The elements of a constant, converted to `T`, in row-major order.
pub(crate) fn values<T: Datum + Copy>(t: &Tensor) -> LResult<Vec<T>> {
    let c = t.cast_to::<T>().map_err(|e| e.to_string())?;
    let v = c.to_plain_array_view::<T>().map_err(|e| e.to_string())?;
    Ok(v.iter().copied().collect())
}

/// Lowers a typed model. `Err` lists every node that could not be lowered.
pub fn lower(model: &TypedModel) -> Result<std::result::Result<Graph, Vec<Unsupported>>> {
    let mut cx = Cx {
        model,
        graph: Graph::default(),
        map: HashMap::new(),
        folded: HashMap::new(),
        quantized: HashMap::new(),
        node_name: String::new(),
    };
    let mut errors = Vec::new();
    let mut failed = std::collections::HashSet::new();
    for &o in model.input_outlets()? {
        let name = model.node(o.node).name.clone();
        let fact = model.outlet_fact(o)?;
        if fact.datum_type != f32::datum_type() {
            errors.push(Unsupported {
                node: name.clone(),
                op: "Source".into(),
                reason: format!(
                    "input type {:?} (only f32 inputs are supported)",
                    fact.datum_type
                ),
            });
        }
        match cx.shape_of(o) {
            Ok(shape) => {
                let t = cx.graph.add_tensor(name, shape, None);
                cx.graph.inputs.push(t);
                cx.map.insert(o, t);
            }
            Err(reason) => {
                failed.insert(o.node);
                errors.push(Unsupported {
                    node: name,
                    op: "Source".into(),
                    reason,
                });
            }
        }
    }
    for id in model.eval_order()? {
        let node = model.node(id);
        if node.op_is::<tract_onnx::tract_core::ops::source::TypedSource>() {
            continue;
        }
        if node.outputs.len() == 1 && node.outputs[0].fact.konst.is_some() {
            continue; // constants are materialized when used
        }
        if cx.fold(node) {
            continue;
        }
        if arith::is_select_condition(model, node) {
            continue; // consumed by the `Iff` lowering
        }
        // Below a node whose shape is unknown nothing can be checked.
        if node.inputs.iter().any(|i| failed.contains(&i.node)) {
            failed.insert(id);
            continue;
        }
        cx.node_name = node.name.clone();
        let res = lower_node(&mut cx, node);
        match res {
            Ok(t) => {
                cx.map.insert(OutletId::new(id, 0), t);
            }
            Err(reason) => {
                errors.push(Unsupported {
                    node: node.name.clone(),
                    op: node.op.name().to_string(),
                    reason,
                });
                // A stand-in output lets the nodes downstream be checked too,
                // so that every unsupported node is reported in one go.
                match cx.shape_of(OutletId::new(id, 0)) {
                    Ok(shape) => {
                        let t = cx.graph.add_tensor(node.name.clone(), shape, None);
                        cx.map.insert(OutletId::new(id, 0), t);
                    }
                    Err(_) => {
                        failed.insert(id);
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    for (i, &o) in model.output_outlets()?.iter().enumerate() {
        let t = match cx.tensor(o) {
            Ok(t) => t,
            Err(reason) => {
                errors.push(Unsupported {
                    node: format!("output {i}"),
                    op: "Output".into(),
                    reason,
                });
                continue;
            }
        };
        let label = model
            .outlet_label(o)
            .map(str::to_string)
            .unwrap_or_else(|| model.node(o.node).name.clone());
        // A constant output is copied into the arena, where outputs live; an
        // output that is a graph input (an identity model) is copied too,
        // so that both keep their names.
        let t = if cx.graph.is_const(t) || cx.graph.inputs.contains(&t) {
            let shape = cx.graph.tensors[t].shape.clone();
            cx.node_name = format!("{}.copy", cx.graph.tensors[t].name);
            cx.emit(Op::Reshape, vec![t], shape)
        } else {
            t
        };
        cx.graph.outputs.push(t);
        // Outputs keep the name the ONNX model gives them.
        if cx.graph.tensors.iter().all(|x| x.name != label) {
            cx.graph.tensors[t].name = label;
        }
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    Ok(Ok(cx.graph))
}

fn lower_node(cx: &mut Cx, node: &TypedNode) -> LResult<TensorId> {
    if node.outputs.len() != 1 {
        return Err(format!(
            "{} outputs (only single-output ops are supported)",
            node.outputs.len()
        ));
    }
    if let Some(t) = qdq::lower(cx, node)? {
        return Ok(t);
    }
    if let Some(t) = qlinear::lower(cx, node)? {
        return Ok(t);
    }
    let fact = &node.outputs[0].fact;
    if fact.datum_type != f32::datum_type() {
        return Err(format!(
            "computes {:?} at run time (only f32 tensors are supported)",
            fact.datum_type
        ));
    }
    if let Some(t) = cnn::lower(cx, node)? {
        return Ok(t);
    }
    if let Some(t) = recurrent::lower(cx, node)? {
        return Ok(t);
    }
    if let Some(t) = arith::lower(cx, node)? {
        return Ok(t);
    }
    if let Some(t) = einsum::lower(cx, node)? {
        return Ok(t);
    }
    if let Some(t) = array::lower(cx, node)? {
        return Ok(t);
    }
    Err("no lowering for this op".into())
}
