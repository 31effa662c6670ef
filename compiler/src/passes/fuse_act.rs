//! Activation canonicalization and fusion.
//!
//! tract expresses Relu as `Max(x, 0)` and Clip as `Max`/`Min` with scalar
//! constants; these become `Clamp` unary ops, consecutive clamps merge, and
//! a clamp, hard-swish, leaky-relu or sigmoid directly after a conv, matmul
//! or binary op (its only reader) is fused into that op.

use anyhow::Result;

use crate::ir::{Graph, Op};
use ferrite::kernels::elementwise::{BinaryKind, UnaryKind};
use ferrite::kernels::Act;

/// Runs canonicalization, clamp merging and fusion to a fixed point.
pub fn fuse_activations(g: &mut Graph) -> Result<bool> {
    let mut changed = canonicalize(g);
    loop {
        let step = merge_clamps(g) | fuse(g);
        changed |= step;
        if !step {
            return Ok(changed);
        }
    }
}

fn canonicalize(g: &mut Graph) -> bool {
    let mut changed = false;
    for i in 0..g.nodes.len() {
        let n = &g.nodes[i];
        let Op::Binary {
            kind: kind @ (BinaryKind::Max | BinaryKind::Min),
            act: Act::None,
        } = n.op
        else {
            continue;
        };
        let (x, c) = match (
            g.tensors[n.inputs[0]].scalar(),
            g.tensors[n.inputs[1]].scalar(),
        ) {
            (None, Some(c)) => (n.inputs[0], c),
            (Some(c), None) => (n.inputs[1], c),
            _ => continue,
        };
        if g.tensors[x].shape != g.tensors[n.output].shape || c.is_nan() {
            continue;
        }
        let k = match kind {
            BinaryKind::Max if c == 0.0 => UnaryKind::Relu,
            BinaryKind::Max => UnaryKind::Clamp(c, f32::INFINITY),
            _ => UnaryKind::Clamp(f32::NEG_INFINITY, c),
        };
        g.nodes[i].op = Op::Unary(k);
        g.nodes[i].inputs = vec![x];
        changed = true;
    }
    changed
}

fn clamp_of(k: UnaryKind) -> Option<(f32, f32)> {
    match k {
        UnaryKind::Relu => Some((0.0, f32::INFINITY)),
        UnaryKind::Clamp(a, b) => Some((a, b)),
        _ => None,
    }
}

fn merge_clamps(g: &mut Graph) -> bool {
    for i in 0..g.nodes.len() {
        let Op::Unary(k2) = g.nodes[i].op else {
            continue;
        };
        let Some((a2, b2)) = clamp_of(k2) else {
            continue;
        };
        let x = g.nodes[i].inputs[0];
        let Some(p) = g.producer(x) else { continue };
        let Op::Unary(k1) = g.nodes[p].op else {
            continue;
        };
        let Some((a1, b1)) = clamp_of(k1) else {
            continue;
        };
        if g.use_count(x) != 1 || g.outputs.contains(&x) {
            continue;
        }
        // clamp(clamp(x, a1, b1), a2, b2) == clamp(x, lo, hi), also when the
        // two intervals are disjoint (the result is then constant).
        let lo = a1.max(a2).min(b2);
        let hi = b1.min(b2).max(a2);
        g.nodes[p].op = Op::Unary(if lo == 0.0 && hi == f32::INFINITY {
            UnaryKind::Relu
        } else {
            UnaryKind::Clamp(lo, hi)
        });
        g.nodes[p].output = g.nodes[i].output;
        g.nodes.remove(i);
        return true;
    }
    false
}

fn fuse(g: &mut Graph) -> bool {
    for i in 0..g.nodes.len() {
        let Op::Unary(k) = g.nodes[i].op else {
            continue;
        };
        let act = match k {
            UnaryKind::Relu => Act::Clamp(0.0, f32::INFINITY),
            UnaryKind::Clamp(a, b) => Act::Clamp(a, b),
            UnaryKind::HardSwish => Act::HardSwish,
            UnaryKind::LeakyRelu(a) => Act::LeakyRelu(a),
            UnaryKind::Sigmoid => Act::Sigmoid,
            _ => continue,
        };
        let x = g.nodes[i].inputs[0];
        if g.use_count(x) != 1 || g.outputs.contains(&x) || g.inputs.contains(&x) {
            continue;
        }
        let Some(p) = g.producer(x) else { continue };
        let slot = match &mut g.nodes[p].op {
            Op::Conv { act, .. }
            | Op::ConvTranspose { act, .. }
            | Op::MatMul { act }
            | Op::Binary { act, .. } => act,
            _ => continue,
        };
        if *slot != Act::None {
            continue;
        }
        *slot = act;
        g.nodes[p].output = g.nodes[i].output;
        g.nodes.remove(i);
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::testutil::node;

    #[test]
    fn max_min_become_relu6_fused_into_matmul() {
        let mut g = Graph::default();
        let a = g.add_tensor("a", vec![2, 3], None);
        g.inputs.push(a);
        let b = g.add_const("b", vec![3, 4], vec![0.5; 12]);
        let y = node(
            &mut g,
            Op::MatMul { act: Act::None },
            vec![a, b],
            vec![2, 4],
        );
        let zero = g.add_const("zero", vec![], vec![0.0]);
        let six = g.add_const("six", vec![1], vec![6.0]);
        let r = node(
            &mut g,
            Op::Binary {
                kind: BinaryKind::Max,
                act: Act::None,
            },
            vec![y, zero],
            vec![2, 4],
        );
        let o = node(
            &mut g,
            Op::Binary {
                kind: BinaryKind::Min,
                act: Act::None,
            },
            vec![six, r],
            vec![2, 4],
        );
        g.outputs.push(o);
        assert!(fuse_activations(&mut g).unwrap());
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(
            g.nodes[0].op,
            Op::MatMul {
                act: Act::Clamp(0.0, 6.0)
            }
        );
        assert_eq!(g.nodes[0].output, o);
    }

    #[test]
    fn disjoint_clamps_compose() {
        let mut g = Graph::default();
        let a = g.add_tensor("a", vec![4], None);
        g.inputs.push(a);
        let c1 = node(
            &mut g,
            Op::Unary(UnaryKind::Clamp(0.0, 1.0)),
            vec![a],
            vec![4],
        );
        let c2 = node(
            &mut g,
            Op::Unary(UnaryKind::Clamp(2.0, 3.0)),
            vec![c1],
            vec![4],
        );
        g.outputs.push(c2);
        assert!(fuse_activations(&mut g).unwrap());
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(g.nodes[0].op, Op::Unary(UnaryKind::Clamp(2.0, 2.0)));
    }

    #[test]
    fn shared_producer_is_not_fused() {
        let mut g = Graph::default();
        let a = g.add_tensor("a", vec![4], None);
        g.inputs.push(a);
        let s = node(
            &mut g,
            Op::Binary {
                kind: BinaryKind::Add,
                act: Act::None,
            },
            vec![a, a],
            vec![4],
        );
        let r = node(&mut g, Op::Unary(UnaryKind::Relu), vec![s], vec![4]);
        g.outputs.push(r);
        g.outputs.push(s);
        assert!(!fuse_activations(&mut g).unwrap());
    }
}
