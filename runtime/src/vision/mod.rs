//! Camera frames in, results out, with no heap: the code around a vision
//! model that every camera application needs.
//!
//! * [`Frame`] borrows a frame in one of the [`PixelFormat`]s that sensors
//!   and V4L2 drivers deliver (YUYV, NV12, RGB565, RGB888/BGR888, GRAY8).
//! * [`Preprocess`] turns it into the model's input tensor in one pass:
//!   crop, resize (nearest or bilinear), channel order, `(p - mean) / std`,
//!   NCHW or NHWC, and for int8 inputs the quantization, written straight
//!   into the interpreter's input (no intermediate image, no `f32` buffer).
//! * [`scores`]: sigmoid, softmax, [`top_k`].
//! * [`decode`]: SSD anchor grids ([`BLAZEFACE_SHORT_RANGE`]) and YOLO heads
//!   into [`Candidates`], then [`nms`] into a fixed-capacity `heapless::Vec`.
//!
//! ```ignore
//! let frame = Frame::new(&yuyv, 640, 480, PixelFormat::Yuyv)?;
//! let mut pre = Preprocess::new(128, 128);
//! pre.crop = Some(Rect::centered(640, 480, 1, 1));
//! pre.to_f32(&frame, interp.input_mut(0)?.as_f32_mut().unwrap())?;
//! interp.invoke();
//! let mut cands = Candidates::<64>::new();
//! decode_ssd(boxes, scores, 1, &BLAZEFACE_SHORT_RANGE, &BLAZEFACE_CODING, 0.5, &mut cands)?;
//! let faces: heapless::Vec<Detection, 8> = cands.nms(0.3, Nms::Weighted);
//! ```

pub mod boxes;
pub mod decode;
pub mod frame;
pub mod preprocess;
pub mod scores;

pub use boxes::{nms, BBox, Candidates, Detection, Nms, MAX_KEYPOINTS};
pub use decode::{
    decode_ssd, decode_yolo, Anchor, BoxCoding, SsdAnchors, YoloFormat, BLAZEFACE_CODING,
    BLAZEFACE_SHORT_RANGE,
};
pub use frame::{Frame, PixelFormat, YuvRange};
pub use preprocess::{Channels, Layout, Preprocess, Rect, Resize};
pub use scores::{sigmoid, sigmoid_in_place, softmax_in_place, top_k};

use core::fmt;

/// Why a frame, a preprocessing or a decoder configuration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VisionError {
    /// Zero or overflowing width or height.
    FrameSize,
    /// Rows are shorter than a row of pixels.
    Stride {
        /// Bytes between rows given.
        stride: usize,
        /// Bytes one row of pixels takes.
        row: usize,
    },
    /// YUYV needs an even width, NV12 an even width and height.
    OddSize {
        /// Frame width.
        width: usize,
        /// Frame height.
        height: usize,
    },
    /// The buffer is smaller than the frame's size says.
    FrameTooShort {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// The crop is empty or leaves the frame.
    CropOutside,
    /// The output size is zero or overflows.
    OutputSize,
    /// The tensor does not hold `width * height * channels` values.
    OutputLength {
        /// Values the preprocessing writes.
        expected: usize,
        /// Values the tensor holds.
        got: usize,
    },
    /// A zero or non-finite `std`, or a non-finite `mean`.
    Normalization,
    /// A non-positive or non-finite scale, or a zero point outside int8.
    Quantization,
    /// Decoder options that cannot be met (no classes, too many keypoints).
    DecoderConfig,
    /// The model outputs do not match the decoder (`anchors` is 0 for YOLO).
    OutputShape {
        /// Anchors of the grid.
        anchors: usize,
        /// Box values given.
        boxes: usize,
        /// Score values given.
        scores: usize,
    },
}

impl fmt::Display for VisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            VisionError::FrameSize => write!(f, "frame width or height is zero or too large"),
            VisionError::Stride { stride, row } => {
                write!(f, "row stride {stride} bytes is less than a row of pixels ({row} bytes)")
            }
            VisionError::OddSize { width, height } => write!(
                f,
                "{width}x{height}: chroma-subsampled formats need an even width (NV12: and height)"
            ),
            VisionError::FrameTooShort { needed, got } => {
                write!(f, "frame buffer holds {got} bytes, the frame needs {needed}")
            }
            VisionError::CropOutside => write!(f, "the crop is empty or leaves the frame"),
            VisionError::OutputSize => write!(f, "output width or height is zero or too large"),
            VisionError::OutputLength { expected, got } => write!(
                f,
                "the input tensor holds {got} values, the preprocessing writes {expected}"
            ),
            VisionError::Normalization => write!(f, "std must be finite and non-zero, mean finite"),
            VisionError::Quantization => {
                write!(f, "int8 input scale must be positive, zero point in -128..=127")
            }
            VisionError::DecoderConfig => write!(f, "decoder configuration cannot be met"),
            VisionError::OutputShape { anchors, boxes, scores } => write!(
                f,
                "model outputs ({boxes} box values, {scores} scores) do not match the decoder ({anchors} anchors)"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for VisionError {}
