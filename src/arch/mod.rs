//! Architecture support. cowpi runs on AArch64 only; the rest of the kernel reaches the processor through
//! these modules, never through inline assembly of its own.

mod aarch64;

pub use aarch64::*;
