//! Ferrite runtime: executes compiled `.fer` models without a heap.
//!
//! The runtime owns the binary format ([`format`], normative description in
//! `doc/format.md`). [`Model::load`] validates a `.fer` image once, in place
//! and without copying; [`Interpreter::new`] binds it to a caller-owned arena
//! whose exact size the compiler reports; [`Interpreter::invoke`] then only
//! computes and cannot fail.
//!
//! ```ignore
//! static MODEL: &ferrite::Aligned<[u8]> = &ferrite::Aligned(*include_bytes!("model.fer"));
//! let model = ferrite::Model::load(&MODEL.0)?;
//! let mut arena = ferrite::Aligned([0u8; ARENA_SIZE]);
//! let mut interp = ferrite::Interpreter::new(&model, &mut arena.0)?;
//! interp.input_mut(0)?.as_f32_mut().unwrap().copy_from_slice(&pixels);
//! interp.invoke();
//! let scores = interp.output(0)?.as_f32();
//! ```
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

mod bytes;
mod error;
pub mod format;
mod interp;
pub mod kernels;
pub mod math;
mod model;
pub mod ops;
pub mod packing;
pub mod quant;
#[cfg(feature = "vision")]
pub mod vision;

pub use error::{Error, ErrorKind};
pub use format::DType;
pub use interp::{Interpreter, TensorMut, TensorRef};
pub use kernels::parallel::Parallel;
#[cfg(feature = "threads")]
pub use kernels::threads::ThreadPool;
pub use model::{LoadOptions, Model, OpInfo, TensorInfo};
pub use ops::OpCode;

/// Wrapper that gives its contents 64-byte alignment, for model images and
/// arenas declared as statics: `static M: &Aligned<[u8]> = &Aligned(*include_bytes!("m.fer"));`.
/// The format needs 16; on a cache line, the compiler's 64-byte aligned
/// weights stay on cache lines too.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug)]
pub struct Aligned<T: ?Sized>(pub T);
