//! Camera frames as they come from a sensor or a V4L2 driver, read one
//! pixel at a time as RGB.

use super::VisionError;

/// The pixel formats a frame can hold (V4L2 names in brackets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    /// Packed 4:2:2, `Y0 U Y1 V` per pixel pair (`YUYV`).
    Yuyv,
    /// Planar 4:2:0: a `Y` plane, then one plane of interleaved `U V` at half
    /// width and height (`NV12`).
    Nv12,
    /// 16-bit little-endian `rrrrrggg gggbbbbb` (`RGBP`).
    Rgb565,
    /// 3 bytes per pixel, `R G B` (`RGB3`).
    Rgb888,
    /// 3 bytes per pixel, `B G R` (`BGR3`).
    Bgr888,
    /// 1 byte of luma per pixel (`GREY`).
    Gray8,
}

impl PixelFormat {
    /// Bytes per pixel of the first plane's rows (`Y` for NV12).
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Yuyv | PixelFormat::Rgb565 => 2,
            PixelFormat::Rgb888 | PixelFormat::Bgr888 => 3,
            PixelFormat::Nv12 | PixelFormat::Gray8 => 1,
        }
    }

    /// Bytes of a tightly packed `width x height` frame.
    pub fn frame_len(self, width: usize, height: usize) -> Option<usize> {
        let plane = width
            .checked_mul(height)?
            .checked_mul(self.bytes_per_pixel())?;
        match self {
            // The chroma plane: (w/2) * (h/2) pairs of 2 bytes.
            PixelFormat::Nv12 => plane.checked_add(width.checked_mul(height / 2)?),
            _ => Some(plane),
        }
    }
}

/// How YUV frames map to RGB: ITU-R BT.601 coefficients, with the range
/// of the codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum YuvRange {
    /// `Y` in 16..=235 and `U`, `V` in 16..=240 (what webcams and CSI
    /// sensors deliver unless told otherwise).
    #[default]
    Limited,
    /// `Y`, `U`, `V` in 0..=255 (JPEG / JFIF).
    Full,
}

/// A borrowed frame: pixel data, its size and format. Validated once by
/// [`Frame::new`]; every read after that is in bounds.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    data: &'a [u8],
    width: usize,
    height: usize,
    /// Bytes from one row of the first plane to the next.
    stride: usize,
    format: PixelFormat,
    yuv: YuvRange,
}

impl<'a> Frame<'a> {
    /// A tightly packed frame (rows of `width * bytes_per_pixel` bytes).
    pub fn new(
        data: &'a [u8],
        width: usize,
        height: usize,
        format: PixelFormat,
    ) -> Result<Self, VisionError> {
        let stride = width
            .checked_mul(format.bytes_per_pixel())
            .ok_or(VisionError::FrameSize)?;
        Self::with_stride(data, width, height, stride, format)
    }

    /// A frame whose rows are `stride` bytes apart (drivers pad rows). For
    /// NV12 the chroma plane starts right after `height` rows of `stride`
    /// bytes and uses the same stride.
    pub fn with_stride(
        data: &'a [u8],
        width: usize,
        height: usize,
        stride: usize,
        format: PixelFormat,
    ) -> Result<Self, VisionError> {
        if width == 0 || height == 0 {
            return Err(VisionError::FrameSize);
        }
        let row = width
            .checked_mul(format.bytes_per_pixel())
            .ok_or(VisionError::FrameSize)?;
        if stride < row {
            return Err(VisionError::Stride { stride, row });
        }
        let chroma_even = match format {
            PixelFormat::Yuyv => width.is_multiple_of(2),
            PixelFormat::Nv12 => width.is_multiple_of(2) && height.is_multiple_of(2),
            _ => true,
        };
        if !chroma_even {
            return Err(VisionError::OddSize { width, height });
        }
        // The last row needs only `row` bytes, not a whole stride.
        let rows = match format {
            PixelFormat::Nv12 => height + height / 2,
            _ => height,
        };
        let needed = (rows - 1)
            .checked_mul(stride)
            .and_then(|n| n.checked_add(row))
            .ok_or(VisionError::FrameSize)?;
        if data.len() < needed {
            return Err(VisionError::FrameTooShort {
                needed,
                got: data.len(),
            });
        }
        Ok(Frame {
            data,
            width,
            height,
            stride,
            format,
            yuv: YuvRange::Limited,
        })
    }

    /// The same frame with YUV codes read in `range` (default: limited).
    pub fn with_yuv_range(mut self, range: YuvRange) -> Self {
        self.yuv = range;
        self
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixel format.
    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// The pixel at column `x`, row `y` as RGB in 0.0..=255.0.
    /// `x < width` and `y < height` (checked by the callers' geometry).
    #[inline]
    pub fn rgb(&self, x: usize, y: usize) -> [f32; 3] {
        let d = self.data;
        let row = y * self.stride;
        match self.format {
            PixelFormat::Rgb888 => {
                let i = row + 3 * x;
                [d[i] as f32, d[i + 1] as f32, d[i + 2] as f32]
            }
            PixelFormat::Bgr888 => {
                let i = row + 3 * x;
                [d[i + 2] as f32, d[i + 1] as f32, d[i] as f32]
            }
            PixelFormat::Gray8 => {
                let v = d[row + x] as f32;
                [v, v, v]
            }
            PixelFormat::Rgb565 => {
                let i = row + 2 * x;
                let v = u16::from_le_bytes([d[i], d[i + 1]]);
                let (r, g, b) = ((v >> 11) & 31, (v >> 5) & 63, v & 31);
                // Exact scaling to 0..=255, rounded (never a tie: 31 and 63
                // are odd). Bit replication differs from it by one level at
                // 14 of the 96 codes.
                let (r, g, b) = (
                    (r as u32 * 255 + 15) / 31,
                    (g as u32 * 255 + 31) / 63,
                    (b as u32 * 255 + 15) / 31,
                );
                [r as f32, g as f32, b as f32]
            }
            PixelFormat::Yuyv => {
                let pair = row + 4 * (x / 2);
                let yv = d[pair + 2 * (x % 2)];
                yuv_to_rgb(yv, d[pair + 1], d[pair + 3], self.yuv)
            }
            PixelFormat::Nv12 => {
                let yv = d[row + x];
                let uv = self.height * self.stride + (y / 2) * self.stride + 2 * (x / 2);
                yuv_to_rgb(yv, d[uv], d[uv + 1], self.yuv)
            }
        }
    }
}

/// BT.601 YUV -> RGB in 0.0..=255.0 (clamped).
#[inline]
pub fn yuv_to_rgb(y: u8, u: u8, v: u8, range: YuvRange) -> [f32; 3] {
    let (u, v) = (u as f32 - 128.0, v as f32 - 128.0);
    // Kr = 0.299, Kb = 0.114; limited range scales Y by 255/219 and
    // chroma by 255/224.
    let (y, cu, cv) = match range {
        YuvRange::Limited => (
            (y as f32 - 16.0) * (255.0 / 219.0),
            255.0 / 224.0,
            255.0 / 224.0,
        ),
        YuvRange::Full => (y as f32, 1.0, 1.0),
    };
    let (u, v) = (u * cu, v * cv);
    [
        clamp255(y + 1.402 * v),
        clamp255(y - 0.344_136_3 * u - 0.714_136_3 * v),
        clamp255(y + 1.772 * u),
    ]
}

#[inline]
fn clamp255(x: f32) -> f32 {
    x.clamp(0.0, 255.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_reads_the_same_pixel() {
        // One 2x2 frame per format holding (200, 100, 50) at (1, 1).
        let rgb = [9u8, 9, 9, 9, 9, 9, 9, 9, 9, 200, 100, 50];
        let f = Frame::new(&rgb, 2, 2, PixelFormat::Rgb888).unwrap();
        assert_eq!(f.rgb(1, 1), [200.0, 100.0, 50.0]);
        let bgr = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 50, 100, 200];
        let f = Frame::new(&bgr, 2, 2, PixelFormat::Bgr888).unwrap();
        assert_eq!(f.rgb(1, 1), [200.0, 100.0, 50.0]);
        // 565 of (31, 63, 0): full red and green.
        let v: u16 = (31 << 11) | (63 << 5);
        let [lo, hi] = v.to_le_bytes();
        let p565 = [0, 0, 0, 0, 0, 0, lo, hi];
        let f = Frame::new(&p565, 2, 2, PixelFormat::Rgb565).unwrap();
        assert_eq!(f.rgb(1, 1), [255.0, 255.0, 0.0]);
        let g = [1u8, 2, 3, 4];
        let f = Frame::new(&g, 2, 2, PixelFormat::Gray8).unwrap();
        assert_eq!(f.rgb(1, 0), [2.0, 2.0, 2.0]);
    }

    #[test]
    fn yuv_layouts_pick_their_chroma() {
        // YUYV 4x1: pairs (Y0=16,U=128,Y1=235,V=128), (Y=81, U=90, Y=81, V=240).
        let yuyv = [16u8, 128, 235, 128, 81, 90, 81, 240];
        let f = Frame::new(&yuyv, 4, 1, PixelFormat::Yuyv).unwrap();
        assert_eq!(f.rgb(0, 0), [0.0, 0.0, 0.0]);
        assert_eq!(f.rgb(1, 0), [255.0, 255.0, 255.0]);
        // Y=81, U=90, V=240 is BT.601 limited-range red.
        let [r, g, b] = f.rgb(3, 0);
        assert!(r > 250.0 && g < 3.0 && b < 3.0, "{r} {g} {b}");
        // NV12 2x2: all Y = 81, one chroma pair (90, 240): every pixel red.
        let nv12 = [81u8, 81, 81, 81, 90, 240];
        let f = Frame::new(&nv12, 2, 2, PixelFormat::Nv12).unwrap();
        assert_eq!(f.rgb(1, 1), f.rgb(0, 0));
        assert!(f.rgb(1, 1)[0] > 250.0);
        // Full range: Y=128, no chroma is mid-grey.
        let f = Frame::new(&[128u8, 128, 128, 128], 2, 1, PixelFormat::Yuyv)
            .unwrap()
            .with_yuv_range(YuvRange::Full);
        assert_eq!(f.rgb(1, 0), [128.0, 128.0, 128.0]);
    }

    #[test]
    fn bad_frames_are_refused() {
        let d = [0u8; 12];
        assert_eq!(
            Frame::new(&d, 3, 2, PixelFormat::Yuyv).unwrap_err(),
            VisionError::OddSize {
                width: 3,
                height: 2
            }
        );
        assert_eq!(
            Frame::new(&d, 2, 3, PixelFormat::Nv12).unwrap_err(),
            VisionError::OddSize {
                width: 2,
                height: 3
            }
        );
        assert_eq!(
            Frame::new(&d, 4, 2, PixelFormat::Rgb888).unwrap_err(),
            VisionError::FrameTooShort {
                needed: 24,
                got: 12
            }
        );
        assert_eq!(
            Frame::with_stride(&d, 4, 1, 3, PixelFormat::Gray8).unwrap_err(),
            VisionError::Stride { stride: 3, row: 4 }
        );
        assert_eq!(
            Frame::new(&d, 0, 2, PixelFormat::Gray8).unwrap_err(),
            VisionError::FrameSize
        );
        assert_eq!(
            Frame::new(&d, usize::MAX, 2, PixelFormat::Rgb888).unwrap_err(),
            VisionError::FrameSize
        );
        // A padded last row may be cut short.
        assert!(Frame::with_stride(&d[..10], 4, 2, 6, PixelFormat::Gray8).is_ok());
    }
}
