//! Folds per-channel affine ops into the preceding conv or matmul: this is
//! where BatchNormalization (which tract decomposes into `Mul` and `Add` by
//! constants) disappears, as do Gemm's bias `Add` and scale `Mul`.
//!
//! Runs on NCHW semantics (before the layout pass): for `Conv` and
//! `ConvTranspose` the channel axis is 1; for `MatMul` it is the last axis.

use anyhow::Result;

use crate::ir::{Graph, Op, TensorId};
use ferrite::kernels::elementwise::BinaryKind;
use ferrite::kernels::Act;

/// Folds every foldable `Mul`/`Div`/`Add`/`Sub` by a per-channel constant.
pub fn fold_affine(g: &mut Graph) -> Result<bool> {
    let mut changed = false;
    let mut i = 0;
    while i < g.nodes.len() {
        if try_fold(g, i) {
            changed = true;
        } else {
            i += 1;
        }
    }
    Ok(changed)
}

/// The per-channel values of constant `c` broadcast against an output of
/// `out` shape whose channel axis is `axis`, or `None` if it varies elsewhere.
fn per_channel(g: &Graph, c: TensorId, out: &[usize], axis: usize) -> Option<Vec<f32>> {
    let t = &g.tensors[c];
    let data = t.const_f32()?;
    if t.shape.len() > out.len() {
        return None;
    }
    let off = out.len() - t.shape.len();
    let mut len = 1;
    for (d, &s) in t.shape.iter().enumerate() {
        if d + off == axis {
            if s != 1 && s != out[axis] {
                return None;
            }
            len = s;
        } else if s != 1 {
            return None;
        }
    }
    let n = out[axis];
    Some(if len == 1 {
        vec![data[0]; n]
    } else {
        data.to_vec()
    })
}

/// Tries to fold the affine node at `i` into its producer; true on success.
fn try_fold(g: &mut Graph, i: usize) -> bool {
    let node = &g.nodes[i];
    let Op::Binary {
        kind,
        act: Act::None,
    } = node.op
    else {
        return false;
    };
    if !matches!(
        kind,
        BinaryKind::Add | BinaryKind::Sub | BinaryKind::Mul | BinaryKind::Div
    ) {
        return false;
    }
    // x (op) c with the producer of x a conv/matmul; c may come first for + and *.
    let (x, c) = match (g.is_const(node.inputs[0]), g.is_const(node.inputs[1])) {
        (false, true) => (node.inputs[0], node.inputs[1]),
        (true, false) if matches!(kind, BinaryKind::Add | BinaryKind::Mul) => {
            (node.inputs[1], node.inputs[0])
        }
        _ => return false,
    };
    let out_t = node.output;
    if g.tensors[out_t].shape != g.tensors[x].shape || g.use_count(x) != 1 || g.outputs.contains(&x)
    {
        return false;
    }
    let Some(mut p) = g.producer(x) else {
        return false;
    };
    let shape = g.tensors[x].shape.clone();
    // A `Reshape` that keeps the last axis may sit between a `MatMul` and
    // the op (`[m, n] -> [1, m, n]`): the op folds into the `MatMul`, and the
    // `Reshape` then writes the op's output.
    let mut reshape = None;
    if matches!(g.nodes[p].op, Op::Reshape) {
        let y = g.nodes[p].inputs[0];
        let q = g.producer(y);
        let keeps_last = g.tensors[y].shape.last() == shape.last();
        if let Some(q) = q.filter(|&q| {
            matches!(g.nodes[q].op, Op::MatMul { act: Act::None })
                && keeps_last
                && g.use_count(y) == 1
                && !g.outputs.contains(&y)
        }) {
            reshape = Some(p);
            p = q;
        }
    }
    let axis = match g.nodes[p].op {
        Op::Conv { act: Act::None, .. } | Op::ConvTranspose { act: Act::None, .. }
            if shape.len() == 4 =>
        {
            1
        }
        Op::MatMul { act: Act::None } => shape.len() - 1,
        _ => return false,
    };
    let Some(mut v) = per_channel(g, c, &shape, axis) else {
        return false;
    };
    let n = shape[axis];
    match kind {
        BinaryKind::Sub => v.iter_mut().for_each(|x| *x = -*x),
        BinaryKind::Div => v.iter_mut().for_each(|x| *x = 1.0 / *x),
        _ => {}
    }
    let scale = matches!(kind, BinaryKind::Mul | BinaryKind::Div);
    let prod = g.nodes[p].clone();
    if scale && !g.is_const(prod.inputs[1]) {
        return false;
    }
    // Bias: existing or a fresh zero one.
    let bias_id = if prod.inputs.len() == 3 {
        let old = &g.tensors[prod.inputs[2]];
        let data = old
            .const_f32()
            .map(<[f32]>::to_vec)
            .unwrap_or_else(|| vec![0.0; n]);
        let name = g.fresh_name(&format!("{}.bias", prod.name));
        g.add_const(name, vec![n], data)
    } else {
        let name = g.fresh_name(&format!("{}.bias", prod.name));
        g.add_const(name, vec![n], vec![0.0; n])
    };
    if scale {
        let w = &g.tensors[prod.inputs[1]];
        let ws = w.shape.clone();
        let mut wd = w.const_f32().map(<[f32]>::to_vec).unwrap_or_default();
        match prod.op {
            Op::Conv { .. } | Op::ConvTranspose { .. } => {
                // OIHW: one contiguous block per output channel.
                let per = wd.len() / n;
                for (o, chunk) in wd.chunks_mut(per).enumerate() {
                    chunk.iter_mut().for_each(|x| *x *= v[o]);
                }
            }
            Op::MatMul { .. } => {
                // b [.., K, N]: scale columns.
                for (idx, x) in wd.iter_mut().enumerate() {
                    *x *= v[idx % n];
                }
            }
            _ => return false,
        }
        let name = g.fresh_name(&format!("{}.scaled", g.tensors[prod.inputs[1]].name));
        let w_new = g.add_const(name, ws, wd);
        g.nodes[p].inputs[1] = w_new;
        if let Some(crate::ir::Data::F32(bd)) = g.tensors[bias_id].data.as_mut() {
            bd.iter_mut().zip(&v).for_each(|(b, s)| *b *= s);
        }
    } else if let Some(crate::ir::Data::F32(bd)) = g.tensors[bias_id].data.as_mut() {
        bd.iter_mut().zip(&v).for_each(|(b, s)| *b += s);
    }
    if g.nodes[p].inputs.len() == 3 {
        g.nodes[p].inputs[2] = bias_id;
    } else {
        g.nodes[p].inputs.push(bias_id);
    }
    // The producer (or the `Reshape` after it) now writes the affine node's
    // output.
    g.nodes[reshape.unwrap_or(p)].output = out_t;
    g.nodes.remove(i);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Window;
    use crate::passes::testutil::node;

    #[test]
    fn conv_mul_add_folds_into_weights_and_bias() {
        let mut g = Graph::default();
        let x = g.add_tensor("x", vec![1, 1, 3, 3], None);
        g.inputs.push(x);
        let w = g.add_const("w", vec![2, 1, 1, 1], vec![1.0, 2.0]);
        let window = Window {
            kernel: [1, 1],
            stride: [1, 1],
            dilation: [1, 1],
            pads: [0; 4],
        };
        let y = node(
            &mut g,
            Op::Conv {
                window,
                groups: 1,
                act: Act::None,
            },
            vec![x, w],
            vec![1, 2, 3, 3],
        );
        let s = g.add_const("s", vec![2, 1, 1], vec![3.0, 4.0]);
        let z = node(
            &mut g,
            Op::Binary {
                kind: BinaryKind::Mul,
                act: Act::None,
            },
            vec![y, s],
            vec![1, 2, 3, 3],
        );
        let b = g.add_const("b", vec![1, 2, 1, 1], vec![0.5, -0.5]);
        let o = node(
            &mut g,
            Op::Binary {
                kind: BinaryKind::Add,
                act: Act::None,
            },
            vec![z, b],
            vec![1, 2, 3, 3],
        );
        g.outputs.push(o);
        assert!(fold_affine(&mut g).unwrap());
        assert_eq!(g.nodes.len(), 1);
        let conv = &g.nodes[0];
        assert_eq!(conv.output, o);
        assert_eq!(g.tensors[conv.inputs[1]].const_f32().unwrap(), &[3.0, 8.0]);
        assert_eq!(g.tensors[conv.inputs[2]].const_f32().unwrap(), &[0.5, -0.5]);
    }

    #[test]
    fn spatially_varying_constant_is_not_folded() {
        let mut g = Graph::default();
        let x = g.add_tensor("x", vec![1, 1, 2, 2], None);
        g.inputs.push(x);
        let w = g.add_const("w", vec![1, 1, 1, 1], vec![1.0]);
        let window = Window {
            kernel: [1, 1],
            stride: [1, 1],
            dilation: [1, 1],
            pads: [0; 4],
        };
        let y = node(
            &mut g,
            Op::Conv {
                window,
                groups: 1,
                act: Act::None,
            },
            vec![x, w],
            vec![1, 1, 2, 2],
        );
        let s = g.add_const("s", vec![1, 2], vec![3.0, 4.0]);
        let o = node(
            &mut g,
            Op::Binary {
                kind: BinaryKind::Mul,
                act: Act::None,
            },
            vec![y, s],
            vec![1, 1, 2, 2],
        );
        g.outputs.push(o);
        assert!(!fold_affine(&mut g).unwrap());
    }

    /// `MatMul [2, 4] -> Reshape [to] -> Add c[4]`.
    fn matmul_reshape_add(to: Vec<usize>) -> (Graph, TensorId) {
        let mut g = Graph::default();
        let x = g.add_tensor("x", vec![2, 3], None);
        g.inputs.push(x);
        let w = g.add_const("w", vec![3, 4], vec![1.0; 12]);
        let y = node(
            &mut g,
            Op::MatMul { act: Act::None },
            vec![x, w],
            vec![2, 4],
        );
        let r = node(&mut g, Op::Reshape, vec![y], to.clone());
        let c = g.add_const("c", vec![4], vec![1.0, 2.0, 3.0, 4.0]);
        let o = node(
            &mut g,
            Op::Binary {
                kind: BinaryKind::Add,
                act: Act::None,
            },
            vec![r, c],
            to,
        );
        g.outputs.push(o);
        (g, o)
    }

    #[test]
    fn add_after_a_reshape_keeping_the_last_axis_folds_into_the_matmul() {
        let (mut g, o) = matmul_reshape_add(vec![1, 2, 4]);
        assert!(fold_affine(&mut g).unwrap());
        assert_eq!(g.nodes.len(), 2);
        let (mm, reshape) = (&g.nodes[0], &g.nodes[1]);
        assert!(matches!(mm.op, Op::MatMul { .. }));
        assert_eq!(
            g.tensors[mm.inputs[2]].const_f32().unwrap(),
            &[1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!((reshape.inputs[0], reshape.output), (mm.output, o));
    }

    #[test]
    fn add_after_a_reshape_of_the_last_axis_is_not_folded() {
        let (mut g, _) = matmul_reshape_add(vec![1, 8]);
        assert!(!fold_affine(&mut g).unwrap());
    }
}
