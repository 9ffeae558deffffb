//! The kernel heap: `alloc` (Box, Vec, ...) on a buddy allocator over a fixed region carved from RAM at
//! boot, before the frame table takes the rest.

use buddy_system_allocator::LockedHeap;

/// Orders of the buddy allocator: blocks up to 2^31 bytes, more than the heap will ever be.
const ORDERS: usize = 32;

#[global_allocator]
static HEAP: LockedHeap<ORDERS> = LockedHeap::empty();

/// Heap usage, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct HeapStats {
    pub total: usize,
    /// What callers asked for.
    pub requested: usize,
    /// What the buddy allocator handed out (requests rounded up to powers of two).
    pub allocated: usize,
}

/// Hands `[start, start + size)` to the heap.
///
/// # Safety
///
/// The region must be mapped read-write, unused by anything else for the kernel's lifetime, and this must
/// be called once.
pub unsafe fn init(start: usize, size: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { HEAP.lock().init(start, size) };
}

pub fn stats() -> HeapStats {
    let heap = HEAP.lock();
    HeapStats {
        total: heap.stats_total_bytes(),
        requested: heap.stats_alloc_user(),
        allocated: heap.stats_alloc_actual(),
    }
}
