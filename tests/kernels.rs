//! Whole models on every kernel table this CPU runs: every int8 tensor
//! the model computes is the same bytes as with the reference kernels, op
//! by op (so a difference names the op), and the f32 outputs of f32
//! models stay within tract's tolerance.
//!
//! The int8 models are the committed sample and the four real models
//! quantized as `tests/quant.rs` does (percentile, 8 calibration samples),
//! also with their conv weights packed for each table that reads a packing.

use anyhow::{anyhow, Result};
use ferrite::kernels::Kernels;
use ferrite::{DType, Interpreter, Model};
use ferrite_compiler::compile::{build, AlignedBytes};
use ferrite_compiler::ir::Op;
use ferrite_compiler::npy;
use ferrite_compiler::passes;
use ferrite_compiler::quant::Method;
use ferrite_suite::quant_eval::{self, case};
use ferrite_suite::{fetched, repo_root, Array};

/// Runs `image` on `input` with the reference kernels and with `table`,
/// op by op; returns the number of int8 tensors compared.
fn compare_op_by_op(image: &[u8], input: &Array, table: &'static Kernels) -> Result<usize> {
    compare_images(image, image, input, table)
}

/// [`compare_op_by_op`] with `table` running `image_t`, the same graph as
/// `image` in another weight layout (`ferrite::packing`): the same ops in
/// the same order writing tensors of the same names.
fn compare_images(
    image: &[u8],
    image_t: &[u8],
    input: &Array,
    table: &'static Kernels,
) -> Result<usize> {
    let aligned = AlignedBytes::from_slice(image)?;
    let model = Model::load(aligned.as_slice()).map_err(|e| anyhow!("{e}"))?;
    let aligned_t = AlignedBytes::from_slice(image_t)?;
    let model_t = Model::load(aligned_t.as_slice()).map_err(|e| anyhow!("{e}"))?;
    if model_t.num_ops() != model.num_ops() {
        return Err(anyhow!("the images have different op counts"));
    }
    let mut arenas = [
        AlignedBytes::zeroed(model.arena_size())?,
        AlignedBytes::zeroed(model_t.arena_size())?,
    ];
    let [ra, ta] = &mut arenas;
    let mut r = Interpreter::with_kernels(&model, ra.as_mut_slice(), Kernels::reference())
        .map_err(|e| anyhow!("{e}"))?;
    let mut t = Interpreter::with_kernels(&model_t, ta.as_mut_slice(), table)
        .map_err(|e| anyhow!("{e}"))?;
    for it in [&mut r, &mut t] {
        it.input_mut(0)
            .map_err(|e| anyhow!("{e}"))?
            .as_f32_mut()
            .ok_or_else(|| anyhow!("input is not f32"))?
            .copy_from_slice(&input.data);
    }
    let mut compared = 0;
    for o in 0..model.num_ops() {
        r.invoke_op(o);
        t.invoke_op(o);
        let op = model.op(o).ok_or_else(|| anyhow!("op {o}"))?;
        let id = op
            .output(0)
            .ok_or_else(|| anyhow!("op {o} has no output"))?;
        let info = model.tensor(id).ok_or_else(|| anyhow!("tensor {id}"))?;
        let id_t = model_t
            .op(o)
            .and_then(|op| op.output(0))
            .filter(|&i| model_t.tensor(i).is_some_and(|t| t.name() == info.name()))
            .ok_or_else(|| anyhow!("op {o} writes another tensor than '{}'", info.name()))?;
        if info.dtype == DType::I8 {
            let (a, b) = (
                r.tensor(id).map_err(|e| anyhow!("{e}"))?.bytes().to_vec(),
                t.tensor(id_t).map_err(|e| anyhow!("{e}"))?.bytes().to_vec(),
            );
            if a != b {
                let diff = a.iter().zip(&b).filter(|(x, y)| x != y).count();
                return Err(anyhow!(
                    "{}: op {o} ({}) -> '{}' {:?}: {diff} of {} bytes differ from the reference",
                    table.name(),
                    op.code.name(),
                    info.name(),
                    info.shape(),
                    a.len()
                ));
            }
            compared += 1;
        }
    }
    // Outputs made by dequantizing an int8 tensor are exact too; outputs of
    // f32 ops (e.g. det's final ConvTranspose) are within the FMA bound.
    for i in 0..model.num_outputs() {
        let id = model
            .output_tensor(i)
            .ok_or_else(|| anyhow!("output {i}"))?;
        let producer = (0..model.num_ops())
            .filter_map(|o| model.op(o))
            .find(|op| op.output(0) == Some(id))
            .ok_or_else(|| anyhow!("output {i} has no producer"))?;
        let (a, b) = (
            r.output(i).map_err(|e| anyhow!("{e}"))?,
            t.output(i).map_err(|e| anyhow!("{e}"))?,
        );
        if producer.code == ferrite::OpCode::Dequantize {
            assert_eq!(a.bytes(), b.bytes(), "{}: output {i}", table.name());
        } else {
            let (a, b) = (a.as_f32().unwrap_or(&[]), b.as_f32().unwrap_or(&[]));
            let max = a.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (x, y) in a.iter().zip(b) {
                assert!(
                    (x - y).abs() <= 1e-4 * max + 1e-6,
                    "{}: output {i}: {x} vs {y}",
                    table.name()
                );
            }
        }
    }
    Ok(compared)
}

fn simd_tables() -> Vec<&'static Kernels> {
    Kernels::available().skip(1).collect()
}

#[test]
fn int8_sample_is_identical_on_every_table() {
    let image = std::fs::read(repo_root().join("tests/data/sample_int8.fer")).unwrap();
    let aligned = AlignedBytes::from_slice(&image).unwrap();
    let model = Model::load(aligned.as_slice()).unwrap();
    let shape = model.input(0).unwrap().shape().to_vec();
    let n: usize = shape.iter().product();
    let input = Array {
        shape,
        data: (0..n)
            .map(|i| ((i * 7919) % 255) as f32 / 127.0 - 1.0)
            .collect(),
    };
    for t in simd_tables() {
        let n = compare_op_by_op(&image, &input, t).unwrap();
        assert!(n > 0, "the sample has int8 tensors");
    }
}

#[test]
fn real_int8_models_are_identical_on_every_table() {
    for name in ["cls", "face", "rec", "det"] {
        let c = case(name);
        let pair = quant_eval::quantize_with(c, Method::Percentile(99.99), Some(8)).unwrap();
        let eval = npy::read(&fetched(&format!("inputs/eval/{name}.npy"))).unwrap();
        let row: usize = c.shape.iter().product();
        let input = Array {
            shape: c.shape.to_vec(),
            data: eval.data[..row].to_vec(),
        };
        for t in simd_tables() {
            let n = compare_op_by_op(&pair.int8_image, &input, t).unwrap();
            println!("{name}: {} int8 tensors identical on {}", n, t.name());
            assert!(n > 10);
        }
        // Weights packed for a table (`ferrite compile --pack`), run by it:
        // the same bytes as the reference on the unpacked image.
        for t in simd_tables().into_iter().filter(|t| t.packing() != 0) {
            let mut g = pair.int8_graph.clone();
            assert!(passes::pack_weights(&mut g, t.packing()).unwrap());
            passes::remove_dead(&mut g).unwrap();
            // rec's constant MatMul weights (its attention projections and
            // the classifier) are among them: `b` becomes 1-D.
            let packed_mm = g
                .nodes
                .iter()
                .filter(|n| matches!(n.op, Op::QMatMul { .. }))
                .filter(|n| g.tensors[n.inputs[1]].shape.len() == 1)
                .count();
            assert!(name != "rec" || packed_mm > 0, "rec's MatMuls not packed");
            let packed = build(g, name).unwrap().image;
            let n = compare_images(&pair.int8_image, &packed, &input, t).unwrap();
            println!("{name}: {n} int8 tensors identical on {}, packed", t.name());
            assert!(n > 10);
        }
    }
}

/// Runs `image` on `input` with `table`; the f32 outputs' bits.
fn outputs_on(image: &[u8], input: &Array, table: &'static Kernels) -> Result<Vec<Vec<u32>>> {
    let aligned = AlignedBytes::from_slice(image)?;
    let model = Model::load(aligned.as_slice()).map_err(|e| anyhow!("{e}"))?;
    let mut arena = AlignedBytes::zeroed(model.arena_size())?;
    let mut it = Interpreter::with_kernels(&model, arena.as_mut_slice(), table)
        .map_err(|e| anyhow!("{e}"))?;
    it.input_mut(0)
        .map_err(|e| anyhow!("{e}"))?
        .as_f32_mut()
        .ok_or_else(|| anyhow!("input is not f32"))?
        .copy_from_slice(&input.data);
    it.invoke();
    (0..model.num_outputs())
        .map(|i| {
            let o = it.output(i).map_err(|e| anyhow!("{e}"))?;
            let v = o.as_f32().ok_or_else(|| anyhow!("output {i} is not f32"))?;
            Ok(v.iter().map(|x| x.to_bits()).collect())
        })
        .collect()
}

/// Real model `name`'s optimized f32 graph and its first evaluation input.
fn f32_model(name: &str) -> (ferrite_compiler::ir::Graph, Array) {
    let c = case(name);
    let bytes = std::fs::read(fetched(c.model)).unwrap();
    let opts = ferrite_compiler::import::ImportOptions {
        input_shapes: vec![(c.input.to_string(), c.shape.to_vec())],
    };
    let g = ferrite_compiler::compile::optimized_graph(&bytes, name, &opts).unwrap();
    let eval = npy::read(&fetched(&format!("inputs/eval/{name}.npy"))).unwrap();
    let row: usize = c.shape.iter().product();
    let input = Array {
        shape: c.shape.to_vec(),
        data: eval.data[..row].to_vec(),
    };
    (g, input)
}

#[test]
fn real_f32_models_packed_equal_unpacked() {
    let tables: Vec<_> = simd_tables()
        .into_iter()
        .filter(|t| t.packing() != 0)
        .collect();
    if tables.is_empty() {
        return; // no table here reads a packing
    }
    for name in ["cls", "face", "rec", "det"] {
        let (g, input) = f32_model(name);
        let plain = build(g.clone(), name).unwrap().image;
        for t in &tables {
            let mut p = g.clone();
            assert!(passes::pack_weights(&mut p, t.packing()).unwrap());
            passes::remove_dead(&mut p).unwrap();
            let packed = build(p, name).unwrap().image;
            // The same panels in the same order: the same bits.
            assert_eq!(
                outputs_on(&packed, &input, t).unwrap(),
                outputs_on(&plain, &input, t).unwrap(),
                "{name} f32 on {}, packed",
                t.name()
            );
            println!("{name}: f32 outputs identical on {}, packed", t.name());
        }
    }
}

/// The tables without fused multiply-adds (`portable` on every host; armv7's
/// `neon32` gives the same bits, `runtime/src/kernels/conformance.rs`) run
/// every f32 op as the reference does: the real models' outputs are the
/// reference's bits.
#[test]
fn real_f32_models_give_the_reference_bits_on_portable() {
    let portable = Kernels::by_name("portable").expect("portable runs everywhere");
    for name in ["cls", "face", "rec", "det"] {
        let (g, input) = f32_model(name);
        let image = build(g, name).unwrap().image;
        assert_eq!(
            outputs_on(&image, &input, portable).unwrap(),
            outputs_on(&image, &input, Kernels::reference()).unwrap(),
            "{name} f32: portable against the reference"
        );
        println!("{name}: f32 outputs identical on portable and the reference");
    }
}
