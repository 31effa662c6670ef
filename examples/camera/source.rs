//! Where frames come from: a V4L2 device, a directory of images, one
//! image, or a raw YUYV file. Each hands out one frame at a time, borrowed
//! from its own buffer (or the driver's memory-mapped one).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use ferrite::vision::{Frame, PixelFormat};

/// One captured frame and its name (file name or sequence number).
pub struct Captured<'a> {
    /// The pixels.
    pub frame: Frame<'a>,
    /// For printing and for the annotated file's name.
    pub name: String,
}

/// A source of frames.
pub enum Source {
    /// Image files, decoded with the `image` crate, in name order.
    Images {
        files: Vec<PathBuf>,
        next: usize,
        rounds: usize,
        buf: Vec<u8>,
    },
    /// A file of back-to-back YUYV frames.
    RawYuyv {
        path: PathBuf,
        file: File,
        width: usize,
        height: usize,
        frames: usize,
        next: usize,
        rounds: usize,
        buf: Vec<u8>,
    },
    /// A V4L2 capture device.
    #[cfg(target_os = "linux")]
    Device(Box<crate::device::Camera>),
}

/// Extensions read as images.
const IMAGE_EXTS: [&str; 3] = ["png", "jpg", "jpeg"];

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Parses `WxH`.
pub fn parse_size(s: &str) -> Result<(usize, usize)> {
    let (w, h) = s
        .split_once('x')
        .ok_or_else(|| anyhow!("size '{s}' is not WxH"))?;
    let dim = |d: &str| {
        d.trim()
            .parse::<usize>()
            .ok()
            .filter(|&d| (1..=16384).contains(&d))
    };
    match (dim(w), dim(h)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => bail!("size '{s}' is not WxH (1..=16384 each)"),
    }
}

impl Source {
    /// A directory of images, one image file, or (with `yuyv_size`) a raw
    /// YUYV file; every frame `repeat` times over.
    pub fn open_path(
        path: &Path,
        yuyv_size: Option<(usize, usize)>,
        repeat: usize,
    ) -> Result<Source> {
        let rounds = repeat.max(1);
        if let Some((width, height)) = yuyv_size {
            if width % 2 != 0 {
                bail!(
                    "{}: YUYV frames need an even width, got {width}",
                    path.display()
                );
            }
            let file =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let len = file.metadata()?.len();
            let per = (width * height * 2) as u64;
            if len == 0 || len % per != 0 {
                bail!(
                    "{} is {len} bytes, not a whole number of {width}x{height} YUYV frames ({per} bytes each)",
                    path.display()
                );
            }
            return Ok(Source::RawYuyv {
                path: path.to_owned(),
                file,
                width,
                height,
                frames: (len / per) as usize,
                next: 0,
                rounds,
                buf: vec![0; per as usize],
            });
        }
        let files = if path.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_image(p))
                .collect();
            v.sort();
            if v.is_empty() {
                bail!("{} holds no .png, .jpg or .jpeg image", path.display());
            }
            v
        } else if path.is_file() {
            if !is_image(path) {
                bail!(
                    "{}: not a .png/.jpg image (a raw YUYV file needs --yuyv-size WxH)",
                    path.display()
                );
            }
            vec![path.to_owned()]
        } else {
            bail!("{} does not exist", path.display());
        };
        Ok(Source::Images {
            files,
            next: 0,
            rounds,
            buf: Vec::new(),
        })
    }

    /// The next frame; `None` at the end of a file source.
    pub fn next_frame(&mut self) -> Result<Option<Captured<'_>>> {
        match self {
            Source::Images {
                files,
                next,
                rounds,
                buf,
            } => {
                if *next >= files.len() * *rounds {
                    return Ok(None);
                }
                let path = &files[*next % files.len()];
                *next += 1;
                let img = image::ImageReader::open(path)
                    .with_context(|| format!("cannot read {}", path.display()))?
                    .with_guessed_format()?
                    .decode()
                    .map_err(|e| anyhow!("{}: cannot decode image: {e}", path.display()))?
                    .into_rgb8();
                let (w, h) = (img.width() as usize, img.height() as usize);
                *buf = img.into_raw();
                let frame = Frame::new(buf, w, h, PixelFormat::Rgb888)?;
                let name = path
                    .file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
                Ok(Some(Captured { frame, name }))
            }
            Source::RawYuyv {
                path,
                file,
                width,
                height,
                frames,
                next,
                rounds,
                buf,
            } => {
                if *next >= *frames * *rounds {
                    return Ok(None);
                }
                let i = *next % *frames;
                if i == 0 && *next > 0 {
                    *file = File::open(&*path)?;
                }
                *next += 1;
                file.read_exact(buf)
                    .with_context(|| format!("{}: cannot read frame {i}", path.display()))?;
                let frame = Frame::new(buf, *width, *height, PixelFormat::Yuyv)?;
                Ok(Some(Captured {
                    frame,
                    name: format!("frame{i:05}"),
                }))
            }
            #[cfg(target_os = "linux")]
            Source::Device(cam) => cam.next_frame().map(Some),
        }
    }
}
