//! The runtime's error type: small, `Copy`, and specific enough to name the
//! offending record.

use core::fmt;

/// Why a model image or an arena was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The image is shorter than its header or than the length it declares.
    Truncated,
    /// The image does not start with the `.fer` magic.
    BadMagic,
    /// The format version is not one this runtime reads.
    UnsupportedVersion(u16),
    /// The header's file length differs from the image length.
    LengthMismatch,
    /// The CRC-32 of the image does not match the header.
    CrcMismatch,
    /// The image or arena is not aligned as required (16 bytes).
    Misaligned,
    /// A section is out of bounds, misaligned or of an invalid size.
    BadSection(u8),
    /// A tensor record is invalid (dtype, rank, shape, size, placement, name).
    BadTensor(u32),
    /// An op record references out-of-range inputs, outputs or parameters.
    BadOp(u32),
    /// An op record carries an opcode this runtime does not know.
    UnknownOpcode(u32, u16),
    /// An op's parameters or tensor shapes are inconsistent.
    BadParams(u32),
    /// An op's output overlaps one of its inputs in the arena.
    Overlap(u32),
    /// The graph input/output table is invalid.
    BadGraphIo,
    /// The image's weights are packed for kernels this runtime, CPU or
    /// kernel table does not run ([`crate::packing`]).
    IsaMismatch {
        /// The packing id recorded in the image.
        found: u32,
    },
    /// The header names a requantization rounding mode this runtime does not implement.
    UnsupportedRounding(u32),
    /// The arena passed to the interpreter is smaller than the model needs.
    ArenaTooSmall {
        /// Bytes the model needs (plus alignment padding).
        needed: usize,
        /// Bytes supplied.
        got: usize,
    },
    /// An input or output index or name does not exist.
    NoSuchTensor,
    /// Op `.0` (opcode `.1`) is valid, but its kernels were left out of this
    /// build (the runtime's `op-*` cargo features).
    OpNotBuilt(u32, u16),
}

/// Coarse classification of [`Error`], for callers that only branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The model image is malformed or corrupt.
    InvalidModel,
    /// The model is valid but not supported by this build.
    Unsupported,
    /// The caller passed an unusable argument (arena, index, name).
    Usage,
}

impl Error {
    /// The coarse class of this error.
    pub fn kind(self) -> ErrorKind {
        match self {
            Error::UnsupportedVersion(_)
            | Error::UnknownOpcode(..)
            | Error::IsaMismatch { .. }
            | Error::UnsupportedRounding(_)
            | Error::OpNotBuilt(..) => ErrorKind::Unsupported,
            Error::ArenaTooSmall { .. } | Error::NoSuchTensor => ErrorKind::Usage,
            _ => ErrorKind::InvalidModel,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated => f.write_str("model image is truncated"),
            Error::BadMagic => f.write_str("not a .fer model (bad magic)"),
            Error::UnsupportedVersion(v) => write!(f, "unsupported .fer format version {v}"),
            Error::LengthMismatch => f.write_str("model image length differs from its header"),
            Error::CrcMismatch => f.write_str("model image is corrupt (CRC mismatch)"),
            Error::Misaligned => f.write_str("model image or arena is not 16-byte aligned"),
            Error::BadSection(s) => write!(f, "section {s} is out of bounds or malformed"),
            Error::BadTensor(t) => write!(f, "tensor {t} is malformed"),
            Error::BadOp(o) => write!(f, "op {o} references invalid tensors or parameters"),
            Error::UnknownOpcode(o, c) => write!(f, "op {o} has unknown opcode {c}"),
            Error::BadParams(o) => write!(f, "op {o} has inconsistent parameters or shapes"),
            Error::Overlap(o) => write!(f, "op {o} writes over one of its inputs"),
            Error::BadGraphIo => f.write_str("graph input/output table is malformed"),
            Error::IsaMismatch { found } => match crate::packing::name(found) {
                Some(name) => write!(
                    f,
                    "model weights are packed for the `{name}` kernels, which this CPU or kernel table does not run"
                ),
                None => write!(f, "model weights use packing {found}, unknown to this runtime"),
            },
            Error::UnsupportedRounding(r) => write!(
                f,
                "model uses requantization rounding mode {r}; this runtime implements 0 (TFLite double rounding)"
            ),
            Error::ArenaTooSmall { needed, got } => {
                write!(f, "arena too small: need {needed} bytes, got {got}")
            }
            Error::NoSuchTensor => f.write_str("no such input or output"),
            Error::OpNotBuilt(o, c) => match crate::OpCode::from_u16(c) {
                Some(code) => write!(
                    f,
                    "op {o} ({}) is not built into this runtime (cargo feature {}{})",
                    code.name(),
                    code.feature(),
                    if code.f32_form_needs_feature() {
                        ", and f32 for its f32 form"
                    } else {
                        ""
                    }
                ),
                None => write!(f, "op {o} has unknown opcode {c}"),
            },
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
