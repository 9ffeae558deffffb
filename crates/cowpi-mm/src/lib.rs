//! The memory-management logic of cowpi that needs no hardware.
//!
//! Everything here is plain data and arithmetic, so it is `no_std` for the kernel and tested on the host,
//! where a bug shows up as a failing test rather than as a hung Raspberry Pi. The kernel supplies what only
//! it can: the memory map, the storage for the frame table, memory for translation tables, and the
//! barrier and TLB instructions.
//!
//! - [`addr`]: typed physical and virtual addresses, frame and page numbers, so an address is never
//!   mistaken for a frame number, a page for a frame, or either for a size.
//! - [`frame_table`]: one reference count per physical frame. Copy-on-write, the shared zero page and page
//!   merging all come down to "how many mappings hold this frame?", and the frame table is where that
//!   number lives and is checked.
//! - [`translation`]: a task's AArch64 translation tables: descriptors, page flags with W^X, and the map,
//!   unmap, protect and replace operations in the order the architecture requires (break-before-make).
//! - [`regions`]: the ranges of a task's address space and what each allows, which tell a legal page
//!   fault (demand paging, copy-on-write) from a bad access, and check system-call buffers.
//! - [`cow`]: what a write fault on a present mapping means: reuse the frame, copy it, fill a fresh zeroed
//!   one, or deny the write.
//! - [`asid`]: address space identifiers for the TLB, recycled in generations.
//! - [`address_space`]: the engine that joins them: a task's tables and regions, and every operation on
//!   them (faults, fork in three modes, range calls, user copies, teardown), over memory and TLB
//!   maintenance the kernel or a host test supplies.
//!
//! Access rights are the system-call ABI's [`Prot`] (re-exported from `cowpi-abi`): the memory manager
//! implements the rights the ABI defines, so regions and page flags use that one type.
#![no_std]

extern crate alloc;

pub mod addr;
pub mod address_space;
pub mod asid;
pub mod cow;
pub mod frame_table;
pub mod ksm;
pub mod regions;
pub mod translation;

pub use addr::{Frame, PAGE_SHIFT, PAGE_SIZE, Page, PhysAddr, VA_BITS, VirtAddr};
pub use address_space::{
    AddressSpace, CandidateSearch, FaultError, FaultOutcome, ForkMode, PageCounts, PageMemory, PageOutcome,
    TableOutcome,
};
pub use asid::{Asid, AsidAllocator, AsidBits, Assignment, Generation, SpaceAsid, TaggedAsid};
pub use cow::{CowError, EagerCopy, WriteFault, decide_eager_copy, decide_protect, decide_write_fault};
pub use cowpi_abi::Prot;
pub use frame_table::{
    AuditReport, ExpectedHolds, FrameCounters, FrameError, FrameState, FrameTable, OutOfFrames, Release,
    TableError, Violation, storage_words,
};
pub use regions::{Access, Fault, Region, RegionError, RegionKind, Regions};
pub use translation::{
    AddressSpaceTables, DescriptorError, FlagsError, ForkCounts, ForkError, Leaf, Level, MapError,
    MemoryType, PageEntry, PageFlags, ShareRefused, TableMemory, TableVisit, TlbMaintenance, VacantPage,
    ttbr0_el1,
};
