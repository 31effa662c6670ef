//! Register-blocked int8 GEMM with int32 accumulation and fused
//! requantization over an indirect (im2col-free) A operand: the SIMD form
//! of int8 `Conv2d` with `groups == 1` and of int8 `MatMul`. Generic over the micro-kernel ([`QMicro`]); the
//! ISA files supply those (`x86.rs`: AVX-512 VNNI `vpdpbusd`, AVX2
//! `vpmaddwd`; `neon.rs`: `sdot`, `smull` + `sadalp`; `neon32.rs`: armv7
//! `vmull.s8` + `vpadal.s16`).
//!
//! Rows of A are output pixels, as in the f32 driver
//! ([`Geometry`]). Per block of `NR` output channels and chunk of at most
//! [`KC`] reduction steps:
//! * B is packed into a `[k / G][NR][G]` stack panel (`G` consecutive `k`
//!   of one channel together, as `vpdpbusd` / `sdot` consume them), zeros
//!   past the last channel and the end of the chunk;
//! * each `MR`-row tile of A is gathered into a row-major `[MR][kp]` stack
//!   panel of the micro-kernel's element type (`kp`: the chunk rounded up to
//!   the micro-kernel's step), padding taps as the input zero point.
//!
//! Stack: the panels take up to `KC · (NR_MAX + MR_MAX)` elements of the
//! micro-kernel's types plus `MC · NR_MAX` accumulators (about 196 KB for
//! the `i16` micro-kernels on x86-64, 180 KB elsewhere), uninitialized
//! until packed.
//!
//! Arithmetic: the micro-kernel computes `Σ_k b·a(x)` exactly in `i32`
//! (mod 2^32), where `a(x) = x − zp + offset` for an ISA-specific `offset`
//! (`vpdpbusd` multiplies unsigned bytes, so it reads `x + 128`). The
//! accumulator starts at `bias[o] − offset·Σ_k b[k, o]`, so the result is the
//! reference's `bias[o] + Σ_k b·(x − zp)` mod 2^32 bit for bit; padding taps
//! read `x = zp` and contribute 0, as the reference's skipped taps.
//! A `MatMul` whose `b` has a zero point (two activations multiplied) gets
//! `− b_zp · Σ_k (a[i, k] − a_zp)` added per row of A, the term that
//! `Σ (a − a_zp)·(b − b_zp)` has beyond `Σ (a − a_zp)·b` (all mod 2^32).
//! Requantization is [`requantize_clamp`](crate::quant::requantize_clamp), in
//! its lane-parallel form
//! [`requantize_clamp_block`](crate::quant::requantize_clamp_block).

use core::mem::MaybeUninit;

use super::super::f32_gemm::tiled::Geometry;
use crate::kernels::simd::{requant_lanes, requant_store, I32Simd, RQ_VECS};

/// Reduction steps packed at a time (a 3x3 conv over 227 channels fits
/// one chunk, so its weights are packed once per call).
pub(crate) const KC: usize = 2048;
/// Widest `NR` of any micro-kernel.
pub(crate) const NR_MAX: usize = 32;
/// Tallest `MR` of any micro-kernel (x86-64: AVX-512 VNNI's 12).
pub(crate) const MR_MAX: usize = if cfg!(target_arch = "x86_64") { 12 } else { 8 };
/// Elements past its `MR · kp` that an A panel holds, for
/// [`QMicro::a_copy_over`]'s overrun.
pub(crate) const A_SLACK: usize = 64;
/// Rows of A whose accumulators are kept between K chunks.
const MC: usize = 128;

/// An int8 micro-kernel: `acc[r][j] += Σ_{k < kp} a[r][k] · b[k][j]`.
pub(crate) trait QMicro {
    /// Rows of the register tile.
    const MR: usize;
    /// Output channels of the register tile (`<= NR_MAX`).
    const NR: usize;
    /// Consecutive `k` of one channel stored together in the B panel.
    const G: usize;
    /// `k` consumed per inner iteration; `kp` is a multiple of it.
    const KSTEP: usize;
    /// Packed A element.
    type A: Copy;
    /// Packed B element.
    type B: Copy;
    /// The `i32` vector of the table, for the requantization of the
    /// accumulators (`NR` is a multiple of its lanes).
    type V: I32Simd;
    /// Zero of `B`.
    const B_ZERO: Self::B;
    /// `B` is `i8` and `b_val` the identity, so the micro-kernel reads
    /// weights pre-packed by the compiler ([`QBSource::Packed`]) in place.
    const RAW_B: bool = false;
    /// The micro-kernel's ISA is AVX-512 VNNI, so the table also runs
    /// `i8_conv::depthwise_vnni` (depthwise convs) and
    /// `i8_conv::pixels_vnni` (convs of few channels over packed weights);
    /// those modules exist on x86-64 only.
    #[cfg_attr(any(not(target_arch = "x86_64"), miri), allow(dead_code))]
    const VNNI512: bool = false;
    /// The packed A value of input `x`: `x − zp + offset(zp)` in `A`.
    fn a_val(x: i8, zp: i32) -> Self::A;
    /// The packed B value of weight `w`.
    fn b_val(w: i8) -> Self::B;
    /// The constant that `a_val` adds to `x − zp`.
    fn offset(zp: i32) -> i32;
    /// Writes `a_val(v, zp)` of each `v` of `src` to `dst[..src.len()]`
    /// (the inner copy of the A gather).
    ///
    /// # Safety
    /// The CPU supports the micro-kernel's ISA; `dst` is valid for
    /// `src.len()` writes.
    #[inline(always)]
    unsafe fn a_copy(src: &[i8], zp: i32, dst: *mut Self::A) {
        for (i, &v) in src.iter().enumerate() {
            // SAFETY: `i < src.len()` (caller).
            unsafe { dst.add(i).write(Self::a_val(v, zp)) };
        }
    }
    /// Writes `a_val(v, zp)` of each `v` of `src[..n]` to `dst[..n]`, and
    /// possibly unspecified values to `dst[n..n + A_SLACK]`; reads no more
    /// than `src` (all of it may be read). The default is
    /// [`a_copy`](Self::a_copy) of `src[..n]`.
    ///
    /// # Safety
    /// As [`a_copy`](Self::a_copy), with `n <= src.len()` and `dst` valid
    /// for `n + A_SLACK` writes.
    #[inline(always)]
    unsafe fn a_copy_over(src: &[i8], n: usize, zp: i32, dst: *mut Self::A) {
        // SAFETY: forwarded from the caller.
        unsafe { Self::a_copy(&src[..n], zp, dst) }
    }
    /// Accumulates one tile: `a` is `[MR][lda]`, `b` is the `[kp / G][NR][G]`
    /// panel, `acc` is `[MR][NR]` row-major.
    ///
    /// # Safety
    /// The CPU supports the micro-kernel's ISA; `kp` is a multiple of
    /// `KSTEP` and the panels hold `kp` steps.
    unsafe fn tile(a: *const Self::A, lda: usize, b: *const Self::B, kp: usize, acc: *mut i32);
    /// One tile of the output: [`tile`](Self::tile) from the accumulators
    /// `init` (the same `NR` values in every row), requantized
    /// ([`requant_store`]) into row `r < rows` of `y` at `y[r·ldy..][..nv]`.
    /// `pair` is the prepared requantization of the first `LANES / 2`
    /// channels of the last vector that `nv` reaches, twice (two rows of a
    /// vector at most half used, requantized as one).
    /// The default goes through an accumulator array; micro-kernels
    /// override it to requantize from their registers.
    ///
    /// # Safety
    /// As [`tile`](Self::tile); `rows <= MR`, `nv <= NR`, and `rq` holds
    /// the prepared requantization of `NR` channels.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_store(
        a: *const Self::A,
        lda: usize,
        b: *const Self::B,
        kp: usize,
        init: &[i32; NR_MAX],
        (rq, _pair): (
            &[<Self::V as I32Simd>::Requant; RQ_VECS],
            &<Self::V as I32Simd>::Requant,
        ),
        out: (i32, i32, i32),
        (y, ldy, rows, nv): (&mut [i8], usize, usize, usize),
    ) {
        let mut acc = [0i32; MR_MAX * NR_MAX];
        // SAFETY: forwarded from the caller; `acc` holds MR × NR values.
        unsafe { Self::tile(a, lda, b, kp, acc.as_mut_ptr()) };
        for r in 0..rows {
            // SAFETY: the CPU supports the vector type (caller); `acc` and
            // `init` hold `NR` values per row, `rq` one entry per vector.
            unsafe {
                requant_store::<Self::V>(
                    &acc[r * Self::NR..],
                    init,
                    rq,
                    out,
                    &mut y[r * ldy..][..nv],
                )
            };
        }
    }
}

/// Where the output-channel weights come from.
#[derive(Clone, Copy)]
pub(crate) enum QBSource<'a> {
    /// OHWI conv weights: channel `o`'s `K` values at `w[o*K..]`.
    PerOutput(&'a [i8]),
    /// `MatMul`'s row-major `b [K, n]` (zero point 0).
    PerK(&'a [i8]),
    /// Weights in the micro-kernel's own layout, `[n / NR][kp / G][NR][G]`
    /// over all `K` ([`crate::packing`]), with the bias already folded
    /// (`bias − offset·Σ b`); only for micro-kernels with [`QMicro::RAW_B`].
    Packed(&'a [i8]),
}

/// Panics unless packing `isa` lays out `n` channels for `Q` (the layout
/// the compiler wrote is the one this micro-kernel reads).
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) fn assert_packing<Q: QMicro>(isa: u32, n: usize) {
    let layout = crate::packing::Packing::of(isa, n);
    assert!(
        layout.is_some_and(
            |l| (l.nr, l.g, l.kstep, l.a_offset) == (Q::NR, Q::G, Q::KSTEP, Q::offset(0))
        ),
        "packing mismatch"
    );
}

/// Requantization and zero points of one int8 GEMM.
#[derive(Clone, Copy)]
pub(crate) struct QOut<'a> {
    pub in_zp: i32,
    pub out_zp: i32,
    pub act_min: i32,
    pub act_max: i32,
    /// `(mult, shift)` pairs: one (per tensor) or one per output channel.
    pub requant: &'a [i32],
    /// Zero point of B: nonzero only for `MatMul`'s plain `b`
    /// ([`QBSource::PerK`] over [`Geometry::matmul`]).
    pub b_zp: i32,
}

/// `out = clamp(requant(A·B + bias))`; see the module docs.
///
/// # Safety
/// The CPU supports `Q`'s instructions.
#[inline(always)]
pub(crate) unsafe fn qgemm<Q: QMicro>(
    g: &Geometry,
    x: &[i8],
    b: QBSource<'_>,
    bias: Option<&[i32]>,
    q: &QOut<'_>,
    out: &mut [i8],
) {
    let (m_total, k_total, oc) = (g.m(), g.k(), g.out_shape[3]);
    // The panel arithmetic relies on the first; the rest are checked by
    // slicing as well, here once per call.
    assert!(
        Q::NR <= NR_MAX
            && Q::MR <= MR_MAX
            && KC.is_multiple_of(Q::KSTEP)
            && Q::KSTEP.is_multiple_of(Q::G)
    );
    assert!(
        x.len() >= g.in_shape.iter().product::<usize>(),
        "input too short"
    );
    assert!(out.len() >= m_total * oc, "output too short");
    assert!(g.out_shape[0] <= g.in_shape[0], "batch mismatch");
    assert!(
        q.requant.len() == 2 || q.requant.len() >= 2 * oc,
        "requant too short"
    );
    // Rows of A are the contiguous rows of `x` only for `MatMul`.
    assert!(
        q.b_zp == 0 || (matches!(b, QBSource::PerK(_)) && g.is_matmul()),
        "a B zero point only for MatMul"
    );
    let kp_all = k_total.div_ceil(Q::KSTEP) * Q::KSTEP;
    let packed = match b {
        QBSource::Packed(w) => {
            assert!(Q::RAW_B && core::mem::size_of::<Q::B>() == 1);
            assert!(
                w.len() >= oc.div_ceil(Q::NR) * Q::NR * kp_all,
                "packed weights too short"
            );
            assert!(bias.is_some_and(|b| b.len() >= oc), "packed bias too short");
            Some(w.as_ptr().cast::<Q::B>())
        }
        _ => None,
    };
    if m_total == 0 || oc == 0 {
        return;
    }
    if let (Some(wp), true) = (packed, k_total <= KC) {
        // SAFETY: forwarded from the caller; `wp` holds every block (above).
        return unsafe {
            qgemm_packed_one_chunk::<Q>(g, x, wp, kp_all, bias.unwrap_or(&[]), q, out)
        };
    }
    let per_channel = q.requant.len() != 2;
    let mc = MC / Q::MR * Q::MR;
    // Uninitialized panels: each is written (`pack_a`, `pack_b`) over the
    // whole range a micro-kernel then reads, and only accessed through raw
    // pointers (never as a slice of possibly uninitialized values).
    let mut bpanel = MaybeUninit::<[Q::B; KC * NR_MAX]>::uninit();
    let mut apanel = MaybeUninit::<[Q::A; KC * MR_MAX + A_SLACK]>::uninit();
    let bp = bpanel.as_mut_ptr().cast::<Q::B>();
    let ap = apanel.as_mut_ptr().cast::<Q::A>();
    let mut acc = [0i32; MC * NR_MAX];
    let n_chunks = k_total.div_ceil(KC).max(1);
    let off = Q::offset(q.in_zp);
    for n0 in (0..oc).step_by(Q::NR) {
        let nv = Q::NR.min(oc - n0);
        let mut mult = [0i32; NR_MAX];
        let mut shift = [0i32; NR_MAX];
        for j in 0..nv {
            let r = if per_channel { 2 * (n0 + j) } else { 0 };
            mult[j] = q.requant[r];
            shift[j] = q.requant[r + 1];
        }
        // Σ_k b[k, o] per channel, summed while the first row block packs
        // the chunks; then `init = bias − offset · Σ b` (mod 2^32) is what
        // the micro-kernel's sums lack.
        let mut wsum = [0i32; NR_MAX];
        let mut init = [0i32; NR_MAX];
        let mut chunk_in_panel = usize::MAX;
        for m0 in (0..m_total).step_by(mc) {
            let rows = mc.min(m_total - m0);
            acc[..rows * Q::NR].fill(0);
            // `− b_zp · Σ_k (a[i, k] − a_zp)` of each row (0 when `b_zp == 0`).
            let mut row_fix = [0i32; MC];
            if q.b_zp != 0 {
                for (r, fix) in row_fix[..rows].iter_mut().enumerate() {
                    let row = &x[(m0 + r) * k_total..][..k_total];
                    let s = row
                        .iter()
                        .fold(0i32, |s, &v| s.wrapping_add(v as i32 - q.in_zp));
                    *fix = s.wrapping_mul(q.b_zp).wrapping_neg();
                }
            }
            for c in 0..n_chunks {
                let (k0, k1) = (c * KC, ((c + 1) * KC).min(k_total));
                let kp = (k1 - k0).div_ceil(Q::KSTEP) * Q::KSTEP;
                // The chunk's panel: in the packed weights (block `n0 / NR`,
                // steps from `k0`, a multiple of `G`), or packed here.
                let bp = match packed {
                    // SAFETY: inside the packed weights (checked above).
                    Some(wp) => unsafe { wp.add(n0 * kp_all + k0 * Q::NR) },
                    None => {
                        if chunk_in_panel != c {
                            let sums = (m0 == 0).then_some(&mut wsum);
                            // SAFETY: `bp` holds KC·NR_MAX elements and `kp <= KC`.
                            unsafe {
                                pack_b::<Q>(b, k_total, oc, (k0, k1, kp), (n0, nv), bp, sums)
                            };
                            chunk_in_panel = c;
                        }
                        bp.cast_const()
                    }
                };
                for t0 in (0..rows).step_by(Q::MR) {
                    let tr = Q::MR.min(rows - t0);
                    // SAFETY: `ap` holds KC·MR_MAX + A_SLACK elements and `kp <= KC`.
                    unsafe { pack_a::<Q>(g, x, q.in_zp, (m0 + t0, tr), (k0, k1, kp), ap) };
                    // SAFETY: the CPU supports Q (caller); both panels were
                    // written over `kp` steps, and `acc` rows `t0..t0 + MR`
                    // lie within `MC` (`mc` is a multiple of MR).
                    unsafe { Q::tile(ap, kp, bp, kp, acc.as_mut_ptr().add(t0 * Q::NR)) };
                }
            }
            if m0 == 0 {
                // Packed weights come with `off · Σ b` folded into the bias
                // (and `wsum` stays 0).
                let off = if packed.is_some() { 0 } else { off };
                for j in 0..nv {
                    init[j] = bias
                        .map_or(0, |bias| bias[n0 + j])
                        .wrapping_sub(off.wrapping_mul(wsum[j]));
                }
            }
            // SAFETY: the CPU supports Q, hence its vector type (the caller).
            let rq = unsafe { requant_lanes::<Q::V>(&mult, &shift) };
            for r in 0..rows {
                let y = &mut out[(m0 + r) * oc + n0..][..nv];
                let a = &acc[r * Q::NR..][..Q::NR];
                if row_fix[r] == 0 {
                    requant_row::<Q>(a, &init, &rq, q, y);
                } else {
                    let mut row_init = init;
                    for v in &mut row_init {
                        *v = v.wrapping_add(row_fix[r]);
                    }
                    requant_row::<Q>(a, &row_init, &rq, q, y);
                }
            }
        }
    }
}

/// [`qgemm`] over weights pre-packed over all of `K <= KC` (`kp` steps
/// per block at `wp`) and a folded `bias`: each `MR`-row tile of A is
/// gathered once and multiplied by every block of channels in turn.
///
/// # Safety
/// As [`qgemm`]; `wp` holds `ceil(oc / NR)` blocks of `kp · NR` values and
/// the shapes were checked by it.
#[inline(always)]
unsafe fn qgemm_packed_one_chunk<Q: QMicro>(
    g: &Geometry,
    x: &[i8],
    wp: *const Q::B,
    kp: usize,
    bias: &[i32],
    q: &QOut<'_>,
    out: &mut [i8],
) {
    let (m_total, k_total, oc) = (g.m(), g.k(), g.out_shape[3]);
    let per_channel = q.requant.len() != 2;
    let mut apanel = MaybeUninit::<[Q::A; KC * MR_MAX + A_SLACK]>::uninit();
    let ap = apanel.as_mut_ptr().cast::<Q::A>();
    // The output stage's constants of up to `GROUP` channel blocks, set up
    // once per group rather than once per tile (a group wider than the
    // channels, as in most convs, gathers each tile of A once).
    const GROUP: usize = 8;
    for g0 in (0..oc).step_by(GROUP * Q::NR) {
        let g1 = (g0 + GROUP * Q::NR).min(oc);
        // Per block: `[init, mult, shift]`, and the prepared requantization.
        let mut consts = [[[0i32; NR_MAX]; 3]; GROUP];
        for (c, n0) in consts.iter_mut().zip((g0..g1).step_by(Q::NR)) {
            for j in 0..Q::NR.min(oc - n0) {
                let r = if per_channel { 2 * (n0 + j) } else { 0 };
                c[0][j] = bias[n0 + j];
                c[1][j] = q.requant[r];
                c[2][j] = q.requant[r + 1];
            }
        }
        // The prepared requantization of the group's blocks only (a conv
        // of few channels has one): no copies for the others. A loop, not
        // a closure (target features); SAFETY (both calls): the CPU
        // supports Q, hence its vector type (the caller).
        let blocks = (g1 - g0).div_ceil(Q::NR);
        type Rq<Q> = <<Q as QMicro>::V as I32Simd>::Requant;
        let mut rq_mem = [const { MaybeUninit::<[Rq<Q>; RQ_VECS]>::uninit() }; GROUP];
        // The `pair` of `tile_store`: the first half of the last vector a
        // block's channels reach, twice.
        let mut pair_mem = [const { MaybeUninit::<Rq<Q>>::uninit() }; GROUP];
        let lanes = <Q::V as I32Simd>::LANES;
        let slots = rq_mem.iter_mut().zip(&mut pair_mem).zip(&consts);
        for (((rq, pr), c), n0) in slots.zip((g0..g1).step_by(Q::NR)) {
            rq.write(unsafe { requant_lanes::<Q::V>(&c[1], &c[2]) });
            let last = (Q::NR.min(oc - n0) - 1) / lanes * lanes;
            let (mut m, mut sh) = ([0i32; 16], [0i32; 16]);
            for j in 0..lanes {
                m[j] = c[1][last + j % (lanes / 2).max(1)];
                sh[j] = c[2][last + j % (lanes / 2).max(1)];
            }
            pr.write(unsafe {
                Q::V::requant_prep(Q::V::load(m.as_ptr()), Q::V::load(sh.as_ptr()))
            });
        }
        // SAFETY: the first `blocks <= GROUP` entries were written above.
        let (rqs, pairs) = unsafe {
            (
                core::slice::from_raw_parts(rq_mem.as_ptr().cast::<[Rq<Q>; RQ_VECS]>(), blocks),
                core::slice::from_raw_parts(pair_mem.as_ptr().cast::<Rq<Q>>(), blocks),
            )
        };
        for t0 in (0..m_total).step_by(Q::MR) {
            let tr = Q::MR.min(m_total - t0);
            // SAFETY: `ap` holds KC·MR_MAX + A_SLACK elements and `kp <= KC`.
            unsafe { pack_a::<Q>(g, x, q.in_zp, (t0, tr), (0, k_total, kp), ap) };
            let blocks = consts.iter().zip(rqs).zip(pairs);
            for (((c, rq), pair), n0) in blocks.zip((g0..g1).step_by(Q::NR)) {
                let nv = Q::NR.min(oc - n0);
                let y = &mut out[t0 * oc + n0..(t0 + tr - 1) * oc + n0 + nv];
                // SAFETY: the CPU supports Q (caller); the A panel was
                // written over `kp` steps, block `n0 / NR` of the weights
                // holds `kp` steps of `NR` channels; `tr <= MR`, `nv <= NR`.
                unsafe {
                    let zc = (q.out_zp, q.act_min, q.act_max);
                    let yv = (y, oc, tr, nv);
                    Q::tile_store(ap, kp, wp.add(n0 * kp), kp, &c[0], (rq, pair), zc, yv)
                };
            }
        }
    }
}

/// Requantizes one row of accumulators plus `init` (`y.len() <= NR`
/// lanes) with the table's vector type.
#[inline(always)]
fn requant_row<Q: QMicro>(
    acc: &[i32],
    init: &[i32; NR_MAX],
    rq: &[<Q::V as I32Simd>::Requant; RQ_VECS],
    q: &QOut<'_>,
    y: &mut [i8],
) {
    // SAFETY: the CPU supports Q, hence its vector type (the caller of
    // `qgemm`); `acc` holds `NR` values, a multiple of the lanes covering
    // `y`, and the arrays `NR_MAX >= NR`.
    unsafe { requant_store::<Q::V>(acc, init, rq, (q.out_zp, q.act_min, q.act_max), y) }
}

/// Packs steps `k0..k1` (zero weights up to `kp`) of channels
/// `n0..n0 + nv` (zeros up to `NR`) as `[k / G][NR][G]` at `panel`, adding
/// each channel's weights to `sums` when given.
///
/// # Safety
/// `panel` is valid for `kp · NR` writes.
#[inline(always)]
unsafe fn pack_b<Q: QMicro>(
    b: QBSource<'_>,
    k_total: usize,
    n_total: usize,
    (k0, k1, kp): (usize, usize, usize),
    (n0, nv): (usize, usize),
    panel: *mut Q::B,
    mut sums: Option<&mut [i32; NR_MAX]>,
) {
    let (nr, gs) = (Q::NR, Q::G);
    // SAFETY (whole body): every index written is below `kp · nr`
    // (`kk < k1 - k0 <= kp`, `j < nv <= nr`, `kp` a multiple of `G`).
    unsafe {
        for i in 0..kp * nr {
            panel.add(i).write(Q::B_ZERO);
        }
        match b {
            QBSource::PerOutput(w) => {
                for j in 0..nv {
                    let src = &w[(n0 + j) * k_total + k0..(n0 + j) * k_total + k1];
                    let mut s = 0i32;
                    for (kk, &v) in src.iter().enumerate() {
                        panel
                            .add((kk / gs) * nr * gs + j * gs + kk % gs)
                            .write(Q::b_val(v));
                        s = s.wrapping_add(v as i32);
                    }
                    if let Some(sums) = sums.as_deref_mut() {
                        sums[j] = sums[j].wrapping_add(s);
                    }
                }
            }
            // Never packed here (`qgemm` reads it in place).
            QBSource::Packed(_) => {}
            QBSource::PerK(bm) => {
                for kk in 0..k1 - k0 {
                    let src = &bm[(k0 + kk) * n_total + n0..][..nv];
                    let base = (kk / gs) * nr * gs + kk % gs;
                    for (j, &v) in src.iter().enumerate() {
                        panel.add(base + j * gs).write(Q::b_val(v));
                    }
                    if let Some(sums) = sums.as_deref_mut() {
                        for (s, &v) in sums.iter_mut().zip(src) {
                            *s = s.wrapping_add(v as i32);
                        }
                    }
                }
            }
        }
    }
}

/// Gathers steps `k0..k1` of A rows `m0..m0 + rows` into `[MR][kp]` at
/// `panel`; rows past `rows` repeat the last one, padding taps and steps
/// past `k1` hold the input zero point's value.
///
/// # Safety
/// `panel` is valid for `MR · kp + A_SLACK` writes.
#[inline(always)]
unsafe fn pack_a<Q: QMicro>(
    g: &Geometry,
    x: &[i8],
    zp: i32,
    (m0, rows): (usize, usize),
    (k0, k1, kp): (usize, usize, usize),
    panel: *mut Q::A,
) {
    let ic = g.in_shape[3];
    let pad = Q::a_val(zp as i8, zp);
    if g.is_pointwise() && k0 == 0 && k1 == g.k() && kp == k1 && rows == Q::MR {
        // Row `m` of A is input pixel `m`: the tile's rows are `MR · kp`
        // contiguous values of the input.
        // SAFETY: `panel` holds `MR · kp + A_SLACK` values; the CPU
        // supports Q (the caller of `qgemm`).
        return unsafe { Q::a_copy_over(&x[m0 * kp..], Q::MR * kp, zp, panel) };
    }
    if k0 == 0 && k1 == g.k() && g.dilation[1] == 1 {
        // SAFETY: forwarded (`panel` holds MR rows of `kp >= K` values).
        return unsafe { pack_a_whole::<Q>(g, x, zp, (m0, rows), kp, panel) };
    }
    for r in 0..Q::MR {
        let origin = g.origin(m0 + r.min(rows - 1));
        // SAFETY: row `r < MR` of the panel: `kp` values from `r · kp`.
        let dst = unsafe { panel.add(r * kp) };
        let mut k = k0;
        while k < k1 {
            let (t, i0) = (k / ic, k % ic);
            let seg = (ic - i0).min(k1 - k);
            // SAFETY: `k - k0 + seg <= k1 - k0 <= kp`.
            let d = unsafe { dst.add(k - k0) };
            let (ky, kx) = (t / g.kernel[1], t % g.kernel[1]);
            match g.tap_offset(origin, ky, kx) {
                Some(off) => {
                    // Whole taps to the right that are adjacent in memory
                    // (the next input pixel of the same row) join the copy.
                    let mut len = seg;
                    if i0 == 0 && seg == ic && g.dilation[1] == 1 {
                        let mut kx2 = kx + 1;
                        while kx2 < g.kernel[1] && k + len + ic <= k1 {
                            if g.tap_offset(origin, ky, kx2) != Some(off + len) {
                                break;
                            }
                            len += ic;
                            kx2 += 1;
                        }
                    }
                    // SAFETY: `k - k0 + len <= k1 - k0 <= kp`; the CPU
                    // supports Q (the caller of `qgemm`).
                    unsafe { Q::a_copy(&x[off + i0..off + i0 + len], zp, d) };
                    k += len;
                    continue;
                }
                None => {
                    for i in 0..seg {
                        // SAFETY: `i < seg`.
                        unsafe { d.add(i).write(pad) };
                    }
                }
            }
            k += seg;
        }
        for i in k1 - k0..kp {
            // SAFETY: `i < kp`.
            unsafe { dst.add(i).write(pad) };
        }
    }
}

/// [`pack_a`] of all `K` steps with `dilation_w == 1`: per kernel row, the
/// taps inside the image are one contiguous run of the input (`(kx_hi −
/// kx_lo)·ic` bytes), copied in one go ([`QMicro::a_copy_over`]: whatever
/// it writes past the run is overwritten next, as the panel is written in
/// increasing order), the rest padding. Output pixels are stepped through
/// without dividing.
///
/// # Safety
/// `panel` is valid for `MR · kp + A_SLACK` writes, `kp >= K`.
#[inline(always)]
unsafe fn pack_a_whole<Q: QMicro>(
    g: &Geometry,
    x: &[i8],
    zp: i32,
    (m0, rows): (usize, usize),
    kp: usize,
    panel: *mut Q::A,
) {
    let [_, ih, iw, ic] = g.in_shape;
    let [kh, kw] = g.kernel;
    let run = kw * ic;
    let pad = Q::a_val(zp as i8, zp);
    // SAFETY (both): the caller keeps `p..p + n` within the panel.
    let fill = |p: *mut Q::A, n: usize| {
        for i in 0..n {
            unsafe { p.add(i).write(pad) };
        }
    };
    // Rows past `rows` repeat the last one (computed, not stored).
    let mut origins = g.origins_from(m0, rows);
    for r in 0..Q::MR {
        let (b, y0, x0) = origins.next_origin();
        // SAFETY (every write below): row `r < MR` of the panel, values
        // `r·kp + k` for `k < kp`, and the copies' overrun within the
        // `A_SLACK` past the last row.
        let dst = unsafe { panel.add(r * kp) };
        // Taps `kx_lo..kx_hi` of a kernel row lie inside the image's width.
        let kx_lo = (-x0).clamp(0, kw as isize) as usize;
        let kx_hi = (iw as isize - x0).clamp(kx_lo as isize, kw as isize) as usize;
        if kx_lo == 0 && kx_hi == kw && y0 >= 0 && y0 as usize + (kh - 1) * g.dilation[0] < ih {
            // The whole window inside the image: a run per kernel row.
            let src = ((b * ih + y0 as usize) * iw + x0 as usize) * ic;
            let step = g.dilation[0] * iw * ic;
            for ky in 0..kh {
                // The CPU supports Q (the caller of `qgemm`).
                unsafe { Q::a_copy_over(&x[src + ky * step..], run, zp, dst.add(ky * run)) };
            }
            fill(unsafe { dst.add(kh * run) }, kp - kh * run);
            continue;
        }
        for ky in 0..kh {
            let seg = unsafe { dst.add(ky * run) };
            let iy = y0 + (ky * g.dilation[0]) as isize;
            if !(0..ih as isize).contains(&iy) || kx_lo == kx_hi {
                fill(seg, run);
                continue;
            }
            let start = ((b * ih + iy as usize) * iw + (x0 + kx_lo as isize) as usize) * ic;
            let n = (kx_hi - kx_lo) * ic;
            fill(seg, kx_lo * ic);
            // The CPU supports Q (the caller of `qgemm`).
            unsafe { Q::a_copy_over(&x[start..], n, zp, seg.add(kx_lo * ic)) };
            fill(unsafe { seg.add(kx_lo * ic + n) }, (kw - kx_hi) * ic);
        }
        fill(unsafe { dst.add(kh * run) }, kp - kh * run);
    }
}
