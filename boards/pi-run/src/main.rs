//! `ferrite-pi-run`: runs a memory-mapped `.fer` model on a Raspberry Pi (or
//! any Linux host). Inputs without a file get a fixed pseudo-random pattern in
//! [-1, 1); each output's 64-bit FNV-1a digest and a final `digest <hex>` line
//! (all outputs in order) let scripts (`scripts/pi-test`) compare machines.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use ferrite::kernels::parallel::MAX_PARTS;
use ferrite::kernels::Kernels;
use ferrite::{Aligned, DType, Interpreter, Model, TensorInfo, ThreadPool};

const USAGE: &str = "usage: ferrite-pi-run MODEL.fer [--input NAME=FILE.npy]... [--runs N] [--out DIR] [--kernels NAME] [--threads N]
       ferrite-pi-run --list-kernels    (the kernel tables this CPU runs, one a line)";
/// Seed of the xorshift generator for inputs without a file.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;
/// How many leading values of each output are printed.
const SHOWN: usize = 6;

#[derive(Default)]
struct Args {
    model: PathBuf,
    inputs: Vec<(String, PathBuf)>,
    runs: usize,
    out: Option<PathBuf>,
    /// Kernel table name (default: the best this CPU runs).
    kernels: Option<String>,
    /// Print the available kernel tables instead of running a model.
    list_kernels: bool,
    /// Threads the convolutions are split over (1: the calling thread only).
    threads: usize,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrite-pi-run: {e}");
            ExitCode::from(2)
        }
    }
}

fn parse_args() -> Result<Option<Args>, String> {
    let argv = std::env::args_os().skip(1).map(|a| a.into_string());
    let argv: Vec<String> = argv
        .collect::<Result<_, _>>()
        .map_err(|a| format!("argument {a:?} is not UTF-8"))?;
    let mut it = argv.into_iter();
    let mut args = Args {
        runs: 10,
        threads: 1,
        ..Args::default()
    };
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--list-kernels" => args.list_kernels = true,
            "--input" => {
                let v = value()?;
                let (name, file) = v
                    .split_once('=')
                    .ok_or(format!("--input {v}: expected NAME=FILE.npy"))?;
                args.inputs.push((name.to_string(), PathBuf::from(file)));
            }
            "--runs" => {
                let v = value()?;
                let n = v.parse().ok().filter(|&n| n >= 1);
                args.runs = n.ok_or(format!("--runs {v}: expected a whole number >= 1"))?;
            }
            "--out" => args.out = Some(PathBuf::from(value()?)),
            "--kernels" => args.kernels = Some(value()?),
            "--threads" => {
                let v = value()?;
                let n = v.parse().ok().filter(|n| (1..=MAX_PARTS).contains(n));
                args.threads = n.ok_or(format!(
                    "--threads {v}: expected a number from 1 to {MAX_PARTS}"
                ))?;
            }
            _ if a.starts_with('-') => return Err(format!("unknown option {a} (see --help)")),
            _ if args.model.as_os_str().is_empty() => args.model = PathBuf::from(a),
            _ => return Err(format!("unexpected argument {a} (see --help)")),
        }
    }
    if args.model.as_os_str().is_empty() && !args.list_kernels {
        return Err(USAGE.to_string());
    }
    Ok(Some(args))
}

fn run() -> Result<(), String> {
    let Some(args) = parse_args()? else {
        println!("{USAGE}");
        return Ok(());
    };
    if args.list_kernels {
        for k in Kernels::available() {
            println!("{}", k.name());
        }
        return Ok(());
    }
    let path = args.model.display();
    let file = File::open(&args.model).map_err(|e| format!("cannot open {path}: {e}"))?;
    // SAFETY: the mapping is read-only and private to this process; the model
    // file must not be truncated or rewritten while it runs (as for any
    // memory-mapped input).
    let image = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|e| format!("cannot memory-map {path}: {e}"))?;
    if image.is_empty() {
        return Err(format!("{path} is empty"));
    }
    if !(image.as_ptr() as usize).is_multiple_of(16) {
        return Err(format!("{path}: memory mapping is not 16-byte aligned"));
    }
    let fail = |e: ferrite::Error| format!("{path}: {e}");
    let model = Model::load(&image).map_err(fail)?;
    for (name, _) in &args.inputs {
        if model.input_index(name).is_none() {
            let names: Vec<_> = (0..model.num_inputs())
                .filter_map(|i| model.input(i))
                .map(|t| t.name())
                .collect();
            return Err(format!("{path} has no input {name:?} (inputs: {names:?})"));
        }
    }

    let size = model.arena_size();
    let mut arena = vec![Aligned([0u8; 16]); size.div_ceil(16)];
    // SAFETY: `Aligned<[u8; 16]>` is exactly 16 initialized bytes (repr(C),
    // align 16, no padding), so the Vec's buffer is `16 * len` plain bytes.
    let arena: &mut [u8] = unsafe {
        std::slice::from_raw_parts_mut(arena.as_mut_ptr().cast::<u8>(), arena.len() * 16)
    };
    let kernels = match &args.kernels {
        None => Kernels::best_for(model.isa())
            .ok_or_else(|| ferrite::Error::IsaMismatch { found: model.isa() }.to_string())?,
        Some(name) => Kernels::by_name(name).ok_or_else(|| {
            let have: Vec<_> = Kernels::available().map(|k| k.name()).collect();
            format!(
                "no kernel table '{name}' on this CPU; available: {}",
                have.join(", ")
            )
        })?,
    };
    let pool = ThreadPool::new(args.threads);
    let mut interp =
        Interpreter::with_kernels(&model, &mut arena[..size], kernels).map_err(fail)?;
    if args.threads > 1 {
        interp.set_parallel(&pool);
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "model {path}: {} bytes, arena {size} bytes, {} ops, {} inputs, {} outputs",
        image.len(),
        model.num_ops(),
        model.num_inputs(),
        model.num_outputs()
    );
    let _ = writeln!(out, "kernels {}, threads {}", kernels.name(), args.threads);
    let mut feeds = Vec::new();
    for i in 0..model.num_inputs() {
        let info = model.input(i).ok_or(format!("{path}: no input {i}"))?;
        let (name, shape, dtype) = (info.name(), info.shape(), info.dtype);
        let mut rng = SEED ^ (i as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let given = args.inputs.iter().rev().find(|(n, _)| n == name);
        let (source, bytes): (String, Vec<u8>) = match given.map(|(_, f)| f) {
            Some(file) => {
                let (file_shape, data) = read_npy(file)?;
                let file = file.display();
                if file_shape != shape {
                    let want = format!("input {name:?} has shape {shape:?}");
                    return Err(format!("{file}: shape {file_shape:?}, but {want}"));
                }
                if dtype != DType::F32 {
                    return Err(format!("{file}: input {name:?} is {dtype:?}, not F32"));
                }
                (
                    file.to_string(),
                    data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                )
            }
            None if dtype == DType::F32 => {
                let data = (0..info.len()).flat_map(|_| uniform(&mut rng).to_le_bytes());
                ("pseudo-random".into(), data.collect())
            }
            None => {
                let data = (0..info.byte_len).map(|_| (xorshift(&mut rng) >> 56) as u8);
                ("pseudo-random".into(), data.collect())
            }
        };
        let _ = writeln!(out, "input {name:?} {shape:?} {dtype:?} <- {source}");
        feeds.push(bytes);
    }

    let mut times = Vec::new();
    for r in 0..args.runs {
        // Refilled before every run (not timed): a plan may reuse an input's bytes.
        for (i, bytes) in feeds.iter().enumerate() {
            let mut t = interp.input_mut(i).map_err(fail)?;
            t.bytes_mut().copy_from_slice(bytes);
        }
        let start = Instant::now();
        interp.invoke();
        if r > 0 {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }

    if let Some(dir) = &args.out {
        let e = |e| format!("cannot create {}: {e}", dir.display());
        std::fs::create_dir_all(dir).map_err(e)?;
    }
    let mut all = FNV_OFFSET;
    for i in 0..model.num_outputs() {
        let t = interp.output(i).map_err(fail)?;
        let values = values_f32(t.info, t.bytes());
        let shown: Vec<_> = values
            .iter()
            .take(SHOWN)
            .map(|v| format!("{v:.6}"))
            .collect();
        let more = if values.len() > SHOWN { ", ..." } else { "" };
        let _ = writeln!(
            out,
            "output {:?} {:?} {:?} fnv1a {:016x}: [{}{more}]",
            t.info.name(),
            t.info.shape(),
            t.info.dtype,
            fnv1a(FNV_OFFSET, t.bytes()),
            shown.join(", ")
        );
        all = fnv1a(all, t.bytes());
        if let Some(dir) = &args.out {
            let file = dir.join(format!("{}.npy", t.info.name().replace('/', "_")));
            write_npy(&file, t.info.shape(), &values)?;
        }
    }
    times.sort_by(f64::total_cmp);
    let n = times.len();
    if n > 0 {
        let (median, min) = ((times[(n - 1) / 2] + times[n / 2]) / 2.0, times[0]);
        let _ = writeln!(
            out,
            "latency median {median:.3} ms, min {min:.3} ms ({n} runs)"
        );
    } else {
        let _ = writeln!(out, "latency: no timed runs (run 1 is a warm-up)");
    }
    let _ = writeln!(out, "digest {all:016x}");
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| format!("cannot write to stdout: {e}"))
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// 64-bit FNV-1a, continuing from `hash`.
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// Uniform in [-1, 1), on a 2^-23 grid (exact in f32).
fn uniform(s: &mut u64) -> f32 {
    (xorshift(s) >> 40) as f32 / (1u32 << 23) as f32 - 1.0
}

/// The elements as f32 (integer tensors: their stored values, not dequantized).
fn values_f32(info: TensorInfo<'_>, bytes: &[u8]) -> Vec<f32> {
    let words = bytes.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]);
    match info.dtype {
        DType::F32 => words.map(f32::from_le_bytes).collect(),
        DType::I8 => bytes.iter().map(|&b| f32::from(b as i8)).collect(),
        DType::I32 => words.map(|w| i32::from_le_bytes(w) as f32).collect(),
    }
}

fn read_npy(path: &Path) -> Result<(Vec<usize>, Vec<f32>), String> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    let parse = || -> Result<(Vec<usize>, Vec<f32>), String> {
        let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| e.to_string())?;
        if npy.order() != npyz::Order::C {
            return Err("Fortran-order arrays are not supported".into());
        }
        let dtype = npy.dtype();
        if !matches!(&dtype, npyz::DType::Plain(t) if t.to_string() == "<f4") {
            return Err(format!("dtype {} is not float32 (<f4)", dtype.descr()));
        }
        let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
        let data: Vec<f32> = npy.into_vec().map_err(|e| e.to_string())?;
        if Some(data.len()) != shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) {
            return Err(format!("{} values do not fill shape {shape:?}", data.len()));
        }
        Ok((shape, data))
    };
    // npyz can panic on absurd headers; a malformed file must be an error,
    // not a crash (and not a panic message).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result =
        std::panic::catch_unwind(parse).unwrap_or_else(|_| Err("malformed .npy header".into()));
    std::panic::set_hook(hook);
    result.map_err(|e| format!("{name}: {e}"))
}

fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), String> {
    let name = path.display();
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let file = File::create(path).map_err(|e| format!("cannot create {name}: {e}"))?;
    let write = || -> std::io::Result<()> {
        use npyz::WriterBuilder as _;
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(std::io::BufWriter::new(file))
            .begin_nd()?;
        w.extend(data.iter().copied())?;
        w.finish()
    };
    write().map_err(|e| format!("cannot write {name}: {e}"))
}
