//! Structural checks of an ONNX model before tract sees it, so that broken
//! files get an error that names the problem (node, tensor, dimension)
//! instead of an importer failure, and a guard that turns a panic inside
//! the importer into an error.

use std::collections::{HashMap, HashSet};

use anyhow::{anyhow, bail, Result};
use prost::Message;
use tract_onnx::pb;

/// Largest element count accepted for one declared tensor (2^31 - 1).
pub const MAX_ELEMENTS: u64 = i32::MAX as u64;

fn elem_size(data_type: i32) -> Option<u64> {
    Some(match data_type {
        1 | 6 => 4,     // float, int32
        2 | 3 | 9 => 1, // uint8, int8, bool
        4 | 5 | 10 | 16 => 2,
        7 | 11 | 13 => 8, // int64, double, uint64
        12 => 4,          // uint32
        _ => return None,
    })
}

/// Checks dims of a declared tensor: each non-negative, product bounded.
fn check_dims(what: &str, dims: &[i64]) -> Result<u64> {
    let mut n: u64 = 1;
    for &d in dims {
        if d < 0 {
            bail!("{what} declares a negative dimension {d} in {dims:?}");
        }
        n = n
            .checked_mul(d as u64)
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| {
                anyhow!("{what} declares shape {dims:?}, more than {MAX_ELEMENTS} elements")
            })?;
    }
    Ok(n)
}

/// Decodes `bytes` as an ONNX model and checks its graph's structure.
pub fn check(bytes: &[u8]) -> Result<()> {
    let model = pb::ModelProto::decode(bytes)
        .map_err(|e| anyhow!("not a valid ONNX model (protobuf: {e})"))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| anyhow!("not a valid ONNX model: it has no graph"))?;
    let mut defined: HashSet<&str> = HashSet::new();
    for init in &graph.initializer {
        let what = format!("initializer '{}'", init.name);
        let n = check_dims(&what, &init.dims)?;
        if !init.external_data.is_empty() || init.data_location == Some(1) {
            bail!("{what} keeps its data in an external file, which is not supported; embed the weights");
        }
        if !init.raw_data.is_empty() {
            if let Some(sz) = elem_size(init.data_type) {
                if init.raw_data.len() as u64 != n * sz {
                    bail!(
                        "{what} declares shape {:?} ({n} elements) but holds {} bytes",
                        init.dims,
                        init.raw_data.len()
                    );
                }
            }
        } else if init.data_type == 1
            && !init.float_data.is_empty()
            && init.float_data.len() as u64 != n
        {
            bail!(
                "{what} declares shape {:?} ({n} elements) but holds {} floats",
                init.dims,
                init.float_data.len()
            );
        }
        defined.insert(&init.name);
    }
    for input in &graph.input {
        if let Some(pb::type_proto::Value::TensorType(t)) =
            input.r#type.as_ref().and_then(|t| t.value.as_ref())
        {
            if let Some(shape) = &t.shape {
                let dims: Vec<i64> = shape
                    .dim
                    .iter()
                    .filter_map(|d| match d.value {
                        Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) if v != -1 => {
                            Some(v)
                        }
                        _ => None,
                    })
                    .collect();
                check_dims(&format!("input '{}'", input.name), &dims)?;
            }
        }
        defined.insert(&input.name);
    }
    // Producers, and a topological sort to find missing tensors and cycles.
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, node) in graph.node.iter().enumerate() {
        for out in node.output.iter().filter(|o| !o.is_empty()) {
            if defined.contains(out.as_str()) || producer.insert(out, i).is_some() {
                bail!(
                    "tensor '{out}' is defined more than once (again by node '{}', op {})",
                    node.name,
                    node.op_type
                );
            }
        }
    }
    let node_label = |i: usize| {
        format!(
            "node '{}' (op {})",
            graph.node[i].name, graph.node[i].op_type
        )
    };
    for (i, node) in graph.node.iter().enumerate() {
        check_attributes(graph, node).map_err(|e| anyhow!("{}: {e}", node_label(i)))?;
    }
    let mut pending: Vec<usize> = vec![0; graph.node.len()];
    let mut readers: Vec<Vec<usize>> = vec![vec![]; graph.node.len()];
    for (i, node) in graph.node.iter().enumerate() {
        // Subgraph attributes (If/Loop bodies) may read outer names; they are checked by the importer.
        for inp in node.input.iter().filter(|s| !s.is_empty()) {
            if let Some(&p) = producer.get(inp.as_str()) {
                pending[i] += 1;
                readers[p].push(i);
            } else if !defined.contains(inp.as_str()) {
                bail!(
                    "{} reads '{inp}', which no node, initializer or graph input provides",
                    node_label(i)
                );
            }
        }
    }
    for out in &graph.output {
        if !defined.contains(out.name.as_str()) && !producer.contains_key(out.name.as_str()) {
            bail!("graph output '{}' is not produced by any node", out.name);
        }
    }
    let mut ready: Vec<usize> = (0..graph.node.len()).filter(|&i| pending[i] == 0).collect();
    let mut done = 0;
    while let Some(i) = ready.pop() {
        done += 1;
        for &r in &readers[i] {
            pending[r] -= 1;
            if pending[r] == 0 {
                ready.push(r);
            }
        }
    }
    if done != graph.node.len() {
        let stuck = (0..graph.node.len()).find(|&i| pending[i] > 0).unwrap_or(0);
        bail!(
            "the graph has a cycle: {} depends on its own output",
            node_label(stuck)
        );
    }
    Ok(())
}

/// Attribute and constant operand values the importer (tract 0.23) does not
/// survive: a `Transpose` `perm` that is not a permutation of `0..len` makes
/// it loop, allocating without bound; pads, shapes, repeats and ranges that
/// ask for a huge output make it allocate that output.
fn check_attributes(graph: &pb::GraphProto, node: &pb::NodeProto) -> Result<()> {
    if node.op_type == "Pad" {
        // tract 0.23 allocates the padded tensor while typing, before any
        // size check: pads whose output alone exceeds the format's limit
        // abort the process on the allocation instead of failing.
        let attr = node.attribute.iter().find(|a| a.name == "pads");
        let pads = match attr {
            Some(a) => Some(a.ints.clone()),
            None => node
                .input
                .get(1)
                .and_then(|name| int64_initializer(graph, name)),
        };
        if let Some(pads) = pads {
            let rank = pads.len() / 2;
            let mut least: u64 = 1;
            for d in 0..rank {
                let grow = |p: i64| p.max(0) as u64;
                least = least.saturating_mul(
                    1u64.saturating_add(grow(pads[d]))
                        .saturating_add(grow(pads[d + rank])),
                );
            }
            if least > MAX_ELEMENTS {
                bail!("'pads' {pads:?} make the output more than {MAX_ELEMENTS} elements");
            }
        }
    }
    // Ops whose output size is an operand's value: tract materializes the
    // output while typing (ConstantOfShape, Range) or allocates it outright
    // (Expand aborts the process when the allocation fails), so a constant
    // asking for more than the format's limit is refused here.
    let sized_by = match node.op_type.as_str() {
        "ConstantOfShape" => Some(0),
        "Expand" | "Tile" => Some(1),
        "Resize" => Some(3),
        _ => None,
    };
    if let Some(values) = sized_by
        .and_then(|i| node.input.get(i))
        .and_then(|name| int64_initializer(graph, name))
    {
        if values.iter().any(|&v| v < 0) {
            bail!("operand {values:?} has a negative size");
        }
        let least = values.iter().fold(1u64, |n, &v| n.saturating_mul(v as u64));
        if least > MAX_ELEMENTS {
            bail!("operand {values:?} makes the output more than {MAX_ELEMENTS} elements");
        }
    }
    if node.op_type == "Range" {
        let scalar = |i: usize| {
            node.input
                .get(i)
                .and_then(|name| int64_initializer(graph, name))
                .and_then(|v| v.first().copied())
        };
        if let (Some(start), Some(limit), Some(delta)) = (scalar(0), scalar(1), scalar(2)) {
            let span = (limit as i128 - start as i128).unsigned_abs();
            let step = (delta as i128).unsigned_abs().max(1);
            if span / step > MAX_ELEMENTS as u128 {
                bail!("range {start}..{limit} by {delta} has more than {MAX_ELEMENTS} elements");
            }
        }
    }
    if node.op_type == "Transpose" {
        if let Some(perm) = node.attribute.iter().find(|a| a.name == "perm") {
            let mut seen = vec![false; perm.ints.len()];
            for &p in &perm.ints {
                match usize::try_from(p).ok().filter(|&p| p < seen.len()) {
                    Some(p) if !seen[p] => seen[p] = true,
                    _ => bail!(
                        "attribute 'perm' {:?} is not a permutation of 0..{}",
                        perm.ints,
                        perm.ints.len()
                    ),
                }
            }
        }
    }
    Ok(())
}

/// The values of an int64 initializer called `name`, if there is one.
fn int64_initializer(graph: &pb::GraphProto, name: &str) -> Option<Vec<i64>> {
    let init = graph
        .initializer
        .iter()
        .find(|t| t.name == name && t.data_type == 7)?;
    if init.raw_data.is_empty() {
        return Some(init.int64_data.clone());
    }
    Some(
        init.raw_data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8-byte chunk")))
            .collect(),
    )
}

thread_local! {
    static IN_IMPORTER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (a call into tract) and turns a panic inside it into an error.
pub fn guard_importer<T>(origin: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let outer = IN_IMPORTER.with(|c| c.replace(true));
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_IMPORTER.with(|c| c.set(outer));
    match res {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown failure".into());
            Err(anyhow!(
                "{origin}: the ONNX importer (tract) failed on this model: {msg}"
            ))
        }
    }
}

/// Whether a panic happens inside a call guarded by [`guard_importer`] (tract
/// and its dependencies: the only place the compiler tolerates one).
pub fn panic_is_in_importer(_info: &std::panic::PanicHookInfo<'_>) -> bool {
    IN_IMPORTER.with(|c| c.get())
}
