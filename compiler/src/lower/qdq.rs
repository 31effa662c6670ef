//! Pre-quantized ONNX (QDQ): `QuantizeLinear` and `DequantizeLinear` on
//! activations (tract `QuantizeLinearI8/U8`, `DequantizeLinearF32`).
//!
//! A quantized (u8 or s8) value of the model is never materialized: it is
//! represented by an `f32` tensor holding the value it stands for, the
//! output of one [`Op::FakeQuant`] carrying its parameters (u8 converted
//! exactly to s8: `zero_point - 128`). `QuantizeLinear` records its input
//! as pending; its first consumer (`DequantizeLinear`, or a QLinear op of
//! [`super::qlinear`]) emits the `FakeQuant` with the exact scale the
//! consumer states (tract keeps only `1/scale` on `QuantizeLinear`), and
//! every later consumer must state the same parameters. Weight pairs never
//! get here: tract folds `DequantizeLinear` of a constant, so weights
//! arrive as the `f32` values their codes stand for.
//!
//! `--quantize int8` then uses these parameters for the tensor instead of
//! a calibrated range; an `f32` compile runs each pair as the runtime's
//! Quantize and Dequantize.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::quant::{DequantizeLinearF32, QuantizeLinearI8, QuantizeLinearU8};

use super::{Cx, LResult};
use crate::ir::{Op, Quant, TensorId};

/// A quantized value of the model.
#[derive(Clone, Copy, Debug)]
pub(super) enum QValue {
    /// A `QuantizeLinear` output no consumer has read yet: its `f32` input,
    /// the s8 zero point and tract's `1/scale`.
    Pending {
        input: TensorId,
        zero_point: i32,
        recip: f32,
    },
    /// The `f32` tensor (a `FakeQuant` output) and its parameters.
    Done { t: TensorId, q: Quant },
}

/// The s8 offset of a quantized element type: -128 for u8, 0 for i8.
pub(super) fn offset(dt: DatumType) -> LResult<i32> {
    match dt.unquantized() {
        DatumType::U8 => Ok(-128),
        DatumType::I8 => Ok(0),
        dt => Err(format!("quantized type {dt:?} (only u8 and i8)")),
    }
}

/// Checks a (scale, s8 zero point) pair the model states.
pub(super) fn quant(scale: f32, zero_point: i32) -> LResult<Quant> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(format!("scale {scale} is not a positive number"));
    }
    if !(-128..=127).contains(&zero_point) {
        return Err(format!("zero point {zero_point} outside the 8-bit range"));
    }
    Ok(Quant { scale, zero_point })
}

/// The `f32` tensor standing for the quantized value `o`, which the
/// consumer `what` reads with parameters `q`.
pub(super) fn dequantized(cx: &mut Cx, o: OutletId, q: Quant, what: &str) -> LResult<TensorId> {
    match cx.quantized.get(&o).copied() {
        Some(QValue::Pending {
            input,
            zero_point,
            recip,
        }) => {
            // tract stores 1/scale as f32; the consumer's scale must be its
            // reciprocal up to that rounding.
            let rel = ((q.scale as f64 * recip as f64) - 1.0).abs();
            if zero_point != q.zero_point || rel > 1e-6 {
                return Err(format!(
                    "{what} reads a QuantizeLinear output with scale {} and zero point {} \
                     but it was quantized with scale {} and zero point {}",
                    q.scale,
                    q.zero_point,
                    1.0 / recip,
                    zero_point
                ));
            }
            let shape = cx.graph.tensors[input].shape.clone();
            let t = cx.emit(Op::FakeQuant(q), vec![input], shape);
            cx.quantized.insert(o, QValue::Done { t, q });
            Ok(t)
        }
        Some(QValue::Done { t, q: have }) => {
            if have != q {
                return Err(format!(
                    "{what} reads a quantized value with scale {} and zero point {} \
                     but it was quantized with scale {} and zero point {}",
                    q.scale, q.zero_point, have.scale, have.zero_point
                ));
            }
            Ok(t)
        }
        None => Err(format!(
            "{what} of a value that is not a QuantizeLinear or QLinear output"
        )),
    }
}

pub(super) fn lower(cx: &mut Cx, node: &TypedNode) -> LResult<Option<TensorId>> {
    if let Some(ew) = node.op_as::<ElementWiseOp>() {
        let q = if let Some(q) = ew.0.downcast_ref::<QuantizeLinearI8>() {
            Some((q.scale, q.zero_point as i32))
        } else {
            ew.0.downcast_ref::<QuantizeLinearU8>()
                .map(|q| (q.scale, q.zero_point as i32 - 128))
        };
        let Some((recip, zero_point)) = q else {
            return Ok(None);
        };
        let input = cx.tensor(node.inputs[0])?;
        cx.quantized.insert(
            OutletId::new(node.id, 0),
            QValue::Pending {
                input,
                zero_point,
                recip,
            },
        );
        // The quantized value itself is never materialized.
        return Ok(Some(input));
    }
    if let Some(dq) = node.op_as::<DequantizeLinearF32>() {
        let dt = cx
            .model
            .outlet_fact(node.inputs[0])
            .map_err(|e| e.to_string())?
            .datum_type;
        let q = quant(dq.scale, dq.zero_point + offset(dt)?)?;
        return dequantized(cx, node.inputs[0], q, "DequantizeLinear").map(Some);
    }
    Ok(None)
}
