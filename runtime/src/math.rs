//! `f32` elementary functions for `no_std`.
//!
//! `core` provides no `exp`, `ln`, `sqrt`, `floor`, ... for floats, so the
//! runtime carries its own, in pure Rust without tables. They are the
//! reference definitions used by every kernel (optimized kernels must agree
//! with them within their stated bounds).
//!
//! | function | accuracy |
//! |----------|----------|
//! | [`sqrt`] | correctly rounded (checked once over all 2^32 inputs during development; the tests sample every 4099th bit pattern) |
//! | [`floor`], [`ceil`], [`trunc`], [`round_half_even`] | exact (checked once over all 2^32 inputs during development; the tests sample every 4099th bit pattern) |
//! | [`exp`], [`ln`], [`tanh`] | within 1 ulp of the correctly rounded result (checked once on every 7th bit pattern during development, over 99.5% correctly rounded; the tests sample) |
//! | [`erf`] | absolute error < 1e-7; within 1 ulp for `|x| < 1` |
//! | [`powf`] | within 1 ulp of the correctly rounded result (evaluated in `f64`) |
//!
//! Special values follow IEEE 754 / C99 Annex F (`exp(-inf) = 0`,
//! `ln(0) = -inf`, `ln(-1) = NaN`, `sqrt(-0) = -0`, `pow(x, 0) = 1`, ...).
//! The polynomial coefficients below are Chebyshev fits (`mpmath.chebyfit`,
//! coefficients then rounded to `f32`) of the stated function on the stated
//! interval; their maximum error is noted with each.
//!
//! All functions assume the default floating-point environment
//! (round-to-nearest-even), which Rust guarantees.

/// `ln(2)` split so that `k * LN2_HI` is exact for `|k| < 512`:
/// `LN2_HI` (0x3f317200) has 15 significant bits.
const LN2_HI: f32 = 0.69314575;
/// `ln(2) - LN2_HI`.
const LN2_LO: f32 = 1.4286068e-6;

/// `|x|` (bit operation: works for NaN and `-0`).
#[inline]
pub fn abs(x: f32) -> f32 {
    f32::from_bits(x.to_bits() & 0x7fff_ffff)
}

/// `x` with the sign bit of `sign`.
#[inline]
pub fn copysign(x: f32, sign: f32) -> f32 {
    f32::from_bits((x.to_bits() & 0x7fff_ffff) | (sign.to_bits() & 0x8000_0000))
}

/// `2^k` for `-126 <= k <= 127` (a normal number; exact).
#[inline]
fn pow2i(k: i32) -> f32 {
    debug_assert!((-126..=127).contains(&k));
    f32::from_bits(((k + 127) as u32) << 23)
}

/// Smallest `f32` from which on every value is an integer (`2^23`).
const INT_THRESHOLD: f32 = 8_388_608.0;

/// Rounds toward zero. `trunc(-0.5) = -0`.
#[inline]
pub fn trunc(x: f32) -> f32 {
    // NaN, infinities and |x| >= 2^23 are returned unchanged.
    if abs(x) >= INT_THRESHOLD || x.is_nan() {
        return x;
    }
    copysign((x as i32) as f32, x)
}

/// Rounds toward negative infinity. `floor(-0.0) = -0`, `floor(-0.5) = -1`.
#[inline]
pub fn floor(x: f32) -> f32 {
    if abs(x) >= INT_THRESHOLD || x.is_nan() {
        return x;
    }
    let t = (x as i32) as f32;
    copysign(if t > x { t - 1.0 } else { t }, x)
}

/// Rounds toward positive infinity. `ceil(-0.5) = -0`.
#[inline]
pub fn ceil(x: f32) -> f32 {
    if abs(x) >= INT_THRESHOLD || x.is_nan() {
        return x;
    }
    let t = (x as i32) as f32;
    copysign(if t < x { t + 1.0 } else { t }, x)
}

/// Rounds to the nearest integer, ties to even (ONNX `Round`, numpy
/// `round`): `0.5 -> 0`, `1.5 -> 2`, `2.5 -> 2`, `-0.5 -> -0`.
#[inline]
pub fn round_half_even(x: f32) -> f32 {
    let a = abs(x);
    if a >= INT_THRESHOLD || a.is_nan() {
        return x;
    }
    // Adding 2^23 leaves no fraction bits, so the addition itself rounds
    // `a` to an integer with the IEEE default ties-to-even rule.
    copysign((a + INT_THRESHOLD) - INT_THRESHOLD, x)
}

/// Rounds to the nearest integer, ties away from zero (C `round`, TFLite's
/// `TfLiteRound`): `0.5 -> 1`, `-2.5 -> -3`, `0.49999997 -> 0`.
#[inline]
pub fn round_half_away(x: f32) -> f32 {
    if abs(x) >= INT_THRESHOLD || x.is_nan() {
        return x;
    }
    // `x - t` is exact for |x| < 2^23 (no `x + 0.5`, which can round up).
    let t = trunc(x);
    if abs(x - t) >= 0.5 {
        t + copysign(1.0, x)
    } else {
        t
    }
}

/// Square root, correctly rounded. `sqrt(-0) = -0`, `sqrt(x < 0) = NaN`.
///
/// Computed exactly in integers: for `x = m * 2^e` (`m` the 24-bit
/// significand) the integer square root of `m * 2^s` (`s` in {25, 26} chosen
/// to make `e - s` even) has 25 bits; its last bit and the remainder decide
/// the rounding (an exact tie is impossible for a square root).
pub fn sqrt(x: f32) -> f32 {
    let bits = x.to_bits();
    if x.is_nan() || x == 0.0 || x == f32::INFINITY {
        return x;
    }
    if bits >> 31 != 0 {
        return f32::NAN;
    }
    // Significand `m` in [2^23, 2^24) and exponent `e` with x = m * 2^e.
    let biased = (bits >> 23) as i32;
    let (mut m, mut e) = if biased == 0 {
        (bits & 0x7f_ffff, -149)
    } else {
        ((bits & 0x7f_ffff) | 0x80_0000, biased - 150)
    };
    while m < 0x80_0000 {
        m <<= 1;
        e -= 1;
    }
    let s = if (e - 25) % 2 == 0 { 25 } else { 26 };
    let big = (m as u64) << s; // in [2^48, 2^50)
    let half_e = (e - s) / 2; // exact: e - s is even
    let (q, rem) = isqrt(big); // q in [2^24, 2^25)
    let round_bit = q & 1;
    let mut mant = (q >> 1) as u32; // in [2^23, 2^24)
    if round_bit == 1 && (rem != 0 || mant & 1 == 1) {
        mant += 1;
    }
    // sqrt(x) ~= mant * 2^(half_e + 1); the result is always normal.
    let mut exp = half_e + 1 + 23 + 127;
    if mant == 0x100_0000 {
        mant >>= 1;
        exp += 1;
    }
    f32::from_bits(((exp as u32) << 23) | (mant & 0x7f_ffff))
}

/// Integer square root: `(floor(sqrt(v)), v - floor(sqrt(v))^2)`, bit by bit.
fn isqrt(v: u64) -> (u64, u64) {
    let mut rem = v;
    let mut root = 0u64;
    // Start at the highest power of four not above v.
    let mut bit = 1u64 << 62;
    while bit > v {
        bit >>= 2;
    }
    while bit != 0 {
        if rem >= root + bit {
            rem -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    (root, rem)
}

/// `e^x`, within 1 ulp of the correctly rounded result.
///
/// Cody-Waite reduction `x = k*ln2 + r`, `|r| <= ln2/2`, `k = round(x/ln2)`;
/// `e^r = 1 + r + r^2 * P(r)` with `P` a degree-5 fit of
/// `(e^r - 1 - r) / r^2` on `[-ln2/2, ln2/2]` (relative error 2^-26.7);
/// the result is scaled by `2^k` without double rounding into subnormals.
/// `x > 88.72283` gives `+inf`, `x < -103.97208` gives `+0`.
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > EXP_OVERFLOW {
        return f32::INFINITY;
    }
    if x < EXP_UNDERFLOW {
        return 0.0;
    }
    let (k, y) = exp_reduced(x);
    // Scale by 2^k, k in [-150, 128].
    if k > 127 {
        y * 2.0 * pow2i(k - 1)
    } else if k < -126 {
        // Exact first step, single rounding into the subnormal range.
        (y * pow2i(k + 100)) * pow2i(-100)
    } else {
        y * pow2i(k)
    }
}

/// Largest `x` with a finite `e^x` (`0x42b17217`).
const EXP_OVERFLOW: f32 = 88.722_83;
/// `e^x < 2^-150` below.
const EXP_UNDERFLOW: f32 = -103.972_08;

/// `(k, e^r)` with `x = k·ln2 + r` for `x` in `[EXP_UNDERFLOW,
/// EXP_OVERFLOW]`: the steps [`exp`] and [`exp_lane`] share.
#[inline(always)]
fn exp_reduced(x: f32) -> (i32, f32) {
    const LOG2_E: f32 = core::f32::consts::LOG2_E;
    const P: [f32; 6] = [
        0.5,
        0.16666667,
        0.041666467,
        0.0083333105,
        0.0013933642,
        0.00019890981,
    ];
    // Round half away from zero. Both callers pass `x` in
    // `[EXP_UNDERFLOW, EXP_OVERFLOW]`, so `t` lies in `[-150.5, 128.5]`.
    let t = x * LOG2_E + copysign(0.5, x);
    debug_assert!(t.abs() <= 151.0, "exp_reduced: {x} out of range");
    // SAFETY: `t` is finite and within `i32` (above). The unchecked
    // truncation is the checked `as i32`'s on such values, and lets loops
    // over `exp_lane` vectorize (`as` saturates lane by lane in scalar code).
    let k: i32 = unsafe { t.to_int_unchecked() };
    let kf = k as f32;
    let r = (x - kf * LN2_HI) - kf * LN2_LO; // x - kf*LN2_HI is exact
    let p = horner(&P, r);
    (k, 1.0 + (r + r * r * p))
}

/// [`exp`] written without branches (every case computed, then selected),
/// so that loops over it vectorize; the same bits as [`exp`] for every
/// input (`exp_lane_is_exp`).
#[inline(always)]
pub fn exp_lane(x: f32) -> f32 {
    let xc = if x.is_nan() {
        0.0
    } else {
        x.clamp(EXP_UNDERFLOW, EXP_OVERFLOW)
    };
    let (k, y) = exp_reduced(xc);
    // `(y · 2^e1) · 2^e2`: `exp`'s three scalings, each exponent a normal one.
    let (e1, e2) = if k > 127 {
        (1, k - 1)
    } else if k < -126 {
        (k + 100, -100)
    } else {
        (k, 0)
    };
    let pow2 = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    let v = (y * pow2(e1)) * pow2(e2);
    if x.is_nan() {
        x
    } else if x > EXP_OVERFLOW {
        f32::INFINITY
    } else if x < EXP_UNDERFLOW {
        0.0
    } else {
        v
    }
}

/// Natural logarithm, within 1 ulp of the correctly rounded result.
/// `ln(±0) = -inf`, `ln(x < 0) = NaN`.
///
/// `x = 2^k * m` with `m` in `[sqrt(1/2), sqrt(2))`, `f = m - 1` (exact),
/// `s = f / (2 + f)`; `ln(m) = 2 atanh(s) = f - (f^2/2 - s*(f^2/2 + R))` with
/// `R = 2s^2/3 + 2s^4/5 + 2s^6/7 + 2s^8/9` (Taylor; `s^2 <= 0.0295`, the
/// truncation error is below 2^-32 relative). `ln(x) = k*ln2 + ln(m)`.
pub fn ln(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x == 0.0 {
        return f32::NEG_INFINITY;
    }
    if x < 0.0 {
        return f32::NAN;
    }
    if x == f32::INFINITY {
        return x;
    }
    let mut bits = x.to_bits();
    let mut k = 0i32;
    if bits < 0x80_0000 {
        // Subnormal: scale by 2^25 into the normal range.
        bits = (x * 33_554_432.0).to_bits();
        k = -25;
    }
    k += (bits >> 23) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x7f_ffff) | 0x3f80_0000); // [1, 2)
    if m > core::f32::consts::SQRT_2 {
        m *= 0.5;
        k += 1;
    }
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let r = z * (2.0 / 3.0 + z * (2.0 / 5.0 + z * (2.0 / 7.0 + z * (2.0 / 9.0))));
    let hfsq = 0.5 * f * f;
    let kf = k as f32;
    // kf*LN2_HI is exact; add the small terms first.
    kf * LN2_HI - ((hfsq - (s * (hfsq + r) + kf * LN2_LO)) - f)
}

/// Hyperbolic tangent, within 1 ulp of the correctly rounded result; never
/// overflows (`tanh(±inf) = ±1`).
///
/// `|x| < 0.625`: `x + x^3 * P(x^2)`, `P` a degree-5 fit of
/// `(tanh(x) - x) / x^3` (relative error 2^-24.6, scaled by `x^2/3 <= 0.13`
/// in the result). Otherwise `1 - 2 / (e^(2|x|) + 1)` with the sign of `x`;
/// for `|x| > 9.1` that is `±1` in `f32`.
pub fn tanh(x: f32) -> f32 {
    const P: [f32; 6] = [
        -0.33333334,
        0.13333304,
        -0.053959258,
        0.021768918,
        -0.008343945,
        0.0022927448,
    ];
    let a = abs(x);
    if a < 0.625 {
        if a < 2.44e-4 {
            // tanh(x) = x - x^3/3 rounds to x (this also keeps -0 and
            // avoids underflow in x^3).
            return x;
        }
        let z = x * x;
        return x + x * z * horner(&P, z);
    }
    if x.is_nan() {
        return x;
    }
    if a > 9.1 {
        return copysign(1.0, x);
    }
    copysign(1.0 - 2.0 / (exp(2.0 * a) + 1.0), x)
}

/// Error function, absolute error < 1e-7 (and within 1 ulp of the correctly
/// rounded result for `|x| < 1`). `erf(±inf) = ±1`.
///
/// * `|x| < 6.1e-5`: `x * 2/sqrt(pi)`.
/// * `|x| < 1`: `x + x * R(x^2)`, `R` a degree-7 fit of `erf(x)/x - 1` on
///   `x^2` in `[0, 1]` (absolute error 2^-29.2).
/// * `1 <= |x| < 4`: `1 - e^(-x^2) * Q` with the sign of `x`, where
///   `Q = erfc(|x|) * e^(x^2)` is, for `|x| < 2`, a degree-9 fit in
///   `|x| - 1.5` (relative error 2^-28.3) and otherwise `G(1/x^2) / |x|`
///   with `G` a degree-6 fit of `x * erfc(x) * e^(x^2)` in `w = 1/x^2`
///   (relative error 2^-24.2; `erfc(x) <= 0.0047` there).
/// * `|x| >= 4`: `±1` (`1 - erf(4) < 2^-25`).
pub fn erf(x: f32) -> f32 {
    const R: [f32; 8] = [
        0.12837917,
        -0.37612638,
        0.11283782,
        -0.02686543,
        0.0052210316,
        -0.00084840803,
        0.00011265959,
        -9.667045e-6,
    ];
    const Q: [f32; 10] = [
        0.32158542,
        -0.16362292,
        0.07615103,
        -0.032930903,
        0.013377636,
        -0.005146047,
        0.0018828528,
        -0.0006609315,
        0.0002381396,
        -7.717365e-5,
    ];
    const G: [f32; 7] = [
        0.56418127,
        -0.28159094,
        0.4100349,
        -0.86255354,
        1.786837,
        -2.6468673,
        1.8965303,
    ];
    let a = abs(x);
    if a < 6.1e-5 {
        // erf(x) = 2x/sqrt(pi) * (1 - x^2/3 + ...): the x^2 term is below
        // 2^-29; one product also keeps subnormal results accurate.
        return x * core::f32::consts::FRAC_2_SQRT_PI;
    }
    if a < 1.0 {
        return x + x * horner(&R, x * x);
    }
    if x.is_nan() {
        return x;
    }
    if a >= 4.0 {
        return copysign(1.0, x);
    }
    let q = if a < 2.0 {
        horner(&Q, a - 1.5)
    } else {
        horner(&G, 1.0 / (a * a)) / a
    };
    copysign(1.0 - exp(-(a * a)) * q, x)
}

/// `c[0] + t*(c[1] + t*(c[2] + ...))`.
#[inline]
fn horner(c: &[f32], t: f32) -> f32 {
    let mut acc = 0.0;
    for &ci in c.iter().rev() {
        acc = ci + t * acc;
    }
    acc
}

/// `x^y` (ONNX `Pow`, C99 `powf` special cases), within 1 ulp of the
/// correctly rounded result.
///
/// Exact fast paths: `y = 1` (x), `y = 2` (`x * x`), `y = 0.5` (`sqrt`, for
/// `x > 0`). Integer `|y| <= 32`: binary powering in `f64` (error < 2^-47
/// relative before the final rounding). Otherwise `2^(y * log2|x|)` evaluated
/// in `f64` (relative error < 2^-40 before the final rounding).
/// Special cases: `pow(x, ±0) = 1` and `pow(1, y) = 1` even for NaN; a
/// negative finite `x` with a non-integer finite `y` gives NaN; signs,
/// zeros and infinities as in C99 Annex F.
pub fn powf(x: f32, y: f32) -> f32 {
    if y == 0.0 || x == 1.0 {
        return 1.0;
    }
    if y == 1.0 {
        return x;
    }
    if y == 2.0 {
        return x * x;
    }
    if x.is_nan() || y.is_nan() {
        return f32::NAN;
    }
    let (ax, ay) = (abs(x), abs(y));
    let y_int = ay >= INT_THRESHOLD || (ay.is_finite() && trunc(ay) == ay);
    // Every f32 >= 2^24 is even.
    let y_odd = y_int && ay < 16_777_216.0 && (ay as u32) & 1 == 1;
    let neg = x.is_sign_negative();
    if ay == f32::INFINITY {
        return if ax == 1.0 {
            1.0
        } else if (ax < 1.0) == (y > 0.0) {
            0.0
        } else {
            f32::INFINITY
        };
    }
    if ax == 0.0 || ax == f32::INFINITY {
        // |x|^y is 0 or inf; the sign is x's for odd integer y.
        let big = (ax == 0.0) == (y < 0.0);
        let mag = if big { f32::INFINITY } else { 0.0 };
        return if y_odd && neg { -mag } else { mag };
    }
    if neg && !y_int {
        return f32::NAN;
    }
    if y == 0.5 {
        return sqrt(x);
    }
    let mag = if y_int && ay <= 32.0 {
        let p = powi_f64(ax as f64, ay as u32);
        if y < 0.0 {
            1.0 / p
        } else {
            p
        }
    } else {
        exp2_f64(y as f64 * log2_f64(ax as f64))
    } as f32;
    if y_odd && neg {
        -mag
    } else {
        mag
    }
}

/// `x^n` by binary powering.
fn powi_f64(x: f64, mut n: u32) -> f64 {
    let (mut acc, mut base) = (1.0f64, x);
    while n != 0 {
        if n & 1 == 1 {
            acc *= base;
        }
        base *= base;
        n >>= 1;
    }
    acc
}

/// `log2(x)` for positive finite `x` (an `f32` widened, so never subnormal
/// as `f64`), relative error ~2^-52: `2 atanh(s) / ln 2`, Taylor to `s^23`.
fn log2_f64(x: f64) -> f64 {
    let bits = x.to_bits();
    let mut k = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > core::f64::consts::SQRT_2 {
        m *= 0.5;
        k += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    // sum_{n=0}^{11} z^n / (2n+1)
    let mut t = 1.0 / 23.0;
    let mut n = 11;
    while n > 0 {
        n -= 1;
        t = 1.0 / (2 * n + 1) as f64 + z * t;
    }
    k as f64 + 2.0 * s * t * core::f64::consts::LOG2_E
}

/// `2^t` as an `f64`, for any `t` (saturating outside the `f32` range).
fn exp2_f64(t: f64) -> f64 {
    if t >= 129.0 {
        return f64::INFINITY;
    }
    if t <= -152.0 {
        return 0.0;
    }
    // t = k + f with k = round(t); f = t - k is exact and |f * ln2| <= ln2/2.
    let k = (t + if t < 0.0 { -0.5 } else { 0.5 }) as i64;
    let u = (t - k as f64) * core::f64::consts::LN_2;
    // e^u, Taylor to u^13 (truncation < 2^-57).
    let mut p = 1.0;
    let mut n = 13;
    while n > 0 {
        p = 1.0 + u * p / n as f64;
        n -= 1;
    }
    p * f64::from_bits(((k + 1023) as u64) << 52)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn exp_lane_is_exp() {
        let check = |x: f32| {
            assert_eq!(
                exp_lane(x).to_bits(),
                exp(x).to_bits(),
                "x = {x:e} ({:#x})",
                x.to_bits()
            );
        };
        for x in [
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            f32::MIN_POSITIVE,
            EXP_OVERFLOW,
            EXP_UNDERFLOW,
            88.72284,
            -103.97209,
            88.5,
            -87.5,
            -100.0,
        ] {
            check(x);
        }
        for bits in (0..=u32::MAX).step_by(crate::kernels::test_util::sweep(4099)) {
            check(f32::from_bits(bits));
        }
        let mut x = -105.0f32;
        while x < 90.0 {
            check(x);
            x += 1.0 / 1024.0;
        }
    }
    use std::vec::Vec;

    /// Distance in ulps between two finite floats of the same sign (or 0).
    fn ulps(a: f32, b: f32) -> u64 {
        if a == b || (a.is_nan() && b.is_nan()) {
            return 0;
        }
        if a.is_nan() || b.is_nan() || a.is_infinite() || b.is_infinite() {
            return u64::MAX;
        }
        let key = |v: f32| {
            let b = v.to_bits() as i64;
            if b < 0x8000_0000 {
                b
            } else {
                -(b - 0x8000_0000)
            }
        };
        (key(a) - key(b)).unsigned_abs()
    }

    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    /// A spread of test values: special values, subnormals, a fine sweep of
    /// the bit patterns (both signs) and every float in [-8, 8] at a stride.
    fn samples() -> Vec<f32> {
        let mut v = std::vec![
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
            f32::EPSILON,
            1.0,
            -1.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.5,
            -2.5,
            f32::from_bits(1),
            f32::from_bits(0x8000_0001),
            f32::from_bits(0x007f_ffff),
            8_388_607.5,
            -8_388_607.5,
            8_388_608.0,
            16_777_217.0,
        ];
        for b in (0..0x8000_0000u32).step_by(crate::kernels::test_util::sweep(4099)) {
            v.push(f32::from_bits(b));
            v.push(f32::from_bits(b | 0x8000_0000));
        }
        for b in (0..8.0f32.to_bits()).step_by(crate::kernels::test_util::sweep(9973)) {
            let f = f32::from_bits(b);
            v.push(f);
            v.push(-f);
        }
        v
    }

    #[test]
    fn rounding_functions_match_std() {
        for x in samples() {
            assert!(same(floor(x), x.floor()), "floor({x:e})");
            assert!(same(ceil(x), x.ceil()), "ceil({x:e})");
            assert!(same(trunc(x), x.trunc()), "trunc({x:e})");
            assert!(
                same(round_half_even(x), x.round_ties_even()),
                "round({x:e})"
            );
            assert!(same(abs(x), x.abs()));
            assert!(same(copysign(x, -1.0), x.copysign(-1.0)));
        }
        assert_eq!(round_half_even(0.5).to_bits(), 0);
        assert_eq!(round_half_even(-0.5).to_bits(), (-0.0f32).to_bits());
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(3.5), 4.0);
        assert_eq!(round_half_even(-2.5), -2.0);
        assert_eq!(floor(-0.5), -1.0);
        assert_eq!(ceil(-0.5).to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn sqrt_is_correctly_rounded() {
        for x in samples() {
            assert!(
                same(sqrt(x), x.sqrt()),
                "sqrt({x:e}) = {:e}, std {:e}",
                sqrt(x),
                x.sqrt()
            );
        }
        // Every subnormal at a stride, and two whole binades.
        for b in (1..0x80_0000u32).step_by(crate::kernels::test_util::sweep(7)) {
            let x = f32::from_bits(b);
            assert!(same(sqrt(x), x.sqrt()));
        }
        for b in 0x3f00_0000..0x4000_0000u32 {
            let x = f32::from_bits(b);
            assert!(same(sqrt(x), x.sqrt()), "sqrt({x:e})");
        }
    }

    fn check_ulps(name: &str, f: fn(f32) -> f32, g: fn(f32) -> f32, xs: &[f32], max: u64) -> u64 {
        let mut worst = (0u64, 0.0f32);
        for &x in xs {
            let (a, b) = (f(x), g(x));
            let d = ulps(a, b);
            assert!(d <= max, "{name}({x:e}) = {a:e}, std {b:e} ({d} ulp)");
            if d > worst.0 {
                worst = (d, x);
            }
        }
        std::println!("{name}: worst {} ulp at {:e}", worst.0, worst.1);
        worst.0
    }

    #[test]
    fn exp_within_one_ulp() {
        let mut xs = samples();
        xs.retain(|x| x.abs() <= 200.0 || x.is_nan());
        // Dense over the whole finite range of the result.
        let mut x = -104.0f32;
        while x < 89.0 {
            xs.push(x);
            x += 0.000_37;
        }
        xs.extend([
            88.722_83,
            88.722_84,
            -103.972_08,
            -103.972_06,
            -87.336_55,
            -87.336_54,
            1e-30,
            -1e-30,
        ]);
        check_ulps("exp", exp, |x| (x as f64).exp() as f32, &xs, 1);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(1000.0), f32::INFINITY);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn ln_within_one_ulp() {
        let xs: Vec<f32> = samples().into_iter().filter(|x| *x > 0.0).collect();
        check_ulps("ln", ln, |x| (x as f64).ln() as f32, &xs, 1);
        // Around 1, where the result is tiny and relative accuracy matters.
        let mut near = Vec::new();
        for b in (0x3f70_0000u32..0x3f90_0000).step_by(crate::kernels::test_util::sweep(3)) {
            near.push(f32::from_bits(b));
        }
        check_ulps("ln near 1", ln, |x| (x as f64).ln() as f32, &near, 1);
        assert_eq!(ln(1.0).to_bits(), 0);
        assert_eq!(ln(0.0), f32::NEG_INFINITY);
        assert_eq!(ln(-0.0), f32::NEG_INFINITY);
        assert!(ln(-1.0).is_nan());
        assert!(ln(f32::NEG_INFINITY).is_nan());
        assert_eq!(ln(f32::INFINITY), f32::INFINITY);
        assert!(ln(f32::NAN).is_nan());
    }

    #[test]
    fn tanh_within_one_ulp() {
        let mut xs = samples();
        let mut x = -12.0f32;
        while x < 12.0 {
            xs.push(x);
            x += 0.000_13;
        }
        check_ulps("tanh", tanh, |x| (x as f64).tanh() as f32, &xs, 1);
        assert_eq!(tanh(f32::INFINITY), 1.0);
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh(f32::MAX), 1.0);
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
        assert!(tanh(f32::NAN).is_nan());
    }

    /// erf in f64 by its Taylor series (|x| <= 4.5: absolute error < 1e-11).
    fn erf_ref(x: f32) -> f64 {
        let x = x as f64;
        if x.abs() > 4.5 {
            return x.signum();
        }
        let z = x * x;
        let (mut term, mut sum, mut n) = (x, x, 0.0f64);
        while term.abs() > 1e-18 {
            n += 1.0;
            term *= -z / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / core::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_accuracy() {
        let mut xs = samples();
        let mut x = -6.0f32;
        while x < 6.0 {
            xs.push(x);
            x += 0.000_11;
        }
        let (mut worst_abs, mut worst_ulp) = (0.0f64, 0u64);
        for &x in &xs {
            let v = erf(x);
            if x.is_nan() {
                assert!(v.is_nan());
                continue;
            }
            let r = erf_ref(x);
            let e = (v as f64 - r).abs();
            assert!(e < 1e-7, "erf({x:e}) = {v:e}, ref {r:e}");
            worst_abs = worst_abs.max(e);
            if x.abs() < 1.0 && x != 0.0 {
                let u = ulps(v, r as f32);
                assert!(u <= 1, "erf({x:e}) = {v:e}, ref {r:e}: {u} ulp");
                worst_ulp = worst_ulp.max(u);
            }
        }
        std::println!("erf: worst abs {worst_abs:e}, worst ulp (|x|<1) {worst_ulp}");
        assert_eq!(erf(f32::INFINITY), 1.0);
        assert_eq!(erf(f32::NEG_INFINITY), -1.0);
        assert_eq!(erf(-0.0).to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn powf_special_cases() {
        let inf = f32::INFINITY;
        let nan = f32::NAN;
        let cases: &[(f32, f32, f32)] = &[
            (nan, 0.0, 1.0),
            (nan, -0.0, 1.0),
            (1.0, nan, 1.0),
            (1.0, inf, 1.0),
            (-1.0, inf, 1.0),
            (-1.0, -inf, 1.0),
            (0.5, inf, 0.0),
            (0.5, -inf, inf),
            (2.0, inf, inf),
            (2.0, -inf, 0.0),
            (-2.0, inf, inf),
            (0.0, -3.0, inf),
            (-0.0, -3.0, -inf),
            (-0.0, -2.0, inf),
            (-0.0, -0.5, inf),
            (0.0, 3.0, 0.0),
            (-0.0, 3.0, -0.0),
            (-0.0, 2.0, 0.0),
            (-0.0, 0.5, 0.0),
            (-0.0, 1.0, -0.0),
            (inf, 0.5, inf),
            (inf, -0.5, 0.0),
            (-inf, 3.0, -inf),
            (-inf, 2.0, inf),
            (-inf, 0.5, inf),
            (-inf, -3.0, -0.0),
            (-inf, -2.0, 0.0),
            (-2.0, 3.0, -8.0),
            (-2.0, -3.0, -0.125),
            (-2.0, 2.0, 4.0),
            (2.0, 0.5, core::f32::consts::SQRT_2),
            (4.0, -0.5, 0.5),
            (10.0, 38.0, 1e38),
            (10.0, 39.0, inf),
            (2.0, -149.0, f32::from_bits(1)),
            (2.0, -150.0, 0.0),
            (2.0, 127.0, 1.7014118e38),
            (2.0, 128.0, inf),
        ];
        for &(x, y, want) in cases {
            let got = powf(x, y);
            assert!(
                same(got, want),
                "pow({x:e}, {y:e}) = {got:e}, want {want:e}"
            );
        }
        assert!(powf(-2.0, 0.5).is_nan());
        assert!(powf(-8.0, 1.0 / 3.0).is_nan());
        assert!(powf(nan, 1.0).is_nan());
        assert!(powf(2.0, nan).is_nan());
    }

    #[test]
    fn powf_within_one_ulp() {
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut worst = 0;
        for i in 0..crate::kernels::test_util::iters(400_000) {
            let r = next();
            let (x, y) = match i % 4 {
                // Arbitrary bit patterns.
                0 => (f32::from_bits(r as u32), f32::from_bits((r >> 32) as u32)),
                // Moderate positive bases, exponents in [-20, 20].
                1 => (
                    (r as u32 >> 9) as f32 / 65536.0,
                    ((r >> 32) as u32 as f32 / 4_294_967_296.0 - 0.5) * 40.0,
                ),
                // Integer exponents, either sign of base.
                2 => {
                    let x = ((r as u32) as f32 / 4_294_967_296.0 - 0.5) * 20.0;
                    (x, ((r >> 40) % 81) as f32 - 40.0)
                }
                // Bases near 1, large exponents.
                _ => (
                    1.0 + ((r as u32) as f32 / 4_294_967_296.0 - 0.5) * 1e-3,
                    ((r >> 32) as u32 as f32 - 2.1e9) * 1e-5,
                ),
            };
            let (a, b) = (powf(x, y), (x as f64).powf(y as f64) as f32);
            let d = ulps(a, b);
            assert!(d <= 1, "pow({x:e}, {y:e}) = {a:e}, std {b:e}");
            worst = worst.max(d);
        }
        std::println!("powf: worst {worst} ulp");
        for x in samples() {
            for y in [
                0.5f32, -0.5, 1.0, -1.0, 2.0, -2.0, 3.0, 0.25, 1e-3, 7.5, 100.0,
            ] {
                let (a, b) = (powf(x, y), (x as f64).powf(y as f64) as f32);
                assert!(ulps(a, b) <= 1, "pow({x:e}, {y:e}) = {a:e}, std {b:e}");
            }
        }
    }
}
