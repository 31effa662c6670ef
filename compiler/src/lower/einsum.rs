//! Lowering of tract's `EinSum` (from ONNX `MatMul` and `Gemm`) to
//! transposes, reshapes and one batched `MatMul`.
//!
//! Axes are classified as batch (in both operands and the output), m (first
//! operand and output), n (second operand and output) and k (both operands,
//! summed). Operand A is brought to `[batch.., M, K]`, B to `[batch.., K, N]`;
//! the product `[batch.., M, N]` is reshaped and transposed to the output's
//! axis order. Constant operands are rearranged at compile time.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

use super::{Cx, LResult};
use crate::ir::{Op, TensorId};
use ferrite::kernels::Act;

pub(super) fn lower(cx: &mut Cx, node: &TypedNode) -> LResult<Option<TensorId>> {
    let Some(op) = node.op_as::<EinSum>() else {
        return Ok(None);
    };
    if op.q_params.is_some() || node.inputs.len() != 2 {
        return Err("quantized or non-binary einsum".into());
    }
    let a = cx.tensor(node.inputs[0])?;
    let b = cx.tensor(node.inputs[1])?;
    matmul_of(cx, node, op, a, b).map(Some)
}

/// The `f32` product of `node`'s einsum with operands `a` and `b` (of the
/// shapes of `node`'s first two inputs).
pub(super) fn matmul_of(
    cx: &mut Cx,
    node: &TypedNode,
    op: &EinSum,
    a: TensorId,
    b: TensorId,
) -> LResult<TensorId> {
    let (ins, outs) = op.axes.to_strs();
    let (a_ax, b_ax, y_ax): (Vec<char>, Vec<char>, Vec<char>) = (
        ins[0].chars().collect(),
        ins[1].chars().collect(),
        outs[0].chars().collect(),
    );
    let a_shape = cx.shape_of(node.inputs[0])?;
    let b_shape = cx.shape_of(node.inputs[1])?;
    let y_shape = cx.shape_of(node.id.into())?;
    let dim =
        |ax: &[char], shape: &[usize], c: char| ax.iter().position(|&x| x == c).map(|p| shape[p]);
    let mut batch = vec![];
    let mut m = vec![];
    let mut n = vec![];
    let mut k = vec![];
    for &c in &y_ax {
        match (a_ax.contains(&c), b_ax.contains(&c)) {
            (true, true) => batch.push(c),
            (true, false) => m.push(c),
            (false, true) => n.push(c),
            (false, false) => {
                if dim(&y_ax, &y_shape, c) != Some(1) {
                    return Err(format!("einsum {} creates axis {c}", op.axes));
                }
            }
        }
    }
    for &c in &a_ax {
        if !y_ax.contains(&c) {
            if b_ax.contains(&c) {
                k.push(c);
            } else if dim(&a_ax, &a_shape, c) != Some(1) {
                return Err(format!("einsum {} sums axis {c} of one operand", op.axes));
            }
        }
    }
    for &c in &b_ax {
        if !y_ax.contains(&c) && !a_ax.contains(&c) && dim(&b_ax, &b_shape, c) != Some(1) {
            return Err(format!("einsum {} sums axis {c} of one operand", op.axes));
        }
    }
    if batch.len() + 2 > ferrite::format::MAX_RANK {
        return Err(format!("einsum {} has too many batch axes", op.axes));
    }
    let prod = |ax: &[char], axes: &[char], shape: &[usize]| -> usize {
        axes.iter()
            .map(|&c| dim(ax, shape, c).unwrap_or(1))
            .product()
    };
    // Operand A -> [batch.., M, K].
    let a = arrange(cx, a, &a_ax, &a_shape, &[&batch, &m, &k])?;
    let (mm, kk) = (prod(&a_ax, &m, &a_shape), prod(&a_ax, &k, &a_shape));
    let a_batch: Vec<usize> = batch
        .iter()
        .map(|&c| dim(&a_ax, &a_shape, c).unwrap_or(1))
        .collect();
    let a = cx.reshape(a, [a_batch.clone(), vec![mm, kk]].concat());
    // Operand B -> [batch.., K, N].
    let b = arrange(cx, b, &b_ax, &b_shape, &[&batch, &k, &n])?;
    let nn = prod(&b_ax, &n, &b_shape);
    let b_batch: Vec<usize> = batch
        .iter()
        .map(|&c| dim(&b_ax, &b_shape, c).unwrap_or(1))
        .collect();
    let b = cx.reshape(b, [b_batch.clone(), vec![kk, nn]].concat());
    let y_batch: Vec<usize> = a_batch
        .iter()
        .zip(&b_batch)
        .map(|(x, y)| *x.max(y))
        .collect();
    let prod_shape = [y_batch.clone(), vec![mm, nn]].concat();
    let mut y = cx.emit(Op::MatMul { act: Act::None }, vec![a, b], prod_shape);
    // [batch.., M, N] -> [batch.., m.., n..] -> output order.
    let order: Vec<char> = [batch.clone(), m.clone(), n.clone()].concat();
    let split: Vec<usize> = order
        .iter()
        .map(|&c| dim(&y_ax, &y_shape, c).unwrap_or(1))
        .collect();
    y = cx.reshape(y, split);
    let perm: Vec<usize> = y_ax
        .iter()
        .filter(|c| order.contains(c))
        .map(|c| order.iter().position(|x| x == c).unwrap_or(0))
        .collect();
    y = cx.transpose(y, &perm);
    Ok(cx.reshape(y, y_shape))
}

/// Transposes `t` (axes `ax`) so its axes come in the order of `groups`;
/// axes of `ax` in no group have size 1 and are dropped by a reshape.
fn arrange(
    cx: &mut Cx,
    t: TensorId,
    ax: &[char],
    shape: &[usize],
    groups: &[&Vec<char>],
) -> LResult<TensorId> {
    let wanted: Vec<char> = groups
        .iter()
        .flat_map(|g| g.iter().copied())
        .filter(|c| ax.contains(c))
        .collect();
    let rest: Vec<char> = ax.iter().copied().filter(|c| !wanted.contains(c)).collect();
    let order: Vec<char> = [rest.clone(), wanted.clone()].concat();
    let perm: Vec<usize> = order
        .iter()
        .map(|c| ax.iter().position(|x| x == c).unwrap_or(0))
        .collect();
    let t = cx.transpose(t, &perm);
    // Drop the leading size-1 axes and insert size-1 batch axes the operand lacks.
    let _ = shape;
    Ok(t)
}
