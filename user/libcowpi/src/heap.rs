//! The global allocator: a bump allocator over chunks of `MAP`ped memory.
//!
//! It is the simplest allocator that works: each allocation takes the next suitably aligned bytes of the
//! current chunk, and when the chunk runs out a new one is mapped. Freeing does nothing; the memory comes
//! back to the kernel when the task exits. That suits cowpi's programs, which are short and allocate
//! little, and keeps the allocator small enough to read at a glance.
//!
//! A side effect worth noticing: every byte is handed out at most once, and `MAP` memory reads as zeros,
//! so `alloc_zeroed` has nothing to do. The pages are not even touched, so a kernel that backs fresh
//! anonymous memory with a shared zero page keeps sharing it until the program writes.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ptr;

use cowpi_abi::Prot;
use cowpi_abi::layout::PAGE_SIZE;

use crate::memory;

/// How much to map at a time: 64 pages. Larger requests get a chunk of their own size.
const CHUNK_SIZE: usize = 64 * PAGE_SIZE as usize;

/// The unused rest of the current chunk, `[next, end)`.
struct BumpHeap {
    next: Cell<usize>,
    end: Cell<usize>,
}

// SAFETY: a cowpi task has exactly one thread and no signal handlers, so the cells are never accessed from
// two places at once, and an allocation is never interrupted by another.
unsafe impl Sync for BumpHeap {}

#[global_allocator]
static HEAP: BumpHeap = BumpHeap { next: Cell::new(0), end: Cell::new(0) };

impl BumpHeap {
    /// Takes `layout` from the current chunk, if it fits.
    fn take(&self, layout: Layout) -> Option<*mut u8> {
        let start = self.next.get().checked_next_multiple_of(layout.align())?;
        let end = start.checked_add(layout.size())?;
        if end > self.end.get() {
            return None;
        }
        self.next.set(end);
        Some(start as *mut u8)
    }

    /// Maps a new chunk big enough for `layout` and makes it current.
    fn refill(&self, layout: Layout) -> Option<()> {
        let len = layout.size().checked_add(layout.align())?.max(CHUNK_SIZE);
        let len = len.checked_next_multiple_of(PAGE_SIZE as usize)?;
        let start = memory::map(len, Prot::READ_WRITE).ok()? as usize;
        self.next.set(start);
        self.end.set(start + len);
        Some(())
    }
}

// SAFETY: `alloc` returns either null or `layout.size()` bytes aligned to `layout.align()` that no other
// allocation overlaps (the bump pointer only moves forward over mapped, otherwise unused memory).
unsafe impl GlobalAlloc for BumpHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(block) = self.take(layout) {
            return block;
        }
        match self.refill(layout) {
            Some(()) => self.take(layout).unwrap_or(ptr::null_mut()),
            None => ptr::null_mut(),
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as `alloc`.
        unsafe { self.alloc(layout) }
    }

    unsafe fn dealloc(&self, _block: *mut u8, _layout: Layout) {}
}
