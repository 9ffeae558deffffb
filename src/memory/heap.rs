//! The kernel heap: `alloc` (Box, Vec, ...) on a buddy allocator over a fixed region carved from RAM at
//! boot, before the frame table takes the rest.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};

use buddy_system_allocator::Heap;

use crate::sync::IrqSafeLock;

/// Orders of the buddy allocator: blocks up to 2^31 bytes, more than the heap will ever be.
const ORDERS: usize = 32;

/// The buddy heap behind the kernel's own spin lock. (buddy_system_allocator's `LockedHeap` would bring
/// in a second, older copy of `spin`.) Interrupt handlers do not allocate, so the lock needs no masking.
struct KernelHeap(IrqSafeLock<Heap<ORDERS>>);

// SAFETY: every path hands out blocks from, and takes them back to, the one locked buddy heap, which
// returns memory of at least the requested size and alignment, or null.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0.lock(|heap| heap.alloc(layout)).map_or(ptr::null_mut(), |block| block.as_ptr())
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if let Some(block) = NonNull::new(block) {
            // SAFETY: GlobalAlloc's contract: `block` came from `alloc` on this heap with this `layout`.
            self.0.lock(|heap| unsafe { heap.dealloc(block, layout) });
        }
    }
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(IrqSafeLock::new(Heap::empty()));

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
    HEAP.0.lock(|heap| unsafe { heap.init(start, size) });
}

pub fn stats() -> HeapStats {
    HEAP.0.lock(|heap| HeapStats {
        total: heap.stats_total_bytes(),
        requested: heap.stats_alloc_user(),
        allocated: heap.stats_alloc_actual(),
    })
}
