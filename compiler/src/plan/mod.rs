//! Offline memory plan: every activation gets a byte offset in one arena,
//! as small as the graph allows. The runtime never plans.
//!
//! 1. **Order** (`order.rs`): candidate execution orders: the import order,
//!    memory-aware list schedules, and for small graphs the exact
//!    peak-minimizing order.
//! 2. **Buffers** (`buffers.rs`): tensors are grouped into buffers. A reshape
//!    is a view (its op is elided); an elementwise op whose input dies there
//!    writes over it (in place). A buffer lives from its first write to its
//!    last read; graph inputs and outputs live throughout.
//! 3. **Placement** (`place.rs`): offsets by greedy-by-size (TFLM) and by
//!    first-fit in order of first use; the smaller arena wins.
//!
//! The result is never larger than the baseline, TFLM's plan: the import
//! order, no views or in-place, greedy by size, which is itself a candidate.
//! The lower bound is the most bytes live at any step of the chosen order.

mod buffers;
mod order;
mod place;

use crate::ir::Graph;
use ferrite::format::ALIGN;

pub use buffers::Buffers;

/// One buffer of the chosen plan, for reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Lifetime {
    /// Names of the tensors stored in this buffer.
    pub tensors: Vec<String>,
    /// Arena offset.
    pub offset: usize,
    /// Bytes (aligned).
    pub size: usize,
    /// First step it is live (0 = before the first op).
    pub first: usize,
    /// Last step it is live (`ops + 1` = after the last op).
    pub last: usize,
}

/// The memory plan of a graph.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Node indices in execution order, elided nodes excluded.
    pub order: Vec<usize>,
    /// Arena offset per tensor (`None` for constants).
    pub offsets: Vec<Option<usize>>,
    /// Total arena bytes.
    pub arena_size: usize,
    /// Most bytes live at any step of the chosen order (no placement can beat it).
    pub lower_bound: usize,
    /// The baseline arena (import order, no views or in-place, greedy by size).
    pub baseline: usize,
    /// Buffers of the chosen plan.
    pub timeline: Vec<Lifetime>,
    /// How the chosen plan was found.
    pub strategy: String,
}

pub fn align(v: usize) -> usize {
    v.div_ceil(ALIGN) * ALIGN
}

/// Plans the arena of `g` (f32 tensors).
pub fn plan(g: &Graph) -> Plan {
    let import: Vec<usize> = (0..g.nodes.len()).collect();
    let base = Buffers::build(g, &import, false);
    let base_offsets = place::greedy_by_size(&base);
    let baseline = place::arena_size(&base, &base_offsets);
    let mut best = (
        baseline,
        base,
        base_offsets,
        "import order, greedy by size (baseline)".to_string(),
    );
    for (name, ord) in order::candidates(g) {
        let bufs = Buffers::build(g, &ord, true);
        for (pname, offs) in [
            ("greedy by size", place::greedy_by_size(&bufs)),
            ("first fit", place::first_fit(&bufs)),
        ] {
            let size = place::arena_size(&bufs, &offs);
            if size < best.0 {
                best = (
                    size,
                    bufs.clone(),
                    offs,
                    format!("{name}, views and in-place, {pname}"),
                );
            }
        }
    }
    let (arena_size, bufs, offs, strategy) = best;
    let offsets = g
        .tensors
        .iter()
        .enumerate()
        .map(|(t, _)| bufs.of_tensor[t].map(|b| offs[b]))
        .collect();
    let timeline = bufs
        .bufs
        .iter()
        .zip(&offs)
        .map(|(b, &o)| Lifetime {
            tensors: b
                .tensors
                .iter()
                .map(|&t| g.tensors[t].name.clone())
                .collect(),
            offset: o,
            size: b.size,
            first: b.first,
            last: b.last,
        })
        .collect();
    Plan {
        order: bufs.order.clone(),
        offsets,
        arena_size,
        lower_bound: bufs.lower_bound(),
        baseline,
        timeline,
        strategy,
    }
}

#[cfg(test)]
mod tests;
