//! The interpreter: binds a validated [`Model`] to a caller-owned arena and
//! executes its ops in order (TFLM's "Eval": compute only, no checks that can
//! fail, no allocation).

use crate::bytes;
use crate::error::Error;
use crate::format::{self, DType, Storage};
use crate::kernels::parallel::Parallel;
use crate::kernels::Kernels;
use crate::model::{Model, TensorInfo};
use crate::ops;

/// Executes a [`Model`] in an arena owned by the caller.
pub struct Interpreter<'m, 'a> {
    model: &'m Model<'m>,
    arena: &'a mut [u8],
    kernels: &'static Kernels,
    parallel: Option<&'a dyn Parallel>,
}

/// A read-only view of an input or output tensor.
#[derive(Clone, Copy, Debug)]
pub struct TensorRef<'t> {
    /// Its description.
    pub info: TensorInfo<'t>,
    data: &'t [u8],
}

/// A writable view of an input tensor.
#[derive(Debug)]
pub struct TensorMut<'t> {
    /// Its description.
    pub info: TensorInfo<'t>,
    data: &'t mut [u8],
}

impl<'t> TensorRef<'t> {
    /// The raw bytes (little-endian elements).
    pub fn bytes(&self) -> &'t [u8] {
        self.data
    }

    /// The elements, when the tensor is `f32`.
    pub fn as_f32(&self) -> Option<&'t [f32]> {
        (self.info.dtype == DType::F32).then(|| bytes::f32s(self.data))
    }

    /// The elements, when the tensor is `i8`.
    pub fn as_i8(&self) -> Option<&'t [i8]> {
        (self.info.dtype == DType::I8).then(|| bytes::i8s(self.data))
    }
}

impl TensorMut<'_> {
    /// The raw bytes (little-endian elements).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.data
    }

    /// The elements, when the tensor is `f32`.
    pub fn as_f32_mut(&mut self) -> Option<&mut [f32]> {
        (self.info.dtype == DType::F32).then(|| bytes::f32s_mut(self.data))
    }

    /// The elements, when the tensor is `i8`.
    pub fn as_i8_mut(&mut self) -> Option<&mut [i8]> {
        (self.info.dtype == DType::I8).then(|| bytes::i8s_mut(self.data))
    }
}

impl<'m, 'a> Interpreter<'m, 'a> {
    /// Binds `model` to `arena`, which must hold at least
    /// [`Model::arena_size`] bytes from its first 16-byte aligned address
    /// (exactly `arena_size` bytes when the arena itself is aligned, e.g.
    /// declared through [`crate::Aligned`]).
    ///
    /// It runs the fastest kernels this CPU supports that read the model's
    /// weight packing ([`Kernels::best_for`]): [`Kernels::best`] for an
    /// unpacked model, the packing's own table for a packed one, and
    /// [`Error::IsaMismatch`] when this CPU does not run that table.
    /// [`Interpreter::with_kernels`] picks others.
    pub fn new(model: &'m Model<'m>, arena: &'a mut [u8]) -> Result<Self, Error> {
        let found = model.isa();
        let kernels = Kernels::best_for(found).ok_or(Error::IsaMismatch { found })?;
        Self::with_kernels(model, arena, kernels)
    }

    /// As [`Interpreter::new`], running the given kernel table (e.g.
    /// [`crate::kernels::REFERENCE`], the specification). int8 outputs are
    /// the same bits with every table. A model with a weight packing runs
    /// only on the table that reads it ([`Kernels::runs_packing`], else
    /// [`Error::IsaMismatch`]).
    pub fn with_kernels(
        model: &'m Model<'m>,
        arena: &'a mut [u8],
        kernels: &'static Kernels,
    ) -> Result<Self, Error> {
        if !kernels.runs_packing(model.isa()) {
            return Err(Error::IsaMismatch { found: model.isa() });
        }
        let pad = arena.as_ptr().align_offset(format::ALIGN);
        let needed = model.arena_size().saturating_add(pad);
        if pad >= format::ALIGN || arena.len() < needed {
            return Err(Error::ArenaTooSmall {
                needed,
                got: arena.len(),
            });
        }
        let arena = &mut arena[pad..pad + model.arena_size()];
        Ok(Interpreter {
            model,
            arena,
            kernels,
            parallel: None,
        })
    }

    /// Splits the ops that divide cleanly (convolutions, over output rows)
    /// into [`Parallel::threads`] parts run on `parallel`, e.g. a
    /// [`ThreadPool`](crate::kernels::threads::ThreadPool) (feature
    /// `threads`). Outputs are the same bits as without it; small ops stay
    /// on the calling thread.
    #[cfg(feature = "parallel")]
    pub fn set_parallel(&mut self, parallel: &'a dyn Parallel) {
        self.parallel = Some(parallel);
    }

    /// The model being executed.
    pub fn model(&self) -> &'m Model<'m> {
        self.model
    }

    /// The kernel table this interpreter runs.
    pub fn kernels(&self) -> &'static Kernels {
        self.kernels
    }

    fn tensor_bytes(&self, info: &TensorInfo<'_>) -> &[u8] {
        match info.storage {
            Storage::Const => self.model.const_data(info),
            Storage::Arena => self
                .arena
                .get(info.offset..info.offset + info.byte_len)
                .unwrap_or(&[]),
        }
    }

    /// Graph input `i`, to be filled before [`Interpreter::invoke`].
    pub fn input_mut(&mut self, i: usize) -> Result<TensorMut<'_>, Error> {
        let info = self.model.input(i).ok_or(Error::NoSuchTensor)?;
        let data = self
            .arena
            .get_mut(info.offset..info.offset + info.byte_len)
            .ok_or(Error::NoSuchTensor)?;
        Ok(TensorMut { info, data })
    }

    /// Graph input called `name`.
    pub fn input_mut_by_name(&mut self, name: &str) -> Result<TensorMut<'_>, Error> {
        let i = self.model.input_index(name).ok_or(Error::NoSuchTensor)?;
        self.input_mut(i)
    }

    /// Graph output `i`, valid after [`Interpreter::invoke`].
    pub fn output(&self, i: usize) -> Result<TensorRef<'_>, Error> {
        let info = self.model.output(i).ok_or(Error::NoSuchTensor)?;
        Ok(TensorRef {
            info,
            data: self.tensor_bytes(&info),
        })
    }

    /// Graph output called `name`.
    pub fn output_by_name(&self, name: &str) -> Result<TensorRef<'_>, Error> {
        let i = self.model.output_index(name).ok_or(Error::NoSuchTensor)?;
        self.output(i)
    }

    /// Any tensor by id: its current arena contents (valid after the op
    /// producing it ran and until the memory plan reuses its bytes) or its
    /// constant data. For debugging and calibration tools.
    pub fn tensor(&self, t: usize) -> Result<TensorRef<'_>, Error> {
        let info = self.model.tensor(t).ok_or(Error::NoSuchTensor)?;
        Ok(TensorRef {
            info,
            data: self.tensor_bytes(&info),
        })
    }

    /// Any arena tensor by id, writable (for calibration tools that replace
    /// an intermediate value before the ops reading it run). Constants are
    /// read-only: `NoSuchTensor`.
    pub fn tensor_mut(&mut self, t: usize) -> Result<TensorMut<'_>, Error> {
        let info = self.model.tensor(t).ok_or(Error::NoSuchTensor)?;
        if info.storage != Storage::Arena {
            return Err(Error::NoSuchTensor);
        }
        let data = self
            .arena
            .get_mut(info.offset..info.offset + info.byte_len)
            .ok_or(Error::NoSuchTensor)?;
        Ok(TensorMut { info, data })
    }

    /// Runs every op once, in order.
    pub fn invoke(&mut self) {
        for o in 0..self.model.num_ops() {
            self.invoke_op(o);
        }
    }

    /// Runs op `o` alone (for profiling and debugging); does nothing for an
    /// out-of-range index.
    pub fn invoke_op(&mut self, o: usize) {
        let model = self.model;
        let Some(op) = model.op(o) else { return };
        let Some(out) = op.output(0).and_then(|t| model.tensor(t)) else {
            return;
        };
        let (start, end) = (out.offset, out.offset + out.byte_len);
        if end > self.arena.len() {
            return;
        }
        // Validated at load: at most one arena input overlaps the output, and
        // then exactly (in-place execution).
        let alias = (0..op.num_inputs()).find(|&i| {
            op.input(i).and_then(|t| model.tensor(t)).is_some_and(|t| {
                t.storage == Storage::Arena
                    && t.byte_len > 0
                    && t.offset == start
                    && t.byte_len == out.byte_len
            })
        });
        #[cfg(feature = "guard")]
        let before = guard::checksum_outside(self.arena, start, end);
        let (lo, rest) = self.arena.split_at_mut(start);
        let (out_bytes, hi) = rest.split_at_mut(end - start);
        let mut ctx = ops::Eval {
            model,
            op,
            out,
            out_bytes,
            lo,
            hi,
            hi_start: end,
            alias,
            kernels: self.kernels,
            parallel: self.parallel,
        };
        ops::eval(&mut ctx);
        #[cfg(feature = "guard")]
        assert_eq!(
            before,
            guard::checksum_outside(self.arena, start, end),
            "op {o} ({}) wrote outside its output tensor",
            op.code.name()
        );
    }
}

/// The `guard` feature: after every op, the arena outside the op's output
/// must be unchanged (checked by CRC, so no memory is needed).
#[cfg(feature = "guard")]
mod guard {
    pub(super) fn checksum_outside(arena: &[u8], start: usize, end: usize) -> (u32, u32) {
        (
            crate::format::crc32_update(0, &arena[..start]),
            crate::format::crc32_update(0, &arena[end..]),
        )
    }
}
