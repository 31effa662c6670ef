//! Frame -> model input tensor in one pass: crop, resize, channel order,
//! normalization, layout and (for int8 inputs) quantization, written
//! straight into the interpreter's input with no intermediate image.

use super::frame::Frame;
use super::VisionError;
use crate::math;
use crate::quant;

/// A rectangle of frame pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// Left column.
    pub x: usize,
    /// Top row.
    pub y: usize,
    /// Width in pixels.
    pub w: usize,
    /// Height in pixels.
    pub h: usize,
}

impl Rect {
    /// The largest rectangle centred in a `width x height` frame whose aspect
    /// ratio is `aspect_w : aspect_h` (what a square model sees of a 4:3 camera).
    pub fn centered(width: usize, height: usize, aspect_w: usize, aspect_h: usize) -> Rect {
        if aspect_w == 0 || aspect_h == 0 {
            return Rect {
                x: 0,
                y: 0,
                w: width,
                h: height,
            };
        }
        // width / height > aspect_w / aspect_h  <=>  the frame is wider.
        let (w, h) = if (width as u128) * (aspect_h as u128) > (height as u128) * (aspect_w as u128)
        {
            let w = ((height as u128) * (aspect_w as u128) / (aspect_h as u128)) as usize;
            (w.max(1), height)
        } else {
            let h = ((width as u128) * (aspect_h as u128) / (aspect_w as u128)) as usize;
            (width, h.max(1))
        };
        Rect {
            x: (width - w) / 2,
            y: (height - h) / 2,
            w,
            h,
        }
    }
}

/// How the crop is scaled to the model's input size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resize {
    /// The source pixel whose area holds the output pixel's centre.
    Nearest,
    /// Weighted mean of the 4 source pixels around the output pixel's
    /// centre (half-pixel centres, edges clamped: OpenCV's `INTER_LINEAR`,
    /// TensorFlow's `half_pixel_centers`).
    Bilinear,
}

/// The channels the model takes, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channels {
    /// 3 channels: red, green, blue.
    Rgb,
    /// 3 channels: blue, green, red.
    Bgr,
    /// 1 channel: BT.601 luma `0.299 R + 0.587 G + 0.114 B`.
    Gray,
}

impl Channels {
    /// Number of channels.
    pub fn count(self) -> usize {
        match self {
            Channels::Rgb | Channels::Bgr => 3,
            Channels::Gray => 1,
        }
    }
}

/// Tensor layout of the (batch 1) input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `[1, H, W, C]`.
    Nhwc,
    /// `[1, C, H, W]`.
    Nchw,
}

/// Everything between a frame and a model input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preprocess {
    /// The part of the frame the model sees; `None`: the whole frame.
    pub crop: Option<Rect>,
    /// Model input width.
    pub width: usize,
    /// Model input height.
    pub height: usize,
    /// Resampling filter.
    pub resize: Resize,
    /// Channel order (or gray).
    pub channels: Channels,
    /// Tensor layout.
    pub layout: Layout,
    /// Per output channel, subtracted from the 0..=255 pixel value.
    pub mean: [f32; 3],
    /// Per output channel, the value after the mean is divided by.
    pub std: [f32; 3],
}

impl Preprocess {
    /// `width x height`, bilinear, RGB, NCHW, values `(p - 127.5) / 127.5`
    /// in -1..=1 (BlazeFace, MobileNet-style models).
    pub fn new(width: usize, height: usize) -> Preprocess {
        Preprocess {
            crop: None,
            width,
            height,
            resize: Resize::Bilinear,
            channels: Channels::Rgb,
            layout: Layout::Nchw,
            mean: [127.5; 3],
            std: [127.5; 3],
        }
    }

    /// Number of values the input tensor must hold.
    pub fn len(&self) -> usize {
        self.width
            .saturating_mul(self.height)
            .saturating_mul(self.channels.count())
    }

    /// True when the output holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The crop used on `frame` (the whole frame when `crop` is `None`).
    pub fn crop_of(&self, frame: &Frame<'_>) -> Rect {
        self.crop.unwrap_or(Rect {
            x: 0,
            y: 0,
            w: frame.width(),
            h: frame.height(),
        })
    }

    /// Maps a point of the model input, in 0..=1 of its width and height,
    /// back to frame pixels.
    pub fn to_frame(&self, frame: &Frame<'_>, x: f32, y: f32) -> (f32, f32) {
        let c = self.crop_of(frame);
        (c.x as f32 + x * c.w as f32, c.y as f32 + y * c.h as f32)
    }

    fn check(&self, frame: &Frame<'_>, out_len: usize) -> Result<Rect, VisionError> {
        let c = self.crop_of(frame);
        let inside = c.w > 0
            && c.h > 0
            && c.x.checked_add(c.w).is_some_and(|r| r <= frame.width())
            && c.y.checked_add(c.h).is_some_and(|b| b <= frame.height());
        if !inside {
            return Err(VisionError::CropOutside);
        }
        if self.width == 0 || self.height == 0 {
            return Err(VisionError::OutputSize);
        }
        let n = self.channels.count();
        let expected = self
            .width
            .checked_mul(self.height)
            .and_then(|p| p.checked_mul(n))
            .ok_or(VisionError::OutputSize)?;
        if out_len != expected {
            return Err(VisionError::OutputLength {
                expected,
                got: out_len,
            });
        }
        if self.std[..n].iter().any(|s| !s.is_finite() || *s == 0.0)
            || self.mean[..n].iter().any(|m| !m.is_finite())
        {
            return Err(VisionError::Normalization);
        }
        Ok(c)
    }

    /// Fills an `f32` input tensor of [`Preprocess::len`] values.
    pub fn to_f32(&self, frame: &Frame<'_>, out: &mut [f32]) -> Result<(), VisionError> {
        let crop = self.check(frame, out.len())?;
        self.each(frame, crop, |i, v| out[i] = v);
        Ok(())
    }

    /// Fills an int8 input tensor quantized with `scale` and `zero_point`,
    /// with the rounding of the runtime's `Quantize` op
    /// ([`crate::quant::quantize`]) on each normalized value.
    pub fn to_i8(
        &self,
        frame: &Frame<'_>,
        out: &mut [i8],
        scale: f32,
        zero_point: i32,
    ) -> Result<(), VisionError> {
        let crop = self.check(frame, out.len())?;
        if !(scale.is_finite() && scale > 0.0 && (-128..=127).contains(&zero_point)) {
            return Err(VisionError::Quantization);
        }
        self.each(frame, crop, |i, v| {
            out[i] = quant::quantize(v, scale, zero_point)
        });
        Ok(())
    }

    /// Calls `put(index, value)` once for every output value.
    fn each(&self, frame: &Frame<'_>, crop: Rect, mut put: impl FnMut(usize, f32)) {
        let (w, h) = (self.width, self.height);
        let n = self.channels.count();
        let plane = w * h;
        let sx = crop.w as f32 / w as f32;
        let sy = crop.h as f32 / h as f32;
        let inv_std = [1.0 / self.std[0], 1.0 / self.std[1], 1.0 / self.std[2]];
        for oy in 0..h {
            let ry = Axis::new(oy, sy, crop.h, self.resize);
            for ox in 0..w {
                let rx = Axis::new(ox, sx, crop.w, self.resize);
                let p = match self.resize {
                    Resize::Nearest => frame.rgb(crop.x + rx.i0, crop.y + ry.i0),
                    Resize::Bilinear => {
                        let at = |x: usize, y: usize| frame.rgb(crop.x + x, crop.y + y);
                        let (a, b) = (at(rx.i0, ry.i0), at(rx.i1, ry.i0));
                        let (c, d) = (at(rx.i0, ry.i1), at(rx.i1, ry.i1));
                        let mut p = [0.0f32; 3];
                        for k in 0..3 {
                            let top = a[k] + (b[k] - a[k]) * rx.f;
                            let bottom = c[k] + (d[k] - c[k]) * rx.f;
                            p[k] = top + (bottom - top) * ry.f;
                        }
                        p
                    }
                };
                let px = oy * w + ox;
                let vals = match self.channels {
                    Channels::Rgb => [p[0], p[1], p[2]],
                    Channels::Bgr => [p[2], p[1], p[0]],
                    Channels::Gray => [0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2], 0.0, 0.0],
                };
                for (c, v) in vals.iter().enumerate().take(n) {
                    let i = match self.layout {
                        Layout::Nchw => c * plane + px,
                        Layout::Nhwc => px * n + c,
                    };
                    put(i, (v - self.mean[c]) * inv_std[c]);
                }
            }
        }
    }
}

/// Where output coordinate `o` samples along one axis of `len` source
/// pixels: neighbours `i0 <= i1 < len` and the weight `f` of `i1`.
struct Axis {
    i0: usize,
    i1: usize,
    f: f32,
}

impl Axis {
    #[inline]
    fn new(o: usize, scale: f32, len: usize, resize: Resize) -> Axis {
        let last = len - 1;
        match resize {
            Resize::Nearest => {
                let i = (math::floor((o as f32 + 0.5) * scale) as usize).min(last);
                Axis {
                    i0: i,
                    i1: i,
                    f: 0.0,
                }
            }
            Resize::Bilinear => {
                let s = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (math::floor(s) as usize).min(last);
                let i1 = (i0 + 1).min(last);
                Axis {
                    i0,
                    i1,
                    f: s - i0 as f32,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::PixelFormat;

    #[test]
    fn centered_crop_keeps_the_aspect() {
        assert_eq!(
            Rect::centered(640, 480, 1, 1),
            Rect {
                x: 80,
                y: 0,
                w: 480,
                h: 480
            }
        );
        assert_eq!(
            Rect::centered(480, 640, 1, 1),
            Rect {
                x: 0,
                y: 80,
                w: 480,
                h: 480
            }
        );
        assert_eq!(
            Rect::centered(640, 480, 4, 1),
            Rect {
                x: 0,
                y: 160,
                w: 640,
                h: 160
            }
        );
        assert_eq!(
            Rect::centered(5, 5, 0, 1),
            Rect {
                x: 0,
                y: 0,
                w: 5,
                h: 5
            }
        );
    }

    #[test]
    fn identity_resize_is_exact_in_both_layouts() {
        // 3x2 RGB frame, values 0..18.
        let d: [u8; 18] = core::array::from_fn(|i| i as u8 * 10);
        let f = Frame::new(&d, 3, 2, PixelFormat::Rgb888).unwrap();
        let mut p = Preprocess::new(3, 2);
        p.mean = [0.0; 3];
        p.std = [1.0; 3];
        for resize in [Resize::Nearest, Resize::Bilinear] {
            p.resize = resize;
            p.layout = Layout::Nhwc;
            let mut out = [0f32; 18];
            p.to_f32(&f, &mut out).unwrap();
            assert_eq!(out, d.map(|v| v as f32));
            p.layout = Layout::Nchw;
            p.to_f32(&f, &mut out).unwrap();
            // Channel 1 of pixel (x=2, y=1) is byte 3*5+1.
            assert_eq!(out[6 + 5], 160.0);
        }
    }

    #[test]
    fn bilinear_halves_average_and_crop_offsets() {
        // 4x1 gray frame 0, 100, 200, 255 -> 2x1: each output averages a pair.
        let d = [0u8, 100, 200, 250];
        let f = Frame::new(&d, 4, 1, PixelFormat::Gray8).unwrap();
        let mut p = Preprocess::new(2, 1);
        p.channels = Channels::Gray;
        p.mean = [0.0; 3];
        p.std = [2.0; 3];
        let mut out = [0f32; 2];
        p.to_f32(&f, &mut out).unwrap();
        assert_eq!(out, [25.0, 112.5]);
        // Crop the right half, nearest at the same size.
        p.crop = Some(Rect {
            x: 2,
            y: 0,
            w: 2,
            h: 1,
        });
        p.resize = Resize::Nearest;
        p.to_f32(&f, &mut out).unwrap();
        assert_eq!(out, [100.0, 125.0]);
        assert_eq!(p.to_frame(&f, 0.5, 1.0), (3.0, 1.0));
    }

    #[test]
    fn int8_output_uses_the_runtime_rounding() {
        let d = [0u8, 64, 128, 255];
        let f = Frame::new(&d, 4, 1, PixelFormat::Gray8).unwrap();
        let mut p = Preprocess::new(4, 1);
        p.channels = Channels::Gray;
        let mut q = [0i8; 4];
        p.to_i8(&f, &mut q, 1.0 / 128.0, 0).unwrap();
        let mut r = [0f32; 4];
        p.to_f32(&f, &mut r).unwrap();
        assert_eq!(q, r.map(|v| quant::quantize(v, 1.0 / 128.0, 0)));
        assert_eq!(q[0], -128);
        assert_eq!(q[3], 127);
        assert_eq!(p.to_i8(&f, &mut q, 0.0, 0), Err(VisionError::Quantization));
    }

    #[test]
    fn bad_geometry_is_refused() {
        let d = [0u8; 16];
        let f = Frame::new(&d, 4, 4, PixelFormat::Gray8).unwrap();
        let mut p = Preprocess::new(2, 2);
        let mut out = [0f32; 12];
        p.crop = Some(Rect {
            x: 3,
            y: 0,
            w: 2,
            h: 2,
        });
        assert_eq!(p.to_f32(&f, &mut out), Err(VisionError::CropOutside));
        p.crop = Some(Rect {
            x: usize::MAX,
            y: 0,
            w: 2,
            h: 2,
        });
        assert_eq!(p.to_f32(&f, &mut out), Err(VisionError::CropOutside));
        p.crop = None;
        assert_eq!(
            p.to_f32(&f, &mut out[..11]),
            Err(VisionError::OutputLength {
                expected: 12,
                got: 11
            })
        );
        p.std[1] = 0.0;
        assert_eq!(p.to_f32(&f, &mut out), Err(VisionError::Normalization));
        p.std[1] = 1.0;
        p.width = 0;
        assert_eq!(p.to_f32(&f, &mut out[..0]), Err(VisionError::OutputSize));
    }
}
