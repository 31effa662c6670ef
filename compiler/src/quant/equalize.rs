//! Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization
//! Through Weight Equalization and Bias Correction", §4.1), `--equalize`.
//!
//! For a convolution `A` whose output feeds only a convolution `B` (groups
//! 1), with nothing between them but an activation that commutes with a
//! positive per-channel scale (none, ReLU, leaky ReLU), output channel `c`
//! of `A` is divided by `s[c]` and input channel `c` of `B` multiplied by
//! it, with `s[c] = sqrt(r1[c] * r2[c]) / r2[c]` (`r1[c]` = max |weight| of
//! `A`'s channel `c`, `r2[c]` = max |weight| of `B`'s input channel `c`).
//! The float function is unchanged; both layers' per-channel weight ranges
//! become `sqrt(r1 * r2)`, which evens out `A`'s output channels for the
//! per-tensor activation quantization between them. Runs on the NHWC graph
//! (weights OHWI), before calibration.

use crate::ir::{Data, Graph, Op};
use ferrite::kernels::Act;

/// Equalizes every eligible conv pair; returns how many pairs were scaled.
pub fn equalize(g: &mut Graph) -> usize {
    let mut pairs = 0;
    for bi in 0..g.nodes.len() {
        let Op::Conv { groups: 1, .. } = g.nodes[bi].op else {
            continue;
        };
        let x = g.nodes[bi].inputs[0];
        let Some(ai) = g.producer(x) else { continue };
        let Op::Conv { act, .. } = g.nodes[ai].op else {
            continue;
        };
        if !matches!(
            act,
            Act::None | Act::LeakyRelu(_) | Act::Clamp(0.0, f32::INFINITY)
        ) || g.use_count(x) != 1
        {
            continue;
        }
        let (wa, wb) = (g.nodes[ai].inputs[1], g.nodes[bi].inputs[1]);
        let ba = g.nodes[ai].inputs.get(2).copied();
        if wa == wb || g.use_count(wa) != 1 || g.use_count(wb) != 1 {
            continue;
        }
        if ba.is_some_and(|b| g.use_count(b) != 1 || g.tensors[b].const_f32().is_none()) {
            continue;
        }
        let (Some(da), Some(db)) = (g.tensors[wa].const_f32(), g.tensors[wb].const_f32()) else {
            continue;
        };
        let c = g.tensors[wa].shape[0];
        let ic_b = *g.tensors[wb].shape.last().unwrap_or(&0);
        if c == 0 || ic_b != c || da.len() % c != 0 {
            continue;
        }
        let per_a = da.len() / c;
        let mut r1 = vec![0f32; c];
        let mut r2 = vec![0f32; c];
        for (i, v) in da.iter().enumerate() {
            r1[i / per_a] = r1[i / per_a].max(v.abs());
        }
        for (i, v) in db.iter().enumerate() {
            r2[i % c] = r2[i % c].max(v.abs());
        }
        let s: Vec<f32> = (0..c)
            .map(|k| {
                if r1[k] > 0.0 && r2[k] > 0.0 {
                    ((r1[k] as f64 * r2[k] as f64).sqrt() / r2[k] as f64) as f32
                } else {
                    1.0
                }
            })
            .collect();
        if s.iter().any(|v| !v.is_finite() || *v <= 0.0) {
            continue;
        }
        let new_a: Vec<f32> = da
            .iter()
            .enumerate()
            .map(|(i, v)| v / s[i / per_a])
            .collect();
        let new_b: Vec<f32> = db.iter().enumerate().map(|(i, v)| v * s[i % c]).collect();
        g.tensors[wa].data = Some(Data::F32(new_a));
        g.tensors[wb].data = Some(Data::F32(new_b));
        if let Some(b) = ba {
            if let Some(Data::F32(bd)) = g.tensors[b].data.as_mut() {
                for (v, k) in bd.iter_mut().zip(&s) {
                    *v /= k;
                }
            }
        }
        pairs += 1;
    }
    pairs
}
