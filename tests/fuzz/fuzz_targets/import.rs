//! Arbitrary bytes as an ONNX model through the whole compiler (structural
//! checks, tract import, lowering, passes, planner, writer, validation): it
//! must return `Ok` or a clean `Err`. A panic inside tract is turned into an
//! error by the compiler's importer guard; any other panic aborts (a finding).
#![no_main]

use ferrite_compiler::compile::compile_bytes;
use ferrite_compiler::import::ImportOptions;
use ferrite_compiler::onnx_check::panic_is_in_importer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        std::panic::set_hook(Box::new(|info| {
            if !panic_is_in_importer(info) {
                eprintln!("{info}");
                std::process::abort();
            }
        }));
    },
    |data: &[u8]| {
        let _ = compile_bytes(data, "fuzz input", &ImportOptions::default());
    }
);
