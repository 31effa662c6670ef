//! Elementwise unary ops and activations (ONNX `Relu`, `Clip`, `LeakyRelu`,
//! `Sigmoid`, `HardSigmoid`, `HardSwish`, `Tanh`, `Sqrt`, `Exp`, `Log`,
//! `Abs`, `Neg`, `Reciprocal`, `Erf`, `Gelu`, `Floor`, `Ceil`, `Round`), f32, any shape.
//! Parameters: `Clip` = `lo, hi`; `LeakyRelu` = `alpha`; `HardSigmoid` =
//! `alpha, beta`; others none. Output shape = input shape.

use super::{Checked, Eval, OpCode, Prep};
use crate::kernels::elementwise::UnaryKind;
use crate::model::OpInfo;

fn kind(op: &OpInfo<'_>) -> Option<(UnaryKind, usize)> {
    let f = |i| op.param_f32(i);
    Some(match op.code {
        OpCode::Relu => (UnaryKind::Relu, 0),
        OpCode::Clip => (UnaryKind::Clamp(f(0), f(1)), 2),
        OpCode::LeakyRelu => (UnaryKind::LeakyRelu(f(0)), 1),
        OpCode::Sigmoid => (UnaryKind::Sigmoid, 0),
        OpCode::HardSigmoid => (UnaryKind::HardSigmoid(f(0), f(1)), 2),
        OpCode::HardSwish => (UnaryKind::HardSwish, 0),
        OpCode::Tanh => (UnaryKind::Tanh, 0),
        OpCode::Sqrt => (UnaryKind::Sqrt, 0),
        OpCode::Exp => (UnaryKind::Exp, 0),
        OpCode::Log => (UnaryKind::Log, 0),
        OpCode::Abs => (UnaryKind::Abs, 0),
        OpCode::Neg => (UnaryKind::Neg, 0),
        OpCode::Reciprocal => (UnaryKind::Reciprocal, 0),
        OpCode::Erf => (UnaryKind::Erf, 0),
        OpCode::Gelu => (UnaryKind::Gelu, 0),
        OpCode::GeluTanh => (UnaryKind::GeluTanh, 0),
        OpCode::Floor => (UnaryKind::Floor, 0),
        OpCode::Ceil => (UnaryKind::Ceil, 0),
        OpCode::Round => (UnaryKind::Round, 0),
        _ => return None,
    })
}

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    let (k, n) = kind(&ctx.op).ok_or(ctx.bad())?;
    ctx.params(n)?;
    ctx.f32_kernels()?;
    ctx.ensure(ctx.op.num_inputs() == 1)?;
    ctx.ensure(ctx.input(0)?.shape() == ctx.out.shape())?;
    if let UnaryKind::Clamp(lo, hi) = k {
        ctx.ensure(lo <= hi)?;
    }
    Ok(())
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    if !cfg!(feature = "f32") {
        return; // refused by `prepare`: this build has no f32 kernels
    }
    let Some((k, _)) = kind(&ctx.op) else { return };
    let alias = ctx.alias;
    let unary = ctx.kernels.f32_unary;
    let (inputs, out) = ctx.split_f32();
    unary(k, alias.is_none().then(|| inputs.f32(0)), out);
}
