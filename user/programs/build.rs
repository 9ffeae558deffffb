//! Links every program with `user/link.ld`, at the user image base, with 4 KiB segment alignment.
//!
//! The linker script is passed here rather than in a cargo config file because cargo reads config files
//! from the directory it is started in: a build started elsewhere (the kernel's build.rs,
//! `cargo clippy --manifest-path user/Cargo.toml`) would miss it.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let script = manifest_dir.parent().unwrap().join("link.ld");
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    // lld aligns AArch64 segments to 64 KiB by default, padding each file; cowpi's pages are 4 KiB.
    println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    println!("cargo:rerun-if-changed={}", script.display());
}
