//! TLB maintenance: what the kernel must do after changing a descriptor, so that no CPU keeps using the
//! old translation.
//!
//! The TLB caches translations, and walk caches cache table descriptors; neither notices when software
//! rewrites a table. Arm ARM D8.13 ("Translation Lookaside Buffers") and D8.14 (TLB maintenance) set the
//! rules [`super::page_table`] follows:
//!
//! - Making an invalid descriptor valid needs no invalidation (the TLB never caches a faulting
//!   translation), but the new descriptor must be visible to the walker before anything relies on it:
//!   [`TlbMaintenance::publish_tables`].
//! - Removing or weakening a translation (invalid, fewer permissions) must be followed by invalidation
//!   before the change can be relied on: [`TlbMaintenance::invalidate_page`].
//! - Changing the frame or memory type of a valid descriptor needs *break-before-make*: write it invalid,
//!   invalidate, then write the new one, since two TLB entries for one address would be a TLB conflict
//!   (and could mix old and new attributes).

use crate::addr::Page;

/// The barriers and TLB invalidations that follow table changes, for one address space. The kernel
/// implements them with instructions; host tests record the calls.
///
/// The handle knows the ASID its address space runs with (the kernel's reads it at each invalidation:
/// the context switch may give the space a new one while the space's lock is held, see
/// [`crate::SpaceAsid`]). A space that has never run has no ASID and nothing cached: then there is
/// nothing to invalidate, and the handle does nothing.
pub trait TlbMaintenance {
    /// Removes every cached translation of `page` tagged with the space's ASID from every core, at every
    /// level (walk-cache entries of the tables on the way to it included), and waits until that is done.
    ///
    /// The kernel: `DSB ISHST` (the descriptor store reaches the walker first), `TLBI VAE1IS` with the page
    /// number and ASID, `DSB ISH` (every core has done it), `ISB`. It must be `VAE1IS`, not the last-level
    /// `VALE1IS`: when a table is freed, this call is what evicts the cached descriptor that pointed at it.
    fn invalidate_page(&mut self, page: Page);

    /// Removes every cached translation and walk tagged with the space's ASID from every core, and waits
    /// until that is done: one invalidation after changes all over an address space (a fork's, a shared
    /// table's link replaced), instead of one per page.
    ///
    /// The kernel: `DSB ISHST`, `TLBI ASIDE1IS`, `DSB ISH`, `ISB`.
    fn invalidate_asid(&mut self);

    /// Makes descriptor stores visible to the table walker: called after a new table is zeroed (before it
    /// is linked) and after a descriptor becomes valid. The kernel: `DSB ISHST`, then `ISB` so its own next
    /// access to the page sees it.
    fn publish_tables(&mut self) {}
}
