//! What the firmware and its on-target tests share: the generated model
//! (`model/`, written by `scripts/board-test` with `ferrite compile --board
//! mps2-an386 --emit-rust`), the static arena, the output digest and exits.

use cortex_m_semihosting::debug;

/// `model/model.rs` (from `ferrite compile --emit-rust`: `MODEL`,
/// `MODEL_LEN`, `ARENA_SIZE`, `OPS`, `FEATURES`, `BOARD`) and `model/run.rs`
/// (from `scripts/board-test`: the `INPUT` bytes and the host's
/// `EXPECTED_DIGEST` of the outputs for it).
#[allow(dead_code)]
pub mod model {
    include!("../model/model.rs");
    include!("../model/run.rs");
}

/// The arena, of exactly the size the compiler reported, in `.bss`.
pub static mut ARENA: ferrite::Aligned<[u8; model::ARENA_SIZE]> =
    ferrite::Aligned([0; model::ARENA_SIZE]);

/// The arena as a slice.
///
/// # Safety
/// Call once, from the single thread of execution (no interrupt handler
/// touches the arena).
pub unsafe fn arena() -> &'static mut [u8] {
    // SAFETY: the caller guarantees this is the only reference ever made.
    unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 }
}

/// FNV-1a (64 bit) over every output's bytes, in output order: the same
/// digest `ferrite-pi-run` prints on a host.
pub fn digest(interp: &ferrite::Interpreter<'_, '_>) -> u64 {
    let mut h = FNV_OFFSET;
    for i in 0..interp.model().num_outputs() {
        if let Ok(t) = interp.output(i) {
            h = fnv1a(h, t.bytes());
        }
    }
    h
}

/// FNV-1a's initial state.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a (64 bit) state `h` after `bytes`.
pub fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Ends the QEMU run with success or failure.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}

#[cortex_m_rt::exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    cortex_m_semihosting::hprintln!("hard fault");
    exit(false)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    cortex_m_semihosting::hprintln!("panic");
    exit(false)
}
