//! Accuracy of a quantized graph against its `f32` original on the
//! calibration samples: per-layer SQNR, clipping, ranges and bias headroom
//! (`--report`), and the output SQNR.

use std::collections::HashMap;

use anyhow::Result;
use serde_json::{json, Value};

use super::rewrite::QuantGraph;
use super::trace::Tracer;
use crate::ir::{Graph, TensorId};
use crate::npy::Array;

/// Signal and noise energy of one tensor, summed over samples.
#[derive(Clone, Copy, Debug, Default)]
pub struct Energy {
    /// `sum f^2` of the `f32` reference.
    pub signal: f64,
    /// `sum (f - q)^2`.
    pub noise: f64,
    /// Reference values outside the int8 tensor's representable range.
    pub clipped: u64,
    /// Values compared.
    pub count: u64,
}

impl Energy {
    /// Signal-to-quantization-noise ratio in dB (`inf` when exact).
    pub fn sqnr_db(&self) -> f64 {
        if self.noise == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (self.signal / self.noise).log10()
        }
    }

    /// Fraction of reference values outside the representable range.
    pub fn clip_fraction(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.clipped as f64 / self.count as f64
        }
    }

    fn add(&mut self, f: &[f32], q: &[f32], range: Option<(f32, f32)>) {
        for (&a, &b) in f.iter().zip(q) {
            if !a.is_finite() {
                continue;
            }
            self.signal += (a as f64).powi(2);
            self.noise += (a as f64 - b as f64).powi(2);
            if let Some((lo, hi)) = range {
                self.clipped += (a < lo || a > hi) as u64;
            }
            self.count += 1;
        }
    }
}

/// Per-layer (int8 node output) and per-graph-output energies.
pub struct Measured {
    /// Keyed by the producing node's name: the error accumulated from the
    /// graph input.
    pub layers: HashMap<String, Energy>,
    /// The same with every int8 input of every op replaced by the quantized
    /// `f32` reference before the op runs: each layer's own error.
    pub local: HashMap<String, Energy>,
    /// Graph outputs, in order: `(name, energy)`.
    pub outputs: Vec<(String, Energy)>,
}

/// Runs `f32` and the quantized graph on every sample and compares each
/// int8 node's output (dequantized) and each graph output with the `f32`
/// values of the same tensor.
pub fn measure(f32_graph: &Graph, qg: &QuantGraph, samples: &[Vec<Array>]) -> Result<Measured> {
    let q = &qg.graph;
    // f32 tensor name -> (layer node, int8 tensor id in q)
    let by_name = f32_graph.ids_by_name();
    let q_ids = q.ids_by_name();
    // int8 tensor id in q -> (f32 tensor id, layer name)
    let mut watch: HashMap<usize, (usize, &str)> = HashMap::new();
    for (qname, fname, node) in &qg.twins {
        if let (Some(&qi), Some(&fi)) = (q_ids.get(qname.as_str()), by_name.get(fname.as_str())) {
            watch.insert(qi, (fi, node.as_str()));
        }
    }
    let out_pairs: Vec<(usize, usize)> = f32_graph
        .outputs
        .iter()
        .zip(&q.outputs)
        .map(|(&a, &b)| (a, b))
        .collect();
    let stand_in = stand_ins(f32_graph, qg);
    // f32 tensors whose reference values the comparisons need.
    let wanted: std::collections::HashSet<usize> = watch
        .values()
        .map(|&(f, _)| f)
        .chain(stand_in.values().copied())
        .collect();
    let mut ft = Tracer::new(f32_graph)?;
    let mut qt = Tracer::new(q)?;
    let mut layers: HashMap<String, Energy> = HashMap::new();
    let mut local: HashMap<String, Energy> = HashMap::new();
    let mut outputs: Vec<Energy> = vec![Energy::default(); out_pairs.len()];
    for s in samples {
        let mut reference: HashMap<usize, Vec<f32>> = HashMap::new();
        ft.run(s, |id, v| {
            if wanted.contains(&id) || out_pairs.iter().any(|p| p.0 == id) {
                reference.insert(id, v.to_vec());
            }
        })?;
        qt.run(s, |id, v| {
            if let Some(&(fi, node)) = watch.get(&id) {
                if let Some(r) = reference.get(&fi) {
                    let t = &q.tensors[id];
                    let range = t.quant.map(|p| {
                        (
                            p.scale * (-128 - p.zero_point) as f32,
                            p.scale * (127 - p.zero_point) as f32,
                        )
                    });
                    layers.entry(node.to_string()).or_default().add(r, v, range);
                }
            }
            for (k, &(fo, qo)) in out_pairs.iter().enumerate() {
                if qo == id {
                    if let Some(r) = reference.get(&fo) {
                        outputs[k].add(r, v, None);
                    }
                }
            }
        })?;
        run_local(&mut qt, s, &stand_in, &reference, |id, v| {
            if let Some(&(fi, node)) = watch.get(&id) {
                if let Some(r) = reference.get(&fi) {
                    local.entry(node.to_string()).or_default().add(r, v, None);
                }
            }
        })?;
    }
    Ok(Measured {
        layers,
        local,
        outputs: out_pairs
            .iter()
            .zip(outputs)
            .map(|(&(fo, _), e)| (f32_graph.tensors[fo].name.clone(), e))
            .collect(),
    })
}

/// Every int8 activation of `qg` that stands for an `f32` tensor of
/// `f32_graph` (also those made by Quantize nodes): int8 id -> `f32` id.
pub(super) fn stand_ins(f32_graph: &Graph, qg: &QuantGraph) -> HashMap<TensorId, TensorId> {
    let by_name = f32_graph.ids_by_name();
    let q_ids = qg.graph.ids_by_name();
    qg.all_twins
        .iter()
        .filter_map(|(qname, fname)| {
            Some((*q_ids.get(qname.as_str())?, *by_name.get(fname.as_str())?))
        })
        .collect()
}

/// Runs the quantized graph on one sample with every int8 input of every
/// op replaced, right before the op, by the quantized `f32` reference of
/// the tensor it stands for (`stand_in`, values in `reference`), so that
/// each op's output shows its own error only.
pub(super) fn run_local(
    qt: &mut Tracer,
    sample: &[Array],
    stand_in: &HashMap<TensorId, TensorId>,
    reference: &HashMap<TensorId, Vec<f32>>,
    visit: impl FnMut(TensorId, &[f32]),
) -> Result<()> {
    qt.run_with(
        sample,
        |ins, interp| {
            for &t in ins {
                let Some(vals) = stand_in.get(&t).and_then(|fi| reference.get(fi)) else {
                    continue;
                };
                if let Ok(mut tm) = interp.tensor_mut(t) {
                    let (scale, zp) = (tm.info.scale, tm.info.zero_point);
                    let bytes = tm.bytes_mut();
                    if bytes.len() == vals.len() {
                        for (b, &v) in bytes.iter_mut().zip(vals) {
                            *b = ferrite::quant::quantize(v, scale, zp) as u8;
                        }
                    }
                }
            }
        },
        visit,
    )
}

fn db(v: f64) -> Value {
    if v.is_finite() {
        json!((v * 100.0).round() / 100.0)
    } else {
        Value::Null
    }
}

/// The `--report` JSON document.
pub fn to_json(
    qg: &QuantGraph,
    m: &Measured,
    ranges: &HashMap<String, (f32, f32)>,
    header: Value,
    fallbacks: &[String],
) -> Value {
    let q = &qg.graph;
    let twin_of: HashMap<&str, &str> = qg
        .twins
        .iter()
        .map(|(qn, _, node)| (node.as_str(), qn.as_str()))
        .collect();
    let layers: Vec<Value> = qg
        .decisions
        .iter()
        .map(|d| {
            let mut v = json!({
                "node": d.node,
                "op": d.op,
                "precision": if d.int8 { "int8" } else { "f32" },
            });
            if let Some(r) = &d.reason {
                v["reason"] = json!(r);
            }
            if let Some(&(lo, hi)) = ranges.get(&d.node) {
                v["range"] = json!([lo, hi]);
            }
            if let Some(t) = twin_of
                .get(d.node.as_str())
                .and_then(|n| q.tensors.iter().find(|t| t.name == *n))
            {
                if let Some(p) = t.quant {
                    v["scale"] = json!(p.scale);
                    v["zero_point"] = json!(p.zero_point);
                }
            }
            if let Some(e) = m.layers.get(&d.node) {
                v["sqnr_db"] = db(e.sqnr_db());
                v["clip_fraction"] = json!(e.clip_fraction());
            }
            if let Some(e) = m.local.get(&d.node) {
                v["local_sqnr_db"] = db(e.sqnr_db());
            }
            if let Some((max_b, adjusted)) = d.bias {
                v["bias_max_abs"] = json!(max_b);
                let used = if max_b > 0 {
                    (max_b as f64).log2()
                } else {
                    0.0
                };
                v["bias_headroom_bits"] = json!(((31.0 - used) * 100.0).round() / 100.0);
                v["bias_adjusted_channels"] = json!(adjusted);
            }
            v
        })
        .collect();
    let int8 = qg.decisions.iter().filter(|d| d.int8).count();
    let worst = m
        .layers
        .iter()
        .map(|(n, e)| (e.sqnr_db(), n))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    let mut doc = header;
    doc["summary"] = json!({
        "nodes": qg.decisions.len(),
        "int8_nodes": int8,
        "f32_nodes": qg.decisions.len() - int8,
        "worst_layer": worst.map(|(s, n)| json!({"node": n, "sqnr_db": db(s)})),
        "fallbacks": fallbacks,
    });
    doc["outputs"] = Value::Array(
        m.outputs
            .iter()
            .map(|(n, e)| json!({"name": n, "sqnr_db": db(e.sqnr_db())}))
            .collect(),
    );
    doc["layers"] = Value::Array(layers);
    doc
}
