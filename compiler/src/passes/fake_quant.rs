//! Expands imported QDQ pairs ([`Op::FakeQuant`]) into the runtime's
//! Quantize and Dequantize ops for an `f32` compile (a `--quantize int8`
//! compile absorbs them instead, see `quant::quantize`).

use anyhow::Result;

use crate::ir::{Graph, Node, Op};

/// Returns true when it expanded at least one pair.
pub fn expand_fake_quant(g: &mut Graph) -> Result<bool> {
    let mut changed = false;
    let mut nodes = Vec::with_capacity(g.nodes.len());
    for n in std::mem::take(&mut g.nodes) {
        let Op::FakeQuant(q) = n.op else {
            nodes.push(n);
            continue;
        };
        let (x, y) = (n.inputs[0], n.output);
        let name = g.fresh_name(&format!("{}.q", g.tensors[y].name));
        let shape = g.tensors[y].shape.clone();
        let yq = g.add_i8(name, shape, q);
        nodes.push(Node {
            name: format!("{}.quantize", n.name),
            op: Op::Quantize,
            inputs: vec![x],
            output: yq,
        });
        nodes.push(Node {
            name: n.name,
            op: Op::Dequantize,
            inputs: vec![yq],
            output: y,
        });
        changed = true;
    }
    g.nodes = nodes;
    Ok(changed)
}
