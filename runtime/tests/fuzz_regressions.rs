//! Inputs the `load_invoke` fuzz target once crashed on (`tests/data/fuzz/
//! load_invoke/`), replayed the way the target runs them: `Model::load`
//! with the CRC check off, `Interpreter::new`, inputs filled from the image's
//! bytes, `invoke()`. Test builds keep overflow checks, so an arithmetic
//! overflow panics here as it did under the fuzzer.

use std::path::Path;

use ferrite::{Interpreter, LoadOptions, Model};

#[repr(C, align(16))]
#[derive(Clone, Copy)]
struct Block([u8; 16]);

fn aligned(len: usize) -> Vec<Block> {
    vec![Block([0; 16]); len.div_ceil(16)]
}

fn bytes(v: &mut [Block]) -> &mut [u8] {
    // SAFETY: Block is 16 plain bytes with no padding; the slice covers exactly the vector.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), v.len() * 16) }
}

/// The fuzz target's body; returns whether the model loaded and ran.
fn replay(data: &[u8]) -> bool {
    let mut img = aligned(data.len());
    let img = &mut bytes(&mut img)[..data.len()];
    img.copy_from_slice(data);
    let img: &[u8] = img;
    let Ok(model) = Model::load_with(img, LoadOptions { verify_crc: false }) else {
        return false;
    };
    let mut arena = aligned(model.arena_size());
    let Ok(mut interp) = Interpreter::new(&model, bytes(&mut arena)) else {
        return false;
    };
    for i in 0..model.num_inputs() {
        if let Ok(mut t) = interp.input_mut(i) {
            for (k, b) in t.bytes_mut().iter_mut().enumerate() {
                *b = data.get(k % data.len().max(1)).copied().unwrap_or(0);
            }
        }
    }
    interp.invoke();
    true
}

#[test]
fn fuzz_reproducers_run_without_panicking() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/fuzz/load_invoke");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no reproducers in {}", dir.display());
    for f in &files {
        let data = std::fs::read(f).unwrap();
        // A Resize with a coordinate far outside its axis: it loads, and its
        // taps clamp into the input instead of overflowing.
        if f.ends_with("resize_tap_overflow.fer") {
            assert!(replay(&data), "{} no longer loads and runs", f.display());
        } else {
            replay(&data);
        }
    }
}
