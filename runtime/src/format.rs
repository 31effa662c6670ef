//! The `.fer` binary format, version 1. `doc/format.md` is the normative
//! description; this module is its single implementation, used by the
//! runtime to read and by the compiler to write.
//!
//! All integers are little-endian. The image starts with a [`HEADER_LEN`]
//! byte header followed by a table of [`SECTION_COUNT`] `(offset, len)`
//! pairs; every section starts at a multiple of [`ALIGN`].

/// File magic.
pub const MAGIC: [u8; 4] = *b"FERR";
/// Format version written by this crate and the only one it reads.
pub const VERSION: u16 = 1;
/// Alignment of sections, constant tensors and arena tensors.
pub const ALIGN: usize = 16;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 64;
/// Number of sections this crate writes (the notes section included).
pub const SECTION_COUNT: usize = 8;
/// Number of sections of the first version 1 images, which had no notes
/// section; still accepted (their notes are empty).
pub const SECTION_COUNT_NO_NOTES: usize = 7;
/// Byte offset of the first section (header + section table, aligned).
pub const PAYLOAD_START: usize = HEADER_LEN + 8 * SECTION_COUNT;
/// Size of one tensor record.
pub const TENSOR_RECORD_LEN: usize = 64;
/// Size of one op record.
pub const OP_RECORD_LEN: usize = 16;
/// Largest tensor rank.
pub const MAX_RANK: usize = crate::kernels::MAX_RANK;
/// Weight packing identifier of the plain layouts (no packing); the
/// others are in [`crate::packing`].
pub const ISA_REFERENCE: u32 = 0;

/// Section indices.
pub mod section {
    /// Tensor records ([`super::TENSOR_RECORD_LEN`] bytes each).
    pub const TENSORS: usize = 0;
    /// Op records ([`super::OP_RECORD_LEN`] bytes each).
    pub const OPS: usize = 1;
    /// `u32` tensor indices: each op's inputs, then its outputs.
    pub const OP_IO: usize = 2;
    /// `u32` parameter words of all ops.
    pub const PARAMS: usize = 3;
    /// Constant tensor data.
    pub const CONSTS: usize = 4;
    /// UTF-8 names.
    pub const NAMES: usize = 5;
    /// `u32` words: input count, output count, input tensor ids, output tensor ids.
    pub const GRAPH_IO: usize = 6;
    /// UTF-8 notes for tools (`key<TAB>value` lines, e.g. why an op stayed
    /// `f32` in a quantized model); never read by the interpreter.
    pub const NOTES: usize = 7;
}

/// Header field offsets.
pub mod header {
    /// `[u8; 4]` magic.
    pub const MAGIC: usize = 0;
    /// `u16` format version.
    pub const VERSION: usize = 4;
    /// `u16` flags (none defined in version 1; must be zero).
    pub const FLAGS: usize = 6;
    /// `u32` weight packing / target ISA id.
    pub const ISA: usize = 8;
    /// `u32` arena bytes required.
    pub const ARENA_SIZE: usize = 12;
    /// `u32` total image length.
    pub const FILE_LEN: usize = 16;
    /// `u32` CRC-32 (IEEE) of the whole image with this field read as zero.
    pub const CRC: usize = 20;
    /// `u32` number of sections.
    pub const SECTION_COUNT: usize = 24;
    /// `u32` number of tensors.
    pub const TENSOR_COUNT: usize = 28;
    /// `u32` number of ops.
    pub const OP_COUNT: usize = 32;
    /// `u32` requantization rounding mode of the int8 ops
    /// ([`crate::quant::Rounding`]; 0 = TFLite double rounding).
    pub const ROUNDING: usize = 36;
    /// Start of the section table (`SECTION_COUNT` × `(u32 offset, u32 len)`).
    pub const SECTION_TABLE: usize = 64;
}

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DType {
    /// IEEE-754 binary32.
    F32 = 1,
    /// Signed 8-bit integer (quantized).
    I8 = 2,
    /// Signed 32-bit integer (quantized biases).
    I32 = 3,
}

impl DType {
    /// Decodes a dtype byte.
    pub fn from_u8(v: u8) -> Option<DType> {
        match v {
            1 => Some(DType::F32),
            2 => Some(DType::I8),
            3 => Some(DType::I32),
            _ => None,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::I8 => 1,
        }
    }

    /// Lower-case name, as in `.npy` descriptions.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::I8 => "i8",
            DType::I32 => "i32",
        }
    }
}

/// Where a tensor's bytes live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Storage {
    /// In the caller's arena, at `offset` from its (aligned) start.
    Arena = 0,
    /// In the image's constant section, at `offset` from its start.
    Const = 1,
}

/// One tensor record, decoded.
///
/// Layout (64 bytes): `u8 dtype, u8 rank, u8 storage, u8 reserved, u32 offset,
/// u32 byte_len, u32 name_offset, u32 name_len, f32 scale, i32 zero_point,
/// u32 reserved, [u32; 6] shape, [u32; 2] reserved`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorRecord {
    /// Raw dtype byte (see [`DType`]).
    pub dtype: u8,
    /// Number of dimensions, `0..=MAX_RANK`.
    pub rank: u8,
    /// Raw storage byte (see [`Storage`]).
    pub storage: u8,
    /// Offset in the arena or the constant section.
    pub offset: u32,
    /// Size in bytes; equals the element count times the dtype size.
    pub byte_len: u32,
    /// Name offset in the names section.
    pub name_offset: u32,
    /// Name length in bytes.
    pub name_len: u32,
    /// Quantization scale (0 for float tensors).
    pub scale: f32,
    /// Quantization zero point.
    pub zero_point: i32,
    /// Dimensions; entries past `rank` are zero.
    pub shape: [u32; MAX_RANK],
}

impl TensorRecord {
    /// Decodes a record from exactly [`TENSOR_RECORD_LEN`] bytes.
    pub fn decode(b: &[u8]) -> Option<TensorRecord> {
        if b.len() < TENSOR_RECORD_LEN {
            return None;
        }
        let mut shape = [0u32; MAX_RANK];
        for (d, s) in shape.iter_mut().enumerate() {
            *s = rd_u32(b, 32 + 4 * d)?;
        }
        Some(TensorRecord {
            dtype: b[0],
            rank: b[1],
            storage: b[2],
            offset: rd_u32(b, 4)?,
            byte_len: rd_u32(b, 8)?,
            name_offset: rd_u32(b, 12)?,
            name_len: rd_u32(b, 16)?,
            scale: f32::from_bits(rd_u32(b, 20)?),
            zero_point: rd_u32(b, 24)? as i32,
            shape,
        })
    }

    /// Encodes the record.
    pub fn encode(&self) -> [u8; TENSOR_RECORD_LEN] {
        let mut b = [0u8; TENSOR_RECORD_LEN];
        b[0] = self.dtype;
        b[1] = self.rank;
        b[2] = self.storage;
        wr_u32(&mut b, 4, self.offset);
        wr_u32(&mut b, 8, self.byte_len);
        wr_u32(&mut b, 12, self.name_offset);
        wr_u32(&mut b, 16, self.name_len);
        wr_u32(&mut b, 20, self.scale.to_bits());
        wr_u32(&mut b, 24, self.zero_point as u32);
        for (d, s) in self.shape.iter().enumerate() {
            wr_u32(&mut b, 32 + 4 * d, *s);
        }
        b
    }
}

/// One op record, decoded.
///
/// Layout (16 bytes): `u16 opcode, u8 n_inputs, u8 n_outputs, u32 io_start,
/// u32 params_start, u32 params_len` (io and params in `u32` units).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpRecord {
    /// Opcode (see [`crate::OpCode`]).
    pub opcode: u16,
    /// Number of input tensors.
    pub n_inputs: u8,
    /// Number of output tensors.
    pub n_outputs: u8,
    /// Index of the first input in the op-io section.
    pub io_start: u32,
    /// Index of the first parameter word.
    pub params_start: u32,
    /// Number of parameter words.
    pub params_len: u32,
}

impl OpRecord {
    /// Decodes a record from exactly [`OP_RECORD_LEN`] bytes.
    pub fn decode(b: &[u8]) -> Option<OpRecord> {
        if b.len() < OP_RECORD_LEN {
            return None;
        }
        Some(OpRecord {
            opcode: u16::from_le_bytes([b[0], b[1]]),
            n_inputs: b[2],
            n_outputs: b[3],
            io_start: rd_u32(b, 4)?,
            params_start: rd_u32(b, 8)?,
            params_len: rd_u32(b, 12)?,
        })
    }

    /// Encodes the record.
    pub fn encode(&self) -> [u8; OP_RECORD_LEN] {
        let mut b = [0u8; OP_RECORD_LEN];
        b[0..2].copy_from_slice(&self.opcode.to_le_bytes());
        b[2] = self.n_inputs;
        b[3] = self.n_outputs;
        wr_u32(&mut b, 4, self.io_start);
        wr_u32(&mut b, 8, self.params_start);
        wr_u32(&mut b, 12, self.params_len);
        b
    }
}

/// Reads a little-endian `u32` at `off`, or `None` when out of bounds.
#[inline]
pub fn rd_u32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Writes a little-endian `u32` at `off`. Panics when out of bounds (writer side only).
#[inline]
pub fn wr_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// CRC-32 of every `bits`-bit value (reflected polynomial 0xEDB88320).
const fn crc_table<const N: usize>(bits: u32) -> [u32; N] {
    let mut t = [0u32; N];
    let mut i = 0;
    while i < N {
        let mut c = i as u32;
        let mut k = 0;
        while k < bits {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

const CRC_BYTE: [u32; 256] = crc_table::<256>(8);
const CRC_NIBBLE: [u32; 16] = crc_table::<16>(4);

/// CRC-32 (IEEE 802.3, as zlib) state update: `crc` is the CRC of the
/// bytes before `data`. Bare-metal builds use a 16-entry table (64 bytes of
/// flash, two lookups per byte); others `crc32fast`, which folds with
/// carry-less multiplies on x86-64 and uses the CRC32 instructions on
/// aarch64 (detected at run time with `std`, else when the build targets
/// them), else 16 tables. All give [`crc32_bytewise`]'s value.
pub fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    #[cfg(target_os = "none")]
    {
        crc32_nibblewise(crc, data)
    }
    #[cfg(not(target_os = "none"))]
    {
        let mut h = crc32fast::Hasher::new_with_initial(crc);
        h.update(data);
        h.finalize()
    }
}

/// [`crc32_update`] a byte at a time (256-entry table): the definition the
/// faster forms are checked against.
pub fn crc32_bytewise(mut crc: u32, data: &[u8]) -> u32 {
    crc = !crc;
    for &b in data {
        crc = CRC_BYTE[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// [`crc32_update`] four bits at a time.
pub fn crc32_nibblewise(mut crc: u32, data: &[u8]) -> u32 {
    crc = !crc;
    for &b in data {
        crc ^= b as u32;
        crc = CRC_NIBBLE[(crc & 0xF) as usize] ^ (crc >> 4);
        crc = CRC_NIBBLE[(crc & 0xF) as usize] ^ (crc >> 4);
    }
    !crc
}

/// CRC of a whole image, with the CRC field taken as zero.
pub fn image_crc(image: &[u8]) -> u32 {
    let crc_end = header::CRC + 4;
    if image.len() < crc_end {
        return crc32_update(0, image);
    }
    let c = crc32_update(0, &image[..header::CRC]);
    let c = crc32_update(c, &[0; 4]);
    crc32_update(c, &image[crc_end..])
}

/// Rounds `v` up to a multiple of [`ALIGN`], or `None` on overflow.
pub fn align_up(v: usize) -> Option<usize> {
    Some(v.checked_add(ALIGN - 1)? & !(ALIGN - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_zlib_check_value() {
        assert_eq!(crc32_update(0, b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_bytewise(0, b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_nibblewise(0, b"123456789"), 0xCBF4_3926);
        let data: [u8; 257] = core::array::from_fn(|i| (i * 37 + 11) as u8);
        for n in [0, 1, 2, 15, 16, 17, 256, 257] {
            let (a, b) = (
                crc32_bytewise(7, &data[..n]),
                crc32_nibblewise(7, &data[..n]),
            );
            assert_eq!(a, b, "{n} bytes");
        }
    }

    /// The wide forms (folding 64 or more bytes at a time, then a tail) at
    /// every length and alignment around their block sizes, chained from a
    /// nonzero state like `image_crc`.
    #[test]
    fn crc_update_equals_bytewise() {
        let data: [u8; 1100] = core::array::from_fn(|i| (i * 131 + (i >> 3) * 7 + 5) as u8);
        let lens = (0..=140).chain([255, 256, 257, 511, 512, 513, 1023, 1024, 1025]);
        let n_lens = if cfg!(miri) { 40 } else { usize::MAX };
        for n in lens.take(n_lens) {
            for start in [0, 1, 3, 8, 15, 16, 64 + 7] {
                let Some(d) = data.get(start..start + n) else {
                    continue;
                };
                for init in [0, 0xDEAD_BEEF] {
                    assert_eq!(
                        crc32_update(init, d),
                        crc32_bytewise(init, d),
                        "{n} bytes from {start}, state {init:#x}"
                    );
                }
            }
        }
        let (head, tail) = data.split_at(333);
        assert_eq!(
            crc32_update(crc32_update(0, head), tail),
            crc32_update(0, &data)
        );
    }

    #[test]
    fn records_round_trip() {
        let t = TensorRecord {
            dtype: 1,
            rank: 4,
            storage: 0,
            offset: 32,
            byte_len: 96,
            name_offset: 3,
            name_len: 5,
            scale: 0.5,
            zero_point: -3,
            shape: [1, 2, 3, 4, 0, 0],
        };
        assert_eq!(TensorRecord::decode(&t.encode()), Some(t));
        let o = OpRecord {
            opcode: 7,
            n_inputs: 2,
            n_outputs: 1,
            io_start: 9,
            params_start: 4,
            params_len: 3,
        };
        assert_eq!(OpRecord::decode(&o.encode()), Some(o));
    }
}
