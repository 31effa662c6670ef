//! `ferrite bench`: latency of a `.fer` model on one or more kernel tables,
//! optionally side by side with tract on the ONNX model, in one process.
//!
//! Every engine is warmed up, then the engines take turns: iteration `i`
//! times one `invoke()` of each kernel table and one tract run, so that
//! the noise of a shared machine hits them alike and the ratios are fair.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use ferrite::kernels::Kernels;
use ferrite::{Interpreter, Model, ThreadPool};

use crate::compile::AlignedBytes;
use crate::npy::Array;
use crate::reference::TractModel;

/// Latency statistics of one engine.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Engine name: a kernel table (`reference`, `avx512vnni`, ...), with
    /// `xN` for N threads (`avx512vnnix2`), or `tract`.
    pub engine: String,
    pub median: Duration,
    pub min: Duration,
    pub p90: Duration,
}

impl Stats {
    fn of(engine: &str, lat: &[Duration]) -> Stats {
        let mut s = lat.to_vec();
        s.sort_unstable();
        let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
        Stats {
            engine: engine.to_string(),
            median: at(0.5),
            min: s[0],
            p90: at(0.9),
        }
    }
}

/// What `bench` measured.
#[derive(Debug)]
pub struct Report {
    /// Timed iterations per engine.
    pub iters: usize,
    /// One entry per kernel table, in the order asked for.
    pub ferrite: Vec<Stats>,
    /// tract, with `--vs`.
    pub tract: Option<Stats>,
    /// Largest `|ferrite - tract|` per output, with `--vs` (first table).
    pub max_abs_diff: Vec<(String, f32)>,
    /// `Model::load` of the image (CRC and structural checks), best of
    /// [`LOADS`].
    pub load: Duration,
}

/// Loads timed for [`Report::load`].
pub const LOADS: usize = 5;

/// Kernel tables named by `spec` for a model in weight packing `isa`
/// (`Model::isa`): `best`, `all` (every table this CPU runs that reads the
/// packing) or a comma-separated list of names.
pub fn tables(spec: &str, isa: u32) -> Result<Vec<&'static Kernels>> {
    match spec {
        "best" => Ok(vec![Kernels::best_for(isa).ok_or_else(|| {
            anyhow!("{}", ferrite::Error::IsaMismatch { found: isa })
        })?]),
        "all" => Ok(Kernels::available()
            .filter(|k| k.runs_packing(isa))
            .collect()),
        list => list
            .split(',')
            .map(|n| {
                Kernels::by_name(n.trim()).ok_or_else(|| {
                    let have: Vec<_> = Kernels::available().map(|k| k.name()).collect();
                    anyhow!(
                        "no kernel table '{n}' on this CPU; available: {}, best, all",
                        have.join(", ")
                    )
                })
            })
            .collect(),
    }
}

/// Thread counts named by `spec`: a comma-separated list of numbers
/// (`1`, `2`, `1,2,4`), each at least 1.
pub fn thread_counts(spec: &str) -> Result<Vec<usize>> {
    spec.split(',')
        .map(|t| {
            t.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| (1..=ferrite::kernels::parallel::MAX_PARTS).contains(&n))
                .ok_or_else(|| {
                    anyhow!(
                        "--threads {spec}: expected numbers from 1 to {}, comma-separated",
                        ferrite::kernels::parallel::MAX_PARTS
                    )
                })
        })
        .collect()
}

/// Benchmarks `image` on every kernel table of `tables` with every thread
/// count of `threads` (a [`ThreadPool`] for counts above 1), and tract on
/// `vs`, with `inputs` in model input order.
#[allow(clippy::too_many_arguments)]
pub fn run(
    image: &[u8],
    origin: &str,
    inputs: &[Array],
    tables: &[&'static Kernels],
    threads: &[usize],
    vs: Option<&Path>,
    iters: usize,
    warmup: usize,
) -> Result<Report> {
    let aligned = AlignedBytes::from_slice(image)?;
    let model = Model::load(aligned.as_slice()).map_err(|e| anyhow!("{origin}: {e}"))?;
    let load = (0..LOADS)
        .map(|_| {
            let t0 = Instant::now();
            std::hint::black_box(Model::load(std::hint::black_box(aligned.as_slice())).is_ok());
            t0.elapsed()
        })
        .min()
        .unwrap_or_default();
    if inputs.len() != model.num_inputs() {
        bail!(
            "{origin} has {} inputs, {} given",
            model.num_inputs(),
            inputs.len()
        );
    }
    let pools: Vec<Option<ThreadPool>> = threads
        .iter()
        .map(|&t| (t > 1).then(|| ThreadPool::new(t)))
        .collect();
    let engines: Vec<(&'static Kernels, usize)> = tables
        .iter()
        .flat_map(|&k| (0..threads.len()).map(move |t| (k, t)))
        .collect();
    let mut arenas = engines
        .iter()
        .map(|_| AlignedBytes::zeroed(model.arena_size()))
        .collect::<Result<Vec<_>>>()?;
    let mut interps = Vec::new();
    for (arena, &(k, t)) in arenas.iter_mut().zip(&engines) {
        let mut it = Interpreter::with_kernels(&model, arena.as_mut_slice(), k)
            .map_err(|e| anyhow!("{origin}: {e}"))?;
        if let Some(pool) = &pools[t] {
            it.set_parallel(pool);
        }
        for (i, a) in inputs.iter().enumerate() {
            let mut t = it.input_mut(i).map_err(|e| anyhow!("{origin}: {e}"))?;
            if t.info.shape() != a.shape.as_slice() {
                bail!(
                    "input '{}' must have shape {:?}, got {:?}",
                    t.info.name(),
                    t.info.shape(),
                    a.shape
                );
            }
            crate::exec::set_input(&mut t, &a.data)?;
        }
        interps.push(it);
    }
    let tract = vs
        .map(|p| {
            let shapes: Vec<Vec<usize>> = inputs.iter().map(|a| a.shape.clone()).collect();
            TractModel::load(p, &shapes)
        })
        .transpose()?;
    let refs: Vec<&Array> = inputs.iter().collect();
    let mut tract_out = Vec::new();
    for _ in 0..warmup.max(1) {
        for it in interps.iter_mut() {
            it.invoke();
        }
        if let Some(t) = &tract {
            tract_out = t.run(&refs)?;
        }
    }
    let iters = iters.max(1);
    let mut lat = vec![Vec::with_capacity(iters); engines.len()];
    let mut tract_lat = Vec::with_capacity(iters);
    for _ in 0..iters {
        for (it, l) in interps.iter_mut().zip(&mut lat) {
            let t0 = Instant::now();
            it.invoke();
            l.push(t0.elapsed());
        }
        if let Some(t) = &tract {
            let t0 = Instant::now();
            let out = t.run(&refs)?;
            tract_lat.push(t0.elapsed());
            tract_out = out;
        }
    }
    let mut max_abs_diff = Vec::new();
    if tract.is_some() {
        let it = &interps[0];
        for (i, b) in tract_out.iter().enumerate() {
            let o = it.output(i).map_err(|e| anyhow!("{origin}: {e}"))?;
            let a = o
                .as_f32()
                .with_context(|| format!("output '{}' is not f32", o.info.name()))?;
            let d = a
                .iter()
                .zip(&b.data)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            max_abs_diff.push((o.info.name().to_string(), d));
        }
    }
    Ok(Report {
        iters,
        ferrite: engines
            .iter()
            .zip(&lat)
            .map(|(&(k, t), l)| {
                let stats = Stats::of(k.name(), l);
                match threads[t] {
                    1 => stats,
                    n => Stats {
                        engine: format!("{}x{n}", k.name()),
                        ..stats
                    },
                }
            })
            .collect(),
        tract: tract.map(|_| Stats::of("tract", &tract_lat)),
        max_abs_diff,
        load,
    })
}

/// Time per op of `image` on `kernels`: the median over `iters` runs of
/// each op alone ([`Interpreter::invoke_op`], after one full invoke so
/// every op reads the values it would), largest first. Rows: op index,
/// opcode name, output dtype and shape, median time.
pub fn profile(
    image: &[u8],
    origin: &str,
    inputs: &[Array],
    kernels: &'static Kernels,
    iters: usize,
) -> Result<Vec<(usize, String, Duration)>> {
    let aligned = AlignedBytes::from_slice(image)?;
    let model = Model::load(aligned.as_slice()).map_err(|e| anyhow!("{origin}: {e}"))?;
    let mut arena = AlignedBytes::zeroed(model.arena_size())?;
    let mut it = Interpreter::with_kernels(&model, arena.as_mut_slice(), kernels)
        .map_err(|e| anyhow!("{origin}: {e}"))?;
    for (i, a) in inputs.iter().enumerate() {
        let mut t = it.input_mut(i).map_err(|e| anyhow!("{origin}: {e}"))?;
        if t.info.len() == a.data.len() {
            crate::exec::set_input(&mut t, &a.data)?;
        }
    }
    it.invoke();
    let mut rows = Vec::new();
    for o in 0..model.num_ops() {
        let op = model.op(o).ok_or_else(|| anyhow!("{origin}: op {o}"))?;
        let out = op.output(0).and_then(|t| model.tensor(t));
        let desc = match out {
            Some(t) => format!("{} -> {:?} {:?}", op.code.name(), t.dtype, t.shape()),
            None => op.code.name().to_string(),
        };
        let mut lat: Vec<Duration> = (0..iters.max(1))
            .map(|_| {
                let t0 = Instant::now();
                it.invoke_op(o);
                t0.elapsed()
            })
            .collect();
        lat.sort_unstable();
        rows.push((o, desc, lat[lat.len() / 2]));
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.2));
    Ok(rows)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl Report {
    /// One JSON object: the first table's `median_ms`, `min_ms`, `p90_ms`,
    /// `iters`, `kernels`, and `load_ms`; with tract also `tract_median_ms`,
    /// `tract_min_ms`, `tract_p90_ms` and `ratio` (ferrite median / tract
    /// median); `tables` lists every table measured.
    pub fn to_json(&self) -> serde_json::Value {
        let f = &self.ferrite[0];
        let mut j = serde_json::json!({
            "kernels": f.engine,
            "iters": self.iters,
            "median_ms": ms(f.median),
            "min_ms": ms(f.min),
            "p90_ms": ms(f.p90),
            "load_ms": ms(self.load),
            "tables": self.ferrite.iter().map(|s| serde_json::json!({
                "kernels": s.engine,
                "median_ms": ms(s.median),
                "min_ms": ms(s.min),
                "p90_ms": ms(s.p90),
            })).collect::<Vec<_>>(),
        });
        if let Some(t) = &self.tract {
            j["tract_median_ms"] = ms(t.median).into();
            j["tract_min_ms"] = ms(t.min).into();
            j["tract_p90_ms"] = ms(t.p90).into();
            j["ratio"] = (f.median.as_secs_f64() / t.median.as_secs_f64()).into();
            j["max_abs_diff"] = self
                .max_abs_diff
                .iter()
                .map(|(n, d)| (n.clone(), serde_json::Value::from(*d as f64)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        j
    }

    /// Human-readable lines.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let line = |s: &mut String, st: &Stats, ratio: Option<f64>| {
            s.push_str(&format!(
                "{:<11} median {:>9.3} ms  min {:>9.3} ms  p90 {:>9.3} ms",
                st.engine,
                ms(st.median),
                ms(st.min),
                ms(st.p90)
            ));
            if let Some(r) = ratio {
                s.push_str(&format!("  ({r:.2}x tract)"));
            }
            s.push('\n');
        };
        let t = self.tract.as_ref().map(|t| t.median.as_secs_f64());
        for st in &self.ferrite {
            line(&mut s, st, t.map(|t| st.median.as_secs_f64() / t));
        }
        if let Some(tr) = &self.tract {
            line(&mut s, tr, None);
        }
        s.push_str(&format!(
            "{} timed iterations per engine, interleaved\n",
            self.iters
        ));
        s.push_str(&format!(
            "load {:.3} ms (CRC and structure checks, best of {LOADS})\n",
            ms(self.load)
        ));
        for (n, d) in &self.max_abs_diff {
            s.push_str(&format!("output {n}: max |ferrite - tract| = {d:.3e}\n"));
        }
        s
    }
}
