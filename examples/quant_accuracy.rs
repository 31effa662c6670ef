//! Prints the int8 accuracy table of `doc/quantization.md`: every real
//! model (after `scripts/fetch-models`) quantized with every calibration
//! method, evaluated against its `f32` original on the evaluation sets.
//!
//!     cargo run --release --example quant_accuracy [-- MODEL...] [--limit N]

use ferrite_compiler::quant::Method;
use ferrite_suite::quant_eval::{self, CASES};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let limit = args
        .iter()
        .position(|a| a == "--limit")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse::<usize>())
        .transpose()?;
    let wanted: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--limit"))
        .map(|(_, a)| a)
        .collect();
    let methods = [
        Method::MinMax,
        Method::Percentile(99.99),
        Method::Entropy,
        Method::Mse,
    ];
    println!("| model | method | metric | int8 nodes / f32 nodes | .fer bytes (f32 ONNX bytes) | quantize s |");
    println!("|---|---|---|---|---|---|");
    for c in CASES {
        if !wanted.is_empty() && !wanted.iter().any(|w| *w == c.name) {
            continue;
        }
        let onnx = std::fs::metadata(ferrite_suite::fetched(c.model))?.len();
        for m in methods {
            let pair = quant_eval::quantize_with(c, m, limit)?;
            let acc = quant_eval::evaluate(c, &pair)?;
            let sq: Vec<String> = acc.sqnr_db.iter().map(|d| format!("{d:.1} dB")).collect();
            let metric = match c.name {
                "cls" => format!(
                    "{}/{} same decision; SQNR {}",
                    acc.agree,
                    acc.rows,
                    sq.join(", ")
                ),
                "rec" => format!(
                    "{}/{} same string; SQNR {}",
                    acc.agree,
                    acc.rows,
                    sq.join(", ")
                ),
                _ => format!("SQNR {} ({} rows)", sq.join(", "), acc.rows),
            };
            println!(
                "| {} | {} | {} | {} / {} | {} ({}, {:.2}x) | {:.1} |",
                c.name,
                m,
                metric,
                pair.quantized_nodes.0,
                pair.quantized_nodes.1,
                pair.int8_image.len(),
                onnx,
                pair.int8_image.len() as f64 / onnx as f64,
                pair.seconds
            );
        }
    }
    Ok(())
}
