//! int8 elementwise ops: `ADD`/`SUB`/`MUL` with broadcasting, table
//! lookups (every int8 unary op), requantization, and the f32 <-> int8
//! `QUANTIZE`/`DEQUANTIZE` conversions.
//!
//! Binary ops (TFLite `reference_integer_ops::AddElementwise`/`MulElementwise`,
//! ONNX `QLinearAdd`/`QLinearMul`), with `da = a - a_zp`, `db = b - b_zp`:
//!
//! ```text
//! ADD/SUB: sa  = mbqm(da * 2^left_shift, a_mult, a_shift)        left_shift = 20
//!          sb  = mbqm(db * 2^left_shift, b_mult, b_shift)
//!          y   = clamp(mbqm(sa ± sb, out_mult, out_shift) + out_zp, act_min, act_max)
//!          a_mult/a_shift  ~ S_a / (2 max(S_a, S_b))             (<= 1/2)
//!          b_mult/b_shift  ~ S_b / (2 max(S_a, S_b))
//!          out_mult/shift  ~ 2 max(S_a, S_b) / (2^left_shift S_y)
//! MUL:     y   = clamp(mbqm(da * db, mult, shift) + out_zp, act_min, act_max)
//!          mult/shift      ~ S_a S_b / S_y
//! ```
//!
//! Every real multiplier is formed in `f64` from the `f32` scales and
//! converted with [`quantize_multiplier`] (`add_common.cc`, `mul.cc`;
//! [`QAddParams::from_scales`], [`QMulParams::from_scales`]). Rounding:
//! [`mbqm`] each time (TFLite double rounding), then [`requantize_clamp`].
//! Bounds: `da`, `db` in `[-255, 255]`, so `da * 2^20` stays below `2^28`
//! and `sa ± sb` below `2^29`; `da * db` lies in `[-65025, 65025]`, and a
//! MUL multiplier `M < 2^15` keeps `da * db * 2^shift` in `i32`.
//!
//! Broadcasting is that of [`elementwise::binary_reference`](super::elementwise::binary_reference):
//! a `MAX_RANK`-dim index space, element strides 0 along broadcast dims,
//! `out` row-major over `out_shape`:
//! `out[idx] = op(a[sum idx[d]*a_strides[d]], b[sum idx[d]*b_strides[d]])`.
//!
//! Lookup: `out[i] = table[x[i] + 128]` with a 256-entry table the compiler
//! built (sigmoid, tanh, hard-swish, ..., any function of one int8 value).
//! Requantize: `out = clamp(mbqm(x - in_zp, mult, shift) + out_zp, -128, 127)`.
//! Quantize / dequantize: [`quant::quantize`] / [`quant::dequantize`]
//! elementwise.

#[cfg(all(target_arch = "x86_64", not(miri)))]
mod add_x86;
#[cfg(all(target_arch = "x86_64", not(miri)))]
mod lut_x86;

use super::simd::{requant_block, I32Simd};
use super::{next_index, MAX_RANK};
use crate::quant::{self, mbqm, mbqm_block, quantize_multiplier, requantize_clamp};

/// Left shift applied to int8 `ADD`/`SUB` operands before rescaling
/// (TFLite: 20 for int8, 15 for int16).
pub const ADD_LEFT_SHIFT: i32 = 20;

/// TFLite int8 `ADD`/`SUB` parameters (`reference/integer_ops/add.h`,
/// computed as in `add_common.cc`; see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QAddParams {
    /// Zero point of `a`.
    pub a_zp: i32,
    /// Zero point of `b`.
    pub b_zp: i32,
    /// Zero point of the output.
    pub out_zp: i32,
    /// Shift applied to both operands first ([`ADD_LEFT_SHIFT`]).
    pub left_shift: i32,
    /// Multiplier of `a` (`S_a / (2 max(S_a, S_b))`).
    pub a_mult: i32,
    /// Shift of `a` (`<= 0`).
    pub a_shift: i32,
    /// Multiplier of `b` (`S_b / (2 max(S_a, S_b))`).
    pub b_mult: i32,
    /// Shift of `b` (`<= 0`).
    pub b_shift: i32,
    /// Output multiplier (`2 max(S_a, S_b) / (2^left_shift S_y)`).
    pub out_mult: i32,
    /// Output shift.
    pub out_shift: i32,
    /// Lower clamp (in `[-128, 127]`).
    pub act_min: i32,
    /// Upper clamp (in `[act_min, 127]`).
    pub act_max: i32,
    /// `a - b` instead of `a + b`.
    pub sub: bool,
}

impl QAddParams {
    /// Every field from the `f32` scales, multipliers formed in `f64` as
    /// TFLite's `add_common.cc` does (TFLite's SUB forms them in `f32`
    /// first; Ferrite uses the `f64` form for both).
    #[allow(clippy::too_many_arguments)] // one scale and zero point per tensor
    pub fn from_scales(
        sa: f32,
        a_zp: i32,
        sb: f32,
        b_zp: i32,
        so: f32,
        out_zp: i32,
        act_min: i32,
        act_max: i32,
        sub: bool,
    ) -> QAddParams {
        let left_shift = ADD_LEFT_SHIFT;
        let twice_max = 2.0 * sa.max(sb) as f64;
        let (a_mult, a_shift) = quantize_multiplier(sa as f64 / twice_max);
        let (b_mult, b_shift) = quantize_multiplier(sb as f64 / twice_max);
        let (out_mult, out_shift) =
            quantize_multiplier(twice_max / ((1i64 << left_shift) as f64 * so as f64));
        QAddParams {
            a_zp,
            b_zp,
            out_zp,
            left_shift,
            a_mult,
            a_shift,
            b_mult,
            b_shift,
            out_mult,
            out_shift,
            act_min,
            act_max,
            sub,
        }
    }

    /// One output value.
    #[inline]
    pub fn apply(&self, a: i8, b: i8) -> i8 {
        let left = self.left_shift.clamp(0, 31) as u32;
        // |a - zp| <= 255: * 2^20 stays below 2^28 (wrapping only matters
        // for invalid shifts).
        let da = (a as i32 - self.a_zp).wrapping_shl(left);
        let db = (b as i32 - self.b_zp).wrapping_shl(left);
        let sa = mbqm(da, self.a_mult, self.a_shift);
        let sb = mbqm(db, self.b_mult, self.b_shift);
        let raw = if self.sub {
            sa.wrapping_sub(sb)
        } else {
            sa.wrapping_add(sb)
        };
        requantize_clamp(
            raw,
            self.out_mult,
            self.out_shift,
            self.out_zp,
            self.act_min,
            self.act_max,
        )
    }
}

/// TFLite int8 `MUL` parameters (`reference/integer_ops/mul.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QMulParams {
    /// Zero point of `a`.
    pub a_zp: i32,
    /// Zero point of `b`.
    pub b_zp: i32,
    /// Zero point of the output.
    pub out_zp: i32,
    /// Multiplier of `S_a S_b / S_y`.
    pub mult: i32,
    /// Its shift.
    pub shift: i32,
    /// Lower clamp (in `[-128, 127]`).
    pub act_min: i32,
    /// Upper clamp (in `[act_min, 127]`).
    pub act_max: i32,
}

impl QMulParams {
    /// Every field from the `f32` scales (`M = S_a S_b / S_y` in `f64`).
    #[allow(clippy::too_many_arguments)] // one scale and zero point per tensor
    pub fn from_scales(
        sa: f32,
        a_zp: i32,
        sb: f32,
        b_zp: i32,
        so: f32,
        out_zp: i32,
        act_min: i32,
        act_max: i32,
    ) -> QMulParams {
        let (mult, shift) = quantize_multiplier(sa as f64 * sb as f64 / so as f64);
        QMulParams {
            a_zp,
            b_zp,
            out_zp,
            mult,
            shift,
            act_min,
            act_max,
        }
    }

    /// One output value.
    #[inline]
    pub fn apply(&self, a: i8, b: i8) -> i8 {
        let prod = (a as i32 - self.a_zp) * (b as i32 - self.b_zp);
        requantize_clamp(
            prod,
            self.mult,
            self.shift,
            self.out_zp,
            self.act_min,
            self.act_max,
        )
    }
}

/// A quantized broadcasting binary op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QBinary {
    /// `ADD` or `SUB`.
    Add(QAddParams),
    /// `MUL`.
    Mul(QMulParams),
}

impl QBinary {
    /// One output value.
    #[inline]
    pub fn apply(&self, a: i8, b: i8) -> i8 {
        match self {
            QBinary::Add(p) => p.apply(a, b),
            QBinary::Mul(p) => p.apply(a, b),
        }
    }
}

/// Broadcasting binary op; see the module docs.
pub fn binary_reference(
    op: &QBinary,
    a: &[i8],
    a_strides: [usize; MAX_RANK],
    b: &[i8],
    b_strides: [usize; MAX_RANK],
    out: &mut [i8],
    out_shape: [usize; MAX_RANK],
) {
    let total: usize = out_shape.iter().product();
    debug_assert!(out.len() >= total, "out too short");
    if total == 0 {
        return;
    }
    let inner = out_shape[MAX_RANK - 1];
    let (sa, sb) = (a_strides[MAX_RANK - 1], b_strides[MAX_RANK - 1]);
    // Odometer over the outer dims, strided inner loop.
    let mut idx = [0usize; MAX_RANK - 1];
    for o_row in out[..total].chunks_exact_mut(inner) {
        let (oa, ob) = (offset(&idx, &a_strides), offset(&idx, &b_strides));
        for (j, o) in o_row.iter_mut().enumerate() {
            *o = op.apply(a[oa + j * sa], b[ob + j * sb]);
        }
        next_index(&mut idx, &out_shape[..MAX_RANK - 1]);
    }
}

/// In-place broadcasting binary op: `data` is one operand (the left one
/// when `data_is_lhs`) and the output, row-major over `shape`; `other`
/// broadcasts with `other_strides`. Same values as [`binary_reference`].
pub fn binary_inplace(
    op: &QBinary,
    data_is_lhs: bool,
    other: &[i8],
    other_strides: [usize; MAX_RANK],
    data: &mut [i8],
    shape: [usize; MAX_RANK],
) {
    let total: usize = shape.iter().product();
    debug_assert!(data.len() >= total, "data too short");
    if total == 0 {
        return;
    }
    let inner = shape[MAX_RANK - 1];
    let s_in = other_strides[MAX_RANK - 1];
    let mut idx = [0usize; MAX_RANK - 1];
    for row in data[..total].chunks_exact_mut(inner) {
        let base = offset(&idx, &other_strides);
        for (j, d) in row.iter_mut().enumerate() {
            let y = other[base + j * s_in];
            *d = if data_is_lhs {
                op.apply(*d, y)
            } else {
                op.apply(y, *d)
            };
        }
        next_index(&mut idx, &shape[..MAX_RANK - 1]);
    }
}

pub(crate) use super::Operand;

/// An operand as [`binary_blocked`]'s rows read it.
#[derive(Clone, Copy)]
enum Src<'a> {
    /// As [`Operand::Tensor`].
    Tensor(&'a [i8], [usize; MAX_RANK]),
    /// As [`Operand::Output`].
    Output,
    /// A row repeated along a flattened output: element `j` is
    /// `pattern[j % period]`, and `pattern` holds `period + N` values, so
    /// an `N`-lane block at any phase is one contiguous slice of it.
    Periodic(&'a [i8], usize),
}

impl<'a> From<Operand<'a>> for Src<'a> {
    #[inline(always)]
    fn from(o: Operand<'a>) -> Self {
        match o {
            Operand::Tensor(t, st) => Src::Tensor(t, st),
            Operand::Output => Src::Output,
        }
    }
}

/// [`binary_reference`] / [`binary_inplace`] computed `N` lanes at a time
/// along the innermost dimension with the lane-parallel forms of the same
/// arithmetic ([`mbqm_block`]; the output stage in the table's vectors `V`,
/// `I32Simd::requant_uniform`, prepared once per call): the same bytes, in a form LLVM vectorizes
/// (the kernel tables instantiate it per ISA; everything here is
/// `#[inline(always)]`, no closures, so that it is compiled with the
/// table's target features). `N` is a multiple of `V::LANES`.
///
/// # Safety
/// The CPU supports `V`.
#[inline(always)]
pub(crate) unsafe fn binary_blocked<V: I32Simd, const N: usize>(
    op: &QBinary,
    a: Operand<'_>,
    b: Operand<'_>,
    out: &mut [i8],
    out_shape: [usize; MAX_RANK],
) {
    // Operands that are dense or a single value make the whole tensor one
    // row (blocks then span what were many short rows).
    let total: usize = out_shape.iter().product();
    let mut one_row = [1; MAX_RANK];
    one_row[MAX_RANK - 1] = total;
    // One operand dense and the other one row repeated (a per-channel
    // scale or bias): short rows become one long row too, the repeated
    // operand read from a pattern of its row.
    let inner = out_shape[MAX_RANK - 1];
    let mut pattern = [0i8; PATTERN];
    let (a, b) = (Src::from(a), Src::from(b));
    let (a, b, out_shape) = match (flat(a, &out_shape), flat(b, &out_shape)) {
        (Some(fa), Some(fb)) if total > 0 => (fa, fb, one_row),
        (Some(fa), None) if periodic(&b, &out_shape, N) => {
            let b = repeat(&b, inner, &mut pattern, N);
            (fa, b, one_row)
        }
        (None, Some(fb)) if periodic(&a, &out_shape, N) => {
            let a = repeat(&a, inner, &mut pattern, N);
            (a, fb, one_row)
        }
        _ => (a, b, out_shape),
    };
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if pairs_x86(op, &a, &b, out, &out_shape) {
        return;
    }
    // SAFETY (all): forwarded from the caller.
    match op {
        QBinary::Add(p) if total >= ADD_TABLE_MIN => {
            let tables = AddTableBlock::new(p);
            #[cfg(all(target_arch = "x86_64", not(miri)))]
            if add_dense_vbmi(&tables, &a, &b, out, &out_shape) {
                return;
            }
            unsafe { rows::<V, N, _>(&tables, a, b, out, out_shape) }
        }
        QBinary::Add(p) => unsafe { rows::<V, N, _>(&AddBlock::new(p), a, b, out, out_shape) },
        QBinary::Mul(p) => unsafe { rows::<V, N, _>(&MulBlock::new(p), a, b, out, out_shape) },
    }
}

/// [`add_x86::add`] when both operands are dense over an output flattened
/// to one row and the CPU has AVX-512 VBMI; false (nothing written)
/// otherwise.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline(always)]
fn add_dense_vbmi(
    tables: &AddTableBlock,
    a: &Src<'_>,
    b: &Src<'_>,
    out: &mut [i8],
    out_shape: &[usize; MAX_RANK],
) -> bool {
    let total: usize = out_shape.iter().product();
    let flattened = out_shape[MAX_RANK - 1] == total;
    let (da, db) = (dense(a, out, total), dense(b, out, total));
    let (Some(pa), Some(pb), true) = (da, db, flattened && lut_x86::available()) else {
        return false;
    };
    let o = add_x86::Out::of_add(&tables.p);
    let (ta, tb) = (
        add_x86::Planes::of(&tables.ta),
        add_x86::Planes::of(&tables.tb),
    );
    // SAFETY: the CPU has the features (`available`); `pa` and `pb` hold
    // `total` values (`dense`), `out` at least that many (the caller of
    // `binary_blocked`), and each is `out` itself or a shared borrow that
    // cannot overlap it.
    unsafe { add_x86::add(&ta, &tb, o, pa, pb, out.as_mut_ptr(), total) };
    true
}

/// The binary op through a table of every operand pair's result
/// ([`add_x86::PairTable`], built per call) when it has at least
/// [`PAIR_TABLE_MIN`] elements, the CPU has AVX-512 (with VBMI, as the
/// other x86 paths here) and both operands' rows are read with unit stride
/// (or are the output row): each row looked up by [`add_x86::add_pairs`].
/// False (nothing written) otherwise.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline(always)]
fn pairs_x86(
    op: &QBinary,
    a: &Src<'_>,
    b: &Src<'_>,
    out: &mut [i8],
    out_shape: &[usize; MAX_RANK],
) -> bool {
    let total: usize = out_shape.iter().product();
    let inner = out_shape[MAX_RANK - 1];
    let unit = |o: &Src<'_>| match o {
        Src::Output => true,
        Src::Tensor(_, st) => st[MAX_RANK - 1] == 1,
        Src::Periodic(..) => false,
    };
    if total < PAIR_TABLE_MIN || !unit(a) || !unit(b) || !lut_x86::available() {
        return false;
    }
    let mut slot = core::mem::MaybeUninit::uninit();
    // SAFETY (both): the CPU has AVX-512F/BW (`available`).
    let table = match op {
        QBinary::Add(p) => {
            let (t, o) = (AddTableBlock::new(p), add_x86::Out::of_add(p));
            let raw = add_x86::PairRaw::Add(&t.ta, &t.tb);
            unsafe { add_x86::PairTable::build(&mut slot, raw, o) }
        }
        QBinary::Mul(p) => {
            let raw = add_x86::PairRaw::Mul(p.a_zp, p.b_zp);
            unsafe { add_x86::PairTable::build(&mut slot, raw, add_x86::Out::of_mul(p)) }
        }
    };
    // One operand dense over the whole output and the other one row
    // repeated (a per-channel scale): one pass, no per-row bookkeeping.
    let dense_all = super::contiguous_strides(*out_shape);
    let live = |st: &[usize; MAX_RANK], want: &[usize; MAX_RANK]| {
        (0..MAX_RANK).all(|d| out_shape[d] == 1 || st[d] == want[d])
    };
    let mut one_row = [0usize; MAX_RANK];
    one_row[MAX_RANK - 1] = 1;
    let whole = |s: &Src<'_>| match s {
        Src::Tensor(t, st) if live(st, &dense_all) => Some(t[..total].as_ptr()),
        _ => None,
    };
    let repeated = |s: &Src<'_>| match s {
        Src::Tensor(t, st) if live(st, &one_row) => Some(t[..inner].as_ptr()),
        _ => None,
    };
    if inner.is_multiple_of(16) {
        let cyclic = match (whole(a), repeated(b), repeated(a), whole(b)) {
            (Some(d), Some(r), ..) => Some((d, r, false)),
            (_, _, Some(r), Some(d)) => Some((d, r, true)),
            _ => None,
        };
        if let Some((d, r, row_is_a)) = cyclic {
            let args = (d, r, inner, row_is_a);
            // SAFETY: the CPU has the features; `d` holds `total` values and
            // `r` one row (sliced above), shared borrows that cannot overlap
            // `out`, which holds `total`.
            unsafe { add_x86::add_pairs_cyclic(table, args, out.as_mut_ptr(), total) };
            return true;
        }
    }
    let mut idx = [0usize; MAX_RANK - 1];
    for row in out[..total].chunks_exact_mut(inner) {
        let o = row.as_mut_ptr();
        // A row of each operand: `inner` values, checked by slicing.
        let start = |s: &Src<'_>| match s {
            Src::Tensor(t, st) => t[offset(&idx, st)..][..inner].as_ptr(),
            _ => o.cast_const(),
        };
        let (pa, pb) = (start(a), start(b));
        // SAFETY: the CPU has the features; `pa` and `pb` hold `inner`
        // values (sliced above) and `row` as many; each is the output row
        // itself or a shared borrow that cannot overlap it.
        unsafe { add_x86::add_pairs(table, pa, pb, o, inner) };
        next_index(&mut idx, &out_shape[..MAX_RANK - 1]);
    }
    true
}

/// The start of operand `o` when, in an output flattened to one row of
/// `total` values, it is read with unit stride (or is the output itself).
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline(always)]
fn dense(o: &Src<'_>, out: &[i8], total: usize) -> Option<*const i8> {
    match o {
        Src::Output => Some(out.as_ptr()),
        Src::Tensor(t, st) if st[MAX_RANK - 1] == 1 && t.len() >= total => Some(t.as_ptr()),
        _ => None,
    }
}

/// Room for [`Src::Periodic`]'s pattern: a row of `period` values plus
/// one block.
const PATTERN: usize = 256;

/// Whether `o` is one row (innermost stride 1) repeated over every outer
/// dim, and its rows are worth joining: they do not split into whole
/// `n`-lane blocks, and row plus block fit the pattern.
#[inline(always)]
fn periodic(o: &Src<'_>, out_shape: &[usize; MAX_RANK], n: usize) -> bool {
    let inner = out_shape[MAX_RANK - 1];
    match o {
        Src::Tensor(_, st) => {
            st[MAX_RANK - 1] == 1
                && (0..MAX_RANK - 1).all(|d| out_shape[d] == 1 || st[d] == 0)
                && !inner.is_multiple_of(n)
                && inner + n <= PATTERN
        }
        _ => false,
    }
}

/// [`Src::Periodic`] of `o`'s row of `period` values, written to
/// `pattern` (`period + n` values).
#[inline(always)]
fn repeat<'p>(o: &Src<'_>, period: usize, pattern: &'p mut [i8; PATTERN], n: usize) -> Src<'p> {
    if let Src::Tensor(t, _) = o {
        let row = &t[..period];
        for (i, v) in pattern[..period + n].iter_mut().enumerate() {
            *v = row[i % period];
        }
    }
    Src::Periodic(&pattern[..period + n], period)
}

/// Elements from which an AVX-512 ADD/SUB/MUL looks every result up in a
/// table of all 65,536 operand pairs, built per call ([`pairs_x86`]:
/// 4,096 vector requantizations and 64 KB on the stack).
#[cfg(all(target_arch = "x86_64", not(miri)))]
pub(crate) const PAIR_TABLE_MIN: usize = 1 << 16;

/// Elements from which ADD/SUB rescales its operands through tables: 512
/// scalar rescales to build them, then a lookup per operand and element.
const ADD_TABLE_MIN: usize = 2048;

/// `o` as a single row of the flattened output when it is dense (or the
/// output itself) or a single broadcast value; `None` otherwise. Strides of
/// dims of extent 1 do not matter.
#[inline(always)]
fn flat<'a>(o: Src<'a>, out_shape: &[usize; MAX_RANK]) -> Option<Src<'a>> {
    let dense = super::contiguous_strides(*out_shape);
    let live = |st: &[usize; MAX_RANK], want: &[usize; MAX_RANK]| {
        (0..MAX_RANK).all(|d| out_shape[d] == 1 || st[d] == want[d])
    };
    match o {
        Src::Output => Some(Src::Output),
        Src::Tensor(t, st) if live(&st, &dense) => {
            let mut s = [0; MAX_RANK];
            s[MAX_RANK - 1] = 1;
            Some(Src::Tensor(t, s))
        }
        Src::Tensor(t, st) if live(&st, &[0; MAX_RANK]) => Some(Src::Tensor(t, [0; MAX_RANK])),
        Src::Tensor(..) | Src::Periodic(..) => None,
    }
}

/// One `N`-lane step of a binary op.
trait Block<const N: usize> {
    /// The output stage's multiplier and shift (one for the tensor).
    fn out_requant(&self) -> (i32, i32);
    /// The output stage's zero point and clamp.
    fn out_clamp(&self) -> (i32, i32, i32);
    /// What the output stage requantizes, per lane.
    fn raw(&self, x: &[i8; N], y: &[i8; N]) -> [i32; N];
}

struct AddBlock<const N: usize> {
    p: QAddParams,
    left: u32,
    am: [i32; N],
    ash: [i32; N],
    bm: [i32; N],
    bsh: [i32; N],
}

impl<const N: usize> AddBlock<N> {
    #[inline(always)]
    fn new(p: &QAddParams) -> Self {
        AddBlock {
            p: *p,
            left: p.left_shift.clamp(0, 31) as u32,
            am: [p.a_mult; N],
            ash: [p.a_shift; N],
            bm: [p.b_mult; N],
            bsh: [p.b_shift; N],
        }
    }
}

impl<const N: usize> Block<N> for AddBlock<N> {
    #[inline(always)]
    fn out_requant(&self) -> (i32, i32) {
        (self.p.out_mult, self.p.out_shift)
    }
    #[inline(always)]
    fn out_clamp(&self) -> (i32, i32, i32) {
        (self.p.out_zp, self.p.act_min, self.p.act_max)
    }
    #[inline(always)]
    fn raw(&self, x: &[i8; N], y: &[i8; N]) -> [i32; N] {
        let p = &self.p;
        let mut dx = [0i32; N];
        let mut dy = [0i32; N];
        for j in 0..N {
            dx[j] = (x[j] as i32 - p.a_zp).wrapping_shl(self.left);
            dy[j] = (y[j] as i32 - p.b_zp).wrapping_shl(self.left);
        }
        let sx = mbqm_block(&dx, &self.am, &self.ash);
        let sy = mbqm_block(&dy, &self.bm, &self.bsh);
        let mut raw = [0i32; N];
        for j in 0..N {
            raw[j] = if p.sub {
                sx[j].wrapping_sub(sy[j])
            } else {
                sx[j].wrapping_add(sy[j])
            };
        }
        raw
    }
}

/// ADD/SUB with each operand's rescale `s = mbqm((q − zp)·2^left, m, s)`
/// looked up in a table of its 256 values, indexed by the byte: the same
/// values as [`AddBlock`] computes, by construction.
struct AddTableBlock {
    p: QAddParams,
    ta: [i32; 256],
    tb: [i32; 256],
}

impl AddTableBlock {
    #[inline(always)]
    fn new(p: &QAddParams) -> Self {
        let left = p.left_shift.clamp(0, 31) as u32;
        let table = |zp: i32, m: i32, s: i32| -> [i32; 256] {
            core::array::from_fn(|byte| {
                mbqm((byte as u8 as i8 as i32 - zp).wrapping_shl(left), m, s)
            })
        };
        AddTableBlock {
            p: *p,
            ta: table(p.a_zp, p.a_mult, p.a_shift),
            tb: table(p.b_zp, p.b_mult, p.b_shift),
        }
    }
}

impl<const N: usize> Block<N> for AddTableBlock {
    #[inline(always)]
    fn out_requant(&self) -> (i32, i32) {
        (self.p.out_mult, self.p.out_shift)
    }
    #[inline(always)]
    fn out_clamp(&self) -> (i32, i32, i32) {
        (self.p.out_zp, self.p.act_min, self.p.act_max)
    }
    #[inline(always)]
    fn raw(&self, x: &[i8; N], y: &[i8; N]) -> [i32; N] {
        let p = &self.p;
        let mut raw = [0i32; N];
        for j in 0..N {
            let (sx, sy) = (self.ta[x[j] as u8 as usize], self.tb[y[j] as u8 as usize]);
            raw[j] = if p.sub {
                sx.wrapping_sub(sy)
            } else {
                sx.wrapping_add(sy)
            };
        }
        raw
    }
}

struct MulBlock {
    p: QMulParams,
}

impl MulBlock {
    #[inline(always)]
    fn new(p: &QMulParams) -> Self {
        MulBlock { p: *p }
    }
}

impl<const N: usize> Block<N> for MulBlock {
    #[inline(always)]
    fn out_requant(&self) -> (i32, i32) {
        (self.p.mult, self.p.shift)
    }
    #[inline(always)]
    fn out_clamp(&self) -> (i32, i32, i32) {
        (self.p.out_zp, self.p.act_min, self.p.act_max)
    }
    #[inline(always)]
    fn raw(&self, x: &[i8; N], y: &[i8; N]) -> [i32; N] {
        let p = &self.p;
        let mut prod = [0i32; N];
        for j in 0..N {
            prod[j] = (x[j] as i32 - p.a_zp) * (y[j] as i32 - p.b_zp);
        }
        prod
    }
}

/// Element offset of the current row of `o` (0 for the output itself).
#[inline(always)]
fn row_base(o: &Src<'_>, idx: &[usize; MAX_RANK - 1]) -> usize {
    match o {
        Src::Tensor(_, st) => offset(idx, st),
        Src::Output | Src::Periodic(..) => 0,
    }
}

/// Lanes `j0..j0 + n` of operand `o`'s row at `base` (the output row for
/// [`Operand::Output`]), zeros past `n`.
#[inline(always)]
fn load_block<const N: usize>(
    o: &Src<'_>,
    base: usize,
    row: &[i8],
    j0: usize,
    n: usize,
) -> [i8; N] {
    let mut v = [0i8; N];
    // A whole block copies `N` bytes, a constant length (no call to memcpy).
    let copy = |v: &mut [i8; N], src: &[i8]| {
        if n == N {
            v.copy_from_slice(&src[..N]);
        } else {
            v[..n].copy_from_slice(&src[..n]);
        }
    };
    match o {
        Src::Output => copy(&mut v, &row[j0..]),
        Src::Periodic(pattern, period) => copy(&mut v, &pattern[j0 % period..]),
        Src::Tensor(t, st) => match st[MAX_RANK - 1] {
            1 => copy(&mut v, &t[base + j0..]),
            0 => v = [t[base]; N],
            s => {
                for (k, e) in v[..n].iter_mut().enumerate() {
                    *e = t[base + (j0 + k) * s];
                }
            }
        },
    }
    v
}

/// Applies `f` to `N`-lane blocks of every innermost row (a shorter tail
/// block is padded with zeros and only its valid lanes are stored).
#[inline(always)]
/// # Safety
/// The CPU supports `V`; `N` is a multiple of its lanes.
unsafe fn rows<V: I32Simd, const N: usize, B: Block<N>>(
    f: &B,
    a: Src<'_>,
    b: Src<'_>,
    out: &mut [i8],
    out_shape: [usize; MAX_RANK],
) {
    let total: usize = out_shape.iter().product();
    debug_assert!(out.len() >= total, "out too short");
    if total == 0 {
        return;
    }
    let inner = out_shape[MAX_RANK - 1];
    let (mult, shift) = f.out_requant();
    // SAFETY: the CPU supports `V` (the caller).
    let u = unsafe { V::uniform_prep(mult, shift) };
    let mut idx = [0usize; MAX_RANK - 1];
    for row in out[..total].chunks_exact_mut(inner) {
        let (ba, bb) = (row_base(&a, &idx), row_base(&b, &idx));
        let mut j0 = 0;
        while j0 < inner {
            let n = N.min(inner - j0);
            let x = load_block::<N>(&a, ba, row, j0, n);
            let y = load_block::<N>(&b, bb, row, j0, n);
            // SAFETY: forwarded from the caller.
            let r = unsafe { requant_block::<V, N>(&f.raw(&x, &y), &u, f.out_clamp()) };
            if n == N {
                // In the vectors' pieces: each load of `r` then reads one
                // store of `requant_block` whole (store-to-load forwarding;
                // a load spanning two stores waits for both to retire).
                for c in (0..N).step_by(V::LANES) {
                    row[j0 + c..j0 + c + V::LANES].copy_from_slice(&r[c..c + V::LANES]);
                }
            } else {
                row[j0..j0 + n].copy_from_slice(&r[..n]);
            }
            j0 += n;
        }
        next_index(&mut idx, &out_shape[..MAX_RANK - 1]);
    }
}

/// `sum_d idx[d] * strides[d]` over the outer dims.
#[inline(always)]
fn offset(idx: &[usize; MAX_RANK - 1], strides: &[usize; MAX_RANK]) -> usize {
    idx.iter().zip(strides).map(|(i, s)| i * s).sum()
}

/// Table lookup: `out[i] = table[(input[i] as i32 + 128) as usize]` for
/// `i < input.len()`; `table.len() == 256`.
pub fn lut(table: &[i8], input: &[i8], out: &mut [i8]) {
    debug_assert_eq!(table.len(), 256, "table length");
    debug_assert!(out.len() >= input.len(), "out too short");
    for (o, &x) in out.iter_mut().zip(input) {
        *o = table[(x as i32 + 128) as usize];
    }
}

/// [`lut`] in place.
pub fn lut_inplace(table: &[i8], data: &mut [i8]) {
    debug_assert_eq!(table.len(), 256, "table length");
    for v in data.iter_mut() {
        *v = table[(*v as i32 + 128) as usize];
    }
}

/// [`lut`] of `input`, or [`lut_inplace`] of `out` when `input` is `None`:
/// the reference's results, by AVX-512 VBMI byte permutes where the CPU has
/// them.
pub fn lut_any(table: &[i8], input: Option<&[i8]>, out: &mut [i8]) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if table.len() >= 256 && lut_x86::available() {
        let (x, n) = match input {
            Some(x) => (x.as_ptr(), x.len().min(out.len())),
            None => (out.as_ptr(), out.len()),
        };
        // SAFETY: the CPU has the features (`available`); `x` and `out`
        // hold `n` values, and `input` (a shared borrow) cannot overlap
        // `out` (a unique one), or is `out` itself.
        return unsafe { lut_x86::lut(table, x, out.as_mut_ptr(), n) };
    }
    lut_reference(table, input, out)
}

/// [`lut`] of `input`, or [`lut_inplace`] when `None` (the `REFERENCE`
/// table's `Lut`).
pub fn lut_reference(table: &[i8], input: Option<&[i8]>, out: &mut [i8]) {
    match input {
        Some(x) => lut(table, x, out),
        None => lut_inplace(table, out),
    }
}

/// Elementwise requantization (e.g. `Concat` inputs with another scale):
/// `out[i] = clamp(mbqm(input[i] - in_zp, mult, shift) + out_zp, -128, 127)`,
/// `mult/shift ~ S_in / S_out`.
pub fn requantize(input: &[i8], in_zp: i32, mult: i32, shift: i32, out_zp: i32, out: &mut [i8]) {
    debug_assert!(out.len() >= input.len(), "out too short");
    for (o, &x) in out.iter_mut().zip(input) {
        *o = requantize_clamp(x as i32 - in_zp, mult, shift, out_zp, -128, 127);
    }
}

/// [`requantize`] of every int8 value, as a [`lut`] table: a tensor of
/// more than a few hundred values is requantized fastest by building this
/// once and looking its values up (the same integers by construction).
pub fn requantize_table(in_zp: i32, mult: i32, shift: i32, out_zp: i32) -> [i8; 256] {
    core::array::from_fn(|i| {
        requantize_clamp(i as i32 - 128 - in_zp, mult, shift, out_zp, -128, 127)
    })
}

/// [`dequantize`] of every int8 value, indexed by `q + 128`.
pub fn dequantize_table(scale: f32, zero_point: i32) -> [f32; 256] {
    core::array::from_fn(|i| quant::dequantize((i as i32 - 128) as i8, scale, zero_point))
}

/// `out[i] = quant::quantize(input[i], scale, zero_point)`.
#[inline(always)] // compiled inside each kernel table's target features
///
/// [`quant::quantize`]'s arithmetic with the NaN case made a select and the
/// truncation an unchecked conversion, so that the loop vectorizes (the
/// checked `as i32` is scalar code on x86): the same results for every
/// input (`quantize_equals_the_scalar_form_on_all_classes`).
pub fn quantize(input: &[f32], scale: f32, zero_point: i32, out: &mut [i8]) {
    debug_assert!(out.len() >= input.len(), "out too short");
    for (o, &x) in out.iter_mut().zip(input) {
        let v = x / scale;
        let v = if v.is_nan() {
            0.0
        } else {
            v.clamp(-16_777_216.0, 16_777_216.0)
        };
        // SAFETY: `v` is finite and within ±2^24, which `i32` holds.
        let whole: i32 = unsafe { v.to_int_unchecked() };
        let frac = v - whole as f32;
        let r = whole + i32::from(frac >= 0.5) - i32::from(frac <= -0.5);
        *o = r.saturating_add(zero_point).clamp(-128, 127) as i8;
    }
}

/// `out[i] = quant::dequantize(input[i], scale, zero_point)`.
pub fn dequantize(input: &[i8], scale: f32, zero_point: i32, out: &mut [f32]) {
    debug_assert!(out.len() >= input.len(), "out too short");
    if input.len() > 1024 {
        let table = dequantize_table(scale, zero_point);
        for (o, &q) in out.iter_mut().zip(input) {
            *o = table[(q as i32 + 128) as usize];
        }
        return;
    }
    for (o, &q) in out.iter_mut().zip(input) {
        *o = quant::dequantize(q, scale, zero_point);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::contiguous_strides;
    use crate::kernels::test_util::{iters, Rng};
    use crate::quant::test_support::{act_range, expect, scale, vec_i8, zero_point, Guarded, Lsb};
    use std::vec;
    use std::vec::Vec;

    /// The op layer's stride computation: right-aligned, 0 on broadcast dims.
    fn bstrides(s: &[usize], out: &[usize; MAX_RANK]) -> [usize; MAX_RANK] {
        let mut p = [1; MAX_RANK];
        p[MAX_RANK - s.len()..].copy_from_slice(s);
        let mut st = contiguous_strides(p);
        for d in 0..MAX_RANK {
            if p[d] == 1 && out[d] != 1 {
                st[d] = 0;
            }
        }
        st
    }

    /// Numpy-style broadcast by explicit index arithmetic: the operand
    /// pairs in output order, and the output shape.
    fn broadcast_pairs(
        a: &[i8],
        ash: &[usize],
        b: &[i8],
        bsh: &[usize],
    ) -> (Vec<(i8, i8)>, Vec<usize>) {
        let rank = ash.len().max(bsh.len());
        let pad = |s: &[usize]| {
            let mut v = vec![1; rank - s.len()];
            v.extend_from_slice(s);
            v
        };
        let (ap, bp) = (pad(ash), pad(bsh));
        let osh: Vec<usize> = (0..rank)
            .map(|d| if ap[d] == 1 { bp[d] } else { ap[d] })
            .collect();
        let total: usize = osh.iter().product();
        let mut pairs = Vec::with_capacity(total);
        for flat in 0..total {
            let mut rem = flat;
            let mut idx = vec![0; rank];
            for d in (0..rank).rev() {
                idx[d] = rem % osh[d];
                rem /= osh[d];
            }
            let lin = |shape: &[usize]| {
                (0..rank).fold(0, |l, d| {
                    l * shape[d] + if shape[d] == 1 { 0 } else { idx[d] }
                })
            };
            pairs.push((a[lin(&ap)], b[lin(&bp)]));
        }
        (pairs, osh)
    }

    /// TFLite AddElementwise / MulElementwise transcribed with i64
    /// intermediates (no wrapping can occur for valid parameters).
    fn naive(op: &QBinary, x: i8, y: i8) -> i8 {
        let (raw, m, s, zp, lo, hi) = match op {
            QBinary::Add(p) => {
                let dx = (x as i64 - p.a_zp as i64) << p.left_shift;
                let dy = (y as i64 - p.b_zp as i64) << p.left_shift;
                let sx = mbqm(dx as i32, p.a_mult, p.a_shift) as i64;
                let sy = mbqm(dy as i32, p.b_mult, p.b_shift) as i64;
                let raw = if p.sub { sx - sy } else { sx + sy };
                (raw, p.out_mult, p.out_shift, p.out_zp, p.act_min, p.act_max)
            }
            QBinary::Mul(p) => {
                let raw = (x as i64 - p.a_zp as i64) * (y as i64 - p.b_zp as i64);
                (raw, p.mult, p.shift, p.out_zp, p.act_min, p.act_max)
            }
        };
        let v = mbqm(i32::try_from(raw).unwrap(), m, s) as i64 + zp as i64;
        v.clamp(lo as i64, hi as i64) as i8
    }

    /// A random ADD (kind 0), SUB (1) or MUL (2) with its real-valued
    /// definition.
    struct RandomOp {
        op: QBinary,
        kind: usize,
        scales: [f64; 3],
        zps: [i32; 3],
        range: (i32, i32),
    }

    impl RandomOp {
        fn new(rng: &mut Rng, kind: usize) -> Self {
            let zps = [zero_point(rng), zero_point(rng), zero_point(rng)];
            let range = act_range(rng, zps[2]);
            // Scales from tiny to large, ratios up to 2^8 between the inputs.
            let sa = scale(rng, -20.0, 4.0);
            let sb = match rng.below(3) {
                0 => sa,
                _ => sa * scale(rng, -8.0, 8.0),
            };
            let (op, so) = if kind < 2 {
                // Output scale near the larger input scale (the output of a
                // real ADD covers both ranges); out multiplier stays < 1.
                let so = sa.max(sb) * scale(rng, -1.0, 3.0);
                let p = QAddParams::from_scales(
                    sa,
                    zps[0],
                    sb,
                    zps[1],
                    so,
                    zps[2],
                    range.0,
                    range.1,
                    kind == 1,
                );
                (QBinary::Add(p), so)
            } else {
                let so = sa * sb * scale(rng, 0.0, 10.0);
                let p =
                    QMulParams::from_scales(sa, zps[0], sb, zps[1], so, zps[2], range.0, range.1);
                (QBinary::Mul(p), so)
            };
            RandomOp {
                op,
                kind,
                scales: [sa as f64, sb as f64, so as f64],
                zps,
                range,
            }
        }

        /// The real-valued result, quantized with round-half-away.
        fn real(&self, x: i8, y: i8) -> i8 {
            let [sa, sb, so] = self.scales;
            let rx = sa * (x as i32 - self.zps[0]) as f64;
            let ry = sb * (y as i32 - self.zps[1]) as f64;
            let r = match self.kind {
                0 => rx + ry,
                1 => rx - ry,
                _ => rx * ry,
            };
            expect(r / so, self.zps[2], self.range.0, self.range.1)
        }
    }

    #[test]
    fn binary_matches_integer_and_real_definitions() {
        let mut rng = Rng::new(301);
        for (kind, name) in [(0, "i8 add"), (1, "i8 sub"), (2, "i8 mul")] {
            let mut lsb = Lsb::default();
            for _ in 0..iters(60) {
                let r = RandomOp::new(&mut rng, kind);
                let n = iters(3000);
                let a = vec_i8(&mut rng, n);
                let b = vec_i8(&mut rng, n);
                let st = contiguous_strides([1, 1, 1, 1, 1, n]);
                let mut out = Guarded::new(n);
                binary_reference(&r.op, &a, st, &b, st, out.out(), [1, 1, 1, 1, 1, n]);
                for ((&got, &x), &y) in out.body().iter().zip(&a).zip(&b) {
                    assert_eq!(got, naive(&r.op, x, y), "{:?} {x} {y}", r.op);
                    lsb.check(got, r.real(x, y), r.range, &(r.op, x, y));
                }
            }
            lsb.finish(name, 0.01);
        }
    }

    #[test]
    fn binary_extreme_operands_exhaustive() {
        // Every operand pair at extreme zero points and scale ratios.
        let mut lsb = Lsb::default();
        for (kind, za, zb, zo, ratio) in [
            (0, -128, 127, 0, 1.0f32),
            (0, 127, -128, -128, 256.0),
            (1, -128, -128, 127, 1.0 / 256.0),
            (1, 0, 127, 0, 3.0),
            (2, -128, 127, 0, 1.0),
            (2, 127, 127, -128, 0.01),
        ] {
            let (sa, sb) = (0.02f32, 0.02 * ratio);
            let so = if kind < 2 {
                sa.max(sb) * 2.0
            } else {
                sa * sb * 300.0
            };
            let op = if kind < 2 {
                QBinary::Add(QAddParams::from_scales(
                    sa,
                    za,
                    sb,
                    zb,
                    so,
                    zo,
                    -128,
                    127,
                    kind == 1,
                ))
            } else {
                QBinary::Mul(QMulParams::from_scales(sa, za, sb, zb, so, zo, -128, 127))
            };
            let r = RandomOp {
                op,
                kind,
                scales: [sa as f64, sb as f64, so as f64],
                zps: [za, zb, zo],
                range: (-128, 127),
            };
            // Every pair natively; a sample under Miri.
            let step = if cfg!(miri) { 17 } else { 1 };
            for x in (i8::MIN..=i8::MAX).step_by(step) {
                for y in (i8::MIN..=i8::MAX).step_by(step) {
                    let got = op.apply(x, y);
                    assert_eq!(got, naive(&op, x, y));
                    lsb.check(got, r.real(x, y), r.range, &(op, x, y));
                }
            }
            // The blocked kernel on all pairs at once (long enough for the
            // table-driven ADD/SUB), equal to the scalar form.
            let pairs: Vec<(i8, i8)> = (i8::MIN..=i8::MAX)
                .step_by(step)
                .flat_map(|x| (i8::MIN..=i8::MAX).step_by(step).map(move |y| (x, y)))
                .collect();
            let (xs, ys): (Vec<i8>, Vec<i8>) = pairs.iter().copied().unzip();
            let mut shape = [1; MAX_RANK];
            shape[MAX_RANK - 1] = pairs.len();
            let dense = crate::kernels::contiguous_strides(shape);
            let mut out = vec![0i8; pairs.len()];
            // SAFETY: `I32x4` is plain Rust arrays; 16 is a multiple of its lanes.
            unsafe {
                binary_blocked::<crate::kernels::portable::I32x4, 16>(
                    &op,
                    Operand::Tensor(&xs, dense),
                    Operand::Tensor(&ys, dense),
                    &mut out,
                    shape,
                )
            };
            for (&(x, y), &o) in pairs.iter().zip(&out) {
                assert_eq!(o, op.apply(x, y), "{op:?} on ({x}, {y})");
            }
        }
        lsb.finish("i8 add/sub/mul exhaustive", 0.01);
    }

    #[test]
    fn from_scales_fields() {
        let p = QAddParams::from_scales(0.5, 1, 0.5, 2, 0.5, 3, -128, 127, false);
        assert_eq!(p.left_shift, 20);
        assert_eq!(
            (p.a_mult, p.a_shift, p.b_mult, p.b_shift),
            (1 << 30, 0, 1 << 30, 0)
        );
        // 2 * 0.5 / (2^20 * 0.5) = 2^-19.
        assert_eq!((p.out_mult, p.out_shift), (1 << 30, -18));
        // Same scales: plain integer addition of the real values.
        assert_eq!(p.apply(4, 6), 3 + 3 + 4);
        assert_eq!(
            QBinary::Add(QAddParams { sub: true, ..p }).apply(4, 6),
            3 + 3 - 4
        );
        // S_a = 2 S_b: a gets 1/2, b 1/4.
        let p = QAddParams::from_scales(0.2, 0, 0.1, 0, 0.1, 0, -128, 127, false);
        assert_eq!(
            (p.a_mult, p.a_shift, p.b_mult, p.b_shift),
            (1 << 30, 0, 1 << 30, -1)
        );
        assert_eq!(p.apply(10, 10), 30);
        let m = QMulParams::from_scales(0.5, 0, 0.25, 0, 0.125, -1, -128, 127);
        assert_eq!((m.mult, m.shift), (1 << 30, 1));
        assert_eq!(m.apply(3, -5), -16);
        assert_eq!(m.apply(127, 127), 127);
    }

    #[test]
    fn broadcast_patterns_and_inplace() {
        let shapes: &[(&[usize], &[usize])] = &[
            (&[7], &[7]),                            // contiguous
            (&[2, 3, 17], &[2, 3, 17]),              // contiguous
            (&[2, 3, 4], &[1]),                      // scalar
            (&[2, 3, 4], &[]),                       // rank-0 scalar
            (&[1, 5, 5, 8], &[8]),                   // per-channel
            (&[2, 5, 9], &[1, 1, 9]),                // per-channel
            (&[16], &[3, 16]),                       // a broadcast
            (&[3, 1], &[1, 4]),                      // outer product
            (&[2, 1, 4], &[3, 1]),                   // both broadcast
            (&[1, 3, 1, 5], &[2, 1, 4, 1]),          // interleaved
            (&[2, 3, 2, 3, 2, 3], &[3, 1, 3, 1, 3]), // rank 6
            (&[4, 1], &[4, 15]),                     // a broadcast along the inner dim
            (&[0, 3], &[3]),                         // empty
        ];
        let mut rng = Rng::new(302);
        for &(ash, bsh) in shapes {
            for kind in 0..3 {
                let r = RandomOp::new(&mut rng, kind);
                let a = vec_i8(&mut rng, ash.iter().product());
                let b = vec_i8(&mut rng, bsh.iter().product());
                let (pairs, osh) = broadcast_pairs(&a, ash, &b, bsh);
                let want: Vec<i8> = pairs.iter().map(|&(x, y)| naive(&r.op, x, y)).collect();
                let mut out_shape = [1; MAX_RANK];
                out_shape[MAX_RANK - osh.len()..].copy_from_slice(&osh);
                let (sa, sb) = (bstrides(ash, &out_shape), bstrides(bsh, &out_shape));
                let mut out = Guarded::new(want.len());
                binary_reference(&r.op, &a, sa, &b, sb, out.out(), out_shape);
                assert_eq!(out.body(), &want[..], "{ash:?} {bsh:?}");
                // In place, over whichever operand has the output's shape.
                let a_full = a.len() == want.len();
                let b_full = b.len() == want.len();
                if a_full {
                    let mut data = Guarded::new(a.len());
                    data.out().copy_from_slice(&a);
                    binary_inplace(&r.op, true, &b, sb, data.out(), out_shape);
                    assert_eq!(data.body(), &want[..], "in place as lhs {ash:?} {bsh:?}");
                }
                if b_full {
                    let mut data = Guarded::new(b.len());
                    data.out().copy_from_slice(&b);
                    binary_inplace(&r.op, false, &a, sa, data.out(), out_shape);
                    assert_eq!(data.body(), &want[..], "in place as rhs {ash:?} {bsh:?}");
                }
            }
        }
    }

    #[test]
    fn lut_maps_every_value() {
        let mut rng = Rng::new(303);
        let table = vec_i8(&mut rng, 256);
        let input: Vec<i8> = (i8::MIN..=i8::MAX).chain(vec_i8(&mut rng, 37)).collect();
        let mut out = Guarded::new(input.len());
        lut(&table, &input, out.out());
        let out = out.body();
        for (&o, &x) in out.iter().zip(&input) {
            assert_eq!(o, table[(x as i32 + 128) as usize]);
        }
        assert_eq!(out[..256], table[..]);
        let mut data = Guarded::new(input.len());
        data.out().copy_from_slice(&input);
        lut_inplace(&table, data.out());
        assert_eq!(data.body(), out);
        lut(&table, &[], &mut []);
    }

    #[test]
    fn requantize_matches_integer_and_real_definitions() {
        let mut rng = Rng::new(304);
        let mut lsb = Lsb::default();
        let input: Vec<i8> = (i8::MIN..=i8::MAX).collect();
        for _ in 0..iters(300) {
            let (zi, zo) = (zero_point(&mut rng), zero_point(&mut rng));
            let si = scale(&mut rng, -20.0, 4.0);
            let so = si * scale(&mut rng, -3.0, 4.0);
            let (m, s) = quantize_multiplier(si as f64 / so as f64);
            let mut out = Guarded::new(256);
            requantize(&input, zi, m, s, zo, out.out());
            // The table Concat looks values up in holds the same integers.
            let table = requantize_table(zi, m, s, zo);
            let mut looked_up = [0i8; 256];
            lut(&table, &input, &mut looked_up);
            assert_eq!(looked_up[..], out.body()[..]);
            for (&got, &x) in out.body().iter().zip(&input) {
                let exact = (mbqm(x as i32 - zi, m, s) as i64 + zo as i64).clamp(-128, 127);
                assert_eq!(got as i64, exact);
                let real = si as f64 * (x as i32 - zi) as f64 / so as f64;
                lsb.check(
                    got,
                    expect(real, zo, -128, 127),
                    (-128, 127),
                    &(si, so, zi, zo, x),
                );
            }
        }
        // TFLite's REQUANTIZE applies mbqm to `x - zp` directly (no pre-shift
        // as in ADD): SRDHM keeps only about log2(|x| M 2^right) bits, so
        // the second rounding mis-rounds reals within 2^-(right+1) of a
        // half. Measured: about 5% of outputs 1 LSB off the f64 result.
        lsb.finish("i8 requantize", 0.10);
        // Same scale and zero point: the identity.
        let mut out = [0i8; 256];
        let (m, s) = quantize_multiplier(1.0);
        requantize(&input, -7, m, s, -7, &mut out);
        assert_eq!(out[..], input[..]);
    }

    #[test]
    fn quantize_equals_the_scalar_form_on_all_classes() {
        let mut rng = Rng::new(306);
        // Random bit patterns (NaNs, infinities, subnormals, every
        // magnitude), exact ties, and the clamp's edges.
        let mut x: Vec<f32> = (0..iters(20_000))
            .map(|_| f32::from_bits(rng.next_u64() as u32))
            .collect();
        x.extend((-300..300).map(|k| k as f32 + 0.5));
        x.extend([
            f32::NEG_INFINITY,
            f32::INFINITY,
            16_777_216.0,
            -16_777_217.0,
            0.49999997,
            -0.49999997,
            -0.0,
        ]);
        for (s, z) in [(1.0, 0), (0.5, -128), (1.0 / 1024.0, 127), (3.7e-3, 5)] {
            let mut q = vec![0i8; x.len()];
            quantize(&x, s, z, &mut q);
            for (&qi, &xi) in q.iter().zip(&x) {
                assert_eq!(qi, quant::quantize(xi, s, z), "{xi:e} / {s}");
            }
        }
    }

    #[test]
    fn quantize_and_dequantize_elementwise() {
        let mut rng = Rng::new(305);
        for _ in 0..iters(200) {
            let s = scale(&mut rng, -12.0, 4.0);
            let z = zero_point(&mut rng);
            let x: Vec<f32> = (0..33)
                .map(|_| rng.f32() * 200.0 * s)
                .chain([f32::NAN, f32::INFINITY, -0.0])
                .collect();
            let mut q = Guarded::new(x.len());
            quantize(&x, s, z, q.out());
            let q = q.body();
            for (&qi, &xi) in q.iter().zip(&x) {
                assert_eq!(qi, quant::quantize(xi, s, z));
            }
            let all: Vec<i8> = (i8::MIN..=i8::MAX).collect();
            let mut f = vec![f32::NAN; 256 + 2];
            dequantize(&all, s, z, &mut f[1..257]);
            assert!(f[0].is_nan() && f[257].is_nan(), "guards");
            for (&fi, &qi) in f[1..257].iter().zip(&all) {
                assert_eq!(fi.to_bits(), quant::dequantize(qi, s, z).to_bits());
            }
            // Long inputs go through the table: the same bits.
            let long: Vec<i8> = (0..1500).map(|i| all[(i * 7) % 256]).collect();
            let mut g = vec![f32::NAN; long.len() + 2];
            dequantize(&long, s, z, &mut g[1..=long.len()]);
            assert!(g[0].is_nan() && g[long.len() + 1].is_nan(), "guards");
            for (&gi, &qi) in g[1..].iter().zip(&long) {
                assert_eq!(gi.to_bits(), quant::dequantize(qi, s, z).to_bits());
            }
            // Round trip: quantize(dequantize(q)) = q.
            let mut back = Guarded::new(256);
            quantize(&f[1..257], s, z, back.out());
            assert_eq!(back.body(), &all[..]);
        }
    }
}
