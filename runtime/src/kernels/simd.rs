//! The vector operations the generic SIMD kernels are written in.
//!
//! Each ISA module (`x86.rs`, `neon.rs`, `portable.rs`) implements
//! [`F32Simd`] and [`I32Simd`] for its register types. The generic kernels are `#[inline(always)]` so that they
//! are compiled inside the ISA's `#[target_feature]` entry point, where
//! the intrinsics inline.
//!
//! Every method is `unsafe`: the caller guarantees that the CPU supports
//! the implementing ISA (the kernel tables of
//! [`select`](super::select) only hand out supported ones) and, for loads
//! and stores, that `LANES` elements at the pointer are in bounds.

/// A vector of `LANES` f32 values.
pub(crate) trait F32Simd: Copy {
    /// Number of f32 lanes.
    const LANES: usize;
    /// All lanes `0.0`.
    unsafe fn zero() -> Self;
    /// All lanes `x`.
    unsafe fn splat(x: f32) -> Self;
    /// Unaligned load of `LANES` values.
    unsafe fn load(p: *const f32) -> Self;
    /// Unaligned store of `LANES` values.
    unsafe fn store(self, p: *mut f32);
    /// The first `n` values (`n <= LANES <= 16`) at `p`, the other lanes
    /// `0.0`; nothing past `p + n` is read.
    #[inline(always)]
    unsafe fn load_first(p: *const f32, n: usize) -> Self {
        let mut t = [0.0f32; 16];
        // SAFETY: `n` values at `p` are readable (caller); `t` holds 16.
        unsafe {
            core::ptr::copy_nonoverlapping(p, t.as_mut_ptr(), n);
            Self::load(t.as_ptr())
        }
    }
    /// `LANES` values `stride` apart from `p` (lane `l` is `p[l·stride]`):
    /// a column of a row-major block.
    #[inline(always)]
    unsafe fn load_strided(p: *const f32, stride: usize) -> Self {
        let mut t = [0.0f32; 16];
        // SAFETY: the `LANES <= 16` values are readable (caller).
        unsafe {
            for (l, v) in t.iter_mut().enumerate().take(Self::LANES) {
                *v = *p.add(l * stride);
            }
            Self::load(t.as_ptr())
        }
    }
    /// Transposes a `LANES x LANES` block: row `j` of `dst` (`LANES` values
    /// at `dst + j·dst_stride`) is column `j` of `src` (whose row `i` is
    /// at `src + i·src_stride`).
    #[inline(always)]
    unsafe fn transpose_block(
        src: *const f32,
        src_stride: usize,
        dst: *mut f32,
        dst_stride: usize,
    ) {
        // SAFETY: the rows are readable and writable (caller).
        unsafe {
            for j in 0..Self::LANES {
                Self::load_strided(src.add(j), src_stride).store(dst.add(j * dst_stride));
            }
        }
    }
    /// Stores the first `n` lanes (`n <= LANES <= 16`) at `p`; nothing past
    /// `p + n` is written.
    #[inline(always)]
    unsafe fn store_first(self, p: *mut f32, n: usize) {
        let mut t = [0.0f32; 16];
        // SAFETY: `n` values at `p` are writable (caller); `t` holds 16.
        unsafe {
            self.store(t.as_mut_ptr());
            core::ptr::copy_nonoverlapping(t.as_ptr(), p, n);
        }
    }
    /// `self + a * b` with one rounding (fused multiply-add), or, where
    /// [`F32Simd::FUSED`] is false, a rounded product then a rounded sum.
    unsafe fn fma(self, a: Self, b: Self) -> Self;
    /// Whether [`F32Simd::fma`] rounds once. The tiled GEMM starts each K
    /// chunk from `0.0` on fused types (the partial sums' loads stay off
    /// the multiply-add chains) and from the partial sum on the others, so
    /// that those add every product in one sequence: the reference's sum.
    const FUSED: bool = true;
    /// Whether the f32 micro-kernels load `LANES` consecutive values of an
    /// A row as one vector and multiply by its lanes ([`F32Simd::fma_lane`])
    /// rather than broadcast each value from memory. On NEON a replicating
    /// load (`ld1r`) takes a vector pipe that `fmla` by element leaves to
    /// the multiply-adds.
    const FMA_BY_LANE: bool = false;
    /// `self + a * b[L]` with one rounding: [`F32Simd::fma`] with `b`'s
    /// lane `L` in every lane (the same bits). `L < LANES`.
    #[inline(always)]
    unsafe fn fma_lane<const L: i32>(self, a: Self, b: Self) -> Self {
        let mut t = [0.0f32; 16];
        // SAFETY: `t` holds 16 >= LANES values; the caller keeps `L < LANES`.
        unsafe {
            b.store(t.as_mut_ptr());
            self.fma(a, Self::splat(t[L as usize]))
        }
    }
    /// `acc[r][v] += Σ_{k < seg} rp[r][k] · bp[k·NV·LANES + v·LANES + lane]`
    /// for an `MR x NV` register tile through a hand-written loop, where
    /// this type has one for that tile: each output adds its products in
    /// order of `k` with [`F32Simd::fma`]'s roundings (the implementation
    /// states any difference). Returns whether it did; `false` (the
    /// default, and for tiles without a loop) leaves `acc` untouched and
    /// the generic loop runs.
    ///
    /// # Safety
    /// The CPU supports `Self`; `rp[r]` has `seg` readable values, `bp`
    /// `seg·NV·LANES`.
    #[inline(always)]
    unsafe fn mac_segment<const MR: usize, const NV: usize>(
        _acc: &mut [[Self; NV]; MR],
        _rp: &[*const f32; MR],
        _bp: *const f32,
        _seg: usize,
    ) -> bool {
        false
    }
    /// Whether the ISA has 32 vector registers, so that a dense conv of
    /// few output channels runs on `f32_conv::pixels` (24 accumulators).
    const PIXEL_BLOCKS: bool = false;
    /// Whether [`F32Simd::dw_window`] has a hand-written loop (the
    /// depthwise driver then prepares the tap offsets it reads).
    const DW_WINDOW: bool = false;
    /// `acc[q][v] = acc[q][v] + round(x_t[q][v] · w[t][v])`, the product
    /// rounded and then the sum, for taps `t < taps` in order: the
    /// depthwise conv's `PIX` pixels at once, over `NV` vectors of
    /// channels. Tap `t` of pixel `q` reads `NV·LANES` values at
    /// `offs[t] + q·pix_step` bytes past `x`, its weights are the `NV`
    /// vectors at `w + t·NV`. Only for types whose
    /// [`F32Simd::DW_WINDOW`] is true, and there only for the `NV`/`PIX` it
    /// has a loop for; returns whether it ran (`false`: `acc` untouched).
    ///
    /// # Safety
    /// The CPU supports `Self`; every read above is in bounds; `taps >= 1`.
    #[inline(always)]
    unsafe fn dw_window<const NV: usize, const PIX: usize>(
        _acc: &mut [[Self; NV]; PIX],
        _x: *const f32,
        _offs: &[usize],
        _pix_step: usize,
        _w: *const Self,
        _taps: usize,
    ) -> bool {
        false
    }
    /// `self + b`.
    unsafe fn add(self, b: Self) -> Self;
    /// `self * b` (rounded: never fused with a following `add`).
    unsafe fn mul(self, b: Self) -> Self;
    /// `max(self, lo)` then `min(.., hi)`, lane-wise, with `Act::Clamp`'s
    /// NaN rule (a NaN lane becomes `lo`).
    unsafe fn clamp(self, lo: Self, hi: Self) -> Self;
}

/// [`I32Simd`]'s prepared requantization for a vector type without one:
/// `requant_prep` keeps `mult` and `shift`, `requant_with` is
/// `requant_clamp` (items of an `impl I32Simd`).
macro_rules! requant_unprepared {
    () => {
        type Requant = (Self, Self);
        #[inline(always)]
        unsafe fn requant_prep(mult: Self, shift: Self) -> Self::Requant {
            (mult, shift)
        }
        #[inline(always)]
        unsafe fn requant_with(self, r: &Self::Requant, zp: i32, lo: i32, hi: i32) -> Self {
            // SAFETY: forwarded from the caller.
            unsafe { self.requant_clamp(r.0, r.1, zp, lo, hi) }
        }
    };
}
pub(crate) use requant_unprepared;

/// [`I32Simd::uniform_prep`] and [`I32Simd::requant_uniform`] as the
/// prepared per-lane form with every lane alike (items of an `impl
/// I32Simd`, for ISAs without a cheaper one).
macro_rules! uniform_as_lanes {
    () => {
        type Uniform = Self::Requant;
        #[inline(always)]
        unsafe fn uniform_prep(mult: i32, shift: i32) -> Self::Uniform {
            // SAFETY: forwarded from the caller.
            unsafe { Self::requant_prep(Self::splat(mult), Self::splat(shift)) }
        }
        #[inline(always)]
        unsafe fn requant_uniform(self, u: &Self::Uniform, zp: i32, lo: i32, hi: i32) -> Self {
            // SAFETY: forwarded from the caller.
            unsafe { self.requant_with(u, zp, lo, hi) }
        }
    };
}
pub(crate) use uniform_as_lanes;

/// A vector of `LANES` i32 values (the int8 depthwise conv's accumulators).
pub(crate) trait I32Simd: Copy {
    /// Number of i32 lanes (at most 16).
    const LANES: usize;
    /// The narrowest vector of the same ISA family (itself when there is
    /// none narrower), for data narrower than `LANES`: its instructions
    /// run wherever `Self`'s do.
    type Half: I32Simd;
    /// All lanes `x`.
    unsafe fn splat(x: i32) -> Self;
    /// `LANES` i8 values at `p`, sign-extended.
    unsafe fn load_i8(p: *const i8) -> Self;
    /// Unaligned load of `LANES` values.
    unsafe fn load(p: *const i32) -> Self;
    /// Unaligned store of `LANES` values.
    unsafe fn store(self, p: *mut i32);
    /// `self + b`, wrapping.
    unsafe fn add(self, b: Self) -> Self;
    /// `self - b`, wrapping.
    unsafe fn sub(self, b: Self) -> Self;
    /// `self * b`, the low 32 bits of the product.
    unsafe fn mul(self, b: Self) -> Self;
    /// How the depthwise panel holds weight `w` (read by `mul_weight`).
    #[inline(always)]
    fn weight_lane(w: i8) -> i32 {
        w as i32
    }
    /// `self · w` lane-wise, exactly, for lanes of `self` in `[-255, 255]`
    /// (an input minus its zero point) and `w` made of `weight_lane`s.
    #[inline(always)]
    unsafe fn mul_weight(self, w: Self) -> Self {
        // SAFETY: forwarded from the caller.
        unsafe { self.mul(w) }
    }
    /// [`requantize_clamp`](crate::quant::requantize_clamp) on every lane
    /// (`mult`, `shift` per lane), bit for bit; the results lie in
    /// `[lo, hi]`. The default goes through
    /// [`requantize_clamp_block`](crate::quant::requantize_clamp_block);
    /// the ISA modules compute it in registers.
    #[inline(always)]
    unsafe fn requant_clamp(self, mult: Self, shift: Self, zp: i32, lo: i32, hi: i32) -> Self {
        let (mut a, mut m, mut s) = ([0i32; 16], [0i32; 16], [0i32; 16]);
        // SAFETY: `LANES <= 16` values fit each array.
        unsafe {
            self.store(a.as_mut_ptr());
            mult.store(m.as_mut_ptr());
            shift.store(s.as_mut_ptr());
        }
        let r = crate::quant::requantize_clamp_block(&a, &m, &s, zp, lo, hi).map(i32::from);
        // SAFETY: as above.
        unsafe { Self::load(r.as_ptr()) }
    }
    /// The per-lane constants of [`requant_clamp`](Self::requant_clamp)
    /// for fixed `mult` and `shift`, set up once by
    /// [`requant_prep`](Self::requant_prep).
    type Requant: Copy;
    /// `mult` and `shift` prepared for [`requant_with`](Self::requant_with).
    unsafe fn requant_prep(mult: Self, shift: Self) -> Self::Requant;
    /// [`requant_clamp`](Self::requant_clamp) with the constants of
    /// `requant_prep(mult, shift)`: the same bits.
    unsafe fn requant_with(self, r: &Self::Requant, zp: i32, lo: i32, hi: i32) -> Self;
    /// [`requant_clamp`](Self::requant_clamp) with one `mult` and `shift`
    /// for every lane (a per-tensor output stage), set up once by
    /// [`uniform_prep`](Self::uniform_prep).
    type Uniform: Copy;
    /// `mult` and `shift` prepared for [`requant_uniform`](Self::requant_uniform).
    unsafe fn uniform_prep(mult: i32, shift: i32) -> Self::Uniform;
    /// `requant_clamp(splat(mult), splat(shift), …)` with the constants of
    /// `uniform_prep(mult, shift)`: the same bits.
    unsafe fn requant_uniform(self, u: &Self::Uniform, zp: i32, lo: i32, hi: i32) -> Self;
    /// Stores the lanes, each in `[-128, 127]`, as `LANES` bytes at `p`.
    #[inline(always)]
    unsafe fn store_i8(self, p: *mut i8) {
        let mut a = [0i32; 16];
        // SAFETY: `LANES <= 16`; the caller guarantees `LANES` bytes at `p`.
        unsafe {
            self.store(a.as_mut_ptr());
            for (j, &v) in a[..Self::LANES].iter().enumerate() {
                p.add(j).write(v as i8);
            }
        }
    }
    /// Stores the first `n < LANES` lanes, each in `[-128, 127]`, as `n`
    /// bytes at `p`.
    #[inline(always)]
    unsafe fn store_i8_partial(self, p: *mut i8, n: usize) {
        let mut t = [0i8; 16];
        // SAFETY: `LANES <= 16` bytes of `t`; the caller guarantees `n <
        // LANES` bytes at `p`.
        unsafe {
            self.store_i8(t.as_mut_ptr());
            for (j, &v) in t[..n].iter().enumerate() {
                p.add(j).write(v);
            }
        }
    }
}

/// [`requantize_clamp_block`](crate::quant::requantize_clamp_block) with
/// one multiplier and shift (`u`, their [`I32Simd::uniform_prep`]),
/// `LANES` at a time (`N` a multiple of them).
///
/// # Safety
/// The CPU supports `V`.
#[inline(always)]
pub(crate) unsafe fn requant_block<V: I32Simd, const N: usize>(
    acc: &[i32; N],
    u: &V::Uniform,
    (zp, lo, hi): (i32, i32, i32),
) -> [i8; N] {
    assert!(N.is_multiple_of(V::LANES));
    let mut out = [0i8; N];
    // SAFETY: the caller; `c + LANES <= N` values of `acc` and `out`.
    unsafe {
        for c in (0..N).step_by(V::LANES) {
            let r = V::load(acc.as_ptr().add(c)).requant_uniform(u, zp, lo, hi);
            r.store_i8(out.as_mut_ptr().add(c));
        }
    }
    out
}

/// Vectors of [`requant_lanes`]: 32 lanes of the narrowest vector (4).
pub(crate) const RQ_VECS: usize = 8;

/// The prepared requantization ([`I32Simd::requant_prep`]) of 32 lanes of
/// `mult` and `shift`, one entry per `V::LANES` lanes (entries past 32
/// lanes repeat the last vector).
///
/// # Safety
/// The CPU supports `V`.
#[inline(always)]
pub(crate) unsafe fn requant_lanes<V: I32Simd>(
    mult: &[i32; 32],
    shift: &[i32; 32],
) -> [V::Requant; RQ_VECS] {
    // SAFETY (all): the CPU supports `V` (caller); each load reads `LANES
    // <= 16` values from `c <= 32 − LANES`. Loops, not closures: a
    // closure is not compiled with the caller's target features.
    unsafe {
        let zero = V::splat(0);
        let mut out = [V::requant_prep(zero, zero); RQ_VECS];
        for (v, r) in out.iter_mut().enumerate() {
            let c = (v * V::LANES).min(32 - V::LANES);
            *r = V::requant_prep(
                V::load(mult.as_ptr().add(c)),
                V::load(shift.as_ptr().add(c)),
            );
        }
        out
    }
}

/// `y[j] = requantize_clamp(acc[j] + init[j], mult[j], shift[j], zp, lo,
/// hi)` for `j < y.len()`, `LANES` at a time, with `rq` the
/// [`requant_lanes`] of `mult` and `shift`.
///
/// # Safety
/// The CPU supports `V`; `acc` and `init` hold `y.len()` rounded up to a
/// multiple of `V::LANES` values, `rq` one entry per `LANES` of them.
#[inline(always)]
pub(crate) unsafe fn requant_store<V: I32Simd>(
    acc: &[i32],
    init: &[i32],
    rq: &[V::Requant],
    (zp, lo, hi): (i32, i32, i32),
    y: &mut [i8],
) {
    let n = y.len();
    let full = n.div_ceil(V::LANES) * V::LANES;
    assert!(acc.len() >= full && init.len() >= full && rq.len() * V::LANES >= full);
    for (i, c) in (0..n).step_by(V::LANES).enumerate() {
        // SAFETY: `c + LANES <= full` values of each input (checked above).
        unsafe {
            let a = V::load(acc.as_ptr().add(c)).add(V::load(init.as_ptr().add(c)));
            let r = a.requant_with(&rq[i], zp, lo, hi);
            if c + V::LANES <= n {
                r.store_i8(y.as_mut_ptr().add(c));
            } else {
                r.store_i8_partial(y.as_mut_ptr().add(c), n - c);
            }
        }
    }
}
