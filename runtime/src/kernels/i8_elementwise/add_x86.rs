//! int8 ADD/SUB of two dense operands on AVX-512 VBMI: the same values as
//! the table form of the op ([`AddTableBlock`](super::AddTableBlock)), 64
//! elements at a time. Over many elements, ADD/SUB/MUL through a table of
//! every operand pair's result ([`PairTable`], [`add_pairs`]).
//!
//! Each operand's rescale `s(q) = mbqm((q − zp)·2^left, m, s)` is a table
//! of 256 `i32`. Its four bytes are four 256-byte planes; `vpermi2b` looks
//! 64 indices up in each half of a plane and the index's top bit picks the
//! half, as in [`lut_x86`](super::lut_x86). Unpacking the planes byte by
//! byte and then word by word gives four vectors of 16 `i32`, each 128-bit
//! lane holding 4 consecutive elements of its lane's 16. Both operands are
//! laid out alike, so the sum and its requantization
//! ([`Avx512I32::requant_uniform`], the reference's arithmetic) are lane
//! for lane; the saturating packs `i32 → i16 → i8` invert the unpacking (every
//! value is already clamped into `[-128, 127]`).

//!
//! Over many elements ([`PAIR_TABLE_MIN`](super::PAIR_TABLE_MIN)), [`PairTable`]
//! holds the result of every operand pair (64 KB, built per call with the
//! same rescales and output stage), and [`add_pairs`] looks 16 elements up
//! at once with a `vpgatherdd` of their `a·256 + b` offsets.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use crate::kernels::simd::I32Simd;
use crate::kernels::x86::Avx512I32;

/// The byte planes of a 256-entry `i32` table: `planes[p][e]` is byte `p`
/// (little-endian) of entry `e`.
pub(crate) struct Planes([[u8; 256]; 4]);

impl Planes {
    /// The planes of `table`.
    #[inline(always)]
    pub(crate) fn of(table: &[i32; 256]) -> Self {
        let mut planes = [[0u8; 256]; 4];
        for (e, v) in table.iter().enumerate() {
            for (p, b) in v.to_le_bytes().into_iter().enumerate() {
                planes[p][e] = b;
            }
        }
        Planes(planes)
    }
}

/// The output stage: `clamp(mbqm(sa ± sb, mult, shift) + zp, lo, hi)`.
#[derive(Clone, Copy)]
pub(crate) struct Out {
    pub sub: bool,
    pub mult: i32,
    pub shift: i32,
    pub zp: i32,
    pub lo: i32,
    pub hi: i32,
}

impl Out {
    /// The output stage of a MUL (`sub` unused).
    #[inline(always)]
    pub(crate) fn of_mul(p: &super::QMulParams) -> Self {
        Out {
            sub: false,
            mult: p.mult,
            shift: p.shift,
            zp: p.out_zp,
            lo: p.act_min,
            hi: p.act_max,
        }
    }

    /// The output stage of an ADD/SUB.
    #[inline(always)]
    pub(crate) fn of_add(p: &super::QAddParams) -> Self {
        Out {
            sub: p.sub,
            mult: p.out_mult,
            shift: p.out_shift,
            zp: p.out_zp,
            lo: p.act_min,
            hi: p.act_max,
        }
    }
}

/// Looks the 64 byte indices `idx` up in `planes`: four vectors of `i32`
/// in the unpacked lane order of the module docs.
///
/// # Safety
/// The CPU has AVX-512F/BW/VBMI.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn lookup(planes: &Planes, idx: __m512i) -> [__m512i; 4] {
    // SAFETY: the features are the caller's; each load reads 64 bytes
    // inside a 256-byte plane.
    unsafe {
        let top = _mm512_movepi8_mask(idx);
        let plane = |p: &[u8; 256]| {
            let t = p.as_ptr();
            let lo = _mm512_permutex2var_epi8(
                _mm512_loadu_si512(t.cast()),
                idx,
                _mm512_loadu_si512(t.add(64).cast()),
            );
            let hi = _mm512_permutex2var_epi8(
                _mm512_loadu_si512(t.add(128).cast()),
                idx,
                _mm512_loadu_si512(t.add(192).cast()),
            );
            _mm512_mask_blend_epi8(top, lo, hi)
        };
        let [p0, p1, p2, p3] = [
            plane(&planes.0[0]),
            plane(&planes.0[1]),
            plane(&planes.0[2]),
            plane(&planes.0[3]),
        ];
        let (lo01, hi01) = (_mm512_unpacklo_epi8(p0, p1), _mm512_unpackhi_epi8(p0, p1));
        let (lo23, hi23) = (_mm512_unpacklo_epi8(p2, p3), _mm512_unpackhi_epi8(p2, p3));
        [
            _mm512_unpacklo_epi16(lo01, lo23),
            _mm512_unpackhi_epi16(lo01, lo23),
            _mm512_unpacklo_epi16(hi01, hi23),
            _mm512_unpackhi_epi16(hi01, hi23),
        ]
    }
}

/// `out[i] = o(ta[a[i]] ± tb[b[i]])` for `i < n`, where `ta`, `tb` are the
/// tables behind `pa`, `pb` indexed by the byte.
///
/// # Safety
/// The CPU has AVX-512F/BW/VBMI ([`lut_x86::available`](super::lut_x86::available));
/// `a` and `b` are valid for `n` reads and `out` for `n` writes; each of
/// `a` and `b` is `out` itself or does not overlap it.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn add(
    pa: &Planes,
    pb: &Planes,
    o: Out,
    a: *const i8,
    b: *const i8,
    out: *mut i8,
    n: usize,
) {
    // SAFETY: the features and pointer ranges are the caller's; masked-off
    // bytes are neither read nor written; `Avx512I32` needs AVX-512F.
    unsafe {
        let u = Avx512I32::uniform_prep(o.mult, o.shift);
        let mut i = 0;
        while i < n {
            let (len, mask) = super::lut_x86::block(n - i);
            let sa = lookup(pa, _mm512_maskz_loadu_epi8(mask, a.add(i)));
            let sb = lookup(pb, _mm512_maskz_loadu_epi8(mask, b.add(i)));
            // A loop rather than `array::from_fn`: a closure would not
            // inherit this function's target features (nor be inlined).
            let mut q = [_mm512_setzero_si512(); 4];
            for v in 0..4 {
                let raw = if o.sub {
                    _mm512_sub_epi32(sa[v], sb[v])
                } else {
                    _mm512_add_epi32(sa[v], sb[v])
                };
                q[v] = Avx512I32(raw).requant_uniform(&u, o.zp, o.lo, o.hi).0;
            }
            let w01 = _mm512_packs_epi32(q[0], q[1]);
            let w23 = _mm512_packs_epi32(q[2], q[3]);
            _mm512_mask_storeu_epi8(out.add(i), mask, _mm512_packs_epi16(w01, w23));
            i += len;
        }
    }
}

/// Entries of a [`PairTable`]: one per `(a, b)` byte pair.
const PAIRS: usize = 256 * 256;

/// The output byte of every operand pair, at `(a as u8)·256 + b as u8`,
/// and 4 more bytes that a 4-byte gather of the last entries reads.
#[repr(C, align(64))]
pub(crate) struct PairTable([i8; PAIRS + 4]);

/// What a [`PairTable`] requantizes for the pair `(a, b)`.
#[derive(Clone, Copy)]
pub(crate) enum PairRaw<'a> {
    /// `ta[a] ± tb[b]` (`Out::sub`): ADD/SUB's rescaled operands.
    Add(&'a [i32; 256], &'a [i32; 256]),
    /// `(a − a_zp)·(b − b_zp)`, exact in `i32`: MUL.
    Mul(i32, i32),
}

impl PairTable {
    /// Writes the table of `o(raw(a, b))` into `slot` (every byte, the 4
    /// past the pairs as 0): the values of [`add`] for the tables behind
    /// its planes, or of MUL.
    ///
    /// # Safety
    /// The CPU has AVX-512F/BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(crate) unsafe fn build<'t>(
        slot: &'t mut MaybeUninit<PairTable>,
        raw: PairRaw<'_>,
        o: Out,
    ) -> &'t PairTable {
        // The byte values in table order: entry `e` is the `i8` of `e as u8`.
        let bytes: [i8; 256] = core::array::from_fn(|e| e as u8 as i8);
        // SAFETY: the features are the caller's; each store writes 16 bytes
        // at `a·256 + b0` with `b0 + 16 <= 256`, inside the table, and with
        // the last 4 bytes every byte is written before the table is read;
        // the loads read `tb[b0..b0 + 16]` or `bytes[b0..b0 + 16]`.
        unsafe {
            let u = Avx512I32::uniform_prep(o.mult, o.shift);
            let t = slot.as_mut_ptr().cast::<i8>();
            for (a, &va) in bytes.iter().enumerate() {
                for b0 in (0..256).step_by(16) {
                    let raw = match raw {
                        PairRaw::Add(ta, tb) => {
                            let sa = _mm512_set1_epi32(ta[a]);
                            let sb = _mm512_loadu_si512(tb.as_ptr().add(b0).cast());
                            if o.sub {
                                _mm512_sub_epi32(sa, sb)
                            } else {
                                _mm512_add_epi32(sa, sb)
                            }
                        }
                        PairRaw::Mul(a_zp, b_zp) => {
                            let da = _mm512_set1_epi32(va as i32 - a_zp);
                            let b = _mm_loadu_si128(bytes.as_ptr().add(b0).cast());
                            let db =
                                _mm512_sub_epi32(_mm512_cvtepi8_epi32(b), _mm512_set1_epi32(b_zp));
                            _mm512_mullo_epi32(da, db)
                        }
                    };
                    let r = Avx512I32(raw).requant_uniform(&u, o.zp, o.lo, o.hi);
                    r.store_i8(t.add(a * 256 + b0));
                }
            }
            t.add(PAIRS).cast::<[i8; 4]>().write([0; 4]);
            slot.assume_init_ref()
        }
    }
}

/// Stores the table entries of 16 pairs, `a` and `b` as zero-extended
/// bytes in 32-bit lanes, as 16 bytes at `out`.
///
/// # Safety
/// The CPU has AVX-512F; `out` is valid for 16 writes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn lookup16(table: &PairTable, a: __m512i, b: __m512i, out: *mut i8) {
    // SAFETY: the caller; each gathered offset is at most `PAIRS − 1`, and
    // its 4 bytes lie inside the table's `PAIRS + 4`; the entry is each
    // gathered `i32`'s low byte.
    unsafe {
        let at = _mm512_or_si512(_mm512_slli_epi32::<8>(a), b);
        let g = _mm512_i32gather_epi32::<1>(at, table.0.as_ptr().cast());
        _mm_storeu_si128(out.cast(), _mm512_cvtepi32_epi8(g));
    }
}

/// 16 bytes at `p` zero-extended to 32-bit lanes.
///
/// # Safety
/// The CPU has AVX-512F; `p` is valid for 16 reads.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn bytes16(p: *const i8) -> __m512i {
    // SAFETY: the caller.
    unsafe { _mm512_cvtepu8_epi32(_mm_loadu_si128(p.cast())) }
}

/// `out[i] = table[a[i]·256 + b[i]]` (bytes as `u8`) for `i < n`.
///
/// # Safety
/// The CPU has AVX-512F/BW; `a` and `b` are valid for `n` reads and `out`
/// for `n` writes; each of `a` and `b` is `out` itself or does not overlap
/// it.
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) unsafe fn add_pairs(
    table: &PairTable,
    a: *const i8,
    b: *const i8,
    out: *mut i8,
    n: usize,
) {
    // SAFETY: the features and pointer ranges are the caller's; a block's
    // 16 bytes of `a` and `b` are read before its 16 bytes of `out` are
    // written; each gathered offset is at most `PAIRS − 1`, and its 4 bytes
    // lie inside the table's `PAIRS + 4`.
    unsafe {
        let mut i = 0;
        while i + 16 <= n {
            lookup16(table, bytes16(a.add(i)), bytes16(b.add(i)), out.add(i));
            i += 16;
        }
        while i < n {
            let at = ((*a.add(i) as u8 as usize) << 8) | *b.add(i) as u8 as usize;
            *out.add(i) = table.0[at];
            i += 1;
        }
    }
}

/// [`add_pairs`] with one operand a row of `period` values repeated along
/// the output (a per-channel operand): `x[i]` is `dense[i]` and `y[i]` is
/// `row[i % period]`, `x` the left operand unless `row_is_a`.
///
/// # Safety
/// As [`add_pairs`], with `dense` valid for `n` reads and `row` for
/// `period` reads; `period` is a multiple of 16 and `n` of `period`.
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) unsafe fn add_pairs_cyclic(
    table: &PairTable,
    (dense, row, period, row_is_a): (*const i8, *const i8, usize, bool),
    out: *mut i8,
    n: usize,
) {
    assert!(period.is_multiple_of(16) && n.is_multiple_of(period));
    // SAFETY: as `add_pairs`; a block of `row` starts at a multiple of 16
    // below `period` (a multiple of 16), so its 16 bytes lie in the row,
    // and `n` is whole blocks.
    unsafe {
        let (mut i, mut ph) = (0, 0);
        while i < n {
            let (vd, vr) = (bytes16(dense.add(i)), bytes16(row.add(ph)));
            let (va, vb) = if row_is_a { (vr, vd) } else { (vd, vr) };
            lookup16(table, va, vb, out.add(i));
            i += 16;
            ph += 16;
            if ph == period {
                ph = 0;
            }
        }
    }
}
