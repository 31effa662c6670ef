//! int8 accuracy on the real models: calibrate on `inputs/calib/<model>`,
//! evaluate on `inputs/eval/<model>.npy` (sets written by
//! `scripts/make-inputs.py`), comparing the int8 model with the `f32` one
//! the way each model is used (used by `tests/quant.rs` and
//! `examples/quant_accuracy.rs`).

use std::time::Instant;

use anyhow::{anyhow, Result};
use ferrite_compiler::compile::{build, optimized_graph};
use ferrite_compiler::exec;
use ferrite_compiler::import::ImportOptions;
use ferrite_compiler::npy::{self, Array};
use ferrite_compiler::quant::{self, dataset, Method, QuantOptions};

use crate::fetched;

/// One real model with its calibration and evaluation sets.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// Short name (`cls`, `rec`, `det`, `face`), also the set directory name.
    pub name: &'static str,
    /// Model path under the cache.
    pub model: &'static str,
    /// Input name.
    pub input: &'static str,
    /// Input shape.
    pub shape: &'static [usize],
}

/// The four models of the acceptance.
pub const CASES: [Case; 4] = [
    Case {
        name: "cls",
        model: "models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        input: "x",
        shape: &[1, 3, 48, 192],
    },
    Case {
        name: "rec",
        model: "models/ch_PP-OCRv4_rec_infer.onnx",
        input: "x",
        shape: &[1, 3, 48, 320],
    },
    Case {
        name: "det",
        model: "models/ch_PP-OCRv4_det_infer.onnx",
        input: "x",
        shape: &[1, 3, 320, 480],
    },
    Case {
        name: "face",
        model: "models/face_detection_short_range.onnx",
        input: "input",
        shape: &[1, 3, 128, 128],
    },
];

/// The case called `name`.
pub fn case(name: &str) -> Case {
    CASES
        .iter()
        .copied()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

/// A quantized model next to its `f32` original.
pub struct Pair {
    /// The `f32` `.fer` image.
    pub f32_image: Vec<u8>,
    /// The int8 `.fer` image.
    pub int8_image: Vec<u8>,
    /// The int8 graph it was written from.
    pub int8_graph: ferrite_compiler::ir::Graph,
    /// The quantizer's output.
    pub quantized_nodes: (usize, usize),
    /// Seconds spent calibrating and quantizing.
    pub seconds: f64,
    /// The `--report` document.
    pub report: serde_json::Value,
}

/// Quantizes a case with `method` on at most `calib_limit` samples.
pub fn quantize(c: Case, opts: &QuantOptions, calib_limit: Option<usize>) -> Result<Pair> {
    let path = fetched(c.model);
    let bytes = std::fs::read(&path)?;
    let iopts = ImportOptions {
        input_shapes: vec![(c.input.to_string(), c.shape.to_vec())],
    };
    let g = optimized_graph(&bytes, c.name, &iopts)?;
    let f32_image = build(g.clone(), c.name)?.image;
    let dir = fetched(&format!("inputs/calib/{}", c.name));
    let samples = dataset::load_dir(
        &dir,
        &[(c.input.to_string(), c.shape.to_vec())],
        None,
        calib_limit,
    )?;
    let t0 = Instant::now();
    let q = quant::quantize(&g, &samples, opts, &mut |_, _, _| {})?;
    let quantized_nodes = (q.int8_nodes, q.f32_nodes);
    let report = q.report;
    let int8_graph = q.graph.clone();
    let int8_image = build(q.graph, c.name)?.image;
    Ok(Pair {
        f32_image,
        int8_image,
        int8_graph,
        quantized_nodes,
        seconds: t0.elapsed().as_secs_f64(),
        report,
    })
}

/// Quantizes with only the method set.
pub fn quantize_with(c: Case, method: Method, calib_limit: Option<usize>) -> Result<Pair> {
    let opts = QuantOptions {
        method,
        ..QuantOptions::default()
    };
    quantize(c, &opts, calib_limit)
}

/// The rows of `inputs/eval/<name>.npy`, each as a batch-1 array.
pub fn eval_rows(c: Case) -> Result<Vec<Array>> {
    let all = npy::read(&fetched(&format!("inputs/eval/{}.npy", c.name)))?;
    let per: usize = c.shape.iter().product();
    if all.data.len() % per != 0 || all.shape[1..] != c.shape[1..] {
        return Err(anyhow!("eval set {} has shape {:?}", c.name, all.shape));
    }
    Ok(all
        .data
        .chunks(per)
        .map(|d| Array {
            shape: c.shape.to_vec(),
            data: d.to_vec(),
        })
        .collect())
}

/// Runs an image on one input; all outputs.
pub fn run(image: &[u8], c: Case, x: &Array) -> Result<Vec<Array>> {
    let r = exec::run(image, c.name, &[(Some(c.input.to_string()), x.clone())], 1)?;
    Ok(r.outputs.into_iter().map(|(_, a)| a).collect())
}

/// Index of the largest value (first on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// CTC greedy decoding of `[1, T, C]` probabilities: per-step argmax,
/// repeats collapsed, blank (class 0) dropped.
pub fn ctc_decode(p: &Array) -> Vec<usize> {
    let c = *p.shape.last().unwrap_or(&1);
    let mut out = Vec::new();
    let mut prev = 0;
    for step in p.data.chunks(c) {
        let k = argmax(step);
        if k != 0 && k != prev {
            out.push(k);
        }
        prev = k;
    }
    out
}

/// Signal and noise energy of `q` against reference `f`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sqnr {
    /// `sum f^2`.
    pub signal: f64,
    /// `sum (f - q)^2`.
    pub noise: f64,
}

impl Sqnr {
    /// Accumulates one pair of arrays.
    pub fn add(&mut self, f: &Array, q: &Array) {
        for (&a, &b) in f.data.iter().zip(&q.data) {
            self.signal += (a as f64).powi(2);
            self.noise += (a as f64 - b as f64).powi(2);
        }
    }

    /// In dB.
    pub fn db(&self) -> f64 {
        10.0 * (self.signal / self.noise.max(f64::MIN_POSITIVE)).log10()
    }
}

/// The accuracy of one quantized case on its evaluation set.
#[derive(Clone, Debug)]
pub struct Accuracy {
    /// Rows evaluated.
    pub rows: usize,
    /// cls: same decision; rec: same decoded string (count of rows).
    pub agree: usize,
    /// SQNR in dB of each output over all rows.
    pub sqnr_db: Vec<f64>,
}

/// Evaluates a pair on the case's evaluation set.
pub fn evaluate(c: Case, pair: &Pair) -> Result<Accuracy> {
    let rows = eval_rows(c)?;
    let mut agree = 0;
    let mut sq: Vec<Sqnr> = Vec::new();
    for x in &rows {
        let f = run(&pair.f32_image, c, x)?;
        let q = run(&pair.int8_image, c, x)?;
        sq.resize(f.len(), Sqnr::default());
        for (k, (a, b)) in f.iter().zip(&q).enumerate() {
            sq[k].add(a, b);
        }
        let same = match c.name {
            "cls" => argmax(&f[0].data) == argmax(&q[0].data),
            "rec" => ctc_decode(&f[0]) == ctc_decode(&q[0]),
            _ => true,
        };
        agree += same as usize;
    }
    Ok(Accuracy {
        rows: rows.len(),
        agree,
        sqnr_db: sq.iter().map(Sqnr::db).collect(),
    })
}
