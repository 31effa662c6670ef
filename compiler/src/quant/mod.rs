//! int8 post-training quantization (`ferrite compile --quantize int8`).
//!
//! Pipeline: [`unfuse`] non-clamp activations; [`calibrate`] the `f32`
//! graph on the samples (min/max, then histograms); choose each
//! activation's [`range`]; [`rewrite`] into a mixed-precision graph;
//! [`report`] per-layer accuracy, and with `max_layer_drop` move the
//! layers whose own (local) error exceeds the bound back to `f32`;
//! optionally [`equalize`] before calibration and [`bias_correct`] after
//! the rewrite.
//! The arithmetic is `doc/quantization.md`.

pub mod bias_correct;
pub mod calibrate;
pub mod dataset;
pub mod equalize;
pub mod io;
pub mod range;
pub mod report;
pub mod rewrite;
pub mod trace;
pub mod unfuse;

use std::collections::{HashMap, HashSet};

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::ir::{Graph, Op};
use crate::npy::Array;
pub use range::Method;

/// Options of `--quantize int8`.
#[derive(Clone, Debug)]
pub struct QuantOptions {
    /// Range selection.
    pub method: Method,
    /// Node names kept in `f32` (`--keep-float`).
    pub keep_float: Vec<String>,
    /// `--max-layer-drop DB`: layers whose own quantization error is larger
    /// than this, measured as their local SQNR in dB (the layer run in int8
    /// on the quantized `f32` reference inputs, against its `f32` output),
    /// fall back to `f32`.
    pub max_layer_drop: Option<f64>,
    /// Quantize the graph inputs up front, so that data movement and lookup
    /// ops right after them run int8 too (by default they follow their
    /// input's precision).
    pub quantize_inputs: bool,
    /// Cross-layer equalization of conv pairs before calibration (`--equalize`).
    pub equalize: bool,
    /// Empirical bias correction of the int8 convs and matmuls after the
    /// rewrite (`--bias-correct`; `--equalize` turns it on too).
    pub bias_correct: bool,
}

impl Default for QuantOptions {
    fn default() -> Self {
        QuantOptions {
            method: Method::Percentile(99.99),
            keep_float: Vec::new(),
            max_layer_drop: None,
            quantize_inputs: false,
            equalize: false,
            bias_correct: false,
        }
    }
}

/// A quantized graph and its accuracy report.
pub struct Quantized {
    /// The mixed-precision graph, runtime-ready.
    pub graph: Graph,
    /// The `--report` document.
    pub report: Value,
    /// Per graph output: `(name, SQNR in dB vs f32)` on the samples.
    pub output_sqnr: Vec<(String, f64)>,
    /// Nodes that run in int8 / stay `f32`.
    pub int8_nodes: usize,
    /// See [`Quantized::int8_nodes`].
    pub f32_nodes: usize,
}

/// Calibration samples the `--max-layer-drop` search measures on.
const PROBE_SAMPLES: usize = 4;
/// Fallback rounds of the `--max-layer-drop` search.
const MAX_ROUNDS: usize = 3;

/// Progress callbacks: `(stage, done, total)`.
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

/// Quantizes an optimized, runtime-ready `f32` graph with calibration
/// `samples` (each a list of arrays in graph-input order).
pub fn quantize(
    g: &Graph,
    samples: &[Vec<Array>],
    opts: &QuantOptions,
    progress: Progress<'_>,
) -> Result<Quantized> {
    let mut f = g.clone();
    let fixed = absorb_fake_quant(&mut f)?;
    if samples.is_empty() && fixed.is_empty() {
        bail!("no calibration samples");
    }
    unfuse::unfuse_activations(&mut f);
    let equalized = if opts.equalize {
        equalize::equalize(&mut f)
    } else {
        0
    };
    let names: HashSet<&str> = f.nodes.iter().map(|n| n.name.as_str()).collect();
    let unknown: Vec<&str> = opts
        .keep_float
        .iter()
        .map(String::as_str)
        .filter(|n| !names.contains(n))
        .collect();
    if !unknown.is_empty() {
        let mut known: Vec<&str> = names.into_iter().collect();
        known.sort_unstable();
        known.truncate(12);
        bail!(
            "--keep-float names unknown node(s): {}; nodes are e.g. {}",
            unknown.join(", "),
            known.join(", ")
        );
    }
    let passes = if opts.method.needs_histogram() { 2 } else { 1 };
    let total = passes * samples.len();
    let mut done = 0;
    let stats = calibrate::collect(&f, samples, opts.method.needs_histogram(), || {
        done += 1;
        progress("calibrating", done, total);
    })?;
    let ranges: Vec<Option<(f32, f32)>> = stats
        .iter()
        .map(|s| s.as_ref().map(|s| range::choose(s, opts.method)))
        .collect();
    let mut keep: HashSet<String> = opts.keep_float.iter().cloned().collect();
    let mut fallbacks = Vec::new();
    // The fallback search measures on a few samples; the report on all.
    let probe = &samples[..samples.len().min(PROBE_SAMPLES)];
    let mut searching = opts.max_layer_drop.is_some();
    let mut rounds = 0;
    let mut corrected = 0;
    loop {
        let mut qg = rewrite::rewrite(&f, &ranges, &keep, opts.quantize_inputs, &fixed)?;
        rewrite::check_dtypes(&qg.graph)?;
        if !searching && opts.bias_correct {
            progress("correcting biases", 0, 1);
            corrected = bias_correct::correct(&f, &mut qg, samples)?;
        }
        let set = if searching { probe } else { samples };
        progress(
            if searching { "searching" } else { "measuring" },
            fallbacks.len(),
            f.nodes.len(),
        );
        let m = report::measure(&f, &qg, set)?;
        if let (true, Some(bound)) = (searching, opts.max_layer_drop) {
            // Layers whose own error (local SQNR: inputs replaced by the
            // quantized f32 reference) is below the bound go back to f32.
            // Moving one changes its neighbours' inputs little, so a few
            // rounds settle it.
            let culprits: Vec<String> = qg
                .graph
                .nodes
                .iter()
                .filter(|n| {
                    is_compute(&n.op)
                        && !keep.contains(&n.name)
                        && m.local.get(&n.name).is_some_and(|e| e.sqnr_db() < bound)
                })
                .map(|n| n.name.clone())
                .collect();
            rounds += 1;
            if culprits.is_empty() || rounds > MAX_ROUNDS {
                searching = false;
            }
            for n in culprits {
                keep.insert(n.clone());
                fallbacks.push(n);
            }
            continue;
        }
        let layer_ranges: HashMap<String, (f32, f32)> = f
            .nodes
            .iter()
            .filter_map(|n| ranges[n.output].map(|r| (n.name.clone(), r)))
            .collect();
        let header = json!({
            "format": "ferrite-quant-report-1",
            "method": opts.method.to_string(),
            "samples": samples.len(),
            "max_layer_drop_db": opts.max_layer_drop,
            "keep_float": opts.keep_float,
            "rounding": "tflite-double",
            "equalized_pairs": equalized,
            "bias_corrected_layers": opts.bias_correct.then_some(corrected),
        });
        const FALLBACK: &str = "below the --max-layer-drop SQNR bound in int8";
        for d in qg
            .decisions
            .iter_mut()
            .filter(|d| fallbacks.contains(&d.node))
        {
            d.reason = Some(FALLBACK.into());
            let key = format!("f32 {}", d.output);
            if let Some(note) = qg.graph.notes.iter_mut().find(|(k, _)| *k == key) {
                note.1 = FALLBACK.into();
            }
        }
        let doc = report::to_json(&qg, &m, &layer_ranges, header, &fallbacks);
        let int8_nodes = qg.decisions.iter().filter(|d| d.int8).count();
        let mut graph = qg.graph;
        graph
            .notes
            .push(("quant.method".into(), opts.method.to_string()));
        graph
            .notes
            .push(("quant.samples".into(), samples.len().to_string()));
        return Ok(Quantized {
            graph,
            report: doc,
            output_sqnr: m
                .outputs
                .iter()
                .map(|(n, e)| (n.clone(), e.sqnr_db()))
                .collect(),
            int8_nodes,
            f32_nodes: qg.decisions.len() - int8_nodes,
        });
    }
}

/// Removes the imported QDQ pairs ([`Op::FakeQuant`]) from the `f32` graph
/// and returns their parameters by tensor: the quantized model uses them
/// instead of calibrated ranges. A pair on a graph output becomes a copy
/// (the output keeps its name).
fn absorb_fake_quant(g: &mut Graph) -> Result<HashMap<crate::ir::TensorId, crate::ir::Quant>> {
    let mut by_name = Vec::new();
    let mut i = 0;
    while i < g.nodes.len() {
        let Op::FakeQuant(q) = g.nodes[i].op else {
            i += 1;
            continue;
        };
        let (x, y) = (g.nodes[i].inputs[0], g.nodes[i].output);
        by_name.push((g.tensors[x].name.clone(), q));
        if g.outputs.contains(&y) {
            g.nodes[i].op = Op::Reshape;
            i += 1;
        } else {
            g.replace_uses(y, x);
            g.nodes.remove(i);
        }
    }
    crate::passes::remove_dead(g)?;
    // remove_dead renumbers tensors: look the survivors up by name.
    let ids = g.ids_by_name();
    let mut fixed: HashMap<crate::ir::TensorId, crate::ir::Quant> = by_name
        .into_iter()
        .filter_map(|(n, q)| ids.get(n.as_str()).map(|&i| (i, q)))
        .collect();
    // Data movement keeps the values, so its output has its input's
    // parameters (a layout transpose between a quantized graph input and
    // the first conv, for one).
    for n in &g.nodes {
        if matches!(n.op, Op::Transpose(_) | Op::Reshape) && !fixed.contains_key(&n.output) {
            if let Some(&q) = n.inputs.first().and_then(|x| fixed.get(x)) {
                fixed.insert(n.output, q);
            }
        }
    }
    Ok(fixed)
}

/// int8 ops that compute (as opposed to moving values around).
fn is_compute(op: &Op) -> bool {
    matches!(
        op,
        Op::QConv { .. }
            | Op::QMatMul { .. }
            | Op::QAdd(_)
            | Op::QMul(_)
            | Op::QMean { .. }
            | Op::QSoftmax { .. }
            | Op::QConcat { .. }
            | Op::Lut
    )
}
