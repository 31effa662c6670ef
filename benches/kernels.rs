//! Kernel benchmarks: every kernel table this CPU runs, on GEMM and conv
//! shapes from small to large; criterion reports throughput in
//! elements/s where one element is one multiply-accumulate, so `Gelem/s`
//! reads as GMAC/s. `peak` measures this core's FMA and VNNI issue rate,
//! against which the GEMM figures are a percentage (`doc/kernels.md`).
//!
//! `cargo bench --bench kernels -- --warm-up-time 1 --measurement-time 2`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferrite::kernels::f32_conv::ConvParams;
use ferrite::kernels::i8_conv::QConvParams;
use ferrite::kernels::{Act, Kernels};
use std::hint::black_box;

mod data;
mod peak;

use data::{bytes, cache_line, floats, gemm_requant, GEMM_QPARAMS};

/// `(m, k, n)` of the GEMM benchmarks.
const GEMM: [(usize, usize, usize); 4] = [
    (64, 64, 64),
    (256, 256, 256),
    (196, 1152, 128),
    (1024, 1024, 1024),
];

fn gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("i8_gemm");
    for (m, k, n) in GEMM {
        let (a, b) = (bytes(m * k, 1), bytes(k * n, 2));
        let bias = vec![1000i32; n];
        let (rq, p) = (gemm_requant(n), GEMM_QPARAMS);
        let mut out = vec![0i8; m * n];
        g.throughput(Throughput::Elements((m * k * n) as u64));
        for t in Kernels::available() {
            if t.name() == "reference" && m * k * n > 1 << 24 {
                continue; // minutes per sample
            }
            g.bench_with_input(
                BenchmarkId::new(t.name(), format!("{m}x{k}x{n}")),
                &(),
                |bch, _| {
                    bch.iter(|| {
                        t.i8_gemm(m, k, n, &a, &b, Some(&bias), &rq, &p, black_box(&mut out))
                    })
                },
            );
        }
    }
    g.finish();
    // The same products over `b` packed for the table (`ferrite compile
    // --pack`, a constant `MatMul` operand): no packing of B per call.
    let mut g = c.benchmark_group("i8_gemm_packed");
    for (m, k, n) in GEMM {
        let (a, b) = (bytes(m * k, 1), bytes(k * n, 2));
        let bt = transposed(&b, k, n);
        let (rq, p) = (gemm_requant(n), GEMM_QPARAMS);
        let mut out = vec![0i8; m * n];
        g.throughput(Throughput::Elements((m * k * n) as u64));
        for t in Kernels::available() {
            let Some(layout) = ferrite::packing::Packing::of(t.packing(), n) else {
                continue;
            };
            let mut buf = vec![0i8; layout.len(n, k).unwrap() + 64];
            let bp = cache_line(&mut buf, layout.len(n, k).unwrap());
            layout.pack(&bt, n, k, bp);
            let bp = &*bp;
            let mut bias = vec![0; n];
            layout.bias(&vec![1000; n], &bt, k, p.a_zp, &mut bias);
            g.bench_with_input(
                BenchmarkId::new(t.name(), format!("{m}x{k}x{n}")),
                &(),
                |bch, _| {
                    bch.iter(|| {
                        let out = black_box(&mut out);
                        t.i8_gemm_packed(m, k, n, &a, bp, Some(&bias), &rq, &p, out)
                    })
                },
            );
        }
    }
    g.finish();

    let mut g = c.benchmark_group("f32_gemm");
    for (m, k, n) in GEMM {
        let (a, b, bias) = (floats(m * k, 3), floats(k * n, 4), floats(n, 5));
        let mut out = vec![0f32; m * n];
        g.throughput(Throughput::Elements((m * k * n) as u64));
        for t in Kernels::available() {
            if t.name() == "reference" && m * k * n > 1 << 24 {
                continue;
            }
            g.bench_with_input(
                BenchmarkId::new(t.name(), format!("{m}x{k}x{n}")),
                &(),
                |bch, _| {
                    bch.iter(|| {
                        t.f32_gemm(m, k, n, &a, &b, Some(&bias), Act::None, black_box(&mut out))
                    })
                },
            );
        }
    }
    g.finish();
    let mut g = c.benchmark_group("f32_gemm_packed");
    for (m, k, n) in GEMM {
        let (a, b, bias) = (floats(m * k, 3), floats(k * n, 4), floats(n, 5));
        let bt = transposed(&b, k, n);
        let mut out = vec![0f32; m * n];
        g.throughput(Throughput::Elements((m * k * n) as u64));
        for t in Kernels::available() {
            let Some(layout) = ferrite::packing::Packing::of_f32(t.packing(), n) else {
                continue;
            };
            let mut buf = vec![0f32; layout.len(n, k).unwrap() + 16];
            let bp = cache_line(&mut buf, layout.len(n, k).unwrap());
            layout.pack(&bt, n, k, bp);
            let bp = &*bp;
            g.bench_with_input(
                BenchmarkId::new(t.name(), format!("{m}x{k}x{n}")),
                &(),
                |bch, _| {
                    bch.iter(|| {
                        let out = black_box(&mut out);
                        t.f32_gemm_packed(m, k, n, &a, bp, Some(&bias), Act::None, out)
                    })
                },
            );
        }
    }
    g.finish();
}

/// Row-major `[k, n]` as `n` rows of `k` (the order packings read).
fn transposed<T: Copy + Default>(b: &[T], k: usize, n: usize) -> Vec<T> {
    let mut out = vec![T::default(); k * n];
    ferrite::packing::transpose_kn(b, k, n, &mut out);
    out
}

/// `(name, [n, h, w, ic], oc, k, stride, groups)` of the conv benchmarks:
/// MobileNet-style pointwise, dense 3x3, depthwise 3x3 and 5x5, and an RGB
/// stem (BlazeFace's first conv: 5x5, stride 2, 3 -> 24 channels).
type ConvCase = (&'static str, [usize; 4], usize, usize, usize, usize);
const CONV: [ConvCase; 5] = [
    ("pw_56x56_64to128", [1, 56, 56, 64], 128, 1, 1, 1),
    ("3x3_28x28_64to64", [1, 28, 28, 64], 64, 3, 1, 1),
    ("dw3x3_56x56_128", [1, 56, 56, 128], 128, 3, 1, 128),
    ("dw5x5_14x14_200", [1, 14, 14, 200], 200, 5, 1, 200),
    ("stem5x5s2_128x128_3to24", [1, 128, 128, 3], 24, 5, 2, 1),
];

fn conv(c: &mut Criterion) {
    for (name, xs, oc, k, s, groups) in CONV {
        let pad = k / 2;
        let ys = [
            xs[0],
            (xs[1] + 2 * pad - k) / s + 1,
            (xs[2] + 2 * pad - k) / s + 1,
            oc,
        ];
        let macs = ys.iter().product::<usize>() * k * k * xs[3] / groups;
        let w_len = oc * k * k * xs[3] / groups;
        let mut g = c.benchmark_group(format!("i8_conv/{name}"));
        g.throughput(Throughput::Elements(macs as u64));
        let (x, w) = (bytes(xs.iter().product(), 6), bytes(w_len, 7));
        let bias = vec![-300i32; oc];
        let rq: Vec<i32> = (0..oc).flat_map(|_| [1 << 30, -7]).collect();
        let p = QConvParams {
            kernel_h: k,
            kernel_w: k,
            stride_h: s,
            stride_w: s,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: pad,
            pad_left: pad,
            groups,
            in_zp: -7,
            out_zp: 4,
            act_min: 4,
            act_max: 127,
        };
        let mut out = vec![0i8; ys.iter().product()];
        for t in Kernels::available() {
            g.bench_function(t.name(), |b| {
                b.iter(|| t.i8_conv(&p, &x, xs, &w, &bias, &rq, black_box(&mut out), ys))
            });
        }
        g.finish();
        let mut g = c.benchmark_group(format!("f32_conv/{name}"));
        g.throughput(Throughput::Elements(macs as u64));
        let (x, w, bias) = (
            floats(xs.iter().product(), 8),
            floats(w_len, 9),
            floats(oc, 10),
        );
        let p = ConvParams {
            kernel_h: k,
            kernel_w: k,
            stride_h: s,
            stride_w: s,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: pad,
            pad_left: pad,
            groups,
            act: Act::Clamp(0.0, 6.0),
        };
        let mut out = vec![0f32; ys.iter().product()];
        for t in Kernels::available() {
            g.bench_function(t.name(), |b| {
                b.iter(|| t.f32_conv(&p, &x, xs, &w, Some(&bias), black_box(&mut out), ys))
            });
        }
        g.finish();
    }
}

/// Dense int8 `Add`s: BlazeFace's `[32, 32, 36]` and `[64, 64, 28]`,
/// PP-OCRv4 det's `[80, 120, 96]` (uniform random bytes: every operand
/// pair equally likely, the worst case for a table of pairs).
fn binary(c: &mut Criterion) {
    use ferrite::kernels::i8_elementwise::{QAddParams, QBinary};
    use ferrite::kernels::{contiguous_strides, MAX_RANK};
    let op = QBinary::Add(QAddParams::from_scales(
        0.02, 3, 0.03, -7, 0.04, -2, -2, 127, false,
    ));
    let mut g = c.benchmark_group("i8_add");
    for len in [32 * 32 * 36, 64 * 64 * 28, 80 * 120 * 96] {
        let (a, b) = (bytes(len, 5), bytes(len, 6));
        let mut shape = [1usize; MAX_RANK];
        shape[MAX_RANK - 1] = len;
        let st = contiguous_strides(shape);
        let mut out = vec![0i8; len];
        g.throughput(Throughput::Elements(len as u64));
        for t in Kernels::available() {
            g.bench_with_input(BenchmarkId::new(t.name(), len), &(), |bch, _| {
                bch.iter(|| t.i8_binary(&op, (&a, st), (&b, st), black_box(&mut out), shape))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, peak::peak, gemm, conv, binary);
criterion_main!(benches);
