//! The ONNX backend node tests through `compile` and the runtime
//! (`ferrite_suite::conformance`; the table: `cargo run --release --example
//! onnx_conformance`). Every case that compiles must give ONNX's expected
//! outputs (rtol 1e-3, atol 1e-5), and the pass rate over the cases made
//! only of claimed ops must not fall below what it is.

use ferrite_suite::conformance::{run_all, summarize, Outcome};

#[test]
fn onnx_node_tests() {
    let dir = ferrite_suite::cache_dir().join("onnx-test-data/node");
    let cases = run_all(&dir).unwrap();
    assert!(cases.len() >= 1700, "{} cases", cases.len());
    let wrong: Vec<_> = cases
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Mismatch(why) => Some(format!("{}: {why}", c.name)),
            _ => None,
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "compiled but wrong:\n{}",
        wrong.join("\n")
    );
    let (_, claimed, all, edge) = summarize(&cases);
    println!(
        "{} claimed ops; pass {}/{} of their cases, edge subset {}/{}",
        claimed.len(),
        all.0,
        all.1,
        edge.0,
        edge.1
    );
    // Measured 2026-12: 707/720 and 400/410 (the rest do not compile yet:
    // 1-D/3-D and SAME-padded transposed convolutions, Pow with an integer
    // exponent, BatchNormalization in training mode, ...). The edge subset's
    // acceptance is 97%.
    assert!(all.0 * 1000 >= all.1 * 980, "{all:?}");
    assert!(edge.0 * 1000 >= edge.1 * 970, "{edge:?}");
}
