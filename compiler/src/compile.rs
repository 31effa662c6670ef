//! The compile driver: ONNX bytes in, validated `.fer` image out.

use anyhow::{anyhow, Result};

use crate::import::{import_bytes, ImportOptions};
use crate::ir::Graph;
use crate::{passes, plan, writer};

/// A compiled model with the figures `compile` prints.
pub struct Compiled {
    /// The `.fer` image.
    pub image: Vec<u8>,
    /// The optimized graph it was written from.
    pub graph: Graph,
    /// The memory plan (arena size, lower bound, baseline, timeline).
    pub plan: plan::Plan,
}

/// Compiles an ONNX model held in memory; `origin` names it in errors.
pub fn compile_bytes(onnx: &[u8], origin: &str, opts: &ImportOptions) -> Result<Compiled> {
    build(optimized_graph(onnx, origin, opts)?, origin)
}

/// Imports and optimizes an ONNX model: the runtime-ready `f32` graph (the
/// input of quantization).
pub fn optimized_graph(onnx: &[u8], origin: &str, opts: &ImportOptions) -> Result<Graph> {
    let mut graph = import_bytes(onnx, origin, opts)?;
    passes::optimize(&mut graph).map_err(|e| anyhow!("{origin}: {e:#}"))?;
    Ok(graph)
}

/// Plans and writes an optimized graph, then validates the image with the
/// runtime's own loader (the final check of what was written).
pub fn build(mut graph: Graph, origin: &str) -> Result<Compiled> {
    passes::expand_fake_quant(&mut graph)?;
    let plan = plan::plan(&graph);
    let image = writer::write(&graph, &plan).map_err(|e| anyhow!("{origin}: {e:#}"))?;
    let aligned = AlignedBytes::from_slice(&image)?;
    ferrite::Model::load(aligned.as_slice()).map_err(|e| {
        anyhow!("{origin}: internal error: the written model does not validate: {e}")
    })?;
    Ok(Compiled { image, graph, plan })
}

/// A buffer whose start is page-aligned (anonymous memory map), as
/// `Model::load` and `Interpreter::new` want; a `Vec<u8>` gives no alignment
/// guarantee.
pub struct AlignedBytes {
    map: memmap2::MmapMut,
    len: usize,
}

impl AlignedBytes {
    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> Result<Self> {
        let map = memmap2::MmapMut::map_anon(len.max(1))
            .map_err(|e| anyhow!("cannot map {len} bytes of memory: {e}"))?;
        Ok(AlignedBytes { map, len })
    }

    /// A copy of `b`.
    pub fn from_slice(b: &[u8]) -> Result<Self> {
        let mut a = Self::zeroed(b.len())?;
        a.as_mut_slice().copy_from_slice(b);
        Ok(a)
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.map[..self.len]
    }

    /// The bytes, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.map[..self.len]
    }
}
