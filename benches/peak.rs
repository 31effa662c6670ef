//! This core's peak multiply-accumulate rate: long runs of independent
//! FMA (`vfmadd231ps`) and VNNI (`vpdpbusd`) instructions on as many
//! accumulators as hide their latency, with no memory traffic. Criterion's
//! `Gelem/s` is GMAC/s (a 16-lane f32 FMA is 16 MACs, a 16-lane
//! `vpdpbusd` 64). The GEMM benchmarks are read as a fraction of these.

use criterion::{Criterion, Throughput};

/// Instructions per accumulator per call.
#[cfg(target_arch = "x86_64")]
const REPS: usize = 4096;

#[cfg(target_arch = "x86_64")]
mod x86 {
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
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (&mut g, Throughput::Elements(0));
    g.finish();
}
