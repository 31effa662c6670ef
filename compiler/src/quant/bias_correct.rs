//! Empirical bias correction (Nagel et al. 2019, "Data-Free Quantization
//! Through Weight Equalization and Bias Correction", §4.2), part of
//! `--equalize` and alone as `--bias-correct`.
//!
//! Rounding a layer's weights shifts the mean of each output channel
//! (`E[W̃x] - E[Wx] = (W̃ - W) E[x]`), and the shift is not noise that later
//! layers average away. Here it is measured rather than derived from batch
//! normalization statistics: every int8 conv and matmul runs on the
//! quantized `f32` reference of its inputs (its own error only, as for the
//! local SQNR), and the mean of `int8 - f32` per output channel, over the
//! samples and the positions where the reference is a few steps inside the
//! fused activation's clamp, is subtracted from the int32 bias. The bias unit
//! `s_in * s_w[c]` is recovered from the stored requantization as
//! `M[c] * s_out`, and only shifts measured on enough values and well
//! outside their standard error are corrected. With inputs pinned to the
//! reference, one layer's correction does not change another's
//! measurement, so all layers are corrected from one pass. (Measuring on
//! the int8 model's own accumulated inputs instead and correcting all
//! layers at once over-corrects: each layer also compensates the shifts
//! upstream that their own corrections remove, and iterating diverges.)

use std::collections::{HashMap, HashSet};

use anyhow::Result;

use super::report::{run_local, stand_ins};
use super::rewrite::QuantGraph;
use super::trace::Tracer;
use crate::ir::{Data, Graph, Op, TensorId};
use crate::npy::Array;

/// Output steps kept between a counted reference value and the clamp, so
/// that the int8 value is not clamped either. Choosing positions by the
/// int8 value as well would bias the mean (near the clamp only positive
/// errors would pass).
const MARGIN: i32 = 4;

/// Fewest counted values per channel for a correction.
const MIN_COUNT: u64 = 256;
/// A channel's mean shift is corrected only when it is this many standard
/// errors from zero: a shift measured on few values is mostly that
/// sample's noise, and correcting it moves the bias at random.
const SIGNIFICANT: f64 = 3.0;

/// One layer being corrected.
struct Layer {
    /// The `f32` tensor its output stands for.
    reference: TensorId,
    bias: TensorId,
    requant: TensorId,
    /// Reference values strictly between these are counted.
    lo: f32,
    hi: f32,
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
    count: Vec<u64>,
}

/// Corrects the biases of `qg`'s int8 convs and matmuls on `samples`;
/// returns how many layers changed.
pub fn correct(f32_graph: &Graph, qg: &mut QuantGraph, samples: &[Vec<Array>]) -> Result<usize> {
    if samples.is_empty() {
        return Ok(0);
    }
    let q = &qg.graph;
    let f_ids = f32_graph.ids_by_name();
    let twin: HashMap<&str, &str> = qg
        .twins
        .iter()
        .map(|(qn, fname, _)| (qn.as_str(), fname.as_str()))
        .collect();
    let mut layers: HashMap<TensorId, Layer> = HashMap::new();
    for n in &q.nodes {
        let (Op::QConv {
            act_min, act_max, ..
        }
        | Op::QMatMul { act_min, act_max }) = n.op
        else {
            continue;
        };
        let out = &q.tensors[n.output];
        let (Some(p), Some(&fname)) = (out.quant, twin.get(out.name.as_str())) else {
            continue;
        };
        let Some(&reference) = f_ids.get(fname) else {
            continue;
        };
        let (bias, requant) = (n.inputs[2], n.inputs[3]);
        let channels = q.tensors[bias].shape.first().copied().unwrap_or(0);
        layers.insert(
            n.output,
            Layer {
                reference,
                bias,
                requant,
                lo: p.scale * (act_min + MARGIN - p.zero_point) as f32,
                hi: p.scale * (act_max - MARGIN - p.zero_point) as f32,
                sum: vec![0.0; channels],
                sum_sq: vec![0.0; channels],
                count: vec![0; channels],
            },
        );
    }
    let stand_in = stand_ins(f32_graph, qg);
    let wanted: HashSet<TensorId> = layers
        .values()
        .map(|l| l.reference)
        .chain(stand_in.values().copied())
        .collect();
    let mut ft = Tracer::new(f32_graph)?;
    let mut qt = Tracer::new(&qg.graph)?;
    for s in samples {
        let mut reference: HashMap<TensorId, Vec<f32>> = HashMap::new();
        ft.run(s, |id, v| {
            if wanted.contains(&id) {
                reference.insert(id, v.to_vec());
            }
        })?;
        let reference = &reference;
        let visit = |id: TensorId, v: &[f32]| {
            let Some(l) = layers.get_mut(&id) else { return };
            let Some(r) = reference.get(&l.reference) else {
                return;
            };
            let channels = l.sum.len();
            if channels == 0 || r.len() != v.len() || !v.len().is_multiple_of(channels) {
                return;
            }
            for (i, (&qv, &fv)) in v.iter().zip(r).enumerate() {
                if fv > l.lo && fv < l.hi {
                    let e = (qv - fv) as f64;
                    l.sum[i % channels] += e;
                    l.sum_sq[i % channels] += e * e;
                    l.count[i % channels] += 1;
                }
            }
        };
        run_local(&mut qt, s, &stand_in, reference, visit)?;
    }
    Ok(apply(qg, &layers))
}

/// Subtracts each layer's measured mean shift from its bias; returns how
/// many layers changed.
fn apply(qg: &mut QuantGraph, layers: &HashMap<TensorId, Layer>) -> usize {
    let limit = (i32::MAX - 1) as f64;
    let mut changed = HashSet::new();
    for (&o, l) in layers {
        let Some(s_out) = qg.graph.tensors[o].quant.map(|q| q.scale) else {
            continue;
        };
        let Some(Data::I32(rq)) = qg.graph.tensors[l.requant].data.clone() else {
            continue;
        };
        let Some(Data::I32(bias)) = qg.graph.tensors[l.bias].data.as_mut() else {
            continue;
        };
        for (c, b) in bias.iter_mut().enumerate() {
            let Some(pair) = rq.get(2 * c..2 * c + 2).or_else(|| rq.get(0..2)) else {
                continue;
            };
            let n = l.count[c] as f64;
            if l.count[c] < MIN_COUNT {
                continue;
            }
            let mean = l.sum[c] / n;
            let sd = (l.sum_sq[c] / n - mean * mean).max(0.0).sqrt();
            if mean.abs() * n.sqrt() < SIGNIFICANT * sd {
                continue;
            }
            // M = mult / 2^31 * 2^shift; one bias unit is M * s_out.
            let m = pair[0] as f64 / 2f64.powi(31) * 2f64.powi(pair[1]);
            let unit = m * s_out as f64;
            if !(unit.is_finite() && unit > 0.0) {
                continue;
            }
            let delta = (mean / unit).round();
            if delta != 0.0 {
                *b = (*b as f64 - delta).clamp(-limit, limit) as i32;
                changed.insert(o);
            }
        }
    }
    changed.len()
}
