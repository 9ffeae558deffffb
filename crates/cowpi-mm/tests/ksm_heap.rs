//! The page-merging book's own memory: once it remembers nothing, it holds nothing.
//!
//! The kernel's audit after every test checks that the kernel heap is back where it was, and the book
//! lives on that heap. An emptied `BTreeMap` or `BTreeSet` keeps its root node, so a book that had
//! forgotten every page still held 368 to 560 bytes after each KSM test until `end_pass` and
//! `prune_stable` gave the emptied trees back. This test counts the bytes with a global allocator of its
//! own, which is why it is a file (a test binary) of its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use cowpi_mm::Frame;
use cowpi_mm::ksm::{Checksum, KsmBook};

/// The system allocator, counting the bytes held.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator unchanged; the counter only watches.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded from the caller.
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            HELD.fetch_add(layout.size(), Ordering::SeqCst);
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(block, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn a_book_that_forgot_everything_holds_no_memory() {
    let mut book: KsmBook<(u32, u64)> = KsmBook::new();
    let before = HELD.load(Ordering::SeqCst);
    // One task's pages seen in a pass, two of them merged onto a stable frame.
    for page in 0..100 {
        book.observe((7, page), Checksum(page));
        book.add_unstable((7, page), Frame::from_number(1000 + page), Checksum(page));
    }
    book.add_stable(Frame::from_number(5), Checksum(3));
    book.end_pass(|_| true);
    assert!(book.tracked() > 0);
    assert!(HELD.load(Ordering::SeqCst) > before, "the book took no memory");
    // The task is gone: the next pass forgets its pages, and the stable frame has no mapping left.
    book.end_pass(|_| false);
    assert_eq!(book.prune_stable(|_| false), [Frame::from_number(5)]);
    assert_eq!(book.tracked(), 0);
    assert_eq!(HELD.load(Ordering::SeqCst), before, "an empty book still holds memory");
}
