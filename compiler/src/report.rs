//! `ferrite inspect`: what a `.fer` holds, read back through the runtime's
//! own loader (so the report shows exactly what a device would execute).
//!
//! MACs count the multiply-accumulates of convolutions and matrix products;
//! other ops report 0 (their cost is proportional to their output size).

use ferrite::format::Storage;
use ferrite::{Model, OpCode};
use serde_json::{json, Value};

/// Per-op figures.
#[derive(Clone, Debug, PartialEq)]
pub struct OpReport {
    /// Position in execution order.
    pub index: usize,
    /// Op name.
    pub op: &'static str,
    /// Output tensor name.
    pub output: String,
    /// Output shape.
    pub shape: Vec<usize>,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Bytes of constant inputs (weights, biases).
    pub weight_bytes: usize,
}

/// Whole-model figures.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelReport {
    /// Image size.
    pub file_bytes: usize,
    /// Arena size.
    pub arena_bytes: usize,
    /// Constant-section size (weights, with alignment padding).
    pub weight_bytes: usize,
    /// Sum of op MACs.
    pub macs: u64,
    /// Inputs: name, shape, dtype.
    pub inputs: Vec<(String, Vec<usize>, &'static str)>,
    /// Outputs: name, shape, dtype.
    pub outputs: Vec<(String, Vec<usize>, &'static str)>,
    /// Per-op figures.
    pub ops: Vec<OpReport>,
}

fn numel(s: &[usize]) -> u64 {
    s.iter().map(|&d| d as u64).product()
}

/// Builds the report of a loaded model.
pub fn report(model: &Model<'_>) -> ModelReport {
    let mut ops = Vec::new();
    for i in 0..model.num_ops() {
        let Some(op) = model.op(i) else { continue };
        let ins: Vec<_> = (0..op.num_inputs())
            .filter_map(|k| op.input(k).and_then(|t| model.tensor(t)))
            .collect();
        let Some(out) = op.output(0).and_then(|t| model.tensor(t)) else {
            continue;
        };
        let macs = match op.code {
            OpCode::Conv2d if ins.len() >= 2 => {
                let w = ins[1].shape();
                numel(out.shape()) * numel(&w[1..])
            }
            OpCode::ConvTranspose2d if ins.len() >= 2 => {
                let x = ins[0].shape();
                numel(&x[..3]) * numel(ins[1].shape())
            }
            OpCode::MatMul if !ins.is_empty() => {
                let a = ins[0].shape();
                numel(out.shape()) * a[a.len() - 1] as u64
            }
            _ => 0,
        };
        let weight_bytes = ins
            .iter()
            .filter(|t| t.storage == Storage::Const)
            .map(|t| t.byte_len)
            .sum();
        ops.push(OpReport {
            index: i,
            op: op.code.name(),
            output: out.name.to_string(),
            shape: out.shape().to_vec(),
            macs,
            weight_bytes,
        });
    }
    let io = |t: Option<ferrite::TensorInfo<'_>>| {
        t.map(|t| (t.name.to_string(), t.shape().to_vec(), t.dtype.name()))
    };
    ModelReport {
        file_bytes: model.image_len(),
        arena_bytes: model.arena_size(),
        weight_bytes: model.const_bytes(),
        macs: ops.iter().map(|o| o.macs).sum(),
        inputs: (0..model.num_inputs())
            .filter_map(|i| io(model.input(i)))
            .collect(),
        outputs: (0..model.num_outputs())
            .filter_map(|i| io(model.output(i)))
            .collect(),
        ops,
    }
}

/// The report as JSON.
pub fn to_json(r: &ModelReport) -> Value {
    let io = |v: &[(String, Vec<usize>, &str)]| {
        v.iter()
            .map(|(n, s, d)| json!({"name": n, "shape": s, "dtype": d}))
            .collect::<Vec<_>>()
    };
    json!({
        "file_bytes": r.file_bytes,
        "arena_bytes": r.arena_bytes,
        "weight_bytes": r.weight_bytes,
        "macs": r.macs,
        "inputs": io(&r.inputs),
        "outputs": io(&r.outputs),
        "ops": r.ops.iter().map(|o| json!({
            "index": o.index, "op": o.op, "output": o.output, "shape": o.shape,
            "macs": o.macs, "weight_bytes": o.weight_bytes,
        })).collect::<Vec<_>>(),
    })
}

fn human(n: u64) -> String {
    match n {
        n if n >= 10_000_000_000 => format!("{:.1}G", n as f64 / 1e9),
        n if n >= 10_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 10_000 => format!("{:.1}k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

/// The report as a human-readable table.
pub fn to_text(r: &ModelReport) -> String {
    let mut s = String::new();
    let shape = |v: &[usize]| {
        format!(
            "[{}]",
            v.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    s.push_str(&format!(
        "file {} bytes, weights {} bytes, arena {} bytes, {} MACs, {} ops\n",
        r.file_bytes,
        r.weight_bytes,
        r.arena_bytes,
        r.macs,
        r.ops.len()
    ));
    for (n, sh, d) in &r.inputs {
        s.push_str(&format!("input  {n} {} {d}\n", shape(sh)));
    }
    for (n, sh, d) in &r.outputs {
        s.push_str(&format!("output {n} {} {d}\n", shape(sh)));
    }
    s.push_str(&format!(
        "{:>4}  {:<16} {:>10} {:>10}  {:<20} {}\n",
        "#", "op", "MACs", "weights", "shape", "output"
    ));
    for o in &r.ops {
        s.push_str(&format!(
            "{:>4}  {:<16} {:>10} {:>10}  {:<20} {}\n",
            o.index,
            o.op,
            human(o.macs),
            o.weight_bytes,
            shape(&o.shape),
            o.output
        ));
    }
    s
}
