//! Arbitrary bytes through `Model::load` (CRC check off, so the structural
//! validation is what is exercised), `Interpreter::new` and `invoke()`:
//! nothing may panic or touch memory out of bounds.
#![no_main]

use ferrite::{Interpreter, LoadOptions, Model};
use libfuzzer_sys::fuzz_target;

/// Largest arena tried, so that a valid but huge model does not exhaust memory.
const MAX_ARENA: usize = 8 << 20;

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

fuzz_target!(|data: &[u8]| {
    let mut img = aligned(data.len());
    let img = &mut bytes(&mut img)[..data.len()];
    img.copy_from_slice(data);
    let img: &[u8] = img;
    let Ok(model) = Model::load_with(img, LoadOptions { verify_crc: false }) else { return };
    if model.arena_size() > MAX_ARENA {
        return;
    }
    let mut arena = aligned(model.arena_size());
    let Ok(mut interp) = Interpreter::new(&model, bytes(&mut arena)) else { return };
    for i in 0..model.num_inputs() {
        if let Ok(mut t) = interp.input_mut(i) {
            for (k, b) in t.bytes_mut().iter_mut().enumerate() {
                *b = data.get(k % data.len().max(1)).copied().unwrap_or(0);
            }
        }
    }
    interp.invoke();
    for i in 0..model.num_outputs() {
        let _ = interp.output(i).map(|t| t.bytes().len());
    }
});
