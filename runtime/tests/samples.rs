//! Loads the committed sample models and runs them through the public API.
//! No dependency beyond the runtime itself, so this also runs under Miri
//! (`cargo +nightly miri test -p ferrite-runtime --test samples`), which checks
//! the loader's and interpreter's `unsafe` byte views and every kernel's
//! indexing on real op sequences.

use ferrite::{Aligned, Error, Interpreter, Model};

static SAMPLE: &Aligned<[u8]> = &Aligned(*include_bytes!("../../tests/data/sample_v1.fer"));
static IN_PLACE: &Aligned<[u8]> =
    &Aligned(*include_bytes!("../../tests/data/sample_v1_inplace.fer"));
/// int8 (with f32 input and output): conv, depthwise, add, mul, lookup
/// tables, max/avg pool, concat with requantization, resize, pad, slice,
/// mean, matmul, softmax; written by the compiler (`tests/quant.rs`).
static INT8: &Aligned<[u8]> = &Aligned(*include_bytes!("../../tests/data/sample_int8.fer"));

fn run(image: &[u8], input: f32) -> Vec<f32> {
    let model = Model::load(image).unwrap();
    let mut arena = vec![Aligned([0u8; 16]); model.arena_size().div_ceil(16)];
    let bytes: &mut [u8] = arena.as_mut_slice().as_flattened_mut_bytes();
    let mut interp = Interpreter::new(&model, &mut bytes[..model.arena_size()]).unwrap();
    interp
        .input_mut(0)
        .unwrap()
        .as_f32_mut()
        .unwrap()
        .fill(input);
    interp.invoke();
    interp.output(0).unwrap().as_f32().unwrap().to_vec()
}

trait FlattenBytes {
    fn as_flattened_mut_bytes(&mut self) -> &mut [u8];
}

impl FlattenBytes for [Aligned<[u8; 16]>] {
    fn as_flattened_mut_bytes(&mut self) -> &mut [u8] {
        let n = self.len() * 16;
        // SAFETY: `Aligned<[u8; 16]>` is 16 plain bytes (repr(C), size 16), so the
        // slice is exactly `n` initialized bytes.
        unsafe { core::slice::from_raw_parts_mut(self.as_mut_ptr().cast::<u8>(), n) }
    }
}

#[test]
fn samples_run() {
    let a = run(&SAMPLE.0, 0.5);
    assert_eq!(a.len(), 5);
    let sum: f32 = a.iter().sum();
    assert!((sum - 1.0).abs() < 1e-5, "softmax output sums to {sum}");
    // relu(x) + 1, then ^0.5: x = 3 gives 2.
    let b = run(&IN_PLACE.0, 3.0);
    assert!(b.iter().all(|&v| v == 2.0), "{b:?}");
}

#[test]
fn misuse_is_an_error() {
    let model = Model::load(&SAMPLE.0).unwrap();
    let mut small = vec![0u8; 8];
    assert!(matches!(
        Interpreter::new(&model, &mut small),
        Err(Error::ArenaTooSmall { .. })
    ));
    assert_eq!(Model::load(&SAMPLE.0[..100]).unwrap_err(), Error::Truncated);
}

/// FNV-1a over the bits of every output value.
fn digest(values: &[f32]) -> u64 {
    values.iter().fold(0xcbf2_9ce4_8422_2325, |h, v| {
        (h ^ v.to_bits() as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn run_pattern(image: &[u8]) -> Vec<f32> {
    let model = Model::load(image).unwrap();
    let mut arena = vec![Aligned([0u8; 16]); model.arena_size().div_ceil(16)];
    let bytes: &mut [u8] = arena.as_mut_slice().as_flattened_mut_bytes();
    let mut interp = Interpreter::new(&model, &mut bytes[..model.arena_size()]).unwrap();
    for (i, v) in interp
        .input_mut(0)
        .unwrap()
        .as_f32_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        *v = ((i * 7919) % 255) as f32 / 255.0 - 0.5;
    }
    interp.invoke();
    interp.output(0).unwrap().as_f32().unwrap().to_vec()
}

/// The scalar reference kernels give bit-identical outputs on every ISA
/// (no FMA contraction, no platform libm): `scripts/cross-test` runs this on
/// aarch64 (Cortex-A72 and A76) and armv7 (`portable` without NEON, `neon32`
/// on `thumbv7neon`) under QEMU against the digests recorded on x86-64. Not under Miri: `samples_run` runs both models there.
#[test]
#[cfg_attr(miri, ignore)]
fn outputs_are_bit_identical_across_isas() {
    assert_eq!(
        digest(&run_pattern(&SAMPLE.0)),
        SAMPLE_DIGEST,
        "sample_v1.fer"
    );
    assert_eq!(
        digest(&run_pattern(&IN_PLACE.0)),
        IN_PLACE_DIGEST,
        "sample_v1_inplace.fer"
    );
}

/// The same for the int8 sample. Not under Miri: `int8_sample_runs`
/// already runs it there once, and a second run doubles the minutes.
#[test]
#[cfg_attr(miri, ignore)]
fn int8_outputs_are_bit_identical_across_isas() {
    assert_eq!(
        digest(&run_pattern(&INT8.0)),
        INT8_DIGEST,
        "sample_int8.fer"
    );
}

/// The int8 sample computes what it should: six f32 outputs that are
/// softmax probabilities minus 0.1, each a multiple of the int8 softmax
/// step 1/256 shifted by the requantized offset.
#[test]
fn int8_sample_runs() {
    let model = Model::load(&INT8.0).unwrap();
    assert!((0..model.num_ops()).any(|o| model.op(o).unwrap().code == ferrite::OpCode::Lut));
    let out = run_pattern(&INT8.0);
    assert_eq!(out.len(), 6);
    let sum: f32 = out.iter().sum();
    assert!((sum - (1.0 - 0.6)).abs() < 0.05, "{out:?} sums to {sum}");
}

const SAMPLE_DIGEST: u64 = 424971173519845024;
const IN_PLACE_DIGEST: u64 = 17698634498174489780;
const INT8_DIGEST: u64 = 12024412628634138488;
