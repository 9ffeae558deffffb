//! The real user programs, as the kernel's build links them with `user/link.ld`, must pass the loader.
//!
//! This test builds nothing: building AArch64 programs is the kernel build's job (`cargo build` runs
//! build.rs, which builds `user/` into `target/user`). If they are not there yet, the test says so and
//! checks nothing; the loader's own tests construct their ELF images and never depend on a build.

use std::fs;
use std::path::{Path, PathBuf};

use cowpi_abi::Prot;
use cowpi_abi::layout::IMAGE_BASE;

fn programs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/user/aarch64-unknown-none/release")
}

/// Every ELF file in the folder: the programs, not cargo's `.d` files or folders.
fn built_programs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut programs: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_file())
        .filter_map(|entry| Some((entry.file_name().into_string().ok()?, fs::read(entry.path()).ok()?)))
        .filter(|(_, bytes)| bytes.starts_with(b"\x7fELF"))
        .collect();
    programs.sort();
    programs
}

#[test]
fn every_built_user_program_is_accepted_as_linked() {
    let dir = programs_dir();
    let programs = built_programs(&dir);
    if !programs.iter().any(|(name, _)| name == "hello") {
        println!("skipped: no user programs in {} (`cargo build` the kernel first)", dir.display());
        return;
    }
    for (name, elf) in &programs {
        let plan = cowpi_loader::plan(elf).unwrap_or_else(|error| panic!("{name}: {error}"));
        // user/link.ld puts _start first in the text segment, at the image base.
        assert_eq!(plan.entry(), IMAGE_BASE, "{name}");
        let text = plan.segments()[0];
        assert_eq!((text.vaddr, text.prot), (IMAGE_BASE, Prot::READ_EXEC), "{name}");
        for segment in plan.segments() {
            assert!(
                [Prot::READ_EXEC, Prot::READ, Prot::READ_WRITE].contains(&segment.prot),
                "{name}: {segment:?}"
            );
            assert_eq!(segment.vaddr % 4096, 0, "{name}: link.ld starts every segment on a page");
        }
        println!("{name}: {} segments, entry {:#x}", plan.segments().len(), plan.entry());
    }
}
