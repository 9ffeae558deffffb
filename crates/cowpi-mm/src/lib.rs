//! The memory-management logic of cowpi that needs no hardware.
//!
//! Everything here is plain data and arithmetic, so it is `no_std` for the kernel and tested on the host,
//! where a bug shows up as a failing test rather than as a hung Raspberry Pi. The kernel supplies what only
//! it can: the memory map, the storage for the tables and the page-table walks.
//!
//! - [`addr`]: typed physical addresses and frame numbers, so an address is never mistaken for a frame
//!   number or a size.
//! - [`frame_table`]: one reference count per physical frame. Copy-on-write, the shared zero page and page
//!   merging all come down to "how many mappings hold this frame?", and the frame table is where that
//!   number lives and is checked.
#![no_std]

pub mod addr;
pub mod frame_table;

pub use addr::{Frame, PAGE_SHIFT, PAGE_SIZE, PhysAddr};
pub use frame_table::{
    AuditReport, ExpectedHolds, FrameCounters, FrameError, FrameState, FrameTable, OutOfFrames, Release,
    TableError, Violation, storage_words,
};
