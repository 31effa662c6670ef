//! Dead-node and dead-tensor removal.

use anyhow::Result;

use crate::ir::Graph;

/// Removes nodes whose output nobody reads, then compacts the tensor list.
pub fn remove_dead(g: &mut Graph) -> Result<bool> {
    let mut changed = false;
    loop {
        let before = g.nodes.len();
        let mut used = vec![false; g.tensors.len()];
        for n in &g.nodes {
            for &i in &n.inputs {
                used[i] = true;
            }
        }
        for &o in &g.outputs {
            used[o] = true;
        }
        g.nodes.retain(|n| used[n.output]);
        if g.nodes.len() == before {
            break;
        }
        changed = true;
    }
    // Compact tensors: keep graph inputs, outputs and anything referenced.
    let mut keep = vec![false; g.tensors.len()];
    for n in &g.nodes {
        keep[n.output] = true;
        for &i in &n.inputs {
            keep[i] = true;
        }
    }
    for &t in g.inputs.iter().chain(&g.outputs) {
        keep[t] = true;
    }
    if keep.iter().all(|&k| k) {
        return Ok(changed);
    }
    let mut remap = vec![usize::MAX; g.tensors.len()];
    let mut tensors = Vec::new();
    for (i, t) in g.tensors.drain(..).enumerate() {
        if keep[i] {
            remap[i] = tensors.len();
            tensors.push(t);
        }
    }
    g.tensors = tensors;
    for n in &mut g.nodes {
        n.output = remap[n.output];
        for i in &mut n.inputs {
            *i = remap[*i];
        }
    }
    for t in g.inputs.iter_mut().chain(g.outputs.iter_mut()) {
        *t = remap[*t];
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Op;
    use crate::passes::testutil::node;
    use ferrite::kernels::elementwise::UnaryKind;

    #[test]
    fn removes_unused_branch() {
        let mut g = Graph::default();
        let x = g.add_tensor("x", vec![4], None);
        g.inputs.push(x);
        let a = node(&mut g, Op::Unary(UnaryKind::Relu), vec![x], vec![4]);
        let _dead = node(&mut g, Op::Unary(UnaryKind::Tanh), vec![a], vec![4]);
        let b = node(&mut g, Op::Unary(UnaryKind::Sigmoid), vec![a], vec![4]);
        g.outputs.push(b);
        assert!(remove_dead(&mut g).unwrap());
        assert_eq!(g.nodes.len(), 2);
        assert_eq!(g.tensors.len(), 3);
        assert_eq!(g.nodes[1].inputs, vec![g.nodes[0].output]);
        assert!(!remove_dead(&mut g).unwrap());
    }
}
