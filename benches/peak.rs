//! This core's peak multiply-accumulate rate: long runs of independent
//! FMA (`vfmadd231ps`) and VNNI (`vpdpbusd`) instructions on as many
//! accumulators as hide their latency, with no memory traffic. Criterion's
//! `Gelem/s` is GMAC/s (a 16-lane f32 FMA is 16 MACs, a 16-lane
//! `vpdpbusd` 64). The GEMM benchmarks are read as a fraction of these.
//! The `*_l1` loops run the GEMMs' register tiles with their operands
//! loaded from L1: the part of the peak a load-fed inner loop reaches here.

use criterion::{Criterion, Throughput};

/// Instructions per accumulator per call.
#[cfg(target_arch = "x86_64")]
pub(crate) const REPS: usize = 4096;

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::REPS;
    use std::arch::x86_64::*;

    /// 12 independent accumulators × `REPS` FMAs.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn fma512(x: f32) -> f32 {
        let a = _mm512_set1_ps(x);
        let b = _mm512_set1_ps(0.999);
        let mut acc = [_mm512_set1_ps(0.0); 12];
        for _ in 0..REPS {
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(a, b, *v);
            }
        }
        let mut s = _mm512_set1_ps(0.0);
        for v in acc {
            s = _mm512_add_ps(s, v);
        }
        _mm512_reduce_add_ps(s)
    }

    /// 12 independent accumulators × `REPS` FMAs on 8 lanes.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma256(x: f32) -> f32 {
        let a = _mm256_set1_ps(x);
        let b = _mm256_set1_ps(0.999);
        let mut acc = [_mm256_set1_ps(0.0); 12];
        for _ in 0..REPS {
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(a, b, *v);
            }
        }
        let mut out = [0f32; 8];
        let mut s = _mm256_set1_ps(0.0);
        for v in acc {
            s = _mm256_add_ps(s, v);
        }
        _mm256_storeu_ps(out.as_mut_ptr(), s);
        out.iter().sum()
    }

    /// 12 independent accumulators × `REPS` `vpdpbusd`.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub unsafe fn vnni512(x: i32) -> i32 {
        let a = _mm512_set1_epi32(x);
        let b = _mm512_set1_epi32(0x0102_0304);
        let mut acc = [_mm512_set1_epi32(0); 12];
        for _ in 0..REPS {
            for v in acc.iter_mut() {
                *v = _mm512_dpbusd_epi32(*v, a, b);
            }
        }
        let mut s = _mm512_set1_epi32(0);
        for v in acc {
            s = _mm512_add_epi32(s, v);
        }
        _mm512_reduce_add_epi32(s)
    }
}

/// Steps of `k` in the operand panels of the `*_l1` loops (their panels
/// take 20 KB, within L1).
#[cfg(target_arch = "x86_64")]
const L1_K: usize = 128;
/// Passes over the panels per call of the `*_l1` loops.
#[cfg(target_arch = "x86_64")]
const L1_PASSES: usize = 32;

/// The register tiles of the GEMMs fed from memory: the f32 `8 x 32` tile
/// (eight `vbroadcastss` and two 64-byte loads per 16 FMAs) and the VNNI
/// `12 x 32` tile (twelve `vpbroadcastd`, two loads per 24 `vpdpbusd`),
/// over packed panels that stay in L1 and start on cache lines. What a
/// GEMM's inner loop can reach on this core; the GEMMs lose the rest to
/// caches, packing and the output stage.
#[cfg(target_arch = "x86_64")]
mod x86_l1 {
    use super::{L1_K, L1_PASSES};
    use std::arch::x86_64::*;

    /// `a`: `[L1_K][8]`, `b`: `[L1_K][32]`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn fma512(a: &[f32], b: &[f32]) -> f32 {
        assert!(a.len() >= L1_K * 8 && b.len() >= L1_K * 32);
        let mut acc = [[_mm512_setzero_ps(); 2]; 8];
        for _ in 0..L1_PASSES {
            let (mut ap, mut bp) = (a.as_ptr(), b.as_ptr());
            for _ in 0..L1_K {
                // SAFETY: `ap` and `bp` stay within the asserted lengths.
                unsafe {
                    let b0 = _mm512_loadu_ps(bp);
                    let b1 = _mm512_loadu_ps(bp.add(16));
                    for (r, acc_r) in acc.iter_mut().enumerate() {
                        let x = _mm512_set1_ps(*ap.add(r));
                        acc_r[0] = _mm512_fmadd_ps(x, b0, acc_r[0]);
                        acc_r[1] = _mm512_fmadd_ps(x, b1, acc_r[1]);
                    }
                    ap = ap.add(8);
                    bp = bp.add(32);
                }
            }
        }
        let mut s = _mm512_setzero_ps();
        for [x, y] in acc {
            s = _mm512_add_ps(s, _mm512_add_ps(x, y));
        }
        _mm512_reduce_add_ps(s)
    }

    /// `a`: `[L1_K][12]` groups of 4 bytes, `b`: `[L1_K][32 x 4]` bytes.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub unsafe fn vnni512(a: &[u8], b: &[u8]) -> i32 {
        assert!(a.len() >= L1_K * 48 && b.len() >= L1_K * 128);
        let mut acc = [[_mm512_setzero_si512(); 2]; 12];
        for _ in 0..L1_PASSES {
            let (mut ap, mut bp) = (a.as_ptr().cast::<i32>(), b.as_ptr());
            for _ in 0..L1_K {
                // SAFETY: `ap` and `bp` stay within the asserted lengths.
                unsafe {
                    let b0 = _mm512_loadu_si512(bp.cast());
                    let b1 = _mm512_loadu_si512(bp.add(64).cast());
                    for (r, acc_r) in acc.iter_mut().enumerate() {
                        let x = _mm512_set1_epi32(ap.add(r).read_unaligned());
                        acc_r[0] = _mm512_dpbusd_epi32(acc_r[0], x, b0);
                        acc_r[1] = _mm512_dpbusd_epi32(acc_r[1], x, b1);
                    }
                    ap = ap.add(12);
                    bp = bp.add(128);
                }
            }
        }
        let mut s = _mm512_setzero_si512();
        for [x, y] in acc {
            s = _mm512_add_epi32(s, _mm512_add_epi32(x, y));
        }
        _mm512_reduce_add_epi32(s)
    }
}

pub fn peak(c: &mut Criterion) {
    let mut g = c.benchmark_group("peak");
    #[cfg(target_arch = "x86_64")]
    {
        use std::hint::black_box;
        if is_x86_feature_detected!("avx512f") {
            g.throughput(Throughput::Elements((12 * REPS * 16) as u64));
            // SAFETY: AVX-512F detected.
            g.bench_function("fma_avx512", |b| {
                b.iter(|| unsafe { x86::fma512(black_box(1.0)) })
            });
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            g.throughput(Throughput::Elements((12 * REPS * 8) as u64));
            // SAFETY: AVX2 and FMA detected.
            g.bench_function("fma_avx2", |b| {
                b.iter(|| unsafe { x86::fma256(black_box(1.0)) })
            });
        }
        if is_x86_feature_detected!("avx512vnni") {
            g.throughput(Throughput::Elements((12 * REPS * 64) as u64));
            // SAFETY: AVX-512F and VNNI detected.
            g.bench_function("vnni_avx512", |b| {
                b.iter(|| unsafe { x86::vnni512(black_box(7)) })
            });
        }
        if is_x86_feature_detected!("avx512f") {
            let (mut a, mut b) = (vec![0.5f32; L1_K * 8 + 16], vec![0.25f32; L1_K * 32 + 16]);
            let (a, b) = (
                &*super::data::cache_line(&mut a, L1_K * 8),
                &*super::data::cache_line(&mut b, L1_K * 32),
            );
            g.throughput(Throughput::Elements((L1_PASSES * L1_K * 8 * 32) as u64));
            // SAFETY: AVX-512F detected.
            g.bench_function("fma_avx512_l1", |bch| {
                bch.iter(|| unsafe { x86_l1::fma512(black_box(a), black_box(b)) })
            });
        }
        if is_x86_feature_detected!("avx512vnni") {
            let (mut a, mut b) = (vec![3u8; L1_K * 48 + 64], vec![5u8; L1_K * 128 + 64]);
            let (a, b) = (
                &*super::data::cache_line(&mut a, L1_K * 48),
                &*super::data::cache_line(&mut b, L1_K * 128),
            );
            g.throughput(Throughput::Elements(
                (L1_PASSES * L1_K * 12 * 32 * 4) as u64,
            ));
            // SAFETY: AVX-512F and VNNI detected.
            g.bench_function("vnni_avx512_l1", |bch| {
                bch.iter(|| unsafe { x86_l1::vnni512(black_box(a), black_box(b)) })
            });
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (&mut g, Throughput::Elements(0));
    g.finish();
}
