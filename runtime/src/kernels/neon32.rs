//! The armv7 NEON kernel table `neon32` (32-bit Raspberry Pi OS built for
//! `thumbv7neon-unknown-linux-gnueabihf`, or for
//! `armv7-unknown-linux-gnueabihf` with `-C target-feature=+neon` as
//! `boards/rpi-armv7` does).
//!
//! Compiled only when the build enables NEON (`cfg(ferrite_arm_neon)`, set
//! by `build.rs`); the table is then always handed out, since the build's
//! target CPU has the instructions (compile-time detection only: the arm
//! `#[target_feature]`s are unstable, so the entry points are instantiated
//! with the build's own features, `simd_table!`'s `baseline`).
//!
//! * int8 GEMM and conv (`groups == 1`): the `asm!` micro-kernel
//!   [`Neon32Smull`] (`vmull.s8` + `vpadal.s16`, 2 × 4).
//! * f32 GEMM, conv and conv-transpose (`groups == 1`): the `asm!` loops of
//!   [`Neon32F32`] (`vmla.f32` by scalar, 4 × 8 and 4 × 4) in the generic
//!   tiled driver. `vmla` rounds the product, then the sum, as `portable`
//!   does, so the results are `portable`'s bits except where a product or
//!   partial sum is subnormal: armv7 NEON flushes those to zero.
//! * f32 and int8 depthwise, int8 Add/Sub/Mul, and the rest of the f32
//!   tile (bias, activation): the generic drivers over the portable array
//!   types, which LLVM compiles for the target. Integer lanes become NEON;
//!   f32 stays on scalar VFP, because armv7 NEON flushes subnormals to zero
//!   and LLVM does not vectorize IEEE f32 arithmetic onto it.

use super::f32_gemm::neon32::Neon32F32;
use super::i8_gemm::neon32::Neon32Smull;
use super::portable::I32x4;
use super::select::Kernels;

simd_table!(
    neon32_table, "neon32", baseline, true,
    f32: (Neon32F32, 4, 2, 4, 2),
    i8: (Neon32Smull, Neon32Smull, I32x4, 2),
    packing: crate::format::ISA_REFERENCE
);
