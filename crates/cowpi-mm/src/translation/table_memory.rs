//! Where translation tables live: the one thing about them only the kernel can provide.
//!
//! A table is a 4 KiB frame of 512 descriptors, named by its physical frame (that is what a table
//! descriptor and `TTBR0_EL1` hold). To read and write it, the kernel goes through its linear map of RAM;
//! host tests keep tables in a `HashMap`. [`TableMemory`] is that difference, so [`super::page_table`]
//! runs unchanged on both.

use crate::addr::Frame;
use crate::frame_table::OutOfFrames;
use crate::translation::Level;

/// Frames for translation tables, and access to their descriptors.
///
/// Every table frame has one holder, the table itself, which is what the memory audit counts (see
/// [`super::AddressSpaceTables::for_each_table_frame`]).
pub trait TableMemory {
    /// A frame for a new table, with all 512 descriptors zero (invalid).
    fn alloc_table(&mut self) -> Result<Frame, OutOfFrames>;

    /// Gives back a table frame. No table links to it any more, and no TLB or walk cache still holds
    /// anything read through it; its contents are left as they were (a table freed by
    /// [`super::AddressSpaceTables::destroy`] still holds its old descriptors).
    fn free_table(&mut self, frame: Frame);

    /// The descriptors of the table in `table`.
    fn entries(&mut self, table: Frame) -> &mut [u64; Level::ENTRIES];

    /// Stores one descriptor. Every change to a table goes through here.
    ///
    /// The table walker reads descriptors concurrently with the CPU's stores, so each store must be a
    /// single 64-bit write that the compiler may neither split, merge with another, nor drop (the first
    /// write of a break-before-make sequence looks dead to it). The kernel should override this with a
    /// volatile write; the default is for host tests.
    fn write_entry(&mut self, table: Frame, index: usize, descriptor: u64) {
        self.entries(table)[index] = descriptor;
    }
}
