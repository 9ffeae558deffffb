//! A user task's address space: its translation tables (in `TTBR0_EL1` while it runs), its regions, and
//! its ASID.
//!
//! The table logic (descriptor encoding, map/unmap/protect with break-before-make, table freeing) is the
//! host-tested `cowpi_mm::AddressSpaceTables`; this file gives it the kernel's memory and TLB: tables live
//! in frames from the frame table, reached through the linear map, and TLB maintenance is the broadcast
//! `TLBI VAE1IS` by VA and ASID with the barriers the Arm ARM asks for (D8.14, "TLB maintenance"). Every
//! page a task can touch is listed in its [`Regions`], so a fault or a system-call pointer outside them is
//! an error, not a guess. Each mapping holds one reference on its frame, and each table frame one on
//! itself: the memory audit counts exactly these.

use alloc::vec::Vec;
use core::mem::ManuallyDrop;

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, Readable, TTBR0_EL1, Writeable};
use cowpi_abi::{Error, layout};
use cowpi_mm::regions::{Access, Region, RegionError};
use cowpi_mm::{
    AddressSpaceTables, Asid, AsidAllocator, AsidBits, Frame, Leaf, MapError, OutOfFrames, PAGE_SIZE, Page,
    PageEntry, PageFlags, Prot, RegionKind, Regions, ShareRefused, TableMemory, TableVisit, TaggedAsid,
    TlbMaintenance, VirtAddr,
};
use cowpi_mm::{EagerCopy, WriteFault, decide_eager_copy, decide_protect, decide_write_fault};

use super::{counters, frame_pointer, frames, ksm, zero_page};
use crate::arch::mmu::boot_map;

/// Translation tables in frames of the frame table, reached through the linear map.
pub struct KernelTableMemory;

impl TableMemory for KernelTableMemory {
    fn alloc_table(&mut self) -> Result<Frame, OutOfFrames> {
        frames::alloc_zeroed()
    }

    fn free_table(&mut self, frame: Frame) {
        frames::drop_holder(frame);
    }

    fn share_table(&mut self, table: Frame) -> Result<(), ShareRefused> {
        frames::share(table).map(drop).map_err(|_| ShareRefused)
    }

    fn table_holders(&mut self, table: Frame) -> usize {
        frames::refcount(table) as usize
    }

    fn share_frame(&mut self, frame: Frame, flags: PageFlags) -> Result<(), ShareRefused> {
        frames::share(frame).map_err(|_| ShareRefused)?;
        // A copy of a zero page merging made is one more such page (Linux's `ksm_fork` counts the same).
        ksm::mapping_added(flags);
        Ok(())
    }

    fn share_mapped_frames(&mut self, table: Frame) -> Result<(), ShareRefused> {
        let mapped = MappedFrames(self.entries(table));
        // One lock for the whole table: what makes copying a shared table or forking page by page cost
        // tens of instructions per page rather than hundreds.
        frames::with_table(|frames| frames.share_all(mapped.frames())).map_err(|_| ShareRefused)?;
        // Each copy of a zero page merging made is one more such page (Linux's `ksm_fork` counts the same).
        ksm::zero_pages_added(mapped.ksm_zero_pages());
        Ok(())
    }

    fn release_frame(&mut self, frame: Frame, flags: PageFlags) {
        frames::drop_holder(frame);
        ksm::mapping_removed(flags);
    }

    fn release_mapped_frames(&mut self, table: Frame) {
        let mapped = MappedFrames(self.entries(table));
        // One lock for the table's 512 pages, as in `share_mapped_frames`.
        if let Err(error) = frames::with_table(|frames| frames.release_all(mapped.frames())) {
            panic!("kernel bug: tearing down the table in {table}: {error}");
        }
        ksm::zero_pages_removed(mapped.ksm_zero_pages());
    }

    fn entries(&mut self, table: Frame) -> &mut [u64; 512] {
        // SAFETY: `table` is a table frame this address space holds (allocated by `alloc_table`), mapped
        // read-write in the linear map and used for nothing else while it is held.
        unsafe { &mut *frame_pointer(table).cast::<[u64; 512]>() }
    }

    fn write_entry(&mut self, table: Frame, index: usize, descriptor: u64) {
        // A single volatile 64-bit store: the MMU may walk the table at any moment, and the first store of
        // a break-before-make must not be optimised away.
        // SAFETY: as in `entries`; `index` < 512 is checked by the slice index.
        unsafe { core::ptr::write_volatile(&mut self.entries(table)[index], descriptor) };
    }

    fn write_entries(&mut self, table: Frame, entries: &[u64; 512]) {
        let live = self.entries(table);
        for (slot, &descriptor) in live.iter_mut().zip(entries) {
            if *slot != descriptor {
                // SAFETY: as in `write_entry`: one volatile 64-bit store into the table, which the walker
                // may read at any moment.
                unsafe { core::ptr::write_volatile(slot, descriptor) };
            }
        }
    }
}

/// The valid descriptors of a level-3 table, read for what a whole table's holders need: its frames, and
/// how many of them are zero pages page merging made (which `ksm::zero_pages` counts).
struct MappedFrames<'t>(&'t [u64; 512]);

impl MappedFrames<'_> {
    fn frames(&self) -> impl Iterator<Item = Frame> + Clone + '_ {
        self.0.iter().filter(|&&d| d != 0).map(|&d| PageFlags::descriptor_frame(d))
    }

    fn ksm_zero_pages(&self) -> u64 {
        self.0.iter().filter(|&&d| d != 0 && PageFlags::descriptor_is_ksm_zero_page(d)).count() as u64
    }
}

/// TLB maintenance for user mappings, broadcast to the inner-shareable domain.
pub struct KernelTlb;

impl TlbMaintenance for KernelTlb {
    fn invalidate_page(&mut self, asid: Asid, page: Page) {
        // TLBI VAE1IS operand: ASID in bits 63:48, VA[55:12] in bits 43:0. VAE1IS (not VALE1IS) also drops
        // cached table entries, which freeing an emptied table relies on.
        let operand = (u64::from(asid.as_u16()) << 48) | (page.start_address().as_u64() >> 12);
        barrier::dsb(barrier::ISHST);
        // SAFETY: TLB invalidation only drops cached translations.
        unsafe { core::arch::asm!("tlbi vae1is, {}", in(reg) operand, options(nostack, preserves_flags)) };
        barrier::dsb(barrier::ISH);
        barrier::isb(barrier::SY);
    }

    fn invalidate_asid(&mut self, asid: Asid) {
        // TLBI ASIDE1IS operand: the ASID in bits 63:48. It drops cached walks too (a shared table's
        // level-2 entry switched to a copy relies on that).
        let operand = u64::from(asid.as_u16()) << 48;
        barrier::dsb(barrier::ISHST);
        // SAFETY: TLB invalidation only drops cached translations.
        unsafe { core::arch::asm!("tlbi aside1is, {}", in(reg) operand, options(nostack, preserves_flags)) };
        barrier::dsb(barrier::ISH);
        barrier::isb(barrier::SY);
    }

    fn publish_tables(&mut self) {
        barrier::dsb(barrier::ISHST);
        barrier::isb(barrier::SY);
    }
}

/// ASID bits the CPU implements (`ID_AA64MMFR0_EL1.ASIDBits`: 8 or 16).
pub fn hardware_asid_bits() -> u32 {
    match AsidBits::from_id_aa64mmfr0_asid_bits(ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::ASIDBits)) {
        Some(AsidBits::Sixteen) => 16,
        _ => 8,
    }
}

/// A task's pages, as `ps` and `MEMSTATS` show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageCounts {
    pub resident: u64,
    pub shared: u64,
    pub zero: u64,
}

/// Why a fault could not be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultError {
    /// The access is not allowed: outside every region, or against its rights.
    Illegal,
    /// It was allowed, but no frame was left to resolve it.
    OutOfMemory,
}

/// Mappings [`AddressSpace::next_merge_candidate`] looks at in one call.
pub const CANDIDATE_LOOKS: usize = 64;

/// What [`AddressSpace::next_merge_candidate`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateSearch {
    /// A page to visit.
    Found(Page),
    /// None yet: search again from this page.
    GoOn(Page),
    /// No candidate above the page searched from.
    End,
}

pub struct AddressSpace {
    /// Torn down explicitly in `drop`, which hands every frame back.
    tables: ManuallyDrop<AddressSpaceTables<KernelTableMemory, KernelTlb>>,
    regions: Regions,
    asid: Option<TaggedAsid>,
}

/// Gives the eager-fork `child` its mapping of the parent's `page` (`frame`, `flags`): the same frame with
/// a reference for what nobody writes in place, a private copy for the rest.
fn eager_copy_page(
    child: &mut AddressSpace,
    page: Page,
    frame: Frame,
    flags: PageFlags,
) -> Result<(), Error> {
    let rights = child.regions.find(page.start_address()).map_or(Prot::NONE, Region::prot);
    let (child_frame, child_flags) = match decide_eager_copy(flags, rights) {
        Ok(EagerCopy::Share { flags }) => {
            frames::share(frame).map_err(|_| Error::OutOfMemory)?;
            (frame, flags)
        }
        Ok(EagerCopy::Copy { flags }) => (frames::alloc_copy_of(frame).map_err(out_of_memory)?, flags),
        Err(bug) => panic!("eager fork at {page}: {bug}"),
    };
    child.tables.map(page, child_frame, child_flags).map_err(|_| {
        frames::drop_holder(child_frame);
        Error::OutOfMemory
    })?;
    ksm::mapping_added(child_flags);
    Ok(())
}

fn out_of_memory(_: OutOfFrames) -> Error {
    Error::OutOfMemory
}

/// What a table operation's refusal means to the fault handler: no frame (for a table, or a shared
/// table's copy) is the task's out-of-memory; anything else, on a page the regions allow, is a kernel bug.
fn map_fault_error(error: MapError) -> FaultError {
    match error {
        MapError::OutOfFrames => FaultError::OutOfMemory,
        error => panic!("kernel bug: a fault the regions allow was refused by the tables: {error}"),
    }
}

/// What a table operation's refusal means to a system call: no frame is `OutOfMemory`.
fn map_call_error(error: MapError) -> Error {
    match error {
        MapError::OutOfFrames => Error::OutOfMemory,
        error => panic!("kernel bug: a range the regions allow was refused by the tables: {error}"),
    }
}

/// The system-call error for a region operation the ABI's checks let through: a hole is `NotMapped`, and
/// the region limit, like running out of frames, `OutOfMemory` (Linux's `ENOMEM` at `vm.max_map_count`).
fn region_error(error: RegionError) -> Error {
    match error {
        RegionError::NotMapped { .. } | RegionError::NotAnonymous { .. } => Error::NotMapped,
        RegionError::TooMany => Error::OutOfMemory,
        _ => Error::InvalidArgument,
    }
}

impl AddressSpace {
    pub fn new() -> Result<AddressSpace, Error> {
        let tables = AddressSpaceTables::new(KernelTableMemory, KernelTlb).map_err(out_of_memory)?;
        Ok(AddressSpace { tables: ManuallyDrop::new(tables), regions: Regions::new(), asid: None })
    }

    /// The ASID allocator: 8-bit ASIDs, whatever the CPU offers (see [`hardware_asid_bits`]). The boot
    /// map leaves `TCR_EL1.AS` clear, so the upper bits of TTBR0's ASID field are ignored; rollover then
    /// comes every 255 address spaces, often enough that the tests exercise it.
    pub fn asid_allocator() -> AsidAllocator {
        AsidAllocator::new(AsidBits::Eight)
    }

    /// Installs this address space in `TTBR0_EL1`, with a current-generation ASID.
    pub fn activate(&mut self, allocator: &mut AsidAllocator) {
        let assignment = allocator.assign(self.asid);
        if assignment.flush_all {
            // SAFETY: invalidating every EL1 TLB entry only costs refills.
            unsafe { core::arch::asm!("tlbi vmalle1is", options(nostack, preserves_flags)) };
            barrier::dsb(barrier::ISH);
        }
        self.asid = Some(assignment.tagged());
        self.tables.set_asid(assignment.asid);
        TTBR0_EL1.set(self.tables.ttbr0_el1().expect("an ASID was just set"));
        barrier::isb(barrier::SY);
    }

    /// Installs the empty table (no user space) in `TTBR0_EL1`.
    pub fn activate_none() {
        TTBR0_EL1.set(boot_map::empty_table_physical_address());
        barrier::isb(barrier::SY);
    }

    /// Adds the region `[start, start + pages)` with `prot`. Program images get their frames now (the
    /// loader copies the file into them); stacks and anonymous memory get none: each page is mapped on
    /// its first touch, to the shared zero page for a read and to a fresh frame for a write
    /// ([`AddressSpace::resolve_fault`]). On failure nothing stays mapped.
    fn add_region(
        &mut self,
        start: VirtAddr,
        pages: usize,
        prot: Prot,
        kind: RegionKind,
    ) -> Result<(), Error> {
        let region = Region::new(start, pages * PAGE_SIZE, prot, kind).map_err(region_error)?;
        self.regions.insert(region).map_err(region_error)?;
        if kind != RegionKind::Image {
            return Ok(());
        }
        let first = Page::containing(start);
        if let Err(error) = self.populate_image(first, pages, prot) {
            self.release_pages(first, pages);
            let _ = self.regions.remove(start..start.checked_add(pages * PAGE_SIZE).unwrap_or(start));
            return Err(error);
        }
        Ok(())
    }

    /// Gives each page of a program segment a fresh zeroed frame.
    fn populate_image(&mut self, first: Page, pages: usize, prot: Prot) -> Result<(), Error> {
        let flags = PageFlags::user(prot).map_err(|_| Error::PermissionDenied)?;
        for index in 0..pages {
            let frame = frames::alloc_zeroed().map_err(out_of_memory)?;
            if self.tables.map(first + index, frame, flags).is_err() {
                frames::drop_holder(frame);
                return Err(Error::OutOfMemory);
            }
        }
        Ok(())
    }

    /// Sets `prot` on the mapped pages of `[first, first + pages)`, each keeping its frame and contents;
    /// with no access, every EL0 access to them faults until they are given rights again. A page whose
    /// frame is shared stays read-only in hardware (`cowpi_mm::decide_protect`): a marked one keeps its
    /// mark, through no access too, an unmarked one (read-only at a fork) becomes copy-on-write, so that
    /// its next write takes a copy rather than showing in the other holders.
    fn reprotect(&mut self, first: Page, pages: usize, prot: Prot) -> Result<(), Error> {
        let wanted = PageFlags::user(prot).map_err(|_| Error::PermissionDenied)?;
        let mut pages = first..first + pages;
        while let Some((page, frame, old)) = self.tables.next_mapping(pages.clone()) {
            let flags = decide_protect(old, wanted, frames::refcount(frame));
            self.tables.protect(page, flags).map_err(|_| Error::NotMapped)?;
            pages.start = page + 1;
        }
        Ok(())
    }

    /// Resolves a fault of the running task at `address`, or says why it cannot be: the page-fault
    /// handler's decision, and what the kernel does before it writes into user memory.
    ///
    /// - No page yet, in a region that allows the access: a read maps the shared zero page read-only; a
    ///   write (or an execution) takes a fresh zeroed frame.
    /// - A write to a page mapped read-only because its frame is shared: the zero page gets a fresh
    ///   zeroed frame; a copy-on-write frame with other holders is copied into a new frame, which
    ///   replaces it break-before-make; a copy-on-write frame whose only holder is this mapping is made
    ///   writable in place, with no copy and no allocation.
    /// - Anything else (outside every region, against the region's rights) is the task's error.
    pub fn resolve_fault(&mut self, address: u64, access: Access) -> Result<(), FaultError> {
        let va = VirtAddr::new(address);
        let prot = self.regions.check_access(va, access).map_err(|_| FaultError::Illegal)?.prot();
        let page = Page::containing(va);
        let flags = PageFlags::user(prot).map_err(|_| FaultError::Illegal)?;
        // One walk: a vacant page is mapped from the walk that found it so.
        let leaf = match self.tables.entry(page) {
            PageEntry::Mapped(leaf) => leaf,
            PageEntry::Vacant(vacant) if access == Access::Read => {
                let zero = zero_page::frame();
                frames::share(zero).map_err(|_| FaultError::Illegal)?;
                let zero_flags = PageFlags { writable: false, zero_page: true, executable: false, ..flags };
                return vacant.map(zero, zero_flags).map_err(|error| {
                    frames::drop_holder(zero);
                    map_fault_error(error)
                });
            }
            PageEntry::Vacant(vacant) => {
                let frame = frames::alloc_zeroed().map_err(|_| FaultError::OutOfMemory)?;
                vacant.map(frame, flags).map_err(|error| {
                    frames::drop_holder(frame);
                    map_fault_error(error)
                })?;
                counters::ZERO_FILL_FAULTS.add();
                return Ok(());
            }
        };
        if access != Access::Write || leaf.writable_now() {
            // Present and allowed: another core or an earlier fault got here first; retry.
            return Ok(());
        }
        let leaf = if leaf.shared_table {
            // The table's other holders keep it; this task gets its own copy (or, as its last holder,
            // write access back), in which the page is then resolved like any other.
            let copied = frames::refcount(leaf.table) > 1;
            self.tables.make_private(page).map_err(map_fault_error)?;
            if copied {
                counters::TABLE_COPIES.add()
            } else {
                counters::TABLE_REUSES.add()
            }
            self.tables.lookup(page).ok_or(FaultError::Illegal)?
        } else {
            leaf
        };
        if leaf.flags.writable { Ok(()) } else { self.resolve_write(page, &leaf) }
    }

    /// A write to a present read-only page whose region allows writing: what to do is
    /// `cowpi_mm::decide_write_fault`'s decision (host-tested); doing it is this function's.
    /// `leaf` is what `lookup` found there, in a private table: changing it needs no second walk.
    fn resolve_write(&mut self, page: Page, leaf: &Leaf) -> Result<(), FaultError> {
        let (frame, current) = (leaf.frame, leaf.flags);
        let holders = frames::refcount(frame);
        let decision = match decide_write_fault(current, holders) {
            Ok(decision) => decision,
            Err(bug) => panic!("write fault at {:#x}: {bug}", page.start_address().as_u64()),
        };
        if !current.zero_page && decision != WriteFault::Denied {
            counters::COW_FAULTS.add();
            if current.ksm_merged {
                counters::KSM_UNMERGES.add();
            }
        }
        match decision {
            WriteFault::Denied => Err(FaultError::Illegal),
            WriteFault::Reuse { flags } => {
                // The last holder: nobody else can see a write, so no copy and no allocation.
                self.tables.protect_leaf(page, leaf, flags).map_err(map_fault_error)?;
                counters::COW_REUSES.add();
                Ok(())
            }
            WriteFault::ZeroFill { flags } => {
                let fresh = frames::alloc_zeroed().map_err(|_| FaultError::OutOfMemory)?;
                self.tables.replace_leaf(page, leaf, fresh, flags).map_err(|error| {
                    frames::drop_holder(fresh);
                    map_fault_error(error)
                })?;
                frames::drop_holder(frame);
                // Only here can a zero page merging made go: the other outcomes are for other frames.
                ksm::mapping_removed(current);
                counters::ZERO_FILL_FAULTS.add();
                Ok(())
            }
            WriteFault::Copy { flags } => {
                let copy = frames::alloc_copy_of(frame).map_err(|_| FaultError::OutOfMemory)?;
                self.tables.replace_leaf(page, leaf, copy, flags).map_err(|error| {
                    // The copy is nobody's: without this it leaked, and the task was told it faulted.
                    frames::drop_holder(copy);
                    map_fault_error(error)
                })?;
                // Only once the old mapping is out of the TLB does this address space let go of the frame.
                frames::drop_holder(frame);
                counters::COW_COPIES.add();
                Ok(())
            }
        }
    }

    /// Unmaps `count` pages from `first` and drops their frames. The tables covering them are private
    /// (`make_range_private` came first, or the pages are new), so unmapping needs no frame.
    fn release_pages(&mut self, first: Page, count: usize) {
        let mut pages = first..first + count;
        while let Some((page, ..)) = self.tables.next_mapping(pages.clone()) {
            match self.tables.unmap(page) {
                Ok(Some((frame, flags))) => {
                    frames::drop_holder(frame);
                    ksm::mapping_removed(flags);
                }
                Ok(None) => {}
                Err(error) => panic!("kernel bug: unmapping {page} from a private table: {error}"),
            }
            pages.start = page + 1;
        }
    }

    /// Maps a program segment: fresh pages holding its file bytes, zeros after them.
    pub fn load_segment(&mut self, segment: &cowpi_loader::Segment, elf: &[u8]) -> Result<(), Error> {
        let start = VirtAddr::new(layout::page_align_down(segment.vaddr));
        let end = layout::page_align_up(segment.vaddr + segment.mem_size).ok_or(Error::BadExecutable)?;
        let pages = ((end - start.as_u64()) / PAGE_SIZE as u64) as usize;
        self.add_region(start, pages, segment.prot, RegionKind::Image)?;
        let bytes = elf.get(segment.file_range()).ok_or(Error::BadExecutable)?;
        self.write(segment.vaddr, bytes)
    }

    /// Maps the stack region.
    pub fn map_stack(&mut self) -> Result<(), Error> {
        let pages = (layout::STACK_SIZE / PAGE_SIZE as u64) as usize;
        self.add_region(VirtAddr::new(layout::STACK_AREA.start), pages, Prot::READ_WRITE, RegionKind::Stack)
    }

    /// Anonymous memory for `MAP`: at `hint` if that range of the map area is free, else anywhere free.
    pub fn map_anonymous(&mut self, hint: Option<u64>, pages: u64, prot: Prot) -> Result<u64, Error> {
        let pages = usize::try_from(pages).map_err(|_| Error::InvalidArgument)?;
        let len = pages.checked_mul(PAGE_SIZE).ok_or(Error::InvalidArgument)?;
        let area = VirtAddr::new(layout::MAP_AREA.start)..VirtAddr::new(layout::MAP_AREA.end);
        let hinted = hint.map(VirtAddr::new).filter(|&start| {
            start >= area.start
                && start.checked_add(len).is_some_and(|end| end <= area.end)
                && self.regions.find_free(len, start..area.end) == Some(start)
        });
        let start = hinted.or_else(|| self.regions.find_free(len, area)).ok_or(Error::OutOfMemory)?;
        self.add_region(start, pages, prot, RegionKind::Anonymous)?;
        Ok(start.as_u64())
    }

    /// Whether `address` lies in one of the task's regions, whatever its rights (for the fault report).
    pub fn in_a_region(&self, address: u64) -> bool {
        self.regions.find(VirtAddr::new(address)).is_some()
    }

    /// Whether every page of `[start, start + pages)` lies in a region (mapped, possibly with no access).
    fn all_mapped(&self, start: u64, pages: u64) -> bool {
        self.regions.covers(VirtAddr::new(start)..VirtAddr::new(start + pages * PAGE_SIZE as u64))
    }

    /// `UNMAP`: every page must be mapped, else nothing changes.
    pub fn unmap(&mut self, start: u64, pages: u64) -> Result<(), Error> {
        if !self.all_mapped(start, pages) {
            return Err(Error::NotMapped);
        }
        let end = VirtAddr::new(start + pages * PAGE_SIZE as u64);
        let first = Page::containing(VirtAddr::new(start));
        // Only this step can run out of frames, and it changes nothing any task can see.
        self.tables.make_range_private(first..first + pages as usize).map_err(map_call_error)?;
        self.regions.remove(VirtAddr::new(start)..end).map_err(region_error)?;
        self.release_pages(first, pages as usize);
        Ok(())
    }

    /// `PROTECT`: every page must be mapped, else nothing changes. Taking all access away keeps the
    /// pages' frames, contents and sharing (as POSIX `mprotect` with `PROT_NONE` does): made accessible
    /// again, they read what they held.
    pub fn protect(&mut self, start: u64, pages: u64, prot: Prot) -> Result<(), Error> {
        // `Regions::protect` refuses a range with a hole, changing nothing.
        let end = VirtAddr::new(start + pages * PAGE_SIZE as u64);
        if !self.all_mapped(start, pages) {
            return Err(Error::NotMapped);
        }
        let first = Page::containing(VirtAddr::new(start));
        // Only this step can run out of frames, and it changes nothing any task can see.
        self.tables.make_range_private(first..first + pages as usize).map_err(map_call_error)?;
        self.regions.protect(VirtAddr::new(start)..end, prot).map_err(region_error)?;
        self.reprotect(Page::containing(VirtAddr::new(start)), pages as usize, prot)
    }

    /// Copies `bytes` to `address`, through the page tables and the linear map (the pages must be mapped;
    /// their permissions are not checked: this is the kernel loading the task).
    pub fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), Error> {
        self.copy(address, bytes.len(), |offset, page_bytes| {
            page_bytes.copy_from_slice(&bytes[offset..offset + page_bytes.len()])
        })
    }

    /// Walks `[address, address + len)` page by page, handing `f` each page's part as a slice in the
    /// linear map, with its offset into the range.
    fn copy(&mut self, address: u64, len: usize, mut f: impl FnMut(usize, &mut [u8])) -> Result<(), Error> {
        let mut done = 0;
        while done < len {
            let at = address.checked_add(done as u64).ok_or(Error::BadAddress)?;
            let (frame, _) = self.tables.translate(VirtAddr::new(at)).ok_or(Error::BadAddress)?;
            let offset = (at % PAGE_SIZE as u64) as usize;
            let chunk = (PAGE_SIZE - offset).min(len - done);
            // SAFETY: the frame is mapped in this address space, so held; the slice stays within it.
            let page = unsafe { core::slice::from_raw_parts_mut(frame_pointer(frame).add(offset), chunk) };
            f(done, page);
            done += chunk;
        }
        Ok(())
    }

    /// Reads `len` bytes the task may read at `address`, or `BadAddress`. A page never touched reads as
    /// zeros without being mapped.
    pub fn read_user(&mut self, address: u64, len: usize) -> Result<Vec<u8>, Error> {
        self.regions.check_user_buffer(VirtAddr::new(address), len, false).map_err(|_| Error::BadAddress)?;
        let mut out = Vec::with_capacity(len);
        let mut done = 0;
        while done < len {
            let at = address + done as u64;
            let offset = (at % PAGE_SIZE as u64) as usize;
            let chunk = (PAGE_SIZE - offset).min(len - done);
            match self.tables.translate(VirtAddr::new(at)) {
                // SAFETY: the frame is mapped here, so held; the slice stays within it.
                Some((frame, _)) => out.extend_from_slice(unsafe {
                    core::slice::from_raw_parts(frame_pointer(frame).add(offset), chunk)
                }),
                None => out.resize(out.len() + chunk, 0),
            }
            done += chunk;
        }
        Ok(out)
    }

    /// Checks that the task may read `len` bytes at `address` (by its regions: untouched pages read as
    /// zeros).
    pub fn check_user_readable(&mut self, address: u64, len: usize) -> Result<(), Error> {
        self.regions.check_user_buffer(VirtAddr::new(address), len, false).map_err(|_| Error::BadAddress)
    }

    /// Checks that the task may write `len` bytes at `address` (by its regions: copy-on-write and untouched
    /// pages are writable too).
    pub fn check_user_writable(&mut self, address: u64, len: usize) -> Result<(), Error> {
        self.regions.check_user_buffer(VirtAddr::new(address), len, true).map_err(|_| Error::BadAddress)
    }

    /// Makes every page of `[address, address + len)` writable in place exactly as a write by the task would
    /// (a shared frame is copied first, an untouched page gets a frame), so that the kernel can then write
    /// there without needing a frame: `BadAddress` if the task may not write there, `OutOfMemory` if a page
    /// needs a frame and none is free.
    pub fn prepare_user_write(&mut self, address: u64, len: usize) -> Result<(), Error> {
        self.check_user_writable(address, len)?;
        let mut page_address = address & !(PAGE_SIZE as u64 - 1);
        while page_address < address + len as u64 {
            self.resolve_fault(page_address.max(address), Access::Write).map_err(|error| match error {
                FaultError::OutOfMemory => Error::OutOfMemory,
                FaultError::Illegal => Error::BadAddress,
            })?;
            page_address += PAGE_SIZE as u64;
        }
        Ok(())
    }

    /// Writes `bytes` where the task may write them, or `BadAddress` (and nothing written). Each page is
    /// first made writable exactly as a write by the task would ([`AddressSpace::prepare_user_write`]),
    /// so the kernel never writes into a frame another task still sees.
    pub fn write_user(&mut self, address: u64, bytes: &[u8]) -> Result<(), Error> {
        self.prepare_user_write(address, bytes.len())?;
        self.write(address, bytes)
    }

    /// A copy of this address space for a forked child: the same regions, and every level-3 table shared
    /// with the child, write-protected in both (`cowpi_mm::AddressSpaceTables::share_tables_into`; see
    /// `cowpi_mm::translation::page_table::share`): no page is touched, one ASID-wide TLB invalidation
    /// here. The first write into a shared table on either side gives the writer its own copy of that
    /// table ([`AddressSpace::resolve_fault`]). Except the table of the task's stack (`stack_pointer`,
    /// SP_EL0 at the call): both sides write it as soon as `FORK` returns, so it is forked page by page,
    /// each side's first write a one-page copy instead of a 512-entry table copy. On failure (no frame for
    /// a child table) the half-built child is torn down, dropping exactly the holders it took.
    pub fn fork(&mut self, stack_pointer: Option<u64>) -> Result<AddressSpace, Error> {
        let mut child = AddressSpace::new()?;
        // The stack grows down: the next push lands below SP, in the page of SP - 1.
        let stack = stack_pointer.map(|sp| Page::containing(VirtAddr::new(sp.wrapping_sub(1))));
        match self.tables.share_tables_into_except(&mut child.tables, stack) {
            Ok(counts) => {
                counters::TABLES_SHARED.add_n(counts.tables_shared as u64);
                child.regions = self.regions.clone();
                Ok(child)
            }
            Err(error) if error.is_out_of_frames() => Err(Error::OutOfMemory),
            Err(error) => panic!("fork: {error}"),
        }
    }

    /// The same fork set up page by page (`FORK` with `ForkMode::CopyOnWritePages`, the Linux-style
    /// baseline): every page shared with the child copy-on-write (`cowpi_mm::AddressSpaceTables::share_into`:
    /// each child level-3 table filled in one pass over the parent's, writable pages made read-only with
    /// the COW bit in both, one ASID-wide invalidation here at the end; every child mapping takes one
    /// reference). No page data is copied. On failure the half-built child is torn down: its references
    /// are dropped, and pages already made COW here stay COW, their next write a reuse.
    pub fn fork_per_page(&mut self) -> Result<AddressSpace, Error> {
        let mut child = AddressSpace::new()?;
        match self.tables.share_pages_into(&mut child.tables) {
            Ok(_) => {
                child.regions = self.regions.clone();
                Ok(child)
            }
            Err(error) if error.is_out_of_frames() => Err(Error::OutOfMemory),
            Err(error) => panic!("fork: {error}"),
        }
    }

    /// A copy of this address space made the way Unix forked before copy-on-write: the benchmarks'
    /// baseline (`FORK` with `ForkMode::EagerCopy`). Every page the child could write gets a frame of its
    /// own, copied now; read-only program pages and the zero page are shared
    /// (`cowpi_mm::decide_eager_copy`). This address space is not changed at all. On failure the
    /// half-built child is dropped, which releases everything it took.
    pub fn fork_eager_copy(&mut self) -> Result<AddressSpace, Error> {
        let mut child = AddressSpace::new()?;
        child.regions = self.regions.clone();
        let mut outcome = Ok(());
        self.tables.for_each_mapping(|page, frame, flags| {
            if outcome.is_ok() {
                outcome = eager_copy_page(&mut child, page, frame, flags);
            }
        });
        outcome.map(|()| child)
    }

    /// Resident pages, those of them shared with other holders (their frame has others, or their level-3
    /// table does), and those mapping the zero page.
    pub fn page_counts(&mut self) -> PageCounts {
        let mut counts = PageCounts::default();
        let table_shared = core::cell::Cell::new(false);
        self.tables.for_each_table(
            |table| {
                table_shared.set(table.holders > 1);
                true
            },
            |_, frame, flags| {
                counts.resident += 1;
                if table_shared.get() || frames::refcount(frame) > 1 {
                    counts.shared += 1;
                }
                if flags.zero_page {
                    counts.zero += 1;
                }
            },
        );
        counts
    }

    /// What `page` maps, if anything.
    pub fn translate_page(&mut self, page: Page) -> Option<(Frame, PageFlags)> {
        self.tables.translate(page.start_address())
    }

    /// Whether `page` lies in a level-3 table shared with other address spaces (after a fork): page
    /// merging leaves those pages alone, since they are shared already, and merging one would cost a copy
    /// of its table.
    pub fn in_shared_table(&mut self, page: Page) -> bool {
        self.tables.in_shared_table(page)
    }

    /// Changes `page`'s flags on the same frame (TLB entry invalidated). For page merging.
    pub fn set_page_flags(&mut self, page: Page, flags: PageFlags) -> bool {
        let Ok(old) = self.tables.protect(page, flags) else { return false };
        ksm::mapping_removed(old);
        ksm::mapping_added(flags);
        true
    }

    /// Maps `page` to `frame` instead, break-before-make; the caller moves the references. For merging.
    pub fn replace_page(&mut self, page: Page, frame: Frame, flags: PageFlags) -> bool {
        let Ok((_, old)) = self.tables.replace(page, frame, flags) else { return false };
        ksm::mapping_removed(old);
        ksm::mapping_added(flags);
        true
    }

    /// `MERGEABLE`: marks anonymous memory as a candidate for page merging. Every page must lie in an
    /// anonymous region. The mark belongs to the regions (`cowpi_mm::Regions::set_mergeable`), so it goes
    /// with them on `UNMAP` and marking a range again costs nothing.
    pub fn mark_mergeable(&mut self, start: u64, pages: u64) -> Result<(), Error> {
        let end = VirtAddr::new(start + pages * PAGE_SIZE as u64);
        self.regions.set_mergeable(VirtAddr::new(start)..end).map_err(region_error)
    }

    /// The first page at or above `from` the merging scanner may look at: mapped writable and not
    /// executable, in memory marked mergeable (or, with `all`, in any anonymous region or stack). It looks
    /// at no more than [`CANDIDATE_LOOKS`] mappings, and says where to go on if it found none, so one call
    /// costs little whatever the task maps (the scanner calls it with interrupts masked).
    pub fn next_merge_candidate(&mut self, from: Page, all: bool) -> CandidateSearch {
        let end = Page::containing(VirtAddr::USER_END);
        let mut at = from;
        for _ in 0..CANDIDATE_LOOKS {
            let Some((page, _, flags)) = self.tables.next_mapping(at..end) else {
                return CandidateSearch::End;
            };
            let region = self.regions.find(page.start_address());
            let wanted = region.is_some_and(|region| {
                if all { region.kind() != RegionKind::Image } else { region.is_mergeable() }
            });
            if wanted && flags.writable && !flags.executable {
                return CandidateSearch::Found(page);
            }
            // A region the scanner does not want is passed over whole.
            at = match region {
                Some(region) if !wanted => region.pages().end,
                _ => page + 1,
            };
        }
        CandidateSearch::GoOn(at)
    }

    /// Every mapping: page, frame, flags.
    pub fn for_each_mapping(&mut self, f: impl FnMut(Page, Frame, PageFlags)) {
        self.tables.for_each_mapping(f);
    }

    /// Every mapping with the rights of the region it lies in (`None` if it lies in none), for the audit.
    pub fn for_each_mapping_with_region_prot(&mut self, mut f: impl FnMut(Page, PageFlags, Option<Prot>)) {
        let regions = &self.regions;
        self.tables.for_each_mapping(|page, _, flags| {
            f(page, flags, regions.find(page.start_address()).map(Region::prot))
        });
    }

    /// Every frame this address space holds a reference on: one per table frame (a shared level-3 table
    /// once per level-2 entry pointing at it), and one per mapping of a table `first_visit` says was not
    /// counted yet. A shared table's mappings are held by the table, once, however many address spaces
    /// reach it: the audit passes the same `first_visit` for every address space.
    pub fn for_each_held_frame(
        &mut self,
        mut first_visit: impl FnMut(Frame) -> bool,
        mut f: impl FnMut(Frame),
    ) {
        self.tables
            .for_each_table(|table| table.holders == 1 || first_visit(table.table), |_, frame, _| f(frame));
        self.tables.for_each_table_frame(&mut f);
    }

    /// Every level-3 table (with its holders and whether this address space's link to it takes write
    /// access away) and, where `visit_table` says so, its mappings: for the audit.
    pub fn for_each_table(
        &mut self,
        visit_table: impl FnMut(TableVisit) -> bool,
        on_mapping: impl FnMut(Page, Frame, PageFlags),
    ) {
        self.tables.for_each_table(visit_table, on_mapping);
    }
}

impl Drop for AddressSpace {
    /// Drops every mapping's frame and frees the tables. The space must not be in `TTBR0_EL1` any more;
    /// its ASID is never reused in this generation, so no TLB entry of it can be hit again.
    fn drop(&mut self) {
        // SAFETY: `tables` is taken exactly once, here, and `self` is never used again.
        let tables = unsafe { ManuallyDrop::take(&mut self.tables) };
        tables.destroy_releasing();
    }
}
