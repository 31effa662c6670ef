//! Grouping tensors into buffers for one execution order.

use crate::ir::{Graph, Op};

use super::align;

/// One buffer: tensors sharing bytes, live from `first` to `last` (steps).
#[derive(Clone, Debug)]
pub struct Buf {
    /// Bytes (aligned).
    pub size: usize,
    /// First live step.
    pub first: usize,
    /// Last live step.
    pub last: usize,
    /// Member tensors.
    pub tensors: Vec<usize>,
}

/// Buffers of a graph under one execution order.
#[derive(Clone, Debug)]
pub struct Buffers {
    /// Executed nodes in order (elided views excluded).
    pub order: Vec<usize>,
    /// The buffers.
    pub bufs: Vec<Buf>,
    /// Buffer of each tensor (`None` for constants and unused tensors).
    pub of_tensor: Vec<Option<usize>>,
    /// Number of steps (executed ops).
    pub steps: usize,
}

fn in_place_capable(op: &Op) -> bool {
    matches!(op, Op::Unary(_) | Op::Binary { .. })
}

impl Buffers {
    /// Buffers for `order` (a topological order of all nodes). With `share`,
    /// reshapes become views and elementwise ops write over a dying input.
    pub fn build(g: &Graph, order: &[usize], share: bool) -> Buffers {
        let n_t = g.tensors.len();
        // Step of each node in `order` (1-based; views keep their slot so
        // reads are ordered consistently, steps are renumbered at the end).
        let mut last_read = vec![0usize; n_t];
        for (s, &ni) in order.iter().enumerate() {
            for &i in &g.nodes[ni].inputs {
                last_read[i] = last_read[i].max(s + 1);
            }
        }
        let end = order.len() + 1;
        for &t in g.inputs.iter().chain(&g.outputs) {
            last_read[t] = end;
        }
        let mut of_tensor: Vec<Option<usize>> = vec![None; n_t];
        let mut bufs: Vec<Buf> = Vec::new();
        let size = |t: usize| align(g.tensors[t].byte_len());
        for &t in &g.inputs {
            of_tensor[t] = Some(bufs.len());
            bufs.push(Buf {
                size: size(t),
                first: 0,
                last: end,
                tensors: vec![t],
            });
        }
        let mut executed = Vec::new();
        let mut elided = vec![false; order.len()];
        for (s, &ni) in order.iter().enumerate() {
            let step = s + 1;
            let node = &g.nodes[ni];
            let out = node.output;
            let buf_last = |b: &Buf| b.tensors.iter().map(|&t| last_read[t]).max().unwrap_or(0);
            let mut joined = None;
            if share {
                if node.op == Op::Reshape {
                    if let Some(b) = of_tensor[node.inputs[0]] {
                        joined = Some(b);
                        elided[s] = true;
                    }
                } else if in_place_capable(&node.op) {
                    for &i in &node.inputs {
                        let Some(b) = of_tensor[i] else { continue };
                        let shared_twice = node
                            .inputs
                            .iter()
                            .filter(|&&j| of_tensor[j] == Some(b))
                            .count()
                            > 1;
                        if g.tensors[i].shape == g.tensors[out].shape
                            && !shared_twice
                            && buf_last(&bufs[b]) == step
                        {
                            joined = Some(b);
                            break;
                        }
                    }
                }
            }
            match joined {
                Some(b) => {
                    of_tensor[out] = Some(b);
                    bufs[b].tensors.push(out);
                }
                None => {
                    of_tensor[out] = Some(bufs.len());
                    bufs.push(Buf {
                        size: size(out),
                        first: step,
                        last: step,
                        tensors: vec![out],
                    });
                }
            }
            if !elided[s] {
                executed.push(ni);
            }
        }
        for b in &mut bufs {
            b.last = b
                .tensors
                .iter()
                .map(|&t| last_read[t])
                .max()
                .unwrap_or(b.first)
                .max(b.first);
        }
        // Renumber steps over executed ops only: a view's step folds into the
        // next executed op, which can only shorten no lifetime incorrectly
        // since views read and write nothing.
        let mut remap = vec![0usize; order.len() + 2];
        let mut k = 0;
        for s in 0..order.len() {
            if !elided[s] {
                k += 1;
            }
            remap[s + 1] = if elided[s] { k + 1 } else { k };
        }
        let steps = executed.len();
        remap[order.len() + 1] = steps + 1;
        for b in &mut bufs {
            b.first = remap[b.first].min(steps + 1);
            b.last = remap[b.last].max(b.first).min(steps + 1);
        }
        Buffers {
            order: executed,
            bufs,
            of_tensor,
            steps,
        }
    }

    /// Most bytes live at any step.
    pub fn lower_bound(&self) -> usize {
        let mut delta = vec![0isize; self.steps + 3];
        for b in &self.bufs {
            delta[b.first] += b.size as isize;
            delta[b.last + 1] -= b.size as isize;
        }
        let (mut live, mut peak) = (0isize, 0isize);
        for d in delta {
            live += d;
            peak = peak.max(live);
        }
        peak as usize
    }
}
