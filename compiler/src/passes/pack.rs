//! Weight packing for one kernel table (`ferrite compile --pack NAME`).
//!
//! Rewrites the weights of every int8 `Conv` with `groups == 1` into the
//! table's GEMM layout ([`ferrite::packing::Packing`]): a 1-D `i8` tensor
//! of `[oc / NR][kp / G][NR][G]`, and folds `−(zp_in + a_offset)·Σ w` into
//! its bias, so that the table reads both in place (no packing per call).
//! The constant weights of every f32 `Conv` with `groups == 1` become the
//! 1-D `[oc / NR][K][NR]` of [`Packing::of_f32`]. A constant `MatMul` `b`
//! without batch dims (int8: zero point 0) is packed as the weights of a
//! conv with `n` output channels and `k` steps.
//! The image then records the packing (`Graph::packing`, the header's
//! `isa`) and runs only where that table does.

use anyhow::{anyhow, bail, Result};
use ferrite::packing::Packing;

use crate::ir::{Data, Graph, Op};

/// Packs the conv weights of `g` for packing `isa`; true when any was
/// packed (and `g.packing` is set).
pub fn pack_weights(g: &mut Graph, isa: u32) -> Result<bool> {
    let mut uses = vec![0usize; g.tensors.len()];
    for n in &g.nodes {
        for &i in &n.inputs {
            uses[i] += 1;
        }
    }
    let mut packed = 0;
    for ni in 0..g.nodes.len() {
        let n = &g.nodes[ni];
        if matches!(n.op, Op::Conv { groups: 1, .. }) {
            packed += pack_f32_conv(g, ni, isa, &uses)? as usize;
            continue;
        }
        if matches!(n.op, Op::MatMul { .. } | Op::QMatMul { .. }) {
            packed += pack_matmul(g, ni, isa, &uses)? as usize;
            continue;
        }
        if !matches!(n.op, Op::QConv { groups: 1, .. }) {
            continue;
        }
        let name = n.name.clone();
        let &[x, w, b, _] = n.inputs.as_slice() else {
            bail!("node '{name}': int8 Conv without its four inputs");
        };
        let zp = g.tensors[x]
            .quant
            .ok_or_else(|| anyhow!("node '{name}': int8 input without quantization"))?
            .zero_point;
        let wt = &g.tensors[w];
        let (Some(Data::I8(wd)), [oc, kh, kw, ic]) = (&wt.data, wt.shape.as_slice()) else {
            bail!("node '{name}': int8 Conv weights are not a constant OHWI i8 tensor");
        };
        let (oc, k) = (*oc, kh * kw * ic);
        let Some(Data::I32(bd)) = &g.tensors[b].data else {
            bail!("node '{name}': int8 Conv bias is not a constant i32 tensor");
        };
        let layout = Packing::of(isa, oc).ok_or_else(|| anyhow!("unknown packing {isa}"))?;
        let len = layout
            .len(oc, k)
            .ok_or_else(|| anyhow!("node '{name}': packed weights overflow"))?;
        let mut wp = vec![0i8; len];
        layout.pack(wd, oc, k, &mut wp);
        let mut bp = vec![0i32; oc];
        layout.bias(bd, wd, k, zp, &mut bp);
        // A tensor read by this node alone is rewritten in place; a shared
        // one keeps its layout for its other readers and this node gets a
        // renamed copy.
        let (w_new, b_new) = (own(g, &uses, w, ni), own(g, &uses, b, ni));
        let wt = &mut g.tensors[w_new];
        wt.shape = vec![len];
        wt.data = Some(Data::I8(wp));
        g.tensors[b_new].data = Some(Data::I32(bp));
        g.nodes[ni].inputs[1] = w_new;
        g.nodes[ni].inputs[2] = b_new;
        packed += 1;
    }
    if packed > 0 {
        g.packing = isa;
    }
    Ok(packed > 0)
}

/// A tensor read by node `ni` alone is rewritten in place; a shared one
/// keeps its layout for its other readers and `ni` gets a renamed copy.
fn own(g: &mut Graph, uses: &[usize], t: usize, ni: usize) -> usize {
    if uses[t] == 1 {
        return t;
    }
    let mut copy = g.tensors[t].clone();
    copy.name = format!("{}.packed.{ni}", copy.name);
    g.tensors.push(copy);
    g.tensors.len() - 1
}

/// Packs the constant OHWI weights of f32 `Conv` node `ni` (`groups == 1`)
/// as `[oc / NR][K][NR]` ([`Packing::of_f32`]); the bias is unchanged.
/// False when the weights are not constant.
fn pack_f32_conv(g: &mut Graph, ni: usize, isa: u32, uses: &[usize]) -> Result<bool> {
    let n = &g.nodes[ni];
    let name = n.name.clone();
    let w = *n
        .inputs
        .get(1)
        .ok_or_else(|| anyhow!("node '{name}': Conv without weights"))?;
    let wt = &g.tensors[w];
    let (Some(Data::F32(wd)), [oc, kh, kw, ic]) = (&wt.data, wt.shape.as_slice()) else {
        return Ok(false);
    };
    let (oc, k) = (*oc, kh * kw * ic);
    let layout = Packing::of_f32(isa, oc).ok_or_else(|| anyhow!("unknown packing {isa}"))?;
    let len = layout
        .len(oc, k)
        .ok_or_else(|| anyhow!("node '{name}': packed weights overflow"))?;
    let mut wp = vec![0f32; len];
    layout.pack(wd, oc, k, &mut wp);
    let w_new = own(g, uses, w, ni);
    let wt = &mut g.tensors[w_new];
    wt.shape = vec![len];
    wt.data = Some(Data::F32(wp));
    g.nodes[ni].inputs[1] = w_new;
    Ok(true)
}

/// `[k, n]` row-major `b` as `n` rows of `k` (the OHWI order `Packing`
/// reads).
fn transpose<T: Copy + Default>(b: &[T], k: usize, n: usize) -> Vec<T> {
    let mut out = vec![T::default(); k * n];
    ferrite::packing::transpose_kn(b, k, n, &mut out);
    out
}

/// Packs the constant `b` of `MatMul` / int8 `MatMul` node `ni` when it
/// has no batch dims (and, int8, zero point 0) as the conv weights of `n`
/// output channels; the int8 bias gets `a`'s offset folded in. False when
/// `b` does not qualify.
fn pack_matmul(g: &mut Graph, ni: usize, isa: u32, uses: &[usize]) -> Result<bool> {
    let n = &g.nodes[ni];
    let name = n.name.clone();
    let (a, b) = match n.inputs.as_slice() {
        [a, b, ..] => (*a, *b),
        _ => bail!("node '{name}': MatMul without two operands"),
    };
    let bt = &g.tensors[b];
    let rank = bt.shape.len();
    if rank < 2 || bt.shape[..rank - 2].iter().any(|&d| d != 1) {
        return Ok(false);
    }
    let (k, nc) = (bt.shape[rank - 2], bt.shape[rank - 1]);
    let no_len = || anyhow!("node '{name}': packed weights overflow");
    match (&n.op, &bt.data) {
        (Op::MatMul { .. }, Some(Data::F32(bd))) => {
            let layout =
                Packing::of_f32(isa, nc).ok_or_else(|| anyhow!("unknown packing {isa}"))?;
            let mut wp = vec![0f32; layout.len(nc, k).ok_or_else(no_len)?];
            layout.pack(&transpose(bd, k, nc), nc, k, &mut wp);
            let b_new = own(g, uses, b, ni);
            g.tensors[b_new].shape = vec![wp.len()];
            g.tensors[b_new].data = Some(Data::F32(wp));
            g.nodes[ni].inputs[1] = b_new;
        }
        (Op::QMatMul { .. }, Some(Data::I8(bd))) => {
            // Per-channel weights carry no tensor quantization: zero point 0
            // (the writer's default).
            if bt.quant.is_some_and(|q| q.zero_point != 0) {
                return Ok(false);
            }
            let zp = g.tensors[a]
                .quant
                .ok_or_else(|| anyhow!("node '{name}': int8 input without quantization"))?
                .zero_point;
            let bias = *n
                .inputs
                .get(2)
                .ok_or_else(|| anyhow!("node '{name}': int8 MatMul without its bias"))?;
            let Some(Data::I32(bias_d)) = &g.tensors[bias].data else {
                bail!("node '{name}': int8 MatMul bias is not a constant i32 tensor");
            };
            let layout = Packing::of(isa, nc).ok_or_else(|| anyhow!("unknown packing {isa}"))?;
            let w = transpose(bd, k, nc);
            let mut wp = vec![0i8; layout.len(nc, k).ok_or_else(no_len)?];
            layout.pack(&w, nc, k, &mut wp);
            let mut bp = vec![0i32; nc];
            layout.bias(bias_d, &w, k, zp, &mut bp);
            let (b_new, bias_new) = (own(g, uses, b, ni), own(g, uses, bias, ni));
            g.tensors[b_new].shape = vec![wp.len()];
            g.tensors[b_new].data = Some(Data::I8(wp));
            g.tensors[bias_new].data = Some(Data::I32(bp));
            g.nodes[ni].inputs[1] = b_new;
            g.nodes[ni].inputs[2] = bias_new;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Quant, Window};

    fn qconv(g: &mut Graph, x: usize, w: usize, b: usize, rq: usize, groups: usize) -> usize {
        let out = g.add_tensor("y", vec![1, 4, 4, 3], None);
        g.tensors[out].dtype = ferrite::DType::I8;
        g.nodes.push(crate::ir::Node {
            name: format!("conv{}", g.nodes.len()),
            op: Op::QConv {
                window: Window {
                    kernel: [1, 1],
                    stride: [1, 1],
                    dilation: [1, 1],
                    pads: [0; 4],
                },
                groups,
                act_min: -128,
                act_max: 127,
            },
            inputs: vec![x, w, b, rq],
            output: out,
        });
        out
    }

    #[test]
    fn packs_dense_convs_folds_the_bias_and_keeps_shared_tensors() {
        let mut g = Graph::default();
        let x = g.add_tensor("x", vec![1, 4, 4, 2], None);
        g.tensors[x].dtype = ferrite::DType::I8;
        g.tensors[x].quant = Some(Quant {
            scale: 0.1,
            zero_point: -3,
        });
        let w = g.add_tensor(
            "w",
            vec![3, 1, 1, 2],
            Some(Data::I8(vec![1, 2, 3, 4, 5, -6])),
        );
        let b = g.add_tensor("b", vec![3], Some(Data::I32(vec![10, 20, 30])));
        let rq = g.add_tensor(
            "rq",
            vec![3, 2],
            Some(Data::I32(vec![1 << 30, 0, 1 << 30, 0, 1 << 30, 0])),
        );
        qconv(&mut g, x, w, b, rq, 1);
        qconv(&mut g, x, w, b, rq, 1);
        assert!(pack_weights(&mut g, ferrite::packing::ISA_NEON).unwrap());
        assert_eq!(g.packing, ferrite::packing::ISA_NEON);
        // `w` and `b` are shared, so each reader got packed copies and the
        // originals keep their layout.
        let (w0, b0) = (g.nodes[0].inputs[1], g.nodes[0].inputs[2]);
        assert_ne!(w0, w);
        assert_eq!(g.tensors[w0].shape, vec![8 * 16]);
        let Some(Data::I8(wp)) = &g.tensors[w0].data else {
            panic!()
        };
        assert_eq!(&wp[..2], &[1, 2]);
        assert_eq!(&wp[16..18], &[3, 4]);
        let Some(Data::I32(bp)) = &g.tensors[b0].data else {
            panic!()
        };
        // bias − (zp + 0)·Σw with zp = −3.
        assert_eq!(bp, &vec![10 + 3 * 3, 20 + 3 * 7, 30 - 3]);
        assert_eq!(g.tensors[w].shape, vec![3, 1, 1, 2]);
    }

    #[test]
    fn leaves_grouped_convs_alone() {
        let mut g = Graph::default();
        let x = g.add_tensor("x", vec![1, 4, 4, 3], None);
        g.tensors[x].quant = Some(Quant {
            scale: 0.1,
            zero_point: 0,
        });
        let w = g.add_tensor("w", vec![3, 1, 1, 1], Some(Data::I8(vec![1, 2, 3])));
        let b = g.add_tensor("b", vec![3], Some(Data::I32(vec![0; 3])));
        let rq = g.add_tensor("rq", vec![3, 2], Some(Data::I32(vec![0; 6])));
        qconv(&mut g, x, w, b, rq, 3);
        assert!(!pack_weights(&mut g, ferrite::packing::ISA_AVX512VNNI).unwrap());
        assert_eq!(g.packing, 0);
        assert_eq!(g.tensors[w].shape, vec![3, 1, 1, 1]);
    }

    #[test]
    fn packs_f32_dense_convs_with_constant_weights() {
        let mut g = Graph::default();
        let x = g.add_tensor("x", vec![1, 4, 4, 2], None);
        let w = g.add_tensor(
            "w",
            vec![3, 1, 1, 2],
            Some(Data::F32(vec![1., 2., 3., 4., 5., 6.])),
        );
        let dynamic_w = g.add_tensor("dw", vec![3, 1, 1, 2], None);
        let window = Window {
            kernel: [1, 1],
            stride: [1, 1],
            dilation: [1, 1],
            pads: [0; 4],
        };
        let conv = Op::Conv {
            window,
            groups: 1,
            act: ferrite::kernels::Act::None,
        };
        let y = crate::passes::testutil::node(&mut g, conv.clone(), vec![x, w], vec![1, 4, 4, 3]);
        let z = crate::passes::testutil::node(&mut g, conv, vec![x, dynamic_w], vec![1, 4, 4, 3]);
        g.outputs = vec![y, z];
        assert!(pack_weights(&mut g, ferrite::packing::ISA_NEON).unwrap());
        assert_eq!(g.packing, ferrite::packing::ISA_NEON);
        // `Packing::of_f32(neon, 3)`: NR 4, `[1][2][4]`.
        assert_eq!(g.nodes[0].inputs[1], w);
        assert_eq!(g.tensors[w].shape, vec![8]);
        let wp = g.tensors[w].const_f32().unwrap();
        assert_eq!(wp, [1., 3., 5., 0., 2., 4., 6., 0.]);
        // Weights computed at run time stay OHWI.
        assert_eq!(g.tensors[dynamic_w].shape, vec![3, 1, 1, 2]);
    }

    #[test]
    fn packs_constant_matmul_weights_and_folds_the_int8_bias() {
        let mut g = Graph::default();
        let a = g.add_tensor("a", vec![4, 2], None);
        // b [k = 2, n = 3].
        let b = g.add_tensor(
            "b",
            vec![1, 2, 3],
            Some(Data::F32(vec![1., 2., 3., 4., 5., 6.])),
        );
        let mm = Op::MatMul {
            act: ferrite::kernels::Act::None,
        };
        let y = crate::passes::testutil::node(&mut g, mm, vec![a, b], vec![4, 3]);
        let qa = g.add_tensor("qa", vec![4, 2], None);
        g.tensors[qa].quant = Some(Quant {
            scale: 0.5,
            zero_point: -3,
        });
        // Per-channel weights, as the quantizer writes them: no tensor
        // quantization (zero point 0).
        let qb = g.add_tensor("qb", vec![2, 3], Some(Data::I8(vec![1, 2, 3, 4, 5, 6])));
        let bias = g.add_tensor("bias", vec![3], Some(Data::I32(vec![100, 200, 300])));
        let rq = g.add_tensor("rq", vec![1, 2], Some(Data::I32(vec![1 << 30, 0])));
        let qmm = Op::QMatMul {
            act_min: -128,
            act_max: 127,
        };
        let z = crate::passes::testutil::node(&mut g, qmm, vec![qa, qb, bias, rq], vec![4, 3]);
        g.outputs = vec![y, z];
        assert!(pack_weights(&mut g, ferrite::packing::ISA_NEON).unwrap());
        // f32: `of_f32(neon, 3)` is NR 4: `[1][k = 2][4]`, column j of b.
        assert_eq!(g.tensors[b].shape, vec![8]);
        assert_eq!(
            g.tensors[b].const_f32().unwrap(),
            [1., 2., 3., 0., 4., 5., 6., 0.]
        );
        // int8: `of(neon, 3)` is NR 8, G 16, kp 16: channel j's steps at j·16.
        let Some(Data::I8(wp)) = &g.tensors[qb].data else {
            panic!("int8 b not packed");
        };
        assert_eq!(wp.len(), 8 * 16);
        assert_eq!(
            (&wp[..2], &wp[16..18], &wp[32..34]),
            (&[1, 4][..], &[2, 5][..], &[3, 6][..])
        );
        // bias − (zp_a + 0)·Σ_k b[k, j] = bias + 3·(5, 7, 9).
        let Some(Data::I32(bp)) = &g.tensors[bias].data else {
            panic!("bias not constant");
        };
        assert_eq!(bp, &vec![115, 221, 327]);
    }
}
