//! int8 post-training quantization end to end: every single-op model and
//! the committed int8 sample against their f32 originals, and the real
//! models of the acceptance on their evaluation sets (`scripts/fetch-models`
//! writes the calibration and evaluation sets).

use std::path::Path;

use ferrite_compiler::compile::{build, optimized_graph};
use ferrite_compiler::import::ImportOptions;
use ferrite_compiler::quant::{self, Method, QuantOptions};
use ferrite_suite::quant_eval::{self, case, Sqnr};
use ferrite_suite::{random, repo_root, run_fer, Array};

/// Input shapes of an op model, from its ONNX graph inputs (via tract).
fn inputs_of(path: &Path) -> Vec<(String, Vec<usize>)> {
    let bytes = std::fs::read(path).unwrap();
    let g = optimized_graph(&bytes, "m", &ImportOptions::default()).unwrap();
    g.inputs
        .iter()
        .map(|&t| (g.tensors[t].name.clone(), g.tensors[t].shape.clone()))
        .collect()
}

/// Quantizes an op model on `n` pseudo-random samples in [-2, 2]; returns
/// the f32 and int8 images.
fn quantize_op_model(path: &Path, n: usize, method: Method) -> (Vec<u8>, Vec<u8>, usize) {
    let bytes = std::fs::read(path).unwrap();
    let g = optimized_graph(&bytes, "m", &ImportOptions::default()).unwrap();
    let ins = inputs_of(path);
    let samples: Vec<Vec<Array>> = (0..n)
        .map(|k| {
            ins.iter()
                .enumerate()
                .map(|(i, (_, s))| random(s, 1000 + 10 * k as u64 + i as u64, -2.0, 2.0))
                .collect()
        })
        .collect();
    let opts = QuantOptions {
        method,
        quantize_inputs: true,
        ..QuantOptions::default()
    };
    let q = quant::quantize(&g, &samples, &opts, &mut |_, _, _| {}).unwrap();
    let int8 = q.int8_nodes;
    let f32_image = build(g, "f32").unwrap().image;
    let int8_image = build(q.graph, "int8").unwrap().image;
    (f32_image, int8_image, int8)
}

/// Output SQNR (dB) of int8 vs f32 on fresh random inputs.
fn op_sqnr(path: &Path, f32_image: &[u8], int8_image: &[u8]) -> f64 {
    let ins = inputs_of(path);
    let mut e = Sqnr::default();
    for k in 0..4 {
        let arrays: Vec<Array> = ins
            .iter()
            .enumerate()
            .map(|(i, (_, s))| random(s, 7 + 10 * k + i as u64, -2.0, 2.0))
            .collect();
        let named: Vec<(&str, &Array)> = ins
            .iter()
            .zip(&arrays)
            .map(|((n, _), a)| (n.as_str(), a))
            .collect();
        let f = run_fer(f32_image, &named).unwrap();
        let q = run_fer(int8_image, &named).unwrap();
        e.add(&f[0], &q[0]);
    }
    e.db()
}

#[test]
fn every_op_model_quantizes() {
    let dir = repo_root().join("tests/data/ops");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    files.sort();
    let mut report = Vec::new();
    for p in &files {
        let (f, q, int8) = quantize_op_model(p, 4, Method::MinMax);
        let db = op_sqnr(p, &f, &q);
        report.push((
            p.file_stem().unwrap().to_string_lossy().to_string(),
            int8,
            db,
        ));
    }
    for (name, int8, db) in &report {
        println!("{name:40} int8 nodes {int8:3}  output SQNR {db:6.1} dB");
    }
    // Every model with an int8 op keeps at least 20 dB (8-bit min-max
    // quantization of one op gives about 40; matmul over a 64-long dot
    // product with random operands is the lowest, about 21).
    let bad: Vec<_> = report.iter().filter(|r| r.1 > 0 && r.2 < 20.0).collect();
    assert!(bad.is_empty(), "int8 output SQNR below 20 dB: {bad:?}");
    assert!(
        report.iter().filter(|r| r.1 > 0).count() >= 60,
        "{report:?}"
    );
}

fn sample_path() -> std::path::PathBuf {
    repo_root().join("tests/data/sample_int8.fer")
}

/// The committed int8 sample (`tests/data/sample_int8.fer`, run by
/// `runtime/tests/samples.rs` natively, under QEMU and under Miri) is what
/// the compiler makes of `tests/data/ops/int8_net.onnx` calibrated on 8
/// fixed pseudo-random inputs. `FERRITE_BLESS=1` rewrites it.
#[test]
fn int8_sample_is_reproducible() {
    let (_, image, int8) = quantize_op_model(
        &repo_root().join("tests/data/ops/int8_net.onnx"),
        8,
        Method::Percentile(99.99),
    );
    assert!(int8 >= 20, "{int8} int8 nodes");
    if std::env::var_os("FERRITE_BLESS").is_some() {
        std::fs::write(sample_path(), &image).unwrap();
    }
    let committed = std::fs::read(sample_path()).expect("run with FERRITE_BLESS=1 once");
    assert!(
        committed == image,
        "tests/data/sample_int8.fer is stale: the compiler now writes {} bytes (committed {}); \
         rerun with FERRITE_BLESS=1 and update the digest in runtime/tests/samples.rs",
        image.len(),
        committed.len()
    );
}

/// Quantizes a real model (percentile 99.99, the default, on the first
/// `calib` calibration samples) and evaluates it on its evaluation set.
fn real(name: &str, calib: usize) -> quant_eval::Accuracy {
    let c = case(name);
    let pair = quant_eval::quantize_with(c, Method::Percentile(99.99), Some(calib)).unwrap();
    let acc = quant_eval::evaluate(c, &pair).unwrap();
    println!(
        "{name}: {} int8 / {} f32 nodes, {} of {} agree, output SQNR {:?} dB, {} bytes",
        pair.quantized_nodes.0,
        pair.quantized_nodes.1,
        acc.agree,
        acc.rows,
        acc.sqnr_db,
        pair.int8_image.len()
    );
    acc
}

/// PP-OCR 0/180 classifier: the int8 model takes the f32 model's decision
/// on every one of the 240 rendered text crops (both orientations).
#[test]
fn cls_int8_keeps_every_decision() {
    let acc = real("cls", 32);
    assert!(acc.rows >= 200);
    assert_eq!(acc.agree, acc.rows);
    assert!(acc.sqnr_db[0] > 30.0, "{acc:?}");
}

// The three tests below pin what int8 post-training quantization reaches on
// these models today, as regression floors. They are below the issue's
// acceptance (rec: every string; BlazeFace >= 30 dB; det >= 25 dB), which
// per-tensor int8 PTQ does not reach here; ONNX Runtime's quantize_static on
// the same data does worse (doc/quantization.md).

/// PP-OCRv4 recognizer: CTC-decoded strings equal to f32 on most lines.
#[test]
fn rec_int8_decodes_most_strings() {
    let acc = real("rec", 16);
    assert!(acc.rows >= 50);
    assert!(acc.agree * 4 >= acc.rows * 3, "{acc:?}");
}

/// BlazeFace: output SQNR of regressors and classificators.
#[test]
fn face_int8_output_sqnr() {
    let acc = real("face", 16);
    assert!(acc.rows >= 50);
    assert!(acc.sqnr_db[0] > 14.0 && acc.sqnr_db[1] > 8.0, "{acc:?}");
}

/// PP-OCRv4 detector: probability map SQNR.
#[test]
fn det_int8_probability_map_sqnr() {
    let acc = real("det", 8);
    assert!(acc.sqnr_db[0] > 4.0, "{acc:?}");
}
