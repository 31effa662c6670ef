//! Conformance of every kernel table this CPU runs against the reference
//! kernels: int8 bit for bit, f32 within the bound of
//! [`f32_gemm::tiled`](super::f32_gemm::tiled) (depthwise: equal), on
//! randomized shapes at the register-tile and K-chunk edges, extreme
//! values, and guard bytes around every output.
//!
//! The x86 tables run natively, the aarch64 ones under
//! `qemu-aarch64` (`scripts/cross-test`, Cortex-A72 without and Cortex-A76
//! with dotprod), armv7's `neon32` under `qemu-arm` (the
//! `thumbv7neon-unknown-linux-gnueabihf` build); each table is tested where
//! it runs. The `k` values include 15–17, 31–33 and 65, so the 16-step
//! micro-kernels (`smull`, `vmull.s8`) see one, two and five steps with
//! zero-padded tails.

extern crate std;

use super::f32_conv::{self, ConvParams};
use super::f32_gemm;
use super::i8_conv::{self, QConvParams};
use super::i8_gemm::{self, QGemmParams};
use super::select::Kernels;
use super::test_util::{iters, Rng};
use super::Act;
use crate::quant::test_support::{vec_i8, zero_point, Guarded};
use std::vec;
use std::vec::Vec;

/// Edges of every register tile (MR 4/6/8/12, NR 8/16/32) and their
/// neighbours, whole 64-channel blocks (the VNNI depthwise), and 42 (three
/// AVX-512 vectors, the last overlapping, in the depthwise kernel).
const EDGES: [usize; 25] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 17, 23, 24, 25, 31, 32, 33, 42, 64, 65, 128,
];

fn tables() -> Vec<&'static Kernels> {
    let t: Vec<_> = Kernels::available().skip(1).collect();
    // Each run states which tables it covered (visible with --nocapture).
    std::eprintln!(
        "kernel tables: {:?}",
        t.iter().map(|k| k.name()).collect::<Vec<_>>()
    );
    t
}

/// `FERRITE_EXPECT_KERNELS=a,b` (set by `scripts/cross-test` per emulated
/// CPU) names tables that must be available here, so that a detection
/// regression cannot silently skip a variant.
#[test]
fn expected_tables_are_available() {
    let Ok(want) = std::env::var("FERRITE_EXPECT_KERNELS") else {
        return;
    };
    for name in want.split(',').filter(|n| !n.is_empty()) {
        assert!(
            Kernels::by_name(name).is_some(),
            "kernel table {name} is not available"
        );
    }
}

#[test]
fn best_is_the_last_available_and_names_round_trip() {
    let all: Vec<_> = Kernels::available().collect();
    assert_eq!(all[0].name(), "reference");
    assert_eq!(
        Kernels::best().name(),
        all[all.len() - 1].name(),
        "best is the last table"
    );
    for k in &all {
        assert_eq!(Kernels::by_name(k.name()).map(|t| t.name()), Some(k.name()));
    }
    assert!(Kernels::by_name("no-such-isa").is_none());
    #[cfg(all(target_arch = "x86_64", feature = "std", not(miri)))]
    {
        let want = [
            ("avx2", std::is_x86_feature_detected!("avx2")),
            ("avx512", std::is_x86_feature_detected!("avx512bw")),
            ("avx512vnni", std::is_x86_feature_detected!("avx512vnni")),
        ];
        for (name, has) in want {
            assert_eq!(Kernels::by_name(name).is_some(), has, "{name}");
        }
    }
}

/// Channel counts of the conv cases: the tile edges natively, a few
/// under Miri (which interprets every instruction).
fn channels(rng: &mut Rng) -> usize {
    if cfg!(miri) {
        [1, 3, 8, 9, 17][rng.below(5)]
    } else {
        EDGES[rng.below(EDGES.len())]
    }
}

/// A random int8 conv geometry; `kind` 0: dense, 1: depthwise, 2: 1x1
/// with a reduction longer than one K chunk, 3: grouped (reference path).
fn qconv_case(rng: &mut Rng, kind: usize) -> (QConvParams, [usize; 4], [usize; 4]) {
    let (groups, ic, oc) = match kind {
        0 => (1, channels(rng), channels(rng)),
        1 => {
            let c = channels(rng).max(2);
            (c, c, c)
        }
        // Longer than one f32 chunk (256); Miri interprets, so less there.
        2 if cfg!(miri) => (1, 260 + rng.below(20), 1 + rng.below(4)),
        2 => (1, 500 + rng.below(700), 1 + rng.below(40)),
        _ => (2, 4, 6),
    };
    let (kh, kw) = if kind == 2 {
        (1, 1)
    } else if cfg!(miri) {
        [(1, 1), (3, 3), (1, 3)][rng.below(3)]
    } else {
        [(1, 1), (3, 3), (5, 5), (1, 3), (2, 2), (7, 1)][rng.below(6)]
    };
    let (sh, sw) = (1 + rng.below(2), 1 + rng.below(2));
    let (dh, dw) = (1 + rng.below(2), 1 + rng.below(2));
    let (pt, pl) = (rng.below(dh * (kh - 1) + 1), rng.below(dw * (kw - 1) + 1));
    let (pb, pr) = (rng.below(dh * (kh - 1) + 1), rng.below(dw * (kw - 1) + 1));
    let n = 1 + rng.below(2);
    let extra = if cfg!(miri) { 4 } else { 9 };
    let ih = dh * (kh - 1) + 1 + rng.below(extra);
    let iw = dw * (kw - 1) + 1 + rng.below(extra);
    let oh = (ih + pt + pb - dh * (kh - 1) - 1) / sh + 1;
    let ow = (iw + pl + pr - dw * (kw - 1) - 1) / sw + 1;
    let out_zp = zero_point(rng);
    let (act_min, act_max) = match rng.below(3) {
        0 => (-128, 127),
        1 => (out_zp, 127),
        _ => ((out_zp - 20).max(-128), (out_zp + 20).min(127)),
    };
    let p = QConvParams {
        kernel_h: kh,
        kernel_w: kw,
        stride_h: sh,
        stride_w: sw,
        dilation_h: dh,
        dilation_w: dw,
        pad_top: pt,
        pad_left: pl,
        groups,
        in_zp: zero_point(rng),
        out_zp,
        act_min,
        act_max,
    };
    (p, [n, ih, iw, ic], [n, oh, ow, oc])
}

/// Per-channel `(mult, shift)` that keep most outputs off the clamp for
/// accumulators of magnitude about `2^bits`.
fn requant(rng: &mut Rng, oc: usize, bits: i32) -> Vec<i32> {
    (0..oc)
        .flat_map(|_| {
            let mult = (1 << 30) + (rng.next_u64() % (1 << 30)) as i32;
            let shift = -(bits - 7).clamp(0, 31) + rng.below(3) as i32 - 1;
            [mult, shift.min(2)]
        })
        .collect()
}

/// Extreme-valued data (the saturation cases of `vpmaddubsw`-style
/// kernels) or uniform random bytes.
fn data(rng: &mut Rng, n: usize, extreme: bool) -> Vec<i8> {
    if extreme {
        (0..n)
            .map(|_| if rng.below(2) == 0 { -128 } else { 127 })
            .collect()
    } else {
        vec_i8(rng, n)
    }
}

/// Runs table `t`'s int8 conv over weights packed in the table's packing
/// (`crate::packing`), as the compiler writes them, when it reads one and
/// the conv has `groups == 1`; `None` otherwise.
#[allow(clippy::too_many_arguments)]
fn packed_conv(
    t: &Kernels,
    p: &QConvParams,
    x: &[i8],
    xs: [usize; 4],
    w: &[i8],
    bias: &[i32],
    rq: &[i32],
    ys: [usize; 4],
) -> Option<Vec<i8>> {
    let oc = ys[3];
    let layout = crate::packing::Packing::of(t.packing(), oc).filter(|_| p.groups == 1)?;
    let k = p.kernel_h * p.kernel_w * xs[3];
    let mut wp = vec![0x5a; layout.len(oc, k).unwrap()];
    layout.pack(w, oc, k, &mut wp);
    let mut folded = vec![0; oc];
    layout.bias(bias, w, k, p.in_zp, &mut folded);
    let mut got = Guarded::new(ys.iter().product());
    (t.i8_conv_packed)(p, x, xs, &wp, &folded, rq, got.out(), ys);
    Some(got.body().to_vec())
}

#[test]
fn i8_conv_tables_are_bit_exact() {
    let tables = tables();
    let mut rng = Rng::new(31);
    for it in 0..iters(600) {
        let kind = it % 4;
        let (p, xs, ys) = qconv_case(&mut rng, kind);
        let extreme = it % 7 == 0;
        let (icg, oc) = (xs[3] / p.groups, ys[3]);
        let x = data(&mut rng, xs.iter().product(), extreme);
        let w = data(&mut rng, oc * p.kernel_h * p.kernel_w * icg, extreme);
        let bias: Vec<i32> = (0..oc).map(|_| (rng.next_u64() as i32) >> 11).collect();
        let k_len = p.kernel_h * p.kernel_w * icg;
        let rq = requant(&mut rng, oc, 14 + (k_len as f32).log2() as i32 / 2);
        let len: usize = ys.iter().product();
        let mut want = Guarded::new(len);
        i8_conv::reference(&p, &x, xs, &w, &bias, &rq, want.out(), ys);
        for t in &tables {
            let mut got = Guarded::new(len);
            (t.i8_conv)(&p, &x, xs, &w, &bias, &rq, got.out(), ys);
            assert_eq!(
                got.body(),
                want.body(),
                "{}: case {it} {p:?} {xs:?} -> {ys:?}",
                t.name()
            );
            if let Some(got) = packed_conv(t, &p, &x, xs, &w, &bias, &rq, ys) {
                assert_eq!(
                    got,
                    want.body(),
                    "{} packed: case {it} {p:?} {xs:?} -> {ys:?}",
                    t.name()
                );
            }
        }
    }
}

/// A conv shape: `(ic, kh, kw, ow, stride_h, dilation_h, pad (top, left,
/// bottom, right), batch)`, stride and dilation 1 along the width.
type PixelShape = (usize, usize, usize, usize, usize, usize, [usize; 4], usize);

/// Output channel counts that the pixel-vectorized convs take: one to
/// three groups per block of packed weights, with channels past the last
/// valid one in a group.
const PIXEL_OCS: [usize; 13] = [1, 5, 8, 12, 17, 20, 24, 25, 33, 36, 40, 48, 72];

/// The conv of `shape` with `oc` output channels: its parameters (`act`,
/// zero points from `rng`) and input and output shapes.
fn pixel_case(
    rng: &mut Rng,
    i: usize,
    (ic, kh, kw, ow, sh, dh, [pt, pl, pb, pr], n): PixelShape,
    oc: usize,
) -> (QConvParams, [usize; 4], [usize; 4]) {
    let iw = ow + kw - 1 - pl - pr;
    let ih = 3 + dh * (kh - 1) + (i % 3) - pt - pb.min(1);
    let oh = (ih + pt + pb - dh * (kh - 1) - 1) / sh + 1;
    let out_zp = zero_point(rng);
    let p = QConvParams {
        kernel_h: kh,
        kernel_w: kw,
        stride_h: sh,
        stride_w: 1,
        dilation_h: dh,
        dilation_w: 1,
        pad_top: pt,
        pad_left: pl,
        groups: 1,
        in_zp: zero_point(rng),
        out_zp,
        act_min: if oc.is_multiple_of(2) { -128 } else { out_zp },
        act_max: 127,
    };
    (p, [n, ih, iw, ic], [n, oh, ow, oc])
}

/// Packed convs of few output channels that AVX-512 VNNI runs over
/// pixels (`i8_conv::pixels_vnni`): 1–72 channels, output widths at and
/// around the 32-pixel block, two spans of a row (256 input channels),
/// padding on every side, row stride and dilation, batches, extreme
/// values. Every table runs them; on x86-64 each case is checked to take
/// that path where VNNI packs the weights. Too slow for Miri.
#[test]
#[cfg(not(miri))]
fn i8_conv_pixel_blocks_are_bit_exact() {
    let tables = tables();
    let mut rng = Rng::new(41);
    let shapes: [PixelShape; 9] = [
        (96, 3, 3, 32, 1, 1, [1, 1, 1, 1], 1),
        (96, 3, 3, 33, 1, 1, [1, 1, 1, 1], 2),
        (32, 3, 3, 47, 2, 1, [0, 1, 2, 0], 1),
        (64, 1, 1, 63, 1, 1, [0, 0, 0, 0], 1),
        (16, 5, 5, 65, 1, 2, [2, 2, 1, 3], 1),
        (256, 3, 3, 100, 1, 1, [1, 1, 1, 1], 1),
        (256, 2, 3, 81, 2, 2, [1, 2, 0, 0], 2),
        (8, 3, 3, 40, 1, 1, [1, 0, 0, 2], 1),
        (4, 7, 3, 34, 1, 1, [3, 1, 3, 1], 1),
    ];
    for (i, &shape) in shapes.iter().enumerate() {
        for (j, &oc) in PIXEL_OCS.iter().enumerate() {
            let (p, xs, ys) = pixel_case(&mut rng, i, shape, oc);
            #[cfg(target_arch = "x86_64")]
            {
                let isa = crate::packing::ISA_AVX512VNNI;
                let nr = crate::packing::Packing::of(isa, oc).unwrap().nr;
                assert!(
                    i8_conv::pixels_vnni::applies(&p, xs, ys, nr),
                    "shape {i} oc {oc} does not take the pixel path"
                );
            }
            let extreme = (i + j) % 5 == 0;
            let x = data(&mut rng, xs.iter().product(), extreme);
            let k_len = p.kernel_h * p.kernel_w * xs[3];
            let w = data(&mut rng, oc * k_len, extreme);
            let bias: Vec<i32> = (0..oc).map(|_| (rng.next_u64() as i32) >> 11).collect();
            let rq = requant(&mut rng, oc, 14 + (k_len as f32).log2() as i32 / 2);
            let mut want = Guarded::new(ys.iter().product());
            i8_conv::reference(&p, &x, xs, &w, &bias, &rq, want.out(), ys);
            for t in &tables {
                if let Some(got) = packed_conv(t, &p, &x, xs, &w, &bias, &rq, ys) {
                    assert_eq!(got, want.body(), "{}: shape {i} oc {oc}", t.name());
                }
            }
        }
    }
}

/// Packed f32 convs of few output channels that AVX-512 runs over pixels
/// (`f32_conv::pixels`) give the tiled GEMM's bits on every FMA table:
/// the shapes of [`i8_conv_pixel_blocks_are_bit_exact`] with channel
/// counts that are not multiples of 16 (the transposition's scalar
/// columns), four spans of a row, K over several chunks, each activation
/// path. On x86-64 each case is checked to take that path where AVX-512
/// packs the weights. Too slow for Miri.
#[test]
#[cfg(not(miri))]
fn f32_conv_pixel_blocks_give_the_fused_bits() {
    let tables = f32_tables(true);
    let mut rng = Rng::new(43);
    let shapes: [PixelShape; 8] = [
        (96, 3, 3, 32, 1, 1, [1, 1, 1, 1], 1),
        (96, 3, 3, 100, 1, 1, [1, 1, 1, 1], 2),
        (17, 3, 3, 47, 2, 1, [0, 1, 2, 0], 1),
        (64, 1, 1, 63, 1, 1, [0, 0, 0, 0], 1),
        (5, 5, 5, 65, 1, 2, [2, 2, 1, 3], 1),
        (40, 2, 3, 81, 2, 2, [1, 2, 0, 0], 2),
        (8, 3, 3, 40, 1, 1, [1, 0, 0, 2], 1),
        (300, 1, 1, 33, 1, 1, [0, 0, 0, 0], 1),
    ];
    let acts = [Act::None, Act::Clamp(0.0, 6.0), Act::HardSwish];
    for (i, &shape) in shapes.iter().enumerate() {
        for (j, &oc) in PIXEL_OCS.iter().enumerate() {
            let (q, xs, ys) = pixel_case(&mut rng, i, shape, oc);
            let p = conv_params(&q, acts[(i + j) % acts.len()]);
            #[cfg(target_arch = "x86_64")]
            {
                let isa = crate::packing::ISA_AVX512VNNI;
                let nr = crate::packing::Packing::of_f32(isa, oc).unwrap().nr;
                assert!(
                    f32_conv::pixels::applies::<super::x86::Avx512F32>(&p, xs, ys, nr),
                    "shape {i} oc {oc} does not take the pixel path"
                );
            }
            let k_len = p.kernel_h * p.kernel_w * xs[3];
            let x = rng.vec(xs.iter().product());
            let w = rng.vec(oc * k_len);
            let bias = rng.vec(oc);
            let bias = (j % 2 == 0).then_some(&bias[..]);
            let want = tiled_conv_model(true, &p, &x, xs, &w, bias, ys);
            for t in &tables {
                let Some(layout) = crate::packing::Packing::of_f32(t.packing(), oc) else {
                    continue;
                };
                let mut wp = vec![f32::NAN; layout.len(oc, k_len).unwrap()];
                layout.pack(&w, oc, k_len, &mut wp);
                let mut got = GuardedF32::new(want.len());
                (t.f32_conv_packed)(&p, &x, xs, &wp, bias, got.out(), ys);
                assert!(
                    same_bits(got.body(), &want),
                    "{}: shape {i} oc {oc} {:?}: not the model's bits",
                    t.name(),
                    p.act
                );
            }
        }
    }
}

/// Reductions longer than one packed chunk (`KC = 2048` steps) and more
/// rows than one accumulator block (`MC = 128`). Too slow for Miri.
#[test]
#[cfg(not(miri))]
fn i8_gemm_tables_across_chunks_and_row_blocks() {
    let tables = tables();
    let mut rng = Rng::new(35);
    let cases: &[(usize, usize, usize)] = if cfg!(miri) {
        &[(130, 2050, 3)]
    } else {
        &[
            (129, 2049, 17),
            (300, 4100, 40),
            (257, 2048, 33),
            (5, 6000, 8),
        ]
    };
    for &(m, k, n) in cases {
        let (a, b) = (vec_i8(&mut rng, m * k), vec_i8(&mut rng, k * n));
        let bias: Vec<i32> = (0..n).map(|_| (rng.next_u64() as i32) >> 12).collect();
        let rq = requant(&mut rng, n, 14 + (k as f32).log2() as i32 / 2);
        let p = QGemmParams {
            a_zp: zero_point(&mut rng),
            b_zp: 0,
            out_zp: zero_point(&mut rng),
            act_min: -128,
            act_max: 127,
        };
        let mut want = Guarded::new(m * n);
        i8_gemm::reference(m, k, n, &a, &b, Some(&bias), &rq, &p, want.out());
        for t in &tables {
            let mut got = Guarded::new(m * n);
            (t.i8_gemm)(m, k, n, &a, &b, Some(&bias), &rq, &p, got.out());
            assert_eq!(got.body(), want.body(), "{}: m {m} k {k} n {n}", t.name());
        }
        // The same reduction as a conv: OHWI weights, a 3x3 window.
        let ic = k / 9;
        let xs = [1, 12, 12, ic];
        let ys = [1, 10, 10, n];
        let x = vec_i8(&mut rng, xs.iter().product());
        let w = vec_i8(&mut rng, n * 9 * ic);
        let cp = QConvParams {
            kernel_h: 3,
            kernel_w: 3,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 0,
            pad_left: 0,
            groups: 1,
            in_zp: p.a_zp,
            out_zp: p.out_zp,
            act_min: -128,
            act_max: 127,
        };
        let mut want = Guarded::new(100 * n);
        i8_conv::reference(&cp, &x, xs, &w, &bias, &rq, want.out(), ys);
        for t in &tables {
            let mut got = Guarded::new(100 * n);
            (t.i8_conv)(&cp, &x, xs, &w, &bias, &rq, got.out(), ys);
            assert_eq!(got.body(), want.body(), "{}: conv ic {ic} oc {n}", t.name());
            if let Some(got) = packed_conv(t, &cp, &x, xs, &w, &bias, &rq, ys) {
                assert_eq!(got, want.body(), "{} packed: conv ic {ic} oc {n}", t.name());
            }
        }
    }
}

#[test]
fn i8_conv_extreme_accumulators_wrap_like_the_reference() {
    // 2^16 taps of (-128) * (127 - (-128)): the largest sums the op layer
    // admits, plus a bias that pushes them past i32 (wrapping).
    let tables = tables();
    let ic = if cfg!(miri) { 16 } else { 1 << 12 };
    let (kh, kw) = (4, 4);
    let p = QConvParams {
        kernel_h: kh,
        kernel_w: kw,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
        pad_top: 1,
        pad_left: 1,
        groups: 1,
        in_zp: -128,
        out_zp: 0,
        act_min: -128,
        act_max: 127,
    };
    let (xs, ys) = ([1, 4, 4, ic], [1, 3, 3, 3]);
    let x = vec![127i8; 16 * ic];
    let w: Vec<i8> = (0..3 * kh * kw * ic)
        .map(|i| [-128, 127, -128][i % 3])
        .collect();
    let bias = [i32::MAX, i32::MIN, 12345];
    let rq = [1 << 30, 0, 1 << 30, -31, i32::MAX, 0];
    let mut want = Guarded::new(27);
    i8_conv::reference(&p, &x, xs, &w, &bias, &rq, want.out(), ys);
    for t in &tables {
        let mut got = Guarded::new(27);
        (t.i8_conv)(&p, &x, xs, &w, &bias, &rq, got.out(), ys);
        assert_eq!(got.body(), want.body(), "{}", t.name());
        if let Some(got) = packed_conv(t, &p, &x, xs, &w, &bias, &rq, ys) {
            assert_eq!(got, want.body(), "{} packed", t.name());
        }
    }
}

#[test]
fn i8_gemm_tables_are_bit_exact() {
    let tables = tables();
    let mut rng = Rng::new(32);
    for it in 0..iters(500) {
        // Now and then more rows than one block of the driver's (128).
        let m = if it % 24 == 23 && !cfg!(miri) {
            129 + rng.below(140)
        } else {
            EDGES[rng.below(EDGES.len())]
        };
        // Some products are wide, on top of all of the above.
        let n = if it % 7 == 3 && !cfg!(miri) {
            wide(&mut rng)
        } else {
            EDGES[rng.below(EDGES.len())]
        };
        let k = match it % 3 {
            0 => EDGES[rng.below(EDGES.len())],
            1 => 1 + rng.below(100),
            _ if cfg!(miri) => 40 + rng.below(40),
            _ => 400 + rng.below(800),
        };
        let extreme = it % 5 == 0;
        let a = data(&mut rng, m * k, extreme);
        let b = data(&mut rng, k * n, extreme);
        let bias: Vec<i32> = (0..n).map(|_| (rng.next_u64() as i32) >> 12).collect();
        let per_tensor = it % 4 == 0;
        let rq = requant(
            &mut rng,
            if per_tensor { 1 } else { n },
            14 + (k as f32).log2() as i32 / 2,
        );
        let out_zp = zero_point(&mut rng);
        let p = QGemmParams {
            a_zp: zero_point(&mut rng),
            b_zp: if it % 6 == 5 { zero_point(&mut rng) } else { 0 },
            out_zp,
            act_min: if it % 2 == 0 { -128 } else { out_zp },
            act_max: 127,
        };
        let bias = (it % 3 != 2).then_some(&bias[..]);
        let mut want = Guarded::new(m * n);
        i8_gemm::reference(m, k, n, &a, &b, bias, &rq, &p, want.out());
        for t in &tables {
            let mut got = Guarded::new(m * n);
            (t.i8_gemm)(m, k, n, &a, &b, bias, &rq, &p, got.out());
            assert_eq!(
                got.body(),
                want.body(),
                "{}: m {m} k {k} n {n} {p:?}",
                t.name()
            );
            // `b` packed as the compiler writes a constant one.
            let layout = crate::packing::Packing::of(t.packing(), n).filter(|_| p.b_zp == 0);
            if let Some(layout) = layout {
                let bt = transposed(&b, k, n);
                let mut bp = vec![0x5a; layout.len(n, k).unwrap()];
                layout.pack(&bt, n, k, &mut bp);
                let zeros = vec![0; n];
                let mut folded = vec![0; n];
                layout.bias(bias.unwrap_or(&zeros), &bt, k, p.a_zp, &mut folded);
                let mut got = Guarded::new(m * n);
                (t.i8_gemm_packed)(m, k, n, &a, &bp, Some(&folded), &rq, &p, got.out());
                assert_eq!(
                    got.body(),
                    want.body(),
                    "{} packed: m {m} k {k} n {n}",
                    t.name()
                );
            }
        }
    }
}

/// f32 output with guard values on both sides.
struct GuardedF32(Vec<f32>, usize);

const F32_GUARD: usize = 16;

impl GuardedF32 {
    fn new(len: usize) -> Self {
        GuardedF32(vec![f32::from_bits(0x7FC0_5A5A); len + 2 * F32_GUARD], len)
    }
    fn out(&mut self) -> &mut [f32] {
        &mut self.0[F32_GUARD..F32_GUARD + self.1]
    }
    #[track_caller]
    fn body(&self) -> &[f32] {
        let n = self.0.len();
        assert!(
            self.0[..F32_GUARD]
                .iter()
                .chain(&self.0[n - F32_GUARD..])
                .all(|v| v.to_bits() == 0x7FC0_5A5A),
            "guard values overwritten"
        );
        &self.0[F32_GUARD..F32_GUARD + self.1]
    }
}

/// `|got - want| <= k · 2^-23 · mag + tiny`, `mag` the sum of the
/// magnitudes of the products (and bias) behind each output.
#[track_caller]
fn assert_within(got: &[f32], want: &[f32], mag: &[f32], k: usize, what: &str) {
    for (i, ((&g, &w), &m)) in got.iter().zip(want).zip(mag).enumerate() {
        let bound = (k as f32 + 2.0) * f32::EPSILON * m + f32::MIN_POSITIVE;
        assert!(
            (g - w).abs() <= bound,
            "{what}: element {i}: got {g:e}, want {w:e}, bound {bound:e}"
        );
    }
}

/// Row-major `[k, n]` as `n` rows of `k` (the conv-weight order packings
/// read).
fn transposed<T: Copy + Default>(b: &[T], k: usize, n: usize) -> Vec<T> {
    let mut out = vec![T::default(); k * n];
    crate::packing::transpose_kn(b, k, n, &mut out);
    out
}

/// A wide output: 240–279 channels, eight or more channel blocks of every
/// table's register tile (NR up to 32), so the drivers' loops over channel
/// blocks run long beside their row blocks and K chunks.
fn wide(rng: &mut Rng) -> usize {
    240 + rng.below(40)
}

/// Whether `a` and `b` hold the same bits.
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn conv_params(q: &QConvParams, act: Act) -> ConvParams {
    ConvParams {
        kernel_h: q.kernel_h,
        kernel_w: q.kernel_w,
        stride_h: q.stride_h,
        stride_w: q.stride_w,
        dilation_h: q.dilation_h,
        dilation_w: q.dilation_w,
        pad_top: q.pad_top,
        pad_left: q.pad_left,
        groups: q.groups,
        act,
    }
}

#[test]
fn f32_conv_tables_within_bound_depthwise_equal() {
    let tables = tables();
    let mut rng = Rng::new(33);
    let acts = [
        Act::None,
        Act::Clamp(0.0, 6.0),
        Act::HardSwish,
        Act::LeakyRelu(0.1),
        Act::Sigmoid,
    ];
    for it in 0..iters(300) {
        let kind = it % 4;
        let (q, xs, mut ys) = qconv_case(&mut rng, kind);
        if kind == 0 && it % 8 == 0 && !cfg!(miri) {
            ys[3] = wide(&mut rng);
        }
        let p = conv_params(&q, acts[it % acts.len()]);
        let (icg, oc) = (xs[3] / p.groups, ys[3]);
        let x = rng.vec(xs.iter().product());
        let w = rng.vec(oc * p.kernel_h * p.kernel_w * icg);
        let bias = rng.vec(oc);
        let bias = (it % 3 != 0).then_some(&bias[..]);
        let len: usize = ys.iter().product();
        let mut want = GuardedF32::new(len);
        f32_conv::reference(&p, &x, xs, &w, bias, want.out(), ys);
        // The same conv on magnitudes, no activation: the error scale.
        let (xa, wa): (Vec<f32>, Vec<f32>) = (
            x.iter().map(|v| v.abs()).collect(),
            w.iter().map(|v| v.abs()).collect(),
        );
        let ba: Option<Vec<f32>> = bias.map(|b| b.iter().map(|v| v.abs()).collect());
        let mut mag = vec![0.0; len];
        f32_conv::reference(
            &conv_params(&q, Act::None),
            &xa,
            xs,
            &wa,
            ba.as_deref(),
            &mut mag,
            ys,
        );
        let k_len = p.kernel_h * p.kernel_w * icg;
        for t in &tables {
            let mut got = GuardedF32::new(len);
            (t.f32_conv)(&p, &x, xs, &w, bias, got.out(), ys);
            let what = std::format!("{}: case {it} {p:?} {xs:?} -> {ys:?}", t.name());
            // Over weights packed as the compiler writes them: the same
            // panels, so the same bits as the table's unpacked conv.
            let layout = crate::packing::Packing::of_f32(t.packing(), oc);
            if let Some(layout) = layout.filter(|_| p.groups == 1) {
                let mut wp = vec![f32::NAN; layout.len(oc, k_len).unwrap()];
                layout.pack(&w, oc, k_len, &mut wp);
                let mut packed = GuardedF32::new(len);
                (t.f32_conv_packed)(&p, &x, xs, &wp, bias, packed.out(), ys);
                assert!(
                    same_bits(packed.body(), got.body()),
                    "{what}: packed must equal unpacked"
                );
            }
            if kind == 1 || kind == 3 {
                assert!(
                    same_bits(got.body(), want.body()),
                    "{what}: depthwise/grouped must equal the reference"
                );
            } else {
                // The activations used are 1-Lipschitz or close to it
                // (hard-swish's slope is at most 1.5): scale the bound.
                let mag: Vec<f32> = mag.iter().map(|m| 1.5 * m).collect();
                assert_within(got.body(), want.body(), &mag, k_len, &what);
            }
        }
    }
}

#[test]
fn f32_unary_tables_equal_the_reference() {
    use super::elementwise::{unary_inplace, unary_reference, UnaryKind};
    let tables = tables();
    let mut rng = Rng::new(36);
    let mut x: Vec<f32> = (0..iters(3000))
        .map(|_| f32::from_bits(rng.next_u64() as u32))
        .collect();
    x.extend(rng.vec(500).iter().map(|v| v * 100.0));
    x.extend([
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        88.7,
        -103.9,
    ]);
    let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    for kind in [
        UnaryKind::Sigmoid,
        UnaryKind::Exp,
        UnaryKind::Tanh,
        UnaryKind::HardSwish,
    ] {
        let mut want = vec![0.0; x.len()];
        unary_reference(kind, &x, &mut want);
        for t in &tables {
            let mut got = GuardedF32::new(x.len());
            (t.f32_unary)(kind, Some(&x), got.out());
            let mut inplace = x.clone();
            (t.f32_unary)(kind, None, &mut inplace);
            for (i, &w) in want.iter().enumerate() {
                let what = std::format!("{} {kind:?}({:e})", t.name(), x[i]);
                assert!(same(got.body()[i], w), "{what}: {} vs {w}", got.body()[i]);
                assert!(same(inplace[i], w), "{what} in place");
            }
        }
        let mut inplace = x.clone();
        unary_inplace(kind, &mut inplace);
        assert!(inplace.iter().zip(&want).all(|(&a, &b)| same(a, b)));
    }
}

#[test]
fn f32_binary_tables_equal_the_reference() {
    use super::elementwise::BinaryKind;
    use super::Operand;
    let tables = tables();
    let mut rng = Rng::new(41);
    let kinds = BinaryKind::ALL;
    let acts = [
        Act::None,
        Act::Clamp(0.0, 6.0),
        Act::Clamp(0.0, f32::INFINITY),
        Act::HardSwish,
        Act::LeakyRelu(0.1),
        Act::Sigmoid,
    ];
    // Random bit patterns (NaNs, infinities, subnormals, ±0) among
    // ordinary values, and repeated values (ties for Max/Min).
    let value = |rng: &mut Rng| match rng.below(8) {
        0 => f32::from_bits(rng.next_u64() as u32),
        1 => [0.0, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.0][rng.below(6)],
        _ => (rng.f32() - 0.5) * 20.0,
    };
    for it in 0..iters(600) {
        let out: [usize; super::MAX_RANK] = core::array::from_fn(|d| {
            if d < 3 {
                [1, 1, 2][rng.below(3)]
            } else {
                // Rows past a 16-lane vector and its multiples in the last dim.
                let wide = d == super::MAX_RANK - 1 && !cfg!(miri);
                [1, 2, 3, 5, 16, 17, 33, 70][rng.below(if wide { 8 } else { 7 })]
            }
        });
        // Each operand keeps or broadcasts each dim; every other case
        // keeps a dense operand (the fast paths).
        let shape_of = |rng: &mut Rng, dense: bool| -> [usize; super::MAX_RANK] {
            core::array::from_fn(|d| {
                if !dense && rng.below(3) == 0 {
                    1
                } else {
                    out[d]
                }
            })
        };
        let (sa, sb) = (
            shape_of(&mut rng, it % 4 == 0),
            shape_of(&mut rng, it % 4 == 1),
        );
        let (ast, bst) = (bcast_strides(sa, out), bcast_strides(sb, out));
        let a: Vec<f32> = (0..sa.iter().product()).map(|_| value(&mut rng)).collect();
        let b: Vec<f32> = (0..sb.iter().product()).map(|_| value(&mut rng)).collect();
        let (kind, act) = (kinds[it % kinds.len()], acts[rng.below(acts.len())]);
        // `f32::max`/`min` leave the sign of a zero result unspecified
        // (IEEE maxNum), and it follows the operand order.
        let signless = matches!(kind, BinaryKind::Max | BinaryKind::Min);
        let same = |a: f32, b: f32| {
            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()) || (signless && a == b)
        };
        let len: usize = out.iter().product();
        let (ta, tb) = (Operand::Tensor(&a[..], ast), Operand::Tensor(&b[..], bst));
        let mut want = vec![0.0; len];
        (Kernels::reference().f32_binary)(kind, ta, tb, &mut want, out, act);
        for t in &tables {
            let what = std::format!("{} {kind:?} {act:?} {sa:?} {sb:?}", t.name());
            let mut got = GuardedF32::new(len);
            (t.f32_binary)(kind, ta, tb, got.out(), out, act);
            let body = got.body();
            assert!(want.iter().zip(body).all(|(&w, &g)| same(w, g)), "{what}");
            // In place, with the dense operand as the output.
            if sa == out {
                let mut data = a.clone();
                (t.f32_binary)(kind, Operand::Output, tb, &mut data, out, act);
                let ok = want.iter().zip(&data).all(|(&w, &g)| same(w, g));
                assert!(ok, "{what} in place (a)");
            }
            if sb == out {
                let mut data = b.clone();
                (t.f32_binary)(kind, ta, Operand::Output, &mut data, out, act);
                let ok = want.iter().zip(&data).all(|(&w, &g)| same(w, g));
                assert!(ok, "{what} in place (b)");
            }
        }
    }
}

#[test]
fn f32_pool_tables_equal_the_reference() {
    use super::pool::PoolParams;
    let tables = tables();
    let mut rng = Rng::new(43);
    for it in 0..iters(300) {
        let (kh, kw) = (1 + rng.below(3), 1 + rng.below(3));
        let (dh, dw) = (1 + rng.below(2), 1 + rng.below(2));
        let pad = |rng: &mut Rng, k: usize, d: usize| rng.below((k - 1) * d + 1);
        let p = PoolParams {
            kernel_h: kh,
            kernel_w: kw,
            stride_h: 1 + rng.below(2),
            stride_w: 1 + rng.below(2),
            dilation_h: dh,
            dilation_w: dw,
            pad_top: pad(&mut rng, kh, dh),
            pad_left: pad(&mut rng, kw, dw),
            pad_bottom: pad(&mut rng, kh, dh),
            pad_right: pad(&mut rng, kw, dw),
        };
        let c = channels(&mut rng);
        let (ih, iw) = (
            (kh - 1) * dh + 1 + rng.below(6),
            (kw - 1) * dw + 1 + rng.below(6),
        );
        let xs = [1 + rng.below(2), ih, iw, c];
        let oh = (ih + p.pad_top + p.pad_bottom - (kh - 1) * dh - 1) / p.stride_h + 1;
        let ow = (iw + p.pad_left + p.pad_right - (kw - 1) * dw - 1) / p.stride_w + 1;
        let ys = [xs[0], oh, ow, c];
        // Ordinary values with NaNs, infinities and zeros of both signs.
        let x: Vec<f32> = (0..xs.iter().product())
            .map(|_| match rng.below(10) {
                0 => [0.0, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY][rng.below(5)],
                _ => (rng.f32() - 0.5) * 20.0,
            })
            .collect();
        let avg = [None, Some(false), Some(true)][it % 3];
        // `f32::max` leaves the sign of a zero result unspecified.
        let same = |a: f32, b: f32| {
            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()) || (avg.is_none() && a == b)
        };
        let mut want = vec![0.0; ys.iter().product()];
        (Kernels::reference().f32_pool)(&p, avg, &x, xs, &mut want, ys);
        for t in &tables {
            let mut got = GuardedF32::new(want.len());
            (t.f32_pool)(&p, avg, &x, xs, got.out(), ys);
            let ok = want.iter().zip(got.body()).all(|(&w, &g)| same(w, g));
            assert!(ok, "{} {avg:?} {p:?} {xs:?}", t.name());
        }
    }
}

#[test]
fn i8_lut_tables_are_bit_exact() {
    let tables = tables();
    let mut rng = Rng::new(35);
    for it in 0..iters(200) {
        let n = match it % 4 {
            0 => EDGES[rng.below(EDGES.len())],
            1 => 64 * (1 + rng.below(4)) + rng.below(3) - 1,
            _ => rng.below(300),
        };
        let table = vec_i8(&mut rng, 256);
        let x = data(&mut rng, n, it % 5 == 0);
        let mut want = Guarded::new(n);
        super::i8_elementwise::lut(&table, &x, want.out());
        for t in &tables {
            let mut got = Guarded::new(n);
            (t.i8_lut)(&table, Some(&x), got.out());
            assert_eq!(got.body(), want.body(), "{}: n {n}", t.name());
            let mut inplace = Guarded::new(n);
            inplace.out().copy_from_slice(&x);
            (t.i8_lut)(&table, None, inplace.out());
            assert_eq!(inplace.body(), want.body(), "{} in place: n {n}", t.name());
        }
    }
}

#[test]
fn f32_gemm_tables_within_bound() {
    let tables = tables();
    let mut rng = Rng::new(34);
    for it in 0..iters(300) {
        // Some products span several blocks of rows over packed weights
        // (`MC_ROWS`), with several K chunks when `it % 3 == 2`.
        let m = if it % 5 == 2 && !cfg!(miri) {
            90 + rng.below(120)
        } else {
            EDGES[rng.below(EDGES.len())]
        };
        // Some products are wide, on top of all of the above.
        let n = if it % 7 == 3 && !cfg!(miri) {
            wide(&mut rng)
        } else {
            EDGES[rng.below(EDGES.len())]
        };
        let k = match it % 3 {
            0 => EDGES[rng.below(EDGES.len())],
            1 => rng.below(4),
            _ if cfg!(miri) => 260 + rng.below(10),
            _ => 200 + rng.below(400),
        };
        let (a, b, bias) = (rng.vec(m * k), rng.vec(k * n), rng.vec(n));
        let bias = (it % 2 == 0).then_some(&bias[..]);
        let act = if it % 4 == 1 {
            Act::Clamp(0.0, 6.0)
        } else {
            Act::None
        };
        let mut want = GuardedF32::new(m * n);
        f32_gemm::reference(m, k, n, &a, &b, bias, act, want.out());
        let (aa, ba): (Vec<f32>, Vec<f32>) = (
            a.iter().map(|v| v.abs()).collect(),
            b.iter().map(|v| v.abs()).collect(),
        );
        let biasa: Option<Vec<f32>> = bias.map(|b| b.iter().map(|v| v.abs()).collect());
        let mut mag = vec![0.0; m * n];
        f32_gemm::reference(m, k, n, &aa, &ba, biasa.as_deref(), Act::None, &mut mag);
        for t in &tables {
            let mut got = GuardedF32::new(m * n);
            (t.f32_gemm)(m, k, n, &a, &b, bias, act, got.out());
            let what = std::format!("{}: m {m} k {k} n {n}", t.name());
            assert_within(got.body(), want.body(), &mag, k, &what);
            // `b` packed as the compiler writes a constant one: the same
            // bits as the plain `b` on this table.
            if let Some(layout) = crate::packing::Packing::of_f32(t.packing(), n) {
                let mut bp = vec![f32::NAN; layout.len(n, k).unwrap()];
                layout.pack(&transposed(&b, k, n), n, k, &mut bp);
                let mut packed = GuardedF32::new(m * n);
                (t.f32_gemm_packed)(m, k, n, &a, &bp, bias, act, packed.out());
                assert!(
                    same_bits(packed.body(), got.body()),
                    "{what}: packed must equal unpacked"
                );
            }
        }
    }
}

/// The f32 tables whose products are fused multiply-adds (`fused`), or
/// those that round each product like the reference (`portable`, and
/// armv7's `neon32`, whose NEON tiles round the same way).
fn f32_tables(fused: bool) -> Vec<&'static Kernels> {
    tables()
        .into_iter()
        .filter(|t| matches!(t.name(), "portable" | "neon32") != fused)
        .collect()
}

/// The tiled f32 GEMM's arithmetic written out: per output, with `fused`,
/// each K chunk of `tiled::KC` steps summed in order from `0.0` with fused
/// multiply-adds (`f32::mul_add`) and the chunk sums added in order;
/// without, all of K in one sequence from `0.0`, a rounded product then a
/// rounded sum per step (the reference's sum). Then `+ bias`, then the
/// activation.
#[allow(clippy::too_many_arguments)]
fn tiled_gemm_model(
    fused: bool,
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    act: Act,
) -> Vec<f32> {
    let kc = if fused { f32_gemm::tiled::KC } else { k.max(1) };
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut total = 0.0f32;
            for (c, k0) in (0..k).step_by(kc).enumerate() {
                let mut s = 0.0f32;
                for p in k0..(k0 + kc).min(k) {
                    let (x, w) = (a[i * k + p], b[p * n + j]);
                    s = if fused { x.mul_add(w, s) } else { s + x * w };
                }
                total = if c == 0 { s } else { total + s };
            }
            let v = match (k, bias) {
                (0, b) => b.map_or(0.0, |b| b[j]),
                (_, Some(b)) => total + b[j],
                (_, None) => total,
            };
            out[i * n + j] = act.apply(v);
        }
    }
    out
}

/// Every table of [`f32_tables`]`(fused)` gives the bits of
/// [`tiled_gemm_model`] from three rows up (one or two rows take
/// `reference`'s loop), whatever its micro-kernel (AVX2/AVX-512
/// broadcasts, NEON `fmla` by element; portable arrays, armv7 NEON `vmla`
/// by scalar), natively and under QEMU. So f32 outputs agree across
/// x86-64 and aarch64, and `portable` and armv7's NEON tiles give the
/// reference's bits (the rounding tables' `MatMul` is also compared with
/// `reference` itself).
fn gemm_tables_give_the_model_bits(fused: bool, seed: u64) {
    let tables = f32_tables(fused);
    if tables.is_empty() {
        return;
    }
    let mut rng = Rng::new(seed);
    let acts = [Act::None, Act::Clamp(0.0, 6.0), Act::HardSwish];
    for it in 0..iters(120) {
        let m = if it % 6 == 5 && !cfg!(miri) {
            96 + rng.below(40)
        } else {
            3 + rng.below(30)
        };
        let n = EDGES[rng.below(EDGES.len())];
        let k = match it % 4 {
            0 => EDGES[rng.below(EDGES.len())],
            1 => 1 + rng.below(7),
            _ if cfg!(miri) => 257 + rng.below(8),
            _ => 250 + rng.below(300),
        };
        let (a, b, bias) = (rng.vec(m * k), rng.vec(k * n), rng.vec(n));
        let bias = (it % 2 == 0).then_some(&bias[..]);
        let act = acts[it % acts.len()];
        let want = tiled_gemm_model(fused, m, k, n, &a, &b, bias, act);
        if !fused {
            let mut reference = vec![0.0; m * n];
            f32_gemm::reference(m, k, n, &a, &b, bias, act, &mut reference);
            assert!(same_bits(&reference, &want), "the model is the reference");
        }
        for t in &tables {
            let mut got = GuardedF32::new(m * n);
            (t.f32_gemm)(m, k, n, &a, &b, bias, act, got.out());
            assert!(
                same_bits(got.body(), &want),
                "{}: m {m} k {k} n {n} {act:?}: not the model's bits (fused: {fused})",
                t.name()
            );
        }
    }
}

#[test]
fn f32_gemm_fma_tables_give_the_fused_bits() {
    gemm_tables_give_the_model_bits(true, 36);
}

/// Not under Miri: `portable` runs there in `f32_gemm_tables_within_bound`.
#[test]
#[cfg_attr(miri, ignore)]
fn f32_gemm_rounding_tables_give_the_rounded_bits() {
    gemm_tables_give_the_model_bits(false, 38);
}

/// [`tiled_gemm_model`] for a `groups == 1` conv: row `(b, oy, ox)` of A is
/// its window's taps `(ky, kx, c)` in that order, `0.0` where a tap falls
/// into the padding (the tiles multiply-add `0·w` there too).
fn tiled_conv_model(
    fused: bool,
    p: &ConvParams,
    x: &[f32],
    [n, ih, iw, ic]: [usize; 4],
    w: &[f32],
    bias: Option<&[f32]>,
    [_, oh, ow, oc]: [usize; 4],
) -> Vec<f32> {
    let kk = p.kernel_h * p.kernel_w * ic;
    let mut a = vec![0.0; n * oh * ow * kk];
    for (row, taps) in a.chunks_exact_mut(kk.max(1)).enumerate() {
        let (b, oy, ox) = (row / (oh * ow), row / ow % oh, row % ow);
        for (k, v) in taps.iter_mut().enumerate() {
            let (ky, kx, c) = (k / (p.kernel_w * ic), k / ic % p.kernel_w, k % ic);
            let iy = (oy * p.stride_h + ky * p.dilation_h) as isize - p.pad_top as isize;
            let ix = (ox * p.stride_w + kx * p.dilation_w) as isize - p.pad_left as isize;
            if (0..ih as isize).contains(&iy) && (0..iw as isize).contains(&ix) {
                *v = x[((b * ih + iy as usize) * iw + ix as usize) * ic + c];
            }
        }
    }
    // OHWI weights are `B` transposed.
    let b = transposed(w, oc, kk);
    tiled_gemm_model(fused, n * oh * ow, kk, oc, &a, &b, bias, p.act)
}

/// [`gemm_tables_give_the_model_bits`] for `groups == 1` convs (padding,
/// strides, dilations, windows inside and across the border, K beyond one
/// chunk, wide outputs), over plain and packed weights.
fn conv_tables_give_the_model_bits(fused: bool, seed: u64) {
    let tables = f32_tables(fused);
    if tables.is_empty() {
        return;
    }
    let mut rng = Rng::new(seed);
    let acts = [Act::None, Act::Clamp(0.0, 6.0), Act::LeakyRelu(0.1)];
    for it in 0..iters(150) {
        let kind = if it % 5 == 4 { 2 } else { 0 };
        let (q, xs, mut ys) = qconv_case(&mut rng, kind);
        if it % 7 == 3 && !cfg!(miri) {
            ys[3] = wide(&mut rng);
        }
        let p = conv_params(&q, acts[it % acts.len()]);
        let oc = ys[3];
        let k_len = p.kernel_h * p.kernel_w * xs[3];
        let x = rng.vec(xs.iter().product());
        let w = rng.vec(oc * k_len);
        let bias = rng.vec(oc);
        let bias = (it % 2 == 0).then_some(&bias[..]);
        let want = tiled_conv_model(fused, &p, &x, xs, &w, bias, ys);
        for t in &tables {
            let what = std::format!("{}: case {it} {p:?} {xs:?} -> {ys:?}", t.name());
            let mut got = GuardedF32::new(want.len());
            (t.f32_conv)(&p, &x, xs, &w, bias, got.out(), ys);
            assert!(
                same_bits(got.body(), &want),
                "{what}: not the model's bits (fused: {fused})"
            );
            if let Some(layout) = crate::packing::Packing::of_f32(t.packing(), oc) {
                let mut wp = vec![f32::NAN; layout.len(oc, k_len).unwrap()];
                layout.pack(&w, oc, k_len, &mut wp);
                let mut packed = GuardedF32::new(want.len());
                (t.f32_conv_packed)(&p, &x, xs, &wp, bias, packed.out(), ys);
                assert!(
                    same_bits(packed.body(), &want),
                    "{what} packed: not the model's bits (fused: {fused})"
                );
            }
        }
    }
}

#[test]
fn f32_conv_fma_tables_give_the_fused_bits() {
    conv_tables_give_the_model_bits(true, 37);
}

/// Not under Miri, as [`f32_gemm_rounding_tables_give_the_rounded_bits`].
#[test]
#[cfg_attr(miri, ignore)]
fn f32_conv_rounding_tables_give_the_rounded_bits() {
    conv_tables_give_the_model_bits(false, 39);
}

/// Element strides of `shape` broadcast to `out` (0 along broadcast dims).
fn bcast_strides(
    shape: [usize; super::MAX_RANK],
    out: [usize; super::MAX_RANK],
) -> [usize; super::MAX_RANK] {
    let s = super::contiguous_strides(shape);
    core::array::from_fn(|d| {
        if shape[d] == 1 && out[d] != 1 {
            0
        } else {
            s[d]
        }
    })
}

#[test]
fn i8_binary_tables_are_bit_exact() {
    use super::i8_elementwise::{Operand, QAddParams, QBinary, QMulParams};
    let tables = tables();
    let mut rng = Rng::new(36);
    for it in 0..iters(400) {
        let out: [usize; super::MAX_RANK] = core::array::from_fn(|d| {
            if d < 3 {
                1
            } else {
                // Rows longer than an elementwise block (64) in the last dim.
                let wide = d == super::MAX_RANK - 1 && !cfg!(miri);
                [1, 2, 3, 5, 16, 17, 33, 70][rng.below(if wide { 8 } else { 7 })]
            }
        });
        // Each operand keeps or broadcasts each dim.
        let shape_of = |rng: &mut Rng| -> [usize; super::MAX_RANK] {
            core::array::from_fn(|d| if rng.below(3) == 0 { 1 } else { out[d] })
        };
        let (sa, sb) = (shape_of(&mut rng), shape_of(&mut rng));
        let (ast, bst) = (bcast_strides(sa, out), bcast_strides(sb, out));
        let a = vec_i8(&mut rng, sa.iter().product());
        let b = vec_i8(&mut rng, sb.iter().product());
        let scale = |rng: &mut Rng| 2f32.powf(rng.f32() * 8.0 - 6.0);
        let (zpa, zpb, zpo) = (
            zero_point(&mut rng),
            zero_point(&mut rng),
            zero_point(&mut rng),
        );
        let (lo, hi) = if it % 3 == 0 {
            (zpo.max(-128), 127)
        } else {
            (-128, 127)
        };
        let op = match it % 3 {
            0 => QBinary::Mul(QMulParams::from_scales(
                scale(&mut rng),
                zpa,
                scale(&mut rng),
                zpb,
                scale(&mut rng),
                zpo,
                lo,
                hi,
            )),
            k => QBinary::Add(QAddParams::from_scales(
                scale(&mut rng),
                zpa,
                scale(&mut rng),
                zpb,
                scale(&mut rng),
                zpo,
                lo,
                hi,
                k == 2,
            )),
        };
        let len: usize = out.iter().product();
        let mut want = Guarded::new(len);
        (Kernels::reference().i8_binary)(
            &op,
            Operand::Tensor(&a, ast),
            Operand::Tensor(&b, bst),
            want.out(),
            out,
        );
        for t in &tables {
            let mut got = Guarded::new(len);
            (t.i8_binary)(
                &op,
                Operand::Tensor(&a, ast),
                Operand::Tensor(&b, bst),
                got.out(),
                out,
            );
            assert_eq!(
                got.body(),
                want.body(),
                "{}: case {it} {op:?} {sa:?} {sb:?}",
                t.name()
            );
        }
        // In place: the output holds a full-shape operand.
        if sa == out {
            for t in &tables {
                let mut got = Guarded::new(len);
                got.out().copy_from_slice(&a);
                (t.i8_binary)(
                    &op,
                    Operand::Output,
                    Operand::Tensor(&b, bst),
                    got.out(),
                    out,
                );
                assert_eq!(got.body(), want.body(), "{}: in place, case {it}", t.name());
            }
        }
        if sb == out {
            for t in &tables {
                let mut got = Guarded::new(len);
                got.out().copy_from_slice(&b);
                (t.i8_binary)(
                    &op,
                    Operand::Tensor(&a, ast),
                    Operand::Output,
                    got.out(),
                    out,
                );
                assert_eq!(
                    got.body(),
                    want.body(),
                    "{}: in place (rhs), case {it}",
                    t.name()
                );
            }
        }
    }
}

/// `Add`/`Sub`/`Mul` of 65,536 elements or more (x86-64 with AVX-512: every
/// result looked up in a table of all operand pairs), dense and with a
/// per-channel `b`, at lengths off the 16-element blocks and in place,
/// against the reference.
#[test]
#[cfg_attr(miri, ignore)] // hundreds of thousands of elements
fn i8_binary_of_many_elements_is_bit_exact() {
    use super::i8_elementwise::{Operand, QAddParams, QBinary, QMulParams};
    let tables = tables();
    let mut rng = Rng::new(37);
    // (rows, channels, the operand per channel (0: none, 1: a, 2: b), op:
    // 0 Add, 1 Sub, 2 Mul)
    let cases = [
        (1, (1 << 16) + 13, 0, 0),
        (1, 1 << 16, 0, 2),
        (1, 150_007, 0, 1),
        (683, 96, 2, 2),
        (700, 112, 1, 1),
        (2731, 24, 2, 0),
        (700, 101, 2, 2),
    ];
    for (it, (rows, ch, per_channel, kind)) in cases.into_iter().enumerate() {
        let mut out = [1usize; super::MAX_RANK];
        out[super::MAX_RANK - 2] = rows;
        out[super::MAX_RANK - 1] = ch;
        let len = rows * ch;
        let dense = super::contiguous_strides(out);
        let (mut ast, mut bst) = (dense, dense);
        match per_channel {
            1 => ast[super::MAX_RANK - 2] = 0,
            2 => bst[super::MAX_RANK - 2] = 0,
            _ => {}
        }
        let a = vec_i8(&mut rng, if per_channel == 1 { ch } else { len });
        let b = vec_i8(&mut rng, if per_channel == 2 { ch } else { len });
        let scale = |rng: &mut Rng| 2f32.powf(rng.f32() * 8.0 - 6.0);
        let (za, zb, zo) = (
            zero_point(&mut rng),
            zero_point(&mut rng),
            zero_point(&mut rng),
        );
        let (lo, hi) = if it % 2 == 1 { (zo, 127) } else { (-128, 127) };
        let (sa, sb, so) = (scale(&mut rng), scale(&mut rng), scale(&mut rng));
        let op = match kind {
            2 => QBinary::Mul(QMulParams::from_scales(sa, za, sb, zb, so, zo, lo, hi)),
            k => QBinary::Add(QAddParams::from_scales(
                sa,
                za,
                sb,
                zb,
                so,
                zo,
                lo,
                hi,
                k == 1,
            )),
        };
        let mut want = Guarded::new(len);
        let (ta, tb) = (Operand::Tensor(&a, ast), Operand::Tensor(&b, bst));
        (Kernels::reference().i8_binary)(&op, ta, tb, want.out(), out);
        for t in &tables {
            let mut got = Guarded::new(len);
            (t.i8_binary)(&op, ta, tb, got.out(), out);
            assert_eq!(got.body(), want.body(), "{}: {rows}x{ch} {op:?}", t.name());
            if per_channel != 1 {
                let mut got = Guarded::new(len);
                got.out().copy_from_slice(&a);
                (t.i8_binary)(&op, Operand::Output, tb, got.out(), out);
                assert_eq!(
                    got.body(),
                    want.body(),
                    "{}: {rows}x{ch} in place",
                    t.name()
                );
            }
        }
    }
}

#[test]
fn f32_conv_transpose_tables_within_bound() {
    let tables = tables();
    let mut rng = Rng::new(37);
    for it in 0..iters(120) {
        // Kernel == stride (the tiled path) most of the time, else overlap.
        let k = 1 + rng.below(3);
        let s = if it % 4 == 3 { 1 + rng.below(2) } else { k };
        let (ic, oc) = (EDGES[rng.below(EDGES.len())], EDGES[rng.below(EDGES.len())]);
        let (n, ih, iw) = (1 + rng.below(2), 1 + rng.below(7), 1 + rng.below(7));
        let xs = [n, ih, iw, ic];
        let ys = [n, (ih - 1) * s + k, (iw - 1) * s + k, oc];
        let p = ConvParams {
            kernel_h: k,
            kernel_w: k,
            stride_h: s,
            stride_w: s,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 0,
            pad_left: 0,
            groups: 1,
            act: if it % 2 == 0 {
                Act::None
            } else {
                Act::Clamp(0.0, 6.0)
            },
        };
        let (x, w, bias) = (
            rng.vec(xs.iter().product()),
            rng.vec(oc * k * k * ic),
            rng.vec(oc),
        );
        let bias = (it % 3 != 0).then_some(&bias[..]);
        let len: usize = ys.iter().product();
        let mut want = GuardedF32::new(len);
        f32_conv::transpose_reference(&p, &x, xs, &w, bias, want.out(), ys);
        let (xa, wa): (Vec<f32>, Vec<f32>) = (
            x.iter().map(|v| v.abs()).collect(),
            w.iter().map(|v| v.abs()).collect(),
        );
        let ba: Option<Vec<f32>> = bias.map(|b| b.iter().map(|v| v.abs()).collect());
        let mut mag = vec![0.0; len];
        let pa = ConvParams {
            act: Act::None,
            ..p
        };
        f32_conv::transpose_reference(&pa, &xa, xs, &wa, ba.as_deref(), &mut mag, ys);
        for t in &tables {
            let mut got = GuardedF32::new(len);
            (t.f32_conv_transpose)(&p, &x, xs, &w, bias, got.out(), ys);
            let what = std::format!("{}: case {it} k {k} s {s} {xs:?} -> {ys:?}", t.name());
            assert_within(got.body(), want.body(), &mag, ic * k * k, &what);
        }
    }
}
