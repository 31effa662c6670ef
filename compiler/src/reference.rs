//! tract as the reference executor: the same ONNX model run by tract's own
//! optimized plan, for `ferrite bench --vs` and the tests.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use tract_onnx::prelude::*;

use crate::npy::Array;

/// A runnable tract plan with fixed input shapes.
pub struct TractModel {
    plan: Arc<TypedSimplePlan>,
}

impl TractModel {
    /// Loads and optimizes `path` for inputs of `shapes` (in model input order).
    pub fn load(path: &Path, shapes: &[Vec<usize>]) -> Result<Self> {
        let onnx = tract_onnx::onnx()
            .with_ignore_output_shapes(true)
            .with_ignore_value_info(true);
        let mut proto = onnx
            .proto_model_for_path(path)
            .map_err(|e| anyhow!("tract cannot load {}: {e}", path.display()))?;
        // Duplicate node names, which ONNX allows, stop tract's typing.
        if let Some(graph) = proto.graph.as_mut() {
            crate::import::unique_node_names(&mut graph.node);
        }
        let mut model = onnx
            .model_for_proto_model(&proto)
            .map_err(|e| anyhow!("tract cannot load {}: {e}", path.display()))?;
        for (i, s) in shapes.iter().enumerate() {
            model = model.with_input_fact(i, f32::fact(s).into())?;
        }
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .with_context(|| format!("tract cannot optimize {}", path.display()))?;
        Ok(TractModel { plan })
    }

    /// Runs the plan on `inputs` (model input order).
    pub fn run(&self, inputs: &[&Array]) -> Result<Vec<Array>> {
        let tv: TVec<TValue> = inputs
            .iter()
            .map(|a| Ok(Tensor::from_shape(&a.shape, &a.data)?.into()))
            .collect::<Result<_>>()?;
        let outs = self.plan.run(tv)?;
        outs.iter()
            .map(|t| {
                let t = t.cast_to::<f32>()?;
                let v = t.to_plain_array_view::<f32>()?;
                Ok(Array {
                    shape: v.shape().to_vec(),
                    data: v.iter().copied().collect(),
                })
            })
            .collect()
    }
}
