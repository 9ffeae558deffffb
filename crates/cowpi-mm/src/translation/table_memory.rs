//! Where translation tables live: the one thing about them only the kernel can provide.
//!
//! A table is a 4 KiB frame of 512 descriptors, named by its physical frame (that is what a table
//! descriptor and `TTBR0_EL1` hold). To read and write it, the kernel goes through its linear map of RAM;
//! host tests keep tables in a `HashMap`. [`TableMemory`] is that difference, so [`super::page_table`]
//! runs unchanged on both.
//!
//! A level-3 table may be shared by several address spaces after a fork ([`super::page_table::share`]):
//! then its frame has one holder per level-2 entry that points at it, and the frames it maps one holder
//! for the table, however many address spaces reach them through it. Counting those holders is the frame
//! table's work, so the sharing methods are here too. Memory that does not implement them (their
//! defaults refuse) never shares a table, and fork then maps every page on its own.

use crate::addr::Frame;
use crate::frame_table::OutOfFrames;
use crate::translation::{Level, PageFlags};

/// A holder could not be added (a reference count at its limit, or memory that does not count holders):
/// the caller does without sharing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareRefused;

impl core::fmt::Display for ShareRefused {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("no holder could be added (a reference count at its limit)")
    }
}

/// Frames for translation tables, and access to their descriptors.
///
/// Every table frame has one holder, the table itself, which is what the memory audit counts (see
/// [`super::AddressSpaceTables::for_each_table_frame`]).
pub trait TableMemory {
    /// A frame for a new table, with all 512 descriptors zero (invalid).
    fn alloc_table(&mut self) -> Result<Frame, OutOfFrames>;

    /// Drops one holder of a table frame, freeing it with the last. The entry that held it links to it no
    /// more, and no TLB or walk cache still holds anything read through that link; its contents are left
    /// as they were (a table freed by [`super::AddressSpaceTables::destroy`] still holds its old
    /// descriptors).
    fn free_table(&mut self, frame: Frame);

    /// Adds a holder to a table frame: one more level-2 entry is about to point at it.
    fn share_table(&mut self, _table: Frame) -> Result<(), ShareRefused> {
        Err(ShareRefused)
    }

    /// How many entries point at the table in `table` (1 unless it is shared).
    fn table_holders(&mut self, _table: Frame) -> usize {
        1
    }

    /// Drops this address space's hold on the level-3 table in `table` if another holder remains (true),
    /// and leaves it alone if this is its last holder (false), who then releases its frames and frees it
    /// like a private table. One decision, not a count read then acted on: two holders leaving at once (a
    /// fault or a teardown in each, on two cores) would both see the other, both merely drop their hold,
    /// and the table's frames would stay held by no one. Memory that is shared between cores must make it
    /// atomic; the default (for host tests, one thread) reads the count.
    fn leave_shared_table(&mut self, table: Frame) -> bool {
        let shared = self.table_holders(table) > 1;
        if shared {
            self.free_table(table);
        }
        shared
    }

    /// Adds a holder to `frame`, which a new descriptor with `flags` is about to map: a shared table is
    /// being copied for one of its holders.
    fn share_frame(&mut self, _frame: Frame, _flags: PageFlags) -> Result<(), ShareRefused> {
        Err(ShareRefused)
    }

    /// Adds a holder to every frame the valid descriptors of the level-3 table `table` map, or to none:
    /// the table was just filled (the copy of a shared table, or a child's table in the per-page fork)
    /// and each of its mappings needs its reference. One call per table, so that memory which counts
    /// holders under a lock takes it once for 512 pages; the default takes them one by one through
    /// [`TableMemory::share_frame`].
    fn share_mapped_frames(&mut self, table: Frame) -> Result<(), ShareRefused> {
        let entries = *self.entries(table);
        let mapped = || entries.iter().filter_map(|&d| PageFlags::from_descriptor(d).ok());
        for (done, (frame, flags)) in mapped().enumerate() {
            if let Err(refused) = self.share_frame(frame, flags) {
                for (frame, flags) in mapped().take(done) {
                    self.release_frame(frame, flags);
                }
                return Err(refused);
            }
        }
        Ok(())
    }

    /// Drops the holder [`TableMemory::share_frame`] added, when the copy it was for is abandoned; or one
    /// holder of a mapped frame, through [`TableMemory::release_mapped_frames`].
    fn release_frame(&mut self, frame: Frame, _flags: PageFlags) {
        panic!("{frame} released by memory that never shares frames")
    }

    /// Drops the holder each valid descriptor of the level-3 table `table` has on the frame it maps: the
    /// table goes with its address space ([`super::AddressSpaceTables::destroy_releasing`]), which it was
    /// the only holder of. One call per table, like [`TableMemory::share_mapped_frames`]; the default
    /// drops them one by one through [`TableMemory::release_frame`].
    fn release_mapped_frames(&mut self, table: Frame) {
        let entries = *self.entries(table);
        for (frame, flags) in entries.iter().filter_map(|&d| PageFlags::from_descriptor(d).ok()) {
            self.release_frame(frame, flags);
        }
    }

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

    /// Makes `table` hold `entries`, storing each descriptor that differs as
    /// [`TableMemory::write_entry`] stores one: for the passes that rewrite a whole table (the copy of a
    /// shared table, and the table that stays shared made copy-on-write). The kernel should override it
    /// with one loop of volatile stores; calling `write_entry` per entry cost it about 16 instructions
    /// an entry.
    fn write_entries(&mut self, table: Frame, entries: &[u64; Level::ENTRIES]) {
        for (index, &descriptor) in entries.iter().enumerate() {
            if self.entries(table)[index] != descriptor {
                self.write_entry(table, index, descriptor);
            }
        }
    }
}
