//! V4L2 capture (USB webcams, and CSI cameras exposed through the kernel's
//! V4L2 drivers) with memory-mapped buffers.

use anyhow::{anyhow, bail, Context, Result};
use ferrite::vision::{Frame, PixelFormat};
use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, FourCC};

use crate::source::Captured;

/// The formats read, in order of preference (raw before compressed).
const FORMATS: [(&[u8; 4], Option<PixelFormat>); 7] = [
    (b"YUYV", Some(PixelFormat::Yuyv)),
    (b"NV12", Some(PixelFormat::Nv12)),
    (b"RGB3", Some(PixelFormat::Rgb888)),
    (b"BGR3", Some(PixelFormat::Bgr888)),
    (b"RGBP", Some(PixelFormat::Rgb565)),
    (b"GREY", Some(PixelFormat::Gray8)),
    // Motion-JPEG: decoded to RGB888.
    (b"MJPG", None),
];

fn fourcc_name(f: &FourCC) -> String {
    f.str()
        .map_or_else(|_| format!("{:?}", f.repr), str::to_owned)
}

/// An open, streaming capture device.
pub struct Camera {
    _dev: Device,
    stream: Stream<'static>,
    width: usize,
    height: usize,
    stride: usize,
    format: Option<PixelFormat>,
    rgb: Vec<u8>,
    seq: u64,
}

impl Camera {
    /// Opens `path` and starts streaming `width x height` frames in the
    /// best format both sides support (or `fourcc` when given).
    pub fn open(path: &str, width: usize, height: usize, fourcc: Option<&str>) -> Result<Camera> {
        let dev = Device::with_path(path).map_err(|e| {
            anyhow!(
                "cannot open camera {path}: {e}; is it connected and enabled? \
                 (`v4l2-ctl --list-devices` lists the video devices)"
            )
        })?;
        let offered = dev.enum_formats().with_context(|| {
            format!("{path}: cannot list its pixel formats (is it a capture device?)")
        })?;
        let offered: Vec<(FourCC, String)> = offered
            .into_iter()
            .map(|d| (d.fourcc, d.description))
            .collect();
        let pick = pick_format(path, &offered, fourcc)?;
        let mut fmt = dev
            .format()
            .with_context(|| format!("{path}: cannot read its format"))?;
        fmt.width = width as u32;
        fmt.height = height as u32;
        fmt.fourcc = FourCC::new(pick.0);
        let fmt = dev
            .set_format(&fmt)
            .with_context(|| format!("{path}: cannot set its format"))?;
        if fmt.fourcc != FourCC::new(pick.0) {
            bail!(
                "{path} switched to {} when asked for {}",
                fourcc_name(&fmt.fourcc),
                fourcc_name(&FourCC::new(pick.0))
            );
        }
        let stream = Stream::with_buffers(&dev, Type::VideoCapture, 4)
            .with_context(|| format!("{path}: cannot map capture buffers"))?;
        eprintln!(
            "camera: {path} {}x{} {} (asked for {width}x{height})",
            fmt.width,
            fmt.height,
            fourcc_name(&fmt.fourcc)
        );
        Ok(Camera {
            _dev: dev,
            stream,
            width: fmt.width as usize,
            height: fmt.height as usize,
            stride: fmt.stride as usize,
            format: pick.1,
            rgb: Vec::new(),
            seq: 0,
        })
    }

    /// Waits for the next frame.
    pub fn next_frame(&mut self) -> Result<Captured<'_>> {
        let (buf, meta) =
            CaptureStream::next(&mut self.stream).context("camera: capture failed")?;
        // Some drivers leave `bytesused` at 0 for raw formats: the whole buffer.
        let used = match meta.bytesused as usize {
            0 => buf.len(),
            n => n.min(buf.len()),
        };
        let name = format!("frame{:05}", self.seq);
        self.seq += 1;
        let frame = match self.format {
            Some(f) => {
                let stride = self.stride.max(self.width * f.bytes_per_pixel());
                Frame::with_stride(&buf[..used], self.width, self.height, stride, f)?
            }
            None => {
                let img =
                    image::load_from_memory_with_format(&buf[..used], image::ImageFormat::Jpeg)
                        .map_err(|e| anyhow!("camera: cannot decode MJPEG frame {name}: {e}"))?
                        .into_rgb8();
                let (w, h) = (img.width() as usize, img.height() as usize);
                self.rgb = img.into_raw();
                Frame::new(&self.rgb, w, h, PixelFormat::Rgb888)?
            }
        };
        Ok(Captured { frame, name })
    }
}

/// The format to capture in: `want` when the device offers it and it is
/// read here, else the first of [`FORMATS`] the device offers. The error
/// lists what the device offers (`(fourcc, description)`) and what is read.
pub fn pick_format(
    path: &str,
    offered: &[(FourCC, String)],
    want: Option<&str>,
) -> Result<(&'static [u8; 4], Option<PixelFormat>)> {
    let list = || {
        offered
            .iter()
            .map(|(f, d)| format!("{} ({d})", fourcc_name(f)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let supported = || {
        FORMATS
            .iter()
            .map(|(f, _)| fourcc_name(&FourCC::new(f)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let is_offered = |f: &[u8; 4]| offered.iter().any(|(o, _)| *o == FourCC::new(f));
    let pick = match want {
        Some(want) => FORMATS
            .iter()
            .find(|(f, _)| fourcc_name(&FourCC::new(f)).eq_ignore_ascii_case(want))
            .filter(|(f, _)| is_offered(f))
            .ok_or_else(|| {
                anyhow!(
                    "{path}: format {want} is not both offered and supported; it offers {}; supported: {}",
                    list(),
                    supported()
                )
            })?,
        None => FORMATS.iter().find(|(f, _)| is_offered(f)).ok_or_else(|| {
            anyhow!(
                "{path} offers no supported pixel format: it offers {}; supported: {}",
                list(),
                supported()
            )
        })?,
    };
    Ok(*pick)
}
