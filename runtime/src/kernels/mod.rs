//! Compute kernels, family first.
//!
//! Each family folder holds the kernel contract and its `reference`
//! implementation: plain scalar code that *is* the specification. Optimized
//! variants sit beside it and must match it (bit-exact for integer kernels,
//! within a stated ULP bound for f32).
//!
//! Kernels are plain functions over slices plus a parameter struct. They never
//! allocate and never return errors: the op layer validated every shape and
//! length when the model was loaded, and kernels only `debug_assert!` those
//! preconditions.

#[cfg(test)]
mod conformance;
pub mod elementwise;
pub mod f32_conv;
pub mod f32_gemm;
pub mod i8_conv;
pub mod i8_elementwise;
pub mod i8_gemm;
pub mod i8_pool;
pub mod i8_reduce;
pub mod i8_softmax;
pub mod layout;
pub mod parallel;
pub mod pool;
pub mod recurrent;
pub mod reduce;
pub mod resize;
#[macro_use]
pub mod select;
#[cfg(all(target_arch = "aarch64", not(miri)))]
mod neon;
#[cfg(all(target_arch = "arm", ferrite_arm_neon, not(miri)))]
mod neon32;
mod portable;
pub(crate) mod simd;
pub mod softmax;
#[cfg(feature = "threads")]
pub mod threads;
#[cfg(all(target_arch = "x86_64", not(miri)))]
mod x86;

pub use select::{Kernels, REFERENCE};

/// Largest tensor rank the runtime handles.
pub const MAX_RANK: usize = 6;

/// Where one operand of a broadcasting binary op comes from (int8 by
/// default, or f32).
#[derive(Clone, Copy)]
pub(crate) enum Operand<'a, T = i8> {
    /// A separate tensor with broadcast element strides.
    Tensor(&'a [T], [usize; MAX_RANK]),
    /// The output buffer itself (in-place execution).
    Output,
}

/// An activation fused into the producing kernel, applied to each output
/// value after bias addition.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    /// Identity.
    None,
    /// `min(max(x, lo), hi)`; ReLU is `Clamp(0, +inf)`, ReLU6 `Clamp(0, 6)`.
    Clamp(f32, f32),
    /// `x * min(max(x + 3, 0), 6) / 6`.
    HardSwish,
    /// `x if x >= 0 else alpha * x`.
    LeakyRelu(f32),
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
}

impl Act {
    /// Applies the activation to one value.
    #[inline(always)]
    #[allow(clippy::manual_clamp)] // max/min on purpose: NaN maps to the bound, unlike clamp
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Act::None => x,
            Act::Clamp(lo, hi) => x.max(lo).min(hi),
            Act::HardSwish => x * (x + 3.0).max(0.0).min(6.0) * (1.0 / 6.0),
            Act::LeakyRelu(alpha) => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Act::Sigmoid => 1.0 / (1.0 + libm_exp(-x)),
        }
    }
}

/// `exp` for `no_std`: `core` has no transcendental functions, so the
/// runtime carries its own (see `math.rs`). Per value, as fused into a
/// kernel's epilogue, the branchy form is the cheaper one; loops that
/// vectorize use `math::exp_lane` (the same bits).
#[inline(always)]
pub(crate) fn libm_exp(x: f32) -> f32 {
    crate::math::exp(x)
}

/// Row-major (contiguous) element strides of a `MAX_RANK` shape.
#[inline]
pub fn contiguous_strides(shape: [usize; MAX_RANK]) -> [usize; MAX_RANK] {
    let mut s = [0; MAX_RANK];
    let mut acc = 1;
    for d in (0..MAX_RANK).rev() {
        s[d] = acc;
        acc *= shape[d];
    }
    s
}

/// Advances a row-major multi-index over `shape[..idx.len()]` by one
/// (odometer order); wraps to all zeros after the last index.
#[inline]
pub(crate) fn next_index(idx: &mut [usize], shape: &[usize]) {
    for d in (0..idx.len()).rev() {
        idx[d] += 1;
        if idx[d] < shape[d] {
            return;
        }
        idx[d] = 0;
    }
}

/// Shared helpers of the kernel tests.
#[cfg(test)]
pub(crate) mod test_util {
    extern crate std;
    use std::vec::Vec;

    /// Iteration count of a randomized test: `n` natively, a small sample
    /// under Miri (which interprets every instruction).
    pub fn iters(n: usize) -> usize {
        if cfg!(miri) {
            (n / 100).max(3)
        } else {
            n
        }
    }

    /// Step of a sweep over bit patterns: `step` natively, far coarser under Miri.
    pub fn sweep(step: usize) -> usize {
        if cfg!(miri) {
            step * 1009
        } else {
            step
        }
    }

    /// xorshift64 pseudo-random numbers: deterministic test data.
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Self {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }
        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// Uniform in `[-1, 1)`.
        pub fn f32(&mut self) -> f32 {
            (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }
        /// Uniform in `0..n`.
        pub fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }
        pub fn vec(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| self.f32()).collect()
        }
    }

    /// `V::requant_clamp` and `V::store_i8` against the scalar
    /// [`requantize_clamp`](crate::quant::requantize_clamp) on edge and
    /// random accumulators, multipliers (including `MIN · MIN`), every
    /// shift in `-31..=32`, zero points and clamps.
    ///
    /// # Safety
    /// The CPU supports `V` (inline this into a function enabling it).
    #[inline(always)]
    pub unsafe fn requant_matches_scalar<V: super::simd::I32Simd>() {
        use crate::quant::requantize_clamp;
        const EDGE: [i32; 10] = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30),
            -1,
            0,
            1,
            1 << 30,
            (1 << 30) + 1,
            i32::MAX - 1,
            i32::MAX,
        ];
        let mut rng = Rng::new(91);
        let pick = |rng: &mut Rng| -> i32 {
            if rng.below(3) == 0 {
                EDGE[rng.below(EDGE.len())]
            } else {
                rng.next_u64() as i32 >> rng.below(31)
            }
        };
        for it in 0..iters(20_000) {
            let zp = [-128, 0, 127, rng.below(256) as i32 - 128][it % 4];
            let (lo, hi) = match it % 5 {
                0 => (-128, 127),
                1 => (zp, 127),
                2 => (-128, -128),
                3 => (127, 127),
                _ => {
                    let a = rng.below(256) as i32 - 128;
                    (a, a + rng.below((128 - a) as usize) as i32)
                }
            };
            let (mut a, mut m, mut s) = ([0i32; 16], [0i32; 16], [0i32; 16]);
            for j in 0..16 {
                a[j] = pick(&mut rng);
                m[j] = if rng.below(8) == 0 {
                    pick(&mut rng)
                } else {
                    (1 << 30) + (rng.next_u64() % (1 << 30)) as i32
                };
                s[j] = rng.below(64) as i32 - 31;
            }
            // SAFETY: the caller; 16 values in each array, `LANES <= 16`.
            let got = unsafe {
                let r = V::load(a.as_ptr()).requant_clamp(
                    V::load(m.as_ptr()),
                    V::load(s.as_ptr()),
                    zp,
                    lo,
                    hi,
                );
                let mut out = [0x5Ai8; 17];
                r.store_i8(out.as_mut_ptr());
                assert_eq!(
                    out[V::LANES..].iter().filter(|&&v| v != 0x5A).count(),
                    0,
                    "store_i8 wrote past its lanes"
                );
                // The prepared form gives the same lanes.
                let prep = V::requant_prep(V::load(m.as_ptr()), V::load(s.as_ptr()));
                let mut with = [0x5Ai8; 17];
                V::load(a.as_ptr())
                    .requant_with(&prep, zp, lo, hi)
                    .store_i8(with.as_mut_ptr());
                assert_eq!(with, out, "requant_with differs from requant_clamp");
                // The uniform form, with lane 0's multiplier and shift in
                // every lane.
                let u = V::uniform_prep(m[0], s[0]);
                let mut uni = [0x5Ai8; 17];
                V::load(a.as_ptr())
                    .requant_uniform(&u, zp, lo, hi)
                    .store_i8(uni.as_mut_ptr());
                for j in 0..V::LANES {
                    let want = requantize_clamp(a[j], m[0], s[0], zp, lo, hi);
                    assert_eq!(
                        uni[j], want,
                        "requant_uniform: acc {} mult {} shift {} zp {zp} [{lo}, {hi}]",
                        a[j], m[0], s[0]
                    );
                }
                // A partial store writes its first `n` lanes only.
                let n = it % V::LANES;
                let mut part = [0x5Ai8; 17];
                r.store_i8_partial(part.as_mut_ptr(), n);
                assert_eq!(&part[..n], &out[..n], "store_i8_partial");
                assert!(
                    part[n..].iter().all(|&v| v == 0x5A),
                    "store_i8_partial wrote past {n}"
                );
                out
            };
            for j in 0..V::LANES {
                let want = requantize_clamp(a[j], m[j], s[j], zp, lo, hi);
                assert_eq!(
                    got[j], want,
                    "acc {} mult {} shift {} zp {zp} [{lo}, {hi}]",
                    a[j], m[j], s[j]
                );
            }
        }
    }

    /// Elementwise `|got - want| <= tol * max(1, |want|)`; NaNs must match.
    #[track_caller]
    pub fn assert_close(got: &[f32], want: &[f32], tol: f32) {
        assert_eq!(got.len(), want.len(), "length");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let ok = if w.is_nan() {
                g.is_nan()
            } else if tol == 0.0 {
                g.to_bits() == w.to_bits() || g == w
            } else {
                (g - w).abs() <= tol * w.abs().max(1.0) || g == w
            };
            assert!(ok, "element {i}: got {g:e}, want {w:e}");
        }
    }
}
