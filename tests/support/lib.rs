//! Shared helpers for the integration tests, benches and examples: where the
//! fetched models live, the tract reference, and the comparison rule.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use ferrite_compiler::compile::compile_bytes;
use ferrite_compiler::exec;
use ferrite_compiler::import::ImportOptions;
pub use ferrite_compiler::npy::Array;
use ferrite_compiler::reference::TractModel;

pub mod conformance;
pub mod quant_eval;

/// The cache that `scripts/fetch-models` fills (`$FERRITE_CACHE`, default `~/.cache/ferrite`).
pub fn cache_dir() -> PathBuf {
    if let Ok(d) = std::env::var("FERRITE_CACHE") {
        return PathBuf::from(d);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    Path::new(&home).join(".cache/ferrite")
}

/// A fetched file under the cache; panics with the fix when it is missing.
pub fn fetched(rel: &str) -> PathBuf {
    let p = cache_dir().join(rel);
    assert!(
        p.exists(),
        "{} is missing: run scripts/fetch-models first",
        p.display()
    );
    p
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compiles an ONNX file with fixed input shapes.
pub fn compile(path: &Path, shapes: &[(&str, &[usize])]) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let opts = ImportOptions {
        input_shapes: shapes
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_vec()))
            .collect(),
    };
    Ok(compile_bytes(&bytes, &path.display().to_string(), &opts)?.image)
}

/// Runs a `.fer` image on named inputs; returns the outputs in model order.
pub fn run_fer(image: &[u8], inputs: &[(&str, &Array)]) -> Result<Vec<Array>> {
    let ins: Vec<(Option<String>, Array)> = inputs
        .iter()
        .map(|(n, a)| (Some(n.to_string()), (*a).clone()))
        .collect();
    Ok(exec::run(image, "test model", &ins, 1)?
        .outputs
        .into_iter()
        .map(|(_, a)| a)
        .collect())
}

/// Runs the ONNX model in tract (optimized plan: tract's own kernels) on the
/// same inputs, given in model input order.
pub fn run_tract(path: &Path, inputs: &[&Array]) -> Result<Vec<Array>> {
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|a| a.shape.clone()).collect();
    TractModel::load(path, &shapes)?.run(inputs)
}

/// Runs the ONNX model in ONNX Runtime (`scripts/ort-run.py` with the
/// cache venv's Python, which `FERRITE_WITH_ORT=1 scripts/fetch-models`
/// sets up) on named inputs; the outputs in model order.
pub fn run_ort(path: &Path, inputs: &[(&str, &Array)]) -> Result<Vec<Array>> {
    let python = cache_dir().join("venv/bin/python");
    let dir = std::env::temp_dir().join(format!(
        "ferrite-ort-{}-{}",
        std::process::id(),
        path.file_stem().unwrap_or_default().to_string_lossy()
    ));
    std::fs::create_dir_all(&dir)?;
    let mut cmd = std::process::Command::new(&python);
    cmd.arg(repo_root().join("scripts/ort-run.py"))
        .arg(path)
        .arg(&dir);
    for (i, (name, a)) in inputs.iter().enumerate() {
        let f = dir.join(format!("in{i}.npy"));
        ferrite_compiler::npy::write(&f, &a.shape, &a.data)?;
        cmd.arg(format!("{name}={}", f.display()));
    }
    let out = cmd.output().map_err(|e| {
        anyhow::anyhow!(
            "cannot run {} (set it up with FERRITE_WITH_ORT=1 scripts/fetch-models): {e}",
            python.display()
        )
    })?;
    if !out.status.success() {
        anyhow::bail!(
            "ONNX Runtime failed on {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut outs = Vec::new();
    while let Ok(a) = ferrite_compiler::npy::read(&dir.join(format!("{}.npy", outs.len()))) {
        outs.push(a);
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(outs)
}

/// Deterministic pseudo-random values in `[lo, hi)` (xorshift).
pub fn random(shape: &[usize], seed: u64, lo: f32, hi: f32) -> Array {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let n = shape.iter().product();
    let data = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (hi - lo) * ((s >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect();
    Array {
        shape: shape.to_vec(),
        data,
    }
}

/// Max |ours - reference| and max |reference|.
pub fn diff(ours: &Array, reference: &Array) -> (f32, f32) {
    let d = ours
        .data
        .iter()
        .zip(&reference.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    let m = reference.data.iter().map(|v| v.abs()).fold(0.0, f32::max);
    (d, m)
}

/// Checks `max |Δ| <= rel * max|ref| + 1e-5` for every output; returns the
/// achieved `max|Δ| / max|ref|` per output.
pub fn check_close(what: &str, ours: &[Array], reference: &[Array], rel: f32) -> Result<Vec<f32>> {
    if ours.len() != reference.len() {
        return Err(anyhow!(
            "{what}: {} outputs, reference has {}",
            ours.len(),
            reference.len()
        ));
    }
    let mut achieved = vec![];
    for (i, (o, r)) in ours.iter().zip(reference).enumerate() {
        if o.shape != r.shape {
            return Err(anyhow!(
                "{what}: output {i} has shape {:?}, reference {:?}",
                o.shape,
                r.shape
            ));
        }
        if o.data.iter().any(|v| v.is_nan()) != r.data.iter().any(|v| v.is_nan()) {
            return Err(anyhow!("{what}: output {i} NaN mismatch"));
        }
        let (d, m) = diff(o, r);
        if d > rel * m + 1e-5 {
            return Err(anyhow!(
                "{what}: output {i} max |Δ| = {d:e} exceeds {rel:e}·{m:e} + 1e-5"
            ));
        }
        achieved.push(if m > 0.0 { d / m } else { d });
    }
    Ok(achieved)
}

/// MACs of the conv, deconv and einsum nodes counted on tract's own typed
/// graph: an independent check of what `ferrite inspect` reports.
pub fn tract_macs(path: &Path, shapes: &[&[usize]]) -> Result<u64> {
    use tract_onnx::prelude::*;
    let mut m = tract_onnx::onnx()
        .with_ignore_output_shapes(true)
        .with_ignore_value_info(true)
        .model_for_path(path)?;
    for (i, s) in shapes.iter().enumerate() {
        m = m.with_input_fact(i, f32::fact(*s).into())?;
    }
    let m = m.into_typed()?;
    let dims = |o: OutletId| -> Result<Vec<u64>> {
        let f = m.outlet_fact(o)?;
        let s = f
            .shape
            .as_concrete()
            .ok_or_else(|| anyhow!("symbolic shape"))?;
        Ok(s.iter().map(|&d| d as u64).collect())
    };
    let mut macs = 0u64;
    for n in m.nodes() {
        if n.outputs.first().is_some_and(|o| o.fact.konst.is_some()) {
            continue;
        }
        let prod = |v: &[u64]| v.iter().product::<u64>();
        match n.op.name().as_ref() {
            "Conv" => macs += prod(&dims(n.id.into())?) * prod(&dims(n.inputs[1])?[1..]),
            "Deconv" => macs += prod(&dims(n.inputs[0])?[2..]) * prod(&dims(n.inputs[1])?),
            "EinSum" => {
                let a = dims(n.inputs[0])?;
                macs += prod(&dims(n.id.into())?) * a[a.len() - 1];
            }
            _ => {}
        }
    }
    Ok(macs)
}
