//! Calibration data: a directory of `.npy` samples or of images.
//!
//! * One model input: the directory holds one file per sample, `.npy`
//!   (the input's shape, or that shape without its leading 1) or images
//!   (`.png`, `.jpg`, `.jpeg`, decoded with the `image` crate and turned
//!   into a tensor as [`Preprocess`] says).
//! * Several inputs: one sub-directory per input name, each with the same
//!   number of files; sample `k` takes the `k`-th file (sorted by name) of
//!   every sub-directory.
//!
//! Files are taken in byte order of their names, so a given directory
//! always yields the same samples in the same order.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};

use crate::npy::{self, Array};

/// How an image becomes a tensor (`--preprocess`), e.g.
/// `size=224x224,mean=127.5,std=127.5,layout=nchw,channels=rgb`.
///
/// `size=WxH` resizes (bilinear) to W columns and H rows; `mean` and `std`
/// are one value or three (`/`-separated, in channel order) applied as
/// `(pixel - mean) / std` to pixels in `[0, 255]`; `layout` is `nchw` or
/// `nhwc`; `channels` is `rgb`, `bgr` or `gray`.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocess {
    /// Target `(width, height)`.
    pub size: Option<(u32, u32)>,
    /// Per-channel mean.
    pub mean: [f32; 3],
    /// Per-channel standard deviation.
    pub std: [f32; 3],
    /// Channels first (`nchw`) or last (`nhwc`).
    pub nchw: bool,
    /// Channel order.
    pub channels: Channels,
}

/// Channel order of a preprocessed image (the runtime's, so calibration
/// and camera preprocessing share one definition).
pub use ferrite::vision::Channels;

impl FromStr for Preprocess {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let mut p = Preprocess {
            size: None,
            mean: [0.0; 3],
            std: [1.0; 3],
            nchw: true,
            channels: Channels::Rgb,
        };
        let triple = |v: &str, what: &str| -> Result<[f32; 3]> {
            let parts: Vec<f32> = v
                .split('/')
                .map(|x| {
                    x.trim()
                        .parse::<f32>()
                        .map_err(|_| anyhow!("--preprocess: {what} '{x}' is not a number"))
                })
                .collect::<Result<_>>()?;
            match parts.as_slice() {
                [a] => Ok([*a; 3]),
                [a, b, c] => Ok([*a, *b, *c]),
                _ => bail!("--preprocess: {what} takes 1 or 3 values, got '{v}'"),
            }
        };
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| anyhow!("--preprocess: '{item}' is not key=value"))?;
            match k.trim() {
                "size" => {
                    let (w, h) = v
                        .split_once('x')
                        .ok_or_else(|| anyhow!("--preprocess: size '{v}' is not WxH"))?;
                    let dim = |d: &str| -> Result<u32> {
                        d.trim()
                            .parse::<u32>()
                            .ok()
                            .filter(|&d| (1..=16384).contains(&d))
                            .ok_or_else(|| anyhow!("--preprocess: size '{v}' is not WxH"))
                    };
                    p.size = Some((dim(w)?, dim(h)?));
                }
                "mean" => p.mean = triple(v, "mean")?,
                "std" => {
                    p.std = triple(v, "std")?;
                    if p.std.iter().any(|&s| s == 0.0 || !s.is_finite()) {
                        bail!("--preprocess: std must be non-zero");
                    }
                }
                "layout" => {
                    p.nchw = match v.trim() {
                        "nchw" => true,
                        "nhwc" => false,
                        o => bail!("--preprocess: layout '{o}' (nchw or nhwc)"),
                    }
                }
                "channels" => {
                    p.channels = match v.trim() {
                        "rgb" => Channels::Rgb,
                        "bgr" => Channels::Bgr,
                        "gray" => Channels::Gray,
                        o => bail!("--preprocess: channels '{o}' (rgb, bgr or gray)"),
                    }
                }
                o => bail!("--preprocess: unknown key '{o}' (size, mean, std, layout, channels)"),
            }
        }
        Ok(p)
    }
}

impl Preprocess {
    /// Decodes and converts one image file to a `[1, C, H, W]` (or NHWC)
    /// tensor.
    pub fn image(&self, path: &Path) -> Result<Array> {
        let img = image::ImageReader::open(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .with_guessed_format()
            .with_context(|| format!("cannot read {}", path.display()))?
            .decode()
            .map_err(|e| anyhow!("{}: cannot decode image: {e}", path.display()))?;
        let img = match self.size {
            Some((w, h)) => img.resize_exact(w, h, image::imageops::FilterType::Triangle),
            None => img,
        };
        let rgb = img.to_rgb8();
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        let c = self.channels.count();
        let mut data = vec![0f32; c * h * w];
        for (x, y, px) in rgb.enumerate_pixels() {
            let [r, g, b] = px.0.map(f32::from);
            let vals: [f32; 3] = match self.channels {
                Channels::Rgb => [r, g, b],
                Channels::Bgr => [b, g, r],
                Channels::Gray => [0.299 * r + 0.587 * g + 0.114 * b, 0.0, 0.0],
            };
            let (x, y) = (x as usize, y as usize);
            for (k, &val) in vals.iter().enumerate().take(c) {
                let v = (val - self.mean[k]) / self.std[k];
                let at = if self.nchw {
                    (k * h + y) * w + x
                } else {
                    (y * w + x) * c + k
                };
                data[at] = v;
            }
        }
        let shape = if self.nchw {
            vec![1, c, h, w]
        } else {
            vec![1, h, w, c]
        };
        Ok(Array { shape, data })
    }
}

fn is_image(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("png" | "jpg" | "jpeg")
    )
}

fn is_npy(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()) == Some("npy")
}

/// Sample files of one directory, sorted by name.
fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read calibration directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && (is_npy(p) || is_image(p)))
        .collect();
    v.sort();
    Ok(v)
}

/// Loads one sample file for an input of shape `shape`.
fn load(path: &Path, input: &str, shape: &[usize], pre: Option<&Preprocess>) -> Result<Array> {
    let mut a = if is_image(path) {
        let pre = pre.ok_or_else(|| {
            anyhow!(
                "{} is an image: say how to turn it into the input tensor with --preprocess \
                 (e.g. \"size=224x224,mean=127.5,std=127.5,layout=nchw,channels=rgb\")",
                path.display()
            )
        })?;
        pre.image(path)?
    } else {
        npy::read(path)?
    };
    let leading_one = a.shape.len() + 1 == shape.len() && shape[0] == 1 && a.shape == shape[1..];
    if leading_one {
        a.shape = shape.to_vec();
    }
    if a.shape != shape {
        bail!(
            "{}: calibration sample has shape {:?}, but input '{input}' has shape {:?}",
            path.display(),
            a.shape,
            shape
        );
    }
    if let Some(i) = a.data.iter().position(|v| !v.is_finite()) {
        bail!("{}: element {i} is not finite", path.display());
    }
    Ok(a)
}

/// Reads up to `limit` calibration samples for a model whose inputs are
/// `inputs` (`(name, shape)` in order).
pub fn load_dir(
    dir: &Path,
    inputs: &[(String, Vec<usize>)],
    pre: Option<&Preprocess>,
    limit: Option<usize>,
) -> Result<Vec<Vec<Array>>> {
    if !dir.is_dir() {
        bail!("calibration directory {} does not exist", dir.display());
    }
    let per_input: Vec<Vec<PathBuf>> = if inputs.len() == 1 {
        vec![files(dir)?]
    } else {
        inputs
            .iter()
            .map(|(name, _)| {
                let sub = dir.join(crate::exec::file_name_for(name));
                if !sub.is_dir() {
                    bail!(
                        "the model has {} inputs: {} needs one sub-directory per input; {} is missing",
                        inputs.len(),
                        dir.display(),
                        sub.display()
                    );
                }
                files(&sub)
            })
            .collect::<Result<_>>()?
    };
    let n = per_input[0].len();
    if n == 0 {
        bail!(
            "calibration directory {} holds no samples (.npy, .png, .jpg)",
            dir.display()
        );
    }
    for (k, f) in per_input.iter().enumerate() {
        if f.len() != n {
            bail!(
                "calibration sub-directories disagree: '{}' has {} samples, '{}' has {n}",
                inputs[k].0,
                f.len(),
                inputs[0].0
            );
        }
    }
    let n = limit.map_or(n, |l| l.min(n));
    (0..n)
        .map(|s| {
            inputs
                .iter()
                .zip(&per_input)
                .map(|((name, shape), files)| load(&files[s], name, shape, pre))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_preprocess() {
        let p: Preprocess = "size=224x160,mean=127.5,std=1/2/4,layout=nhwc,channels=bgr"
            .parse()
            .unwrap();
        assert_eq!(p.size, Some((224, 160)));
        assert_eq!(p.mean, [127.5; 3]);
        assert_eq!(p.std, [1.0, 2.0, 4.0]);
        assert!(!p.nchw);
        assert_eq!(p.channels, Channels::Bgr);
        for bad in ["size=0x3", "mean=a", "std=0", "layout=chw", "foo=1", "size"] {
            assert!(bad.parse::<Preprocess>().is_err(), "{bad}");
        }
    }
}
