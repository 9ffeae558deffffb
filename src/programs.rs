//! The user programs embedded in the kernel image: cowpi has no file system, so `SPAWN` and the shell's
//! `run` find programs here, by name.
//!
//! `build.rs` builds the user workspace (`user/`) and generates the table: one entry per file of
//! `user/programs/src/bin/`, named after the file, holding the program's ELF image as linked by
//! `user/link.ld`. The images are included 16-byte aligned, so the loader can read their headers in place.

/// One embedded user program.
pub struct Program {
    /// What `SPAWN` and `run` call it: its file name in `user/programs/src/bin/`, without `.rs`.
    pub name: &'static str,
    /// Its ELF image, to be checked and planned by `cowpi_loader::plan`.
    pub elf: &'static [u8],
}

/// Gives what it wraps the alignment of the wrapper: `include_bytes!` alone guarantees none.
#[repr(C, align(16))]
struct Aligned<T: ?Sized>(T);

// Defines `PROGRAMS: [Program; N]`, sorted by name.
include!(concat!(env!("OUT_DIR"), "/programs.rs"));

/// Every embedded program, sorted by name.
pub fn all() -> &'static [Program] {
    &PROGRAMS
}

/// The program called `name`, if one is embedded.
pub fn find(name: &str) -> Option<&'static Program> {
    PROGRAMS.iter().find(|program| program.name == name)
}

crate::kernel_test! {
    /// Every embedded program is aligned, passes the loader's checks and is found by its name.
    fn every_embedded_program_loads() -> TestResult {
        crate::check!(find("hello").is_some(), "the program hello is not embedded");
        crate::check!(find("no-such-program").is_none());
        for program in all() {
            crate::check!(program.elf.as_ptr().addr() % 16 == 0, "{} is not 16-byte aligned", program.name);
            let plan = cowpi_loader::plan(program.elf);
            crate::check!(plan.is_ok(), "{}: {:?}", program.name, plan.err());
            crate::check!(find(program.name).is_some_and(|found| core::ptr::eq(found, program)));
        }
        crate::check!(all().is_sorted_by_key(|program| program.name), "the table is not sorted");
        Ok(())
    }
}
