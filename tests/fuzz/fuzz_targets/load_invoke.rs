//! Arbitrary bytes through `Model::load` (CRC check off, so the structural
//! validation is what is exercised), `Interpreter::new` and `invoke()`:
//! nothing may panic or touch memory out of bounds. The body is shared with
//! `runtime/tests/fuzz_regressions.rs`, which replays the findings.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../../runtime/tests/support/replay.rs"]
mod replay;

fuzz_target!(|data: &[u8]| {
    replay::replay(data);
});
