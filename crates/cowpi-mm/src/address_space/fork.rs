//! Fork in the kernel's three `FORK` modes ([`ForkMode`]).
//!
//! - **Shared tables** (`CopyOnWrite`, the default): every level-3 table is shared with the child,
//!   write-protected in both through `APTable` ([`crate::translation::page_table::share`]); no page is
//!   touched, and the parent's TLB is invalidated once, ASID-wide. The first write into a shared table on
//!   either side gives the writer its own copy of it ([`super::fault`]). The table of the task's stack is
//!   the exception: both sides write it as soon as `FORK` returns, so it is forked page by page, each
//!   side's first write a one-page copy instead of a 512-entry table copy.
//! - **Page by page** (`CopyOnWritePages`, the Linux-style baseline): every page shared copy-on-write,
//!   each child table filled in one pass over the parent's, one ASID-wide invalidation at the end
//!   ([`crate::translation::page_table::fork`]).
//! - **Eager copy** (`EagerCopy`, how Unix forked before copy-on-write): every page the child could write
//!   copied now; read-only program pages and the zero page shared ([`decide_eager_copy`]). The parent is
//!   not changed at all.
//!
//! On failure (no frame for a child table, a table's copy or a page's) the half-built child is dropped,
//! which releases exactly the holders it took; the parent stays consistent.

use super::{AddressSpace, PageMemory};
use crate::addr::{Frame, Page, VirtAddr};
use crate::cow::{EagerCopy, decide_eager_copy};
use crate::regions::Region;
use crate::translation::{PageFlags, TlbMaintenance};
use crate::{ForkError, Prot};
use cowpi_abi::Error;

pub use cowpi_abi::request::ForkMode;

/// A fork's child, and what the fork did.
pub struct Forked<M: PageMemory, T: TlbMaintenance> {
    pub child: AddressSpace<M, T>,
    /// Level-3 tables the child shares with the parent (0 unless the mode shares tables).
    pub tables_shared: usize,
}

/// A fork's failure as the task sees it: no frame is `OutOfMemory`; anything else is a kernel bug.
fn fork_error<E: core::fmt::Display>(error: ForkError<E>) -> Error {
    if error.is_out_of_frames() {
        return Error::OutOfMemory;
    }
    panic!("kernel bug: fork: {error}")
}

impl<M: PageMemory, T: TlbMaintenance> AddressSpace<M, T> {
    /// A copy of this address space for a forked child, made the way `mode` says, with the child's
    /// memory and TLB handles. `stack_pointer` is the task's stack pointer at the call (`SP_EL0`): the
    /// shared-table mode forks that stack's table page by page (see the module documentation).
    pub fn fork(
        &mut self,
        mode: ForkMode,
        stack_pointer: Option<u64>,
        memory: M,
        tlb: T,
    ) -> Result<Forked<M, T>, Error> {
        let mut child = AddressSpace::new(memory, tlb)?;
        child.regions = self.regions.clone();
        let tables_shared = match mode {
            ForkMode::CopyOnWrite => {
                // The stack grows down: the next push lands below SP, in the page of SP - 1.
                let stack = stack_pointer.map(|sp| Page::containing(VirtAddr::new(sp.wrapping_sub(1))));
                self.tables
                    .share_tables_into_except(&mut child.tables, stack)
                    .map_err(fork_error)?
                    .tables_shared
            }
            ForkMode::CopyOnWritePages => {
                self.tables.share_pages_into(&mut child.tables).map_err(fork_error)?;
                0
            }
            ForkMode::EagerCopy => {
                self.eager_copy_into(&mut child)?;
                0
            }
        };
        Ok(Forked { child, tables_shared })
    }

    /// The eager fork's pass over every mapping.
    fn eager_copy_into(&mut self, child: &mut AddressSpace<M, T>) -> Result<(), Error> {
        let mut outcome = Ok(());
        self.tables.for_each_mapping(|page, frame, flags| {
            if outcome.is_ok() {
                outcome = child.eager_copy_page(page, frame, flags);
            }
        });
        outcome
    }

    /// Gives this eager-fork child its mapping of the parent's `page` (`frame`, `flags`): the same frame
    /// with a reference for what nobody writes in place, a private copy for the rest.
    fn eager_copy_page(&mut self, page: Page, frame: Frame, flags: PageFlags) -> Result<(), Error> {
        let rights = self.regions.find(page.start_address()).map_or(Prot::NONE, Region::prot);
        let memory = self.tables.memory_mut();
        let (child_frame, child_flags) = match decide_eager_copy(flags, rights) {
            Ok(EagerCopy::Share { flags }) => {
                memory.share_frame(frame, flags).map_err(|_| Error::OutOfMemory)?;
                (frame, flags)
            }
            Ok(EagerCopy::Copy { flags }) => {
                (memory.alloc_copy_of(frame).map_err(|_| Error::OutOfMemory)?, flags)
            }
            Err(bug) => panic!("kernel bug: eager fork at {page}: {bug}"),
        };
        if self.tables.map(page, child_frame, child_flags).is_err() {
            self.tables.memory_mut().release_frame(child_frame, child_flags);
            return Err(Error::OutOfMemory);
        }
        Ok(())
    }
}
