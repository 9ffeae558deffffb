//! What several of cowpi's programs share. The programs themselves are the files of `src/bin/`; each is
//! embedded in the kernel under its file name.
//!
//! - [`checks`]: the one-line-per-check report of the programs that test the kernel (`syscalls`,
//!   `memory`, `forktest`, `zeropage`, `ksmfill`), and their exit status.
//! - [`args`]: reading numbers from the argument string.
//! - [`region`]: mapped pages filled with a pattern that tells who wrote each word, for the copy-on-write
//!   programs.
//! - [`stats`]: reading and printing `MEMSTATS`, page-merging counters included.
//! - [`stack`]: touching the stack ahead of time, so that a task needs no frame while memory is short.
//! - [`bench`]: what the benchmark programs (`benchfault`, `benchfork`, `benchmem`, `benchksm`) share:
//!   mapped pages touched a byte at a time, the benchmark lines, and their `error:` reports.
#![no_std]

pub mod args;
pub mod bench;
pub mod checks;
pub mod region;
pub mod stack;
pub mod stats;
