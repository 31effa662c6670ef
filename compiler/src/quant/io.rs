//! `--int8-input`: each graph input becomes the int8 tensor its `Quantize`
//! node made, with that node's scale and zero point, so the caller writes
//! int8 directly (`ferrite::vision::Preprocess::to_i8`: a camera frame
//! goes into the model without an `f32` image in between).

use anyhow::{anyhow, bail, Result};

use crate::ir::{Graph, Node, Op};

/// Rewrites every graph input of a quantized graph (built with
/// `quantize_inputs`) to int8. The input keeps its name; `f32` consumers,
/// if any, read it through a `Dequantize`.
pub fn int8_inputs(g: &mut Graph) -> Result<()> {
    for k in 0..g.inputs.len() {
        let t = g.inputs[k];
        let name = g.tensors[t].name.clone();
        if g.outputs.contains(&t) {
            bail!("--int8-input: input '{name}' is also a graph output");
        }
        let qi = g
            .nodes
            .iter()
            .position(|n| matches!(n.op, Op::Quantize) && n.inputs == [t])
            .ok_or_else(|| anyhow!("--int8-input: input '{name}' has no quantized twin"))?;
        let tq = g.nodes.remove(qi).output;
        if g.nodes.iter().any(|n| n.inputs.contains(&t)) {
            g.nodes.insert(
                0,
                Node {
                    name: format!("{name}.dequantize"),
                    op: Op::Dequantize,
                    inputs: vec![tq],
                    output: t,
                },
            );
        }
        g.inputs[k] = tq;
        let qname = std::mem::replace(&mut g.tensors[tq].name, name);
        g.tensors[t].name = qname;
    }
    crate::passes::remove_dead(g)?;
    Ok(())
}
