//! Lowering of elementwise arithmetic, activations, reductions and softmax
//! (tract `TypedBinOp`, `ElementWiseOp`, `Reduce`, `Softmax`).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::math::PowConst;
use tract_onnx::tract_core::ops::nn::{LeakyRelu, Reduce, Reducer, Softmax, SoftmaxKind};

use super::{Cx, LResult};
use crate::ir::{Op, TensorId};
use ferrite::kernels::elementwise::{BinaryKind, UnaryKind};
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
