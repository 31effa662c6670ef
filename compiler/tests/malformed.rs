//! The malformed-model corpus (`tests/data/malformed/`, written by
//! `scripts/gen-malformed.py`, plus fuzzer reproducers): each file gets one
//! clear error naming the problem, exit code 2, no panic and no output file.

use std::path::Path;
use std::process::Command;

const CASES: &[(&str, &str)] = &[
    ("truncated.onnx", "not a valid ONNX model"),
    ("not_onnx.onnx", "not a valid ONNX model"),
    (
        "missing_initializer.onnx",
        "node 'conv' (op Conv) reads 'w', which no node, initializer or graph input provides",
    ),
    (
        "wrong_dtype.onnx",
        "input type I32 (only f32 inputs are supported)",
    ),
    ("dynamic_dims.onnx", "input 'x' has dynamic dimensions"),
    ("unsupported_ops.onnx", "2 node(s) cannot be compiled"),
    ("cyclic.onnx", "the graph has a cycle"),
    ("huge_dims.onnx", "more than 2147483647 elements"),
    (
        "initializer_too_short.onnx",
        "initializer 'w' declares shape [4, 3, 3, 3] (108 elements) but holds 100 bytes",
    ),
    (
        "fuzz_output_not_produced.onnx",
        "graph output 'oet' is not produced by any node",
    ),
    // A Squeeze with an out-of-range axis makes tract 0.23.9 panic while typing.
    (
        "fuzz_importer_panic.onnx",
        "the ONNX importer (tract) failed on this model",
    ),
    // A Transpose whose perm repeats an axis makes tract 0.23.9 loop, allocating
    // without bound (found by the import fuzz target).
    (
        "fuzz_transpose_bad_perm.onnx",
        "node 'out' (op Transpose): attribute 'perm' [0, 2, 2, 1] is not a permutation of 0..4",
    ),
    // A Pad by 2^40 rows makes tract 0.23.9 allocate the padded tensor while
    // typing and abort (found by the import fuzz target).
    (
        "fuzz_pad_huge.onnx",
        "node 'pad_13' (op Pad): 'pads' [0, 0, 1, 1099511627776, 0, 0, 1, 1] make the output more than",
    ),
    // Constant operands that size a huge output: tract 0.23.9 allocates it
    // while typing (Expand aborts the process).
    (
        "expand_huge.onnx",
        "node 'expand' (op Expand): operand [100000, 100000, 4] makes the output more than",
    ),
    (
        "constant_of_shape_huge.onnx",
        "node 'fill' (op ConstantOfShape): operand [100000, 100000, 4] makes the output more than",
    ),
    // A negative size, which tract 0.23.9 reads as a huge one (found by the
    // import fuzz target from the case above).
    (
        "fuzz_constant_of_shape_negative.onnx",
        "node 'fill' (op ConstantOfShape): operand [-8790744310455695712, 65536, 4] has a negative size",
    ),
    (
        "range_huge.onnx",
        "node 'range' (op Range): range 0..50000000000 by 1 has more than",
    ),
    (
        "too_big_for_32bit.onnx",
        "size of 'x' (6400000000) exceeds the format's 32-bit limit",
    ),
];

#[test]
fn every_malformed_model_is_explained() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/malformed");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".onnx"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| c.0.to_string()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "every corpus file needs an expected message here"
    );
    let out_dir = std::env::temp_dir().join(format!("ferrite-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    for (file, needle) in CASES {
        let out = out_dir.join(file.replace(".onnx", ".fer"));
        let o = Command::new(env!("CARGO_BIN_EXE_ferrite"))
            .args([
                "compile",
                dir.join(file).to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{file}: {err}");
        assert!(
            err.contains(needle),
            "{file}: expected '{needle}' in: {err}"
        );
        assert!(!err.contains("panicked"), "{file}: {err}");
        assert!(err.starts_with("error: "), "{file}: {err}");
        assert!(!out.exists(), "{file}: a partial output was left");
        if *file == "unsupported_ops.onnx" {
            // Both unsupported nodes are named, with the supported one between them skipped.
            assert!(
                err.contains("node 'first_cos' (op Cos)")
                    && err.contains("node 'last_sin' (op Sin)"),
                "{err}"
            );
        }
    }
}
