//! Candidate execution orders. Each is a topological order of all nodes.
//!
//! - the import order;
//! - two memory-aware list schedules: among ready nodes, run the one that
//!   frees the most bytes net of what it allocates, or the most recently
//!   readied one (finishing a branch before starting another);
//! - for graphs of at most [`EXACT_MAX`] nodes, the order with the smallest
//!   peak of live bytes, by dynamic programming over scheduled sets.

use std::collections::HashMap;

use crate::ir::Graph;

use super::align;

/// Largest graph for which the exact order search runs.
pub const EXACT_MAX: usize = 16;

/// Named candidate orders.
pub fn candidates(g: &Graph) -> Vec<(&'static str, Vec<usize>)> {
    let mut v = vec![("import order", (0..g.nodes.len()).collect())];
    v.push(("min-net-bytes order", list_schedule(g, Pick::MinNet)));
    v.push(("depth-first order", list_schedule(g, Pick::Newest)));
    if g.nodes.len() <= EXACT_MAX {
        if let Some(o) = exact(g) {
            v.push(("exact min-peak order", o));
        }
    }
    v
}

/// Producers and consumers by node index.
struct Deps {
    preds: Vec<Vec<usize>>,
    /// For each tensor, the nodes reading it.
    readers: HashMap<usize, Vec<usize>>,
}

fn deps(g: &Graph) -> Deps {
    let producer: HashMap<usize, usize> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.output, i))
        .collect();
    let mut preds = vec![vec![]; g.nodes.len()];
    let mut readers: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, n) in g.nodes.iter().enumerate() {
        for &t in &n.inputs {
            if let Some(&p) = producer.get(&t) {
                if !preds[i].contains(&p) {
                    preds[i].push(p);
                }
            }
            readers.entry(t).or_default().push(i);
        }
    }
    Deps { preds, readers }
}

fn bytes(g: &Graph, t: usize) -> usize {
    if g.is_const(t) {
        0
    } else {
        align(g.tensors[t].byte_len())
    }
}

#[derive(Clone, Copy)]
enum Pick {
    MinNet,
    Newest,
}

fn list_schedule(g: &Graph, pick: Pick) -> Vec<usize> {
    let d = deps(g);
    let n = g.nodes.len();
    let mut remaining_preds: Vec<usize> = d.preds.iter().map(Vec::len).collect();
    let mut pending_reads: HashMap<usize, usize> =
        d.readers.iter().map(|(&t, r)| (t, r.len())).collect();
    let mut ready: Vec<usize> = (0..n).filter(|&i| remaining_preds[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    let succs = {
        let mut s = vec![vec![]; n];
        for (i, p) in d.preds.iter().enumerate() {
            for &q in p {
                s[q].push(i);
            }
        }
        s
    };
    while !ready.is_empty() {
        let k = match pick {
            Pick::Newest => ready.len() - 1,
            Pick::MinNet => {
                let score = |i: usize| {
                    let node = &g.nodes[i];
                    let freed: usize = node
                        .inputs
                        .iter()
                        .filter(|&&t| !g.outputs.contains(&t) && !g.inputs.contains(&t))
                        .filter(|&&t| {
                            pending_reads.get(&t).copied().unwrap_or(0)
                                == node.inputs.iter().filter(|&&u| u == t).count()
                        })
                        .map(|&t| bytes(g, t))
                        .sum();
                    bytes(g, node.output) as isize - freed as isize
                };
                (0..ready.len())
                    .min_by_key(|&k| (score(ready[k]), ready[k]))
                    .unwrap_or(0)
            }
        };
        let i = ready.remove(k);
        order.push(i);
        for &t in &g.nodes[i].inputs {
            if let Some(c) = pending_reads.get_mut(&t) {
                *c = c.saturating_sub(1);
            }
        }
        for &s in &succs[i] {
            remaining_preds[s] -= 1;
            if remaining_preds[s] == 0 {
                ready.push(s);
            }
        }
    }
    order
}

/// The order minimizing the peak of live bytes (outputs allocated while
/// their op runs, inputs freed after their last reader), by DP over sets.
fn exact(g: &Graph) -> Option<Vec<usize>> {
    let n = g.nodes.len();
    let d = deps(g);
    let pred_mask: Vec<u32> = d
        .preds
        .iter()
        .map(|p| p.iter().fold(0u32, |m, &q| m | (1 << q)))
        .collect();
    // Live bytes after the set `s` of nodes has run.
    let live = |s: u32| -> usize {
        let mut total: usize = g.inputs.iter().map(|&t| bytes(g, t)).sum();
        for i in 0..n {
            if s & (1 << i) == 0 {
                continue;
            }
            let t = g.nodes[i].output;
            let readers = d.readers.get(&t).map(Vec::as_slice).unwrap_or(&[]);
            let done = readers.iter().all(|&r| s & (1 << r) != 0);
            if !done || g.outputs.contains(&t) {
                total += bytes(g, t);
            }
        }
        total
    };
    let full: u32 = if n == 32 { u32::MAX } else { (1u32 << n) - 1 };
    let mut best: HashMap<u32, (usize, usize)> = HashMap::new(); // set -> (peak, last node)
    best.insert(0, (live(0), usize::MAX));
    let mut frontier = vec![0u32];
    for _ in 0..n {
        let mut next = Vec::new();
        for &s in &frontier {
            let (peak, _) = best[&s];
            let base = live(s);
            for (v, &needs) in pred_mask.iter().enumerate() {
                if s & (1 << v) != 0 || needs & !s != 0 {
                    continue;
                }
                let t = s | (1 << v);
                let during = base + bytes(g, g.nodes[v].output);
                let p = peak.max(during).max(live(t));
                match best.get(&t) {
                    Some(&(q, _)) if q <= p => {}
                    Some(_) => {
                        best.insert(t, (p, v));
                    }
                    None => {
                        best.insert(t, (p, v));
                        next.push(t);
                    }
                }
            }
        }
        frontier = next;
    }
    let mut order = Vec::with_capacity(n);
    let mut s = full;
    while s != 0 {
        let &(_, v) = best.get(&s)?;
        order.push(v);
        s &= !(1 << v);
    }
    order.reverse();
    Some(order)
}
