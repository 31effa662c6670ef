//! Splits activations that int8 kernels cannot fuse (hard-swish, sigmoid,
//! leaky ReLU) off their producers into separate unary nodes, before
//! calibration, so the pre-activation tensor is observed and each half gets
//! its own quantization (the unary half becomes a lookup table). Clamps
//! (ReLU, ReLU6, Clip) stay fused: they become integer output clamps.

use crate::ir::{Graph, Node, Op};
use ferrite::kernels::elementwise::UnaryKind;
use ferrite::kernels::Act;

/// Returns the number of activations split off.
pub fn unfuse_activations(g: &mut Graph) -> usize {
    let mut nodes = Vec::with_capacity(g.nodes.len());
    let mut split = 0;
    for mut n in std::mem::take(&mut g.nodes) {
        let act = match &mut n.op {
            Op::Conv { act, .. }
            | Op::ConvTranspose { act, .. }
            | Op::MatMul { act }
            | Op::Binary { act, .. } => act,
            _ => {
                nodes.push(n);
                continue;
            }
        };
        let kind = match *act {
            Act::HardSwish => UnaryKind::HardSwish,
            Act::Sigmoid => UnaryKind::Sigmoid,
            Act::LeakyRelu(a) => UnaryKind::LeakyRelu(a),
            Act::None | Act::Clamp(..) => {
                nodes.push(n);
                continue;
            }
        };
        *act = Act::None;
        let out = n.output;
        let name = g.fresh_name(&format!("{}.preact", g.tensors[out].name));
        let shape = g.tensors[out].shape.clone();
        let pre = g.add_tensor(name, shape, None);
        n.output = pre;
        let act_name = format!("{}.{kind:?}", n.name);
        nodes.push(n);
        nodes.push(Node {
            name: act_name,
            op: Op::Unary(kind),
            inputs: vec![pre],
            output: out,
        });
        split += 1;
    }
    g.nodes = nodes;
    split
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::testutil::node;
    use ferrite::kernels::elementwise::BinaryKind;

    #[test]
    fn splits_hard_swish_keeps_clamp() {
        let mut g = Graph::default();
        let x = g.add_tensor("x", vec![4], None);
        g.inputs.push(x);
        let a = node(
            &mut g,
            Op::Binary {
                kind: BinaryKind::Add,
                act: Act::HardSwish,
            },
            vec![x, x],
            vec![4],
        );
        let b = node(
            &mut g,
            Op::Binary {
                kind: BinaryKind::Mul,
                act: Act::Clamp(0.0, 6.0),
            },
            vec![a, a],
            vec![4],
        );
        g.outputs.push(b);
        assert_eq!(unfuse_activations(&mut g), 1);
        assert_eq!(g.nodes.len(), 3);
        assert_eq!(g.nodes[1].op, Op::Unary(UnaryKind::HardSwish));
        assert_eq!(g.nodes[1].output, a);
        assert_eq!(g.nodes[0].output, g.nodes[1].inputs[0]);
        assert!(matches!(
            g.nodes[2].op,
            Op::Binary {
                act: Act::Clamp(..),
                ..
            }
        ));
    }
}
