//! Reductions (ONNX `ReduceSum`, `ReduceMean`, `ReduceMax`, `ReduceMin`,
//! `ReduceProd`), f32. Parameter: `axes_mask` (bit `d` = reduce dim `d` of the
//! input). The output holds the input's element count with reduced dims
//! removed (keepdims is a matter of the output's recorded shape).

use super::{pad_shape, Eval, OpCode, Prep};
use crate::error::Error;
use crate::format::MAX_RANK;
use crate::kernels::reduce::{self, ReduceKind};

fn kind(code: OpCode) -> ReduceKind {
    match code {
        OpCode::ReduceMean => ReduceKind::Mean,
        OpCode::ReduceMax => ReduceKind::Max,
        OpCode::ReduceMin => ReduceKind::Min,
        OpCode::ReduceProd => ReduceKind::Prod,
        _ => ReduceKind::Sum,
    }
}

/// The input's axes mask translated to the right-aligned `MAX_RANK` view.
fn padded_mask(mask: u32, rank: usize) -> u32 {
    mask << (MAX_RANK - rank)
}

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Result<(), Error> {
    ctx.params(1)?;
    ctx.all_f32()?;
    ctx.ensure(ctx.op.num_inputs() == 1)?;
    let x = ctx.input(0)?;
    let mask = ctx.op.param(0);
    ctx.ensure(mask >> x.rank() == 0)?;
    let kept: usize = x
        .shape()
        .iter()
        .enumerate()
        .filter(|(d, _)| mask & (1 << d) == 0)
        .map(|(_, s)| *s)
        .product();
    ctx.ensure(ctx.out.len() == kept)?;
    // Max/Min of an empty set is undefined.
    let reduced_empty = x
        .shape()
        .iter()
        .enumerate()
        .any(|(d, s)| mask & (1 << d) != 0 && *s == 0);
    ctx.ensure(!reduced_empty || !matches!(ctx.op.code, OpCode::ReduceMax | OpCode::ReduceMin))
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    let k = kind(ctx.op.code);
    let mask = ctx.op.param(0);
    let (inputs, out) = ctx.split_f32();
    let Some(x) = inputs.info(0) else { return };
    reduce::reference(
        k,
        inputs.f32(0),
        pad_shape(x.shape()),
        padded_mask(mask, x.rank()),
        out,
    );
}
