//! Layout pass: NCHW semantics in, physical NHWC out.
//!
//! Rank-4 activations that feed spatial ops (conv, pools, resize) are stored
//! NHWC: physical dim `d` holds logical dim `P[d]`, `P = [0, 2, 3, 1]`.
//! Elementwise ops, concat, reductions, softmax, slice and pad follow their
//! inputs' layout with remapped axes; every other op (reshape, matmul, ...)
//! reads logical (ONNX-order) data, and a transpose is inserted where a
//! tensor changes layout. Graph inputs and outputs keep the ONNX layout.

use anyhow::{bail, Result};

use crate::ir::{Graph, Node, Op, TensorId};
use crate::util::transpose;

/// Physical position of each NCHW dim in NHWC.
const P: [usize; 4] = [0, 2, 3, 1];
/// Inverse of `P`: logical dim `a` sits at physical position `INV[a]`.
const INV: [usize; 4] = [0, 3, 1, 2];

fn permute<T: Clone>(v: &[T]) -> Vec<T> {
    P.iter().map(|&p| v[p].clone()).collect()
}

struct Cx<'a> {
    old: &'a Graph,
    new: Graph,
    /// For each old tensor: its new tensor and whether that one is NHWC.
    phys: Vec<Option<(TensorId, bool)>>,
    logical: Vec<Option<TensorId>>,
    nhwc: Vec<Option<TensorId>>,
}

impl Cx<'_> {
    fn copy_const(&mut self, t: TensorId) -> TensorId {
        let ot = &self.old.tensors[t];
        let id = self
            .new
            .add_tensor(ot.name.clone(), ot.shape.clone(), ot.data.clone());
        self.phys[t] = Some((id, false));
        id
    }

    fn get(&mut self, t: TensorId) -> Result<(TensorId, bool)> {
        if let Some(p) = self.phys[t] {
            return Ok(p);
        }
        if self.old.is_const(t) {
            return Ok((self.copy_const(t), false));
        }
        bail!(
            "layout: tensor '{}' used before it is computed",
            self.old.tensors[t].name
        )
    }

    fn get_logical(&mut self, t: TensorId) -> Result<TensorId> {
        let (id, nhwc) = self.get(t)?;
        if !nhwc {
            return Ok(id);
        }
        if let Some(l) = self.logical[t] {
            return Ok(l);
        }
        let name = self
            .new
            .fresh_name(&format!("{}:nchw", self.old.tensors[t].name));
        let out = self
            .new
            .add_tensor(name.clone(), self.old.tensors[t].shape.clone(), None);
        self.new.nodes.push(Node {
            name,
            op: Op::Transpose(INV.to_vec()),
            inputs: vec![id],
            output: out,
        });
        self.logical[t] = Some(out);
        Ok(out)
    }

    /// `t` in NHWC, broadcast-aligned to rank 4 when it is a lower-rank constant.
    fn get_nhwc(&mut self, t: TensorId) -> Result<Option<TensorId>> {
        let (id, nhwc) = self.get(t)?;
        if nhwc {
            return Ok(Some(id));
        }
        if let Some(n) = self.nhwc[t] {
            return Ok(Some(n));
        }
        let ot = &self.old.tensors[t];
        if ot.shape.len() > 4 {
            return Ok(None);
        }
        let mut shape4 = vec![1; 4 - ot.shape.len()];
        shape4.extend(&ot.shape);
        let out = if let Some(d) = ot.const_f32() {
            let data = transpose(d, &shape4, &P);
            let name = self.new.fresh_name(&format!("{}:nhwc", ot.name));
            self.new.add_const(name, permute(&shape4), data)
        } else if ot.shape.len() == 4 {
            let name = self.new.fresh_name(&format!("{}:nhwc", ot.name));
            let out = self.new.add_tensor(name.clone(), permute(&shape4), None);
            self.new.nodes.push(Node {
                name,
                op: Op::Transpose(P.to_vec()),
                inputs: vec![id],
                output: out,
            });
            out
        } else {
            return Ok(None);
        };
        self.nhwc[t] = Some(out);
        Ok(Some(out))
    }

    fn emit(&mut self, n: &Node, op: Op, inputs: Vec<TensorId>, nhwc: bool) -> TensorId {
        let ot = &self.old.tensors[n.output];
        let shape = if nhwc {
            permute(&ot.shape)
        } else {
            ot.shape.clone()
        };
        let out = self.new.add_tensor(ot.name.clone(), shape, None);
        self.new.nodes.push(Node {
            name: n.name.clone(),
            op,
            inputs,
            output: out,
        });
        self.phys[n.output] = Some((out, nhwc));
        out
    }

    fn all_nhwc(&mut self, ins: &[TensorId]) -> Result<Vec<TensorId>> {
        let mut v = Vec::new();
        for &i in ins {
            match self.get_nhwc(i)? {
                Some(t) => v.push(t),
                None => bail!(
                    "layout: cannot convert '{}' to NHWC",
                    self.old.tensors[i].name
                ),
            }
        }
        Ok(v)
    }

    fn all_logical(&mut self, ins: &[TensorId]) -> Result<Vec<TensorId>> {
        ins.iter().map(|&i| self.get_logical(i)).collect()
    }

    /// Whether an elementwise-like node should run in NHWC: its output is
    /// rank 4, some input already is NHWC, and every other input converts.
    fn follow_nhwc(&mut self, n: &Node) -> Result<bool> {
        if self.old.tensors[n.output].shape.len() != 4 {
            return Ok(false);
        }
        let mut any = false;
        for &i in &n.inputs {
            let (_, nhwc) = self.get(i)?;
            let ot = &self.old.tensors[i];
            any |= nhwc;
            if !nhwc && ot.data.is_none() && ot.shape.len() != 4 {
                return Ok(false);
            }
        }
        Ok(any)
    }
}

fn conv_weights_ohwi(g: &Graph, w: TensorId) -> (Vec<usize>, Vec<f32>) {
    let t = &g.tensors[w];
    let d = t.const_f32().unwrap_or(&[]);
    (permute(&t.shape), transpose(d, &t.shape, &P))
}

/// Rewrites `g` into physical layout.
// One arm per op family reads best here, even where clippy would merge an `if`.
#[allow(clippy::collapsible_match)]
pub fn to_nhwc(g: &mut Graph) -> Result<bool> {
    let old = std::mem::take(g);
    let n_t = old.tensors.len();
    let mut cx = Cx {
        old: &old,
        new: Graph::default(),
        phys: vec![None; n_t],
        logical: vec![None; n_t],
        nhwc: vec![None; n_t],
    };
    for &i in &old.inputs {
        let t = &old.tensors[i];
        let id = cx.new.add_tensor(t.name.clone(), t.shape.clone(), None);
        cx.new.inputs.push(id);
        cx.phys[i] = Some((id, false));
    }
    for n in &old.nodes {
        match &n.op {
            Op::Conv { .. } | Op::ConvTranspose { .. } => {
                let x = cx.all_nhwc(&n.inputs[..1])?[0];
                let (shape, data) = conv_weights_ohwi(&old, n.inputs[1]);
                let name = cx
                    .new
                    .fresh_name(&format!("{}:ohwi", old.tensors[n.inputs[1]].name));
                let w = cx.new.add_const(name, shape, data);
                let mut ins = vec![x, w];
                if n.inputs.len() == 3 {
                    ins.push(cx.get(n.inputs[2])?.0);
                }
                cx.emit(n, n.op.clone(), ins, true);
            }
            Op::MaxPool { .. } | Op::AvgPool { .. } | Op::Resize { .. } => {
                let x = cx.all_nhwc(&n.inputs)?;
                cx.emit(n, n.op.clone(), x, true);
            }
            Op::Unary(_) | Op::FakeQuant(_) => {
                let (x, nhwc) = cx.get(n.inputs[0])?;
                cx.emit(n, n.op.clone(), vec![x], nhwc);
            }
            Op::Binary { .. } => {
                if cx.follow_nhwc(n)? {
                    let ins = cx.all_nhwc(&n.inputs)?;
                    cx.emit(n, n.op.clone(), ins, true);
                } else {
                    let ins = cx.all_logical(&n.inputs)?;
                    cx.emit(n, n.op.clone(), ins, false);
                }
            }
            Op::Concat(axis) => {
                if cx.follow_nhwc(n)? {
                    let ins = cx.all_nhwc(&n.inputs)?;
                    cx.emit(n, Op::Concat(INV[*axis]), ins, true);
                } else {
                    let ins = cx.all_logical(&n.inputs)?;
                    cx.emit(n, n.op.clone(), ins, false);
                }
            }
            Op::Softmax { axis, log } if cx.get(n.inputs[0])?.1 => {
                let x = cx.get(n.inputs[0])?.0;
                cx.emit(
                    n,
                    Op::Softmax {
                        axis: INV[*axis],
                        log: *log,
                    },
                    vec![x],
                    true,
                );
            }
            Op::Slice { starts, steps } if cx.get(n.inputs[0])?.1 => {
                let x = cx.get(n.inputs[0])?.0;
                cx.emit(
                    n,
                    Op::Slice {
                        starts: permute(starts),
                        steps: permute(steps),
                    },
                    vec![x],
                    true,
                );
            }
            Op::Pad {
                mode,
                value,
                before,
            } if cx.get(n.inputs[0])?.1 => {
                let x = cx.get(n.inputs[0])?.0;
                cx.emit(
                    n,
                    Op::Pad {
                        mode: *mode,
                        value: *value,
                        before: permute(before),
                    },
                    vec![x],
                    true,
                );
            }
            Op::Reduce { kind, axes } if cx.get(n.inputs[0])?.1 => {
                let x = cx.get(n.inputs[0])?.0;
                let mut paxes: Vec<usize> = axes.iter().map(|&a| INV[a]).collect();
                paxes.sort_unstable();
                let keep = old.tensors[n.output].shape.len() == 4;
                // Without keepdims the surviving dims must already be in logical order.
                let survivors: Vec<usize> = (0..4)
                    .filter(|d| !paxes.contains(d))
                    .map(|d| P[d])
                    .collect();
                if keep {
                    cx.emit(
                        n,
                        Op::Reduce {
                            kind: *kind,
                            axes: paxes,
                        },
                        vec![x],
                        true,
                    );
                } else if survivors.windows(2).all(|w| w[0] < w[1]) {
                    cx.emit(
                        n,
                        Op::Reduce {
                            kind: *kind,
                            axes: paxes,
                        },
                        vec![x],
                        false,
                    );
                } else {
                    let x = cx.get_logical(n.inputs[0])?;
                    cx.emit(n, n.op.clone(), vec![x], false);
                }
            }
            Op::Transpose(perm) if cx.get(n.inputs[0])?.1 && perm.len() == 4 => {
                let x = cx.get(n.inputs[0])?.0;
                let composed: Vec<usize> = perm.iter().map(|&p| INV[p]).collect();
                if composed.iter().enumerate().all(|(i, &c)| i == c) {
                    // The NHWC data already is the transposed tensor.
                    cx.emit(n, Op::Reshape, vec![x], false);
                } else {
                    cx.emit(n, Op::Transpose(composed), vec![x], false);
                }
            }
            _ => {
                let ins = cx.all_logical(&n.inputs)?;
                cx.emit(n, n.op.clone(), ins, false);
            }
        }
    }
    for &o in &old.outputs {
        let id = cx.get_logical(o)?;
        let want = old.tensors[o].name.clone();
        if cx.new.tensors[id].name != want {
            if let Some(other) = cx.new.tensors.iter().position(|t| t.name == want) {
                let renamed = cx.new.fresh_name(&format!("{want}:nhwc"));
                cx.new.tensors[other].name = renamed;
            }
            cx.new.tensors[id].name = want;
        }
        cx.new.outputs.push(id);
    }
    *g = cx.new;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Window;
    use crate::passes::testutil::node;
    use ferrite::kernels::Act;

    #[test]
    fn conv_output_is_nhwc_and_converted_back_for_reshape() {
        let mut g = Graph::default();
        let x = g.add_tensor("x", vec![1, 2, 3, 4], None);
        g.inputs.push(x);
        let w = g.add_const("w", vec![5, 2, 1, 1], (0..10).map(|v| v as f32).collect());
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
            vec![1, 5, 3, 4],
        );
        let r = node(&mut g, Op::Reshape, vec![y], vec![1, 60]);
        g.outputs.push(r);
        let out_name = g.tensors[r].name.clone();
        to_nhwc(&mut g).unwrap();
        let ops: Vec<String> = g.nodes.iter().map(|n| n.op.name()).collect();
        assert_eq!(ops, ["Transpose", "Conv", "Transpose", "Reshape"]);
        let conv = &g.nodes[1];
        assert_eq!(g.tensors[conv.inputs[0]].shape, [1, 3, 4, 2]);
        assert_eq!(g.tensors[conv.inputs[1]].shape, [5, 1, 1, 2]);
        assert_eq!(g.tensors[conv.output].shape, [1, 3, 4, 5]);
        assert_eq!(g.tensors[g.outputs[0]].name, out_name);
    }
}
