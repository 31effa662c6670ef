//! Import: ONNX file -> tract `TypedModel` (typed; see `typed_model` for why
//! not decluttered) -> IR.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use tract_onnx::prelude::*;

use crate::ir::Graph;
use crate::lower;

/// Options of the import stage.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Concrete shapes for inputs, by name (`--input-shape x=1,3,48,192`).
    pub input_shapes: Vec<(String, Vec<usize>)>,
}

/// Parses `NAME=D0,D1,...`.
pub fn parse_input_shape(s: &str) -> Result<(String, Vec<usize>)> {
    let (name, dims) = s
        .rsplit_once('=')
        .ok_or_else(|| anyhow!("--input-shape '{s}' is not NAME=D0,D1,..."))?;
    let dims = dims
        .split(',')
        .map(|d| d.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| anyhow!("--input-shape '{s}': dimensions must be positive integers"))?;
    if dims.contains(&0) {
        bail!("--input-shape '{s}': dimensions must be positive integers");
    }
    Ok((name.to_string(), dims))
}

/// Loads the ONNX model at `path` and lowers it.
pub fn import_path(path: &Path, opts: &ImportOptions) -> Result<Graph> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    import_bytes(&bytes, &path.display().to_string(), opts)
}

/// Loads an ONNX model from memory (`origin` names it in errors) and lowers it.
pub fn import_bytes(bytes: &[u8], origin: &str, opts: &ImportOptions) -> Result<Graph> {
    let typed = typed_model(bytes, origin, opts)?;
    match lower::lower(&typed).with_context(|| format!("{origin}: lowering failed"))? {
        Ok(g) => Ok(g),
        Err(unsupported) => {
            let mut msg = format!(
                "{origin}: {} node(s) cannot be compiled:",
                unsupported.len()
            );
            for u in &unsupported {
                msg.push_str(&format!(
                    "\n  node '{}' (op {}): {}",
                    u.node, u.op, u.reason
                ));
            }
            Err(anyhow!(msg))
        }
    }
}

/// The typed tract model with concrete input shapes.
pub fn typed_model(bytes: &[u8], origin: &str, opts: &ImportOptions) -> Result<TypedModel> {
    crate::onnx_check::check(bytes).map_err(|e| anyhow!("{origin}: {e:#}"))?;
    crate::onnx_check::guard_importer(origin, || typed_model_unguarded(bytes, origin, opts))
}

fn typed_model_unguarded(bytes: &[u8], origin: &str, opts: &ImportOptions) -> Result<TypedModel> {
    let mut onnx = tract_onnx::onnx()
        .with_ignore_output_shapes(true)
        .with_ignore_value_info(true);
    crate::lower::recurrent::register(&mut onnx.op_register);
    let mut proto = onnx
        .proto_model_for_read(&mut &*bytes)
        .map_err(|e| anyhow!("{origin} is not a valid ONNX model: {e:#}"))?;
    if let Some(graph) = proto.graph.as_mut() {
        unique_node_names(&mut graph.node);
    }
    let mut model = onnx
        .model_for_proto_model(&proto)
        .map_err(|e| anyhow!("{origin} is not a valid ONNX model: {e:#}"))?;
    let inputs = model.input_outlets()?.to_vec();
    let names: Vec<String> = inputs
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
    for (name, _) in &opts.input_shapes {
        if !names.contains(name) {
            bail!(
                "{origin}: --input-shape names '{name}', but the model's inputs are: {}",
                names.join(", ")
            );
        }
    }
    for (i, name) in names.iter().enumerate() {
        let fact = model.input_fact(i)?.clone();
        if let Some((_, dims)) = opts.input_shapes.iter().find(|(n, _)| n == name) {
            let dt = fact.datum_type().unwrap_or(f32::datum_type());
            model.set_input_fact(i, InferenceFact::dt_shape(dt, dims.as_slice()))?;
            continue;
        }
        let concrete = fact.shape.as_concrete_finite().ok().flatten();
        if concrete.is_none() {
            bail!(
                "{origin}: input '{name}' has dynamic dimensions {:?}; fix them with --input-shape {name}=D0,D1,...",
                fact.shape
            );
        }
    }
    // The typed model (not the decluttered one) is lowered: tract's declutter
    // removes unit batch axes and rewrites 1x1 convolutions as einsums, which
    // loses the NCHW structure the layout pass relies on. Typing alone already
    // resolves every shape and constant subgraph.
    model
        .into_typed()
        .map_err(|e| anyhow!("{origin}: type inference failed: {e:#}"))
}

/// Renames nodes whose name an earlier node already has (`name#2`, …):
/// exporters emit such graphs (Silero VAD has 15 Constants named
/// `F0::anon`), which ONNX allows and tract's typing refuses.
pub(crate) fn unique_node_names(nodes: &mut [tract_onnx::pb::NodeProto]) {
    let mut seen = std::collections::HashSet::new();
    for n in nodes.iter().filter(|n| !n.name.is_empty()) {
        seen.insert(n.name.clone());
    }
    let mut taken = std::collections::HashSet::new();
    for n in nodes.iter_mut().filter(|n| !n.name.is_empty()) {
        if taken.insert(n.name.clone()) {
            continue;
        }
        let name = (2..)
            .map(|k| format!("{}#{k}", n.name))
            .find(|c| !seen.contains(c))
            .expect("an unused suffix exists");
        seen.insert(name.clone());
        taken.insert(name.clone());
        n.name = name;
    }
}

/// Names of an ONNX model's inputs, in order.
pub fn onnx_input_names(bytes: &[u8]) -> Result<Vec<String>> {
    let model = tract_onnx::onnx()
        .with_ignore_output_shapes(true)
        .with_ignore_value_info(true)
        .model_for_read(&mut &*bytes)
        .map_err(|e| anyhow!("not a valid ONNX model: {e}"))?;
    Ok(model
        .input_outlets()?
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect())
}
