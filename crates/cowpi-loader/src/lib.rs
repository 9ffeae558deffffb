//! The part of loading a user program that needs no hardware: reading its ELF image and deciding what to
//! map where.
//!
//! An ELF file is untrusted input that the kernel parses with full privileges, so every field is checked
//! before it is believed: a size that overflows, a segment that reaches into the kernel's half, a file range
//! past the end of the image, or memory both writable and executable would each hand a task something it
//! must not have. [`plan`] makes those checks and returns a [`LoadPlan`]; the kernel then only follows it:
//!
//! ```text
//! for segment in plan.segments():
//!     map segment.pages() with segment.prot, zero-filled
//!     copy elf[segment.file_range()] to segment.vaddr
//! start the task at plan.entry()
//! ```
//!
//! It is `no_std` and allocates nothing, so the kernel uses it as is and the host tests it with
//! hand-built ELF images and random mutations of them.
#![no_std]

mod error;
mod plan;
#[cfg(test)]
mod test_elf;

pub use error::LoadError;
pub use plan::{LoadPlan, MAX_PROGRAM_HEADERS, MAX_SEGMENTS, Segment, plan};
