//! Every single-op model in `tests/data/ops/` (written by
//! `scripts/gen-op-models.py`) compiles, runs and matches tract.

use std::path::Path;

use ferrite_suite::{check_close, compile, random, run_fer, run_tract, Array};
use tract_onnx::prelude::*;

fn input_shapes(path: &Path) -> Vec<(String, Vec<usize>)> {
    let m = tract_onnx::onnx()
        .model_for_path(path)
        .expect("tract loads the op model");
    m.input_outlets()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let fact = m.input_fact(i).unwrap();
            let shape = fact
                .shape
                .as_concrete_finite()
                .unwrap()
                .expect("op models have static shapes")
                .to_vec();
            (m.node(o.node).name.clone(), shape)
        })
        .collect()
}

#[test]
fn every_op_model_matches_tract() {
    let dir = ferrite_suite::repo_root().join("tests/data/ops");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "onnx"));
    files.sort();
    assert!(
        files.len() >= 76,
        "expected the generated op models in {}",
        dir.display()
    );
    let mut failures = vec![];
    for (k, path) in files.iter().enumerate() {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let shapes = input_shapes(path);
        // Positive inputs where the op needs them (sqrt, pow, log) are made by the model itself.
        let inputs: Vec<Array> = shapes
            .iter()
            .enumerate()
            .map(|(i, (_, s))| random(s, (k * 7 + i) as u64, -2.0, 2.0))
            .collect();
        let res = (|| -> anyhow::Result<f32> {
            let fixed: Vec<(&str, &[usize])> = shapes
                .iter()
                .map(|(n, s)| (n.as_str(), s.as_slice()))
                .collect();
            let image = compile(path, &fixed)?;
            let named: Vec<(&str, &Array)> = shapes
                .iter()
                .map(|(n, _)| n.as_str())
                .zip(&inputs)
                .collect();
            let ours = run_fer(&image, &named)?;
            let reference = run_tract(path, &inputs.iter().collect::<Vec<_>>())?;
            Ok(check_close(&name, &ours, &reference, 1e-5)?
                .into_iter()
                .fold(0.0, f32::max))
        })();
        match res {
            Ok(r) => println!("{name:<40} ok  (max rel err {r:.1e})"),
            Err(e) => {
                println!("{name:<40} FAIL {e:#}");
                failures.push(format!("{name}: {e:#}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} op models failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
