//! Calibration statistics: the value distribution of every activation of
//! the `f32` graph over the calibration samples.
//!
//! Pass 1 records each tensor's min and max; pass 2 (only for methods that
//! need it) a [`BINS`]-bin histogram over exactly that range. Both passes
//! visit samples in order and use no randomness, so calibration is
//! deterministic.

use anyhow::Result;

use super::trace::Tracer;
use crate::ir::Graph;
use crate::npy::Array;

/// Histogram resolution.
pub const BINS: usize = 2048;

/// The observed distribution of one tensor.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Smallest finite value seen.
    pub min: f32,
    /// Largest finite value seen.
    pub max: f32,
    /// Counts of [`BINS`] equal bins over `[min, max]` (empty after pass 1 only).
    pub hist: Vec<u64>,
    /// Finite values seen.
    pub count: u64,
}

impl Stats {
    /// Width of one histogram bin.
    pub fn bin_width(&self) -> f64 {
        (self.max as f64 - self.min as f64) / BINS as f64
    }

    /// Centre of bin `i`.
    pub fn center(&self, i: usize) -> f64 {
        self.min as f64 + (i as f64 + 0.5) * self.bin_width()
    }

    fn bin(&self, v: f32) -> usize {
        let w = self.bin_width();
        if w <= 0.0 {
            return 0;
        }
        (((v as f64 - self.min as f64) / w) as usize).min(BINS - 1)
    }
}

/// Collects [`Stats`] for every tensor of `g` the runtime computes (graph
/// inputs and op outputs), indexed by tensor id. `tick` is called once per
/// sample and pass (for progress display).
pub fn collect(
    g: &Graph,
    samples: &[Vec<Array>],
    histograms: bool,
    mut tick: impl FnMut(),
) -> Result<Vec<Option<Stats>>> {
    let mut tracer = Tracer::new(g)?;
    let mut stats: Vec<Option<Stats>> = vec![None; g.tensors.len()];
    for s in samples {
        tracer.run(s, |id, vals| {
            let st = stats[id].get_or_insert(Stats {
                min: f32::INFINITY,
                max: f32::NEG_INFINITY,
                hist: Vec::new(),
                count: 0,
            });
            for &v in vals.iter().filter(|v| v.is_finite()) {
                st.min = st.min.min(v);
                st.max = st.max.max(v);
                st.count += 1;
            }
        })?;
        tick();
    }
    for st in stats.iter_mut().flatten() {
        if st.count == 0 {
            st.min = 0.0;
            st.max = 0.0;
        }
    }
    if histograms {
        for st in stats.iter_mut().flatten() {
            st.hist = vec![0; BINS];
        }
        for s in samples {
            tracer.run(s, |id, vals| {
                if let Some(st) = stats[id].as_mut() {
                    for &v in vals.iter().filter(|v| v.is_finite()) {
                        let b = st.bin(v);
                        st.hist[b] += 1;
                    }
                }
            })?;
            tick();
        }
    }
    // Reshapes the memory plan turned into views never run: their values
    // are their input's.
    for n in &g.nodes {
        if n.op == crate::ir::Op::Reshape && stats[n.output].is_none() {
            stats[n.output] = stats[n.inputs[0]].clone();
        }
    }
    Ok(stats)
}
