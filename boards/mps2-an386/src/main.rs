//! Runs the compiled model from flash with a static arena on the Cortex-M4F
//! of QEMU's mps2-an386 (the same image runs on the Cortex-M7 of
//! mps2-an500), prints the outputs' digest over semihosting and exits with
//! status 0 when it equals the host's for the same input, 1 otherwise.
#![no_std]
#![no_main]

use cortex_m as _;
use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;

mod common;
use common::{digest, exit, model};

#[entry]
fn main() -> ! {
    let m = match ferrite::Model::load(&model::MODEL.0) {
        Ok(m) => m,
        Err(e) => {
            // The kind only: formatting the full message links the
            // runtime's error texts (about 1.8 KB of flash).
            hprintln!("model does not load: {:?}", e.kind());
            exit(false)
        }
    };
    // SAFETY: the only call, from the single thread of execution.
    let arena = unsafe { common::arena() };
    let mut interp = match ferrite::Interpreter::new(&m, arena) {
        Ok(i) => i,
        Err(e) => {
            hprintln!("arena: {:?}", e.kind());
            exit(false)
        }
    };
    match interp.input_mut(0) {
        Ok(mut t) if t.info.byte_len == model::INPUT.0.len() => {
            t.bytes_mut().copy_from_slice(&model::INPUT.0)
        }
        _ => {
            hprintln!("input 0 does not match the embedded input");
            exit(false)
        }
    }
    interp.invoke();
    let d = digest(&interp);
    hprintln!(
        "ferrite: model compiled for {}: {} ops, {} bytes in flash, arena {} bytes",
        model::BOARD,
        m.num_ops(),
        model::MODEL_LEN,
        model::ARENA_SIZE
    );
    hprintln!("digest {:016x}", d);
    hprintln!("expected {:016x}", model::EXPECTED_DIGEST);
    exit(d == model::EXPECTED_DIGEST)
}
