//! The `load_invoke` fuzz target's body, shared with the regression test
//! that replays its findings: `Model::load` with the CRC check off,
//! `Interpreter::new`, inputs filled from the image's bytes, `invoke()`,
//! outputs read.

use ferrite::{Interpreter, LoadOptions, Model};

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

/// Runs `data` as a model; returns whether it loaded and was invoked.
pub fn replay(data: &[u8]) -> bool {
    let mut img = aligned(data.len());
    let img = &mut bytes(&mut img)[..data.len()];
    img.copy_from_slice(data);
    let img: &[u8] = img;
    let Ok(model) = Model::load_with(img, LoadOptions { verify_crc: false }) else {
        return false;
    };
    if model.arena_size() > MAX_ARENA {
        return false;
    }
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
    for i in 0..model.num_outputs() {
        let _ = interp.output(i).map(|t| t.bytes().len());
    }
    true
}
