//! `ferrite`: compile ONNX models to `.fer`, inspect and run them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};

use ferrite_compiler::board;
use ferrite_compiler::compile::{build, compile_bytes, optimized_graph, AlignedBytes};
use ferrite_compiler::exec::{self, file_name_for, median};
use ferrite_compiler::import::{parse_input_shape, ImportOptions};
use ferrite_compiler::memory::MemoryReport;
use ferrite_compiler::quant::{self, dataset::Preprocess, Method, QuantOptions};
use ferrite_compiler::{fsutil, npy, report};

/// Prints a line on stdout; a closed pipe (`ferrite inspect | head`) ends the
/// program quietly instead of panicking.
macro_rules! say {
    ($($t:tt)*) => { emit(&format!($($t)*), true) };
}

/// [`say!`] without the newline.
macro_rules! say_raw {
    ($($t:tt)*) => { emit(&format!($($t)*), false) };
}

fn emit(text: &str, newline: bool) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let res = out.write_all(text.as_bytes()).and_then(|_| {
        if newline {
            out.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if let Err(e) = res.and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(2);
    }
}

/// Ferrite: ONNX to `.fer` compiler and host runner for the Ferrite edge runtime.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

// Parsed once per process: the size of the `compile` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Cmd {
    /// Compile an ONNX model to a .fer file.
    Compile {
        /// The ONNX model.
        model: PathBuf,
        /// Output .fer file.
        #[arg(short, long, required_unless_present = "check")]
        output: Option<PathBuf>,
        /// Only check that the model compiles: list every unsupported node
        /// (name, op, reason) at once and exit 2, or say so and exit 0;
        /// writes nothing.
        #[arg(long, conflicts_with_all = ["output", "report", "emit_rust", "quantize"])]
        check: bool,
        /// Fix an input's shape: NAME=D0,D1,... (repeatable).
        #[arg(long = "input-shape", value_name = "NAME=DIMS")]
        input_shape: Vec<String>,
        /// Write a JSON report (ops, memory plan and timeline; with
        /// --quantize also per-layer SQNR, ranges, clipping, bias headroom)
        /// here, and the arena chart beside it as SVG.
        #[arg(long, value_name = "FILE.json")]
        report: Option<PathBuf>,
        /// Target board (boards/<NAME>/board.toml, or a path to one): the
        /// model must fit its RAM and flash budgets.
        #[arg(long, value_name = "NAME")]
        board: Option<String>,
        /// Also write DIR/model.fer and DIR/model.rs (the model as a static,
        /// its exact arena size, the ops and runtime features it needs) for
        /// firmware to include.
        #[arg(long, value_name = "DIR")]
        emit_rust: Option<PathBuf>,
        #[command(flatten)]
        quant: QuantArgs,
    },
    /// Run a .fer model on .npy inputs and write its outputs as .npy.
    Run {
        /// The .fer model.
        model: PathBuf,
        /// An input: NAME=FILE.npy, or FILE.npy for a single-input model (repeatable).
        #[arg(long, value_name = "NAME=FILE")]
        input: Vec<String>,
        /// Directory for the outputs (<output-name>.npy).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Invoke this many times and report the median latency.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
    },
    /// Show a .fer model's ops, tensors, weight bytes, arena bytes and MACs.
    Inspect {
        /// The .fer model.
        model: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Also print the timeline of live tensors.
        #[arg(long)]
        timeline: bool,
        /// Print the RAM and flash the model needs on this board.
        #[arg(long, value_name = "NAME")]
        board: Option<String>,
    },
    /// Time a .fer model (median/min/p90 of --iters invokes after a warm-up), side by side with
    /// tract on the ONNX model and across kernel tables, engines interleaved.
    Bench {
        /// The .fer model.
        model: PathBuf,
        /// The ONNX model it was compiled from, run by tract in the same process.
        #[arg(long, value_name = "MODEL.onnx")]
        vs: Option<PathBuf>,
        /// Inputs as for `run` (default: deterministic pseudo-random values).
        #[arg(long, value_name = "NAME=FILE")]
        input: Vec<String>,
        /// Timed iterations per engine.
        #[arg(long, alias = "runs", default_value_t = 10)]
        iters: usize,
        /// Untimed warm-up iterations per engine.
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        /// Kernel tables: `best`, `all`, or names (`reference,avx512vnni`).
        #[arg(long, default_value = "best")]
        kernels: String,
        /// Threads: a count or a list of counts to compare (`1,2`); each table runs with each.
        #[arg(long, default_value = "1", value_name = "N[,N...]")]
        threads: String,
        /// Print one JSON object (median_ms, min_ms, p90_ms, iters, load_ms; with --vs
        /// tract_median_ms, ratio).
        #[arg(long)]
        json: bool,
        /// Also print the time of each op (first kernel table), largest first.
        #[arg(long)]
        profile: bool,
    },
    /// Compile and run the embedded default model (PP-OCR text direction classifier) on its sample.
    Demo,
}

/// Post-training quantization options of `compile`.
#[derive(clap::Args)]
struct QuantArgs {
    /// Quantize weights and activations (only int8).
    #[arg(long, value_name = "int8", value_parser = ["int8"])]
    quantize: Option<String>,
    /// Calibration samples: a directory of .npy files or images (one
    /// sub-directory per input name for multi-input models).
    #[arg(long, value_name = "DIR")]
    calib: Option<PathBuf>,
    /// How images become input tensors, e.g.
    /// "size=224x224,mean=127.5,std=127.5,layout=nchw,channels=rgb".
    #[arg(long, value_name = "SPEC")]
    preprocess: Option<String>,
    /// Use at most N calibration samples (the first N by file name).
    #[arg(long, value_name = "N")]
    calib_limit: Option<usize>,
    /// Range selection: minmax, percentile (99.99), percentile:P, entropy, mse.
    #[arg(long, value_name = "METHOD", default_value = "percentile")]
    calib_method: String,
    /// Keep these nodes in f32 (comma-separated node names, see the report).
    #[arg(long, value_name = "NODE,...", value_delimiter = ',')]
    keep_float: Vec<String>,
    /// Fall back to f32, layer by layer, until every int8 layer's output
    /// SQNR against f32 on the calibration set is at least DB decibels.
    #[arg(long, value_name = "DB")]
    max_layer_drop: Option<f64>,
    /// Cross-layer equalization of convolution pairs before calibration,
    /// and bias correction after quantization.
    #[arg(long)]
    equalize: bool,
    /// Correct each int8 conv / matmul bias by its measured mean output
    /// shift per channel (on the calibration set).
    #[arg(long)]
    bias_correct: bool,
    /// Also write the quantized model as a QDQ ONNX file, for ONNX Runtime
    /// or tract to cross-check.
    #[arg(long, value_name = "OUT.onnx")]
    emit_onnx_qdq: Option<PathBuf>,
    /// Make the model's inputs int8 (scale and zero point in the model), for
    /// callers that quantize while preprocessing (`ferrite::vision`).
    #[arg(long)]
    int8_input: bool,
    /// Lay the conv weights (int8 and f32) out for one kernel table's GEMM
    /// (no packing per call); the model then runs only on CPUs with that table:
    /// avx512vnni (x86 with AVX-512 VNNI), neondot (Pi 5), neon (Pi 4).
    #[arg(long, value_name = "TABLE", value_parser = ["avx512vnni", "neondot", "neon"])]
    pack: Option<String>,
}

fn main() -> ExitCode {
    // A panic inside tract is turned into an error by the importer guard;
    // only print panics from anywhere else (which would be Ferrite bugs).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !ferrite_compiler::onnx_check::panic_is_in_importer(info) {
            default_hook(info);
        }
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let res = match cli.cmd {
        Cmd::Compile {
            model,
            check: true,
            input_shape,
            board,
            ..
        } => check(&model, &input_shape, board.as_deref()),
        Cmd::Compile {
            model,
            output: Some(output),
            input_shape,
            report,
            board,
            emit_rust,
            quant,
            ..
        } => compile(
            &model,
            &output,
            &input_shape,
            report.as_deref(),
            Target {
                board: board.as_deref(),
                emit_rust: emit_rust.as_deref(),
            },
            &quant,
        ),
        Cmd::Compile { .. } => Err(anyhow!("compile needs -o OUTPUT.fer (or --check)")),
        Cmd::Run {
            model,
            input,
            out,
            repeat,
        } => run(&model, &input, &out, repeat),
        Cmd::Inspect {
            model,
            json,
            timeline,
            board,
        } => inspect(&model, json, timeline, board.as_deref()),
        Cmd::Bench {
            model,
            vs,
            input,
            iters,
            warmup,
            kernels,
            threads,
            json,
            profile,
        } => bench(
            &model,
            vs.as_deref(),
            &input,
            (iters, warmup),
            (&kernels, &threads),
            json,
            profile,
        ),
        Cmd::Demo => demo(),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `compile --check`: the whole compilation in memory, nothing written.
fn check(model: &Path, shapes: &[String], board: Option<&str>) -> Result<()> {
    let board = board.map(board::find).transpose()?;
    let opts = ImportOptions {
        input_shapes: shapes
            .iter()
            .map(|s| parse_input_shape(s))
            .collect::<Result<_>>()?,
    };
    let bytes = std::fs::read(model).with_context(|| format!("cannot read {}", model.display()))?;
    let origin = model.display().to_string();
    let c = compile_bytes(&bytes, &origin, &opts)?;
    let aligned = AlignedBytes::from_slice(&c.image)?;
    let m = ferrite::Model::load(aligned.as_slice()).map_err(|e| anyhow!("{e}"))?;
    say!(
        "{origin}: every node is supported ({} ops after optimization, arena {} bytes, {} bytes compiled)",
        m.num_ops(),
        c.plan.arena_size,
        c.image.len()
    );
    if let Some(b) = &board {
        let f = board::Footprint {
            arena: c.plan.arena_size as u64,
            model: c.image.len() as u64,
        };
        b.check(f)?;
        say!("{}", b.summary(f));
    }
    Ok(())
}

/// `compile --board` and `--emit-rust`.
struct Target<'a> {
    board: Option<&'a str>,
    emit_rust: Option<&'a Path>,
}

fn compile(
    model: &Path,
    output: &Path,
    shapes: &[String],
    report_path: Option<&Path>,
    target: Target<'_>,
    qa: &QuantArgs,
) -> Result<()> {
    let board = target.board.map(board::find).transpose()?;
    let opts = ImportOptions {
        input_shapes: shapes
            .iter()
            .map(|s| parse_input_shape(s))
            .collect::<Result<_>>()?,
    };
    if qa.quantize.is_none()
        && (qa.calib.is_some()
            || qa.preprocess.is_some()
            || qa.calib_limit.is_some()
            || !qa.keep_float.is_empty()
            || qa.max_layer_drop.is_some()
            || qa.equalize
            || qa.bias_correct
            || qa.int8_input
            || qa.emit_onnx_qdq.is_some())
    {
        bail!("calibration options need --quantize int8");
    }
    let method: Method = qa.calib_method.parse().map_err(|e: String| anyhow!(e))?;
    let pre: Option<Preprocess> = qa.preprocess.as_deref().map(str::parse).transpose()?;
    if qa.calib_limit == Some(0) {
        bail!("--calib-limit must be at least 1");
    }
    if let Some(db) = qa.max_layer_drop {
        if !db.is_finite() {
            bail!("--max-layer-drop must be a number of decibels");
        }
    }
    let bytes = std::fs::read(model).with_context(|| format!("cannot read {}", model.display()))?;
    let t0 = Instant::now();
    let origin = model.display().to_string();
    let mut quant_doc = None;
    let mut qdq_onnx: Option<Vec<u8>> = None;
    let mut graph = optimized_graph(&bytes, &origin, &opts)?;
    if qa.quantize.is_some() {
        let g = graph;
        let qdq = g
            .nodes
            .iter()
            .any(|n| matches!(n.op, ferrite_compiler::ir::Op::FakeQuant(_)));
        if qa.calib.is_none() && !qdq {
            bail!("--quantize int8 needs calibration data: --calib DIR");
        }
        let inputs: Vec<(String, Vec<usize>)> = g
            .inputs
            .iter()
            .map(|&t| (g.tensors[t].name.clone(), g.tensors[t].shape.clone()))
            .collect();
        // A pre-quantized (QDQ) model brings its own parameters; calibration
        // then only covers the tensors it leaves unquantized.
        let samples = match qa.calib.as_deref() {
            Some(calib) => quant::dataset::load_dir(calib, &inputs, pre.as_ref(), qa.calib_limit)?,
            None => Vec::new(),
        };
        let qopts = QuantOptions {
            method,
            keep_float: qa.keep_float.clone(),
            max_layer_drop: qa.max_layer_drop,
            quantize_inputs: qa.int8_input,
            equalize: qa.equalize,
            bias_correct: qa.bias_correct || qa.equalize,
        };
        let bar = indicatif::ProgressBar::new(samples.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed}")
                .map_err(|e| anyhow!("{e}"))?
                .progress_chars("=> "),
        );
        let q = quant::quantize(&g, &samples, &qopts, &mut |stage, done, total| {
            bar.set_message(stage.to_string());
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        });
        bar.finish_and_clear();
        let q = q.with_context(|| format!("{origin}: quantization failed"))?;
        say!(
            "quantized with {} on {} samples: {} nodes int8, {} f32; output SQNR vs f32: {}",
            method,
            samples.len(),
            q.int8_nodes,
            q.f32_nodes,
            q.output_sqnr
                .iter()
                .map(|(n, s)| format!("{n} {s:.1} dB"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        quant_doc = Some(q.report);
        if qa.emit_onnx_qdq.is_some() {
            qdq_onnx = Some(
                ferrite_compiler::export::to_onnx(&q.graph, &origin)
                    .with_context(|| format!("{origin}: --emit-onnx-qdq"))?,
            );
        }
        graph = q.graph;
        if qa.int8_input {
            quant::io::int8_inputs(&mut graph).with_context(|| origin.clone())?;
        }
        // What the images were made into, for tools that feed the model
        // camera frames (examples/camera reads it).
        if let Some(spec) = &qa.preprocess {
            graph.notes.push(("preprocess".into(), spec.clone()));
        }
    }
    if let Some(name) = qa.pack.as_deref() {
        let isa = ferrite::packing::by_name(name)
            .ok_or_else(|| anyhow!("--pack: unknown kernel table '{name}'"))?;
        let what = format!("{origin}: --pack {name}");
        if !ferrite_compiler::passes::pack_weights(&mut graph, isa).context(what.clone())? {
            say!("{what}: no Conv with groups 1, nothing to pack");
        }
        ferrite_compiler::passes::remove_dead(&mut graph).context(what)?;
    }
    let c = build(graph, &origin)?;
    let aligned = AlignedBytes::from_slice(&c.image)?;
    let m = ferrite::Model::load(aligned.as_slice()).map_err(|e| anyhow!("{e}"))?;
    let footprint = board::Footprint {
        arena: c.plan.arena_size as u64,
        model: c.image.len() as u64,
    };
    if let Some(b) = &board {
        // Checked before anything is written.
        b.check(footprint)
            .with_context(|| format!("{origin}: --board {}", b.name))?;
    }
    fsutil::write_atomic(output, &c.image)?;
    if let Some(dir) = target.emit_rust {
        board::emit_rust(dir, &c.image, &m, board.as_ref())?;
        say!(
            "wrote {} and {}",
            dir.join("model.fer").display(),
            dir.join("model.rs").display()
        );
    }
    if let Some(b) = &board {
        say!("{}", b.summary(footprint));
    }
    if let (Some(path), Some(bytes)) = (qa.emit_onnx_qdq.as_deref(), &qdq_onnx) {
        fsutil::write_atomic(path, bytes)?;
        say!("wrote {} ({} bytes, QDQ ONNX)", path.display(), bytes.len());
    }
    let r = report::report(&m);
    say!(
        "wrote {} ({} bytes) in {:.2}s: {} ops, weights {} bytes, {} MACs",
        output.display(),
        c.image.len(),
        t0.elapsed().as_secs_f64(),
        r.ops.len(),
        r.weight_bytes,
        r.macs
    );
    say!(
        "arena {} bytes = {:.3} x lower bound {} ({:.3} x greedy baseline {}); {}",
        c.plan.arena_size,
        c.plan.arena_size as f64 / c.plan.lower_bound.max(1) as f64,
        c.plan.lower_bound,
        c.plan.arena_size as f64 / c.plan.baseline.max(1) as f64,
        c.plan.baseline,
        c.plan.strategy
    );
    if let Some(path) = report_path {
        let mem = MemoryReport::from_plan(&c.plan);
        let mut j = report::to_json(&r);
        j["memory"] = mem.to_json();
        j["memory"]["strategy"] = c.plan.strategy.clone().into();
        if let Some(q) = quant_doc {
            j["quantization"] = q;
        }
        fsutil::write_atomic(path, serde_json::to_string_pretty(&j)?.as_bytes())?;
        let svg = path.with_extension("svg");
        mem.write_svg(&svg)?;
        say!("report: {} and {}", path.display(), svg.display());
    }
    Ok(())
}

fn load_inputs(specs: &[String]) -> Result<Vec<(Option<String>, npy::Array)>> {
    specs
        .iter()
        .map(|s| {
            let (name, file) = match s.split_once('=') {
                Some((n, f)) => (Some(n.to_string()), f),
                None => (None, s.as_str()),
            };
            Ok((name, npy::read(Path::new(file))?))
        })
        .collect()
}

fn run(model: &Path, inputs: &[String], out: &Path, repeat: usize) -> Result<()> {
    let image = std::fs::read(model).with_context(|| format!("cannot read {}", model.display()))?;
    let inputs = load_inputs(inputs)?;
    let res = exec::run(&image, &model.display().to_string(), &inputs, repeat)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for (name, arr) in &res.outputs {
        let path = out.join(format!("{}.npy", file_name_for(name)));
        npy::write(&path, &arr.shape, &arr.data)?;
        say!("{} {:?} -> {}", name, arr.shape, path.display());
    }
    say!(
        "invoke: {:.3} ms (median of {})",
        median(&res.latencies).as_secs_f64() * 1e3,
        res.latencies.len()
    );
    Ok(())
}

fn inspect(model: &Path, json: bool, timeline: bool, board: Option<&str>) -> Result<()> {
    let board = board.map(board::find).transpose()?;
    let image = std::fs::read(model).with_context(|| format!("cannot read {}", model.display()))?;
    let aligned = AlignedBytes::from_slice(&image)?;
    let m = ferrite::Model::load(aligned.as_slice())
        .map_err(|e| anyhow!("{}: {e}", model.display()))?;
    let r = report::report(&m);
    let mem = MemoryReport::from_model(&m);
    if json {
        let mut j = report::to_json(&r);
        j["memory"] = mem.to_json();
        say!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        say_raw!("{}", report::to_text(&r));
        if timeline {
            say_raw!("{}", mem.to_text());
        } else {
            say!("{}", mem.summary());
        }
    }
    if let Some(b) = &board {
        let f = board::Footprint {
            arena: m.arena_size() as u64,
            model: image.len() as u64,
        };
        let (_, features) = board::ops_and_features(&m);
        say!("{}", b.summary(f));
        say!("runtime features: {}", features.join(", "));
        if let Err(e) = b.check(f) {
            say!("does not fit: {e}");
        }
    }
    Ok(())
}

fn bench(
    model: &Path,
    vs: Option<&Path>,
    inputs: &[String],
    (iters, warmup): (usize, usize),
    (kernels, threads): (&str, &str),
    json: bool,
    profile: bool,
) -> Result<()> {
    let threads = ferrite_compiler::bench::thread_counts(threads)?;
    let image = std::fs::read(model).with_context(|| format!("cannot read {}", model.display()))?;
    let aligned = AlignedBytes::from_slice(&image)?;
    let m = ferrite::Model::load(aligned.as_slice())
        .map_err(|e| anyhow!("{}: {e}", model.display()))?;
    let tables = ferrite_compiler::bench::tables(kernels, m.isa())
        .with_context(|| model.display().to_string())?;
    let given = load_inputs(inputs)?;
    // Inputs in model order: named ones by name, a single unnamed one to
    // the only input, the rest deterministic pseudo-random values.
    let mut ordered = Vec::new();
    for i in 0..m.num_inputs() {
        let t = m.input(i).ok_or_else(|| anyhow!("missing input {i}"))?;
        let found = given
            .iter()
            .find(|(n, _)| n.as_deref() == Some(t.name()) || (n.is_none() && m.num_inputs() == 1));
        let arr = match found {
            Some((_, a)) => a.clone(),
            None if given.is_empty() => {
                let n: usize = t.shape().iter().product();
                let mut s: u32 = 0x1234_5678 ^ i as u32;
                let data = (0..n)
                    .map(|_| {
                        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
                    })
                    .collect();
                npy::Array {
                    shape: t.shape().to_vec(),
                    data,
                }
            }
            None => bail!(
                "input '{}' was not given (--input {}=FILE.npy)",
                t.name(),
                t.name()
            ),
        };
        ordered.push(arr);
    }
    let origin = model.display().to_string();
    let r = ferrite_compiler::bench::run(
        &image, &origin, &ordered, &tables, &threads, vs, iters, warmup,
    )?;
    if json {
        say!("{}", r.to_json());
    } else {
        say_raw!("{}", r.to_text());
    }
    if profile {
        let rows = ferrite_compiler::bench::profile(&image, &origin, &ordered, tables[0], iters)?;
        let total: f64 = rows.iter().map(|r| r.2.as_secs_f64()).sum();
        say!(
            "per op ({}, median of {iters}), largest first:",
            tables[0].name()
        );
        for (o, desc, t) in &rows {
            say!(
                "{o:>4} {:>8.3} ms {:>5.1}%  {desc}",
                t.as_secs_f64() * 1e3,
                100.0 * t.as_secs_f64() / total
            );
        }
    }
    Ok(())
}

const DEMO_MODEL: &[u8] = include_bytes!("../assets/ch_ppocr_mobile_v2.0_cls_infer.onnx");
const DEMO_INPUT: &[u8] = include_bytes!("../assets/cls_sample.npy");

fn demo() -> Result<()> {
    say!("Ferrite demo: PP-OCR text direction classifier (ch_ppocr_mobile_v2.0_cls, Apache-2.0)");
    let input = npy::read_bytes(DEMO_INPUT).context("embedded sample")?;
    let opts = ImportOptions {
        input_shapes: vec![("x".into(), input.shape.clone())],
    };
    let t0 = Instant::now();
    let c = compile_bytes(DEMO_MODEL, "embedded cls model", &opts)?;
    say!(
        "compiled in {:.2}s: {} bytes, {} ops, arena {} bytes",
        t0.elapsed().as_secs_f64(),
        c.image.len(),
        c.plan.order.len(),
        c.plan.arena_size
    );
    let res = exec::run(&c.image, "demo", &[(None, input)], 20)?;
    let (_, probs) = res
        .outputs
        .first()
        .ok_or_else(|| anyhow!("model has no output"))?;
    if probs.data.len() != 2 {
        bail!("unexpected output shape {:?}", probs.shape);
    }
    let (label, p) = if probs.data[0] >= probs.data[1] {
        ("0°", probs.data[0])
    } else {
        ("180°", probs.data[1])
    };
    say!("input: rendered text line 'Ferrite 2026 edge', 1x3x48x192");
    say!(
        "orientation: {label} (p = {p:.4}; scores [{:.4}, {:.4}])",
        probs.data[0],
        probs.data[1]
    );
    say!(
        "latency: {:.3} ms (median of {} invokes, reference kernels)",
        median(&res.latencies).as_secs_f64() * 1e3,
        res.latencies.len()
    );
    Ok(())
}
