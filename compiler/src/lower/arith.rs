//! Lowering of elementwise arithmetic, activations, reductions and softmax
//! (tract `TypedBinOp`, `ElementWiseOp`, `Reduce`, `Softmax`).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::logic::Iff;
use tract_onnx::tract_core::ops::math::PowConst;
use tract_onnx::tract_core::ops::nn::{
    GeluApproximate, LeakyRelu, Reduce, Reducer, Softmax, SoftmaxKind,
};

use super::{Cx, LResult};
use crate::ir::{Op, TensorId};
use ferrite::kernels::elementwise::{BinaryKind, CmpKind, UnaryKind};
use ferrite::kernels::reduce::ReduceKind;
use ferrite::kernels::Act;

pub(super) fn lower(cx: &mut Cx, node: &TypedNode) -> LResult<Option<TensorId>> {
    if let Some(op) = node.op_as::<TypedBinOp>() {
        let kind = match op.0.name() {
            "Add" => BinaryKind::Add,
            "Sub" => BinaryKind::Sub,
            "Mul" => BinaryKind::Mul,
            "Div" => BinaryKind::Div,
            "Max" => BinaryKind::Max,
            "Min" => BinaryKind::Min,
            "Pow" => BinaryKind::Pow,
            other => return Err(format!("binary op {other}")),
        };
        return cx
            .simple(
                node,
                Op::Binary {
                    kind,
                    act: Act::None,
                },
                &node.inputs,
            )
            .map(Some);
    }
    if node.op_is::<Iff>() {
        return select(cx, node).map(Some);
    }
    if let Some(op) = node.op_as::<ElementWiseOp>() {
        return elementwise(cx, node, op).map(Some);
    }
    if let Some(op) = node.op_as::<Reduce>() {
        let kind = match op.reducer {
            Reducer::Sum => ReduceKind::Sum,
            Reducer::Max => ReduceKind::Max,
            Reducer::Min => ReduceKind::Min,
            Reducer::Prod => ReduceKind::Prod,
            Reducer::MeanOfSquares => {
                let x = cx.tensor(node.inputs[0])?;
                let shape = cx.graph.tensors[x].shape.clone();
                let sq = cx.emit(
                    Op::Binary {
                        kind: BinaryKind::Mul,
                        act: Act::None,
                    },
                    vec![x, x],
                    shape,
                );
                let mut axes: Vec<usize> = op.axes.to_vec();
                axes.sort_unstable();
                let out = cx.shape_of(node.id.into())?;
                return Ok(Some(cx.emit(
                    Op::Reduce {
                        kind: ReduceKind::Mean,
                        axes,
                    },
                    vec![sq],
                    out,
                )));
            }
            r => return Err(format!("reducer {r:?}")),
        };
        let mut axes: Vec<usize> = op.axes.to_vec();
        axes.sort_unstable();
        return cx
            .simple(node, Op::Reduce { kind, axes }, &node.inputs)
            .map(Some);
    }
    if let Some(op) = node.op_as::<Softmax>() {
        if op.axes.len() != 1 || op.quant_output_dt.is_some() {
            return Err(format!("softmax over axes {:?}", op.axes));
        }
        let log = op.kind == SoftmaxKind::LogSoftmax;
        return cx
            .simple(
                node,
                Op::Softmax {
                    axis: op.axes[0],
                    log,
                },
                &node.inputs,
            )
            .map(Some);
    }
    Ok(None)
}

fn elementwise(cx: &mut Cx, node: &TypedNode, op: &ElementWiseOp) -> LResult<TensorId> {
    let mini = &op.0;
    if let Some(l) = mini.downcast_ref::<LeakyRelu>() {
        return cx.simple(node, Op::Unary(UnaryKind::LeakyRelu(l.alpha)), &node.inputs);
    }
    if let Some(g) = mini.downcast_ref::<GeluApproximate>() {
        if g.fast_impl {
            return Err("GELU approximation with x^2 (tract's fast form)".into());
        }
        return cx.simple(node, Op::Unary(UnaryKind::GeluTanh), &node.inputs);
    }
    if let Some(p) = mini.downcast_ref::<PowConst>() {
        let x = cx.tensor(node.inputs[0])?;
        let name = cx.graph.fresh_name(&format!("{}.exponent", node.name));
        let e = cx.graph.add_const(name, vec![], vec![p.exponent]);
        let shape = cx.shape_of(node.id.into())?;
        return Ok(cx.emit(
            Op::Binary {
                kind: BinaryKind::Pow,
                act: Act::None,
            },
            vec![x, e],
            shape,
        ));
    }
    let kind = match mini.name().as_str() {
        "Sigmoid" => UnaryKind::Sigmoid,
        "Tanh" => UnaryKind::Tanh,
        "Sqrt" => UnaryKind::Sqrt,
        "Exp" => UnaryKind::Exp,
        "Ln" => UnaryKind::Log,
        "Abs" => UnaryKind::Abs,
        "Neg" => UnaryKind::Neg,
        "Recip" => UnaryKind::Reciprocal,
        "Erf" => UnaryKind::Erf,
        "HardSwish" => UnaryKind::HardSwish,
        "Floor" => UnaryKind::Floor,
        "Ceil" => UnaryKind::Ceil,
        "RoundHalfToEven" => UnaryKind::Round,
        "Square" => {
            let x = cx.tensor(node.inputs[0])?;
            let shape = cx.shape_of(node.id.into())?;
            return Ok(cx.emit(
                Op::Binary {
                    kind: BinaryKind::Mul,
                    act: Act::None,
                },
                vec![x, x],
                shape,
            ));
        }
        "Rsqrt" => {
            let x = cx.tensor(node.inputs[0])?;
            let shape = cx.shape_of(node.id.into())?;
            let s = cx.emit(Op::Unary(UnaryKind::Sqrt), vec![x], shape.clone());
            return Ok(cx.emit(Op::Unary(UnaryKind::Reciprocal), vec![s], shape));
        }
        other => return Err(format!("elementwise op {other}")),
    };
    cx.simple(node, Op::Unary(kind), &node.inputs)
}

/// A boolean comparison whose only readers are `Iff` nodes (lowered as a pattern there).
pub(super) fn is_select_condition(model: &TypedModel, node: &TypedNode) -> bool {
    node.outputs.len() == 1
        && node.outputs[0].fact.datum_type == bool::datum_type()
        && !node.outputs[0].successors.is_empty()
        && node.outputs[0]
            .successors
            .iter()
            .all(|s| model.node(s.node).op_is::<Iff>())
}

/// ONNX `Where`: the PRelu pattern, or a select on one fused comparison of
/// f32 tensors (the runtime has no boolean tensors).
fn select(cx: &mut Cx, node: &TypedNode) -> LResult<TensorId> {
    if let Some(t) = prelu(cx, node)? {
        return Ok(t);
    }
    let cond = cx.model.node(node.inputs[0].node);
    let cmp = cond.op_as::<TypedBinOp>().and_then(|b| match b.0.name() {
        "LT" => Some(CmpKind::Lt),
        "LTE" => Some(CmpKind::Le),
        "GT" => Some(CmpKind::Gt),
        "GTE" => Some(CmpKind::Ge),
        "Eq" => Some(CmpKind::Eq),
        "NE" => Some(CmpKind::Ne),
        _ => None,
    });
    let f32_operands = cond.inputs.iter().all(|&i| {
        cx.model
            .outlet_fact(i)
            .is_ok_and(|f| f.datum_type == f32::datum_type())
    });
    let Some(cmp) = cmp.filter(|_| f32_operands && is_select_condition(cx.model, cond)) else {
        return Err(format!(
            "Where whose condition is not one comparison of f32 tensors (op {})",
            cond.op.name()
        ));
    };
    let ins = [
        cond.inputs[0],
        cond.inputs[1],
        node.inputs[1],
        node.inputs[2],
    ]
    .iter()
    .map(|&o| cx.tensor(o))
    .collect::<LResult<Vec<_>>>()?;
    let shape = cx.shape_of(node.id.into())?;
    Ok(cx.emit(Op::Select(cmp), ins, shape))
}

/// `Iff(x > 0, x, x * slope)`: tract's expansion of ONNX `PRelu` (and
/// LeakyRelu written out by exporters) becomes a `PRelu` op.
fn prelu(cx: &mut Cx, node: &TypedNode) -> LResult<Option<TensorId>> {
    let unsupported = || Ok(None);
    let cond = cx.model.node(node.inputs[0].node);
    let Some(cmp) = cond.op_as::<TypedBinOp>() else {
        return unsupported();
    };
    let is_zero = |cx: &Cx, o: OutletId| {
        cx.konst_f32(o)
            .is_some_and(|v| !v.is_empty() && v.iter().all(|&z| z == 0.0))
    };
    // Which operand is x, and does the condition select x >= 0 ("positive")?
    let (x, positive) = match (
        cmp.0.name(),
        is_zero(cx, cond.inputs[0]),
        is_zero(cx, cond.inputs[1]),
    ) {
        ("GT" | "GTE", false, true) => (cond.inputs[0], true),
        ("LT" | "LTE", false, true) => (cond.inputs[0], false),
        ("GT" | "GTE", true, false) => (cond.inputs[1], false),
        ("LT" | "LTE", true, false) => (cond.inputs[1], true),
        _ => return unsupported(),
    };
    let (pass, scaled) = if positive {
        (node.inputs[1], node.inputs[2])
    } else {
        (node.inputs[2], node.inputs[1])
    };
    if pass != x {
        return unsupported();
    }
    let neg = cx.model.node(scaled.node);
    let is_mul = neg
        .op_as::<TypedBinOp>()
        .is_some_and(|b| b.0.name() == "Mul");
    if !is_mul {
        return unsupported();
    }
    let slope = if neg.inputs[0] == x {
        neg.inputs[1]
    } else if neg.inputs[1] == x {
        neg.inputs[0]
    } else {
        return unsupported();
    };
    let xt = cx.tensor(x)?;
    let st = cx.tensor(slope)?;
    let shape = cx.shape_of(node.id.into())?;
    Ok(Some(cx.emit(
        Op::Binary {
            kind: BinaryKind::PRelu,
            act: Act::None,
        },
        vec![xt, st],
        shape,
    )))
}
