//! f32 `Conv2d` (`groups == 1`) of few output channels over packed
//! weights, vectorized over output pixels instead of output channels.
//!
//! The tiled GEMM puts output channels in the lanes: a conv to 24
//! channels fills 24 of the 32 lanes of AVX-512's 8×32 tile. Here a block
//! is `2·LANES` horizontally adjacent output pixels of one output row, in
//! two vectors, and each channel of a group of up to 12 has its own pair
//! of accumulators: per reduction step `k`, two loads of the pixels'
//! inputs and one multiply-add per channel and vector with that channel's
//! weight broadcast from the packed weights (`[oc / NR][K][NR]`) as they
//! lie.
//!
//! The pixels' inputs of one `k` must lie in one vector, so the input
//! rows a block reads are first transposed into strips `[ic][cols]`
//! (value `(c, i)` is channel `c` of the strip's column `i`; 0.0 for
//! columns and rows outside the image). A strip covers the columns that
//! a span of output pixels reads (stride and dilation 1 along the width);
//! the strips of the last `kh` input rows are kept, so with
//! `stride_h < kh` each row is transposed once per span.
//!
//! Rounding: the tiled GEMM's, bit for bit (`f32_gemm::tiled`). Each
//! output adds the products of each K chunk ([`KC`] steps) in order of
//! `k` from 0.0 with fused multiply-adds (a padded tap adds `0·w`), the
//! chunks' sums in order (the first, then `+` each next), then `+ bias`,
//! then the activation. The last block of a span may overlap the
//! previous one; it recomputes the same values.

use super::super::f32_gemm::tiled::KC;
use super::super::simd::F32Simd;
use super::super::Act;
use super::ConvParams;

/// Vectors of output pixels per block.
pub(crate) const PV: usize = 2;
/// Most channels of one group: `24 / PV` accumulators per vector.
pub(crate) const GROUP: usize = 24 / PV;
/// Most output channels taken.
pub(crate) const OC_MAX: usize = 96;
/// Most kernel rows (strips kept).
pub(crate) const KH_MAX: usize = 7;
/// 4-byte values of the strips kept (64 KB of stack).
pub(crate) const RING: usize = 16 * 1024;
/// Fewest reduction steps: below, the transposition and the output stage
/// cost more than the lanes the tiled GEMM leaves empty.
pub(crate) const K_MIN: usize = 64;

/// Output pixels per span for `kh` rows of `per_px` strip values per
/// input pixel and `kw` columns of kernel, `px` pixels per block: the
/// widest multiple of `px` whose strips fit the ring (0 when not even one
/// block does).
pub(crate) fn span_px(kh: usize, kw: usize, per_px: usize, px: usize) -> usize {
    let per_col = kh * per_px;
    let cols = RING.checked_div(per_col).unwrap_or(0);
    cols.saturating_sub(kw - 1) / px * px
}

/// Whether [`conv`] takes this conv for vectors `V` over weights packed
/// with `nr` channels per block: one group, stride and dilation 1 along
/// the width, a reduction of at least [`K_MIN`], one block of output
/// pixels or more, and a channel tile at most 80% used by `oc`.
pub(crate) fn applies<V: F32Simd>(
    p: &ConvParams,
    in_shape: [usize; 4],
    out_shape: [usize; 4],
    nr: usize,
) -> bool {
    let (ic, (ow, oc)) = (in_shape[3], (out_shape[2], out_shape[3]));
    let (kh, kw) = (p.kernel_h, p.kernel_w);
    let px = PV * V::LANES;
    V::PIXEL_BLOCKS
        && p.groups == 1
        && p.stride_w == 1
        && p.dilation_w == 1
        && kh * kw * ic >= K_MIN
        && (1..=KH_MAX).contains(&kh)
        && ow >= px
        && (1..=OC_MAX).contains(&oc)
        && nr.is_multiple_of(4)
        && oc.div_ceil(nr) * nr * 4 > oc * 5
        && span_px(kh, kw, ic, px) >= px
}

/// Channel group `g` of a block of `nv` channels: its first channel and
/// its count, a multiple of 4 (the weights past `nv`, up to `NR`, are
/// zeros).
pub(crate) fn group(nv: usize, g: usize) -> (usize, usize) {
    let c0 = g * GROUP;
    (c0, (nv - c0).min(GROUP).next_multiple_of(4))
}

/// f32 Conv2d of a shape that [`applies`] over the packed weights `w`
/// (`nr` channels per block).
///
/// # Safety
/// The CPU supports `V`'s instructions.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn conv<V: F32Simd>(
    p: &ConvParams,
    x: &[f32],
    in_shape: [usize; 4],
    w: &[f32],
    nr: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
    out_shape: [usize; 4],
) {
    let [n, ih, iw, ic] = in_shape;
    let [_, oh, ow, oc] = out_shape;
    let (kh, kw) = (p.kernel_h, p.kernel_w);
    let k_total = kh * kw * ic;
    let px = PV * V::LANES;
    assert!(applies::<V>(p, in_shape, out_shape, nr) && V::LANES <= 16);
    assert!(x.len() >= n * ih * iw * ic && out.len() >= n * oh * ow * oc);
    assert!(w.len() >= oc.div_ceil(nr) * nr * k_total);
    assert!(bias.is_none_or(|b| b.len() >= oc));
    let span = span_px(kh, kw, ic, px);
    let ws_max = span + kw - 1;
    assert!(kh * ic * ws_max <= RING);
    // Strips: slot `s` at `ring[s·ic·ws_max..]`, `ic` rows of `ws_max`
    // values, holding input row `tag[s]` (batch, row) of the span.
    let mut ring = [0.0f32; RING];
    for s0 in (0..ow).step_by(span) {
        let sa = s0.min(ow - px);
        let se = (s0 + span).min(ow);
        let ws = se - sa + kw - 1;
        let mut tag = [None::<(usize, isize)>; KH_MAX];
        for b in 0..n {
            for oy in 0..oh {
                let want: [isize; KH_MAX] = core::array::from_fn(|ky| {
                    (oy * p.stride_h + ky * p.dilation_h) as isize - p.pad_top as isize
                });
                let (slot, fresh) = slots(&mut tag, b, &want[..kh]);
                for ky in (0..kh).filter(|&ky| fresh[ky]) {
                    let strip = &mut ring[slot[ky] * ic * ws_max..][..ic * ws_max];
                    let ix0 = sa as isize - p.pad_left as isize;
                    // SAFETY: the CPU supports `V` (caller).
                    unsafe { fill::<V>(x, in_shape, (b, want[ky]), ix0, strip, ws_max, ws) };
                }
                let rows: [&[f32]; KH_MAX] =
                    core::array::from_fn(|ky| &ring[slot[ky] * ic * ws_max..][..ic * ws_max]);
                let y_row = (b * oh + oy) * ow;
                for x0 in (sa..se).step_by(px) {
                    let xb = x0.min(se - px);
                    for n0 in (0..oc).step_by(nr) {
                        let nv = nr.min(oc - n0);
                        for g in 0..nv.div_ceil(GROUP) {
                            let (c0, ch) = group(nv, g);
                            let first = n0 + c0;
                            let valid = ch.min(nv - c0);
                            let a = Block {
                                rows: &rows[..kh],
                                col: xb - sa,
                                ws_max,
                                ic,
                                kw,
                                w: &w[n0 * k_total + c0..][..(k_total - 1) * nr + ch],
                                nr,
                                bias: bias.map(|b| &b[first..first + valid]),
                                act: p.act,
                            };
                            let y = &mut out[(y_row + xb) * oc + first..][..(px - 1) * oc + valid];
                            // SAFETY: the CPU supports `V` (caller); the
                            // block's reads lie in the strips and weights
                            // sliced above (`col + px + kw - 1 <= ws`).
                            unsafe {
                                match ch {
                                    4 => block::<V, 4>(&a, valid, y, oc),
                                    8 => block::<V, 8>(&a, valid, y, oc),
                                    _ => block::<V, 12>(&a, valid, y, oc),
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The slot of each kernel row's input row `want[ky]` of batch `b`
/// among the `want.len()` strips tagged `tag`, and whether that row is new
/// there (to be filled: it went to a slot that holds no wanted row).
#[inline(always)]
pub(crate) fn slots(
    tag: &mut [Option<(usize, isize)>; KH_MAX],
    b: usize,
    want: &[isize],
) -> ([usize; KH_MAX], [bool; KH_MAX]) {
    let kh = want.len();
    let (mut slot, mut fresh) = ([0usize; KH_MAX], [false; KH_MAX]);
    for (ky, &iy) in want.iter().enumerate() {
        if let Some(s) = (0..kh).find(|&s| tag[s] == Some((b, iy))) {
            slot[ky] = s;
            continue;
        }
        // The wanted rows are distinct and this one is not held, so at
        // most `kh - 1` slots hold wanted rows.
        let free = (0..kh)
            .find(|&s| !want.iter().any(|&r| tag[s] == Some((b, r))))
            .unwrap_or(ky);
        tag[free] = Some((b, iy));
        (slot[ky], fresh[ky]) = (free, true);
    }
    (slot, fresh)
}

/// Writes the strip of input row `(b, iy)` from input column `ix0` on:
/// `dst[c·stride + i]` = channel `c` of column `ix0 + i` for `i < ws`,
/// 0.0 where the row or column lies outside the image; the image's
/// columns `LANES` at a time ([`F32Simd::load_strided`]).
///
/// # Safety
/// The CPU supports `V`.
#[inline(always)]
unsafe fn fill<V: F32Simd>(
    x: &[f32],
    [_, ih, iw, ic]: [usize; 4],
    (b, iy): (usize, isize),
    ix0: isize,
    dst: &mut [f32],
    stride: usize,
    ws: usize,
) {
    let (lo, hi) = if (0..ih as isize).contains(&iy) {
        let lo = (-ix0).clamp(0, ws as isize) as usize;
        (
            lo,
            (iw as isize - ix0).clamp(lo as isize, ws as isize) as usize,
        )
    } else {
        (0, 0)
    };
    let base = if lo < hi {
        ((b * ih + iy as usize) * iw + (ix0 + lo as isize) as usize) * ic
    } else {
        0
    };
    let run = &x[base..base + (hi - lo) * ic];
    let lanes = V::LANES;
    let full = (hi - lo) / lanes * lanes;
    let full_c = ic / lanes * lanes;
    assert!(dst.len() >= (ic - 1) * stride + ws && lo + full <= ws);
    for c0 in (0..full_c).step_by(lanes) {
        for i in (0..full).step_by(lanes) {
            // SAFETY: the CPU supports `V` (caller); the block's rows are
            // columns `i..i + LANES` of the run (channels `c0..c0 +
            // LANES`) and strip rows `c0..c0 + LANES` at `lo + i`, within
            // both (checked above).
            unsafe {
                let src = run.as_ptr().add(i * ic + c0);
                let d = dst.as_mut_ptr().add(c0 * stride + lo + i);
                V::transpose_block(src, ic, d, stride);
            }
        }
    }
    for (c, d) in dst.chunks_exact_mut(stride).take(ic).enumerate() {
        d[..lo].fill(0.0);
        d[hi..ws].fill(0.0);
        let d = &mut d[lo..hi];
        let first = if c < full_c { full } else { 0 };
        for i in (first..full).step_by(lanes) {
            // SAFETY: the CPU supports `V` (caller); columns `i..i + LANES`
            // of the run exist (`i + LANES <= full`), as do `LANES` values
            // of `d` from `i`.
            unsafe {
                V::load_strided(run.as_ptr().add(i * ic + c), ic).store(d.as_mut_ptr().add(i))
            };
        }
        for (i, v) in d.iter_mut().enumerate().skip(full) {
            *v = run[i * ic + c];
        }
    }
}

/// The operands of one block of output pixels and up to 12 channels.
struct Block<'a> {
    /// The strip of each kernel row.
    rows: &'a [&'a [f32]],
    /// The block's first column in the strips.
    col: usize,
    /// Values per strip row.
    ws_max: usize,
    /// Input channels.
    ic: usize,
    /// Kernel columns.
    kw: usize,
    /// The group's first channel in its block of packed weights, on.
    w: &'a [f32],
    /// Channels per block of packed weights.
    nr: usize,
    /// The bias of the group's valid channels.
    bias: Option<&'a [f32]>,
    /// The fused activation.
    act: Act,
}

/// `CH` channels of `PV·LANES` output pixels: `y[j·oc + c]` for pixel `j`
/// and channel `c < valid`.
///
/// # Safety
/// The CPU supports `V`; the strips hold `ic` rows of `col + PV·LANES +
/// kw - 1` values; `a.w` holds `(K - 1)·nr + CH` values.
#[inline(always)]
unsafe fn block<V: F32Simd, const CH: usize>(
    a: &Block<'_>,
    valid: usize,
    y: &mut [f32],
    oc: usize,
) {
    let lanes = V::LANES;
    let k_total = a.rows.len() * a.kw * a.ic;
    assert!(valid <= CH && y.len() >= (PV * lanes - 1) * oc + valid);
    assert!(a.w.len() >= (k_total - 1) * a.nr + CH);
    for r in a.rows {
        assert!(r.len() >= (a.ic - 1) * a.ws_max + a.col + PV * lanes + a.kw - 1);
    }
    // Channel `c`'s pixels, then pixel by pixel.
    let mut sum = [[0.0f32; 32]; CH];
    // SAFETY (whole body): the CPU supports `V` (caller); the loads stay
    // within the strips and weights (checked above), the stores within
    // `sum` (`PV·LANES <= 32`).
    unsafe {
        for k0 in (0..k_total).step_by(KC) {
            let acc = chunk::<V, CH>(a, k0, (k0 + KC).min(k_total));
            for (c, s) in sum.iter_mut().enumerate() {
                for (v, acc_v) in acc.iter().enumerate() {
                    let p = s.as_mut_ptr().add(v * lanes);
                    let t = if k0 == 0 {
                        acc_v[c]
                    } else {
                        V::load(p).add(acc_v[c])
                    };
                    t.store(p);
                }
            }
        }
        for (c, s) in sum.iter_mut().enumerate().take(valid) {
            for v in 0..PV {
                let p = s.as_mut_ptr().add(v * lanes);
                let mut t = V::load(p);
                if let Some(b) = a.bias {
                    t = t.add(V::splat(b[c]));
                }
                if let Act::Clamp(lo, hi) = a.act {
                    t = t.clamp(V::splat(lo), V::splat(hi));
                }
                t.store(p);
            }
        }
    }
    let other_act = !matches!(a.act, Act::None | Act::Clamp(..));
    for j in 0..PV * lanes {
        let dst = &mut y[j * oc..][..valid];
        for (c, d) in dst.iter_mut().enumerate() {
            *d = if other_act {
                a.act.apply(sum[c][j])
            } else {
                sum[c][j]
            };
        }
    }
}

/// The accumulators of a block over reduction steps `k0..k1`, from 0.0.
///
/// # Safety
/// As [`block`].
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `acc[v][c]`: one weight, both vectors
unsafe fn chunk<V: F32Simd, const CH: usize>(a: &Block<'_>, k0: usize, k1: usize) -> [[V; CH]; PV] {
    // SAFETY: as the caller vouches (see `block`).
    unsafe {
        let mut acc = [[V::zero(); CH]; PV];
        let mut k = k0;
        while k < k1 {
            let (t, c_lo) = (k / a.ic, k % a.ic);
            let c_hi = (a.ic).min(c_lo + k1 - k);
            let (ky, kx) = (t / a.kw, t % a.kw);
            let mut xp = a.rows[ky].as_ptr().add(c_lo * a.ws_max + a.col + kx);
            let mut wp = a.w.as_ptr().add(k * a.nr);
            for _ in c_lo..c_hi {
                let mut xv = [V::zero(); PV];
                for (v, x) in xv.iter_mut().enumerate() {
                    *x = V::load(xp.add(v * V::LANES));
                }
                for c in 0..CH {
                    let wv = V::splat(*wp.add(c));
                    for v in 0..PV {
                        acc[v][c] = acc[v][c].fma(xv[v], wv);
                    }
                }
                xp = xp.add(a.ws_max);
                wp = wp.add(a.nr);
            }
            k += c_hi - c_lo;
        }
        acc
    }
}
