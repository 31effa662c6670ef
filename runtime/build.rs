//! Sets `cfg(ferrite_arm_neon)` on 32-bit arm builds that enable NEON,
//! which selects the `neon32` kernel table.
//!
//! Stable Rust reports no arm `target_feature`s to `cfg` (they are
//! unstable), so `cfg(target_feature = "neon")` is false even on
//! `thumbv7neon-unknown-linux-gnueabihf`. When the compiler does report
//! arm features (`v7` is among them on every armv7 target), `neon` must be
//! among them. Otherwise NEON is on when the target has it in its baseline
//! (`thumbv7neon-*`) or the rustflags' last `-C target-feature` mention of
//! it is `+neon` (as `boards/rpi-armv7` sets); a `-C target-cpu` alone
//! does not count.

use std::env;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ferrite_arm_neon)");
    println!("cargo::rerun-if-changed=build.rs");
    let var = |k: &str| env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_ARCH") != "arm" {
        return;
    }
    let features = var("CARGO_CFG_TARGET_FEATURE");
    let has = |f: &str| features.split(',').any(|x| x == f);
    let neon = if has("v7") {
        has("neon")
    } else {
        rustflags_neon(&var("CARGO_ENCODED_RUSTFLAGS"))
            .unwrap_or_else(|| var("TARGET").starts_with("thumbv7neon-"))
    };
    if neon {
        println!("cargo::rustc-cfg=ferrite_arm_neon");
    }
}

/// The last `+neon` / `-neon` in the `-C target-feature` flags, if any.
fn rustflags_neon(encoded: &str) -> Option<bool> {
    let flags: Vec<&str> = encoded.split('\x1f').collect();
    let mut neon = None;
    for (i, f) in flags.iter().enumerate() {
        let value = match *f {
            "-C" | "--codegen" => flags.get(i + 1).copied(),
            _ => f
                .strip_prefix("-C")
                .or_else(|| f.strip_prefix("--codegen=")),
        };
        let Some(list) = value.and_then(|v| v.strip_prefix("target-feature=")) else {
            continue;
        };
        for feat in list.split(',') {
            match feat {
                "+neon" => neon = Some(true),
                "-neon" => neon = Some(false),
                _ => {}
            }
        }
    }
    neon
}
