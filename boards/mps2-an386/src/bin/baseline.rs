//! The firmware without the runtime: the same start-up, semihosting prints
//! and exits as `ferrite-mps2-an386`, no model. `scripts/board-test`
//! subtracts its flash from the firmware's to measure what the runtime and
//! its kernels take.
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
    // Values the optimizer cannot fold, printed as the firmware prints.
    let t = cortex_m::peripheral::SYST::get_current();
    hprintln!(
        "ferrite: model compiled for {}: {} ops, {} bytes in flash, arena {} bytes",
        "baseline",
        t,
        t as usize,
        t as usize + 1
    );
    hprintln!("digest {:016x}", t as u64);
    hprintln!("expected {:016x}", t as u64 + 1);
    hprintln!("model does not load: {:?}", ferrite::ErrorKind::Usage);
    common::exit(t == 0)
}
