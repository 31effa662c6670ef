//! Runs the ONNX backend node tests through Ferrite and prints the per-op
//! table and the pass rates (`ferrite_suite::conformance`).
//!
//!     cargo run --release --example onnx_conformance [-- --failures]

use ferrite_suite::conformance::{run_all, summarize, Outcome, EDGE_OPS};

fn main() -> anyhow::Result<()> {
    let show_failures = std::env::args().any(|a| a == "--failures");
    let dir = ferrite_suite::cache_dir().join("onnx-test-data/node");
    let cases = run_all(&dir)?;
    let (table, claimed, all, edge) = summarize(&cases);
    println!("| op | cases | compile | pass | edge subset |");
    println!("|---|---|---|---|---|");
    for (op, (n, c, p)) in &table {
        let e = if EDGE_OPS.contains(&op.as_str()) {
            "yes"
        } else {
            ""
        };
        println!("| {op} | {n} | {c} | {p} | {e} |");
    }
    let skipped: Vec<_> = cases
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Skipped(why) => Some((c.name.as_str(), why.as_str())),
            _ => None,
        })
        .collect();
    println!(
        "\n{} cases: {} skipped (non-f32 tensors or other op domains), {} claimed ops",
        cases.len(),
        skipped.len(),
        claimed.len()
    );
    println!(
        "pass rate over the cases made only of claimed ops: {}/{} = {:.1}%",
        all.0,
        all.1,
        100.0 * all.0 as f64 / all.1.max(1) as f64
    );
    println!(
        "edge subset: {}/{} = {:.1}%",
        edge.0,
        edge.1,
        100.0 * edge.0 as f64 / edge.1.max(1) as f64
    );
    let mut reasons = std::collections::BTreeMap::new();
    for (_, why) in &skipped {
        let key: String = why
            .split('\'')
            .enumerate()
            .map(|(i, p)| if i % 2 == 1 { "_" } else { p })
            .collect();
        *reasons.entry(key).or_insert(0) += 1;
    }
    for (why, n) in &reasons {
        println!("skipped {n:4}: {why}");
    }
    if show_failures {
        for c in &cases {
            match &c.outcome {
                Outcome::Mismatch(why) | Outcome::Unsupported(why)
                    if c.ops.iter().all(|o| claimed.contains(o)) =>
                {
                    let why: Vec<&str> = why.lines().map(str::trim).collect();
                    println!("FAIL {} ({}): {}", c.name, c.ops.join(","), why.join(" "));
                }
                _ => {}
            }
        }
    }
    Ok(())
}
