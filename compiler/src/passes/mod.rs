//! Graph passes: each is `fn(&mut Graph) -> Result<bool>` (true when it
//! changed the graph), small, and tested alone on hand-built graphs.

mod dead;
mod fake_quant;
mod fold_affine;
mod fuse_act;
mod fuse_pattern;
mod layout;
mod pack;
mod simplify;
mod subnormal;

pub use dead::remove_dead;
pub use fake_quant::expand_fake_quant;
pub use fold_affine::fold_affine;
pub use fuse_act::fuse_activations;
pub use fuse_pattern::fuse_patterns;
pub use layout::to_nhwc;
pub use pack::pack_weights;
pub use simplify::simplify;
pub use subnormal::flush_subnormal_weights;

use anyhow::Result;

use crate::ir::Graph;

/// The standard pipeline from a freshly lowered graph to a runtime-ready one.
pub fn optimize(g: &mut Graph) -> Result<()> {
    loop {
        let mut changed = false;
        changed |= simplify(g)?;
        changed |= fold_affine(g)?;
        changed |= fuse_activations(g)?;
        changed |= fuse_patterns(g)?;
        changed |= remove_dead(g)?;
        if !changed {
            break;
        }
    }
    to_nhwc(g)?;
    while simplify(g)? | remove_dead(g)? {}
    flush_subnormal_weights(g)?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod testutil {
    use crate::ir::{Graph, Node, Op, TensorId};

    /// Adds a node producing a new activation of `shape`.
    pub fn node(g: &mut Graph, op: Op, inputs: Vec<TensorId>, shape: Vec<usize>) -> TensorId {
        let name = g.fresh_name("t");
        let out = g.add_tensor(name.clone(), shape, None);
        g.nodes.push(Node {
            name,
            op,
            inputs,
            output: out,
        });
        out
    }
}
