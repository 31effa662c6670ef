//! On-target tests, run in QEMU by `cargo test --release` from the board
//! folder: the runtime's fixed-point primitives, the embedded model against
//! the host's digest, and the load-time errors a device can meet. Prints
//! `N passed, N failed` and exits with a failure status if any failed.
#![no_std]
#![no_main]

use cortex_m as _;
use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use ferrite::{Error, Interpreter, Model};

#[path = "../src/common.rs"]
mod common;
use common::{digest, exit, model};

/// The committed `f32` sample: MatMul, Softmax and more, none of which this
/// build's op families include.
static F32_SAMPLE: &ferrite::Aligned<[u8]> =
    &ferrite::Aligned(*include_bytes!("../../../tests/data/sample_v1.fer"));

/// A RAM copy of the model, to corrupt.
static mut COPY: ferrite::Aligned<[u8; model::MODEL_LEN]> = ferrite::Aligned([0; model::MODEL_LEN]);

fn quant_vectors() -> bool {
    use ferrite::quant::{mbqm, quantize_multiplier, rounding_divide_by_pot, srdhm};
    srdhm(i32::MIN, i32::MIN) == i32::MAX
        && srdhm(1 << 15, 1 << 15) == 1
        && srdhm(-(1 << 15), 1 << 15) == 0
        && rounding_divide_by_pot(-5, 1) == -3
        && rounding_divide_by_pot(i32::MIN, 31) == -1
        && mbqm(7, 1_610_612_736, 1) == 11
        && mbqm(-7, 1_610_612_736, 1) == -10
        && quantize_multiplier(0.5) == (1 << 30, 0)
}

fn run_model(arena: &'static mut [u8]) -> bool {
    let Ok(m) = Model::load(&model::MODEL.0) else {
        return false;
    };
    if m.arena_size() != model::ARENA_SIZE {
        return false;
    }
    // One byte short is refused; the exact size is enough.
    let n = arena.len();
    if !matches!(
        Interpreter::new(&m, &mut arena[..n - 1]),
        Err(Error::ArenaTooSmall { .. })
    ) {
        return false;
    }
    let Ok(mut interp) = Interpreter::new(&m, arena) else {
        return false;
    };
    let mut digests = [0u64; 2];
    for d in &mut digests {
        let Ok(mut t) = interp.input_mut(0) else {
            return false;
        };
        t.bytes_mut().copy_from_slice(&model::INPUT.0);
        interp.invoke();
        *d = digest(&interp);
    }
    hprintln!(
        "  digest {:016x} (host {:016x})",
        digests[0],
        model::EXPECTED_DIGEST
    );
    digests[0] == model::EXPECTED_DIGEST && digests[1] == digests[0]
}

fn corrupt_model_is_refused() -> bool {
    // SAFETY: the only reference to COPY, from the single thread.
    let copy = unsafe { &mut (*core::ptr::addr_of_mut!(COPY)).0 };
    copy.copy_from_slice(&model::MODEL.0);
    copy[model::MODEL_LEN / 2] ^= 0x40;
    matches!(Model::load(copy), Err(Error::CrcMismatch))
}

fn missing_op_family_is_refused() -> bool {
    matches!(Model::load(&F32_SAMPLE.0), Err(Error::OpNotBuilt(..)))
}

#[entry]
fn main() -> ! {
    // SAFETY: the only call, from the single thread of execution.
    let arena = unsafe { common::arena() };
    let results = [
        ("quant_vectors", quant_vectors()),
        ("model_matches_host", run_model(arena)),
        ("corrupt_model_is_refused", corrupt_model_is_refused()),
        (
            "missing_op_family_is_refused",
            missing_op_family_is_refused(),
        ),
    ];
    let mut failed = 0;
    for (name, ok) in results {
        hprintln!("test {} ... {}", name, if ok { "ok" } else { "FAILED" });
        failed += !ok as usize;
    }
    hprintln!("{} passed, {} failed", results.len() - failed, failed);
    exit(failed == 0)
}
