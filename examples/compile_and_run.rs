//! Compile an ONNX model in memory and run it through the runtime's API: the
//! same steps a device application takes, with the arena owned by the caller.
//!
//! ```text
//! cargo run --release --example compile_and_run -- MODEL.onnx INPUT.npy [NAME=D0,D1,...]
//! cargo run --release --example compile_and_run      # the embedded PP-OCR classifier
//! ```

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use ferrite::{Interpreter, Model};
use ferrite_compiler::compile::{compile_bytes, AlignedBytes};
use ferrite_compiler::import::{parse_input_shape, ImportOptions};
use ferrite_compiler::npy;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (model_path, input_path) = match args.as_slice() {
        [m, i, ..] => (Path::new(m).to_path_buf(), Path::new(i).to_path_buf()),
        _ => (
            root.join("compiler/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
            root.join("compiler/assets/cls_sample.npy"),
        ),
    };
    let x = npy::read(&input_path)?;
    let shapes = match args.get(2) {
        Some(s) => vec![parse_input_shape(s)?],
        None => vec![],
    };
    // 1. Compile (what `ferrite compile` does).
    let onnx =
        std::fs::read(&model_path).with_context(|| format!("reading {}", model_path.display()))?;
    let mut opts = ImportOptions {
        input_shapes: shapes,
    };
    let first_input = tract_input_name(&onnx)?;
    if opts.input_shapes.is_empty() {
        opts.input_shapes
            .push((first_input.clone(), x.shape.clone()));
    }
    let compiled = compile_bytes(&onnx, &model_path.display().to_string(), &opts)?;

    // 2. Load: the image must be 16-byte aligned (an mmap or `ferrite::Aligned` static is).
    let image = AlignedBytes::from_slice(&compiled.image)?;
    let model = Model::load(image.as_slice()).map_err(|e| anyhow!("{e}"))?;

    // 3. The caller owns the arena; its exact size is in the model.
    let mut arena = AlignedBytes::zeroed(model.arena_size())?;
    let mut interp = Interpreter::new(&model, arena.as_mut_slice()).map_err(|e| anyhow!("{e}"))?;

    // 4. Fill the input, invoke (infallible), read the outputs.
    let mut input = interp
        .input_mut_by_name(&first_input)
        .map_err(|e| anyhow!("{e}"))?;
    input
        .as_f32_mut()
        .ok_or_else(|| anyhow!("input is not f32"))?
        .copy_from_slice(&x.data);
    interp.invoke();
    for i in 0..model.num_outputs() {
        let out = interp.output(i).map_err(|e| anyhow!("{e}"))?;
        let v = out.as_f32().unwrap_or(&[]);
        let head: Vec<String> = v.iter().take(8).map(|f| format!("{f:.6}")).collect();
        println!(
            "{} {:?}: [{}{}]",
            out.info.name(),
            out.info.shape(),
            head.join(", "),
            if v.len() > 8 { ", ..." } else { "" }
        );
    }
    println!(
        "arena {} bytes, weights {} bytes",
        model.arena_size(),
        model.const_bytes()
    );
    Ok(())
}

/// The model's first input name, read through the compiler's own import.
fn tract_input_name(onnx: &[u8]) -> Result<String> {
    let model = ferrite_compiler::import::onnx_input_names(onnx)?;
    model
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("model has no inputs"))
}
