//! Kernel tables: which implementation of each compute-heavy family an
//! [`Interpreter`](crate::Interpreter) calls.
//!
//! [`REFERENCE`] holds the portable reference kernels (the specification).
//! The SIMD tables are reachable only through [`Kernels::best`],
//! [`Kernels::by_name`] and [`Kernels::available`], which hand out a table
//! only when the CPU runs its instructions: at compile time from the
//! target's `target_feature`s (boards set `-C target-cpu`), and with the
//! `std` feature also by runtime detection. That is the invariant every
//! `unsafe` call into a `#[target_feature]` kernel relies on. The armv7
//! table `neon32` is detected at compile time only: it is built, and then
//! always handed out, when the build enables NEON
//! (`thumbv7neon-unknown-linux-gnueabihf`, or `+neon`; see `build.rs`), so
//! its invariant is that the binary runs on a CPU its build targets.
//!
//! Every table computes the same int8 results bit for bit; its f32 results
//! are within the bound stated in `kernels/f32_gemm` (fused multiply-add
//! instead of a rounded product).

use super::f32_conv::ConvParams;
use super::i8_conv::QConvParams;
use super::i8_elementwise::{Operand, QBinary};
use super::i8_gemm::QGemmParams;
use super::Act;

/// `f32_conv::reference`'s signature.
pub type F32ConvFn =
    fn(&ConvParams, &[f32], [usize; 4], &[f32], Option<&[f32]>, &mut [f32], [usize; 4]);
/// `i8_conv::reference`'s signature.
pub type I8ConvFn =
    fn(&QConvParams, &[i8], [usize; 4], &[i8], &[i32], &[i32], &mut [i8], [usize; 4]);
/// `f32_gemm::reference`'s signature.
pub type F32GemmFn = fn(usize, usize, usize, &[f32], &[f32], Option<&[f32]>, Act, &mut [f32]);
/// `i8_gemm::reference`'s signature.
pub type I8GemmFn =
    fn(usize, usize, usize, &[i8], &[i8], Option<&[i32]>, &[i32], &QGemmParams, &mut [i8]);

/// `softmax::reference`'s signature.
pub type F32SoftmaxFn = fn(&[f32], usize, usize, usize, bool, &mut [f32]);
/// `i8_elementwise::quantize`'s signature.
pub type QuantizeFn = fn(&[f32], f32, i32, &mut [i8]);

/// `elementwise::binary_any`'s signature: the f32 broadcasting binary op
/// over two operands, either of which may be the output (in place).
pub(crate) type F32BinaryFn = fn(
    super::elementwise::BinaryKind,
    Operand<'_, f32>,
    Operand<'_, f32>,
    &mut [f32],
    [usize; super::MAX_RANK],
    Act,
);
/// `pool::pool_any`'s signature.
pub type F32PoolFn =
    fn(&super::pool::PoolParams, Option<bool>, &[f32], [usize; 4], &mut [f32], [usize; 4]);

/// `elementwise::unary_any`'s signature (`None`: in place).
pub type F32UnaryFn = fn(super::elementwise::UnaryKind, Option<&[f32]>, &mut [f32]);

/// `i8_elementwise::lut_any`'s signature (`None`: in place).
pub type I8LutFn = fn(&[i8], Option<&[i8]>, &mut [i8]);

/// The int8 broadcasting binary op (`ADD`/`SUB`/`MUL`) over two operands,
/// either of which may be the output (in place).
pub(crate) type I8BinaryFn =
    fn(&QBinary, Operand<'_>, Operand<'_>, &mut [i8], [usize; super::MAX_RANK]);

/// One implementation of every dispatched kernel family.
#[derive(Debug)]
pub struct Kernels {
    name: &'static str,
    /// The weight packing ([`crate::packing`]) `i8_conv_packed` reads;
    /// `ISA_REFERENCE` when the table reads none.
    packing: u32,
    pub(crate) f32_conv: F32ConvFn,
    pub(crate) f32_conv_transpose: F32ConvFn,
    pub(crate) i8_conv: I8ConvFn,
    /// int8 `Conv2d` with `groups == 1` over weights in `packing`, and the
    /// bias folded as [`crate::packing::Packing::bias`] does.
    pub(crate) i8_conv_packed: I8ConvFn,
    /// f32 `Conv2d` with `groups == 1` over weights in `packing`
    /// ([`crate::packing::Packing::of_f32`]).
    pub(crate) f32_conv_packed: F32ConvFn,
    /// int8 `MatMul` over a constant `b` in `packing` with the bias folded.
    pub(crate) i8_gemm_packed: I8GemmFn,
    /// f32 `MatMul` over a constant `b` in `packing`
    /// ([`crate::packing::Packing::of_f32`] of its `n` columns).
    pub(crate) f32_gemm_packed: F32GemmFn,
    pub(crate) f32_gemm: F32GemmFn,
    pub(crate) i8_gemm: I8GemmFn,
    pub(crate) i8_binary: I8BinaryFn,
    /// f32 `Softmax`/`LogSoftmax`: the reference compiled with the table's
    /// target features (the same bits).
    pub(crate) f32_softmax: F32SoftmaxFn,
    /// `Quantize` (f32 to int8): as `f32_softmax`.
    pub(crate) quantize: QuantizeFn,
    /// int8 `Lut`: the reference's results (AVX-512 VBMI permutes where
    /// the CPU has them, in every table but `REFERENCE`).
    pub(crate) i8_lut: I8LutFn,
    /// f32 unary ops: `Sigmoid` and `Exp` compiled with the table's target
    /// features (the same bits), the others as `REFERENCE`.
    pub(crate) f32_unary: F32UnaryFn,
    /// f32 `Add`…`PRelu`: the reference compiled with the table's target
    /// features, AVX2 on x86-64 (the same bits: one IEEE operation per
    /// element).
    pub(crate) f32_binary: F32BinaryFn,
    /// f32 `MaxPool2d` / `AveragePool2d`: as `f32_binary`.
    pub(crate) f32_pool: F32PoolFn,
}

/// The portable reference kernels.
///
/// A family whose op feature (or the `f32` feature) this build leaves out
/// holds a no-op instead, so its kernel is not linked: `prepare` refuses
/// its ops with `OpNotBuilt`, so the entry is never called.
pub static REFERENCE: Kernels = Kernels {
    name: "reference",
    packing: crate::format::ISA_REFERENCE,
    f32_conv: built!(
        all(feature = "op-conv", feature = "f32"),
        F32ConvFn,
        super::f32_conv::reference,
        |_, _, _, _, _, _, _| {}
    ),
    f32_conv_transpose: built!(
        all(feature = "op-conv", feature = "f32"),
        F32ConvFn,
        super::f32_conv::transpose_reference,
        |_, _, _, _, _, _, _| {}
    ),
    i8_conv: built!(
        feature = "op-conv",
        I8ConvFn,
        super::i8_conv::reference,
        |_, _, _, _, _, _, _, _| {}
    ),
    i8_conv_packed: NO_PACKED_CONV,
    f32_conv_packed: NO_PACKED_F32_CONV,
    i8_gemm_packed: NO_PACKED_GEMM,
    f32_gemm_packed: NO_PACKED_F32_GEMM,
    f32_gemm: built!(
        all(feature = "op-matmul", feature = "f32"),
        F32GemmFn,
        super::f32_gemm::reference,
        |_, _, _, _, _, _, _, _| {}
    ),
    i8_gemm: built!(
        feature = "op-matmul",
        I8GemmFn,
        super::i8_gemm::reference,
        |_, _, _, _, _, _, _, _, _| {}
    ),
    i8_binary: built!(
        feature = "op-binary",
        I8BinaryFn,
        i8_binary_reference,
        |_, _, _, _, _| {}
    ),
    f32_softmax: built!(
        all(feature = "op-softmax", feature = "f32"),
        F32SoftmaxFn,
        super::softmax::reference,
        |_, _, _, _, _, _| {}
    ),
    quantize: built!(
        feature = "op-quant",
        QuantizeFn,
        super::i8_elementwise::quantize,
        |_, _, _, _| {}
    ),
    i8_lut: built!(
        feature = "op-lut",
        I8LutFn,
        super::i8_elementwise::lut_reference,
        |_, _, _| {}
    ),
    f32_unary: built!(
        all(feature = "op-unary", feature = "f32"),
        F32UnaryFn,
        super::elementwise::unary_any,
        |_, _, _| {}
    ),
    f32_binary: REFERENCE_F32_BINARY,
    f32_pool: REFERENCE_F32_POOL,
};

/// The reference f32 pooling (as [`REFERENCE_F32_BINARY`]).
pub(crate) const REFERENCE_F32_POOL: F32PoolFn = built!(
    all(
        feature = "f32",
        any(feature = "op-maxpool", feature = "op-avgpool")
    ),
    F32PoolFn,
    super::pool::pool_any,
    |_, _, _, _, _, _| {}
);

/// The reference f32 binary op, or a no-op where this build leaves it out
/// (as [`built!`]).
pub(crate) const REFERENCE_F32_BINARY: F32BinaryFn = built!(
    all(feature = "op-binary", feature = "f32"),
    F32BinaryFn,
    super::elementwise::binary_any,
    |_, _, _, _, _, _| {}
);

/// The `i8_conv_packed` of a table that reads no packing: never called
/// (an interpreter runs a packed model only on its packing's table).
pub(crate) const NO_PACKED_CONV: I8ConvFn = |_, _, _, _, _, _, _, _| {};

/// The `f32_conv_packed` of a table that reads no packing (as
/// [`NO_PACKED_CONV`]).
pub(crate) const NO_PACKED_F32_CONV: F32ConvFn = |_, _, _, _, _, _, _| {};

/// The `i8_gemm_packed` of a table that reads no packing (as
/// [`NO_PACKED_CONV`]).
pub(crate) const NO_PACKED_GEMM: I8GemmFn = |_, _, _, _, _, _, _, _, _| {};

/// The `f32_gemm_packed` of a table that reads no packing (as
/// [`NO_PACKED_CONV`]).
pub(crate) const NO_PACKED_F32_GEMM: F32GemmFn = |_, _, _, _, _, _, _, _| {};

/// A table's entries over weights in its packing: int8 and f32 `Conv2d`,
/// int8 and f32 `MatMul`.
pub(crate) type PackedFns = (I8ConvFn, F32ConvFn, I8GemmFn, F32GemmFn);

/// The [`PackedFns`] of a table that reads no packing.
pub(crate) const NO_PACKED: PackedFns = (
    NO_PACKED_CONV,
    NO_PACKED_F32_CONV,
    NO_PACKED_GEMM,
    NO_PACKED_F32_GEMM,
);

/// `$kernel` when `$cfg` holds, else `$absent`: a closure with the
/// kernel's arity that does nothing.
macro_rules! built {
    ($cfg:meta, $ty:ty, $kernel:expr, $absent:expr) => {{
        #[cfg($cfg)]
        let f: $ty = $kernel;
        #[cfg(not($cfg))]
        let f: $ty = $absent;
        f
    }};
}
use built;

#[cfg(feature = "op-binary")]
/// The reference int8 binary op: [`binary_reference`](super::i8_elementwise::binary_reference)
/// or, in place, [`binary_inplace`](super::i8_elementwise::binary_inplace).
fn i8_binary_reference(
    op: &QBinary,
    a: Operand<'_>,
    b: Operand<'_>,
    out: &mut [i8],
    shape: [usize; super::MAX_RANK],
) {
    use super::i8_elementwise::{binary_inplace, binary_reference};
    match (a, b) {
        (Operand::Tensor(a, ast), Operand::Tensor(b, bst)) => {
            binary_reference(op, a, ast, b, bst, out, shape)
        }
        (Operand::Output, Operand::Tensor(b, bst)) => binary_inplace(op, true, b, bst, out, shape),
        (Operand::Tensor(a, ast), Operand::Output) => binary_inplace(op, false, a, ast, out, shape),
        // The op layer never aliases both inputs to the output.
        (Operand::Output, Operand::Output) => {}
    }
}

impl Kernels {
    /// Stable name of the table (`reference`, `portable`, `avx2`, `avx512`,
    /// `avx512vnni`, `neon`, `neondot`, `neon32`), as printed by tools and
    /// benches.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The weight packing ([`crate::packing`]) this table reads besides
    /// the plain layouts (`ISA_REFERENCE` if none).
    pub fn packing(&self) -> u32 {
        self.packing
    }

    /// Whether this table runs a model whose weights are in packing `isa`.
    pub fn runs_packing(&self, isa: u32) -> bool {
        isa == crate::format::ISA_REFERENCE || isa == self.packing
    }

    /// The fastest table this CPU runs that reads packing `isa` (a model's
    /// [`Model::isa`](crate::Model::isa)): [`Kernels::best`] for unpacked
    /// models, else the packing's own table, `None` when this CPU does not
    /// run it.
    pub fn best_for(isa: u32) -> Option<&'static Kernels> {
        if isa == crate::format::ISA_REFERENCE {
            return Some(Self::best());
        }
        // Only SIMD tables read a packing (and bare-metal builds, which
        // have none, then link no other table).
        simd_tables()
            .iter()
            .filter_map(|t| t())
            .find(|k| k.packing == isa)
    }

    /// The portable reference kernels.
    pub fn reference() -> &'static Kernels {
        &REFERENCE
    }

    /// The fastest table this CPU runs: the last SIMD table available; on
    /// targets without one, `portable` under an operating system (whose
    /// threads have stacks for its panels, up to about 200 KB) and the
    /// stack-frugal reference kernels on bare metal.
    pub fn best() -> &'static Kernels {
        if let Some(k) = simd_tables().iter().rev().find_map(|t| t()) {
            return k;
        }
        #[cfg(target_os = "none")]
        let fallback = &REFERENCE;
        #[cfg(not(target_os = "none"))]
        let fallback = &super::portable::PORTABLE;
        fallback
    }

    /// Every table this CPU runs, slowest first (`reference`, then
    /// `portable`, then the SIMD tables).
    pub fn available() -> impl Iterator<Item = &'static Kernels> {
        [&REFERENCE, &super::portable::PORTABLE]
            .into_iter()
            .chain(simd_tables().iter().filter_map(|t| t()))
    }

    /// The table called `name`, if this CPU runs it.
    pub fn by_name(name: &str) -> Option<&'static Kernels> {
        Self::available().find(|k| k.name == name)
    }
}

impl Kernels {
    /// This table's f32 `Conv2d` (contract: [`f32_conv::reference`](super::f32_conv::reference)).
    #[allow(clippy::too_many_arguments)]
    pub fn f32_conv(
        &self,
        p: &ConvParams,
        x: &[f32],
        in_shape: [usize; 4],
        w: &[f32],
        bias: Option<&[f32]>,
        out: &mut [f32],
        out_shape: [usize; 4],
    ) {
        (self.f32_conv)(p, x, in_shape, w, bias, out, out_shape)
    }

    /// This table's int8 `Conv2d` (contract: [`i8_conv::reference`](super::i8_conv::reference)).
    #[allow(clippy::too_many_arguments)]
    pub fn i8_conv(
        &self,
        p: &QConvParams,
        x: &[i8],
        in_shape: [usize; 4],
        w: &[i8],
        bias: &[i32],
        requant: &[i32],
        out: &mut [i8],
        out_shape: [usize; 4],
    ) {
        (self.i8_conv)(p, x, in_shape, w, bias, requant, out, out_shape)
    }

    /// This table's int8 `Conv2d` (`groups == 1`) over weights in its
    /// packing ([`Kernels::packing`], [`crate::packing`]: `w` packed,
    /// `bias` folded); does nothing on a table that reads no packing.
    #[allow(clippy::too_many_arguments)]
    pub fn i8_conv_packed(
        &self,
        p: &QConvParams,
        x: &[i8],
        in_shape: [usize; 4],
        w: &[i8],
        bias: &[i32],
        requant: &[i32],
        out: &mut [i8],
        out_shape: [usize; 4],
    ) {
        (self.i8_conv_packed)(p, x, in_shape, w, bias, requant, out, out_shape)
    }

    /// This table's f32 `Conv2d` (`groups == 1`) over weights in its
    /// packing ([`Kernels::packing`], [`crate::packing::Packing::of_f32`]);
    /// does nothing on a table that reads no packing.
    #[allow(clippy::too_many_arguments)]
    pub fn f32_conv_packed(
        &self,
        p: &ConvParams,
        x: &[f32],
        in_shape: [usize; 4],
        w: &[f32],
        bias: Option<&[f32]>,
        out: &mut [f32],
        out_shape: [usize; 4],
    ) {
        (self.f32_conv_packed)(p, x, in_shape, w, bias, out, out_shape)
    }

    /// This table's f32 `MatMul` (contract: [`f32_gemm::reference`](super::f32_gemm::reference)).
    #[allow(clippy::too_many_arguments)]
    pub fn f32_gemm(
        &self,
        m: usize,
        k: usize,
        n: usize,
        a: &[f32],
        b: &[f32],
        bias: Option<&[f32]>,
        act: Act,
        c: &mut [f32],
    ) {
        (self.f32_gemm)(m, k, n, a, b, bias, act, c)
    }

    /// This table's int8 `Add`/`Sub`/`Mul` of `a` and `b` broadcast to
    /// `out_shape` with element strides (contract:
    /// [`i8_elementwise::binary_reference`](super::i8_elementwise::binary_reference)).
    pub fn i8_binary(
        &self,
        op: &QBinary,
        (a, a_strides): (&[i8], [usize; super::MAX_RANK]),
        (b, b_strides): (&[i8], [usize; super::MAX_RANK]),
        out: &mut [i8],
        out_shape: [usize; super::MAX_RANK],
    ) {
        let (a, b) = (Operand::Tensor(a, a_strides), Operand::Tensor(b, b_strides));
        (self.i8_binary)(op, a, b, out, out_shape)
    }

    /// This table's int8 `MatMul` (contract: [`i8_gemm::reference`](super::i8_gemm::reference)).
    #[allow(clippy::too_many_arguments)]
    pub fn i8_gemm(
        &self,
        m: usize,
        k: usize,
        n: usize,
        a: &[i8],
        b: &[i8],
        bias: Option<&[i32]>,
        requant: &[i32],
        p: &QGemmParams,
        c: &mut [i8],
    ) {
        (self.i8_gemm)(m, k, n, a, b, bias, requant, p, c)
    }

    /// This table's int8 `MatMul` over `b` in its packing
    /// ([`crate::packing::Packing::of`] of `n` columns, zero point 0) and
    /// `bias` folded ([`crate::packing::Packing::bias`]); does nothing on a
    /// table that reads no packing.
    #[allow(clippy::too_many_arguments)]
    pub fn i8_gemm_packed(
        &self,
        m: usize,
        k: usize,
        n: usize,
        a: &[i8],
        b: &[i8],
        bias: Option<&[i32]>,
        requant: &[i32],
        p: &QGemmParams,
        c: &mut [i8],
    ) {
        (self.i8_gemm_packed)(m, k, n, a, b, bias, requant, p, c)
    }

    /// This table's f32 `MatMul` over `b` in its packing
    /// ([`crate::packing::Packing::of_f32`] of `n` columns); does nothing on
    /// a table that reads no packing.
    #[allow(clippy::too_many_arguments)]
    pub fn f32_gemm_packed(
        &self,
        m: usize,
        k: usize,
        n: usize,
        a: &[f32],
        b: &[f32],
        bias: Option<&[f32]>,
        act: Act,
        c: &mut [f32],
    ) {
        (self.f32_gemm_packed)(m, k, n, a, b, bias, act, c)
    }
}

/// Constructors of the SIMD tables of this target, slowest first; each
/// returns its table only when the CPU supports it.
type TableFn = fn() -> Option<&'static Kernels>;

#[cfg(all(target_arch = "x86_64", not(miri)))]
fn simd_tables() -> &'static [TableFn] {
    &[
        super::x86::avx2_table,
        super::x86::avx512_table,
        super::x86::avx512vnni_table,
    ]
}

#[cfg(all(target_arch = "aarch64", not(miri)))]
fn simd_tables() -> &'static [TableFn] {
    &[super::neon::neon_table, super::neon::neondot_table]
}

/// 32-bit arm whose build enables NEON (`ferrite_arm_neon`, set by
/// `build.rs`): compile-time detection only, no run-time check.
#[cfg(all(target_arch = "arm", ferrite_arm_neon, not(miri)))]
fn simd_tables() -> &'static [TableFn] {
    &[super::neon32::neon32_table]
}

#[cfg(any(
    miri,
    not(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        all(target_arch = "arm", ferrite_arm_neon)
    ))
))]
fn simd_tables() -> &'static [TableFn] {
    &[]
}

/// Builds a table (for the ISA modules).
#[allow(clippy::too_many_arguments)]
pub(crate) const fn table(
    name: &'static str,
    packing: u32,
    f32_conv: F32ConvFn,
    f32_conv_transpose: F32ConvFn,
    i8_conv: I8ConvFn,
    (i8_conv_packed, f32_conv_packed, i8_gemm_packed, f32_gemm_packed): PackedFns,
    f32_gemm: F32GemmFn,
    i8_gemm: I8GemmFn,
    i8_binary: I8BinaryFn,
    (f32_softmax, quantize, i8_lut, f32_unary): (F32SoftmaxFn, QuantizeFn, I8LutFn, F32UnaryFn),
    (f32_binary, f32_pool): (F32BinaryFn, F32PoolFn),
) -> Kernels {
    Kernels {
        name,
        packing,
        f32_conv,
        f32_conv_transpose,
        i8_conv,
        i8_conv_packed,
        f32_conv_packed,
        i8_gemm_packed,
        f32_gemm_packed,
        f32_gemm,
        i8_gemm,
        i8_binary,
        f32_softmax,
        quantize,
        i8_lut,
        f32_unary,
        f32_binary,
        f32_pool,
    }
}

/// Defines a SIMD table's constructor `$table() -> Option<&'static Kernels>`
/// (`Some` when `$detect` holds) and its entry points: safe functions that
/// call the generic kernels instantiated inside a
/// `#[target_feature(enable = $feats)]` function. `$detect` must imply that
/// the CPU has `$feats`: it is the only check between them and the
/// instructions.
///
/// `baseline` in place of `$feats` instantiates the kernels without a
/// `#[target_feature]` attribute, for an ISA that the whole build enables
/// (NEON on `thumbv7neon-unknown-linux-gnueabihf`, where the arm target
/// features are not stable attributes): the module that invokes it is
/// compiled only for such builds, so `$detect` is `true` and the invariant
/// is that the binary runs on a CPU its build targets.
#[cfg(all(
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        all(target_arch = "arm", ferrite_arm_neon)
    ),
    not(miri)
))]
macro_rules! simd_table {
    (
        $table:ident, $name:literal, $feats:literal, $detect:expr,
        $($rest:tt)*
    ) => {
        simd_table!(@emit $table, $name, [target_feature(enable = $feats)], $detect, $($rest)*);
    };
    (
        $table:ident, $name:literal, baseline, $detect:expr,
        $($rest:tt)*
    ) => {
        simd_table!(@emit $table, $name, [], $detect, $($rest)*);
    };
    (
        @emit $table:ident, $name:literal, [$($tf:meta)?], $detect:expr,
        f32: ($v:ty, $mr:literal, $nv:literal, $mr1:literal, $dw:literal),
        i8: ($q:ty, $qn:ty, $qv:ty, $qdw:literal),
        packing: $packing:expr
    ) => {
        /// This table when the CPU supports it.
        pub(crate) fn $table() -> Option<&'static Kernels> {
            mod entry {
                use super::*;
                use $crate::kernels::f32_conv::ConvParams;
                use $crate::kernels::i8_conv::QConvParams;
                use $crate::kernels::i8_elementwise::{Operand, QBinary};
                use $crate::kernels::i8_gemm::QGemmParams;
                use $crate::kernels::{Act, MAX_RANK};

                $(#[$tf])?
                unsafe fn f32_conv_tf(
                    p: &ConvParams,
                    x: &[f32],
                    xs: [usize; 4],
                    w: &[f32],
                    b: Option<&[f32]>,
                    y: &mut [f32],
                    ys: [usize; 4],
                ) {
                    // SAFETY: the table's ISA is enabled on this function
                    // (`$tf`, or the build target's baseline).
                    unsafe {
                        $crate::kernels::f32_conv::simd::<$v, $mr, $nv, $mr1, $dw>(
                            p, x, xs, w, b, y, ys,
                        )
                    }
                }
                pub(super) fn f32_conv(
                    p: &ConvParams,
                    x: &[f32],
                    xs: [usize; 4],
                    w: &[f32],
                    b: Option<&[f32]>,
                    y: &mut [f32],
                    ys: [usize; 4],
                ) {
                    // SAFETY: reachable only through the table, which is
                    // handed out when the CPU has the table's ISA (`$detect`).
                    unsafe { f32_conv_tf(p, x, xs, w, b, y, ys) }
                }

                $(#[$tf])?
                #[allow(clippy::too_many_arguments)]
                unsafe fn i8_conv_tf(
                    p: &QConvParams,
                    x: &[i8],
                    xs: [usize; 4],
                    w: &[i8],
                    b: &[i32],
                    rq: &[i32],
                    y: &mut [i8],
                    ys: [usize; 4],
                ) {
                    // SAFETY: the table's ISA is enabled on this function
                    // (`$tf`, or the build target's baseline).
                    unsafe {
                        $crate::kernels::i8_conv::simd::<$q, $qn, $qv, $qdw>(
                            p, x, xs, w, b, rq, y, ys,
                        )
                    }
                }
                #[allow(clippy::too_many_arguments)]
                pub(super) fn i8_conv(
                    p: &QConvParams,
                    x: &[i8],
                    xs: [usize; 4],
                    w: &[i8],
                    b: &[i32],
                    rq: &[i32],
                    y: &mut [i8],
                    ys: [usize; 4],
                ) {
                    // SAFETY: as `f32_conv`.
                    unsafe { i8_conv_tf(p, x, xs, w, b, rq, y, ys) }
                }

                $(#[$tf])?
                unsafe fn f32_conv_packed_tf(
                    p: &ConvParams,
                    x: &[f32],
                    xs: [usize; 4],
                    w: &[f32],
                    b: Option<&[f32]>,
                    y: &mut [f32],
                    ys: [usize; 4],
                ) {
                    // SAFETY: the table's ISA is enabled on this function
                    // (`$tf`, or the build target's baseline).
                    unsafe {
                        $crate::kernels::f32_conv::simd_packed::<$v, $mr, $nv, $mr1>(
                            $packing, p, x, xs, w, b, y, ys,
                        )
                    }
                }
                #[allow(dead_code)]
                pub(super) fn f32_conv_packed(
                    p: &ConvParams,
                    x: &[f32],
                    xs: [usize; 4],
                    w: &[f32],
                    b: Option<&[f32]>,
                    y: &mut [f32],
                    ys: [usize; 4],
                ) {
                    // SAFETY: as `f32_conv`.
                    unsafe { f32_conv_packed_tf(p, x, xs, w, b, y, ys) }
                }

                $(#[$tf])?
                #[allow(clippy::too_many_arguments)]
                unsafe fn i8_conv_packed_tf(
                    p: &QConvParams,
                    x: &[i8],
                    xs: [usize; 4],
                    w: &[i8],
                    b: &[i32],
                    rq: &[i32],
                    y: &mut [i8],
                    ys: [usize; 4],
                ) {
                    // SAFETY: the table's ISA is enabled on this function
                    // (`$tf`, or the build target's baseline).
                    unsafe {
                        $crate::kernels::i8_conv::simd_packed::<$q, $qn>(
                            $packing, p, x, xs, w, b, rq, y, ys,
                        )
                    }
                }
                #[allow(clippy::too_many_arguments, dead_code)]
                pub(super) fn i8_conv_packed(
                    p: &QConvParams,
                    x: &[i8],
                    xs: [usize; 4],
                    w: &[i8],
                    b: &[i32],
                    rq: &[i32],
                    y: &mut [i8],
                    ys: [usize; 4],
                ) {
                    // SAFETY: as `f32_conv`.
                    unsafe { i8_conv_packed_tf(p, x, xs, w, b, rq, y, ys) }
                }

                $(#[$tf])?
                #[allow(clippy::too_many_arguments)]
                unsafe fn f32_gemm_tf(
                    m: usize,
                    k: usize,
                    n: usize,
                    a: &[f32],
                    b: &[f32],
                    bias: Option<&[f32]>,
                    act: Act,
                    c: &mut [f32],
                ) {
                    // SAFETY: the table's ISA is enabled on this function
                    // (`$tf`, or the build target's baseline).
                    unsafe {
                        $crate::kernels::f32_gemm::simd::<$v, $mr, $nv, $mr1>(
                            m, k, n, a, b, bias, act, c,
                        )
                    }
                }
                #[allow(clippy::too_many_arguments)]
                pub(super) fn f32_gemm(
                    m: usize,
                    k: usize,
                    n: usize,
                    a: &[f32],
                    b: &[f32],
                    bias: Option<&[f32]>,
                    act: Act,
                    c: &mut [f32],
                ) {
                    // SAFETY: as `f32_conv`.
                    unsafe { f32_gemm_tf(m, k, n, a, b, bias, act, c) }
                }

                $(#[$tf])?
                #[allow(clippy::too_many_arguments)]
                unsafe fn i8_gemm_tf(
                    m: usize,
                    k: usize,
                    n: usize,
                    a: &[i8],
                    b: &[i8],
                    bias: Option<&[i32]>,
                    rq: &[i32],
                    p: &QGemmParams,
                    c: &mut [i8],
                ) {
                    // SAFETY: the table's ISA is enabled on this function
                    // (`$tf`, or the build target's baseline).
                    unsafe {
                        $crate::kernels::i8_gemm::simd::<$q, $qn>(m, k, n, a, b, bias, rq, p, c)
                    }
                }
                #[allow(clippy::too_many_arguments)]
                pub(super) fn i8_gemm(
                    m: usize,
                    k: usize,
                    n: usize,
                    a: &[i8],
                    b: &[i8],
                    bias: Option<&[i32]>,
                    rq: &[i32],
                    p: &QGemmParams,
                    c: &mut [i8],
                ) {
                    // SAFETY: as `f32_conv`.
                    unsafe { i8_gemm_tf(m, k, n, a, b, bias, rq, p, c) }
                }

                $(#[$tf])?
                #[allow(clippy::too_many_arguments)]
                unsafe fn i8_gemm_packed_tf(
                    m: usize,
                    k: usize,
                    n: usize,
                    a: &[i8],
                    b: &[i8],
                    bias: Option<&[i32]>,
                    rq: &[i32],
                    p: &QGemmParams,
                    c: &mut [i8],
                ) {
                    // SAFETY: the table's ISA is enabled on this function
                    // (`$tf`, or the build target's baseline).
                    unsafe {
                        $crate::kernels::i8_gemm::simd_packed::<$q, $qn>(
                            $packing, m, k, n, a, b, bias, rq, p, c,
                        )
                    }
                }
                #[allow(clippy::too_many_arguments, dead_code)]
                pub(super) fn i8_gemm_packed(
                    m: usize,
                    k: usize,
                    n: usize,
                    a: &[i8],
                    b: &[i8],
                    bias: Option<&[i32]>,
                    rq: &[i32],
                    p: &QGemmParams,
                    c: &mut [i8],
                ) {
                    // SAFETY: as `f32_conv`.
                    unsafe { i8_gemm_packed_tf(m, k, n, a, b, bias, rq, p, c) }
                }

                $(#[$tf])?
                #[allow(clippy::too_many_arguments)]
                unsafe fn f32_gemm_packed_tf(
                    m: usize,
                    k: usize,
                    n: usize,
                    a: &[f32],
                    b: &[f32],
                    bias: Option<&[f32]>,
                    act: Act,
                    c: &mut [f32],
                ) {
                    // SAFETY: the table's ISA is enabled on this function
                    // (`$tf`, or the build target's baseline).
                    unsafe {
                        $crate::kernels::f32_gemm::simd_packed::<$v, $mr, $nv, $mr1>(
                            $packing, m, k, n, a, b, bias, act, c,
                        )
                    }
                }
                #[allow(clippy::too_many_arguments, dead_code)]
                pub(super) fn f32_gemm_packed(
                    m: usize,
                    k: usize,
                    n: usize,
                    a: &[f32],
                    b: &[f32],
                    bias: Option<&[f32]>,
                    act: Act,
                    c: &mut [f32],
                ) {
                    // SAFETY: as `f32_conv`.
                    unsafe { f32_gemm_packed_tf(m, k, n, a, b, bias, act, c) }
                }
                $(#[$tf])?
                unsafe fn i8_binary_tf(
                    op: &QBinary,
                    a: Operand<'_>,
                    b: Operand<'_>,
                    out: &mut [i8],
                    shape: [usize; MAX_RANK],
                ) {
                    // As many lanes as a depthwise block.
                    // SAFETY: the table's ISA is enabled on this function
                    // (`$tf`, or the build target's baseline), and `$qv`
                    // is its vector type.
                    unsafe {
                        $crate::kernels::i8_elementwise::binary_blocked::<
                            $qv,
                            { $qdw * <$qv as $crate::kernels::simd::I32Simd>::LANES },
                        >(op, a, b, out, shape)
                    }
                }
                pub(super) fn i8_binary(
                    op: &QBinary,
                    a: Operand<'_>,
                    b: Operand<'_>,
                    out: &mut [i8],
                    shape: [usize; MAX_RANK],
                ) {
                    // SAFETY: as `f32_conv`.
                    unsafe { i8_binary_tf(op, a, b, out, shape) }
                }
                $(#[$tf])?
                unsafe fn f32_conv_transpose_tf(
                    p: &ConvParams,
                    x: &[f32],
                    xs: [usize; 4],
                    w: &[f32],
                    b: Option<&[f32]>,
                    y: &mut [f32],
                    ys: [usize; 4],
                ) {
                    // SAFETY: the table's ISA is enabled on this function
                    // (`$tf`, or the build target's baseline).
                    unsafe {
                        $crate::kernels::f32_conv::simd_transpose::<$v, $mr, $nv, $mr1>(
                            p, x, xs, w, b, y, ys,
                        )
                    }
                }
                pub(super) fn f32_conv_transpose(
                    p: &ConvParams,
                    x: &[f32],
                    xs: [usize; 4],
                    w: &[f32],
                    b: Option<&[f32]>,
                    y: &mut [f32],
                    ys: [usize; 4],
                ) {
                    // SAFETY: as `f32_conv`.
                    unsafe { f32_conv_transpose_tf(p, x, xs, w, b, y, ys) }
                }
                $(#[$tf])?
                unsafe fn f32_softmax_tf(
                    x: &[f32],
                    outer: usize,
                    axis: usize,
                    inner: usize,
                    log: bool,
                    y: &mut [f32],
                ) {
                    $crate::kernels::softmax::reference(x, outer, axis, inner, log, y)
                }
                pub(super) fn f32_softmax(
                    x: &[f32],
                    outer: usize,
                    axis: usize,
                    inner: usize,
                    log: bool,
                    y: &mut [f32],
                ) {
                    // SAFETY: as `f32_conv`.
                    unsafe { f32_softmax_tf(x, outer, axis, inner, log, y) }
                }
                $(#[$tf])?
                unsafe fn quantize_tf(x: &[f32], scale: f32, zp: i32, y: &mut [i8]) {
                    $crate::kernels::i8_elementwise::quantize(x, scale, zp, y)
                }
                pub(super) fn quantize(x: &[f32], scale: f32, zp: i32, y: &mut [i8]) {
                    // SAFETY: as `f32_conv`.
                    unsafe { quantize_tf(x, scale, zp, y) }
                }
                $(#[$tf])?
                unsafe fn f32_unary_tf(
                    kind: $crate::kernels::elementwise::UnaryKind,
                    x: Option<&[f32]>,
                    y: &mut [f32],
                ) {
                    $crate::kernels::elementwise::unary_table_kinds(kind, x, y)
                }
                pub(super) fn f32_unary(
                    kind: $crate::kernels::elementwise::UnaryKind,
                    x: Option<&[f32]>,
                    y: &mut [f32],
                ) {
                    if $crate::kernels::elementwise::unary_in_table(kind) {
                        // SAFETY: as `f32_conv`.
                        unsafe { f32_unary_tf(kind, x, y) }
                    } else {
                        $crate::kernels::elementwise::unary_any(kind, x, y)
                    }
                }
                // 256-bit vectors on x86-64, whatever the table: these loops
                // are memory-bound, and 512-bit accesses to tensors on
                // 16-byte arena boundaries split cache lines three times in
                // four (det's `Add`s and `Mul`s ran 3-5% slower with them).
                // Every x86-64 table (`avx2`, `avx512`, `avx512vnni`) is
                // handed out only where AVX2 and FMA are.
                #[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2,fma"))]
                unsafe fn f32_binary_tf(
                    kind: $crate::kernels::elementwise::BinaryKind,
                    a: Operand<'_, f32>,
                    b: Operand<'_, f32>,
                    y: &mut [f32],
                    ys: [usize; MAX_RANK],
                    act: Act,
                ) {
                    $crate::kernels::elementwise::binary_any(kind, a, b, y, ys, act)
                }
                pub(super) fn f32_binary(
                    kind: $crate::kernels::elementwise::BinaryKind,
                    a: Operand<'_, f32>,
                    b: Operand<'_, f32>,
                    y: &mut [f32],
                    ys: [usize; MAX_RANK],
                    act: Act,
                ) {
                    // SAFETY: as `f32_conv` (on x86-64: AVX2 and FMA, which
                    // every x86-64 table's detection implies).
                    unsafe { f32_binary_tf(kind, a, b, y, ys, act) }
                }
                // As `f32_binary_tf`.
                #[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2,fma"))]
                unsafe fn f32_pool_tf(
                    p: &$crate::kernels::pool::PoolParams,
                    avg: Option<bool>,
                    x: &[f32],
                    xs: [usize; 4],
                    y: &mut [f32],
                    ys: [usize; 4],
                ) {
                    $crate::kernels::pool::pool_any(p, avg, x, xs, y, ys)
                }
                pub(super) fn f32_pool(
                    p: &$crate::kernels::pool::PoolParams,
                    avg: Option<bool>,
                    x: &[f32],
                    xs: [usize; 4],
                    y: &mut [f32],
                    ys: [usize; 4],
                ) {
                    // SAFETY: as `f32_binary`.
                    unsafe { f32_pool_tf(p, avg, x, xs, y, ys) }
                }
            }
            static TABLE: Kernels = $crate::kernels::select::table(
                $name,
                $packing,
                entry::f32_conv,
                entry::f32_conv_transpose,
                entry::i8_conv,
                if $packing == $crate::format::ISA_REFERENCE {
                    $crate::kernels::select::NO_PACKED
                } else {
                    (
                        entry::i8_conv_packed,
                        entry::f32_conv_packed,
                        entry::i8_gemm_packed,
                        entry::f32_gemm_packed,
                    )
                },
                entry::f32_gemm,
                entry::i8_gemm,
                entry::i8_binary,
                (
                    entry::f32_softmax,
                    entry::quantize,
                    $crate::kernels::i8_elementwise::lut_any,
                    entry::f32_unary,
                ),
                (entry::f32_binary, entry::f32_pool),
            );
            $detect.then_some(&TABLE)
        }
    };
}
