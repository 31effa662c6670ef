//! The packed GEMMs as a fraction of this core's peak, measured side by
//! side. Each round runs the peak loop of `peak.rs` (FMA for f32, VNNI for
//! int8) for about 0.2 ms, then the GEMM for about 2 ms, then the peak
//! loop again, and divides the GEMM's rate by the mean of the two peak
//! bursts around it; the figure is the median of 40 rounds, with its
//! quartiles.
//!
//! `kernels`' criterion figures divide by a peak measured alone for
//! seconds. That loop runs faster alone than between GEMMs (on the Xeon of
//! `doc/kernels.md`, 107–120 against 93–104 GMAC/s, at the same clock), and
//! the host's load drifts between two criterion runs; rounds this short
//! put the peak loop in the state the GEMM keeps the core in, under the
//! same neighbours.
//!
//! `cargo bench --bench peak_ratio [-- f32|i8 MxKxN...]` (without `--bench`,
//! as under `cargo test`, one 64x64x64 product each and no timing).

// The measurement is x86-64 only; elsewhere its helpers go unused.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_imports))]

use ferrite::kernels::{Act, Kernels};
use std::hint::black_box;
use std::time::Instant;

mod data;
#[allow(dead_code)] // its criterion group belongs to the `kernels` bench
mod peak;

use data::{bytes, cache_line, floats, gemm_requant, GEMM_QPARAMS};

/// The shapes measured when none are given.
const SHAPES: [(usize, usize, usize); 4] = [
    (256, 256, 256),
    (196, 1152, 128),
    (256, 1024, 1024),
    (1024, 1024, 1024),
];
/// Rounds per shape.
const ROUNDS: usize = 40;

/// `v[len/4], v[len/2], v[3·len/4]` of the sorted values.
fn quartiles(mut v: Vec<f64>) -> [f64; 3] {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    [v[n / 4], v[n / 2], v[3 * n / 4]]
}

/// The packed GEMM of `t` on one `m x k x n` shape, as a closure over its
/// operands (packed as `ferrite compile --pack` packs them).
fn packed_gemm(
    t: &'static Kernels,
    int8: bool,
    (m, k, n): (usize, usize, usize),
) -> Option<Box<dyn FnMut()>> {
    if int8 {
        let layout = ferrite::packing::Packing::of(t.packing(), n)?;
        let (a, b) = (bytes(m * k, 1), bytes(k * n, 2));
        let mut bt = vec![0i8; k * n];
        ferrite::packing::transpose_kn(&b, k, n, &mut bt);
        let (rq, p) = (gemm_requant(n), GEMM_QPARAMS);
        let len = layout.len(n, k)?;
        let mut buf = vec![0i8; len + 64];
        layout.pack(&bt, n, k, cache_line(&mut buf, len));
        let o = buf.as_ptr().align_offset(64);
        let mut bias = vec![0; n];
        layout.bias(&vec![1000; n], &bt, k, p.a_zp, &mut bias);
        let mut out = vec![0i8; m * n];
        Some(Box::new(move || {
            let w = &buf[o..o + len];
            t.i8_gemm_packed(m, k, n, &a, w, Some(&bias), &rq, &p, black_box(&mut out))
        }))
    } else {
        let layout = ferrite::packing::Packing::of_f32(t.packing(), n)?;
        let (a, b, bias) = (floats(m * k, 3), floats(k * n, 4), floats(n, 5));
        let mut bt = vec![0f32; k * n];
        ferrite::packing::transpose_kn(&b, k, n, &mut bt);
        let len = layout.len(n, k)?;
        let mut buf = vec![0f32; len + 16];
        layout.pack(&bt, n, k, cache_line(&mut buf, len));
        let o = buf.as_ptr().align_offset(64);
        let mut out = vec![0f32; m * n];
        Some(Box::new(move || {
            let w = &buf[o..o + len];
            t.f32_gemm_packed(m, k, n, &a, w, Some(&bias), Act::None, black_box(&mut out))
        }))
    }
}

/// MAC/s of about 0.2 ms of this core's peak loop for `int8` or f32.
#[cfg(target_arch = "x86_64")]
fn peak_burst(int8: bool) -> f64 {
    let calls = 30;
    let t0 = Instant::now();
    // SAFETY: `main` runs this only where AVX-512F (and VNNI for int8) is
    // detected.
    unsafe {
        for _ in 0..calls {
            if int8 {
                black_box(peak::x86::vnni512(black_box(7)));
            } else {
                black_box(peak::x86::fma512(black_box(1.0)));
            }
        }
    }
    let lanes = if int8 { 64 } else { 16 };
    (calls * 12 * peak::REPS * lanes) as f64 / t0.elapsed().as_secs_f64()
}

#[cfg(target_arch = "x86_64")]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let timed = args.iter().any(|a| a == "--bench");
    let mut dtypes: Vec<bool> = args
        .iter()
        .filter_map(|a| match a.as_str() {
            "f32" => Some(false),
            "i8" => Some(true),
            _ => None,
        })
        .collect();
    if dtypes.is_empty() {
        dtypes = vec![false, true];
    }
    let mut shapes: Vec<(usize, usize, usize)> = args
        .iter()
        .filter_map(|a| {
            let v: Vec<usize> = a
                .split('x')
                .map(|d| d.parse().ok())
                .collect::<Option<_>>()?;
            (v.len() == 3).then(|| (v[0], v[1], v[2]))
        })
        .collect();
    if shapes.is_empty() {
        shapes = SHAPES.to_vec();
    }
    if !timed {
        shapes = vec![(64, 64, 64)];
    }
    let Some(t) = Kernels::available().find(|t| t.name() == "avx512vnni") else {
        println!("peak_ratio: this CPU runs no avx512vnni table; nothing to measure");
        return;
    };
    for &int8 in &dtypes {
        let (dtype, unit) = if int8 { ("i8", "VNNI") } else { ("f32", "FMA") };
        for &(m, k, n) in &shapes {
            let Some(mut run) = packed_gemm(t, int8, (m, k, n)) else {
                continue;
            };
            run();
            if !timed {
                continue;
            }
            let macs = (m * k * n) as f64;
            let calls = ((if int8 { 8e8 } else { 2e8 } / macs) as usize).max(1);
            let (mut ratio, mut gemm, mut pk) = (vec![], vec![], vec![]);
            for _ in 0..ROUNDS {
                let before = peak_burst(int8);
                let t0 = Instant::now();
                for _ in 0..calls {
                    run();
                }
                let rate = macs * calls as f64 / t0.elapsed().as_secs_f64();
                let p = (before + peak_burst(int8)) / 2.0;
                ratio.push(100.0 * rate / p);
                gemm.push(rate / 1e9);
                pk.push(p / 1e9);
            }
            let [r25, r50, r75] = quartiles(ratio);
            println!(
                "{}/{dtype}_gemm_packed/{m}x{k}x{n}: {r50:.1}% of the {unit} peak \
                 (quartiles {r25:.1}–{r75:.1}), {:.1} GMAC/s, peak {:.1} GMAC/s",
                t.name(),
                quartiles(gemm)[1],
                quartiles(pk)[1],
            );
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!("peak_ratio: the peak loops are x86-64 only; nothing to measure");
}
