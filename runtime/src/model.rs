//! Loading and validating a `.fer` image (TFLM's "Prepare", done once).
//!
//! After [`Model::load`] succeeds, every record, offset, length, alignment,
//! opcode, parameter block and shape in the image has been checked, so the
//! interpreter can execute it without further checks.

use crate::bytes;
use crate::error::Error;
use crate::format::{self, header, section, DType, OpRecord, Storage, TensorRecord};
use crate::ops::{self, OpCode};

/// Options for [`Model::load_with`].
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions {
    /// Verify the image CRC (on by default). Turning it off still runs every
    /// structural check; it exists to test that those checks alone keep
    /// execution in bounds.
    pub verify_crc: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { verify_crc: true }
    }
}

/// A validated, zero-copy view of a `.fer` image.
#[derive(Clone, Copy, Debug)]
pub struct Model<'a> {
    image: &'a [u8],
    sections: [(usize, usize); format::SECTION_COUNT],
    arena_size: usize,
    isa: u32,
    n_tensors: usize,
    n_ops: usize,
    n_inputs: usize,
    n_outputs: usize,
}

/// A tensor's description, decoded from its record.
#[derive(Clone, Copy, Debug)]
pub struct TensorInfo<'a> {
    /// Name from the source model, as stored (see [`TensorInfo::name`]).
    name: &'a [u8],
    /// Element type.
    pub dtype: DType,
    /// Where the data lives.
    pub storage: Storage,
    /// Offset in the arena or constant section.
    pub offset: usize,
    /// Size in bytes.
    pub byte_len: usize,
    rank: usize,
    shape: [usize; format::MAX_RANK],
    /// Quantization scale (0 for float tensors).
    pub scale: f32,
    /// Quantization zero point.
    pub zero_point: i32,
}

impl<'a> TensorInfo<'a> {
    /// Name from the source model; empty if the stored bytes are not UTF-8
    /// (names are metadata: the loader does not validate them, so firmware
    /// that never reads one links no UTF-8 validation).
    pub fn name(&self) -> &'a str {
        core::str::from_utf8(self.name).unwrap_or("")
    }

    /// Whether the name is `name`, compared as bytes.
    pub fn is_named(&self, name: &str) -> bool {
        self.name == name.as_bytes()
    }

    /// Dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape[..self.rank]
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.byte_len / self.dtype.size()
    }

    /// True for zero-element tensors.
    pub fn is_empty(&self) -> bool {
        self.byte_len == 0
    }

    /// Shape right-aligned in `MAX_RANK` dims with leading 1s.
    pub fn shape_padded(&self) -> [usize; format::MAX_RANK] {
        let mut s = [1; format::MAX_RANK];
        s[format::MAX_RANK - self.rank..].copy_from_slice(&self.shape[..self.rank]);
        s
    }
}

/// An op's description, decoded from its record.
#[derive(Clone, Copy, Debug)]
pub struct OpInfo<'a> {
    /// Its opcode.
    pub code: OpCode,
    // Little-endian words (`u32::from_le` on read), aligned: the sections
    // are 16-byte aligned and records index them in words.
    inputs: &'a [u32],
    outputs: &'a [u32],
    params: &'a [u32],
}

impl<'a> OpInfo<'a> {
    /// Number of inputs.
    pub fn num_inputs(&self) -> usize {
        self.inputs.len()
    }

    /// Tensor id of input `i`.
    pub fn input(&self, i: usize) -> Option<usize> {
        self.inputs.get(i).map(|&v| u32::from_le(v) as usize)
    }

    /// Number of outputs.
    pub fn num_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// Tensor id of output `i`.
    pub fn output(&self, i: usize) -> Option<usize> {
        self.outputs.get(i).map(|&v| u32::from_le(v) as usize)
    }

    /// Number of parameter words.
    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    /// Parameter word `i` (0 past the end: records are validated to be long enough).
    pub fn param(&self, i: usize) -> u32 {
        self.params.get(i).map_or(0, |&v| u32::from_le(v))
    }

    /// Parameter word `i` as `f32`.
    pub fn param_f32(&self, i: usize) -> f32 {
        f32::from_bits(self.param(i))
    }

    /// Parameter word `i` as `i32`.
    pub fn param_i32(&self, i: usize) -> i32 {
        self.param(i) as i32
    }
}

impl<'a> Model<'a> {
    /// Validates `image` (which must be 16-byte aligned) and returns a view of it.
    pub fn load(image: &'a [u8]) -> Result<Model<'a>, Error> {
        Self::load_with(image, LoadOptions::default())
    }

    /// [`Model::load`] with options.
    pub fn load_with(image: &'a [u8], opts: LoadOptions) -> Result<Model<'a>, Error> {
        if image.len() < format::PAYLOAD_START {
            return Err(Error::Truncated);
        }
        if image[..4] != format::MAGIC {
            return Err(Error::BadMagic);
        }
        let version = u16::from_le_bytes([image[4], image[5]]);
        if version != format::VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let rd = |off| format::rd_u32(image, off).ok_or(Error::Truncated);
        let file_len = rd(header::FILE_LEN)? as usize;
        if file_len > image.len() {
            return Err(Error::Truncated);
        }
        if file_len != image.len() {
            return Err(Error::LengthMismatch);
        }
        if opts.verify_crc && rd(header::CRC)? != format::image_crc(image) {
            return Err(Error::CrcMismatch);
        }
        if !(image.as_ptr() as usize).is_multiple_of(format::ALIGN) {
            return Err(Error::Misaligned);
        }
        let n_sections = rd(header::SECTION_COUNT)? as usize;
        if u16::from_le_bytes([image[6], image[7]]) != 0
            || (n_sections != format::SECTION_COUNT && n_sections != format::SECTION_COUNT_NO_NOTES)
        {
            return Err(Error::BadSection(u8::MAX));
        }
        let rounding = rd(header::ROUNDING)?;
        if crate::quant::Rounding::from_u32(rounding).is_none() {
            return Err(Error::UnsupportedRounding(rounding));
        }
        // Absent sections (the notes of older images) are empty.
        let mut sections = [(format::PAYLOAD_START, 0usize); format::SECTION_COUNT];
        for (i, s) in sections.iter_mut().enumerate().take(n_sections) {
            let off = rd(header::SECTION_TABLE + 8 * i)? as usize;
            let len = rd(header::SECTION_TABLE + 8 * i + 4)? as usize;
            let end = off.checked_add(len).ok_or(Error::BadSection(i as u8))?;
            if off < format::PAYLOAD_START
                || !off.is_multiple_of(format::ALIGN)
                || end > image.len()
            {
                return Err(Error::BadSection(i as u8));
            }
            *s = (off, len);
        }
        let unit = |i: usize, u: usize| {
            if sections[i].1 % u == 0 {
                Ok(sections[i].1 / u)
            } else {
                Err(Error::BadSection(i as u8))
            }
        };
        let n_tensors = unit(section::TENSORS, format::TENSOR_RECORD_LEN)?;
        let n_ops = unit(section::OPS, format::OP_RECORD_LEN)?;
        unit(section::OP_IO, 4)?;
        unit(section::PARAMS, 4)?;
        unit(section::GRAPH_IO, 4)?;
        if rd(header::TENSOR_COUNT)? as usize != n_tensors
            || rd(header::OP_COUNT)? as usize != n_ops
        {
            return Err(Error::BadSection(u8::MAX));
        }
        let mut model = Model {
            image,
            sections,
            arena_size: rd(header::ARENA_SIZE)? as usize,
            isa: rd(header::ISA)?,
            n_tensors,
            n_ops,
            n_inputs: 0,
            n_outputs: 0,
        };
        let known = if crate::packing::BUILT {
            crate::packing::name(model.isa).is_some()
        } else {
            model.isa == format::ISA_REFERENCE
        };
        if !known {
            return Err(Error::IsaMismatch { found: model.isa });
        }
        for t in 0..n_tensors {
            model.check_tensor(t).ok_or(Error::BadTensor(t as u32))?;
        }
        model.check_graph_io().ok_or(Error::BadGraphIo)?;
        for o in 0..n_ops {
            model.check_op(o)?;
        }
        Ok(model)
    }

    fn section(&self, i: usize) -> &'a [u8] {
        let (off, len) = self.sections[i];
        self.image.get(off..off + len).unwrap_or(&[])
    }

    /// Bytes of the caller's arena this model needs (16-byte aligned start).
    pub fn arena_size(&self) -> usize {
        self.arena_size
    }

    /// Weight packing / ISA id of the image.
    pub fn isa(&self) -> u32 {
        self.isa
    }

    /// Size of the image in bytes.
    pub fn image_len(&self) -> usize {
        self.image.len()
    }

    /// Bytes of constant data (weights).
    pub fn const_bytes(&self) -> usize {
        self.sections[section::CONSTS].1
    }

    /// The notes section (UTF-8 `key<TAB>value` lines for tools; empty
    /// when absent or not UTF-8).
    pub fn notes(&self) -> &'a str {
        core::str::from_utf8(self.section(section::NOTES)).unwrap_or("")
    }

    /// Number of tensors.
    pub fn num_tensors(&self) -> usize {
        self.n_tensors
    }

    /// Number of ops.
    pub fn num_ops(&self) -> usize {
        self.n_ops
    }

    /// Number of graph inputs.
    pub fn num_inputs(&self) -> usize {
        self.n_inputs
    }

    /// Number of graph outputs.
    pub fn num_outputs(&self) -> usize {
        self.n_outputs
    }

    fn graph_io_word(&self, i: usize) -> Option<usize> {
        format::rd_u32(self.section(section::GRAPH_IO), 4 * i).map(|v| v as usize)
    }

    /// Tensor id of graph input `i`.
    pub fn input_tensor(&self, i: usize) -> Option<usize> {
        if i < self.n_inputs {
            self.graph_io_word(2 + i)
        } else {
            None
        }
    }

    /// Tensor id of graph output `i`.
    pub fn output_tensor(&self, i: usize) -> Option<usize> {
        if i < self.n_outputs {
            self.graph_io_word(2 + self.n_inputs + i)
        } else {
            None
        }
    }

    /// Description of graph input `i`.
    pub fn input(&self, i: usize) -> Option<TensorInfo<'a>> {
        self.tensor(self.input_tensor(i)?)
    }

    /// Description of graph output `i`.
    pub fn output(&self, i: usize) -> Option<TensorInfo<'a>> {
        self.tensor(self.output_tensor(i)?)
    }

    /// Index of the graph input called `name`.
    pub fn input_index(&self, name: &str) -> Option<usize> {
        (0..self.n_inputs).find(|&i| self.input(i).is_some_and(|t| t.is_named(name)))
    }

    /// Index of the graph output called `name`.
    pub fn output_index(&self, name: &str) -> Option<usize> {
        (0..self.n_outputs).find(|&i| self.output(i).is_some_and(|t| t.is_named(name)))
    }

    /// Raw record of tensor `t`.
    fn tensor_record(&self, t: usize) -> Option<TensorRecord> {
        let start = t.checked_mul(format::TENSOR_RECORD_LEN)?;
        TensorRecord::decode(self.section(section::TENSORS).get(start..)?)
    }

    /// Description of tensor `t`; `None` only for out-of-range ids (records are validated).
    pub fn tensor(&self, t: usize) -> Option<TensorInfo<'a>> {
        if t >= self.n_tensors {
            return None;
        }
        let r = self.tensor_record(t)?;
        let names = self.section(section::NAMES);
        let name = names
            .get(
                r.name_offset as usize
                    ..(r.name_offset as usize).checked_add(r.name_len as usize)?,
            )
            .unwrap_or(&[]);
        let mut shape = [0usize; format::MAX_RANK];
        for (d, s) in shape.iter_mut().enumerate() {
            *s = r.shape[d] as usize;
        }
        Some(TensorInfo {
            name,
            dtype: DType::from_u8(r.dtype)?,
            storage: if r.storage == Storage::Const as u8 {
                Storage::Const
            } else {
                Storage::Arena
            },
            offset: r.offset as usize,
            byte_len: r.byte_len as usize,
            rank: (r.rank as usize).min(format::MAX_RANK),
            shape,
            scale: r.scale,
            zero_point: r.zero_point,
        })
    }

    /// The constant bytes of a constant tensor.
    pub(crate) fn const_data(&self, t: &TensorInfo<'_>) -> &'a [u8] {
        self.section(section::CONSTS)
            .get(t.offset..t.offset + t.byte_len)
            .unwrap_or(&[])
    }

    /// Description of op `o`.
    pub fn op(&self, o: usize) -> Option<OpInfo<'a>> {
        let start = o.checked_mul(format::OP_RECORD_LEN)?;
        let r = OpRecord::decode(self.section(section::OPS).get(start..)?)?;
        let code = OpCode::from_u16(r.opcode)?;
        // Word views of whole sections (`len` a multiple of 4 and 16-byte
        // alignment are checked at load, so nothing is dropped).
        let io = bytes::u32s(self.section(section::OP_IO));
        let io_start = r.io_start as usize;
        let in_end = io_start.checked_add(r.n_inputs as usize)?;
        let out_end = in_end.checked_add(r.n_outputs as usize)?;
        let ps = r.params_start as usize;
        let pe = ps.checked_add(r.params_len as usize)?;
        Some(OpInfo {
            code,
            inputs: io.get(io_start..in_end)?,
            outputs: io.get(in_end..out_end)?,
            params: bytes::u32s(self.section(section::PARAMS)).get(ps..pe)?,
        })
    }

    /// Whether tensor record `t` is valid (`None` if not: the caller names
    /// the error; `Option` keeps each check a compare and a branch).
    fn check_tensor(&self, t: usize) -> Option<()> {
        let r = self.tensor_record(t)?;
        let dtype = DType::from_u8(r.dtype)?;
        let rank = r.rank as usize;
        if rank > format::MAX_RANK || r.storage > 1 {
            return None;
        }
        let mut n: u32 = 1;
        // The product of the non-zero dims is bounded too, so that ops may
        // multiply any subset of dims without overflow.
        let mut nonzero: u32 = 1;
        for (d, &s) in r.shape.iter().enumerate() {
            if d < rank {
                n = n.checked_mul(s)?;
                nonzero = nonzero.checked_mul(s.max(1))?;
            } else if s != 0 {
                return None;
            }
        }
        if n.checked_mul(dtype.size() as u32) != Some(r.byte_len) {
            return None;
        }
        let (off, len) = (r.offset as usize, r.byte_len as usize);
        let end = off.checked_add(len)?;
        let limit = if r.storage == Storage::Const as u8 {
            self.sections[section::CONSTS].1
        } else {
            self.arena_size
        };
        if off % format::ALIGN != 0 || end > limit {
            return None;
        }
        let names = self.section(section::NAMES);
        let ns = r.name_offset as usize;
        names.get(ns..ns.checked_add(r.name_len as usize)?)?;
        if !r.scale.is_finite() || r.scale < 0.0 {
            return None;
        }
        // Quantized activations need a usable step and a zero point inside
        // the type; constant `i8` data (per-channel weights, lookup tables)
        // may carry scale 0: its consumer's constants say how to read it.
        let arena = r.storage == Storage::Arena as u8;
        if dtype == DType::I8
            && ((arena && r.scale <= 0.0) || !(-128..=127).contains(&r.zero_point))
        {
            return None;
        }
        Some(())
    }

    /// Reads and checks the graph input/output table (`None`: `BadGraphIo`).
    fn check_graph_io(&mut self) -> Option<()> {
        let n_in = self.graph_io_word(0)?;
        let n_out = self.graph_io_word(1)?;
        let words = self.sections[section::GRAPH_IO].1 / 4;
        if n_in.checked_add(n_out).and_then(|n| n.checked_add(2)) != Some(words) || n_out == 0 {
            return None;
        }
        self.n_inputs = n_in;
        self.n_outputs = n_out;
        for i in 0..n_in + n_out {
            let t = self.graph_io_word(2 + i)?;
            let info = self.tensor(t)?;
            if info.storage != Storage::Arena {
                return None;
            }
        }
        Some(())
    }

    fn check_op(&self, o: usize) -> Result<(), Error> {
        let bad = Error::BadOp(o as u32);
        let Some(op) = self.op(o) else {
            // Tell an opcode from a newer compiler from a broken record.
            let start = o * format::OP_RECORD_LEN;
            let rec = OpRecord::decode(self.section(section::OPS).get(start..).unwrap_or(&[]));
            return Err(match rec {
                Some(r) if OpCode::from_u16(r.opcode).is_none() => {
                    Error::UnknownOpcode(o as u32, r.opcode)
                }
                _ => bad,
            });
        };
        let out = op.output(0).and_then(|t| self.tensor(t)).ok_or(bad)?;
        if op.num_outputs() != 1 || op.num_inputs() == 0 || out.storage != Storage::Arena {
            return Err(bad);
        }
        // Inputs must lie wholly before or after the output's bytes (the
        // interpreter splits the arena around the output to borrow both),
        // except one input that the op may update in place, which must
        // coincide with the output exactly.
        let (os, oe) = (out.offset, out.offset + out.byte_len);
        let mut aliased = false;
        for i in 0..op.num_inputs() {
            let t = op.input(i).and_then(|t| self.tensor(t)).ok_or(bad)?;
            if t.storage == Storage::Arena && t.offset < oe && os < t.offset + t.byte_len {
                let exact = t.offset == os && t.byte_len == out.byte_len;
                if aliased || !exact || !ops::may_alias(&op, i, &t, &out) {
                    return Err(Error::Overlap(o as u32));
                }
                aliased = true;
            }
        }
        let ctx = ops::Prep {
            model: self,
            op,
            index: o as u32,
            out,
        };
        ops::prepare(&ctx)
    }
}
