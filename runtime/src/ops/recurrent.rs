//! LSTM, GRU and RNN (ONNX, layout 0), f32. Arithmetic and tensor layouts:
//! [`crate::kernels::recurrent`].
//!
//! Inputs: `x [seq, batch, I]`, `w [dirs, I, G·H]`, `r [dirs, H, G·H]`,
//! `b [dirs, 2·G·H]`, `h0 [dirs, batch, H]`; `Lstm` also `c0 [dirs, batch, H]`
//! and optionally `p [dirs, 3·H]` (`G` = 4 for `Lstm`, 3 for `Gru`, 1 for
//! `Rnn`). Output `[seq + 2 + S, dirs, batch, H]` with `S = 2·G + 2`: rows
//! `0..seq` are ONNX `Y`, row `seq` is `Y_h`, row `seq + 1` `Y_c` (zero for
//! `Gru` and `Rnn`), the last `S` rows the op's working memory (the compiler
//! reads the first rows out with `Slice`).
//!
//! Parameters: `direction` (0 forward, 1 reverse, 2 bidirectional, which
//! has `dirs = 2`), `clip` (f32 bits: a positive bound, or `+inf` for none),
//! `variant` (`Gru`: `linear_before_reset` 0 or 1; `Rnn`: activation 0 tanh,
//! 1 relu, 2 sigmoid; `Lstm`: 0).

use super::{Checked, Eval, OpCode, Prep};
use crate::kernels::recurrent::{self, Cell, Dims, Params, RnnAct};

/// The cell of a recurrent opcode with its `variant` word, if valid.
fn cell(code: OpCode, variant: u32) -> Option<Cell> {
    match (code, variant) {
        (OpCode::Lstm, 0) => Some(Cell::Lstm),
        (OpCode::Gru, 0 | 1) => Some(Cell::Gru {
            linear_before_reset: variant == 1,
        }),
        (OpCode::Rnn, 0) => Some(Cell::Rnn(RnnAct::Tanh)),
        (OpCode::Rnn, 1) => Some(Cell::Rnn(RnnAct::Relu)),
        (OpCode::Rnn, 2) => Some(Cell::Rnn(RnnAct::Sigmoid)),
        _ => None,
    }
}

/// The layer's sizes from its input shapes and `direction` word.
fn dims(x: &[usize], r: &[usize], direction: u32) -> Option<Dims> {
    let (&[seq, batch, input], &[dirs, hidden, _]) = (x, r) else {
        return None;
    };
    (direction <= 2).then_some(Dims {
        seq,
        batch,
        input,
        hidden,
        dirs,
        reverse: direction == 1,
    })
}

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    ctx.params(3)?;
    ctx.f32_kernels()?;
    let cell = cell(ctx.op.code, ctx.op.param(2)).ok_or(ctx.bad())?;
    let clip = ctx.op.param_f32(1);
    ctx.ensure(clip > 0.0)?; // also refuses NaN
    let lstm = cell == Cell::Lstm;
    let n_in = ctx.op.num_inputs();
    ctx.ensure(if lstm {
        n_in == 6 || n_in == 7
    } else {
        n_in == 5
    })?;
    let (x, r) = (ctx.input(0)?, ctx.input(2)?);
    let d = dims(x.shape(), r.shape(), ctx.op.param(0)).ok_or(ctx.bad())?;
    ctx.ensure(d.dirs == if ctx.op.param(0) == 2 { 2 } else { 1 })?;
    // Every size below is a product of dims of tensors the loader checked
    // (their byte lengths fit in `usize`); the output's rows are checked
    // against the sum with overflow in mind.
    let gw = d.hidden * cell.gates();
    let state = [d.dirs, d.batch, d.hidden];
    ctx.ensure(ctx.input(1)?.shape() == [d.dirs, d.input, gw])?;
    ctx.ensure(r.shape() == [d.dirs, d.hidden, gw])?;
    ctx.ensure(ctx.input(3)?.shape() == [d.dirs, 2 * gw])?;
    ctx.ensure(ctx.input(4)?.shape() == state)?;
    if lstm {
        ctx.ensure(ctx.input(5)?.shape() == state)?;
        if n_in == 7 {
            ctx.ensure(ctx.input(6)?.shape() == [d.dirs, 3 * d.hidden])?;
        }
    }
    let rows = d
        .seq
        .checked_add(2 + cell.scratch_rows())
        .ok_or(ctx.bad())?;
    ctx.ensure(ctx.out.shape() == [rows, d.dirs, d.batch, d.hidden])
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    if !cfg!(feature = "f32") {
        return; // refused by `prepare`: this build has no f32 kernels
    }
    let (Some(cell), clip) = (cell(ctx.op.code, ctx.op.param(2)), ctx.op.param_f32(1)) else {
        return;
    };
    let direction = ctx.op.param(0);
    let gemm = ctx.kernels.f32_gemm;
    let (inputs, out) = ctx.split_f32();
    let (Some(x), Some(r)) = (inputs.info(0), inputs.info(2)) else {
        return;
    };
    let Some(d) = dims(x.shape(), r.shape(), direction) else {
        return;
    };
    let lstm = cell == Cell::Lstm;
    let p = Params {
        w: inputs.f32(1),
        r: inputs.f32(2),
        b: inputs.f32(3),
        h0: inputs.f32(4),
        c0: if lstm { inputs.f32(5) } else { &[] },
        p: (lstm && inputs.len() == 7).then(|| inputs.f32(6)),
        clip,
    };
    recurrent::run(&d, cell, &p, inputs.f32(0), gemm, out);
}
