//! Conv2d and ConvTranspose2d (ONNX `Conv`, `ConvTranspose`), f32, NHWC.
//!
//! Inputs: `x [n, ih, iw, ic]`, `w [oc, kh, kw, ic/groups]` (OHWI, repacked
//! by the compiler), optional `b [oc]`. Output `y [n, oh, ow, oc]`.
//! Parameters (16 words): `kh, kw, sh, sw, dh, dw, pad_top, pad_left,
//! pad_bottom, pad_right, groups, act(3), adj_h, adj_w`.
//!
//! Conv: `oh = (ih + pt + pb - dh*(kh-1) - 1) / sh + 1`.
//! ConvTranspose: `oh = (ih-1)*sh + dh*(kh-1) + 1 - pt - pb + adj_h`, `adj_h < sh`.
//! No scratch memory.
//!
//! int8 form (Conv2d only; the output is `i8`): inputs `x (i8)`, `w (i8
//! OHWI, constant, symmetric per output channel)`, `bias (i32 [oc])`,
//! `requant (i32 [oc, 2])` = per-channel `(multiplier, shift)`; the
//! activation words hold an integer clamp (`[5, act_min, act_max]`); zero
//! points come from the `x` and `y` records. Arithmetic:
//! [`crate::kernels::i8_conv`]. In an image with a weight packing
//! ([`crate::packing`]) `w` may instead be the 1-D packed tensor of a
//! `groups == 1` conv, with `bias` folded as that module says; so may the
//! f32 weights of a `Conv2d` with `groups == 1` (`Packing::of_f32`).

use super::{decode_act, shape4, Checked, Eval, OpCode, Prep};
use crate::format::{DType, Storage};
use crate::kernels::f32_conv::ConvParams;
use crate::kernels::i8_conv::QConvParams;
use crate::kernels::parallel::{for_each_part, split_rows, Parallel, MAX_PARTS};
use crate::kernels::Act;

const N_PARAMS: usize = 16;

/// Geometry (with the `f32` activation slot left as `Act::None`) and the
/// implied `[pad_bottom, pad_right, adj_h, adj_w]`.
fn geometry(op: &crate::model::OpInfo<'_>) -> (ConvParams, [usize; 4]) {
    let p = |i| op.param(i) as usize;
    (
        ConvParams {
            kernel_h: p(0),
            kernel_w: p(1),
            stride_h: p(2),
            stride_w: p(3),
            dilation_h: p(4),
            dilation_w: p(5),
            pad_top: p(6),
            pad_left: p(7),
            groups: p(10),
            act: Act::None,
        },
        [p(8), p(9), p(14), p(15)],
    )
}

fn params(op: &crate::model::OpInfo<'_>) -> Option<(ConvParams, [usize; 4])> {
    let (mut p, rest) = geometry(op);
    p.act = decode_act(op, 11)?;
    Some((p, rest))
}

pub(super) fn prepare(ctx: &Prep<'_, '_>) -> Checked {
    ctx.params(N_PARAMS)?;
    let n_in = ctx.op.num_inputs();
    let int8 = ctx.out.dtype == DType::I8;
    if int8 {
        ctx.ensure(ctx.op.code == OpCode::Conv2d && n_in == 4)?;
        ctx.qact(11)?;
        ctx.ensure(ctx.input(0)?.dtype == DType::I8)?;
        let (w, b) = (ctx.input(1)?, ctx.input(2)?);
        ctx.ensure(w.dtype == DType::I8 && w.storage == Storage::Const)?;
        ctx.ensure(b.dtype == DType::I32)?;
    } else {
        ctx.f32_kernels()?;
        ctx.ensure(n_in == 2 || n_in == 3)?;
        ctx.act(11)?;
    }
    // Geometry fields are bounded so that index arithmetic cannot overflow
    // even with a 32-bit `usize`.
    for i in (0..11).chain(14..16) {
        ctx.ensure(ctx.op.param(i) <= 0xFFFF)?;
    }
    let (p, [pb, pr, adj_h, adj_w]) = geometry(&ctx.op);
    let x = shape4(&ctx.input(0)?).ok_or(ctx.bad())?;
    let w_info = ctx.input(1)?;
    let y = shape4(&ctx.out).ok_or(ctx.bad())?;
    let [n, ih, iw, ic] = x;
    let oc = y[3];
    let g = p.groups;
    ctx.ensure(g >= 1 && ic % g == 0 && oc % g == 0 && ic >= 1)?;
    let packed = crate::packing::BUILT && ctx.op.code == OpCode::Conv2d && w_info.rank() == 1;
    if !packed {
        let w = shape4(&w_info).ok_or(ctx.bad())?;
        ctx.ensure(w == [oc, p.kernel_h, p.kernel_w, ic / g])?;
    }
    ctx.ensure(y[0] == n && p.kernel_h >= 1 && p.kernel_w >= 1)?;
    ctx.ensure(p.stride_h >= 1 && p.stride_w >= 1 && p.dilation_h >= 1 && p.dilation_w >= 1)?;
    if n_in >= 3 {
        ctx.ensure(ctx.input(2)?.shape() == [oc])?;
    }
    if int8 {
        ctx.requant(3, oc)?;
        // Each product is at most 128*128 = 2^14 in magnitude; the
        // accumulator stays within i32 for up to 2^16 taps per output,
        // plus the bias.
        ctx.ensure((p.kernel_h * p.kernel_w) as u64 * ((ic / g) as u64) <= 1 << 16)?;
    }
    if packed {
        // Weights in the image's packing (`crate::packing`), for
        // `groups == 1` only; `K <= 2^16` (above) keeps `len` in range.
        let isa = ctx.model.isa();
        let layout = if int8 {
            crate::packing::Packing::of(isa, oc)
        } else {
            ctx.ensure(w_info.storage == Storage::Const)?;
            crate::packing::Packing::of_f32(isa, oc)
        };
        let layout = layout.ok_or(ctx.bad())?;
        let k = p.kernel_h * p.kernel_w * ic;
        ctx.ensure(g == 1 && layout.len(oc, k) == w_info.shape().first().copied())?;
    }
    // Extents are computed in u64 so no product of u32 fields can overflow.
    let (k_h, k_w) = (
        (p.dilation_h as u64) * (p.kernel_h as u64 - 1) + 1,
        (p.dilation_w as u64) * (p.kernel_w as u64 - 1) + 1,
    );
    let (pt, pl, pb, pr) = (p.pad_top as u64, p.pad_left as u64, pb as u64, pr as u64);
    // `y == (len + pa + pz − k) / s + 1`, checked with multiplications
    // only (a 64-bit division links a ~1 KB routine into 32-bit firmware).
    let dim_is = |y: u64, len: u64, pa: u64, pz: u64, k: u64, s: u64| -> bool {
        let padded = len + pa + pz;
        padded >= k && y >= 1 && (y - 1) * s <= padded - k && padded - k < y * s
    };
    let tdim = |len: u64, pa: u64, pz: u64, k: u64, s: u64, adj: u64| -> Option<u64> {
        ((len - 1) * s + k + adj)
            .checked_sub(pa + pz)
            .filter(|_| adj < s)
    };
    let (sh, sw) = (p.stride_h as u64, p.stride_w as u64);
    if ctx.op.code == OpCode::Conv2d {
        ctx.ensure(adj_h == 0 && adj_w == 0)?;
        return ctx.ensure(
            dim_is(y[1] as u64, ih as u64, pt, pb, k_h, sh)
                && dim_is(y[2] as u64, iw as u64, pl, pr, k_w, sw),
        );
    }
    ctx.ensure(ih >= 1 && iw >= 1)?;
    let oh = tdim(ih as u64, pt, pb, k_h, sh, adj_h as u64);
    let ow = tdim(iw as u64, pl, pr, k_w, sw, adj_w as u64);
    ctx.ensure(oh == Some(y[1] as u64) && ow == Some(y[2] as u64))
}

pub(super) fn eval(ctx: &mut Eval<'_, '_>) {
    if ctx.out.dtype == DType::I8 {
        return eval_i8(ctx);
    }
    let Some((p, _)) = params(&ctx.op) else {
        return;
    };
    let code = ctx.op.code;
    let Some(out_shape) = shape4(&ctx.out) else {
        return;
    };
    if !cfg!(feature = "f32") {
        return; // refused by `prepare`: this build has no f32 kernels
    }
    let kernels = ctx.kernels;
    let ctx_par = ctx.parallel;
    let (inputs, out) = ctx.split_f32();
    let (Some(xi), Some(wi)) = (inputs.info(0), inputs.info(1)) else {
        return;
    };
    let Some(in_shape) = shape4(&xi) else {
        return;
    };
    let bias = (inputs.len() == 3).then(|| inputs.f32(2));
    let (x, w) = (inputs.f32(0), inputs.f32(1));
    if code == OpCode::Conv2d {
        // `prepare` admits 1-D weights only in the image's packing, which
        // the interpreter's table reads (`Interpreter::with_kernels`).
        let conv = if wi.rank() == 1 {
            kernels.f32_conv_packed
        } else {
            kernels.f32_conv
        };
        let mut buf = [0; MAX_PARTS + 1];
        if let Some((par, bounds)) = row_split(ctx_par, &p, in_shape, out_shape, &mut buf) {
            let row = out_shape[2] * out_shape[3];
            for_each_part(par, &mut out[..out_shape[1] * row], bounds, |_, r, out| {
                let (p, x, in_shape, out_shape) =
                    row_part(&p, x, in_shape, out_shape, r.start / row, r.end / row);
                conv(&p, x, in_shape, w, bias, out, out_shape);
            });
            return;
        }
        conv(&p, x, in_shape, w, bias, out, out_shape);
    } else {
        if shape4(&wi).is_none() {
            return;
        }
        (kernels.f32_conv_transpose)(&p, x, in_shape, w, bias, out, out_shape);
    }
}

fn eval_i8(ctx: &mut Eval<'_, '_>) {
    let (g, _) = geometry(&ctx.op);
    let Some((act_min, act_max)) = super::decode_qact(&ctx.op, 11) else {
        return;
    };
    let (Some(out_shape), out_zp) = (shape4(&ctx.out), ctx.out.zero_point) else {
        return;
    };
    let kernels = ctx.kernels;
    let ctx_par = ctx.parallel;
    let (inputs, out) = ctx.split_i8();
    let (Some(xi), Some(wi)) = (inputs.info(0), inputs.info(1)) else {
        return;
    };
    let Some(in_shape) = shape4(&xi) else { return };
    // `prepare` admits 1-D weights only in the image's packing, which the
    // interpreter's table reads (`Interpreter::with_kernels`).
    let conv = if wi.rank() == 1 {
        kernels.i8_conv_packed
    } else {
        kernels.i8_conv
    };
    let p = QConvParams {
        kernel_h: g.kernel_h,
        kernel_w: g.kernel_w,
        stride_h: g.stride_h,
        stride_w: g.stride_w,
        dilation_h: g.dilation_h,
        dilation_w: g.dilation_w,
        pad_top: g.pad_top,
        pad_left: g.pad_left,
        groups: g.groups,
        in_zp: xi.zero_point,
        out_zp,
        act_min,
        act_max,
    };
    let (x, w, bias, requant) = (inputs.i8(0), inputs.i8(1), inputs.i32(2), inputs.i32(3));
    let mut buf = [0; MAX_PARTS + 1];
    if let Some((par, bounds)) = row_split(ctx_par, &g, in_shape, out_shape, &mut buf) {
        let row = out_shape[2] * out_shape[3];
        for_each_part(par, &mut out[..out_shape[1] * row], bounds, |_, r, out| {
            let (g, x, in_shape, out_shape) =
                row_part(&g, x, in_shape, out_shape, r.start / row, r.end / row);
            let p = QConvParams {
                pad_top: g.pad_top,
                ..p
            };
            conv(&p, x, in_shape, w, bias, requant, out, out_shape);
        });
        return;
    }
    conv(&p, x, in_shape, w, bias, requant, out, out_shape);
}

/// Where and how to split a `Conv2d` over output rows ([`split_rows`]):
/// only a batch of one, and only when every part's first row reads some
/// input (`row_part`).
fn row_split<'p, 'b>(
    par: Option<&'p dyn Parallel>,
    p: &ConvParams,
    in_shape: [usize; 4],
    out_shape: [usize; 4],
    buf: &'b mut [usize; MAX_PARTS + 1],
) -> Option<(&'p dyn Parallel, &'b [usize])> {
    let [n, oh, ow, oc] = out_shape;
    let macs = (oh * ow * oc)
        .saturating_mul(p.kernel_h * p.kernel_w)
        .saturating_mul(in_shape[3] / p.groups.max(1));
    let macs = if n == 1 { macs } else { 0 };
    split_rows(par, oh, ow * oc, macs, buf, |bounds| {
        bounds[..bounds.len() - 1]
            .iter()
            .all(|&r| (r * p.stride_h).saturating_sub(p.pad_top) < in_shape[1])
    })
}

/// Output rows `r0..r1` of a batch-1 `Conv2d` as a convolution of its own:
/// the input from the part's first row on (`pad_top` keeps the padding that
/// lies above it), the output rows alone. Every output value is computed
/// from the same taps in the same order as in the whole convolution.
fn row_part<'x, T>(
    p: &ConvParams,
    x: &'x [T],
    in_shape: [usize; 4],
    out_shape: [usize; 4],
    r0: usize,
    r1: usize,
) -> (ConvParams, &'x [T], [usize; 4], [usize; 4]) {
    let [_, ih, iw, ic] = in_shape;
    let top = r0 * p.stride_h;
    let (x_row, pad_top) = if top >= p.pad_top {
        (top - p.pad_top, 0)
    } else {
        (0, p.pad_top - top)
    };
    (
        ConvParams { pad_top, ..*p },
        &x[x_row * iw * ic..ih * iw * ic],
        [1, ih - x_row, iw, ic],
        [1, r1 - r0, out_shape[2], out_shape[3]],
    )
}
