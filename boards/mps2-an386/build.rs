//! Puts a `memory.x` on the linker's search path (cortex-m-rt's `link.x`
//! includes it): the one `ferrite compile --emit-rust` wrote into `model/`
//! for the model's board budget when there is one, else the machine's.
use std::path::{Path, PathBuf};

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let generated = Path::new("model/memory.x");
    let src = if generated.exists() {
        generated
    } else {
        Path::new("memory.x")
    };
    std::fs::copy(src, out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=model");
    println!("cargo:rerun-if-changed=model/memory.x");
}
