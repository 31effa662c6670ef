//! Runs a graph on host data through the runtime and shows every tensor it
//! computes to a visitor (calibration and per-layer accuracy both use it).

use anyhow::{anyhow, bail, Result};

use crate::compile::{build, AlignedBytes};
use crate::ir::{Graph, TensorId};
use crate::npy::Array;
use ferrite::{DType, Interpreter, LoadOptions, Model};

/// A graph compiled once for repeated traced runs.
pub struct Tracer {
    image: AlignedBytes,
    arena: AlignedBytes,
}

impl Tracer {
    /// Plans and writes `g` (which must be runtime-ready) for tracing.
    pub fn new(g: &Graph) -> Result<Tracer> {
        let compiled = build(g.clone(), "calibration graph")?;
        let image = AlignedBytes::from_slice(&compiled.image)?;
        let arena = AlignedBytes::zeroed(compiled.plan.arena_size)?;
        Ok(Tracer { image, arena })
    }

    /// Runs one sample (`inputs` in graph-input order) and calls `visit`
    /// with every graph input, then every op output right after the op ran,
    /// then any graph output not seen yet (one the memory plan made a view
    /// of another tensor), as `f32` values (`i8` tensors dequantized).
    /// Tensor ids are the graph's.
    pub fn run(&mut self, inputs: &[Array], visit: impl FnMut(TensorId, &[f32])) -> Result<()> {
        self.run_with(inputs, |_, _| {}, visit)
    }

    /// [`Tracer::run`] with `before(op_inputs, interpreter)` called before
    /// each op runs, with the op's input tensor ids (to overwrite them).
    pub fn run_with(
        &mut self,
        inputs: &[Array],
        mut before: impl FnMut(&[usize], &mut Interpreter<'_, '_>),
        mut visit: impl FnMut(TensorId, &[f32]),
    ) -> Result<()> {
        // Validated when the tracer was built; the CRC needs no second look.
        let model = Model::load_with(self.image.as_slice(), LoadOptions { verify_crc: false })
            .map_err(|e| anyhow!("internal error: traced model does not load: {e}"))?;
        // The reference kernels: calibration statistics, and so the
        // compiled model, must not depend on the compiling machine's ISA
        // (the SIMD tables' f32 sums use fused multiply-adds).
        let mut interp = Interpreter::with_kernels(
            &model,
            self.arena.as_mut_slice(),
            ferrite::kernels::Kernels::reference(),
        )
        .map_err(|e| anyhow!("internal error: {e}"))?;
        if inputs.len() != model.num_inputs() {
            bail!(
                "the model has {} inputs, a sample has {}",
                model.num_inputs(),
                inputs.len()
            );
        }
        for (i, arr) in inputs.iter().enumerate() {
            let mut t = interp.input_mut(i).map_err(|e| anyhow!("{e}"))?;
            if t.info.shape() != arr.shape.as_slice() {
                bail!(
                    "input '{}' must have shape {:?}, the sample has {:?}",
                    t.info.name(),
                    t.info.shape(),
                    arr.shape
                );
            }
            let name = t.info.name();
            let dst = t
                .as_f32_mut()
                .ok_or_else(|| anyhow!("input '{name}' is not f32"))?;
            dst.copy_from_slice(&arr.data);
            if let Some(id) = model.input_tensor(i) {
                visit(id, &arr.data);
            }
        }
        let mut buf = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut op_inputs = Vec::new();
        for o in 0..model.num_ops() {
            if let Some(op) = model.op(o) {
                op_inputs.clear();
                op_inputs.extend((0..op.num_inputs()).filter_map(|i| op.input(i)));
                before(&op_inputs, &mut interp);
            }
            interp.invoke_op(o);
            let Some(id) = model.op(o).and_then(|op| op.output(0)) else {
                continue;
            };
            let t = interp.tensor(id).map_err(|e| anyhow!("{e}"))?;
            values(&t, &mut buf);
            visit(id, &buf);
            seen.insert(id);
        }
        for i in 0..model.num_outputs() {
            let Some(id) = model.output_tensor(i).filter(|id| !seen.contains(id)) else {
                continue;
            };
            let t = interp.tensor(id).map_err(|e| anyhow!("{e}"))?;
            values(&t, &mut buf);
            visit(id, &buf);
        }
        Ok(())
    }
}

/// A tensor's elements as `f32` (`i8` dequantized with its parameters).
pub fn values(t: &ferrite::TensorRef<'_>, out: &mut Vec<f32>) {
    out.clear();
    match t.info.dtype {
        DType::F32 => out.extend_from_slice(t.as_f32().unwrap_or(&[])),
        DType::I8 => out.extend(
            t.as_i8()
                .unwrap_or(&[])
                .iter()
                .map(|&q| ferrite::quant::dequantize(q, t.info.scale, t.info.zero_point)),
        ),
        DType::I32 => out.extend(
            t.bytes()
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32),
        ),
    }
}
