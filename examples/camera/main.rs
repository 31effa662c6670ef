//! Camera inference: frames from a V4L2 device, a directory of images or a
//! raw YUYV file, through a compiled `.fer` model, to per-frame results, a
//! rolling FPS / latency line and (with `--save`) annotated PNG frames.
//!
//! ```text
//! cargo run --release --example camera -- --model face.fer --device /dev/video0 --task detect
//! cargo run --release --example camera -- --model cls.fer --source frames/ --task classify \
//!     --labels labels.txt --save annotated/
//! ```

mod draw;
mod source;
mod stats;
mod task;

#[cfg(target_os = "linux")]
mod device;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use ferrite::{Interpreter, Model, ThreadPool};

use source::Source;
use stats::{Rolling, Times};
use task::{Binding, DetectOptions, Fit, Results, Task};

/// Runs a Ferrite model on camera frames.
#[derive(Parser)]
#[command(name = "camera")]
struct Args {
    /// The compiled model (`ferrite compile ... -o model.fer`).
    #[arg(long)]
    model: PathBuf,
    /// A V4L2 capture device, e.g. /dev/video0.
    #[arg(long, conflicts_with = "source", required_unless_present = "source")]
    device: Option<String>,
    /// A directory of .png/.jpg frames, one image, or (with --yuyv-size) a
    /// raw file of back-to-back YUYV frames.
    #[arg(long)]
    source: Option<PathBuf>,
    /// Frame size of a raw YUYV --source.
    #[arg(long, value_name = "WxH")]
    yuyv_size: Option<String>,
    /// Capture size asked of the device (it may pick the nearest it has).
    #[arg(long, value_name = "WxH", default_value = "640x480")]
    size: String,
    /// Capture format (FourCC: YUYV, NV12, RGB3, BGR3, RGBP, GREY, MJPG);
    /// default: the first of these the device offers.
    #[arg(long, value_name = "FOURCC")]
    format: Option<String>,
    /// What the model does.
    #[arg(long, value_enum)]
    task: Task,
    /// Class names, one per line (classify).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Write annotated frames as PNG into this directory.
    #[arg(long, value_name = "DIR")]
    save: Option<PathBuf>,
    /// Input normalization, as `ferrite compile --preprocess` takes it
    /// ("mean=127.5,std=127.5,channels=rgb"); default: the one recorded in
    /// the model, else RGB scaled to -1..=1.
    #[arg(long, value_name = "SPEC")]
    preprocess: Option<String>,
    /// Centre-crop the frame to the input's aspect ratio, or stretch it.
    #[arg(long, value_enum, default_value = "crop")]
    fit: Fit,
    /// Minimum face score (detect).
    #[arg(long, default_value_t = 0.5)]
    score: f32,
    /// Overlap above which faces are merged (detect).
    #[arg(long, default_value_t = 0.3)]
    iou: f32,
    /// Stop after N frames (default: the end of a file source, never for a device).
    #[arg(long)]
    frames: Option<usize>,
    /// Play a file source N times (for steady FPS figures).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Inference threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print the statistics line every N frames.
    #[arg(long, default_value_t = 30)]
    stats_every: usize,
    /// Only the statistics, no per-frame line.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("camera: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `bytes` copied to a 16-byte aligned start, as `Model::load` needs.
fn aligned_copy(bytes: &[u8]) -> (Vec<u8>, usize) {
    let mut v = vec![0u8; bytes.len() + 16];
    let at = v.as_ptr().align_offset(16);
    v[at..at + bytes.len()].copy_from_slice(bytes);
    (v, at)
}

fn read_labels(path: &PathBuf) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read labels {}", path.display()))?;
    let labels: Vec<String> = text
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    if labels.is_empty() {
        bail!("{} holds no label", path.display());
    }
    Ok(labels)
}

fn run(a: Args) -> Result<()> {
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("cannot read {}", a.model.display()))?;
    let (buf, at) = aligned_copy(&bytes);
    let model = Model::load(&buf[at..at + bytes.len()])
        .map_err(|e| anyhow!("{}: {e}", a.model.display()))?;
    let labels = a.labels.as_ref().map(read_labels).transpose()?;
    let binding = Binding::new(
        &model,
        a.task,
        a.preprocess.as_deref(),
        a.fit,
        DetectOptions {
            score: a.score,
            iou: a.iou,
        },
        labels.as_ref().map(Vec::len),
    )
    .with_context(|| format!("{} does not fit --task {:?}", a.model.display(), a.task))?;

    let mut source = match (&a.device, &a.source) {
        (Some(dev), _) => open_device(dev, &a)?,
        (None, Some(path)) => {
            let yuyv = a.yuyv_size.as_deref().map(source::parse_size).transpose()?;
            Source::open_path(path, yuyv, a.repeat)?
        }
        (None, None) => bail!("give --device or --source"),
    };

    let mut arena = vec![0u8; model.arena_size() + 16];
    let pool = ThreadPool::new(a.threads.max(1));
    let mut interp =
        Interpreter::new(&model, &mut arena).map_err(|e| anyhow!("{}: {e}", a.model.display()))?;
    if a.threads > 1 {
        interp.set_parallel(&pool);
    }
    eprintln!(
        "model {}: input {}x{} {:?} {:?}, arena {} bytes, kernels {}",
        a.model.display(),
        binding.pre.width,
        binding.pre.height,
        binding.pre.layout,
        model.input(0).map(|t| t.dtype),
        model.arena_size(),
        interp.kernels().name()
    );

    let mut stats = Rolling::default();
    let limit = a.frames.unwrap_or(usize::MAX);
    let mut t0 = Instant::now();
    while stats.count < limit {
        let Some(cap) = source.next_frame()? else {
            break;
        };
        let captured = Instant::now();
        binding
            .load(&mut interp, &cap.frame)
            .with_context(|| format!("frame {}", cap.name))?;
        let loaded = Instant::now();
        interp.invoke();
        let results = binding.results(&interp)?;
        let done = Instant::now();
        stats.push(Times {
            capture: captured - t0,
            preprocess: loaded - captured,
            inference: done - loaded,
        });
        if !a.quiet {
            println!(
                "{} {}",
                cap.name,
                describe(&results, &binding, &cap.frame, labels.as_deref())
            );
        }
        if let Some(dir) = &a.save {
            let mut img = draw::to_rgb(&cap.frame);
            let pre = binding.fit(&cap.frame);
            match &results {
                Results::Faces(f) => draw::faces(&mut img, &cap.frame, &pre, f),
                Results::Classes(c) => {
                    if let Some(&(k, p)) = c.first() {
                        draw::text(
                            &mut img,
                            4,
                            4,
                            &format!("{} {p:.2}", label(k, labels.as_deref())),
                        );
                    }
                }
            }
            draw::save(&img, dir, &cap.name)?;
        }
        if a.stats_every > 0 && stats.count % a.stats_every == 0 {
            println!("{}", stats.line());
        }
        t0 = Instant::now();
    }
    if stats.count == 0 {
        bail!("the source gave no frame");
    }
    if a.stats_every == 0 || stats.count % a.stats_every != 0 {
        println!("{}", stats.line());
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn open_device(dev: &str, a: &Args) -> Result<Source> {
    let (w, h) = source::parse_size(&a.size)?;
    Ok(Source::Device(Box::new(device::Camera::open(
        dev,
        w,
        h,
        a.format.as_deref(),
    )?)))
}

#[cfg(not(target_os = "linux"))]
fn open_device(dev: &str, _: &Args) -> Result<Source> {
    bail!("{dev}: V4L2 capture needs Linux; use --source with image files here")
}

fn label(k: usize, labels: Option<&[String]>) -> String {
    labels
        .and_then(|l| l.get(k))
        .cloned()
        .unwrap_or_else(|| format!("class {k}"))
}

/// One line of results, boxes in frame pixels.
fn describe(
    r: &Results,
    b: &Binding,
    frame: &ferrite::vision::Frame<'_>,
    labels: Option<&[String]>,
) -> String {
    match r {
        Results::Faces(f) => {
            let pre = b.fit(frame);
            let items: Vec<String> = f
                .iter()
                .map(|d| {
                    let (x0, y0) = pre.to_frame(frame, d.bbox.xmin, d.bbox.ymin);
                    let (x1, y1) = pre.to_frame(frame, d.bbox.xmax, d.bbox.ymax);
                    format!("[{x0:.0},{y0:.0} {x1:.0},{y1:.0}] {:.2}", d.score)
                })
                .collect();
            format!("{} face(s) {}", f.len(), items.join(" "))
        }
        Results::Classes(c) => c
            .iter()
            .map(|&(k, p)| format!("{} {p:.3}", label(k, labels)))
            .collect::<Vec<_>>()
            .join(" | "),
    }
}
