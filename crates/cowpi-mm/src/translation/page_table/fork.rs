//! Fork: giving a new address space the same pages as an existing one, by sharing frames, not copying.
//!
//! [`AddressSpaceTables::share_into`] maps every page of the parent into the (empty) child, on the same
//! frame. A page the parent may write becomes copy-on-write in both, so that the first write on either
//! side copies it ([`crate::cow`]); a page that is read-only already (program text, rodata, and pages
//! that are COW, zero-page or merged from before, or have no access) is mapped in the child with the
//! flags it has. No page
//! data is copied, so fork costs the child's tables and one reference per page.
//!
//! Order, for each page: the parent is downgraded first (in place, then invalidated by VA and ASID, as
//! [`AddressSpaceTables::protect`] does), then the child maps the frame, then `share` adds the child
//! mapping's reference. So at no point does the child map a frame the parent can still write, and every
//! child mapping holds exactly one reference: when fork fails midway, destroying the child (releasing
//! each mapping it holds) undoes precisely the references taken. The parent pages already downgraded stay
//! COW with one holder; their next write fault reuses them in place, which costs a fault but is correct.

use core::fmt;

use super::{AddressSpaceTables, MapError};
use crate::addr::{Frame, Page};
use crate::translation::{Level, MemoryType, PageFlags, TableMemory, TlbMaintenance};

/// What [`AddressSpaceTables::share_into`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ForkCounts {
    /// Pages mapped in the child, each with a new reference to its frame.
    pub pages_shared: usize,
    /// Writable parent pages made copy-on-write (and invalidated in the parent's TLB).
    pub pages_made_cow: usize,
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

impl<M: TableMemory, T: TlbMaintenance> AddressSpaceTables<M, T> {
    /// Maps every page of these tables into `child` on the same frame, copy-on-write where the page is
    /// writable here, and calls `share` once per child mapping, after mapping it, with the frame and the
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
        // Empty tables are freed eagerly, so an address space maps nothing exactly when it is its root.
        if child.table_frames() != 1 {
            return Err(ForkError::ChildNotEmpty);
        }
        let mut counts = ForkCounts::default();
        let root = self.root;
        // The parent's table structure does not change here, only leaf descriptors, so it can be walked
        // while it is edited.
        for index1 in 0..Level::ENTRIES {
            let Some(level2) = self.next_table(root, Level::One, index1) else { continue };
            for index2 in 0..Level::ENTRIES {
                let Some(level3) = self.next_table(level2, Level::Two, index2) else { continue };
                for index3 in 0..Level::ENTRIES {
                    let Some((frame, flags)) = self.leaf_at(level3, index3) else { continue };
                    // Lossless: each index is below 512.
                    let page = Page::from_number(((index1 << 18) | (index2 << 9) | index3) as u64);
                    if flags.memory == MemoryType::Device {
                        return Err(ForkError::DeviceMemory(page));
                    }
                    let shared_flags = if flags.writable {
                        let cow = flags.copy_on_write();
                        // Cannot fail: a writable user page of RAM is not executable (W^X), so its COW form
                        // follows every rule, and the child's map would refuse it the same way.
                        let descriptor = Self::user_descriptor(page, frame, cow)
                            .map_err(|error| ForkError::ChildMap { page, error })?;
                        self.rewrite_in_place(level3, page, descriptor);
                        counts.pages_made_cow += 1;
                        cow
                    } else {
                        flags
                    };
                    child
                        .map(page, frame, shared_flags)
                        .map_err(|error| ForkError::ChildMap { page, error })?;
                    if let Err(error) = share(frame, shared_flags) {
                        // Without its reference the mapping must go, or destroying the child would drop a
                        // reference that was never taken.
                        child.unmap(page);
                        return Err(ForkError::Share { page, frame, error });
                    }
                    counts.pages_shared += 1;
                }
            }
        }
        Ok(counts)
    }
}
