//! Target boards (`boards/<name>/board.toml`, built into the compiler):
//! the RAM and flash budgets `ferrite compile --board` enforces, the
//! footprint `ferrite inspect --board` prints, and `--emit-rust`, the Rust
//! file firmware includes to get the model, its exact arena size and the
//! runtime features its ops need.
//!
//! Every board runs the reference weight packing today (`isa` 0 in the
//! image): the SIMD packings are what `--board` will select per board.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use crate::fsutil::write_atomic;

/// The boards of `boards/`, by name.
const BUILTIN: &[(&str, &str)] = &[
    ("rpi4", include_str!("../../boards/rpi4/board.toml")),
    ("rpi5", include_str!("../../boards/rpi5/board.toml")),
    (
        "rpi-armv7",
        include_str!("../../boards/rpi-armv7/board.toml"),
    ),
    (
        "mps2-an386",
        include_str!("../../boards/mps2-an386/board.toml"),
    ),
    (
        "mps2-an500",
        include_str!("../../boards/mps2-an500/board.toml"),
    ),
    (
        "x86_64-v3",
        include_str!("../../boards/x86_64-v3/board.toml"),
    ),
];

/// A target board.
#[derive(Clone, Debug)]
pub struct Board {
    /// Short name (`mps2-an386`).
    pub name: String,
    /// One line for people.
    pub description: String,
    /// `mcu` (bare metal: the model stays in flash) or `linux`.
    pub kind: String,
    /// Rust target triple.
    pub target: String,
    /// CPU (`-C target-cpu`).
    pub cpu: String,
    /// ISA features of the CPU.
    pub features: Vec<String>,
    /// RAM available to the application.
    pub ram_bytes: u64,
    /// Flash (MCU) or storage (Linux) available to the model.
    pub flash_bytes: u64,
    /// RAM kept for the stack.
    pub stack_bytes: u64,
    /// Flash kept for the firmware's code (MCU).
    pub code_bytes: u64,
    /// How to run a binary for it under QEMU (empty: natively).
    pub qemu: String,
    /// Start addresses of flash and RAM (MCU), for the linker script.
    pub origins: Option<(u64, u64)>,
}

/// The names of the built-in boards.
pub fn names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// A built-in board by name, or a `board.toml` by path.
pub fn find(name_or_path: &str) -> Result<Board> {
    if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
        return parse(text).with_context(|| format!("board '{name_or_path}'"));
    }
    let p = Path::new(name_or_path);
    if p.extension().is_some_and(|e| e == "toml") || p.is_file() {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        return parse(&text).with_context(|| format!("{}", p.display()));
    }
    bail!(
        "unknown board '{name_or_path}'; boards: {} (or a path to a board.toml)",
        names().join(", ")
    )
}

fn parse(text: &str) -> Result<Board> {
    let t: toml::Table = text
        .parse()
        .map_err(|e| anyhow!("invalid board.toml: {e}"))?;
    let s = |k: &str| -> Result<String> {
        t.get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("board.toml: '{k}' must be a string"))
    };
    let n = |k: &str, default: Option<u64>| -> Result<u64> {
        match t.get(k) {
            Some(v) => v
                .as_integer()
                .and_then(|i| u64::try_from(i).ok())
                .ok_or_else(|| anyhow!("board.toml: '{k}' must be a non-negative integer")),
            None => default.ok_or_else(|| anyhow!("board.toml: '{k}' is missing")),
        }
    };
    let kind = s("kind")?;
    if kind != "mcu" && kind != "linux" {
        bail!("board.toml: kind must be \"mcu\" or \"linux\", not \"{kind}\"");
    }
    Ok(Board {
        name: s("name")?,
        description: s("description")?,
        kind,
        target: s("target")?,
        cpu: s("cpu")?,
        features: t
            .get("features")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        ram_bytes: n("ram_bytes", None)?,
        flash_bytes: n("flash_bytes", None)?,
        stack_bytes: n("stack_bytes", Some(0))?,
        code_bytes: n("code_bytes", Some(0))?,
        qemu: s("qemu").unwrap_or_default(),
        origins: match (t.get("flash_origin"), t.get("ram_origin")) {
            (None, None) => None,
            _ => Some((n("flash_origin", None)?, n("ram_origin", None)?)),
        },
    })
}

/// RAM and flash a compiled model needs on a board.
#[derive(Clone, Copy, Debug)]
pub struct Footprint {
    /// The arena.
    pub arena: u64,
    /// The model image (weights and graph), in flash on an MCU.
    pub model: u64,
}

impl Board {
    /// RAM the model needs here: the arena and the stack reserve.
    pub fn ram_needed(&self, f: Footprint) -> u64 {
        f.arena + self.stack_bytes
    }

    /// Flash the model needs here: the image and the code reserve.
    pub fn flash_needed(&self, f: Footprint) -> u64 {
        f.model + self.code_bytes
    }

    /// Fails, naming every size, when the model does not fit.
    pub fn check(&self, f: Footprint) -> Result<()> {
        let mut problems = Vec::new();
        if self.ram_needed(f) > self.ram_bytes {
            problems.push(format!(
                "RAM: arena {} + stack {} = {} bytes > {} bytes",
                f.arena,
                self.stack_bytes,
                self.ram_needed(f),
                self.ram_bytes
            ));
        }
        if self.flash_needed(f) > self.flash_bytes {
            problems.push(format!(
                "flash: model {} + code {} = {} bytes > {} bytes",
                f.model,
                self.code_bytes,
                self.flash_needed(f),
                self.flash_bytes
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!(
                "the model does not fit board {}: {}",
                self.name,
                problems.join("; ")
            )
        }
    }

    /// The footprint lines of `inspect --board` and `compile --board`.
    pub fn summary(&self, f: Footprint) -> String {
        let pct = |a: u64, b: u64| 100.0 * a as f64 / b.max(1) as f64;
        format!(
            "board {} ({}): RAM {} bytes (arena {} + stack {}) = {:.1}% of {}; flash {} bytes \
             (model {} + code {}) = {:.1}% of {}",
            self.name,
            self.description,
            self.ram_needed(f),
            f.arena,
            self.stack_bytes,
            pct(self.ram_needed(f), self.ram_bytes),
            self.ram_bytes,
            self.flash_needed(f),
            f.model,
            self.code_bytes,
            pct(self.flash_needed(f), self.flash_bytes),
            self.flash_bytes
        )
    }
}

/// The runtime op families (cargo features) and op names `m` uses.
pub fn ops_and_features(m: &ferrite::Model<'_>) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut ops: Vec<&'static str> = Vec::new();
    let mut features: Vec<&'static str> = Vec::new();
    for i in 0..m.num_ops() {
        let Some(op) = m.op(i) else { continue };
        if !ops.contains(&op.code.name()) {
            ops.push(op.code.name());
        }
        if !features.contains(&op.code.feature()) {
            features.push(op.code.feature());
        }
        let out_f32 = op
            .output(0)
            .and_then(|t| m.tensor(t))
            .is_some_and(|t| t.dtype == ferrite::DType::F32);
        if out_f32 && op.code.f32_form_needs_feature() && !features.contains(&"f32") {
            features.push("f32");
        }
    }
    ops.sort_unstable();
    features.sort_unstable();
    (ops, features)
}

/// Writes `dir/model.fer` (the image) and `dir/model.rs`, which firmware
/// `include!`s: the model as a 16-byte aligned static, its exact arena size
/// and the ops and runtime features it needs; for an MCU board with memory
/// origins also `dir/memory.x`, the cortex-m-rt memory map of its budgets.
pub fn emit_rust(
    dir: &Path,
    image: &[u8],
    m: &ferrite::Model<'_>,
    board: Option<&Board>,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (ops, features) = ops_and_features(m);
    let quoted = |v: &[&str]| {
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut rs = String::new();
    let _ = writeln!(
        rs,
        "// Written by `ferrite compile --emit-rust`{}; do not edit.",
        board
            .map(|b| format!(" for board {}", b.name))
            .unwrap_or_default()
    );
    let _ = writeln!(
        rs,
        "// Depend on ferrite-runtime with default-features = false, features = [{}].",
        quoted(&features)
    );
    let _ = writeln!(
        rs,
        "\n/// The model image, 16-byte aligned, in flash (`.rodata`)."
    );
    let _ = writeln!(
        rs,
        "pub static MODEL: &ferrite::Aligned<[u8; MODEL_LEN]> =\n    &ferrite::Aligned(*include_bytes!(\"model.fer\"));"
    );
    let _ = writeln!(rs, "/// Bytes of the model image.");
    let _ = writeln!(rs, "pub const MODEL_LEN: usize = {};", image.len());
    let _ = writeln!(
        rs,
        "/// Exact arena size in bytes: declare a `static` arena of this size."
    );
    let _ = writeln!(rs, "pub const ARENA_SIZE: usize = {};", m.arena_size());
    let _ = writeln!(rs, "/// The ops the model uses.");
    let _ = writeln!(rs, "pub const OPS: &[&str] = &[{}];", quoted(&ops));
    let _ = writeln!(rs, "/// The runtime features that build their kernels.");
    let _ = writeln!(
        rs,
        "pub const FEATURES: &[&str] = &[{}];",
        quoted(&features)
    );
    let _ = writeln!(rs, "/// The board it was compiled for.");
    let _ = writeln!(
        rs,
        "pub const BOARD: &str = \"{}\";",
        board.map(|b| b.name.as_str()).unwrap_or("")
    );
    write_atomic(&dir.join("model.fer"), image)?;
    write_atomic(&dir.join("model.rs"), rs.as_bytes())?;
    if let Some(b) = board.filter(|b| b.kind == "mcu") {
        if let Some((flash, ram)) = b.origins {
            let x = format!(
                "/* Written by `ferrite compile --emit-rust` for board {}: its budgets. */\n\
                 MEMORY\n{{\n  FLASH : ORIGIN = {flash:#010x}, LENGTH = {}\n  \
                 RAM   : ORIGIN = {ram:#010x}, LENGTH = {}\n}}\n",
                b.name, b.flash_bytes, b.ram_bytes
            );
            write_atomic(&dir.join("memory.x"), x.as_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_boards_parse() {
        for n in names() {
            let b = find(n).unwrap();
            assert_eq!(b.name, n);
            assert!(b.ram_bytes > 0 && b.flash_bytes > 0, "{n}");
        }
        assert!(find("no-such-board")
            .unwrap_err()
            .to_string()
            .contains("mps2-an386"));
    }

    #[test]
    fn check_names_every_size() {
        let b = find("mps2-an386").unwrap();
        let ok = Footprint {
            arena: 500_000,
            model: 150_000,
        };
        b.check(ok).unwrap();
        let big = Footprint {
            arena: 5_000_000,
            model: 4_500_000,
        };
        let e = b.check(big).unwrap_err().to_string();
        assert!(
            e.contains("RAM: arena 5000000 + stack 32768 = 5032768 bytes > 4194304 bytes"),
            "{e}"
        );
        assert!(
            e.contains("flash: model 4500000 + code 65536 = 4565536 bytes > 4194304 bytes"),
            "{e}"
        );
    }
}
