//! `ferrite inspect`: what a `.fer` holds, read back through the runtime's
//! own loader (so the report shows exactly what a device would execute).
//!
//! MACs count the multiply-accumulates of convolutions and matrix products;
//! other ops report 0 (their cost is proportional to their output size).

use ferrite::format::{DType, Storage};
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
    /// Arithmetic: `f32`, `int8`, or a conversion (`f32>int8`, `int8>f32`).
    pub precision: &'static str,
    /// Why an op of a quantized model stayed `f32` (from the image's notes).
    pub note: Option<String>,
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
    /// Weight packing (`ferrite::packing` name: `none`, or the kernel table
    /// the int8 conv weights are laid out for).
    pub packing: &'static str,
    /// Inputs: name, shape, dtype.
    pub inputs: Vec<(String, Vec<usize>, &'static str)>,
    /// Outputs: name, shape, dtype.
    pub outputs: Vec<(String, Vec<usize>, &'static str)>,
    /// Per-op figures.
    pub ops: Vec<OpReport>,
    /// The image's notes (`key`, `value`), e.g. the calibration method.
    pub notes: Vec<(String, String)>,
}

fn numel(s: &[usize]) -> u64 {
    s.iter().map(|&d| d as u64).product()
}

/// Builds the report of a loaded model.
pub fn report(model: &Model<'_>) -> ModelReport {
    let notes: Vec<(String, String)> = model
        .notes()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
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
            // From the geometry: packed weights are 1-D (`ferrite::packing`).
            OpCode::Conv2d if !ins.is_empty() && op.num_params() > 10 => {
                let ic = ins[0].shape().last().copied().unwrap_or(0) as u64;
                let taps = op.param(0) as u64 * op.param(1) as u64;
                numel(out.shape()) * taps * (ic / (op.param(10) as u64).max(1))
            }
            OpCode::ConvTranspose2d if ins.len() >= 2 => {
                let x = ins[0].shape();
                numel(&x[..3]) * numel(ins[1].shape())
            }
            OpCode::MatMul if !ins.is_empty() => {
                let a = ins[0].shape();
                numel(out.shape()) * a[a.len() - 1] as u64
            }
            // Per step and batch row: x·W and h·R over every gate; the GRU
            // without linear_before_reset also (r⊙h)·R_h.
            OpCode::Lstm | OpCode::Gru | OpCode::Rnn if ins.len() >= 3 => {
                let steps = numel(&ins[0].shape()[..2]);
                let reset = match (op.code, ins[2].shape()) {
                    (OpCode::Gru, &[dirs, h, _]) if op.param(2) == 0 => (dirs * h * h) as u64,
                    _ => 0,
                };
                steps * (numel(ins[1].shape()) + numel(ins[2].shape()) + reset)
            }
            _ => 0,
        };
        let weight_bytes = ins
            .iter()
            .filter(|t| t.storage == Storage::Const)
            .map(|t| t.byte_len)
            .sum();
        let precision = match (ins.first().map(|t| t.dtype), out.dtype) {
            (Some(DType::F32), DType::I8) => "f32>int8",
            (Some(DType::I8), DType::F32) => "int8>f32",
            (_, DType::I8) => "int8",
            _ => "f32",
        };
        let key = format!("f32 {}", out.name());
        let note = notes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone());
        ops.push(OpReport {
            index: i,
            op: op.code.name(),
            output: out.name().to_string(),
            shape: out.shape().to_vec(),
            macs,
            weight_bytes,
            precision,
            note,
        });
    }
    let io = |t: Option<ferrite::TensorInfo<'_>>| {
        t.map(|t| (t.name().to_string(), t.shape().to_vec(), t.dtype.name()))
    };
    ModelReport {
        file_bytes: model.image_len(),
        arena_bytes: model.arena_size(),
        weight_bytes: model.const_bytes(),
        macs: ops.iter().map(|o| o.macs).sum(),
        packing: ferrite::packing::name(model.isa()).unwrap_or("unknown"),
        inputs: (0..model.num_inputs())
            .filter_map(|i| io(model.input(i)))
            .collect(),
        outputs: (0..model.num_outputs())
            .filter_map(|i| io(model.output(i)))
            .collect(),
        ops,
        notes,
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
        "packing": r.packing,
        "weight_bytes": r.weight_bytes,
        "macs": r.macs,
        "inputs": io(&r.inputs),
        "outputs": io(&r.outputs),
        "ops": r.ops.iter().map(|o| {
            let mut v = json!({
                "index": o.index, "op": o.op, "output": o.output, "shape": o.shape,
                "macs": o.macs, "weight_bytes": o.weight_bytes, "precision": o.precision,
            });
            if let Some(n) = &o.note {
                v["f32_reason"] = json!(n);
            }
            v
        }).collect::<Vec<_>>(),
        "notes": r.notes.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
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
    if r.packing != "none" {
        s.push_str(&format!(
            "conv weights packed for the `{}` kernels (runs only where they do)\n",
            r.packing
        ));
    }
    for (n, sh, d) in &r.inputs {
        s.push_str(&format!("input  {n} {} {d}\n", shape(sh)));
    }
    for (n, sh, d) in &r.outputs {
        s.push_str(&format!("output {n} {} {d}\n", shape(sh)));
    }
    let int8 = r.ops.iter().filter(|o| o.precision == "int8").count();
    if int8 > 0 {
        let f32_ops = r.ops.iter().filter(|o| o.precision == "f32").count();
        let conv = r.ops.len() - int8 - f32_ops;
        s.push_str(&format!(
            "quantized: {int8} ops int8, {f32_ops} ops f32, {conv} conversions"
        ));
        for (k, v) in r.notes.iter().filter(|(k, _)| k.starts_with("quant.")) {
            s.push_str(&format!(", {}={v}", &k["quant.".len()..]));
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "{:>4}  {:<16} {:<8} {:>10} {:>10}  {:<20} {}\n",
        "#", "op", "type", "MACs", "weights", "shape", "output"
    ));
    for o in &r.ops {
        s.push_str(&format!(
            "{:>4}  {:<16} {:<8} {:>10} {:>10}  {:<20} {}",
            o.index,
            o.op,
            o.precision,
            human(o.macs),
            o.weight_bytes,
            shape(&o.shape),
            o.output
        ));
        if let Some(n) = &o.note {
            s.push_str(&format!("  (f32: {n})"));
        }
        s.push('\n');
    }
    s
}
