//! Inputs the `load_invoke` fuzz target once crashed on (`tests/data/fuzz/
//! load_invoke/`), replayed the way the target runs them: `Model::load`
//! with the CRC check off, `Interpreter::new`, inputs filled from the image's
//! bytes, `invoke()`. Test builds keep overflow checks, so an arithmetic
//! overflow panics here as it did under the fuzzer.

use std::path::Path;

mod support {
    pub mod replay;
}
use support::replay::replay;

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
