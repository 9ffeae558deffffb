//! One address space's translation tables: the operations the memory manager performs on them, in the
//! order the architecture requires.
//!
//! [`AddressSpaceTables`] owns the level-1 table a task's `TTBR0_EL1` points at and every table below it.
//! User space is mapped with 4 KiB pages only (no blocks), so that every page has its own frame, reference
//! count and copy-on-write state. The operations and their discipline:
//!
//! - [`map`](AddressSpaceTables::map): allocates any missing tables, zeroed and published before they are
//!   linked, then writes the page descriptor and publishes it. Invalid to valid needs no TLB maintenance.
//! - [`unmap`](AddressSpaceTables::unmap): writes the descriptor invalid, and invalidates the page's TLB
//!   entry before anyone may reuse the frame. A level-3 or level-2 table left empty is unlinked and freed
//!   in the same step: its parent descriptor is written invalid before the one invalidation (a `TLBI VAE1`
//!   evicts the page's cached walk at every level), and the frame is freed only after it. Freeing
//!   eagerly keeps what an address space costs proportional to what it maps, and means unmapping
//!   everything leaves just the root. Finding out that a table is empty costs a scan of its 512
//!   descriptors, cheap next to the TLB maintenance that comes with every unmap.
//! - [`protect`](AddressSpaceTables::protect): a change of permissions or software bits on the same frame
//!   is written in place: the Arm ARM (D8.16.1, "Using break-before-make when updating translation table
//!   entries") does not require break-before-make for it, since either translation is acceptable until
//!   the invalidation completes. The invalidation is still needed, or a core could go on writing through a
//!   stale writable entry (fatal for copy-on-write). A change of memory type or of nG does need
//!   break-before-make, and gets it.
//! - [`replace`](AddressSpaceTables::replace): a new frame for a mapped page, as a copy-on-write fault
//!   does. Changing the output address of a valid descriptor needs **break-before-make**: write it
//!   invalid, invalidate the TLB by VA and ASID (and wait), then write the new descriptor. Without the
//!   break, the TLB could hold the old and the new translation at once (a TLB conflict), or a core could
//!   keep writing the old, shared frame after the copy was made.
//!
//! - [`share_into`](AddressSpaceTables::share_into) (in [`fork`]): maps every page into a child address
//!   space on the same frame, making writable pages copy-on-write in both.
//!
//! Between the break and the make, the page is unmapped: another core touching it takes a translation
//! fault, which the fault handler must treat as "retry once the address space lock is free". cowpi runs
//! tasks on one core today, so it does not happen yet.
//!
//! Tables are only ever edited through these operations, which is what lets the walks
//! ([`for_each_mapping`](AddressSpaceTables::for_each_mapping),
//! [`for_each_table_frame`](AddressSpaceTables::for_each_table_frame)) treat anything unexpected in them
//! (a block, a descriptor cowpi would never write) as corruption and panic.

use core::fmt;
use core::ops::Range;

use super::descriptor::{DescriptorKind, INVALID, is_write_protected_table, user_table_descriptor};
use super::{FlagsError, Level, MemoryType, PageFlags, TableMemory, TlbMaintenance};
use crate::addr::{Frame, PAGE_SIZE, Page, VirtAddr};
use crate::asid::Asid;
use crate::frame_table::OutOfFrames;

pub mod entry;
pub mod fork;
pub mod present;
pub mod share;

pub use entry::{PageEntry, VacantPage};
pub use fork::{ForkCounts, ForkError};
use present::Present;
pub use share::{Leaf, TableVisit};

/// Why a mapping operation refused. Nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// The page is not in user space: these tables translate only `TTBR0_EL1` addresses.
    NotUserPage(Page),
    /// [`AddressSpaceTables::map`] of a page that is already mapped.
    AlreadyMapped(Page),
    /// [`AddressSpaceTables::protect`] or [`AddressSpaceTables::replace`] of a page that is not mapped.
    NotMapped(Page),
    /// Kernel-only flags: a user address space maps only user pages.
    KernelOnlyFlags,
    /// The flags break a rule (W^X and the others), or the frame is out of a descriptor's reach.
    Flags(FlagsError),
    /// No frame for a new translation table.
    OutOfFrames,
}

impl From<FlagsError> for MapError {
    fn from(error: FlagsError) -> MapError {
        MapError::Flags(error)
    }
}

impl From<OutOfFrames> for MapError {
    fn from(_: OutOfFrames) -> MapError {
        MapError::OutOfFrames
    }
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::NotUserPage(page) => write!(f, "{page} is not in user space"),
            MapError::AlreadyMapped(page) => write!(f, "{page} is already mapped"),
            MapError::NotMapped(page) => write!(f, "{page} is not mapped"),
            MapError::KernelOnlyFlags => f.write_str("kernel-only flags in a user address space"),
            MapError::Flags(error) => write!(f, "{error}"),
            MapError::OutOfFrames => f.write_str("out of frames for translation tables"),
        }
    }
}

/// The value of `TTBR0_EL1` that runs the tables whose level-1 table is `root` with `asid`: the root's
/// address in BADDR, the ASID in bits 63:48 (`TCR_EL1.A1` = 0, so TTBR0 supplies the ASID).
pub fn ttbr0_el1(root: Frame, asid: Asid) -> u64 {
    root.start_address().as_u64() | (u64::from(asid.as_u16()) << 48)
}

/// The tables of one user address space, and the memory and TLB maintenance they are edited with.
///
/// `M` and `T` are usually zero-sized handles to the kernel's frame allocator, linear map and TLB
/// instructions; host tests pass recording ones. Dropping the tables without
/// [`AddressSpaceTables::destroy`] leaks their frames (the memory audit reports it).
pub struct AddressSpaceTables<M: TableMemory, T: TlbMaintenance> {
    /// The level-1 table: what `TTBR0_EL1` points at.
    root: Frame,
    /// Table frames in use, the root included (a shared level-3 table counts in each holder).
    table_frames: usize,
    /// Pages mapped as device memory: while there are any, fork maps page by page, since device memory
    /// is neither shared nor counted (see [`share`]).
    device_pages: usize,
    memory: M,
    tlb: T,
}

/// The tables on the way to one page's descriptor, as far as they exist.
#[derive(Default)]
struct Walk {
    level2: Option<Frame>,
    level3: Option<Frame>,
    /// The level-2 entry to `level3` takes write access away: the table is (or was) shared.
    level3_protected: bool,
}

impl<M: TableMemory, T: TlbMaintenance> AddressSpaceTables<M, T> {
    /// An empty address space: a root table with nothing mapped.
    pub fn new(mut memory: M, tlb: T) -> Result<AddressSpaceTables<M, T>, OutOfFrames> {
        let root = memory.alloc_table()?;
        Ok(AddressSpaceTables { root, table_frames: 1, device_pages: 0, memory, tlb })
    }

    /// The level-1 table.
    pub fn root(&self) -> Frame {
        self.root
    }

    /// Frames holding this address space's tables, the root included.
    pub fn table_frames(&self) -> usize {
        self.table_frames
    }

    pub fn memory(&self) -> &M {
        &self.memory
    }

    pub fn memory_mut(&mut self) -> &mut M {
        &mut self.memory
    }

    pub fn tlb(&self) -> &T {
        &self.tlb
    }

    pub fn tlb_mut(&mut self) -> &mut T {
        &mut self.tlb
    }

    /// Maps `page` to `frame`, creating the tables on the way. The caller has given the mapping its
    /// reference to `frame` (see [`crate::FrameTable::share`]).
    pub fn map(&mut self, page: Page, frame: Frame, flags: PageFlags) -> Result<(), MapError> {
        let descriptor = Self::user_descriptor(page, frame, flags)?;
        let walk = self.walk(page);
        if let Some(level3) = walk.level3
            && self.leaf(level3, page).is_some()
        {
            return Err(MapError::AlreadyMapped(page));
        }
        self.map_vacant(page, walk, descriptor, flags)
    }

    /// [`AddressSpaceTables::map`] of a page `walk` found vacant ([`AddressSpaceTables::entry`]).
    fn map_walked(&mut self, page: Page, walk: Walk, frame: Frame, flags: PageFlags) -> Result<(), MapError> {
        let descriptor = Self::user_descriptor(page, frame, flags)?;
        self.map_vacant(page, walk, descriptor, flags)
    }

    fn map_vacant(
        &mut self,
        page: Page,
        mut walk: Walk,
        descriptor: u64,
        flags: PageFlags,
    ) -> Result<(), MapError> {
        if walk.level3_protected {
            walk.level3 = Some(self.make_private(page)?);
        }
        // Allocate every missing table before linking any, so that running out leaves nothing to undo, and
        // publish their zeroes before the walker can find them.
        let level3 = match (walk.level2, walk.level3) {
            (Some(_), Some(level3)) => level3,
            (Some(level2), None) => {
                let level3 = self.memory.alloc_table()?;
                self.tlb.publish_tables();
                self.link(level2, Level::Two, page, level3);
                level3
            }
            (None, _) => {
                let level2 = self.memory.alloc_table()?;
                let level3 = match self.memory.alloc_table() {
                    Ok(level3) => level3,
                    Err(error) => {
                        self.memory.free_table(level2);
                        return Err(error.into());
                    }
                };
                self.tlb.publish_tables();
                self.link(self.root, Level::One, page, level2);
                self.link(level2, Level::Two, page, level3);
                level3
            }
        };
        self.memory.write_entry(level3, page.table_index(Level::Three), descriptor);
        self.tlb.publish_tables();
        self.count_device(flags, 1);
        Ok(())
    }

    /// Unmaps `page`, returning the frame and flags it had so that the caller can drop the mapping's
    /// reference to the frame; `Ok(None)` if it was not mapped. When this returns, no core can reach the
    /// frame through this page any more. Tables left empty are freed. In a shared level-3 table, the
    /// table is first made this address space's own ([`AddressSpaceTables::make_private`]), which needs a
    /// frame: `OutOfFrames` if there is none, and nothing changed.
    pub fn unmap(&mut self, page: Page) -> Result<Option<(Frame, PageFlags)>, MapError> {
        if !page.is_user() {
            return Ok(None);
        }
        let walk = self.walk(page);
        let (Some(level2), Some(mut level3)) = (walk.level2, walk.level3) else { return Ok(None) };
        let Some(old) = self.leaf(level3, page) else { return Ok(None) };
        if walk.level3_protected {
            level3 = self.make_private(page)?;
        }
        self.memory.write_entry(level3, page.table_index(Level::Three), INVALID);
        // Unlink the tables this leaves empty, bottom up; free them only once the TLB has let go.
        let mut emptied = [None, None];
        if self.is_empty_around(level3, page.table_index(Level::Three)) {
            self.memory.write_entry(level2, page.table_index(Level::Two), INVALID);
            emptied[0] = Some(level3);
            if self.is_empty(level2) {
                self.memory.write_entry(self.root, page.table_index(Level::One), INVALID);
                emptied[1] = Some(level2);
            }
        }
        self.invalidate(page);
        for table in emptied.into_iter().flatten() {
            self.memory.free_table(table);
            self.table_frames -= 1;
        }
        self.count_device(old.1, -1);
        Ok(Some(old))
    }

    /// Changes the flags of a mapped page, keeping its frame, and returns the old flags. Permission and
    /// software-bit changes are made in place, then invalidated; a change of memory type or of global
    /// needs break-before-make and gets it (see the module documentation).
    pub fn protect(&mut self, page: Page, flags: PageFlags) -> Result<PageFlags, MapError> {
        let leaf = self.mapped_leaf(page)?;
        self.protect_leaf(page, &leaf, flags)
    }

    /// [`AddressSpaceTables::protect`] of a page that [`AddressSpaceTables::lookup`] (or
    /// [`AddressSpaceTables::entry`]) just found as `leaf`, nothing changed since: the fault path's form,
    /// with no second walk and no decoding of the old descriptor.
    pub fn protect_leaf(&mut self, page: Page, leaf: &Leaf, flags: PageFlags) -> Result<PageFlags, MapError> {
        let descriptor = Self::user_descriptor(page, leaf.frame, flags)?;
        let old = leaf.flags;
        if flags == old {
            return Ok(old);
        }
        let table = if leaf.shared_table { self.make_private(page)? } else { leaf.table };
        if old.memory != flags.memory || old.global != flags.global {
            self.break_before_make(table, page, descriptor);
        } else {
            self.rewrite_in_place(table, page, descriptor);
        }
        self.count_device(old, -1);
        self.count_device(flags, 1);
        Ok(old)
    }

    /// Maps a mapped page to `frame` instead, with break-before-make, and returns the old frame and flags
    /// so that the caller can drop the old mapping's reference. The copy-on-write fault: the copy is made
    /// first, then swapped in here.
    pub fn replace(
        &mut self,
        page: Page,
        frame: Frame,
        flags: PageFlags,
    ) -> Result<(Frame, PageFlags), MapError> {
        let descriptor = Self::user_descriptor(page, frame, flags)?;
        let leaf = self.mapped_leaf(page)?;
        self.swap_leaf(page, &leaf, descriptor, flags)
    }

    /// [`AddressSpaceTables::replace`] of a page that [`AddressSpaceTables::lookup`] just found as `leaf`,
    /// as [`AddressSpaceTables::protect_leaf`] is to `protect`.
    pub fn replace_leaf(
        &mut self,
        page: Page,
        leaf: &Leaf,
        frame: Frame,
        flags: PageFlags,
    ) -> Result<(Frame, PageFlags), MapError> {
        let descriptor = Self::user_descriptor(page, frame, flags)?;
        self.swap_leaf(page, leaf, descriptor, flags)
    }

    /// Puts `descriptor` (which maps a frame with `flags`) where `leaf` was, break-before-make, the
    /// table made private first if it is shared.
    fn swap_leaf(
        &mut self,
        page: Page,
        leaf: &Leaf,
        descriptor: u64,
        flags: PageFlags,
    ) -> Result<(Frame, PageFlags), MapError> {
        let table = if leaf.shared_table { self.make_private(page)? } else { leaf.table };
        self.break_before_make(table, page, descriptor);
        self.count_device(leaf.flags, -1);
        self.count_device(flags, 1);
        Ok((leaf.frame, leaf.flags))
    }

    /// The frame and flags `va` is mapped with, if it is.
    pub fn translate(&mut self, va: VirtAddr) -> Option<(Frame, PageFlags)> {
        let page = Page::containing(va);
        if !page.is_user() {
            return None;
        }
        let level3 = self.walk(page).level3?;
        self.leaf(level3, page)
    }

    /// The first mapped page in `pages`, with its frame and flags, or `None` if none is.
    ///
    /// What range operations (`UNMAP`, `PROTECT` of a whole region) step through: the walk skips a
    /// missing level-2 table's 1 GiB and a missing level-3 table's 2 MiB in one step, so the work follows
    /// what is mapped, not the size of the range. A task may reserve hundreds of GiB it never touches;
    /// stepping through them a page at a time took minutes with the address space locked.
    pub fn next_mapping(&mut self, pages: Range<Page>) -> Option<(Page, Frame, PageFlags)> {
        let end = pages.end.min(Page::containing(VirtAddr::USER_END));
        let mut at = pages.start;
        while at < end {
            let index1 = at.table_index(Level::One);
            let Some(level2) = self.next_table(self.root, Level::One, index1) else {
                at = Self::next_boundary(at, Level::One);
                continue;
            };
            let index2 = at.table_index(Level::Two);
            let Some(level3) = self.next_table(level2, Level::Two, index2) else {
                at = Self::next_boundary(at, Level::Two);
                continue;
            };
            let first = at.table_index(Level::Three);
            let in_table = (Level::ENTRIES - first).min((end.number() - at.number()) as usize);
            let entries = self.memory.entries(level3);
            if let Some(offset) = entries[first..first + in_table].iter().position(|&d| d != INVALID) {
                let page = at + offset;
                let (frame, flags) = self.leaf(level3, page)?;
                return Some((page, frame, flags));
            }
            at = at + in_table;
        }
        None
    }

    /// The first page of the next table's worth of address space at `level` above `page`'s.
    fn next_boundary(page: Page, level: Level) -> Page {
        let pages = (level.coverage() / PAGE_SIZE as u64) as usize;
        Page::from_number(page.number() - page.number() % pages as u64) + pages
    }

    /// Calls `visit` with every mapped page, in address order.
    pub fn for_each_mapping(&mut self, mut visit: impl FnMut(Page, Frame, PageFlags)) {
        self.walk_all(SharedTables::Enter, Leaves::EachMapping(&mut visit), &mut |_, _| {});
    }

    /// Calls `visit` with every frame holding one of these tables, the root last. Each is a holder of its
    /// frame, which the memory audit counts.
    pub fn for_each_table_frame(&mut self, mut visit: impl FnMut(Frame)) {
        self.walk_all(SharedTables::Enter, Leaves::Skip, &mut |_, table| visit(table));
    }

    /// Tears the address space down: calls `release` with every mapping (so that the caller drops each
    /// frame's reference) and frees every table, returning the memory and TLB handles. A level-3 table
    /// other address spaces still share loses this holder only: its mappings are theirs now, and are
    /// released with its last holder.
    ///
    /// There is no TLB maintenance: the caller guarantees that no core has the root in `TTBR0_EL1` and
    /// that no core runs the ASID again before it has flushed its TLB, which [`crate::AsidAllocator`]
    /// does (it never hands an ASID out twice in one generation, and every core flushes its own TLB
    /// before it first runs a user space in a new one).
    pub fn destroy(mut self, mut release: impl FnMut(Page, Frame, PageFlags)) -> (M, T) {
        self.walk_all(SharedTables::Leave, Leaves::EachMapping(&mut release), &mut |memory, table| {
            memory.free_table(table)
        });
        (self.memory, self.tlb)
    }

    /// [`AddressSpaceTables::destroy`], with the memory dropping the holders itself: one
    /// [`TableMemory::release_mapped_frames`] per level-3 table this address space alone holds, which
    /// memory that counts holders under a lock does under one lock per table instead of one per page.
    /// What the kernel's teardown uses.
    pub fn destroy_releasing(mut self) -> (M, T) {
        let release = &mut |memory: &mut M, table| memory.release_mapped_frames(table);
        self.walk_all(SharedTables::Leave, Leaves::EachTable(release), &mut |memory, table| {
            memory.free_table(table)
        });
        (self.memory, self.tlb)
    }

    /// The page descriptor for mapping `frame` at `page` in user space, or why not.
    fn user_descriptor(page: Page, frame: Frame, flags: PageFlags) -> Result<u64, MapError> {
        if !page.is_user() {
            return Err(MapError::NotUserPage(page));
        }
        if !flags.user {
            return Err(MapError::KernelOnlyFlags);
        }
        Ok(flags.to_descriptor(frame)?)
    }

    /// What `page` maps, as [`AddressSpaceTables::lookup`] says; `NotUserPage` or `NotMapped` if nothing.
    fn mapped_leaf(&mut self, page: Page) -> Result<Leaf, MapError> {
        if !page.is_user() {
            return Err(MapError::NotUserPage(page));
        }
        self.lookup(page).ok_or(MapError::NotMapped(page))
    }

    /// A change of permissions or software bits on the same frame and memory type: write, invalidate.
    fn rewrite_in_place(&mut self, level3: Frame, page: Page, descriptor: u64) {
        self.memory.write_entry(level3, page.table_index(Level::Three), descriptor);
        self.invalidate(page);
    }

    /// Write invalid, invalidate, write the new descriptor, publish.
    fn break_before_make(&mut self, level3: Frame, page: Page, descriptor: u64) {
        let index = page.table_index(Level::Three);
        self.memory.write_entry(level3, index, INVALID);
        self.invalidate(page);
        self.memory.write_entry(level3, index, descriptor);
        self.tlb.publish_tables();
    }

    fn invalidate(&mut self, page: Page) {
        self.tlb.invalidate_page(page);
    }

    /// Links the new, empty table `next` into `table` (at `level`) on the way to `page`.
    fn link(&mut self, table: Frame, level: Level, page: Page, next: Frame) {
        self.memory.write_entry(table, page.table_index(level), user_table_descriptor(next));
        self.table_frames += 1;
    }

    fn walk(&mut self, page: Page) -> Walk {
        let level2 = self.next_table(self.root, Level::One, page.table_index(Level::One));
        let link = level2.and_then(|table| self.next_link(table, page.table_index(Level::Two)));
        Walk {
            level2,
            level3: link.map(|(level3, _)| level3),
            level3_protected: link.is_some_and(|(_, protected)| protected),
        }
    }

    /// The level-3 table that entry `index` of `level2` points to, if any, and whether the entry takes
    /// write access away from it.
    fn next_link(&mut self, level2: Frame, index: usize) -> Option<(Frame, bool)> {
        let descriptor = self.memory.entries(level2)[index];
        match DescriptorKind::of(Level::Two, descriptor) {
            DescriptorKind::Invalid if descriptor == INVALID => None,
            DescriptorKind::Table(next) => Some((next, is_write_protected_table(descriptor))),
            _ => corrupt(level2, index, descriptor),
        }
    }

    /// Keeps [`AddressSpaceTables::device_pages`] as a mapping with `flags` comes (`+1`) or goes (`-1`).
    fn count_device(&mut self, flags: PageFlags, change: isize) {
        if flags.memory == MemoryType::Device {
            self.device_pages = self.device_pages.wrapping_add_signed(change);
        }
    }

    /// The table that entry `index` of `table` (at `level`) points to, if any.
    fn next_table(&mut self, table: Frame, level: Level, index: usize) -> Option<Frame> {
        let descriptor = self.memory.entries(table)[index];
        match DescriptorKind::of(level, descriptor) {
            DescriptorKind::Invalid if descriptor == INVALID => None,
            DescriptorKind::Table(next) => Some(next),
            _ => corrupt(table, index, descriptor),
        }
    }

    /// What `page`'s descriptor in `level3` maps, if anything.
    fn leaf(&mut self, level3: Frame, page: Page) -> Option<(Frame, PageFlags)> {
        self.leaf_at(level3, page.table_index(Level::Three))
    }

    fn leaf_at(&mut self, level3: Frame, index: usize) -> Option<(Frame, PageFlags)> {
        Self::decode_leaf(&mut self.memory, level3, index)
    }

    fn decode_leaf(memory: &mut M, level3: Frame, index: usize) -> Option<(Frame, PageFlags)> {
        let descriptor = memory.entries(level3)[index];
        if descriptor == INVALID {
            return None;
        }
        match PageFlags::from_descriptor(descriptor) {
            Ok(mapping) => Some(mapping),
            Err(_) => corrupt(level3, index, descriptor),
        }
    }

    /// Whether `table` is empty, entry `index` having just been cleared. The neighbours are looked at
    /// first: a range unmapped in either direction finds one still valid at once, where scanning from
    /// the start made unmapping a whole table cost 512 * 512 / 2 reads.
    fn is_empty_around(&mut self, table: Frame, index: usize) -> bool {
        let entries = self.memory.entries(table);
        let neighbour_valid =
            |i: Option<usize>| i.and_then(|i| entries.get(i)).is_some_and(|&d| d != INVALID);
        if neighbour_valid(index.checked_add(1)) || neighbour_valid(index.checked_sub(1)) {
            return false;
        }
        entries.iter().all(|&descriptor| descriptor == INVALID)
    }

    fn is_empty(&mut self, table: Frame) -> bool {
        self.memory.entries(table).iter().all(|&descriptor| descriptor == INVALID)
    }

    /// Visits the mappings in address order as `leaves` asks, and every table after its entries (so a
    /// table may be freed by `on_table`), the root last. A level-3 table with other holders goes as
    /// `shared_tables` says (its mappings are not this address space's alone to release).
    fn walk_all(
        &mut self,
        shared_tables: SharedTables,
        mut leaves: Leaves<'_, M>,
        on_table: &mut dyn FnMut(&mut M, Frame),
    ) {
        let root = self.root;
        for index1 in Present::of(&mut self.memory, root) {
            let Some(level2) = self.next_table(root, Level::One, index1) else { continue };
            for index2 in Present::of(&mut self.memory, level2) {
                let Some(level3) = self.next_table(level2, Level::Two, index2) else { continue };
                let skip = match shared_tables {
                    SharedTables::Enter => false,
                    #[cfg(test)]
                    SharedTables::Skip => self.memory.table_holders(level3) > 1,
                    // A table someone else still holds keeps its frames; the last holder frees it as its
                    // own.
                    SharedTables::Leave => self.memory.leave_shared_table(level3),
                };
                if skip {
                    continue;
                }
                match &mut leaves {
                    Leaves::Skip => {}
                    Leaves::EachTable(visit) => visit(&mut self.memory, level3),
                    Leaves::EachMapping(visit) => {
                        for index3 in Present::of(&mut self.memory, level3) {
                            if let Some((frame, flags)) = self.leaf_at(level3, index3) {
                                // Lossless: each index is below 512.
                                let number = ((index1 << 18) | (index2 << 9) | index3) as u64;
                                visit(Page::from_number(number), frame, flags);
                            }
                        }
                    }
                }
                on_table(&mut self.memory, level3);
            }
            on_table(&mut self.memory, level2);
        }
        on_table(&mut self.memory, root);
    }
}

impl<M: TableMemory, T: TlbMaintenance> fmt::Debug for AddressSpaceTables<M, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddressSpaceTables")
            .field("root", &self.root)
            .field("table_frames", &self.table_frames)
            .field("device_pages", &self.device_pages)
            .finish_non_exhaustive()
    }
}

/// What [`AddressSpaceTables::walk_all`] does with a level-3 table another address space holds too.
#[derive(Clone, Copy)]
enum SharedTables {
    /// Walks it like any other.
    Enter,
    /// Passes it by, leaves and `on_table` alike (for tests that look at what teardown would walk).
    #[cfg(test)]
    Skip,
    /// Drops this address space's hold on it and passes it by, unless this is its last holder: then it is
    /// walked (and freed by `on_table`) as this space's own. For teardown.
    Leave,
}

/// What [`AddressSpaceTables::walk_all`] does with the level-3 tables it passes.
enum Leaves<'a, M> {
    /// Nothing: only the tables are wanted.
    Skip,
    /// Calls this with each mapping.
    EachMapping(&'a mut dyn FnMut(Page, Frame, PageFlags)),
    /// Calls this with each level-3 table, before `on_table`.
    EachTable(&'a mut dyn FnMut(&mut M, Frame)),
}

/// A descriptor that this module never writes: the tables were overwritten behind its back.
#[cold]
fn corrupt(table: Frame, index: usize, descriptor: u64) -> ! {
    panic!("corrupt translation table in {table}: entry {index} holds {descriptor:#x}")
}

#[cfg(test)]
mod tests;
