//! Lowering of data-movement ops (tract `AxisOp`, `TypedConcat`, `Slice`,
//! `Pad`, `Cast`, `MultiBroadcastTo`).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::{
    Gather, MultiBroadcastTo, Pad, PadMode, Slice, StridedSlice, TypedConcat,
};
use tract_onnx::tract_core::ops::cast::Cast;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_core::ops::identity::Identity;

use super::{Cx, LResult};
use crate::ir::{Op, TensorId};
use ferrite::kernels::elementwise::BinaryKind;
use ferrite::kernels::layout::PadMode as FPad;
use ferrite::kernels::Act;

pub(super) fn lower(cx: &mut Cx, node: &TypedNode) -> LResult<Option<TensorId>> {
    if let Some(op) = node.op_as::<AxisOp>() {
        let x = cx.tensor(node.inputs[0])?;
        let y = cx.shape_of(node.id.into())?;
        return Ok(Some(match op {
            AxisOp::Move(from, to) => {
                let rank = y.len();
                let mut perm: Vec<usize> = (0..rank).collect();
                let a = perm.remove(*from);
                perm.insert(*to, a);
                cx.transpose(x, &perm)
            }
            _ => {
                // Add, Rm and Reshape keep the row-major element order.
                let t = cx.reshape(x, y.clone());
                if t == x {
                    cx.emit(Op::Reshape, vec![x], y)
                } else {
                    t
                }
            }
        }));
    }
    if let Some(op) = node.op_as::<TypedConcat>() {
        return cx.simple(node, Op::Concat(op.axis), &node.inputs).map(Some);
    }
    if let Some(op) = node.op_as::<Slice>() {
        let x = cx.shape_of(node.inputs[0])?;
        let start = op
            .start
            .to_i64()
            .map_err(|_| "symbolic slice start".to_string())?;
        let mut starts = vec![0; x.len()];
        starts[op.axis] = start as usize;
        let steps = vec![1; x.len()];
        return cx
            .simple(node, Op::Slice { starts, steps }, &node.inputs[..1])
            .map(Some);
    }
    if let Some(op) = node.op_as::<StridedSlice>() {
        return strided_slice(cx, node, op).map(Some);
    }
    if node.op_is::<Identity>() {
        let x = cx.tensor(node.inputs[0])?;
        let shape = cx.graph.tensors[x].shape.clone();
        return Ok(Some(cx.emit(Op::Reshape, vec![x], shape)));
    }
    if let Some(op) = node.op_as::<Pad>() {
        let (mode, value) = match &op.mode {
            PadMode::Constant(v) => {
                let v = super::values::<f32>(v)?;
                (FPad::Constant, v.first().copied().ok_or("empty pad value")?)
            }
            PadMode::Reflect => (FPad::Reflect, 0.0),
            PadMode::Edge => (FPad::Edge, 0.0),
        };
        let before = op.pads.iter().map(|p| p.0).collect();
        return cx
            .simple(
                node,
                Op::Pad {
                    mode,
                    value,
                    before,
                },
                &node.inputs[..1],
            )
            .map(Some);
    }
    if let Some(op) = node.op_as::<Cast>() {
        if op.to != f32::datum_type()
            || cx
                .model
                .outlet_fact(node.inputs[0])
                .map(|f| f.datum_type)
                .ok()
                != Some(f32::datum_type())
        {
            return Err(format!("cast to {:?}", op.to));
        }
        let x = cx.tensor(node.inputs[0])?;
        let shape = cx.graph.tensors[x].shape.clone();
        return Ok(Some(cx.emit(Op::Reshape, vec![x], shape)));
    }
    if let Some(op) = node.op_as::<Gather>() {
        return gather(cx, node, op.axis).map(Some);
    }
    if node.op_is::<MultiBroadcastTo>() {
        // Expand: add a zero constant of the target shape.
        let x = cx.tensor(node.inputs[0])?;
        let y = cx.shape_of(node.id.into())?;
        let name = cx.graph.fresh_name(&format!("{}.zeros", node.name));
        let n = y.iter().product();
        let z = cx.graph.add_const(name, y.clone(), vec![0.0; n]);
        return Ok(Some(cx.emit(
            Op::Binary {
                kind: BinaryKind::Add,
                act: Act::None,
            },
            vec![x, z],
            y,
        )));
    }
    Ok(None)
}

/// Most indices a `Gather` is lowered for (one `Slice` each).
const GATHER_MAX_INDICES: usize = 64;

/// ONNX `Gather` with constant indices: one row `Slice` per index along
/// `axis`, concatenated (when several) and reshaped to tract's output shape
/// (a scalar index removes the axis). A constant `data` never gets here:
/// tract folds the node.
fn gather(cx: &mut Cx, node: &TypedNode, axis: usize) -> LResult<TensorId> {
    let Some(indices) = cx.konst(node.inputs[1]) else {
        return Err("indices computed at run time (only constant indices are supported)".into());
    };
    let indices = super::values::<i64>(&indices)?;
    if indices.is_empty() || indices.len() > GATHER_MAX_INDICES {
        return Err(format!(
            "{} indices (1 to {GATHER_MAX_INDICES} are supported)",
            indices.len()
        ));
    }
    let x = cx.tensor(node.inputs[0])?;
    let xs = cx.graph.tensors[x].shape.clone();
    let dim = xs[axis] as i64;
    let mut rows = Vec::with_capacity(indices.len());
    for &i in &indices {
        let i = if i < 0 { i + dim } else { i };
        if !(0..dim).contains(&i) {
            return Err(format!(
                "index {i} out of range for axis {axis} of size {dim}"
            ));
        }
        let mut starts = vec![0; xs.len()];
        starts[axis] = i as usize;
        let mut shape = xs.clone();
        shape[axis] = 1;
        let steps = vec![1; xs.len()];
        rows.push(cx.emit(Op::Slice { starts, steps }, vec![x], shape));
    }
    let gathered = if rows.len() == 1 {
        rows[0]
    } else {
        let mut shape = xs.clone();
        shape[axis] = rows.len();
        cx.emit(Op::Concat(axis), rows, shape)
    };
    let y = cx.shape_of(node.id.into())?;
    Ok(cx.reshape(gathered, y))
}

/// ONNX `Slice` with constant starts, ends, axes and steps (tract's
/// `StridedSlice` without masks); the counts come from tract's output shape.
fn strided_slice(cx: &mut Cx, node: &TypedNode, op: &StridedSlice) -> LResult<TensorId> {
    if op.begin_mask != 0 || op.end_mask != 0 || op.shrink_axis_mask != 0 {
        return Err("strided slice with masks".into());
    }
    let x = cx.shape_of(node.inputs[0])?;
    let ints = |cx: &Cx, i: usize| -> LResult<Vec<i64>> {
        let k = cx
            .konst(node.inputs[i])
            .ok_or("slice bounds are not constant")?;
        super::values::<i64>(&k)
    };
    let begin = ints(cx, 1)?;
    let axes: Vec<i64> = match op.optional_axes_input {
        Some(i) => ints(cx, i)?,
        None => (0..begin.len() as i64).collect(),
    };
    let steps: Vec<i64> = match op.optional_steps_input {
        Some(i) => ints(cx, i)?,
        None => vec![1; begin.len()],
    };
    let mut starts = vec![0usize; x.len()];
    let mut st = vec![1isize; x.len()];
    for ((&b, &a), &s) in begin.iter().zip(&axes).zip(&steps) {
        let a = if a < 0 { a + x.len() as i64 } else { a } as usize;
        if a >= x.len() || s == 0 {
            return Err(format!("slice axis {a} or step {s} out of range"));
        }
        let d = x[a] as i64;
        let b = if b < 0 { b + d } else { b };
        let b = if s > 0 {
            b.clamp(0, d)
        } else {
            b.clamp(0, d - 1)
        };
        starts[a] = b as usize;
        st[a] = s as isize;
    }
    cx.simple(node, Op::Slice { starts, steps: st }, &node.inputs[..1])
}
