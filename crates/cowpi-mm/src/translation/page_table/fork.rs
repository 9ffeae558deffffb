//! Fork page by page: giving a new address space the same pages as an existing one, by sharing frames,
//! not copying. The baseline the shared-table fork ([`super::share`]) is measured against, and its
//! fallback.
//!
//! [`AddressSpaceTables::share_into`] maps every page of the parent into the (empty) child, on the same
//! frame. A page the parent may write becomes copy-on-write in both, so that the first write on either
//! side copies it ([`crate::cow`]); a page that is read-only already (program text, rodata, and pages
//! that are COW, zero-page or merged from before, or have no access) is mapped in the child with the
//! flags it has. No page data is copied, so fork costs the child's tables and one reference per page.
//!
//! It works a level-3 table at a time, as Linux's `copy_pte_range` does: one pass over each parent table
//! fills the child's new table, turning writable descriptors copy-on-write on their bits in both
//! ([`PageFlags::copy_on_write_descriptor`]), with no walk from the root per page and no decoding of
//! flags. For each table the parent's descriptors are downgraded first and the child's written, then
//! the child's references are taken for the whole table at once (the kernel takes its frame-table lock
//! once per 512 pages, not once per page); where that stops, the child's descriptors from there on are
//! cleared again, so every child mapping holds exactly one reference: when fork fails midway,
//! destroying the child (releasing each mapping it holds) undoes precisely the references taken. The
//! parent's TLB is invalidated once, ASID-wide, before fork returns, successful or not, instead of once
//! per page; until then only the kernel runs on the parent's behalf, on this core, and it does not write
//! the parent's pages. The parent pages already downgraded when a fork fails stay COW with one holder;
//! their next write fault reuses them in place, which costs a fault but is correct.

use core::fmt;

use super::present::Present;
use super::{AddressSpaceTables, MapError};
use crate::addr::{Frame, Page};
use crate::translation::descriptor::{INVALID, user_table_descriptor};
use crate::translation::{Level, PageFlags, ShareRefused, TableMemory, TlbMaintenance};

/// Up to this many valid entries, a table is copied entry by entry (one store per entry, about 40
/// instructions each); above it, in whole-table passes ([`TableMemory::write_entries`], about 12
/// instructions per entry of all 512). Measured: an empty task's tables hold a handful of entries, a
/// written 2 MiB all 512.
pub(super) const SPARSE: usize = Level::ENTRIES / 4;
/// What [`AddressSpaceTables::share_into`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ForkCounts {
    /// Pages mapped in the child, each with a new reference to its frame.
    pub pages_shared: usize,
    /// Writable parent pages made copy-on-write (and invalidated in the parent's TLB).
    pub pages_made_cow: usize,
    /// Level-3 tables the child shares with the parent ([`AddressSpaceTables::share_tables_into`]).
    pub tables_shared: usize,
}

/// Why [`AddressSpaceTables::share_into`] stopped. The child maps what was shared before the failure,
/// each page with its reference; destroy it. The parent is consistent (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkError<E> {
    /// The child already maps something: fork fills only a fresh address space. Nothing was changed.
    ChildNotEmpty,
    /// The child could not map `page`. With an empty child, only [`MapError::OutOfFrames`] can happen:
    /// no frame for one of its tables.
    ChildMap { page: Page, error: MapError },
    /// `share` refused the frame of `page` (a refcount at its limit, say). The child does not map `page`.
    Share { page: Page, frame: Frame, error: E },
    /// The parent maps device memory at `page`: MMIO is neither copy-on-write nor counted in the frame
    /// table, and cowpi gives no task a device to share.
    DeviceMemory(Page),
}

impl<E> ForkError<E> {
    /// Whether the failure was a shortage of frames, which the task sees as "out of memory".
    pub fn is_out_of_frames(&self) -> bool {
        matches!(self, ForkError::ChildMap { error: MapError::OutOfFrames, .. })
    }
}

impl<E: fmt::Display> fmt::Display for ForkError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForkError::ChildNotEmpty => f.write_str("fork into an address space that maps something"),
            ForkError::ChildMap { page, error } => write!(f, "fork could not map {page}: {error}"),
            ForkError::Share { page, frame, error } => {
                write!(f, "fork could not share {frame} (at {page}): {error}")
            }
            ForkError::DeviceMemory(page) => write!(f, "fork of device memory at {page}"),
        }
    }
}

/// How the per-page fork takes the child's references, once per level-3 table: called with the parent's
/// table, whose valid descriptors the child's new table now holds too, it adds a holder for each of them
/// in order, and stops at the first it cannot with `Err((index, error))`: every entry before `index`
/// has its holder, none from `index` on.
pub(super) type ShareTable<'a, M, E> = dyn FnMut(&mut M, Frame) -> Result<(), (usize, E)> + 'a;

impl<M: TableMemory, T: TlbMaintenance> AddressSpaceTables<M, T> {
    /// Maps every page of these tables into `child` on the same frame, copy-on-write where the page is
    /// writable here, and calls `share` once per child mapping, after writing it, with the frame and the
    /// child mapping's flags, so that the caller adds the mapping's reference to the frame (and counts it
    /// by kind: the kernel counts the zero pages page merging made). See the module documentation for the
    /// order and for what a failure leaves.
    ///
    /// `child` must be empty and should never have run (no ASID), so its mappings need no invalidation.
    pub fn share_into<M2: TableMemory, T2: TlbMaintenance, E>(
        &mut self,
        child: &mut AddressSpaceTables<M2, T2>,
        mut share: impl FnMut(Frame, PageFlags) -> Result<(), E>,
    ) -> Result<ForkCounts, ForkError<E>> {
        if child.table_frames() != 1 {
            return Err(ForkError::ChildNotEmpty);
        }
        self.fork_pages(child, &mut |memory: &mut M, table| {
            for index in Present::of(memory, table) {
                let Some((frame, flags)) = Self::decode_leaf(memory, table, index) else { continue };
                share(frame, flags).map_err(|error| (index, error))?;
            }
            Ok(())
        })
    }

    /// The per-page fork (as [`AddressSpaceTables::share_into`]) with the child's references taken by
    /// this address space's table memory, a whole table at a time
    /// ([`TableMemory::share_mapped_frames`]): the kernel's `FORK` mode 2, and the shared-table fork's
    /// fallback.
    pub fn share_pages_into<T2: TlbMaintenance>(
        &mut self,
        child: &mut AddressSpaceTables<M, T2>,
    ) -> Result<ForkCounts, ForkError<ShareRefused>> {
        if child.table_frames() != 1 {
            return Err(ForkError::ChildNotEmpty);
        }
        self.fork_pages(child, &mut Self::share_whole_table)
    }

    /// Takes a holder for every frame `table` maps, through the table memory, or none (see
    /// [`ShareTable`]: the failing index is the first mapped entry's).
    pub(super) fn share_whole_table(memory: &mut M, table: Frame) -> Result<(), (usize, ShareRefused)> {
        memory.share_mapped_frames(table).map_err(|refused| {
            let first_mapped = memory.entries(table).iter().position(|&d| d != INVALID);
            (first_mapped.unwrap_or(0), refused)
        })
    }

    /// The per-page fork, with `share` given this address space's table memory too (which the
    /// shared-table fork's fallback takes holders through).
    pub(super) fn fork_pages<M2: TableMemory, T2: TlbMaintenance, E>(
        &mut self,
        child: &mut AddressSpaceTables<M2, T2>,
        share: &mut ShareTable<'_, M, E>,
    ) -> Result<ForkCounts, ForkError<E>> {
        let mut counts = ForkCounts::default();
        let result = self.copy_tables_into(child, &mut counts, share);
        // Whatever happened, no parent page made copy-on-write may stay writable in a TLB.
        if counts.pages_made_cow > 0 {
            self.invalidate_all();
        }
        child.tlb.publish_tables();
        result.map(|()| counts)
    }

    fn copy_tables_into<M2: TableMemory, T2: TlbMaintenance, E>(
        &mut self,
        child: &mut AddressSpaceTables<M2, T2>,
        counts: &mut ForkCounts,
        share: &mut ShareTable<'_, M, E>,
    ) -> Result<(), ForkError<E>> {
        let root = self.root;
        // The parent's table structure does not change here, only leaf descriptors, so it can be walked
        // while it is edited.
        for index1 in Present::of(&mut self.memory, root) {
            let Some(level2) = self.next_table(root, Level::One, index1) else { continue };
            let mut child_level2 = None;
            for index2 in Present::of(&mut self.memory, level2) {
                let Some(level3) = self.next_table(level2, Level::Two, index2) else { continue };
                let first = Page::from_number(((index1 << 18) | (index2 << 9)) as u64);
                let child_level2 = match child_level2 {
                    Some(table) => table,
                    None => {
                        let table = child
                            .memory
                            .alloc_table()
                            .map_err(|_| ForkError::ChildMap { page: first, error: MapError::OutOfFrames })?;
                        child.memory.write_entry(child.root, index1, user_table_descriptor(table));
                        child.table_frames += 1;
                        *child_level2.insert(table)
                    }
                };
                self.copy_table_into(level3, first, child, child_level2, index2, counts, share)?;
            }
        }
        Ok(())
    }

    /// Gives `child` a level-3 table of its own, linked at entry `index2` of its `child_level2`, that maps
    /// every page of the table `level3` here (whose first page is `first`) on the same frame: one pass
    /// over the table, each writable page made copy-on-write here and there, then `share` once for the
    /// whole table. The TLB invalidation of the pages made copy-on-write is the caller's, once for all.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn copy_table_into<M2: TableMemory, T2: TlbMaintenance, E>(
        &mut self,
        level3: Frame,
        first: Page,
        child: &mut AddressSpaceTables<M2, T2>,
        child_level2: Frame,
        index2: usize,
        counts: &mut ForkCounts,
        share: &mut ShareTable<'_, M, E>,
    ) -> Result<(), ForkError<E>> {
        let child_level3 = child
            .memory
            .alloc_table()
            .map_err(|_| ForkError::ChildMap { page: first, error: MapError::OutOfFrames })?;
        child.memory.write_entry(child_level2, index2, user_table_descriptor(child_level3));
        child.table_frames += 1;
        // Found before anything of this table is shared, so that there is nothing to undo.
        let entries = self.memory.entries(level3);
        if let Some(device) =
            entries.iter().position(|&d| d != INVALID && PageFlags::descriptor_maps_device(d))
        {
            return Err(ForkError::DeviceMemory(first + device));
        }
        let present = Present::of(&mut self.memory, level3);
        let mapped = present.count();
        if mapped <= SPARSE {
            // A few entries (a stack, a program's data): one store each.
            for index3 in present {
                let descriptor = self.memory.entries(level3)[index3];
                let descriptor = match PageFlags::copy_on_write_descriptor(descriptor) {
                    Some(cow) => {
                        self.memory.write_entry(level3, index3, cow);
                        counts.pages_made_cow += 1;
                        cow
                    }
                    None => descriptor,
                };
                child.memory.write_entry(child_level3, index3, descriptor);
            }
        } else {
            // Many: the descriptors both tables end up with, worked out in one pass over a copy on the
            // stack, then stored a table at a time.
            let mut descriptors = *self.memory.entries(level3);
            let mut made_cow = 0;
            for descriptor in &mut descriptors {
                if let Some(cow) = PageFlags::copy_on_write_descriptor(*descriptor) {
                    *descriptor = cow;
                    made_cow += 1;
                }
            }
            if made_cow > 0 {
                self.memory.write_entries(level3, &descriptors);
                counts.pages_made_cow += made_cow;
            }
            child.memory.write_entries(child_level3, &descriptors);
        }
        let Err((failed, error)) = share(&mut self.memory, level3) else {
            counts.pages_shared += mapped;
            return Ok(());
        };
        // Without their references those mappings must go, or destroying the child would drop
        // references that were never taken.
        for index3 in Present::of(&mut self.memory, level3) {
            if index3 < failed {
                counts.pages_shared += 1;
            } else {
                child.memory.write_entry(child_level3, index3, INVALID);
            }
        }
        let frame = PageFlags::descriptor_frame(self.memory.entries(level3)[failed]);
        Err(ForkError::Share { page: first + failed, frame, error })
    }
}
