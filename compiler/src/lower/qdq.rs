//! Pre-quantized ONNX (QDQ): `QuantizeLinear -> DequantizeLinear` pairs on
//! activations (tract `QuantizeLinearI8/U8` then `DequantizeLinearF32`).
//!
//! The pair becomes one [`Op::FakeQuant`] carrying the pair's parameters
//! (u8 parameters converted exactly to s8: `zero_point - 128`). Weight
//! pairs never get here: tract folds `DequantizeLinear` of a constant, so
//! weights arrive as the `f32` values the model's int8 codes stand for.
//! `--quantize int8` then uses these parameters for the tensor instead of
//! a calibrated range; an `f32` compile runs each pair as the runtime's
//! Quantize and Dequantize.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::quant::{DequantizeLinearF32, QuantizeLinearI8, QuantizeLinearU8};

use super::{Cx, LResult};
use crate::ir::{Op, Quant, TensorId};

/// A QuantizeLinear output: its (f32) input tensor and the zero-point
/// offset of its element type (-128 for u8, 0 for i8).
#[derive(Clone, Copy, Debug)]
pub(super) struct Pending {
    input: TensorId,
    zp: i32,
    offset: i32,
}

pub(super) fn lower(cx: &mut Cx, node: &TypedNode) -> LResult<Option<TensorId>> {
    if let Some(ew) = node.op_as::<ElementWiseOp>() {
        let zp = if let Some(q) = ew.0.downcast_ref::<QuantizeLinearI8>() {
            Some((q.zero_point as i32, 0))
        } else {
            ew.0.downcast_ref::<QuantizeLinearU8>()
                .map(|q| (q.zero_point as i32, -128))
        };
        let Some((zp, offset)) = zp else {
            return Ok(None);
        };
        let input = cx.tensor(node.inputs[0])?;
        cx.pending_q.insert(
            OutletId::new(node.id, 0),
            Pending {
                input,
                zp: zp + offset,
                offset,
            },
        );
        // The int8 value itself is never materialized; the Dequantize reads it.
        return Ok(Some(input));
    }
    if let Some(dq) = node.op_as::<DequantizeLinearF32>() {
        let Some(p) = cx.pending_q.get(&node.inputs[0]).copied() else {
            return Err("DequantizeLinear of a value that is not a QuantizeLinear output".into());
        };
        let zero_point = dq.zero_point + p.offset;
        if zero_point != p.zp || !(-128..=127).contains(&zero_point) {
            return Err(format!(
                "QuantizeLinear and DequantizeLinear disagree on the zero point ({} vs {})",
                p.zp, zero_point
            ));
        }
        if !(dq.scale.is_finite() && dq.scale > 0.0) {
            return Err(format!("scale {} is not a positive number", dq.scale));
        }
        let shape = cx.graph.tensors[p.input].shape.clone();
        let q = Quant {
            scale: dq.scale,
            zero_point,
        };
        return Ok(Some(cx.emit(Op::FakeQuant(q), vec![p.input], shape)));
    }
    Ok(None)
}
