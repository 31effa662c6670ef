//! The committed sample `.fer` (format version 1, compiled from
//! `tests/data/ops/mini_resnet.onnx`; and `sample_v1_inplace.fer`, compiled
//! from `pow_half.onnx` with in-place ops) keeps loading and running, and every
//! corruption of it is caught by `Model::load`'s validation.

use ferrite::{Error, Interpreter, LoadOptions, Model};
use ferrite_compiler::compile::AlignedBytes;
use ferrite_suite::{compile, random, repo_root, run_fer};

fn sample() -> Vec<u8> {
    std::fs::read(repo_root().join("tests/data/sample_v1.fer")).expect("committed sample")
}

/// Loads and (when valid) invokes; `Err` is fine, a panic is the failure.
fn load_and_invoke(image: &[u8], opts: LoadOptions) -> Result<(), Error> {
    let aligned = AlignedBytes::from_slice(image).unwrap();
    let model = Model::load_with(aligned.as_slice(), opts)?;
    let mut arena = AlignedBytes::zeroed(model.arena_size()).unwrap();
    let mut interp = Interpreter::new(&model, arena.as_mut_slice())?;
    for i in 0..model.num_inputs() {
        let mut t = interp.input_mut(i)?;
        t.bytes_mut().fill(0x3c);
    }
    interp.invoke();
    for i in 0..model.num_outputs() {
        let _ = interp
            .output(i)?
            .bytes()
            .iter()
            .map(|&b| b as u32)
            .sum::<u32>();
    }
    Ok(())
}

#[test]
fn sample_v1_loads_and_matches_a_fresh_compile() {
    let onnx = repo_root().join("tests/data/ops/mini_resnet.onnx");
    let fresh = compile(&onnx, &[]).unwrap();
    let x = random(&[1, 3, 16, 16], 3, -1.0, 1.0);
    let a = run_fer(&sample(), &[("x", &x)]).unwrap();
    let b = run_fer(&fresh, &[("x", &x)]).unwrap();
    assert_eq!(a, b, "the v1 sample and a fresh compile disagree");
}

#[test]
fn every_truncation_is_rejected() {
    let img = sample();
    for len in 0..img.len() {
        let aligned = AlignedBytes::from_slice(&img[..len]).unwrap();
        assert!(
            Model::load(aligned.as_slice()).is_err(),
            "truncation to {len} bytes loaded"
        );
    }
}

#[test]
fn seeded_bit_flips_are_rejected_by_the_crc() {
    let img = sample();
    let mut s: u64 = 0x5EED;
    for _ in 0..10_000 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let mut bad = img.clone();
        let bit = (s as usize) % (img.len() * 8);
        bad[bit / 8] ^= 1 << (bit % 8);
        let aligned = AlignedBytes::from_slice(&bad).unwrap();
        assert!(
            Model::load(aligned.as_slice()).is_err(),
            "flip of bit {bit} loaded"
        );
    }
}

/// With the CRC check off, every single-bit flip anywhere in the image is
/// either rejected by the structural validation or runs without panicking
/// (kernels index with bounds checks, so an out-of-bounds access would panic).
#[test]
fn structural_validation_alone_keeps_invoke_in_bounds() {
    flip_every_bit(&sample());
}

/// The same on a sample whose ops run in place (input and output share bytes).
#[test]
fn structural_validation_covers_in_place_ops() {
    let img = std::fs::read(repo_root().join("tests/data/sample_v1_inplace.fer"))
        .expect("committed sample");
    flip_every_bit(&img);
}

fn flip_every_bit(img: &[u8]) {
    let img = img.to_vec();
    let opts = LoadOptions { verify_crc: false };
    let (mut rejected, mut ran) = (0, 0);
    for bit in 0..img.len() * 8 {
        let mut bad = img.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let res = std::panic::catch_unwind(|| load_and_invoke(&bad, opts));
        match res {
            Ok(Ok(())) => ran += 1,
            Ok(Err(_)) => rejected += 1,
            Err(_) => panic!(
                "flip of bit {bit} (byte {}) panicked during load or invoke",
                bit / 8
            ),
        }
    }
    println!("{rejected} flips rejected, {ran} ran");
    assert!(rejected > 0 && ran > 0);
}

#[test]
fn arena_and_alignment_errors() {
    let img = sample();
    let aligned = AlignedBytes::from_slice(&img).unwrap();
    let model = Model::load(aligned.as_slice()).unwrap();
    let mut arena = AlignedBytes::zeroed(model.arena_size()).unwrap();
    let short = model.arena_size() - 1;
    assert!(matches!(
        Interpreter::new(&model, &mut arena.as_mut_slice()[..short]),
        Err(Error::ArenaTooSmall { .. })
    ));
    assert!(Interpreter::new(&model, arena.as_mut_slice()).is_ok());
    // A misaligned image is refused, not read through unaligned pointers.
    let mut shifted = AlignedBytes::zeroed(img.len() + 1).unwrap();
    shifted.as_mut_slice()[1..].copy_from_slice(&img);
    assert_eq!(
        Model::load(&shifted.as_slice()[1..]).unwrap_err(),
        Error::Misaligned
    );
    // Weights packed for another ISA are refused as such.
    let mut other = img.clone();
    other[8] = 7;
    let crc = ferrite::format::image_crc(&other);
    other[20..24].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        Model::load(AlignedBytes::from_slice(&other).unwrap().as_slice()).unwrap_err(),
        Error::IsaMismatch { found: 7 }
    );
    // Wrong magic and version.
    let mut bad = img.clone();
    bad[0] = b'X';
    assert_eq!(
        Model::load(AlignedBytes::from_slice(&bad).unwrap().as_slice()).unwrap_err(),
        Error::BadMagic
    );
}
