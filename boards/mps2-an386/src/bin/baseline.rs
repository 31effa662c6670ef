//! The firmware without the runtime: the same start-up, input copy into
//! the arena, digest, semihosting prints and exits as `ferrite-mps2-an386`,
//! no model. `scripts/board-test` subtracts its flash from the firmware's
//! to measure what the runtime and its kernels take.
#![no_std]
#![no_main]

use cortex_m as _;
use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;

#[path = "../common.rs"]
#[allow(dead_code)] // the model half is unused here
mod common;

#[entry]
fn main() -> ! {
    // Values the optimizer cannot fold, printed as the firmware prints:
    // the board name is the same `const` string (a literal argument would
    // be folded into the format string, leaving `Formatter::pad` out).
    let t = cortex_m::peripheral::SYST::get_current();
    // The firmware copies the embedded input into the arena and hashes the
    // outputs' bytes: the same copy (`memcpy`) and hash, without the model.
    // SAFETY: the only call, from the single thread of execution.
    let arena = unsafe { common::arena() };
    let n = (t as usize).min(common::model::INPUT.0.len());
    arena[..n].copy_from_slice(&common::model::INPUT.0[..n]);
    let d = common::fnv1a(common::FNV_OFFSET, &arena[..t as usize]);
    hprintln!(
        "ferrite: model compiled for {}: {} ops, {} bytes in flash, arena {} bytes",
        common::model::BOARD,
        t,
        t as usize,
        t as usize + 1
    );
    hprintln!("digest {:016x}", d);
    hprintln!("expected {:016x}", t as u64 + 1);
    hprintln!("model does not load: {:?}", ferrite::ErrorKind::Usage);
    common::exit(t == 0)
}
