//! The ONNX backend node tests (`onnx==1.22.0`, `onnx/backend/test/data/node`,
//! fetched into the cache by `scripts/fetch-models`) through Ferrite's
//! `compile` and the runtime, compared with the expected outputs the way
//! ONNX's own runner does (`|ours - expected| <= atol + rtol * |expected|`,
//! rtol 1e-3, atol 1e-5; NaN matches NaN).
//!
//! Ferrite's models take `f32` inputs and need weights to be constants, while
//! a node test feeds every operand as a graph input: the first input stays a
//! graph input, the others become initializers with the test's values (the
//! same computation). Cases are skipped, with the reason, when the first
//! input or an output is not `f32`, or an op is outside the default ONNX
//! domain.
//!
//! The claimed set is derived, not kept by hand: an ONNX op is claimed when
//! at least one of its cases compiles. The pass rate counts every case made
//! only of claimed ops, so a claimed op whose other cases fail to compile
//! counts against it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use prost::Message;
use tract_onnx::pb::{tensor_proto::DataType, ModelProto, TensorProto};

use crate::{run_fer, Array};
use ferrite_compiler::compile::compile_bytes;
use ferrite_compiler::import::ImportOptions;

/// What happened to one case.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Outputs within tolerance.
    Pass,
    /// Compiled and ran, but outputs differ (the first difference).
    Mismatch(String),
    /// The compiler refused the model (its message).
    Unsupported(String),
    /// Not run, and why.
    Skipped(String),
}

/// One node test.
#[derive(Clone, Debug)]
pub struct Case {
    /// Directory name (`test_conv_with_strides_padding`).
    pub name: String,
    /// ONNX op types in the model.
    pub ops: Vec<String>,
    /// The result.
    pub outcome: Outcome,
}

/// The ONNX ops of the edge subset.
pub const EDGE_OPS: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Gemm",
    "MatMul",
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "HardSigmoid",
    "HardSwish",
    "Clip",
    "Elu",
    "PRelu",
    "Softplus",
    "BatchNormalization",
    "InstanceNormalization",
    "LayerNormalization",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Sqrt",
    "Exp",
    "Log",
    "Abs",
    "Neg",
    "Reciprocal",
    "Max",
    "Min",
    "Concat",
    "Reshape",
    "Flatten",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Slice",
    "Split",
    "Gather",
    "Pad",
    "Resize",
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceSum",
    "ReduceProd",
    "ReduceL2",
    "ReduceSumSquare",
    "Softmax",
    "LogSoftmax",
    "LSTM",
    "GRU",
    "RNN",
    "QuantizeLinear",
    "DequantizeLinear",
    "QLinearConv",
    "QLinearMatMul",
    "Erf",
    "Gelu",
    "Where",
    "Expand",
    "DepthToSpace",
    "SpaceToDepth",
    "ArgMax",
];

fn read_tensor(path: &Path) -> Result<TensorProto> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    TensorProto::decode(bytes.as_slice()).map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// An `f32` tensor's values, or why not.
fn f32_values(t: &TensorProto) -> Result<Array, String> {
    if t.data_type != DataType::Float as i32 {
        return Err(format!("tensor '{}' has data type {}", t.name, t.data_type));
    }
    let shape: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("tensor '{}' has dim {d}", t.name)))
        .collect::<Result<_, _>>()?;
    let data: Vec<f32> = if !t.raw_data.is_empty() {
        t.raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else {
        t.float_data.clone()
    };
    if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(data.len()) {
        return Err(format!("tensor '{}' has inconsistent data", t.name));
    }
    Ok(Array { shape, data })
}

/// Runs one case directory.
pub fn run_case(dir: &Path) -> Result<Case> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let bytes = std::fs::read(dir.join("model.onnx"))?;
    let mut model = ModelProto::decode(bytes.as_slice()).map_err(|e| anyhow!("{name}: {e}"))?;
    let Some(graph) = model.graph.as_mut() else {
        bail!("{name}: no graph");
    };
    let mut ops: Vec<String> = graph.node.iter().map(|n| n.op_type.clone()).collect();
    ops.sort();
    ops.dedup();
    let case = |outcome| Case {
        name: name.clone(),
        ops: ops.clone(),
        outcome,
    };
    if let Some(n) = graph
        .node
        .iter()
        .find(|n| !n.domain.is_empty() && n.domain != "ai.onnx")
    {
        return Ok(case(Outcome::Skipped(format!("op domain {}", n.domain))));
    }
    let set = dir.join("test_data_set_0");
    let inits: Vec<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    let inputs: Vec<String> = graph
        .input
        .iter()
        .map(|i| i.name.clone())
        .filter(|n| !inits.contains(n))
        .collect();
    // The first input stays an input and must be f32; the others become
    // initializers of whatever type they are.
    let mut values = Vec::new();
    for (k, input) in inputs.iter().enumerate() {
        let mut t = read_tensor(&set.join(format!("input_{k}.pb")))?;
        t.name = input.clone();
        let a = if k == 0 {
            match f32_values(&t) {
                Ok(a) => a,
                Err(why) => return Ok(case(Outcome::Skipped(why))),
            }
        } else {
            Array {
                shape: vec![],
                data: vec![],
            }
        };
        values.push((t, a));
    }
    let mut expected = Vec::new();
    for k in 0..graph.output.len() {
        match f32_values(&read_tensor(&set.join(format!("output_{k}.pb")))?) {
            Ok(a) => expected.push(a),
            Err(why) => return Ok(case(Outcome::Skipped(why))),
        }
    }
    if values.is_empty() {
        return Ok(case(Outcome::Skipped("no inputs".into())));
    }
    // Every input but the first becomes an initializer with the test's values.
    for (t, _) in &values[1..] {
        graph.initializer.push(t.clone());
        graph.input.retain(|i| i.name != t.name);
    }
    let (first, x) = (&values[0].0.name, &values[0].1);
    let opts = ImportOptions {
        input_shapes: vec![(first.clone(), x.shape.clone())],
    };
    let compiled = std::panic::catch_unwind(|| compile_bytes(&model.encode_to_vec(), &name, &opts));
    let image = match compiled {
        Ok(Ok(c)) => c.image,
        Ok(Err(e)) => return Ok(case(Outcome::Unsupported(format!("{e:#}")))),
        Err(_) => return Ok(case(Outcome::Unsupported("the compiler panicked".into()))),
    };
    let ours = match run_fer(&image, &[(first.as_str(), x)]) {
        Ok(o) => o,
        Err(e) => return Ok(case(Outcome::Mismatch(format!("run failed: {e:#}")))),
    };
    if ours.len() != expected.len() {
        return Ok(case(Outcome::Mismatch(format!(
            "{} outputs, expected {}",
            ours.len(),
            expected.len()
        ))));
    }
    for (k, (a, b)) in ours.iter().zip(&expected).enumerate() {
        if a.data.len() != b.data.len() {
            return Ok(case(Outcome::Mismatch(format!(
                "output {k} shape {:?}, expected {:?}",
                a.shape, b.shape
            ))));
        }
        for (i, (&u, &v)) in a.data.iter().zip(&b.data).enumerate() {
            let ok = (u.is_nan() && v.is_nan()) || u == v || (u - v).abs() <= 1e-5 + 1e-3 * v.abs();
            if !ok {
                return Ok(case(Outcome::Mismatch(format!(
                    "output {k}[{i}] = {u}, expected {v}"
                ))));
            }
        }
    }
    Ok(case(Outcome::Pass))
}

/// Every case under `node_dir`, sorted by name.
pub fn run_all(node_dir: &Path) -> Result<Vec<Case>> {
    let mut dirs: Vec<_> = std::fs::read_dir(node_dir)
        .with_context(|| {
            format!(
                "{} (run scripts/fetch-models for the ONNX test data)",
                node_dir.display()
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").exists())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| run_case(d)).collect()
}

/// Per-op counts: `(cases, compiled, passed)`.
pub type OpTable = BTreeMap<String, (usize, usize, usize)>;

/// The summary: per-op table, claimed ops, and `(passed, counted)` over the
/// cases made only of claimed ops (all ops, then the edge subset).
pub fn summarize(cases: &[Case]) -> (OpTable, Vec<String>, (usize, usize), (usize, usize)) {
    let mut table: OpTable = BTreeMap::new();
    for c in cases {
        if matches!(c.outcome, Outcome::Skipped(_)) {
            continue;
        }
        let compiled = !matches!(c.outcome, Outcome::Unsupported(_));
        for op in &c.ops {
            let e = table.entry(op.clone()).or_default();
            e.0 += 1;
            e.1 += compiled as usize;
            e.2 += (c.outcome == Outcome::Pass) as usize;
        }
    }
    let claimed: Vec<String> = table
        .iter()
        .filter(|(_, v)| v.1 > 0)
        .map(|(k, _)| k.clone())
        .collect();
    let rate = |edge: bool| {
        let counted: Vec<&Case> = cases
            .iter()
            .filter(|c| !matches!(c.outcome, Outcome::Skipped(_)))
            .filter(|c| c.ops.iter().all(|o| claimed.contains(o)))
            .filter(|c| !edge || c.ops.iter().all(|o| EDGE_OPS.contains(&o.as_str())))
            .collect();
        (
            counted
                .iter()
                .filter(|c| c.outcome == Outcome::Pass)
                .count(),
            counted.len(),
        )
    };
    let (all, edge) = (rate(false), rate(true));
    (table, claimed, all, edge)
}
