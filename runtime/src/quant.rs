//! int8 quantization arithmetic: the **one** implementation of
//! requantization in Ferrite.
//!
//! Every int8 kernel (reference and optimized) and the compiler call these
//! functions; nothing else re-implements them. They are TFLite/TFLM's
//! integer arithmetic bit for bit (`tensorflow/lite/kernels/internal/
//! common.cc`, `quantization_util.cc`, gemmlowp `fixedpoint/fixedpoint.h`);
//! the tests below reproduce the worked vectors of the quantization notes
//! (§3.7).
//!
//! Affine scheme: `real = S * (q - Z)`, `q` an `i8`, `Z` in `[-128, 127]`.
//! A real multiplier `M >= 0` is stored as `(mult, shift)` with
//! `M ~= mult * 2^(shift - 31)`, `mult` in `[2^30, 2^31 - 1]` (or 0) and
//! `shift > 0` a left shift ([`quantize_multiplier`]). Applying it to an
//! `i32` uses two roundings ([`Rounding::Double`], TFLite's default):
//!
//! ```text
//! srdhm(a, b)           = (a*b + 2^30) >> 31        (64-bit product, arithmetic shift)
//!                       = round(a*b / 2^31), ties toward +inf;  srdhm(MIN, MIN) = i32::MAX
//! rounding_divide_by_pot(x, e)
//!                       = round(x / 2^e), ties away from zero    (0 <= e <= 31)
//! mbqm(x, mult, shift)  = rounding_divide_by_pot(srdhm(x * 2^l, mult), r)
//!                         l = max(shift, 0), r = max(-shift, 0); x * 2^l wraps mod 2^32
//! ```
//!
//! Accuracy: when `x * 2^l` does not wrap,
//! `|mbqm(x, mult, shift) - x * mult * 2^(shift-31)|` is at most `1/2` for
//! `r = 0` and `1/2 + 2^-(r+1) < 1` otherwise; `mult * 2^(shift-31)` is
//! within a relative `2^-31` of `M`. The second rounding can thus move a
//! real value within `2^-(r+1)` of a half to the far side (the "double
//! rounding" artifact, largest for small `|x|`). The compiler keeps
//! `x * 2^l` in range (for `M < 1`, `l = 0`).
//!
//! gemmlowp's comment calls SRDHM's rounding "round to nearest"; its nudge
//! (`2^30` for `ab >= 0`, `1 - 2^30` below, then a truncating division)
//! rounds exact negative halves toward zero, i.e. ties go toward `+inf`
//! for both signs. CMSIS-NN's `arm_nn_doubling_high_mult_no_sat`,
//! `(a*b + 2^30) >> 31`, is the same function except at `(MIN, MIN)`.

/// Requantization rounding mode, recorded in the `.fer` header as a `u32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Rounding {
    /// TFLite/TFLM default ("double rounding"): [`srdhm`] (round to
    /// nearest, ties toward `+inf`), then [`rounding_divide_by_pot`] (round
    /// to nearest, ties away from zero). Implemented by [`mbqm`].
    Double = 0,
}

impl Rounding {
    /// The mode with header value `v`, if any.
    pub fn from_u32(v: u32) -> Option<Rounding> {
        match v {
            0 => Some(Rounding::Double),
            _ => None,
        }
    }
}

/// gemmlowp `SaturatingRoundingDoublingHighMul`: `round(a * b / 2^31)`
/// with ties toward `+inf`; the single overflowing case
/// `srdhm(i32::MIN, i32::MIN)` saturates to `i32::MAX`.
#[inline]
pub fn srdhm(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 {
        1i64 << 30
    } else {
        1 - (1i64 << 30)
    };
    // `/` truncates toward zero, as in C++. |ab| < 2^62, so no overflow,
    // and the quotient fits in i32 (only MIN * MIN would reach 2^31).
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp `RoundingDivideByPOT`: `round(x / 2^exponent)`, ties away
/// from zero, for `0 <= exponent <= 31` (other exponents are clamped into
/// that range; the op layer never passes them).
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent), "exponent {exponent}");
    let e = exponent.clamp(0, 31) as u32;
    let mask = ((1u32 << e) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> e) + (remainder > threshold) as i32
}

/// TFLite `MultiplyByQuantizedMultiplier` (double rounding):
/// `rounding_divide_by_pot(srdhm(x * 2^left, mult), right)` with
/// `left = max(shift, 0)`, `right = max(-shift, 0)`; `shift > 0` is a left
/// shift. `x * 2^left` is taken mod 2^32 (wrapping; C++ leaves overflow
/// undefined). Total: a left shift of 32 or more gives `x * 2^left = 0`, a
/// right shift beyond 31 acts as 31 ([`quantize_multiplier`] produces
/// neither).
#[inline]
pub fn mbqm(x: i32, mult: i32, shift: i32) -> i32 {
    let left = shift.clamp(0, 32) as u32;
    let right = (-shift).clamp(0, 31);
    // x * 2^left mod 2^32 (== x.wrapping_mul(1 << left) for left <= 31).
    let scaled = ((x as i64) << left) as i32;
    rounding_divide_by_pot(srdhm(scaled, mult), right)
}

/// TFLite `QuantizeMultiplier` (`quantization_util.cc`) for a finite
/// `m >= 0`: returns `(mult, shift)`, `shift > 0` a left shift, with
/// `m ~= mult * 2^(shift - 31)`.
///
/// ```text
/// m == 0:        (0, 0)
/// (q, e) = frexp(m)                      m = q * 2^e, q in [0.5, 1)
/// qf = round_half_away(q * 2^31)         in [2^30, 2^31]
/// qf == 2^31:    qf = 2^30, e += 1
/// e < -31:       (0, 0)                  (flush tiny multipliers to zero)
/// otherwise      (qf, e)
/// ```
///
/// `frexp` is done on the `f64` bits (no libm), subnormals included. The
/// TFLITE_SINGLE_ROUNDING clamp of `e` to 30 is not applied: under double
/// rounding TFLite leaves large shifts alone, and the compiler rejects
/// shifts that would overflow.
pub fn quantize_multiplier(m: f64) -> (i32, i32) {
    debug_assert!(m.is_finite() && m >= 0.0, "multiplier {m}");
    // Zero, and in release the invalid NaN and negative inputs.
    if m.is_nan() || m <= 0.0 {
        return (0, 0);
    }
    let (q, mut shift) = frexp(m);
    // q * 2^31 is exact (a power-of-two scaling) and lies in [2^30, 2^31).
    let scaled = q * 2_147_483_648.0;
    let whole = scaled as i64; // truncation = floor (positive)
    let mut q_fixed = whole + (scaled - whole as f64 >= 0.5) as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        return (0, 0);
    }
    (q_fixed as i32, shift)
}

/// `frexp` for a finite `m > 0`: `(q, e)` with `m = q * 2^e`, `q` in
/// `[0.5, 1)`.
fn frexp(m: f64) -> (f64, i32) {
    let bits = m.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: scale by 2^64 (exact) into the normal range.
        let (q, e) = frexp(m * 18_446_744_073_709_551_616.0);
        return (q, e - 64);
    }
    // Keep sign and mantissa, set the exponent field so that q is in [0.5, 1).
    let q = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (q, biased - 1022)
}

/// TFLite `QUANTIZE` (`reference/quantize.h`):
/// `clamp(round_half_away(x / scale) + zero_point, -128, 127)`, with the
/// division in `f32`. NaN maps to `zero_point` (clamped to the `i8`
/// range); infinities saturate.
#[inline]
pub fn quantize(x: f32, scale: f32, zero_point: i32) -> i8 {
    let v = x / scale;
    let r = if v.is_nan() {
        0
    } else {
        // Beyond 2^24 every result saturates anyway; below it `v - trunc(v)`
        // is exact, so the tie test below is exact.
        let v = v.clamp(-16_777_216.0, 16_777_216.0);
        let whole = v as i32; // truncation toward zero
        let frac = v - whole as f32;
        // Branch-free: inputs right at the ties (a camera frame normalized
        // to -1..=1 with scale 2/255) would mispredict every other value.
        whole + i32::from(frac >= 0.5) - i32::from(frac <= -0.5)
    };
    r.saturating_add(zero_point).clamp(-128, 127) as i8
}

/// TFLite `DEQUANTIZE`: `(q - zero_point) as f32 * scale`.
pub fn dequantize(q: i8, scale: f32, zero_point: i32) -> f32 {
    // TFLite multiplies in double (`scale` is a double there) and rounds the
    // product to f32 once. Both give the same bits: `q - zero_point` has at
    // most 9 significant bits and `scale` 24, so the f64 product is exact
    // and its one rounding to f32 is the correctly rounded product, which
    // is what IEEE f32 multiplication returns (the integer converts to f32
    // exactly).
    (q as i32 - zero_point) as f32 * scale
}

/// The output stage of every int8 kernel:
/// `clamp(mbqm(acc, mult, shift) + out_zp, act_min, act_max) as i8`.
///
/// The addition saturates (it only matters when `mbqm` is within 128 of
/// the `i32` range, where the clamp decides anyway); `act_min <= act_max`
/// within `[-128, 127]` is the caller's precondition (a reversed range
/// gives `act_max`, never a panic).
#[inline]
pub fn requantize_clamp(
    acc: i32,
    mult: i32,
    shift: i32,
    out_zp: i32,
    act_min: i32,
    act_max: i32,
) -> i8 {
    debug_assert!(-128 <= act_min && act_min <= act_max && act_max <= 127);
    mbqm(acc, mult, shift)
        .saturating_add(out_zp)
        .max(act_min)
        .min(act_max) as i8
}

/// [`mbqm`] on `N` lanes at once, written without branches so that LLVM
/// vectorizes it; equal to `mbqm(x[j], mult[j], shift[j])` on every lane
/// and input (`requantize_block_equals_scalar`).
#[inline(always)]
pub fn mbqm_block<const N: usize>(x: &[i32; N], mult: &[i32; N], shift: &[i32; N]) -> [i32; N] {
    let mut out = [0i32; N];
    for j in 0..N {
        let left = shift[j].clamp(0, 32) as u32;
        let right = (-shift[j]).clamp(0, 31) as u32;
        // x * 2^left mod 2^32; a shift of 32 gives 0, as in `mbqm`.
        let xs = ((x[j] as i64) << left) as i32;
        // SRDHM: (x·m + nudge) / 2^31 truncated toward zero; the one
        // overflowing case MIN·MIN saturates to MAX.
        let ab = xs as i64 * mult[j] as i64;
        let nudge = if ab >= 0 {
            1i64 << 30
        } else {
            1 - (1i64 << 30)
        };
        let v = ab + nudge;
        let q = ((v + ((v >> 63) & ((1i64 << 31) - 1))) >> 31) as i32;
        let q = if xs == i32::MIN && mult[j] == i32::MIN {
            i32::MAX
        } else {
            q
        };
        // RoundingDivideByPOT.
        let mask = ((1u32 << right) - 1) as i32;
        let rem = q & mask;
        let threshold = (mask >> 1) + (q < 0) as i32;
        out[j] = (q >> right) + (rem > threshold) as i32;
    }
    out
}

/// [`requantize_clamp`] on `N` lanes at once ([`mbqm_block`], then the
/// saturating `+ out_zp` and the clamp): the SIMD kernels' output stage.
#[inline(always)]
pub fn requantize_clamp_block<const N: usize>(
    acc: &[i32; N],
    mult: &[i32; N],
    shift: &[i32; N],
    out_zp: i32,
    act_min: i32,
    act_max: i32,
) -> [i8; N] {
    let r = mbqm_block(acc, mult, shift);
    let mut out = [0i8; N];
    for j in 0..N {
        out[j] = r[j].saturating_add(out_zp).max(act_min).min(act_max) as i8;
    }
    out
}

/// Shared helpers of the int8 kernel tests: guard-byte buffers, random
/// quantization parameters and the real-valued (f64) expectation.
#[cfg(test)]
pub(crate) mod test_support {
    extern crate std;
    use crate::kernels::test_util::Rng;
    use std::vec;
    use std::vec::Vec;

    /// Sentinel bytes on each side of an output buffer.
    pub const GUARD: usize = 16;
    /// The sentinel value (0x5A).
    pub const SENTINEL: i8 = 0x5A;

    /// An output buffer of `len` bytes with [`GUARD`] sentinel bytes on each
    /// side; the body starts out filled with the sentinel too.
    pub struct Guarded(Vec<i8>, usize);

    impl Guarded {
        pub fn new(len: usize) -> Self {
            Guarded(vec![SENTINEL; len + 2 * GUARD], len)
        }
        /// The body, for the kernel to write.
        pub fn out(&mut self) -> &mut [i8] {
            &mut self.0[GUARD..GUARD + self.1]
        }
        /// Asserts the guards are intact and returns the body.
        #[track_caller]
        pub fn body(&self) -> &[i8] {
            let n = self.0.len();
            assert!(
                self.0[..GUARD]
                    .iter()
                    .chain(&self.0[n - GUARD..])
                    .all(|&b| b == SENTINEL),
                "guard bytes overwritten"
            );
            &self.0[GUARD..GUARD + self.1]
        }
    }

    pub fn vec_i8(rng: &mut Rng, n: usize) -> Vec<i8> {
        (0..n).map(|_| rng.next_u64() as i8).collect()
    }

    /// A zero point: the extremes and 0 often, otherwise uniform.
    pub fn zero_point(rng: &mut Rng) -> i32 {
        match rng.below(5) {
            0 => -128,
            1 => 127,
            2 => 0,
            _ => rng.below(256) as i32 - 128,
        }
    }

    /// `2^u` with `u` uniform in `[lo, hi)`, as an `f32` scale.
    pub fn scale(rng: &mut Rng, lo: f64, hi: f64) -> f32 {
        let u = (rng.f32() as f64 + 1.0) / 2.0;
        (lo + (hi - lo) * u).exp2() as f32
    }

    /// An output scale for real results `real`: usually one that maps
    /// their largest magnitude to 2..181 LSB (most outputs unclamped),
    /// sometimes an extreme one (tiny or huge); never below `floor`.
    pub fn out_scale(rng: &mut Rng, real: &[f64], floor: f32) -> f32 {
        let max = real.iter().fold(0.0f64, |m, &r| m.max(r.abs()));
        let s = if rng.below(5) == 0 || max == 0.0 {
            scale(rng, -24.0, 8.0)
        } else {
            let u = 1.0 + 6.5 * (rng.f32() as f64 + 1.0) / 2.0;
            (max / u.exp2()) as f32
        };
        s.max(floor)
    }

    /// A fused-activation range around output zero point `zp`: full, ReLU,
    /// ReLU-like with a cap, tight, or random.
    pub fn act_range(rng: &mut Rng, zp: i32) -> (i32, i32) {
        match rng.below(5) {
            0 | 1 => (-128, 127),
            2 => (zp, 127),
            3 => ((zp - 3).max(-128), (zp + 3).min(127)),
            _ => {
                let a = rng.below(256) as i32 - 128;
                let b = rng.below(256) as i32 - 128;
                (a.min(b), a.max(b))
            }
        }
    }

    /// `clamp(round_half_away(r) + zp, lo, hi)`: the real-valued result
    /// `r` (already divided by the output scale) quantized.
    pub fn expect(r: f64, zp: i32, lo: i32, hi: i32) -> i8 {
        let r = r.clamp(-1e9, 1e9).round() as i64 + zp as i64;
        r.clamp(lo as i64, hi as i64) as i8
    }

    /// Tallies the distance between a kernel and the real-valued
    /// expectation: every output within 1 LSB, how many are off, and how
    /// many expectations lie strictly inside the clamp range (so that the
    /// comparison is not only about saturation).
    #[derive(Default)]
    pub struct Lsb {
        pub total: usize,
        pub off: usize,
        pub interior: usize,
    }

    impl Lsb {
        /// Compares one output with its expectation under clamp `[lo, hi]`.
        #[track_caller]
        pub fn check(
            &mut self,
            got: i8,
            want: i8,
            (lo, hi): (i32, i32),
            what: &dyn core::fmt::Debug,
        ) {
            let d = (got as i32 - want as i32).abs();
            assert!(d <= 1, "got {got}, want {want} (f64): {what:?}");
            self.total += 1;
            self.off += (d != 0) as usize;
            self.interior += (lo < want as i32 && (want as i32) < hi) as usize;
        }
        /// Prints the tallies; asserts the mismatch fraction is at most
        /// `max` and at least a quarter of the expectations are unclamped.
        /// Under Miri the samples are too small for these statistics, and
        /// only the per-output 1 LSB bound of [`Lsb::check`] applies.
        #[track_caller]
        pub fn finish(&self, name: &str, max: f64) {
            assert!(self.total > 0);
            let frac = self.off as f64 / self.total as f64;
            let inner = self.interior as f64 / self.total as f64;
            std::println!(
                "{name}: {} of {} outputs 1 LSB off the f64 result ({:.3}%); {:.1}% unclamped",
                self.off,
                self.total,
                100.0 * frac,
                100.0 * inner
            );
            if !cfg!(miri) {
                assert!(frac <= max, "{name}: mismatch fraction {frac}");
                assert!(
                    inner >= 0.25,
                    "{name}: only {inner} of the outputs unclamped"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::test_util::{iters, Rng};

    /// `2^e` exactly, for a normal power (`-1022 <= e <= 1023`); `powi`
    /// may be inexact (Miri perturbs it).
    fn pow2(e: i32) -> f64 {
        assert!((-1022..=1023).contains(&e));
        f64::from_bits(((e + 1023) as u64) << 52)
    }

    #[test]
    fn rounding_header_values() {
        assert_eq!(Rounding::from_u32(0), Some(Rounding::Double));
        assert_eq!(Rounding::Double as u32, 0);
        assert_eq!(Rounding::from_u32(1), None);
        assert_eq!(Rounding::from_u32(u32::MAX), None);
    }

    #[test]
    fn quantize_multiplier_worked_vectors() {
        // Quantization notes §3.7.
        assert_eq!(quantize_multiplier(0.001), (1_099_511_628, -9));
        // "M = 0.0007843137 (~1/1275) -> (1724724122, -10)": the pair is that
        // of 1/1275 itself; the 10-digit decimal is 2^-31-relatively smaller.
        assert_eq!(quantize_multiplier(1.0 / 1275.0), (1_724_724_122, -10));
        assert_eq!(quantize_multiplier(0.000_784_313_7), (1_724_724_066, -10));
        assert_eq!(quantize_multiplier(1.5), (1_610_612_736, 1));
        assert_eq!(quantize_multiplier(0.25), (1_073_741_824, -1));
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        // Scales stored as f32, product formed in f64 (as TFLite does).
        let m = 0.02f32 as f64 * 0.005f32 as f64 / 0.1f32 as f64;
        // 0.00099999994: the f32 just below 0.001.
        assert_eq!((m as f32).to_bits(), 0.001f32.to_bits() - 1);
        assert_eq!(quantize_multiplier(m), (1_099_511_562, -9));
        // The second disagreement example's multiplier round-trips.
        let (mult, shift) = (1_430_321_409, -1);
        let m2 = mult as f64 * pow2(shift - 31);
        assert_eq!(quantize_multiplier(m2), (mult, shift));
    }

    #[test]
    fn quantize_multiplier_edges() {
        // q * 2^31 rounding up to 2^31 moves to the next binade.
        // 1 - 2^-32: q * 2^31 = 2^31 - 0.5, a tie, rounds up to 2^31.
        assert_eq!(quantize_multiplier(1.0 - pow2(-32)), (1 << 30, 1));
        assert_eq!(quantize_multiplier(1.0 - pow2(-31)), (i32::MAX, 0));
        // Ties of q * 2^31 round away from zero (std::round).
        assert_eq!(quantize_multiplier(0.75 + pow2(-32)), (1_610_612_737, 0));
        assert_eq!(quantize_multiplier(0.75 + pow2(-33)), (1_610_612_736, 0));
        // Tiny multipliers flush to zero once the shift drops below -31.
        assert_eq!(quantize_multiplier(pow2(-32)), (1 << 30, -31));
        assert_eq!(quantize_multiplier(pow2(-33)), (0, 0));
        assert_eq!(quantize_multiplier(1e-300), (0, 0));
        // Subnormals take the hand-written frexp's slow path.
        assert_eq!(quantize_multiplier(f64::from_bits(1)), (0, 0));
        assert_eq!(frexp(f64::from_bits(1)), (0.5, -1073));
        assert_eq!(frexp(f64::from_bits(3)), (0.75, -1072));
        assert_eq!(frexp(f64::MIN_POSITIVE), (0.5, -1021));
        assert_eq!(frexp(f64::MAX).1, 1024);
        // Large multipliers keep their shift (the compiler bounds it).
        assert_eq!(quantize_multiplier(1024.0), (1 << 30, 11));
    }

    #[test]
    fn frexp_matches_std_decomposition() {
        let mut rng = Rng::new(3);
        for _ in 0..iters(20_000) {
            // Random finite positive f64 across all binades (subnormals too).
            let bits = rng.next_u64() & 0x7fef_ffff_ffff_ffff;
            let m = f64::from_bits(bits);
            if m == 0.0 {
                continue;
            }
            let (q, e) = frexp(m);
            assert!((0.5..1.0).contains(&q), "{m:e}");
            // q * 2^e == m exactly (two steps keep every factor normal).
            let back = q * pow2(e / 2) * pow2(e - e / 2);
            assert_eq!(back, m);
        }
    }

    #[test]
    fn quantize_multiplier_is_close_and_normalized() {
        let mut rng = Rng::new(4);
        for _ in 0..iters(20_000) {
            let m = (rng.f32() as f64 * 25.0).exp2() * (1.0 + rng.f32() as f64 * 0.3);
            let (mult, shift) = quantize_multiplier(m);
            assert!((1 << 30..=i32::MAX).contains(&mult), "{m:e}");
            let back = mult as f64 * pow2(shift - 31);
            assert!((back - m).abs() <= m * pow2(-31), "{m:e}");
        }
    }

    #[test]
    fn mbqm_worked_vectors() {
        // M = 0.001 (exact decimal).
        let (m, s) = (1_099_511_628, -9);
        for (acc, want) in [
            (12345, 12),
            (-12345, -12),
            (12500, 13),
            (-12500, -13),
            (i32::MAX, 2_147_484),
        ] {
            assert_eq!(mbqm(acc, m, s), want, "acc {acc}");
        }
        // M from f32 scales: double rounding gives the "wrong-looking" results.
        let (m, s) = (1_099_511_562, -9);
        assert_eq!(srdhm(12500, m), 6400);
        assert_eq!(srdhm(-12500, m), -6400);
        assert_eq!(srdhm(11500, m), 5888);
        assert_eq!(mbqm(12500, m, s), 13);
        assert_eq!(mbqm(-12500, m, s), -13);
        assert_eq!(mbqm(11500, m, s), 12);
        // Second disagreement example.
        assert_eq!(mbqm(15_035_978, 1_430_321_409, -1), 5_007_322);
        // M = 1.5: a left shift.
        assert_eq!(mbqm(1000, 1_610_612_736, 1), 1500);
        // No right shift: the tie is SRDHM's, toward +inf.
        assert_eq!(mbqm(7, 1_610_612_736, 1), 11); // 10.5
        assert_eq!(mbqm(-7, 1_610_612_736, 1), -10); // -10.5
    }

    #[test]
    fn srdhm_cases() {
        assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(srdhm(i32::MIN, i32::MAX), -i32::MAX);
        assert_eq!(srdhm(i32::MAX, i32::MAX), i32::MAX - 1);
        assert_eq!(srdhm(i32::MIN, 1 << 30), -(1 << 30));
        // Ties (a*b = ±2^30 and ±3·2^30) go toward +inf.
        assert_eq!(srdhm(1 << 15, 1 << 15), 1);
        assert_eq!(srdhm(-(1 << 15), 1 << 15), 0);
        assert_eq!(srdhm(3 << 15, 1 << 15), 2);
        assert_eq!(srdhm(-(3 << 15), 1 << 15), -1);
        // Non-ties round to nearest.
        assert_eq!(srdhm(-(1 << 15) - 1, 1 << 15), -1);
        assert_eq!(srdhm((1 << 15) - 1, 1 << 15), 0);
        assert_eq!(srdhm(0, i32::MIN), 0);
    }

    #[test]
    fn rounding_divide_by_pot_ties_and_range() {
        let cases = [
            (5, 1, 3),
            (-5, 1, -3),
            (3, 1, 2),
            (-3, 1, -2),
            (7, 2, 2),
            (-7, 2, -2),
            (6, 2, 2), // 1.5
            (-6, 2, -2),
            (10, 2, 3), // 2.5
            (-10, 2, -3),
            (9, 2, 2), // 2.25
            (-9, 2, -2),
            (11, 2, 3), // 2.75
            (-11, 2, -3),
            (12345, 0, 12345),
            (-12345, 0, -12345),
            (i32::MAX, 31, 1),
            (i32::MIN, 31, -1),
            (1 << 30, 31, 1), // exactly 0.5
            (-(1 << 30), 31, -1),
            ((1 << 30) - 1, 31, 0),
            (-(1 << 30) + 1, 31, 0),
            (i32::MIN, 1, -(1 << 30)),
            (-1, 1, -1), // -0.5
            (1, 1, 1),
            (-1, 2, 0),
        ];
        for (x, e, want) in cases {
            assert_eq!(rounding_divide_by_pot(x, e), want, "{x} / 2^{e}");
        }
        // Exhaustive over a window against an exact rational rounding.
        for e in 0..=31 {
            let w = if cfg!(miri) { 40 } else { 3000 };
            for x in (-w..w).chain([i32::MIN, i32::MIN + 1, i32::MAX - 1, i32::MAX]) {
                assert_eq!(
                    rounding_divide_by_pot(x, e),
                    div_round_away(x as i128, 1i128 << e) as i32
                );
            }
        }
    }

    /// `round(n / d)`, ties away from zero, exactly (`d > 0`).
    fn div_round_away(n: i128, d: i128) -> i128 {
        let (q, r) = (n / d, n % d);
        if 2 * r.abs() >= d {
            q + n.signum()
        } else {
            q
        }
    }

    /// `round(n / d)`, ties toward +inf, exactly (`d > 0`).
    fn div_round_up(n: i128, d: i128) -> i128 {
        (2 * n + d).div_euclid(2 * d)
    }

    /// MultiplyByQuantizedMultiplier re-derived from its definition with
    /// exact rational arithmetic: wrap `x * 2^left` to 32 bits, round
    /// `x' * mult / 2^31` to nearest (ties up, saturating at `MIN * MIN`),
    /// then divide by `2^right` rounding ties away from zero.
    fn mbqm_exact(x: i32, mult: i32, shift: i32) -> i32 {
        let (left, right) = (shift.max(0), (-shift).max(0));
        let xs = ((x as i128) << left).rem_euclid(1 << 32);
        let xs = if xs >= 1 << 31 { xs - (1 << 32) } else { xs };
        let t = div_round_up(xs * mult as i128, 1 << 31).min(i32::MAX as i128);
        div_round_away(t, 1i128 << right) as i32
    }

    #[test]
    fn mbqm_matches_exact_rederivation() {
        let mut rng = Rng::new(5);
        for i in 0..iters(200_000) {
            let shift = rng.below(62) as i32 - 31;
            let mult = match i % 4 {
                0 => rng.next_u64() as i32,
                _ => (1 << 30) + (rng.next_u64() % (1 << 30)) as i32,
            };
            let x = match i % 3 {
                0 => rng.next_u64() as i32,
                1 => (rng.next_u64() as i32) >> rng.below(32),
                _ => [i32::MIN, i32::MAX, 0, -1, 1][rng.below(5)],
            };
            let got = mbqm(x, mult, shift);
            assert_eq!(got, mbqm_exact(x, mult, shift), "{x} {mult} {shift}");
            // Within one LSB of the real product when nothing wraps.
            if shift <= 0 || (x as i64) << shift == ((x as i64) << shift) as i32 as i64 {
                let real = x as f64 * mult as f64 * pow2(shift - 31);
                let bound = 0.5 + pow2(-(-shift).max(0) - 1);
                if !(x == i32::MIN && mult == i32::MIN) {
                    assert!(
                        (got as f64 - real).abs() <= bound + 1e-6,
                        "{x} {mult} {shift}"
                    );
                }
            }
        }
    }

    #[test]
    fn mbqm_extreme_shifts_do_not_panic() {
        assert_eq!(mbqm(1, 1 << 30, 31), -(1 << 30)); // 2^31 wraps to MIN, * 0.5
        assert_eq!(mbqm(3, 1 << 30, 32), 0);
        assert_eq!(mbqm(3, 1 << 30, 40), 0);
        assert_eq!(mbqm(i32::MAX, i32::MAX, -40), mbqm(i32::MAX, i32::MAX, -31));
        assert_eq!(mbqm(i32::MIN, i32::MIN, 0), i32::MAX);
    }

    #[test]
    fn requantize_block_equals_scalar() {
        let mut rng = Rng::new(77);
        let edges = [
            i32::MIN,
            i32::MIN + 1,
            -1,
            0,
            1,
            i32::MAX,
            1 << 30,
            -(1 << 30),
        ];
        for i in 0..iters(40_000) {
            let acc: [i32; 8] = core::array::from_fn(|j| match (i + j) % 3 {
                0 => edges[rng.below(edges.len())],
                1 => (rng.next_u64() as i32) >> rng.below(32),
                _ => rng.next_u64() as i32,
            });
            let mult: [i32; 8] = core::array::from_fn(|j| match (i + j) % 4 {
                0 => edges[rng.below(edges.len())],
                1 => rng.next_u64() as i32,
                _ => (1 << 30) + (rng.next_u64() % (1 << 30)) as i32,
            });
            let shift: [i32; 8] = core::array::from_fn(|_| rng.below(70) as i32 - 35);
            let zp = rng.below(256) as i32 - 128;
            let (a, b) = (rng.below(256) as i32 - 128, rng.below(256) as i32 - 128);
            let (lo, hi) = (a.min(b), a.max(b));
            let got = requantize_clamp_block(&acc, &mult, &shift, zp, lo, hi);
            for j in 0..8 {
                let want = requantize_clamp(acc[j], mult[j], shift[j], zp, lo, hi);
                assert_eq!(
                    got[j], want,
                    "{} {} {} zp {zp} [{lo}, {hi}]",
                    acc[j], mult[j], shift[j]
                );
            }
        }
    }

    #[test]
    fn requantize_clamp_saturates() {
        assert_eq!(requantize_clamp(i32::MAX, i32::MAX, 0, 127, -128, 127), 127);
        assert_eq!(
            requantize_clamp(i32::MIN, i32::MAX, 0, -128, -128, 127),
            -128
        );
        assert_eq!(
            requantize_clamp(12500, 1_099_511_562, -9, -128, -128, 127),
            -115
        );
        assert_eq!(requantize_clamp(12500, 1_099_511_562, -9, 0, -5, 5), 5);
    }

    #[test]
    fn quantize_rounds_half_away_and_saturates() {
        let cases: [(f32, f32, i32, i8); 15] = [
            (1.0, 0.5, 0, 2),
            (1.25, 0.5, 0, 3),   // 2.5 -> 3
            (-1.25, 0.5, 0, -3), // -2.5 -> -3
            (0.75, 0.5, 0, 2),   // 1.5 -> 2
            (-0.75, 0.5, 0, -2),
            (0.2, 0.5, 0, 0),
            (1.0, 0.5, -128, -126),
            (1000.0, 0.5, 0, 127),
            (-1000.0, 0.5, 0, -128),
            (f32::INFINITY, 1.0, 5, 127),
            (f32::NEG_INFINITY, 1.0, 5, -128),
            (f32::NAN, 1.0, 5, 5),
            (0.0, 0.0, 7, 7),      // 0/0 = NaN -> zero point
            (1.0, 0.0, -100, 127), // inf
            (0.499_999_97, 1.0, 0, 0),
        ];
        for (x, s, z, want) in cases {
            assert_eq!(quantize(x, s, z), want, "{x} / {s} + {z}");
        }
        // Random values against std's f32::round (half away from zero).
        let mut rng = Rng::new(6);
        for _ in 0..iters(50_000) {
            let x = rng.f32() * 300.0;
            let s = test_support::scale(&mut rng, -4.0, 3.0);
            let z = test_support::zero_point(&mut rng);
            let v = (x / s).round();
            let want = (v.clamp(-1e6, 1e6) as i32 + z).clamp(-128, 127) as i8;
            assert_eq!(quantize(x, s, z), want, "{x} {s} {z}");
        }
    }

    #[test]
    fn dequantize_equals_tflite_double_product() {
        let mut rng = Rng::new(7);
        for _ in 0..iters(2_000) {
            let s = match rng.below(3) {
                0 => test_support::scale(&mut rng, -140.0, -120.0), // subnormal products
                1 => test_support::scale(&mut rng, 100.0, 120.0),
                _ => test_support::scale(&mut rng, -30.0, 10.0),
            };
            let z = test_support::zero_point(&mut rng);
            for q in i8::MIN..=i8::MAX {
                let want = (s as f64 * (q as i32 - z) as f64) as f32;
                assert_eq!(
                    dequantize(q, s, z).to_bits(),
                    want.to_bits(),
                    "{q} {s:e} {z}"
                );
            }
        }
        assert_eq!(dequantize(-128, 0.5, -128), 0.0);
        assert_eq!(dequantize(127, 0.5, -128), 127.5);
    }
}
