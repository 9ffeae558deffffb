//! Level-3 tables shared between address spaces: fork whose cost follows tables, not pages.
//!
//! A level-3 table maps 2 MiB with 512 page descriptors. At a fork ([`AddressSpaceTables::share_tables_into`])
//! the child does not get its own copy of the parent's level-3 tables: its level-2 entries point at the
//! parent's, and each such table gains a holder (its frame's reference count is the number of level-2
//! entries pointing at it). Both the parent's and the child's level-2 entries are written with
//! `APTable = 0b10` (Arm ARM D8.4.2, hierarchical permissions): nothing reached through them may be
//! written, at EL0 or EL1, whatever the page descriptors say. The page descriptors themselves, and the
//! frames' reference counts, are not touched: a frame mapped in a shared table has one holder, the table.
//! So fork costs the child's level-1 and level-2 tables, one reference per level-3 table, and one
//! ASID-wide TLB invalidation of the parent (its level-2 entries lost write access), whatever it maps.
//!
//! The first change to a shared table by one of its holders ([`AddressSpaceTables::make_private`]), be
//! it a write fault, `MAP`, `UNMAP`, `PROTECT`, page merging or the kernel writing into user memory,
//! gives that holder a table of its own first:
//!
//! - **Other holders left**: a new table gets a copy of every descriptor, each mapped frame gains a
//!   holder (it is now mapped by two tables), and every page EL0 could write becomes copy-on-write in the
//!   copy *and* in the table that stays shared, since its frame now has two holders. Then the level-2
//!   entry is switched to the copy break-before-make (invalid, ASID-wide invalidation, new entry), and the
//!   shared table loses this holder. The other holders see no change: their entries still take write
//!   access away, so a page descriptor turned from writable to copy-on-write grants them nothing new and
//!   needs no invalidation.
//! - **No other holder**: the table is this address space's already; its level-2 entry gets write access
//!   back, and the ASID's stale read-only translations are invalidated. Nothing is copied: the pages
//!   still writable in it were writable before the fork and their frames have this one holder, because
//!   every copy made of the table turned them copy-on-write.
//!
//! Then the operation proceeds on the private table as on any other: a write fault resolves its page as
//! usual (copy, reuse, zero fill). Running out of frames for the copy changes nothing: the shared table,
//! its frames and every holder stay as they were, and the caller reports `OutOfFrames`.
//!
//! Teardown ([`AddressSpaceTables::destroy`]) drops one holder of a shared table and releases its frames
//! only with the last holder. The audit counts a shared table's mappings once, however many address
//! spaces reach it ([`AddressSpaceTables::for_each_table`]).
//!
//! Device memory is never shared (it is not counted in the frame table): an address space mapping any
//! forks page by page ([`super::fork`]), which refuses it.

use core::ops::Range;

use super::present::Present;
use super::{AddressSpaceTables, ForkCounts, ForkError, MapError};
use crate::addr::{Frame, Page, VirtAddr};
use crate::translation::descriptor::{INVALID, user_table_descriptor, with_table_write_protection};
use crate::translation::{Level, PageFlags, ShareRefused, TableMemory, TlbMaintenance};

/// What a page maps, and whether it is reached through a shared (write-protected) level-3 table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    pub frame: Frame,
    /// The page descriptor's flags. In a shared table, `writable` is what the page will be once the table
    /// is private again; until then nothing can write it.
    pub flags: PageFlags,
    /// The level-3 table holding the page's descriptor.
    pub table: Frame,
    /// The level-2 entry takes write access away: the table has (or had) other holders.
    pub shared_table: bool,
}

impl Leaf {
    /// Whether a write to the page goes through now, without a fault.
    pub fn writable_now(&self) -> bool {
        self.flags.writable && !self.shared_table
    }
}

/// One level-3 table as [`AddressSpaceTables::for_each_table`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableVisit {
    pub table: Frame,
    /// The first page the table maps.
    pub first_page: Page,
    /// Level-2 entries (in every address space) pointing at it.
    pub holders: usize,
    /// This address space's level-2 entry takes write access away.
    pub write_protected: bool,
}

impl<M: TableMemory, T: TlbMaintenance> AddressSpaceTables<M, T> {
    /// What `page` maps, if anything, with whether its table is shared: one walk.
    pub fn lookup(&mut self, page: Page) -> Option<Leaf> {
        if !page.is_user() {
            return None;
        }
        let walk = self.walk(page);
        let table = walk.level3?;
        let (frame, flags) = self.leaf(table, page)?;
        Some(Leaf { frame, flags, table, shared_table: walk.level3_protected })
    }

    /// Gives this address space its own level-3 table for `page`, if the one it has is shared (see the
    /// module documentation), and returns the table. `OutOfFrames` (nothing changed) if the copy finds no
    /// frame, or a frame's count is at its limit; `NotMapped` if no table covers `page`.
    pub fn make_private(&mut self, page: Page) -> Result<Frame, MapError> {
        let walk = self.walk(page);
        let (Some(level2), Some(shared)) = (walk.level2, walk.level3) else {
            return Err(MapError::NotMapped(page));
        };
        if !walk.level3_protected {
            return Ok(shared);
        }
        let index2 = page.table_index(Level::Two);
        if self.memory.table_holders(shared) == 1 {
            let descriptor = self.memory.entries(level2)[index2];
            self.memory.write_entry(level2, index2, with_table_write_protection(descriptor, false));
            self.invalidate_all();
            return Ok(shared);
        }
        // The copy first, its frames' holders taken for the whole table at once; only then is the
        // table that stays shared changed, so that a refusal leaves everything as it was.
        let copy = self.memory.alloc_table()?;
        // Both tables end up with the same descriptors: the shared one's, writable pages made COW. Worked
        // out once, in a copy on the stack, in one pass over plain memory.
        let mut entries = *self.memory.entries(shared);
        let mut made_cow = false;
        for descriptor in &mut entries {
            if let Some(cow) = PageFlags::copy_on_write_descriptor(*descriptor) {
                *descriptor = cow;
                made_cow = true;
            }
        }
        self.memory.write_entries(copy, &entries);
        if let Err(ShareRefused) = self.memory.share_mapped_frames(copy) {
            self.memory.free_table(copy);
            return Err(MapError::OutOfFrames);
        }
        if made_cow {
            self.memory.write_entries(shared, &entries);
        }
        self.tlb.publish_tables();
        // Break-before-make on the level-2 entry: the walk must never find the old and the new table at
        // once for one address.
        self.memory.write_entry(level2, index2, INVALID);
        self.invalidate_all();
        self.memory.write_entry(level2, index2, user_table_descriptor(copy));
        self.tlb.publish_tables();
        // Another holder may have left since the count was read (on another core): then this was the
        // last, and the table goes as a private one would, its frames' holds with it.
        if !self.memory.leave_shared_table(shared) {
            self.memory.release_mapped_frames(shared);
            self.memory.free_table(shared);
        }
        Ok(copy)
    }

    /// Makes every level-3 table that maps part of `pages` this address space's own
    /// ([`AddressSpaceTables::make_private`]), so that changing those pages needs no frame any more. On
    /// `OutOfFrames`, the tables done so far stay private (which no holder can tell), the rest shared.
    pub fn make_range_private(&mut self, pages: Range<Page>) -> Result<(), MapError> {
        let end = pages.end.min(Page::containing(VirtAddr::USER_END));
        let mut at = pages.start;
        while at < end {
            if self.walk(at).level3_protected {
                self.make_private(at)?;
            }
            at = Self::next_boundary(at, Level::Two);
        }
        Ok(())
    }

    /// Whether the level-3 table covering `page` is shared (its level-2 entry takes write access away).
    pub fn in_shared_table(&mut self, page: Page) -> bool {
        page.is_user() && self.walk(page).level3_protected
    }

    /// Every TLB entry of this address space, on every core, after changes all over it.
    pub(super) fn invalidate_all(&mut self) {
        self.tlb.invalidate_asid();
    }

    /// Fork by sharing level-3 tables: `child` (empty, never run) gets level-1 and level-2 tables of its
    /// own whose entries point at these level-3 tables, each of which gains a holder; every such entry,
    /// here and in the child, takes write access away. Then one ASID-wide invalidation here. An address
    /// space mapping device memory, or table memory that will not share, forks page by page instead
    /// ([`AddressSpaceTables::share_pages_into`]).
    ///
    /// On failure (`ChildMap` with `OutOfFrames`: no frame for a child table) the child holds what it was
    /// given, each table with its holder: destroy it. The tables shared here by then stay write-protected
    /// here; their next write makes them private again, without a copy when the child is gone.
    pub fn share_tables_into<T2: TlbMaintenance>(
        &mut self,
        child: &mut AddressSpaceTables<M, T2>,
    ) -> Result<ForkCounts, ForkError<ShareRefused>> {
        self.share_tables_into_except(child, None)
    }

    /// [`AddressSpaceTables::share_tables_into`], except that the level-3 table mapping `hot` (if any,
    /// and if it is not shared already) is forked page by page: the table of the parent's stack, which
    /// both sides write the moment `FORK` returns. Shared, it is copied whole (512 entries) by the first
    /// of those writes; page by page, each costs a one-page copy-on-write fault (measured: an empty
    /// task's fork+exit+wait 36.9 us instead of 40.4).
    pub fn share_tables_into_except<T2: TlbMaintenance>(
        &mut self,
        child: &mut AddressSpaceTables<M, T2>,
        hot: Option<Page>,
    ) -> Result<ForkCounts, ForkError<ShareRefused>> {
        if child.table_frames() != 1 {
            return Err(ForkError::ChildNotEmpty);
        }
        if self.device_pages > 0 {
            return self.share_pages_into(child);
        }
        let mut counts = ForkCounts::default();
        let hot = hot.filter(|page| page.is_user());
        let hot = hot.map(|page| (page.table_index(Level::One), page.table_index(Level::Two)));
        let result = self.share_tables(child, hot, &mut counts);
        if counts.tables_shared > 0 || counts.pages_made_cow > 0 {
            self.invalidate_all();
        }
        child.tlb.publish_tables();
        result.map(|()| counts)
    }

    fn share_tables<T2: TlbMaintenance>(
        &mut self,
        child: &mut AddressSpaceTables<M, T2>,
        hot: Option<(usize, usize)>,
        counts: &mut ForkCounts,
    ) -> Result<(), ForkError<ShareRefused>> {
        let root = self.root;
        for index1 in Present::of(&mut self.memory, root) {
            let Some(level2) = self.next_table(root, Level::One, index1) else { continue };
            let child_level2 = child.memory.alloc_table().map_err(|_| ForkError::ChildMap {
                page: Page::from_number((index1 << 18) as u64),
                error: MapError::OutOfFrames,
            })?;
            child.memory.write_entry(child.root, index1, user_table_descriptor(child_level2));
            child.table_frames += 1;
            for index2 in Present::of(&mut self.memory, level2) {
                let descriptor = self.memory.entries(level2)[index2];
                let Some((level3, protected)) = self.next_link(level2, index2) else { continue };
                // A hot table already shared stays shared: copying it would cost what its next write does.
                let is_hot = hot == Some((index1, index2)) && !protected;
                if is_hot || self.memory.share_table(level3).is_err() {
                    // The hot table, or one whose count is at its limit: copied page by page.
                    let first = Page::from_number(((index1 << 18) | (index2 << 9)) as u64);
                    let share = &mut Self::share_whole_table;
                    self.copy_table_into(level3, first, child, child_level2, index2, counts, share)?;
                    continue;
                }
                let protected = with_table_write_protection(descriptor, true);
                if protected != descriptor {
                    self.memory.write_entry(level2, index2, protected);
                }
                child.memory.write_entry(child_level2, index2, protected);
                child.table_frames += 1;
                counts.tables_shared += 1;
            }
        }
        Ok(())
    }

    /// Visits every level-3 table (`visit_table`, in address order) and, where `visit_table` says so,
    /// its mappings: how the audit counts a shared table's mappings once, however many address spaces
    /// reach it.
    pub fn for_each_table(
        &mut self,
        visit_table: impl FnMut(TableVisit) -> bool,
        mut on_mapping: impl FnMut(Page, Frame, PageFlags),
    ) {
        self.for_each_table_with_memory(visit_table, |_, page, frame, flags| on_mapping(page, frame, flags));
    }

    /// [`AddressSpaceTables::for_each_table`], handing `on_mapping` the memory too: for walks that ask
    /// it about each frame (how many holders it has) as they go.
    pub fn for_each_table_with_memory(
        &mut self,
        mut visit_table: impl FnMut(TableVisit) -> bool,
        mut on_mapping: impl FnMut(&mut M, Page, Frame, PageFlags),
    ) {
        let root = self.root;
        for index1 in Present::of(&mut self.memory, root) {
            let Some(level2) = self.next_table(root, Level::One, index1) else { continue };
            for index2 in Present::of(&mut self.memory, level2) {
                let Some((level3, write_protected)) = self.next_link(level2, index2) else { continue };
                let first_page = Page::from_number(((index1 << 18) | (index2 << 9)) as u64);
                let holders = self.memory.table_holders(level3);
                if !visit_table(TableVisit { table: level3, first_page, holders, write_protected }) {
                    continue;
                }
                for index3 in Present::of(&mut self.memory, level3) {
                    if let Some((frame, flags)) = self.leaf_at(level3, index3) {
                        on_mapping(&mut self.memory, first_page + index3, frame, flags);
                    }
                }
            }
        }
    }
}
