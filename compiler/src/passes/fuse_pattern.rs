//! Recognizes activations and reductions that exporters write out op by op
//! and tract keeps decomposed:
//!
//! - `x * clamp(x + 3, 0, 6) / 6` (or `* 1/6`) becomes `HardSwish(x)`;
//! - `clamp(x * a + b, 0, 1)` becomes `HardSigmoid(a, b)(x)`;
//! - `ReduceSum(x) / n` (or `* 1/n`) over `n` elements becomes `ReduceMean`.
//!
//! Runs after `fuse_act`, which has already turned the clamps into fused
//! activations of the `Add`s.

use anyhow::Result;

use crate::ir::{Graph, Op, TensorId};
use ferrite::kernels::elementwise::{BinaryKind, UnaryKind};
use ferrite::kernels::reduce::ReduceKind;
use ferrite::kernels::Act;

/// Applies the rewrites until none applies.
pub fn fuse_patterns(g: &mut Graph) -> Result<bool> {
    let mut changed = false;
    while step(g) {
        changed = true;
    }
    Ok(changed)
}

/// `(other, c)` when `node`'s inputs are one activation and one scalar constant.
fn with_scalar(g: &Graph, inputs: &[TensorId]) -> Option<(TensorId, f32)> {
    match (g.tensors[inputs[0]].scalar(), g.tensors[inputs[1]].scalar()) {
        (None, Some(c)) => Some((inputs[0], c)),
        (Some(c), None) => Some((inputs[1], c)),
        _ => None,
    }
}

/// Does `v` scale by `1/n` when used with `kind` (division by `n` or multiplication by `1/n`)?
fn is_inverse(kind: BinaryKind, c: f32, n: f32) -> bool {
    match kind {
        BinaryKind::Div => c == n,
        BinaryKind::Mul => (c * n - 1.0).abs() < 1e-6,
        _ => false,
    }
}

/// The node producing `t` if `t` has exactly this one reader and is no graph output.
fn sole_producer(g: &Graph, t: TensorId) -> Option<usize> {
    if g.use_count(t) != 1 || g.outputs.contains(&t) {
        return None;
    }
    g.producer(t)
}

fn step(g: &mut Graph) -> bool {
    for i in 0..g.nodes.len() {
        let Op::Binary {
            kind,
            act: Act::None,
        } = g.nodes[i].op
        else {
            continue;
        };
        if !matches!(kind, BinaryKind::Div | BinaryKind::Mul | BinaryKind::Add) {
            continue;
        }
        let Some((m, c)) = with_scalar(g, &g.nodes[i].inputs) else {
            continue;
        };
        // HardSwish: (x * relu6(x + 3)) / 6
        if is_inverse(kind, c, 6.0) {
            if let Some(x) = hard_swish_input(g, m) {
                g.nodes[i].op = Op::Unary(UnaryKind::HardSwish);
                g.nodes[i].inputs = vec![x];
                return true;
            }
        }
        // ReduceMean: ReduceSum(x) / n
        if let Some(p) = sole_producer(g, m) {
            if let Op::Reduce {
                kind: ReduceKind::Sum,
                axes,
            } = &g.nodes[p].op
            {
                let x = g.nodes[p].inputs[0];
                let n: usize = axes.iter().map(|&a| g.tensors[x].shape[a]).product();
                if is_inverse(kind, c, n as f32) {
                    g.nodes[p].op = Op::Reduce {
                        kind: ReduceKind::Mean,
                        axes: axes.clone(),
                    };
                    g.nodes[p].output = g.nodes[i].output;
                    g.nodes.remove(i);
                    return true;
                }
            }
        }
    }
    // HardSigmoid: clamp(x * a + b, 0, 1)
    for i in 0..g.nodes.len() {
        let Op::Binary {
            kind: BinaryKind::Add,
            act: Act::Clamp(lo, hi),
        } = g.nodes[i].op
        else {
            continue;
        };
        if lo != 0.0 || hi != 1.0 {
            continue;
        }
        let Some((m, beta)) = with_scalar(g, &g.nodes[i].inputs) else {
            continue;
        };
        let Some(p) = sole_producer(g, m) else {
            continue;
        };
        let Op::Binary {
            kind: BinaryKind::Mul,
            act: Act::None,
        } = g.nodes[p].op
        else {
            continue;
        };
        let Some((x, alpha)) = with_scalar(g, &g.nodes[p].inputs) else {
            continue;
        };
        if g.tensors[x].shape != g.tensors[g.nodes[i].output].shape {
            continue;
        }
        g.nodes[i].op = Op::Unary(UnaryKind::HardSigmoid(alpha, beta));
        g.nodes[i].inputs = vec![x];
        return true;
    }
    false
}

/// `x` when `m = x * relu6(x + 3)` with both intermediates read only there.
fn hard_swish_input(g: &Graph, m: TensorId) -> Option<TensorId> {
    let p = sole_producer(g, m)?;
    let Op::Binary {
        kind: BinaryKind::Mul,
        act: Act::None,
    } = g.nodes[p].op
    else {
        return None;
    };
    let [a, b] = g.nodes[p].inputs[..] else {
        return None;
    };
    for (x, r) in [(a, b), (b, a)] {
        let Some(q) = sole_producer(g, r) else {
            continue;
        };
        let Op::Binary {
            kind: BinaryKind::Add,
            act: Act::Clamp(lo, hi),
        } = g.nodes[q].op
        else {
            continue;
        };
        if lo != 0.0 || hi != 6.0 {
            continue;
        }
        if with_scalar(g, &g.nodes[q].inputs) == Some((x, 3.0))
            && g.tensors[x].shape == g.tensors[m].shape
        {
            return Some(x);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::testutil::node;

    #[test]
    fn decomposed_hard_swish_and_mean_are_recognized() {
        let mut g = Graph::default();
        let x = g.add_tensor("x", vec![1, 4, 2, 2], None);
        g.inputs.push(x);
        let three = g.add_const("three", vec![], vec![3.0]);
        let six = g.add_const("six", vec![1], vec![6.0]);
        let a = node(
            &mut g,
            Op::Binary {
                kind: BinaryKind::Add,
                act: Act::Clamp(0.0, 6.0),
            },
            vec![x, three],
            vec![1, 4, 2, 2],
        );
        let m = node(
            &mut g,
            Op::Binary {
                kind: BinaryKind::Mul,
                act: Act::None,
            },
            vec![x, a],
            vec![1, 4, 2, 2],
        );
        let h = node(
            &mut g,
            Op::Binary {
                kind: BinaryKind::Div,
                act: Act::None,
            },
            vec![m, six],
            vec![1, 4, 2, 2],
        );
        let s = node(
            &mut g,
            Op::Reduce {
                kind: ReduceKind::Sum,
                axes: vec![2, 3],
            },
            vec![h],
            vec![1, 4, 1, 1],
        );
        let q = g.add_const("quarter", vec![], vec![0.25]);
        let o = node(
            &mut g,
            Op::Binary {
                kind: BinaryKind::Mul,
                act: Act::None,
            },
            vec![s, q],
            vec![1, 4, 1, 1],
        );
        g.outputs.push(o);
        assert!(fuse_patterns(&mut g).unwrap());
        crate::passes::remove_dead(&mut g).unwrap();
        let ops: Vec<&Op> = g.nodes.iter().map(|n| &n.op).collect();
        assert_eq!(
            ops,
            [
                &Op::Unary(UnaryKind::HardSwish),
                &Op::Reduce {
                    kind: ReduceKind::Mean,
                    axes: vec![2, 3]
                }
            ]
        );
        assert_eq!(g.nodes[0].inputs, vec![g.inputs[0]]);
    }
}
