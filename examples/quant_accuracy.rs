//! Prints the int8 accuracy table of `doc/quantization.md`: every real
//! model (after `scripts/fetch-models`) quantized with every calibration
//! method, evaluated against its `f32` original on the evaluation sets.
//!
//!     cargo run --release --example quant_accuracy [-- MODEL...] [--limit N]
//!         [--methods minmax,mse] [--keep-float NODE,...] [--max-layer-drop DB] [--equalize]
//!         [--bias-correct]

use ferrite_compiler::quant::{Method, QuantOptions};
use ferrite_suite::quant_eval::{self, CASES};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let limit = args
        .iter()
        .position(|a| a == "--limit")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse::<usize>())
        .transpose()?;
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let wanted: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || !args[i - 1].starts_with("--")))
        .map(|(_, a)| a)
        .collect();
    let methods: Vec<Method> = match flag("--methods") {
        Some(m) => m
            .split(',')
            .map(|s| s.parse().map_err(|e: String| anyhow::anyhow!(e)))
            .collect::<anyhow::Result<_>>()?,
        None => vec![
            Method::MinMax,
            Method::Percentile(99.99),
            Method::Entropy,
            Method::Mse,
        ],
    };
    let keep_float: Vec<String> = flag("--keep-float")
        .map(|k| k.split(',').map(String::from).collect())
        .unwrap_or_default();
    let max_layer_drop = flag("--max-layer-drop")
        .map(|v| v.parse::<f64>())
        .transpose()?;
    println!("| model | method | metric | int8 nodes / f32 nodes | .fer bytes (f32 ONNX bytes) | quantize s |");
    println!("|---|---|---|---|---|---|");
    for c in CASES {
        if !wanted.is_empty() && !wanted.iter().any(|w| *w == c.name) {
            continue;
        }
        let onnx = std::fs::metadata(ferrite_suite::fetched(c.model))?.len();
        for &m in &methods {
            let opts = QuantOptions {
                method: m,
                keep_float: keep_float.clone(),
                max_layer_drop,
                equalize: args.iter().any(|a| a == "--equalize"),
                bias_correct: args
                    .iter()
                    .any(|a| a == "--equalize" || a == "--bias-correct"),
                ..QuantOptions::default()
            };
            let pair = quant_eval::quantize(c, &opts, limit)?;
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
