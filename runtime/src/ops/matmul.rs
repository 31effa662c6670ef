//! MatMul (ONNX `MatMul`, `Gemm` after the compiler's lowering), f32.
//!
//! Inputs `a [..., m, k]`, `b [..., k, n]`, optional `bias [n]`; output
//! `[..., m, n]`. Batch dims (all but the last two) broadcast numpy-style;
//! every tensor has rank 2..=6. Parameters: `act(3)`.
//! `y[.., i, j] = act(bias[j] + sum_k a[.., i, k] * b[.., k, j])`.
//!
//! int8 form (`i8` output): inputs `a (i8)`, `b (i8)`, `bias (i32 [n])`,
//! `requant (i32 [n, 2] per output column, or [1, 2])`; parameters
//! `qact(3)`; zero points from the records. Arithmetic:
//! [`crate::kernels::i8_gemm`]; `k <= 2^16` keeps the accumulator in i32.
//!
//! In an image with a weight packing ([`crate::packing`]) a constant `b`
//! without batch dims may be 1-D: `[k, n]` laid out as the packing's conv
//! weights with `n` output channels (int8: zero point 0, `bias` folded).

use super::{decode_act, pad_shape, strides, Checked, Eval, Prep};
use crate::format::{DType, Storage, MAX_RANK};
use crate::kernels::i8_gemm::QGemmParams;
use crate::kernels::parallel::{for_each_part, split_rows, Parallel, MAX_PARTS};

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    ctx.params(3)?;
    let n_in = ctx.op.num_inputs();
    let int8 = ctx.out.dtype == DType::I8;
    if int8 {
        ctx.qact(0)?;
        ctx.ensure(n_in == 4)?;
        ctx.ensure(ctx.input(0)?.dtype == DType::I8 && ctx.input(1)?.dtype == DType::I8)?;
        ctx.ensure(ctx.input(2)?.dtype == DType::I32)?;
    } else {
        ctx.act(0)?;
        ctx.f32_kernels()?;
        ctx.ensure(n_in == 2 || n_in == 3)?;
    }
    let (a, b_info, y) = (ctx.input(0)?, ctx.input(1)?, ctx.out);
    // A 1-D `b` is a constant `[k, n]` in the image's packing.
    let packed = crate::packing::BUILT && b_info.rank() == 1;
    ctx.ensure(a.rank() >= 2 && (packed || b_info.rank() >= 2) && y.rank() >= 2)?;
    ctx.ensure(y.rank() >= a.rank() && y.rank() >= b_info.rank())?;
    let (a, y) = (pad_shape(a.shape()), pad_shape(y.shape()));
    let b = if packed {
        let (k, n) = (a[MAX_RANK - 1], y[MAX_RANK - 1]);
        ctx.ensure(b_info.storage == Storage::Const)?;
        let isa = ctx.model.isa();
        let layout = if int8 {
            ctx.ensure(b_info.zero_point == 0)?;
            crate::packing::Packing::of(isa, n)
        } else {
            crate::packing::Packing::of_f32(isa, n)
        };
        let layout = layout.ok_or(ctx.bad())?;
        ctx.ensure(layout.len(n, k) == b_info.shape().first().copied())?;
        packed_b_shape(&a, &y)
    } else {
        pad_shape(b_info.shape())
    };
    let (m, k, n) = (a[MAX_RANK - 2], a[MAX_RANK - 1], b[MAX_RANK - 1]);
    ctx.ensure(b[MAX_RANK - 2] == k && y[MAX_RANK - 2] == m && y[MAX_RANK - 1] == n)?;
    for d in 0..MAX_RANK - 2 {
        ctx.ensure((a[d] == y[d] || a[d] == 1) && (b[d] == y[d] || b[d] == 1))?;
    }
    if n_in >= 3 {
        ctx.ensure(ctx.input(2)?.shape() == [n])?;
    }
    if int8 {
        let rows = ctx.input(3)?.shape().first().copied().unwrap_or(0);
        ctx.ensure(rows == n || rows == 1)?;
        ctx.requant(3, rows)?;
        ctx.ensure(k <= 1 << 16)?;
    }
    Ok(())
}

/// The padded shape a packed `b` stands for: `[k, n]` without batch dims.
fn packed_b_shape(a: &[usize; MAX_RANK], y: &[usize; MAX_RANK]) -> [usize; MAX_RANK] {
    let mut b = [1; MAX_RANK];
    b[MAX_RANK - 2] = a[MAX_RANK - 1];
    b[MAX_RANK - 1] = y[MAX_RANK - 1];
    b
}

/// `b`'s padded shape, and whether it is packed (`prepare` admits a 1-D
/// `b` only in the image's packing, which the interpreter's table reads).
fn b_shape(
    b: &crate::model::TensorInfo<'_>,
    a: &[usize; MAX_RANK],
    y: &[usize; MAX_RANK],
) -> ([usize; MAX_RANK], bool) {
    if b.rank() == 1 {
        (packed_b_shape(a, y), true)
    } else {
        (pad_shape(b.shape()), false)
    }
}

/// Element offsets of `a`, `b` and `y` for batch `bidx` (0 on broadcast dims).
fn batch_offsets(
    bidx: usize,
    asp: &[usize; MAX_RANK],
    bsp: &[usize; MAX_RANK],
    ys: &[usize; MAX_RANK],
) -> (usize, usize, usize) {
    let (ast, bst, yst) = (strides(asp), strides(bsp), strides(ys));
    let (mut ao, mut bo, mut rem) = (0, 0, bidx);
    for d in (0..MAX_RANK - 2).rev() {
        let i = rem % ys[d];
        rem /= ys[d];
        if asp[d] != 1 {
            ao += i * ast[d];
        }
        if bsp[d] != 1 {
            bo += i * bst[d];
        }
    }
    (ao, bo, bidx * yst[MAX_RANK - 3])
}

fn eval_i8(ctx: &mut Eval<'_, '_>) {
    let Some((act_min, act_max)) = super::decode_qact(&ctx.op, 0) else {
        return;
    };
    let ys = pad_shape(ctx.out.shape());
    let out_zp = ctx.out.zero_point;
    let kernels = ctx.kernels;
    let par = ctx.parallel;
    let (inputs, out) = ctx.split_i8();
    let (Some(ai), Some(bi)) = (inputs.info(0), inputs.info(1)) else {
        return;
    };
    let p = QGemmParams {
        a_zp: ai.zero_point,
        b_zp: bi.zero_point,
        out_zp,
        act_min,
        act_max,
    };
    let asp = pad_shape(ai.shape());
    let (bsp, packed) = b_shape(&bi, &asp, &ys);
    let (a, b, bias, requant) = (inputs.i8(0), inputs.i8(1), inputs.i32(2), inputs.i32(3));
    let (m, k, n) = (asp[MAX_RANK - 2], asp[MAX_RANK - 1], bsp[MAX_RANK - 1]);
    let (gemm, b_len) = if packed {
        (kernels.i8_gemm_packed, b.len())
    } else {
        (kernels.i8_gemm, k * n)
    };
    let batches: usize = ys[..MAX_RANK - 2].iter().product();
    for bidx in 0..batches {
        let (ao, bo, yo) = batch_offsets(bidx, &asp, &bsp, &ys);
        let (Some(am), Some(bm), Some(ym)) = (
            a.get(ao..ao + m * k),
            b.get(bo..bo + b_len),
            out.get_mut(yo..yo + m * n),
        ) else {
            return;
        };
        let mut buf = [0; MAX_PARTS + 1];
        if let Some((par, bounds)) = row_split(par, (m, k, n), &mut buf) {
            for_each_part(par, ym, bounds, |_, r, ym| {
                let (r0, r1) = (r.start / n, r.end / n);
                let am = &am[r0 * k..r1 * k];
                gemm(r1 - r0, k, n, am, bm, Some(bias), requant, &p, ym);
            });
            continue;
        }
        gemm(m, k, n, am, bm, Some(bias), requant, &p, ym);
    }
}

/// Where and how to split an `[m, k] x [k, n]` product over rows of A
/// ([`split_rows`]). Each row of the result is computed by the same kernel
/// from the same values whatever rows it is computed with.
fn row_split<'p, 'b>(
    par: Option<&'p dyn Parallel>,
    (m, k, n): (usize, usize, usize),
    buf: &'b mut [usize; MAX_PARTS + 1],
) -> Option<(&'p dyn Parallel, &'b [usize])> {
    let macs = m.saturating_mul(k).saturating_mul(n);
    split_rows(par, m, n, macs, buf, |_| true)
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    if ctx.out.dtype == DType::I8 {
        return eval_i8(ctx);
    }
    let Some(act) = decode_act(&ctx.op, 0) else {
        return;
    };
    let ys = pad_shape(ctx.out.shape());
    if !cfg!(feature = "f32") {
        return; // refused by `prepare`: this build has no f32 kernels
    }
    let kernels = ctx.kernels;
    let par = ctx.parallel;
    let (inputs, out) = ctx.split_f32();
    let (Some(ai), Some(bi)) = (inputs.info(0), inputs.info(1)) else {
        return;
    };
    let asp = pad_shape(ai.shape());
    let (bsp, packed) = b_shape(&bi, &asp, &ys);
    let (a, b) = (inputs.f32(0), inputs.f32(1));
    let bias = (inputs.len() == 3).then(|| inputs.f32(2));
    let (m, k, n) = (asp[MAX_RANK - 2], asp[MAX_RANK - 1], bsp[MAX_RANK - 1]);
    let (gemm, b_len) = if packed {
        (kernels.f32_gemm_packed, b.len())
    } else {
        (kernels.f32_gemm, k * n)
    };
    let batches: usize = ys[..MAX_RANK - 2].iter().product();
    for bidx in 0..batches {
        let (ao, bo, yo) = batch_offsets(bidx, &asp, &bsp, &ys);
        let (Some(am), Some(bm), Some(ym)) = (
            a.get(ao..ao + m * k),
            b.get(bo..bo + b_len),
            out.get_mut(yo..yo + m * n),
        ) else {
            return;
        };
        let mut buf = [0; MAX_PARTS + 1];
        if let Some((par, bounds)) = row_split(par, (m, k, n), &mut buf) {
            for_each_part(par, ym, bounds, |_, r, ym| {
                let (r0, r1) = (r.start / n, r.end / n);
                gemm(r1 - r0, k, n, &am[r0 * k..r1 * k], bm, bias, act, ym);
            });
            continue;
        }
        gemm(m, k, n, am, bm, bias, act, ym);
    }
}
