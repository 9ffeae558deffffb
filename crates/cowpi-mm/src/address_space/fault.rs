//! Resolving a fault: demand paging, the zero page, copy-on-write, and the first write into a level-3
//! table a fork shared.
//!
//! The page-fault handler and the kernel's writes into user memory both come here. One table walk finds
//! the page ([`AddressSpaceTables::entry`]); what to do with a present read-only page is
//! [`decide_write_fault`]'s decision, and the table operation each outcome names does it, so a fault
//! costs one walk plus the change it makes.
//!
//! [`AddressSpaceTables::entry`]: crate::AddressSpaceTables::entry

use super::{AddressSpace, PageMemory};
use crate::addr::{Frame, Page, VirtAddr};
use crate::cow::{WriteFault, decide_write_fault};
use crate::regions::Access;
use crate::translation::{Leaf, MapError, PageEntry, PageFlags, TlbMaintenance};

/// Why a fault could not be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultError {
    /// The access is not allowed: outside every region, or against its rights.
    Illegal,
    /// It was allowed, but no frame was left to resolve it (for the page, a table, or a shared table's
    /// copy). Nothing was changed.
    OutOfMemory,
}

/// What resolving a fault did, for the kernel's counters and the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultOutcome {
    /// What became of the level-3 table a fork shared, if the page lay in one and was written.
    pub table: Option<TableOutcome>,
    pub page: PageOutcome,
}

/// The first write into a level-3 table a fork shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableOutcome {
    /// Other holders were left: the writer got its own copy of the table.
    Copied,
    /// The writer was its last holder: write access back, no copy.
    Reused,
}

/// What became of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageOutcome {
    /// Present and allowed already: another core or an earlier fault got here first.
    AlreadyResolved,
    /// A read of an untouched page: the zero frame, mapped read-only.
    ZeroPageMapped,
    /// A write to an untouched page or to the zero page: a fresh zeroed frame.
    ZeroFilled,
    /// A copy-on-write page whose frame had no other holder: writable in place. `unmerged` if page
    /// merging had shared it.
    CowReused { unmerged: bool },
    /// A copy-on-write page whose frame has other holders: a private copy. `unmerged` as above.
    CowCopied { unmerged: bool },
}

impl FaultOutcome {
    fn page(page: PageOutcome) -> FaultOutcome {
        FaultOutcome { table: None, page }
    }
}

/// A table operation's refusal on a page the regions allow: no frame is the task's out-of-memory;
/// anything else is a kernel bug.
fn fault_error(error: MapError) -> FaultError {
    match error {
        MapError::OutOfFrames => FaultError::OutOfMemory,
        error => panic!("kernel bug: a fault the regions allow was refused by the tables: {error}"),
    }
}

impl<M: PageMemory, T: TlbMaintenance> AddressSpace<M, T> {
    /// Resolves a fault of the task at `address`, or says why it cannot be: the page-fault handler's
    /// decision, and what the kernel does before it writes into user memory.
    ///
    /// - No page yet, in a region that allows the access: a read maps the shared zero page read-only; a
    ///   write (or an execution) takes a fresh zeroed frame.
    /// - A write into a level-3 table a fork shared: the table is made private first (a copy while others
    ///   hold it, write access back for its last holder), then the page is resolved as below.
    /// - A write to a page mapped read-only because its frame is shared: the zero page gets a fresh
    ///   zeroed frame; a copy-on-write frame with other holders is copied into a new frame, which
    ///   replaces it break-before-make; a copy-on-write frame whose only holder is this mapping is made
    ///   writable in place, with no copy and no allocation.
    /// - Anything else (outside every region, against the region's rights) is the task's error.
    ///
    /// Running out of frames at any step leaves the space as it was before that step.
    pub fn resolve_fault(&mut self, address: u64, access: Access) -> Result<FaultOutcome, FaultError> {
        let outcome = self.resolve(address, access)?;
        self.tables.memory_mut().fault_resolved(outcome);
        Ok(outcome)
    }

    fn resolve(&mut self, address: u64, access: Access) -> Result<FaultOutcome, FaultError> {
        let va = VirtAddr::new(address);
        let prot = self.regions.check_access(va, access).map_err(|_| FaultError::Illegal)?.prot();
        let page = Page::containing(va);
        let flags = PageFlags::user(prot).map_err(|_| FaultError::Illegal)?;
        // One walk: a vacant page is mapped from the walk that found it so.
        let leaf = match self.tables.entry(page) {
            PageEntry::Mapped(leaf) => leaf,
            PageEntry::Vacant(mut vacant) if access == Access::Read => {
                let zero = vacant.memory().zero_frame();
                let zero_flags = PageFlags { writable: false, zero_page: true, executable: false, ..flags };
                vacant.memory().share_frame(zero, zero_flags).map_err(|_| FaultError::OutOfMemory)?;
                if let Err(error) = vacant.map(zero, zero_flags) {
                    self.tables.memory_mut().release_frame(zero, zero_flags);
                    return Err(fault_error(error));
                }
                return Ok(FaultOutcome::page(PageOutcome::ZeroPageMapped));
            }
            PageEntry::Vacant(mut vacant) => {
                let frame = vacant.memory().alloc_zeroed().map_err(|_| FaultError::OutOfMemory)?;
                if let Err(error) = vacant.map(frame, flags) {
                    self.tables.memory_mut().release_frame(frame, flags);
                    return Err(fault_error(error));
                }
                return Ok(FaultOutcome::page(PageOutcome::ZeroFilled));
            }
        };
        if access != Access::Write || leaf.writable_now() {
            return Ok(FaultOutcome::page(PageOutcome::AlreadyResolved));
        }
        let (leaf, table) = if leaf.shared_table {
            // The table's other holders keep it; this task gets its own copy (or, as its last holder,
            // write access back), in which the page is then resolved like any other.
            let copied = self.tables.memory_mut().table_holders(leaf.table) > 1;
            self.tables.make_private(page).map_err(fault_error)?;
            let table = if copied { TableOutcome::Copied } else { TableOutcome::Reused };
            (
                self.tables.lookup(page).expect("a page stays mapped when its table is made private"),
                Some(table),
            )
        } else {
            (leaf, None)
        };
        let page_outcome =
            if leaf.flags.writable { PageOutcome::AlreadyResolved } else { self.resolve_write(page, &leaf)? };
        Ok(FaultOutcome { table, page: page_outcome })
    }

    /// A write to a present read-only page whose region allows writing: what to do is
    /// [`decide_write_fault`]'s decision; doing it is this function's. `leaf` is what the walk found
    /// there, in a private table: changing it needs no second walk.
    fn resolve_write(&mut self, page: Page, leaf: &Leaf) -> Result<PageOutcome, FaultError> {
        let (frame, current) = (leaf.frame, leaf.flags);
        let holders = self.tables.memory_mut().frame_holders(frame);
        let decision = match decide_write_fault(current, holders) {
            Ok(decision) => decision,
            Err(bug) => panic!("kernel bug: write fault at {page}: {bug}"),
        };
        let unmerged = current.ksm_merged;
        match decision {
            WriteFault::Denied => Err(FaultError::Illegal),
            WriteFault::Reuse { flags } => {
                // The last holder: nobody else can see a write, so no copy and no allocation.
                self.tables.protect_leaf(page, leaf, flags).map_err(fault_error)?;
                Ok(PageOutcome::CowReused { unmerged })
            }
            WriteFault::ZeroFill { flags } => {
                let fresh = self.tables.memory_mut().alloc_zeroed().map_err(|_| FaultError::OutOfMemory)?;
                self.replace_leaf_with(page, leaf, fresh, flags)?;
                Ok(PageOutcome::ZeroFilled)
            }
            WriteFault::Copy { flags } => {
                let copy =
                    self.tables.memory_mut().alloc_copy_of(frame).map_err(|_| FaultError::OutOfMemory)?;
                self.replace_leaf_with(page, leaf, copy, flags)?;
                Ok(PageOutcome::CowCopied { unmerged })
            }
        }
    }

    /// Maps `page` (found as `leaf`) to the new frame `fresh`, which the caller just allocated, and lets
    /// the old frame go once the old mapping is out of the TLB (`replace_leaf` is break-before-make). If
    /// the tables refuse, the new frame is nobody's and is freed at once: it neither leaks nor turns the
    /// refusal into a fault of the task's.
    fn replace_leaf_with(
        &mut self,
        page: Page,
        leaf: &Leaf,
        fresh: Frame,
        flags: PageFlags,
    ) -> Result<(), FaultError> {
        if let Err(error) = self.tables.replace_leaf(page, leaf, fresh, flags) {
            self.tables.memory_mut().release_frame(fresh, flags);
            return Err(fault_error(error));
        }
        self.tables.memory_mut().release_frame(leaf.frame, leaf.flags);
        Ok(())
    }
}
