//! A user task's address space as an engine: what an address space *does*, over memory and TLB
//! maintenance it is given. Its host tests are `tests/address_space.rs` (each path, out-of-memory ones
//! included) and `tests/cow_state_machine.rs` (random sequences of every operation against a model).
//!
//! [`AddressSpace`] joins a task's translation tables ([`AddressSpaceTables`]) and its [`Regions`] (what
//! each range allows), and carries out every memory-management operation on them: resolving a fault
//! ([`fault`]: demand paging, the zero page, copy-on-write, and the first write into a level-3 table a
//! fork shared), forking in the kernel's three modes ([`fork`]), `MAP`/`UNMAP`/`PROTECT`/`MERGEABLE` on
//! ranges ([`ranges`]), the kernel's reads and writes of user memory ([`user_copy`]), what page merging
//! and the memory audit look at ([`walks`]), and teardown (`Drop`). The decisions are the pure functions of
//! [`crate::cow`]; this module applies them, in the order the architecture needs.
//!
//! The engine owns no hardware: it is generic over [`PageMemory`] (frames with reference counts, their
//! contents, the zero frame; a superset of [`TableMemory`]) and [`TlbMaintenance`]. The kernel passes its
//! frame table, linear map and `TLBI` instructions; host tests pass a frame table in host memory, so every
//! path here runs on the host. The engine reports what it did ([`FaultOutcome`],
//! [`ForkCounts`]) rather than counting events itself: counters are the kernel's business.
//!
//! Every mapping holds one reference on its frame and every table frame one on itself (a shared level-3
//! table one per level-2 entry pointing at it, its mappings one for the table, however many address spaces
//! reach them): the memory audit counts exactly these. Locking is the caller's: one address space is
//! changed by one caller at a time (`&mut self`).

pub mod fault;
pub mod fork;
pub mod page_memory;
pub mod ranges;
pub mod user_copy;
pub mod walks;

use core::mem::ManuallyDrop;

use crate::frame_table::OutOfFrames;
use crate::regions::Regions;
use crate::translation::{AddressSpaceTables, MapError, TlbMaintenance};
use cowpi_abi::Error;

pub use fault::{FaultError, FaultOutcome, PageOutcome, TableOutcome};
pub use fork::ForkMode;
pub use page_memory::PageMemory;
pub use walks::{CANDIDATE_LOOKS, CandidateSearch, PageCounts};

/// One task's address space: translation tables and regions, with the memory `M` and TLB maintenance
/// `T` (which knows the space's ASID) it is run with.
pub struct AddressSpace<M: PageMemory, T: TlbMaintenance> {
    /// Torn down explicitly in `drop`, which hands every frame back.
    tables: ManuallyDrop<AddressSpaceTables<M, T>>,
    regions: Regions,
}

/// A table operation refused for want of a frame is the caller's out-of-memory; anything else, on a range
/// the regions allow, is a kernel bug.
fn call_error(error: MapError) -> Error {
    match error {
        MapError::OutOfFrames => Error::OutOfMemory,
        error => panic!("kernel bug: a range the regions allow was refused by the tables: {error}"),
    }
}

fn out_of_memory(_: OutOfFrames) -> Error {
    Error::OutOfMemory
}

impl<M: PageMemory, T: TlbMaintenance> AddressSpace<M, T> {
    /// An empty address space: a root table, no regions.
    pub fn new(memory: M, tlb: T) -> Result<AddressSpace<M, T>, Error> {
        let tables = AddressSpaceTables::new(memory, tlb).map_err(out_of_memory)?;
        Ok(AddressSpace { tables: ManuallyDrop::new(tables), regions: Regions::new() })
    }

    /// The tables, for what only they answer (the root, their frames).
    pub fn tables(&self) -> &AddressSpaceTables<M, T> {
        &self.tables
    }

    /// The regions: what each range of the space allows.
    pub fn regions(&self) -> &Regions {
        &self.regions
    }

    /// The memory the space is run with.
    pub fn memory_mut(&mut self) -> &mut M {
        self.tables.memory_mut()
    }
}

impl<M: PageMemory, T: TlbMaintenance> Drop for AddressSpace<M, T> {
    /// Drops every mapping's frame and frees the tables, a level-3 table at a time (a shared one only
    /// loses a holder). The space must not be in `TTBR0_EL1` any more; its ASID is never reused in this
    /// generation, so no TLB entry of it can be hit again.
    fn drop(&mut self) {
        // SAFETY: `tables` is taken exactly once, here, and `self` is never used again.
        let tables = unsafe { ManuallyDrop::take(&mut self.tables) };
        tables.destroy_releasing();
    }
}
