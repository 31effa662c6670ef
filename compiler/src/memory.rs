//! The memory report: arena, lower bound, greedy baseline and the timeline
//! of live tensors, from the compiler's plan or read back from a `.fer`.
//! Rendered as text (`ferrite inspect`), JSON and an SVG chart (plotters)
//! (`ferrite compile --report`).

use std::path::Path;

use anyhow::{anyhow, Result};
use ferrite::format::Storage;
use ferrite::Model;
use plotters::prelude::*;
use serde_json::{json, Value};

use crate::plan::{align, Lifetime, Plan};

/// Arena figures and the live-tensor timeline.
#[derive(Clone, Debug)]
pub struct MemoryReport {
    /// Arena bytes.
    pub arena: usize,
    /// Most bytes live at any step of this schedule: no placement beats it.
    pub lower_bound: usize,
    /// TFLM's greedy-by-size placement without sharing. From the compiler:
    /// in import order; read back from a `.fer`: in the file's op order.
    pub baseline: usize,
    /// Executed ops.
    pub steps: usize,
    /// Buffers: tensors sharing bytes, offset, size, live steps.
    pub timeline: Vec<Lifetime>,
}

impl MemoryReport {
    /// The compiler's view of its own plan.
    pub fn from_plan(p: &Plan) -> Self {
        MemoryReport {
            arena: p.arena_size,
            lower_bound: p.lower_bound,
            baseline: p.baseline,
            steps: p.order.len(),
            timeline: p.timeline.clone(),
        }
    }

    /// Recomputes the figures from a `.fer` alone. Tensors sharing bytes
    /// without an op writing the second one (views) form one buffer.
    pub fn from_model(m: &Model<'_>) -> Self {
        let n = m.num_ops();
        let end = n + 1;
        let nt = m.num_tensors();
        let mut first = vec![usize::MAX; nt];
        let mut last = vec![0usize; nt];
        for i in 0..m.num_inputs() {
            if let Some(t) = m.input_tensor(i) {
                first[t] = 0;
                last[t] = end;
            }
        }
        for k in 0..n {
            let Some(op) = m.op(k) else { continue };
            if let Some(o) = op.output(0) {
                first[o] = first[o].min(k + 1);
                last[o] = last[o].max(k + 1);
            }
            for i in 0..op.num_inputs() {
                if let Some(t) = op.input(i) {
                    last[t] = last[t].max(k + 1);
                }
            }
        }
        for i in 0..m.num_outputs() {
            if let Some(t) = m.output_tensor(i) {
                last[t] = end;
            }
        }
        // Every arena tensor with a lifetime; views join the buffer whose
        // bytes they share and that was written most recently before them.
        let info: Vec<_> = (0..nt)
            .map(|t| m.tensor(t).filter(|i| i.storage == Storage::Arena))
            .collect();
        let mut bufs: Vec<(usize, usize, usize, usize, Vec<String>)> = Vec::new(); // offset, size, first, last, names
        let mut views = Vec::new();
        for t in 0..nt {
            let Some(ti) = info[t] else { continue };
            if first[t] == usize::MAX {
                if last[t] > 0 {
                    views.push(t);
                }
                continue;
            }
            bufs.push((
                ti.offset,
                align(ti.byte_len),
                first[t],
                last[t],
                vec![ti.name().to_string()],
            ));
        }
        for t in views {
            let Some(ti) = info[t] else { continue };
            let host = bufs
                .iter_mut()
                .filter(|b| b.0 == ti.offset && b.1 == align(ti.byte_len))
                .max_by_key(|b| b.2);
            if let Some(b) = host {
                b.3 = b.3.max(last[t]);
                b.4.push(ti.name().to_string());
            }
        }
        // Lower bound: the union of live byte ranges, maximized over steps.
        let mut lower_bound = 0;
        for s in 0..=end {
            let mut ranges: Vec<(usize, usize)> = bufs
                .iter()
                .filter(|b| b.2 <= s && s <= b.3)
                .map(|b| (b.0, b.0 + b.1))
                .collect();
            ranges.sort_unstable();
            let (mut total, mut reach) = (0, 0);
            for (a, b) in ranges {
                let a = a.max(reach);
                if b > a {
                    total += b - a;
                    reach = b;
                }
            }
            lower_bound = lower_bound.max(total);
        }
        // Baseline: greedy by size over the same buffers, no sharing between them.
        let mut order: Vec<usize> = (0..bufs.len()).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(bufs[i].1), bufs[i].2, i));
        let mut placed: Vec<(usize, usize, usize, usize)> = Vec::new();
        let mut baseline = 0;
        for i in order {
            let (_, size, f, l, _) = bufs[i];
            let mut clashes: Vec<(usize, usize)> = placed
                .iter()
                .filter(|p| p.2 <= l && f <= p.3)
                .map(|p| (p.0, p.1))
                .collect();
            clashes.sort_unstable();
            let mut off = 0;
            for (a, b) in clashes {
                if off + size <= a {
                    break;
                }
                off = off.max(b);
            }
            placed.push((off, off + size, f, l));
            baseline = baseline.max(off + size);
        }
        let timeline = bufs
            .into_iter()
            .map(|(offset, size, first, last, tensors)| Lifetime {
                tensors,
                offset,
                size,
                first,
                last,
            })
            .collect();
        MemoryReport {
            arena: m.arena_size(),
            lower_bound,
            baseline,
            steps: n,
            timeline,
        }
    }

    /// One-line summary.
    pub fn summary(&self) -> String {
        format!(
            "arena {} bytes = {:.3} x lower bound {}, {:.3} x greedy baseline {}",
            self.arena,
            self.arena as f64 / self.lower_bound.max(1) as f64,
            self.lower_bound,
            self.arena as f64 / self.baseline.max(1) as f64,
            self.baseline
        )
    }

    /// The timeline as a table, by offset.
    pub fn to_text(&self) -> String {
        let mut rows: Vec<&Lifetime> = self.timeline.iter().collect();
        rows.sort_by_key(|l| (l.offset, l.first));
        let mut s = format!(
            "{}\n{:>10} {:>10}  {:>9}  tensors\n",
            self.summary(),
            "offset",
            "bytes",
            "steps"
        );
        for l in rows {
            s.push_str(&format!(
                "{:>10} {:>10}  {:>4}..{:<4} {}\n",
                l.offset,
                l.size,
                l.first,
                l.last,
                l.tensors.join(", ")
            ));
        }
        s
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "arena_bytes": self.arena,
            "lower_bound_bytes": self.lower_bound,
            "greedy_baseline_bytes": self.baseline,
            "steps": self.steps,
            "timeline": self.timeline.iter().map(|l| json!({
                "tensors": l.tensors, "offset": l.offset, "bytes": l.size, "first_step": l.first, "last_step": l.last,
            })).collect::<Vec<_>>(),
        })
    }

    /// Draws the arena over the op sequence, each buffer a bar, as SVG.
    pub fn write_svg(&self, path: &Path) -> Result<()> {
        let err = |e: &dyn std::fmt::Display| anyhow!("cannot draw {}: {e}", path.display());
        let root = SVGBackend::new(path, (1200, 700)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let kib = |b: usize| b as f64 / 1024.0;
        let top = kib(self.arena.max(1));
        let mut chart = ChartBuilder::on(&root)
            .caption(self.summary(), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..(self.steps + 2) as f64, 0f64..top)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("op step")
            .y_desc("arena offset (KiB)")
            .draw()
            .map_err(|e| err(&e))?;
        chart
            .draw_series(self.timeline.iter().enumerate().map(|(i, l)| {
                let color = Palette99::pick(i).mix(0.75);
                Rectangle::new(
                    [
                        (l.first as f64, kib(l.offset)),
                        ((l.last + 1) as f64, kib(l.offset + l.size)),
                    ],
                    color.filled(),
                )
            }))
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
        Ok(())
    }
}
