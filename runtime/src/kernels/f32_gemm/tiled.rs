//! Register-blocked f32 GEMM over an indirect (im2col-free) A operand: the
//! SIMD form of `Conv2d` with `groups == 1` and of `MatMul`, generic over
//! the vector type ([`F32Simd`]) and the `MR x NV·LANES` register tile.
//!
//! A row of A is one output pixel: the concatenation over kernel taps
//! `(ky, kx)` of the `ic` input channels that tap reads, or zeros where it
//! falls into the padding. `MatMul` is the 1x1 case over `[1, 1, m, k]`.
//! B (`[K, oc]` logically, `K = kh·kw·ic`) is packed per block of `NR`
//! output channels and chunk of at most [`KC`] rows into a stack panel
//! `[k][NR]`, zero-filled past the last channel, so the micro-kernel reads
//! it contiguously. Conv weights (OHWI, `[oc][K]`) and `MatMul`'s `b`
//! (`[K][n]`) differ only in how they are packed ([`BSource`]).
//!
//! Rounding: within each K chunk (at most [`KC`] steps), each output lane
//! accumulates its `k` in order from `0.0` like the reference, but with a
//! fused multiply-add (one rounding per step instead of two); padded taps
//! add `0·w`. Each chunk's sum is then added to the partial sum stored in
//! the output (the chunks in ascending order), so the loads of those
//! partial sums are off the multiply-add chains. Then `+ bias`, then the
//! activation. The difference to the reference is therefore bounded by
//! `K · 2^-23 · Σ_k |a_k·b_k|` per output (before the activation).
//!
//! Vector types without a fused multiply-add ([`F32Simd::FUSED`] false:
//! `portable`, `neon32`) round the product, then the sum, and start each
//! chunk from the stored partial sum instead: every output adds its
//! products in one sequence from `0.0`, the reference's sum bit for bit
//! (up to the sign of an all-zero sum, where a padded tap adds `0·w`).

use super::super::simd::F32Simd;
use super::super::Act;

/// Rows of B (reduction length) packed at a time.
pub(crate) const KC: usize = 256;
/// Widest `NR` (output channels per register tile) any ISA uses.
pub(crate) const NR_MAX: usize = 32;
/// Rows of A per block over packed weights: 96 rows of a K chunk are
/// 96 KB, which stay in L2 while every channel block passes over them
/// (measured best of 48, 96 and 192 on AVX-512).
const MC_ROWS: usize = 96;

/// Zeros read by the padding rows of A (at most one K chunk per segment).
static ZEROS: [f32; KC] = [0.0; KC];

/// Panics unless packing `isa` lays out the f32 weights of `n` channels
/// for the register tile the SIMD drivers run on them (`MR1 x 1` up to one
/// vector of channels, else `MR x NV`): the compiler packed for that tile,
/// and another would read the weights in the wrong order.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) fn assert_packing<V: F32Simd, const NV: usize>(isa: u32, n: usize) {
    let tile = if n <= V::LANES { 1 } else { NV };
    let nr = crate::packing::Packing::of_f32(isa, n).map(|l| l.nr);
    assert!(nr == Some(tile * V::LANES), "packing mismatch");
}

/// Where the output-channel weights come from.
#[derive(Clone, Copy)]
pub(crate) enum BSource<'a> {
    /// OHWI conv weights: channel `o`'s `K` values at `w[o*K..]`.
    PerOutput(&'a [f32]),
    /// `MatMul`'s row-major `b [K, n]`.
    PerK(&'a [f32]),
    /// Channel `o`'s `K` values at `w[o*stride + offset..]` (one kernel tap
    /// of OHWI weights).
    Strided(&'a [f32], usize, usize),
    /// Weights packed by the compiler as `[ceil(oc / NR)][K][NR]` for this
    /// register tile's `NR` ([`crate::packing::Packing::of_f32`]): each
    /// chunk's panel is read in place.
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(dead_code)
    )]
    Packed(&'a [f32]),
}

/// Where A row `m = (b, y, x)` of a 1x1 geometry is stored: output pixel
/// `(b, y·stride + tap_y, x·stride + tap_x)` of an `[n, out_h, out_w, oc]`
/// tensor (one kernel tap of a `ConvTranspose` whose kernel equals its
/// stride).
#[derive(Clone, Copy)]
pub(crate) struct Scatter {
    pub stride: [usize; 2],
    pub tap: [usize; 2],
    pub out_hw: [usize; 2],
}

/// Geometry of the indirect A operand (an NHWC conv's input).
#[derive(Clone, Copy)]
pub(crate) struct Geometry {
    /// `[n, ih, iw, ic]`.
    pub in_shape: [usize; 4],
    /// `[n, oh, ow, oc]`.
    pub out_shape: [usize; 4],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// `[pad_top, pad_left]`.
    pub pad: [usize; 2],
}

impl Geometry {
    /// `MatMul`'s `a [m, k]` as a 1x1 conv over `[1, 1, m, k]`.
    pub fn matmul(m: usize, k: usize, n: usize) -> Self {
        Geometry {
            in_shape: [1, 1, m, k],
            out_shape: [1, 1, m, n],
            kernel: [1, 1],
            stride: [1, 1],
            dilation: [1, 1],
            pad: [0, 0],
        }
    }

    /// Whether row `m` of A is input pixel `m` (a 1x1 conv with stride 1,
    /// no padding, and the input's size; [`Geometry::matmul`]'s too).
    pub fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1]
            && self.stride == [1, 1]
            && self.pad == [0, 0]
            && self.out_shape[..3] == self.in_shape[..3]
    }

    /// Whether this is [`Geometry::matmul`]'s (rows of A are the
    /// contiguous rows of the input).
    pub fn is_matmul(&self) -> bool {
        self.kernel == [1, 1]
            && self.stride == [1, 1]
            && self.pad == [0, 0]
            && self.in_shape[..2] == [1, 1]
    }

    /// Reduction length `kh·kw·ic`.
    pub fn k(&self) -> usize {
        self.kernel[0] * self.kernel[1] * self.in_shape[3]
    }

    /// Output pixels `n·oh·ow` (rows of A).
    pub fn m(&self) -> usize {
        self.out_shape[0] * self.out_shape[1] * self.out_shape[2]
    }

    /// Where output pixel `m`'s window starts: `(b, oy·sh − pad_top,
    /// ox·sw − pad_left)`.
    #[inline(always)]
    pub fn origin(&self, m: usize) -> (usize, isize, isize) {
        let [_, oh, ow, _] = self.out_shape;
        let (b, rem) = (m / (oh * ow), m % (oh * ow));
        let (oy, ox) = (rem / ow, rem % ow);
        (
            b,
            (oy * self.stride[0]) as isize - self.pad[0] as isize,
            (ox * self.stride[1]) as isize - self.pad[1] as isize,
        )
    }

    /// The window origins of rows `m0, m0+1, ..` ([`Geometry::origin`]),
    /// rows at and past `rows` repeating row `m0 + rows - 1`.
    #[inline(always)]
    pub fn origins<const MR: usize>(&self, m0: usize, rows: usize) -> [(usize, isize, isize); MR] {
        let mut walk = self.origins_from(m0, rows);
        let mut out = [(0, 0, 0); MR];
        for o in out.iter_mut() {
            *o = walk.next_origin();
        }
        out
    }

    /// [`Geometry::origins`] one row at a time: one division for the
    /// first, then stepping along the output row.
    #[inline(always)]
    pub fn origins_from(&self, m0: usize, rows: usize) -> Origins<'_> {
        let [_, oh, ow, _] = self.out_shape;
        let (b, rem) = (m0 / (oh * ow), m0 % (oh * ow));
        Origins {
            g: self,
            pixel: (b, rem / ow, rem % ow),
            left: rows,
            started: false,
        }
    }

    /// Whether every tap of kernel row `ky` of the window at `origin` lies
    /// inside the image (then, with `dilation[1] == 1`, the row's taps are
    /// `kernel[1]·ic` contiguous values).
    #[inline(always)]
    pub fn row_inside(&self, origin: (usize, isize, isize), ky: usize) -> bool {
        let [_, ih, iw, _] = self.in_shape;
        let iy = origin.1 + (ky * self.dilation[0]) as isize;
        let last = origin.2 + ((self.kernel[1] - 1) * self.dilation[1]) as isize;
        (0..ih as isize).contains(&iy) && origin.2 >= 0 && last < iw as isize
    }

    /// Whether every tap of the window at `origin` lies inside the image.
    #[inline(always)]
    pub fn window_inside(&self, origin: (usize, isize, isize)) -> bool {
        let [_, ih, iw, _] = self.in_shape;
        let bottom = origin.1 + ((self.kernel[0] - 1) * self.dilation[0]) as isize;
        let right = origin.2 + ((self.kernel[1] - 1) * self.dilation[1]) as isize;
        origin.1 >= 0 && origin.2 >= 0 && bottom < ih as isize && right < iw as isize
    }

    /// Element offset in the input of kernel tap `(ky, kx)` for a window
    /// starting at `origin`, or `None` in the padding.
    #[inline(always)]
    pub fn tap_offset(&self, origin: (usize, isize, isize), ky: usize, kx: usize) -> Option<usize> {
        let [_, ih, iw, ic] = self.in_shape;
        let iy = origin.1 + (ky * self.dilation[0]) as isize;
        let ix = origin.2 + (kx * self.dilation[1]) as isize;
        ((0..ih as isize).contains(&iy) && (0..iw as isize).contains(&ix))
            .then(|| ((origin.0 * ih + iy as usize) * iw + ix as usize) * ic)
    }
}

/// The window origins of consecutive A rows ([`Geometry::origins_from`]).
pub(crate) struct Origins<'a> {
    g: &'a Geometry,
    /// Output pixel `(b, oy, ox)` of the current row.
    pixel: (usize, usize, usize),
    /// Rows still to step to (then the last one repeats).
    left: usize,
    started: bool,
}

impl Origins<'_> {
    /// The origin of the next row (of the first, on the first call).
    #[inline(always)]
    pub fn next_origin(&mut self) -> (usize, isize, isize) {
        let [_, oh, ow, _] = self.g.out_shape;
        if self.started && self.left > 1 {
            self.left -= 1;
            let (b, oy, ox) = &mut self.pixel;
            *ox += 1;
            if *ox == ow {
                *ox = 0;
                *oy += 1;
                if *oy == oh {
                    *oy = 0;
                    *b += 1;
                }
            }
        }
        self.started = true;
        let (b, oy, ox) = self.pixel;
        let g = self.g;
        (
            b,
            (oy * g.stride[0]) as isize - g.pad[0] as isize,
            (ox * g.stride[1]) as isize - g.pad[1] as isize,
        )
    }
}

/// Packs rows `k0..k1` of B for output channels `n0..n0+nv` into
/// `panel[(k - k0) * nr + j]`, zeros for `j >= nv`.
#[inline(always)]
fn pack_b(
    src: BSource<'_>,
    k_total: usize,
    n_total: usize,
    (k0, k1): (usize, usize),
    (n0, nv): (usize, usize),
    nr: usize,
    panel: &mut [f32],
) {
    for (kk, row) in panel.chunks_exact_mut(nr).take(k1 - k0).enumerate() {
        let k = k0 + kk;
        row[nv..].fill(0.0);
        match src {
            BSource::PerOutput(w) => {
                for (j, v) in row[..nv].iter_mut().enumerate() {
                    *v = w[(n0 + j) * k_total + k];
                }
            }
            BSource::PerK(b) => row[..nv].copy_from_slice(&b[k * n_total + n0..][..nv]),
            BSource::Strided(w, stride, off) => {
                for (j, v) in row[..nv].iter_mut().enumerate() {
                    *v = w[(n0 + j) * stride + off + k];
                }
            }
            BSource::Packed(_) => unreachable!("packed panels are read in place"),
        }
    }
}

/// `out = act(A·B + bias)`; see the module docs.
///
/// # Safety
/// The CPU supports `V`'s instructions. `NV * V::LANES <= NR_MAX`.
#[inline(always)]
pub(crate) unsafe fn gemm<V: F32Simd, const MR: usize, const NV: usize>(
    g: &Geometry,
    x: &[f32],
    b: BSource<'_>,
    bias: Option<&[f32]>,
    act: Act,
    out: &mut [f32],
) {
    // SAFETY: forwarded from the caller.
    unsafe { gemm_scatter::<V, MR, NV>(g, x, b, bias, act, out, None) }
}

/// [`gemm`] storing A row `m` at output row `scatter(m)` (identity when
/// `None`).
///
/// # Safety
/// As [`gemm`].
#[inline(always)]
pub(crate) unsafe fn gemm_scatter<V: F32Simd, const MR: usize, const NV: usize>(
    g: &Geometry,
    x: &[f32],
    b: BSource<'_>,
    bias: Option<&[f32]>,
    act: Act,
    out: &mut [f32],
    scatter: Option<Scatter>,
) {
    let nr = NV * V::LANES;
    let (m_total, k_total, oc) = (g.m(), g.k(), g.out_shape[3]);
    // The raw-pointer reads and writes below rely on these (checked once per
    // call, like the slicing of the reference kernels).
    assert!(nr <= NR_MAX, "register tile wider than the panel");
    assert!(
        x.len() >= g.in_shape.iter().product::<usize>(),
        "input too short"
    );
    let out_rows = match scatter {
        None => m_total,
        Some(s) => {
            let [n, ih, iw, _] = g.in_shape;
            assert!(g.kernel == [1, 1] && g.stride == [1, 1] && g.pad == [0, 0]);
            assert!((ih - 1) * s.stride[0] + s.tap[0] < s.out_hw[0] || ih == 0);
            assert!((iw - 1) * s.stride[1] + s.tap[1] < s.out_hw[1] || iw == 0);
            n * s.out_hw[0] * s.out_hw[1]
        }
    };
    assert!(out.len() >= out_rows * oc, "output too short");
    assert!(g.out_shape[0] <= g.in_shape[0], "batch mismatch");
    match b {
        BSource::PerOutput(w) | BSource::PerK(w) => debug_assert!(w.len() >= oc * k_total),
        BSource::Strided(..) => {}
        BSource::Packed(w) => assert!(w.len() >= oc.div_ceil(nr) * nr * k_total),
    }
    if m_total == 0 || oc == 0 {
        return;
    }
    if k_total == 0 {
        for m in 0..m_total {
            let row = &mut out[out_row(g, scatter, m) * oc..][..oc];
            for (j, v) in row.iter_mut().enumerate() {
                *v = act.apply(bias.map_or(0.0, |b| b[j]));
            }
        }
        return;
    }
    let mut bufs = Buffers {
        panel: [0.0; KC * NR_MAX],
        bias: [0.0; NR_MAX],
    };
    let op = Operands {
        g,
        x,
        b,
        bias,
        act,
        scatter,
    };
    // Both loop orders add each output's K chunks in ascending order (the
    // partial sums go through the output), so they give the same bits.
    // SAFETY (all `block` calls): forwarded from the caller.
    if let BSource::Packed(_) = b {
        // No panel to pack: a block of A rows stays in cache across every
        // channel block (the weights stream once per block of rows).
        let mc = MC_ROWS / MR * MR;
        for k0 in (0..k_total).step_by(KC) {
            for m0 in (0..m_total).step_by(mc) {
                for n0 in (0..oc).step_by(nr) {
                    let rows = m0..(m0 + mc).min(m_total);
                    unsafe { block::<V, MR, NV>(&op, out, &mut bufs, n0, k0, rows) };
                }
            }
        }
    } else {
        // Each channel block's panel is packed once per K chunk.
        for n0 in (0..oc).step_by(nr) {
            for k0 in (0..k_total).step_by(KC) {
                unsafe { block::<V, MR, NV>(&op, out, &mut bufs, n0, k0, 0..m_total) };
            }
        }
    }
}

/// The inputs of one product.
struct Operands<'a> {
    g: &'a Geometry,
    x: &'a [f32],
    b: BSource<'a>,
    bias: Option<&'a [f32]>,
    act: Act,
    scatter: Option<Scatter>,
}

/// The stack panel of B and the bias of one channel block.
struct Buffers {
    panel: [f32; KC * NR_MAX],
    bias: [f32; NR_MAX],
}

/// Channel block `n0` over the K chunk from `k0` for A rows `rows`.
///
/// # Safety
/// As [`gemm`], with the checks of [`gemm_scatter`] done.
#[inline(always)]
unsafe fn block<V: F32Simd, const MR: usize, const NV: usize>(
    op: &Operands<'_>,
    out: &mut [f32],
    bufs: &mut Buffers,
    n0: usize,
    k0: usize,
    rows: core::ops::Range<usize>,
) {
    let nr = NV * V::LANES;
    let (k_total, oc) = (op.g.k(), op.g.out_shape[3]);
    let nv = nr.min(oc - n0);
    if let Some(bias) = op.bias {
        bufs.bias[..nv].copy_from_slice(&bias[n0..n0 + nv]);
    }
    let k1 = (k0 + KC).min(k_total);
    let panel: &[f32] = match op.b {
        BSource::Packed(w) => &w[n0 * k_total + k0 * nr..][..(k1 - k0) * nr],
        b => {
            pack_b(b, k_total, oc, (k0, k1), (n0, nv), nr, &mut bufs.panel);
            &bufs.panel
        }
    };
    let chunk = Chunk {
        k0,
        k1,
        first: k0 == 0,
        last: k1 == k_total,
    };
    for m0 in rows.clone().step_by(MR) {
        let n_rows = MR.min(rows.end - m0);
        // SAFETY: forwarded from the caller; `tile` stays within `x`
        // (offsets from `tap_offset`), the panel and `out`.
        unsafe {
            tile::<V, MR, NV>(
                op.g,
                op.x,
                op.g.in_shape[3],
                &chunk,
                panel,
                &bufs.bias,
                op.bias.is_some(),
                op.act,
                out,
                oc,
                (m0, n_rows),
                (n0, nv),
                op.scatter,
            );
        }
    }
}

/// The output row of A row `m`.
#[inline(always)]
fn out_row(g: &Geometry, scatter: Option<Scatter>, m: usize) -> usize {
    out_rows::<1>(g, scatter, m, 1)[0]
}

/// The output rows of A rows `m0..m0 + rows` (`rows <= MR`; later entries
/// 0): `m` itself, or with a scatter output pixel `(b, y·stride + tap_y,
/// x·stride + tap_x)` of input pixel `m = (b, y, x)`; one division for the
/// first, then stepping along the input row.
#[inline(always)]
fn out_rows<const MR: usize>(
    g: &Geometry,
    scatter: Option<Scatter>,
    m0: usize,
    rows: usize,
) -> [usize; MR] {
    let Some(s) = scatter else {
        return core::array::from_fn(|r| m0 + r);
    };
    let [_, ih, iw, _] = g.in_shape;
    let (mut b, rem) = (m0 / (ih * iw), m0 % (ih * iw));
    let (mut y, mut x) = (rem / iw, rem % iw);
    let mut out = [0; MR];
    for (r, o) in out.iter_mut().enumerate().take(rows) {
        if r > 0 {
            x += 1;
            if x == iw {
                (x, y) = (0, y + 1);
                if y == ih {
                    (y, b) = (0, b + 1);
                }
            }
        }
        *o = (b * s.out_hw[0] + y * s.stride[0] + s.tap[0]) * s.out_hw[1]
            + x * s.stride[1]
            + s.tap[1];
    }
    out
}

/// The `n <= LANES` values at `p` in the first lanes of a vector (zeros
/// elsewhere, and everywhere for `n == 0`).
///
/// # Safety
/// The CPU supports `V`; `n` values at `p` are readable.
#[inline(always)]
unsafe fn load_channels<V: F32Simd>(p: *const f32, n: usize) -> V {
    // SAFETY: as the caller vouches.
    unsafe {
        if n == V::LANES {
            V::load(p)
        } else if n > 0 {
            V::load_first(p, n)
        } else {
            V::zero()
        }
    }
}

/// The K range of one packed panel.
struct Chunk {
    k0: usize,
    k1: usize,
    first: bool,
    last: bool,
}

/// `acc += A·B` over `seg` values of `k`: row `r` of A at `rp[r]`, B's
/// `NV` vectors per `k` at `bp`. The accumulators pass by value so that
/// they stay in registers across the loop.
///
/// # Safety
/// The CPU supports `V`; `rp[r]` has `seg` values, `bp` `seg·NV·LANES`.
#[inline(always)]
unsafe fn segment<V: F32Simd, const MR: usize, const NV: usize>(
    mut acc: [[V; NV]; MR],
    rp: &[*const f32; MR],
    mut bp: *const f32,
    seg: usize,
) -> [[V; NV]; MR] {
    // SAFETY: as the caller vouches.
    if unsafe { V::mac_segment::<MR, NV>(&mut acc, rp, bp, seg) } {
        return acc;
    }
    let mut i = 0;
    // SAFETY: the reads stay within the ranges the caller vouches for
    // (four steps at a time read `rp[r][i..i + 4]`, `i + 4 <= seg`).
    unsafe {
        if V::FMA_BY_LANE && V::LANES == 4 {
            // Four steps of `k` per A load; each output still adds its
            // products in order of `k`, with the same fused multiply-adds.
            while i + 4 <= seg {
                let av: [V; MR] = core::array::from_fn(|r| V::load(rp[r].add(i)));
                acc = lane_step::<V, MR, NV, 0>(acc, &av, bp);
                acc = lane_step::<V, MR, NV, 1>(acc, &av, bp.add(NV * V::LANES));
                acc = lane_step::<V, MR, NV, 2>(acc, &av, bp.add(2 * NV * V::LANES));
                acc = lane_step::<V, MR, NV, 3>(acc, &av, bp.add(3 * NV * V::LANES));
                bp = bp.add(4 * NV * V::LANES);
                i += 4;
            }
        }
        while i < seg {
            let bv: [V; NV] = core::array::from_fn(|v| V::load(bp.add(v * V::LANES)));
            for r in 0..MR {
                let a = V::splat(*rp[r].add(i));
                for v in 0..NV {
                    acc[r][v] = acc[r][v].fma(a, bv[v]);
                }
            }
            bp = bp.add(NV * V::LANES);
            i += 1;
        }
    }
    acc
}

/// One step of `k` of [`segment`]'s four-step form: row `r`'s A value is
/// lane `L` of `av[r]`, B's `NV` vectors are at `bp`.
///
/// # Safety
/// The CPU supports `V`; `bp` has `NV·LANES` values; `L < LANES`.
#[inline(always)]
unsafe fn lane_step<V: F32Simd, const MR: usize, const NV: usize, const L: i32>(
    mut acc: [[V; NV]; MR],
    av: &[V; MR],
    bp: *const f32,
) -> [[V; NV]; MR] {
    // SAFETY: as the caller vouches.
    unsafe {
        let bv: [V; NV] = core::array::from_fn(|v| V::load(bp.add(v * V::LANES)));
        for r in 0..MR {
            for v in 0..NV {
                acc[r][v] = acc[r][v].fma_lane::<L>(bv[v], av[r]);
            }
        }
    }
    acc
}

/// One `MR x NR` output tile over one K chunk.
///
/// # Safety
/// As [`gemm`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<V: F32Simd, const MR: usize, const NV: usize>(
    g: &Geometry,
    x: &[f32],
    ic: usize,
    c: &Chunk,
    panel: &[f32],
    bias_blk: &[f32; NR_MAX],
    has_bias: bool,
    act: Act,
    out: &mut [f32],
    oc: usize,
    (m0, rows): (usize, usize),
    (n0, nv): (usize, usize),
    scatter: Option<Scatter>,
) {
    let nr = NV * V::LANES;
    // Lanes of vector `v` that hold channels (`LANES`, fewer, or none).
    let lanes_of = |v: usize| nv.saturating_sub(v * V::LANES).min(V::LANES);
    // SAFETY (whole body): the CPU supports V (caller). Every pointer read
    // below is in bounds: A rows come from `tap_offset` (an in-image pixel's
    // `ic` values, or the rest of a kernel row that `row_inside` found in
    // the image), from the first tap of a window that `window_inside` found
    // in the image (plus the offset of a tap of that window and the rest of
    // its kernel row), or `ZEROS` (`seg <= KC`); the panel holds `(k1-k0)·nr`
    // values; output rows `m0..m0+rows`, channels `n0..n0+nv` exist, and
    // a vector with fewer channels than lanes loads and stores only those.
    unsafe {
        let mut acc = [[V::zero(); NV]; MR];
        let o_rows = out_rows::<MR>(g, scatter, m0, rows);
        // Without fused multiply-adds, a later chunk resumes the stored
        // partial sum, so that each output is one sequence of roundings.
        let resume = !V::FUSED && !c.first;
        if resume {
            for (r, acc_r) in acc.iter_mut().enumerate().take(rows) {
                let o = out.as_ptr().add(o_rows[r] * oc + n0);
                for (v, a) in acc_r.iter_mut().enumerate() {
                    *a = load_channels(o.add(v * V::LANES), lanes_of(v));
                }
            }
        }
        // Rows past `rows` repeat the last valid row (computed, not stored).
        let pointwise = g.is_pointwise();
        let origins: [_; MR] = if pointwise {
            [(0, 0, 0); MR]
        } else {
            g.origins::<MR>(m0, rows)
        };
        let mut k = c.k0;
        let mut bp = panel.as_ptr();
        // Tap `(ky, kx)` and channel `i0` of `k`, stepped per segment.
        let (t, mut i0) = (k / ic, k % ic);
        let (mut ky, mut kx) = (t / g.kernel[1], t % g.kernel[1]);
        // With a dense kernel row inside the image for every row of the
        // tile, the rest of that kernel row is one contiguous segment.
        let dense_rows = !pointwise && g.dilation[1] == 1 && g.kernel[1] > 1;
        // With every row's whole window inside the image, kernel row `ky`
        // of row `r` starts `ky · row_step` values after its first tap.
        let interior = dense_rows && origins.iter().all(|&o| g.window_inside(o));
        let row_step = g.dilation[0] * g.in_shape[2] * ic;
        let first_taps: [*const f32; MR] = if interior {
            core::array::from_fn(|r| x.as_ptr().add(g.tap_offset(origins[r], 0, 0).unwrap_or(0)))
        } else {
            [ZEROS.as_ptr(); MR]
        };
        while k < c.k1 {
            let whole_row = interior || dense_rows && origins.iter().all(|&o| g.row_inside(o, ky));
            let seg = if whole_row {
                (g.kernel[1] * ic - kx * ic - i0).min(c.k1 - k)
            } else {
                (ic - i0).min(c.k1 - k)
            };
            let mut rp = [ZEROS.as_ptr(); MR];
            if interior {
                let d = ky * row_step + kx * ic + i0;
                for (p, &f) in rp.iter_mut().zip(&first_taps) {
                    *p = f.add(d);
                }
            } else {
                for (r, p) in rp.iter_mut().enumerate() {
                    let off = if pointwise {
                        Some((m0 + r.min(rows - 1)) * ic)
                    } else {
                        g.tap_offset(origins[r], ky, kx)
                    };
                    if let Some(off) = off {
                        *p = x.as_ptr().add(off + i0);
                    }
                }
            }
            acc = segment::<V, MR, NV>(acc, &rp, bp, seg);
            bp = bp.add(seg * nr);
            k += seg;
            i0 = 0;
            kx += 1;
            if whole_row || kx == g.kernel[1] {
                kx = 0;
                ky += 1;
            }
        }
        let clamp = match act {
            Act::Clamp(lo, hi) => Some((V::splat(lo), V::splat(hi))),
            _ => None,
        };
        for (r, acc_r) in acc.iter().enumerate() {
            if r >= rows {
                continue;
            }
            let o = out.as_mut_ptr().add(o_rows[r] * oc + n0);
            for (v, &a) in acc_r.iter().enumerate() {
                let mut a = a;
                let n = lanes_of(v);
                if !c.first && !resume && n > 0 {
                    a = load_channels::<V>(o.add(v * V::LANES), n).add(a);
                }
                if c.last {
                    if has_bias {
                        a = a.add(V::load(bias_blk.as_ptr().add(v * V::LANES)));
                    }
                    if let Some((lo, hi)) = clamp {
                        a = a.clamp(lo, hi);
                    }
                }
                if n == V::LANES {
                    a.store(o.add(v * V::LANES));
                } else if n > 0 {
                    a.store_first(o.add(v * V::LANES), n);
                }
            }
            if c.last && !matches!(act, Act::None | Act::Clamp(..)) {
                for v in core::slice::from_raw_parts_mut(o, nv) {
                    *v = act.apply(*v);
                }
            }
        }
    }
}
