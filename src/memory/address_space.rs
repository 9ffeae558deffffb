//! A user task's address space in the kernel: the host-tested engine `cowpi_mm::AddressSpace` (faults,
//! fork in three modes, range calls, user copies, teardown; see its module documentation) run with the
//! kernel's memory and TLB.
//!
//! [`KernelMemory`] is the frame table and the linear map: tables and pages are frames of the frame
//! table, their bytes reached at their place in the linear map, holders counted under the frame table's
//! lock (a whole level-3 table's under one lock). It also keeps the figures the kernel shows: the fault
//! counters of `mem` and `MEMSTATS`, and page merging's count of the zero pages it made. TLB maintenance
//! and the switch of `TTBR0_EL1` are `arch::mmu::tlb`'s.

use cowpi_abi::Error;
use cowpi_abi::ForkMode;
use cowpi_abi::layout;
use cowpi_mm::regions::RegionKind;
use cowpi_mm::{
    FaultOutcome, Frame, OutOfFrames, PAGE_SIZE, PageFlags, PageMemory, PageOutcome, ShareRefused,
    TableMemory, TableOutcome, VirtAddr,
};

use super::{counters, frame_pointer, frames, ksm, zero_page};
use crate::arch::mmu::tlb::KernelTlb;

/// A task's address space, as the kernel runs it.
pub type AddressSpace = cowpi_mm::AddressSpace<KernelMemory, KernelTlb>;

pub use cowpi_mm::{CandidateSearch, FaultError, PageCounts};

/// An empty address space.
pub fn new() -> Result<AddressSpace, Error> {
    AddressSpace::new(KernelMemory, KernelTlb::new())
}

/// A child's copy of `space`, made the way `mode` says (`cowpi_mm::address_space::fork`); `stack_pointer`
/// is the task's `SP_EL0` at the call, if a task is calling.
pub fn fork(
    space: &mut AddressSpace,
    mode: ForkMode,
    stack_pointer: Option<u64>,
) -> Result<AddressSpace, Error> {
    let forked = space.fork(mode, stack_pointer, KernelMemory, KernelTlb::new())?;
    counters::TABLES_SHARED.add_n(forked.tables_shared as u64);
    Ok(forked.child)
}

/// Maps a program segment: fresh pages holding its file bytes, zeros after them.
pub fn load_segment(
    space: &mut AddressSpace,
    segment: &cowpi_loader::Segment,
    elf: &[u8],
) -> Result<(), Error> {
    let start = VirtAddr::new(layout::page_align_down(segment.vaddr));
    let end = layout::page_align_up(segment.vaddr + segment.mem_size).ok_or(Error::BadExecutable)?;
    let pages = ((end - start.as_u64()) / PAGE_SIZE as u64) as usize;
    space.add_region(start, pages, segment.prot, RegionKind::Image)?;
    let bytes = elf.get(segment.file_range()).ok_or(Error::BadExecutable)?;
    space.write(segment.vaddr, bytes)
}

/// The frame table and the linear map, as the address-space engine's memory: translation tables and the
/// pages they map, in frames of the frame table, reached through the linear map.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelMemory;

impl TableMemory for KernelMemory {
    fn alloc_table(&mut self) -> Result<Frame, OutOfFrames> {
        frames::alloc_zeroed()
    }

    fn free_table(&mut self, frame: Frame) {
        frames::drop_holder(frame);
    }

    fn share_table(&mut self, table: Frame) -> Result<(), ShareRefused> {
        frames::share(table).map(drop).map_err(|_| ShareRefused)
    }

    fn leave_shared_table(&mut self, table: Frame) -> bool {
        match frames::with_table(|t| t.release_unless_last(table)) {
            Ok(left) => left,
            Err(error) => panic!("kernel bug: leaving the shared table in {table}: {error}"),
        }
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

impl PageMemory for KernelMemory {
    fn alloc_zeroed(&mut self) -> Result<Frame, OutOfFrames> {
        frames::alloc_zeroed()
    }

    fn alloc_copy_of(&mut self, source: Frame) -> Result<Frame, OutOfFrames> {
        frames::alloc_copy_of(source)
    }

    fn frame_holders(&mut self, frame: Frame) -> u32 {
        frames::refcount(frame)
    }

    fn zero_frame(&mut self) -> Frame {
        zero_page::frame()
    }

    fn page_bytes(&mut self, frame: Frame) -> &mut [u8; PAGE_SIZE] {
        // SAFETY: the caller holds `frame` (it is mapped in the address space asking), so it is allocated
        // and lies in the linear map; the bytes are the task's memory, which the kernel reaches only
        // through here while it holds the address space.
        unsafe { &mut *frame_pointer(frame).cast::<[u8; PAGE_SIZE]>() }
    }

    fn fault_resolved(&mut self, outcome: FaultOutcome) {
        match outcome.table {
            Some(TableOutcome::Copied) => counters::TABLE_COPIES.add(),
            Some(TableOutcome::Reused) => counters::TABLE_REUSES.add(),
            None => {}
        }
        match outcome.page {
            PageOutcome::AlreadyResolved | PageOutcome::ZeroPageMapped => {}
            PageOutcome::ZeroFilled => counters::ZERO_FILL_FAULTS.add(),
            PageOutcome::CowReused { unmerged } => {
                count_cow_fault(unmerged);
                counters::COW_REUSES.add();
            }
            PageOutcome::CowCopied { unmerged } => {
                count_cow_fault(unmerged);
                counters::COW_COPIES.add();
            }
        }
    }
}

/// A write fault on a copy-on-write page (shared after a fork, or merged: then it unmerges it).
fn count_cow_fault(unmerged: bool) {
    counters::COW_FAULTS.add();
    if unmerged {
        counters::KSM_UNMERGES.add();
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
