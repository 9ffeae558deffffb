//! The memory an address space maps: frames with reference counts and contents, and the zero frame.
//!
//! [`TableMemory`] is what the translation tables need (table frames, holders added and dropped a table
//! at a time); an address space also allocates the frames it maps, copies them, asks how many holders a
//! frame has (the copy-on-write decision turns on it), and reads and writes their bytes for the kernel's
//! copies to and from user memory. The kernel implements it with its frame table and linear map; host
//! tests with a frame table and pages in host memory.

use super::FaultOutcome;
use crate::addr::{Frame, PAGE_SIZE};
use crate::frame_table::OutOfFrames;
use crate::translation::TableMemory;

/// Frames for the pages of an address space, on top of its tables' memory.
///
/// The address space maps its frames with [`TableMemory::share_frame`] (a new holder of a frame another
/// mapping or the kernel holds) and lets them go with [`TableMemory::release_frame`], both with the
/// mapping's flags, so memory that keeps figures by kind of mapping (page merging's zero pages) sees every
/// mapping come and go. Memory used by an address space must implement both: their defaults refuse.
pub trait PageMemory: TableMemory {
    /// A fresh frame filled with zeros, with one holder (the caller).
    fn alloc_zeroed(&mut self) -> Result<Frame, OutOfFrames>;

    /// A fresh frame holding a copy of `source`'s 4 KiB (which the caller holds), with one holder.
    fn alloc_copy_of(&mut self, source: Frame) -> Result<Frame, OutOfFrames>;

    /// How many holders `frame` has (0 for a free frame or one the memory does not manage).
    fn frame_holders(&mut self, frame: Frame) -> u32;

    /// The one frame of zeros every untouched page reads through. The memory holds it for as long as it
    /// exists; each mapping of it holds one reference more.
    fn zero_frame(&mut self) -> Frame;

    /// The contents of `frame`, which the caller holds.
    fn page_bytes(&mut self, frame: Frame) -> &mut [u8; PAGE_SIZE];

    /// A fault was resolved (by the task's access or before a kernel write into its memory): for the
    /// kernel's event counters. The default counts nothing.
    fn fault_resolved(&mut self, _outcome: FaultOutcome) {}
}
