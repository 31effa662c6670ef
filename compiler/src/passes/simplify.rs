//! Local simplifications of data-movement ops: chains of reshapes and
//! transposes collapse, and copies that change nothing disappear.

use anyhow::Result;

use crate::ir::{Graph, Op};

/// Applies the rewrites until none applies.
pub fn simplify(g: &mut Graph) -> Result<bool> {
    let mut changed = false;
    while step(g) {
        changed = true;
    }
    Ok(changed)
}

fn step(g: &mut Graph) -> bool {
    for i in 0..g.nodes.len() {
        let n = g.nodes[i].clone();
        match &n.op {
            Op::Reshape => {
                let x = n.inputs[0];
                // Identity copy of an intermediate: read the input directly.
                if g.tensors[x].shape == g.tensors[n.output].shape && !g.outputs.contains(&n.output)
                {
                    g.replace_uses(n.output, x);
                    g.nodes.remove(i);
                    return true;
                }
                // Reshape of a reshape: skip the inner one.
                if let Some(p) = g.producer(x) {
                    if g.nodes[p].op == Op::Reshape {
                        g.nodes[i].inputs[0] = g.nodes[p].inputs[0];
                        return true;
                    }
                }
            }
            Op::Transpose(perm) => {
                if perm.iter().enumerate().all(|(d, &p)| d == p) {
                    g.nodes[i].op = Op::Reshape;
                    return true;
                }
                if let Some(p) = g.producer(n.inputs[0]) {
                    if let Op::Transpose(inner) = &g.nodes[p].op {
                        // out[d] = mid[perm[d]] = in[inner[perm[d]]]
                        let composed: Vec<usize> = perm.iter().map(|&q| inner[q]).collect();
                        g.nodes[i].inputs[0] = g.nodes[p].inputs[0];
                        g.nodes[i].op = Op::Transpose(composed);
                        return true;
                    }
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::testutil::node;

    #[test]
    fn inverse_transposes_cancel() {
        let mut g = Graph::default();
        let x = g.add_tensor("x", vec![1, 2, 3, 4], None);
        g.inputs.push(x);
        let a = node(
            &mut g,
            Op::Transpose(vec![0, 2, 3, 1]),
            vec![x],
            vec![1, 3, 4, 2],
        );
        let b = node(
            &mut g,
            Op::Transpose(vec![0, 3, 1, 2]),
            vec![a],
            vec![1, 2, 3, 4],
        );
        let c = node(&mut g, Op::Reshape, vec![b], vec![1, 24]);
        g.outputs.push(c);
        assert!(simplify(&mut g).unwrap());
        crate::passes::remove_dead(&mut g).unwrap();
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(g.nodes[0].op, Op::Reshape);
        assert_eq!(g.nodes[0].inputs, vec![g.inputs[0]]);
    }
}
