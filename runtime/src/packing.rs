//! Weight packings: conv weights laid out by the compiler for one kernel
//! table's GEMM micro-kernels, so that the table reads them in place
//! instead of packing them on every call.
//!
//! The `.fer` header's `isa` field names the packing of an image
//! ([`format::ISA_REFERENCE`](crate::format::ISA_REFERENCE) = none: every
//! weight in its plain layout, e.g. OHWI). In a packed image the weights of
//! every int8 `Conv2d` with `groups == 1` are the 1-D tensor
//! `[ceil(oc / NR)][kp / G][NR][G]` of [`Packing::of`]`(isa, oc)`, where
//! `K = kh·kw·ic` steps (in OHWI order) are zero-padded to
//! `kp = ceil(K / KSTEP)·KSTEP` and channels past `oc` are zero. Its bias
//! input already holds what the micro-kernel's accumulator starts from,
//! `bias[o] − (zp_in + a_offset)·Σ_k w[o, k]` (mod 2^32). The weights of
//! every f32 `Conv2d` with `groups == 1` are the 1-D tensor
//! `[ceil(oc / NR)][K][NR]` of [`Packing::of_f32`] (channels past `oc`
//! zero); its bias is unchanged. Only the table whose
//! [`Kernels::packing`](crate::kernels::Kernels::packing) equals the
//! image's runs it (`Interpreter::new` picks it; otherwise
//! `Error::IsaMismatch`).

use crate::format::ISA_REFERENCE;

/// `vpdpbusd` (AVX-512 VNNI): `NR` 16 or 32, `G = 4`, A read as `x + 128`.
pub const ISA_AVX512VNNI: u32 = 1;
/// `sdot` (aarch64 dotprod, Cortex-A76 / Pi 5): `NR` 8 or 16, `G = 4`, `KSTEP = 16`.
pub const ISA_NEONDOT: u32 = 2;
/// `smull` + `sadalp` (aarch64 NEON, Cortex-A72 / Pi 4): `NR = 8`, `G = 16`.
pub const ISA_NEON: u32 = 3;

/// Every packing: `(id, name)`; the name is the kernel table's.
pub const PACKINGS: [(u32, &str); 4] = [
    (ISA_REFERENCE, "none"),
    (ISA_AVX512VNNI, "avx512vnni"),
    (ISA_NEONDOT, "neondot"),
    (ISA_NEON, "neon"),
];

/// Whether this build has kernel tables that read a packing (SIMD tables:
/// x86-64 and aarch64). Without them a packed image is refused at load,
/// and the checks of packed weights are not built (firmware flash).
pub const BUILT: bool = cfg!(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(miri)
));

/// The name of packing `isa` (`none` for the plain layouts).
pub fn name(isa: u32) -> Option<&'static str> {
    PACKINGS.iter().find(|p| p.0 == isa).map(|p| p.1)
}

/// The id of the packing called `name`.
pub fn by_name(name: &str) -> Option<u32> {
    PACKINGS.iter().find(|p| p.1 == name).map(|p| p.0)
}

/// Row-major `b [k, n]` (a `MatMul` operand) as `n` rows of `k` (the
/// conv-weight order [`Packing::pack`] and [`Packing::bias`] read):
/// `out[o·k + s] = b[s·n + o]`.
pub fn transpose_kn<T: Copy>(b: &[T], k: usize, n: usize, out: &mut [T]) {
    for (i, v) in out[..n * k].iter_mut().enumerate() {
        *v = b[(i % k) * n + i / k];
    }
}

/// The layout of one weight matrix (`n` output channels × `k` steps) in a
/// packing: `[ceil(n / nr)][kp / g][nr][g]` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packing {
    /// Channels per block.
    pub nr: usize,
    /// Consecutive steps of one channel stored together.
    pub g: usize,
    /// `kp` is a multiple of it.
    pub kstep: usize,
    /// The micro-kernel reads input `x` as `x − zp + (zp + a_offset)`.
    pub a_offset: i32,
}

impl Packing {
    /// The layout of the weights of `n` output channels in packing `isa`
    /// (`None` for [`ISA_REFERENCE`] and unknown ids).
    pub fn of(isa: u32, n: usize) -> Option<Packing> {
        let (nr, g, kstep, a_offset) = match isa {
            ISA_AVX512VNNI => (if n <= 16 { 16 } else { 32 }, 4, 4, 128),
            ISA_NEONDOT => (if n <= 8 { 8 } else { 16 }, 4, 16, 0),
            ISA_NEON => (8, 16, 16, 0),
            _ => return None,
        };
        Some(Packing {
            nr,
            g,
            kstep,
            a_offset,
        })
    }

    /// The layout of the f32 weights of `n` output channels in packing
    /// `isa`: `[ceil(n / nr)][k][nr]`, `nr` the width of the f32 register
    /// tile the table runs on `n` channels (`None` as [`Packing::of`]).
    pub fn of_f32(isa: u32, n: usize) -> Option<Packing> {
        let nr = match isa {
            ISA_AVX512VNNI => {
                if n <= 16 {
                    16
                } else {
                    32
                }
            }
            ISA_NEONDOT | ISA_NEON => {
                if n <= 4 {
                    4
                } else {
                    16
                }
            }
            _ => return None,
        };
        Some(Packing {
            nr,
            g: 1,
            kstep: 1,
            a_offset: 0,
        })
    }

    /// `k` rounded up to a multiple of `kstep`.
    pub fn kp(&self, k: usize) -> usize {
        k.div_ceil(self.kstep) * self.kstep
    }

    /// Bytes of the packed weights (`None` on overflow).
    pub fn len(&self, n: usize, k: usize) -> Option<usize> {
        n.div_ceil(self.nr)
            .checked_mul(self.nr)?
            .checked_mul(self.kp(k))
    }

    /// Where weight `(o, s)` (channel `o`, step `s < k`) lies.
    pub fn index(&self, o: usize, s: usize, k: usize) -> usize {
        let (nr, g) = (self.nr, self.g);
        (o / nr) * nr * self.kp(k) + (s / g) * nr * g + (o % nr) * g + s % g
    }

    /// Packs `w`, channel `o`'s `k` steps at `w[o·k..]` (OHWI), into
    /// `out` ([`Packing::len`] bytes), zeros in the padding.
    pub fn pack<T: Copy + Default>(&self, w: &[T], n: usize, k: usize, out: &mut [T]) {
        out.fill(T::default());
        for o in 0..n {
            for (s, &v) in w[o * k..(o + 1) * k].iter().enumerate() {
                out[self.index(o, s, k)] = v;
            }
        }
    }

    /// The accumulator starts of the `out.len()` channels of `w` (OHWI,
    /// `k` steps each): `out[o] = bias[o] − (zp + a_offset)·Σ_s w[o·k + s]`
    /// (mod 2^32), for input zero point `zp`.
    pub fn bias(&self, bias: &[i32], w: &[i8], k: usize, zp: i32, out: &mut [i32]) {
        let off = zp.wrapping_add(self.a_offset);
        for ((o, &b), w_o) in out.iter_mut().zip(bias).zip(w.chunks_exact(k)) {
            let sum = w_o.iter().fold(0i32, |s, &v| s.wrapping_add(v as i32));
            *o = b.wrapping_sub(off.wrapping_mul(sum));
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn every_packing_has_a_name_and_round_trips() {
        for (id, n) in PACKINGS {
            assert_eq!(name(id), Some(n));
            assert_eq!(by_name(n), Some(id));
            assert_eq!(Packing::of(id, 1).is_some(), id != ISA_REFERENCE);
        }
        assert_eq!(name(99), None);
        assert_eq!(Packing::of(99, 1), None);
    }

    #[test]
    fn pack_is_a_bijection_onto_the_unpadded_positions() {
        for isa in [ISA_AVX512VNNI, ISA_NEONDOT, ISA_NEON] {
            for (n, k) in [(1, 1), (8, 16), (17, 5), (33, 75), (9, 17)] {
                let p = Packing::of(isa, n).unwrap();
                let w: Vec<i8> = (0..n * k).map(|i| ((i % 251) as i32 - 125) as i8).collect();
                let mut out = vec![0x55; p.len(n, k).unwrap()];
                p.pack(&w, n, k, &mut out);
                let mut seen = vec![false; out.len()];
                for o in 0..n {
                    for s in 0..k {
                        let i = p.index(o, s, k);
                        assert!(!seen[i], "{isa} {n}x{k}: ({o}, {s}) collides");
                        seen[i] = true;
                        assert_eq!(out[i], w[o * k + s]);
                    }
                }
                for (i, &s) in seen.iter().enumerate() {
                    if !s {
                        assert_eq!(out[i], 0, "padding at {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn f32_layout_is_channel_blocks_of_whole_k() {
        for isa in [ISA_AVX512VNNI, ISA_NEONDOT, ISA_NEON] {
            for (n, k) in [(1, 3), (4, 1), (5, 7), (16, 2), (17, 9), (40, 5)] {
                let p = Packing::of_f32(isa, n).unwrap();
                assert_eq!(p.kp(k), k);
                let w: Vec<f32> = (0..n * k).map(|i| i as f32 + 1.0).collect();
                let mut out = vec![f32::NAN; p.len(n, k).unwrap()];
                p.pack(&w, n, k, &mut out);
                for (i, &v) in out.iter().enumerate() {
                    let (blk, s, j) = (i / (p.nr * k), i / p.nr % k, i % p.nr);
                    let o = blk * p.nr + j;
                    let want = if o < n { w[o * k + s] } else { 0.0 };
                    assert_eq!(v.to_bits(), want.to_bits(), "{isa} {n}x{k} at {i}");
                }
            }
        }
        assert_eq!(Packing::of_f32(ISA_REFERENCE, 4), None);
    }

    #[test]
    fn bias_folds_the_offset_with_wrapping() {
        let p = Packing::of(ISA_AVX512VNNI, 4).unwrap();
        let mut out = [0; 2];
        p.bias(&[10, 0], &[1, 2, -4, 0, 0, 1], 3, 5, &mut out);
        assert_eq!(out, [10 + (5 + 128), -(5 + 128)]);
        let q = Packing::of(ISA_NEON, 4).unwrap();
        q.bias(&[i32::MIN], &[-128], 1, 1, &mut out[..1]);
        assert_eq!(out[0], i32::MIN.wrapping_add(128));
    }
}
