//! What several of cowpi's programs share. The programs themselves are the files of `src/bin/`; each is
//! embedded in the kernel under its file name.
//!
//! - [`checks`]: the one-line-per-check report of the programs that test the kernel (`syscalls`,
//!   `limits`, `memory`, `forktest`, `zeropage`, `ksmfill`, `ksmzero`, `orphans`, and the final checks of
//!   `oomrace` and `forkbomb`), and their exit status.
//! - [`args`]: reading numbers from the argument string.
//! - [`region`]: mapped pages filled with a pattern that tells who wrote each word, for the copy-on-write
//!   programs.
//! - [`stats`]: reading and printing `MEMSTATS`, page-merging counters included.
//! - [`rng`]: the seeded generator of the stress programs (`forkstress`, `sysfuzz`).
//! - [`sys`]: a raw system call with up to six arguments, for the programs that pass arguments on
//!   purpose that no safe wrapper would (`syscalls`, `limits`).
//! - [`stack`]: touching the stack ahead of time, so that a task needs no frame while memory is short.
//! - [`bench`]: what the benchmark programs (`benchfault`, `benchfork`, `benchmem`, `benchksm`) share:
//!   mapped pages touched a byte at a time, the benchmark lines, and their `error:` reports.
#![no_std]

pub mod args;
pub mod bench;
pub mod checks;
pub mod region;
pub mod rng;
pub mod stack;
pub mod stats;

/// Makes system call `number` with up to six arguments (the rest 0) and returns the raw result (`x0`).
///
/// # Safety
///
/// As for `cowpi_user::syscall::raw`: the kernel reads and writes memory through the pointers, and `UNMAP`
/// and `PROTECT` take memory away; the caller makes sure no Rust reference is invalidated by that.
///
/// # Panics
///
/// If `args` has more than six arguments.
pub unsafe fn sys(number: u64, args: &[u64]) -> u64 {
    let mut registers = [0; 6];
    registers[..args.len()].copy_from_slice(args);
    // SAFETY: passed on to the caller.
    unsafe { cowpi_user::syscall::raw(number, registers) }
}
