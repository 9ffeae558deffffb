//! `memory`: maps, touches, protects and unmaps anonymous memory, and checks what it sees at each step,
//! including the kernel's own counters from `MEMSTATS`.
//!
//! What it checks: fresh memory reads as zeros; writes stick; a read-only page still reads; an unmapped
//! page is gone (`UNMAP`/`PROTECT` on it say `NotMapped`) and its frame no longer counts for the task; a
//! hinted `MAP` into that hole lands exactly there and reads as zeros again (no stale data from before);
//! mapping and unmapping in a loop leaks nothing; and the heap (`Vec`, `String`) works. Each check prints
//! an `ok` or `FAILED` line; the exit status is the number of failures.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use cowpi_programs::checks::Checks;
use cowpi_user::abi::layout::{MAP_AREA, PAGE_SIZE};
use cowpi_user::{Error, MemStats, Prot, entry, memory, println};

entry!(main);

const PAGE: usize = PAGE_SIZE as usize;
const PAGES: usize = 4;

fn main(_args: &str) -> i32 {
    let mut checks = Checks::new("memory");
    let Ok(before) = memory::memstats() else {
        checks.that("MEMSTATS works", false);
        return checks.finish();
    };
    show("before", &before);
    checks.that("resident pages are shared plus private", consistent(&before));
    checks.that("free frames are at most all frames", before.frames_free <= before.frames_total);

    let region = match memory::map(PAGES * PAGE, Prot::READ_WRITE) {
        Ok(region) => region,
        Err(error) => {
            checks.check("MAP four pages", false, format_args!("{error}"));
            return checks.finish();
        }
    };
    let addr = region as u64;
    checks.that("MAP returns a page-aligned address", addr.is_multiple_of(PAGE_SIZE));
    checks.that("MAP places memory in the map area", MAP_AREA.contains(&addr));

    // SAFETY: MAP returned PAGES fresh read-write pages that nothing else refers to. The slice is the only
    // access to them until it is last used, before the first PROTECT below.
    let bytes = unsafe { core::slice::from_raw_parts_mut(region, PAGES * PAGE) };
    checks.that("fresh memory reads as zeros", bytes.iter().all(|&byte| byte == 0));
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = pattern(index);
    }
    let stuck = bytes.iter().enumerate().all(|(index, &byte)| byte == pattern(index));
    checks.that("written bytes read back", stuck);

    let touched = memory::memstats().unwrap_or_default();
    show("after writing 4 pages", &touched);
    checks.that("resident pages are still shared plus private", consistent(&touched));
    let grew = touched.private_pages >= before.private_pages + PAGES as u64;
    checks.check(
        "4 written pages are private to the task",
        grew,
        format_args!("private pages went from {} to {}", before.private_pages, touched.private_pages),
    );

    // SAFETY: `bytes` is not used again; from here on the pages are only read through raw pointers.
    let protected = unsafe { memory::protect(region, PAGES * PAGE, Prot::READ) };
    checks.that("PROTECT read-only", protected.is_ok());
    checks.that("read-only memory still holds its data", holds_pattern(region, 0..PAGES * PAGE));
    // SAFETY: as above: no reference into the pages exists.
    let writable = unsafe { memory::protect(region, PAGES * PAGE, Prot::READ_WRITE) };
    checks.that("PROTECT read-write again", writable.is_ok());

    // Punch a hole: unmap the second page.
    let hole = region.wrapping_add(PAGE);
    // SAFETY: no reference into the page exists.
    checks.that("UNMAP the second page", unsafe { memory::unmap(hole, PAGE) }.is_ok());
    // SAFETY: the page is already gone.
    let again = unsafe { memory::unmap(hole, PAGE) };
    checks.check("UNMAP it again says NotMapped", again == Err(Error::NotMapped), format_args!("{again:?}"));
    // SAFETY: the page is gone; nothing refers to it.
    let reprotect = unsafe { memory::protect(hole, PAGE, Prot::READ) };
    checks.check(
        "PROTECT the hole says NotMapped",
        reprotect == Err(Error::NotMapped),
        format_args!("{reprotect:?}"),
    );
    let punched = memory::memstats().unwrap_or_default();
    checks.check(
        "an unmapped page no longer counts",
        punched.private_pages < touched.private_pages,
        format_args!("private pages went from {} to {}", touched.private_pages, punched.private_pages),
    );
    checks.that(
        "the other pages keep their data",
        holds_pattern(region, 0..PAGE) && holds_pattern(region, 2 * PAGE..PAGES * PAGE),
    );

    // Fill the hole again, by hint: the new page must be fresh, not the old one's contents.
    let refilled = memory::map_at(hole as usize, PAGE, Prot::READ_WRITE);
    checks.check(
        "MAP with a hint lands on the hint",
        refilled == Ok(hole),
        format_args!("{refilled:?}, hint {hole:?}"),
    );
    if refilled == Ok(hole) {
        // SAFETY: the page was just mapped and is only read here.
        let page = unsafe { core::slice::from_raw_parts(hole, PAGE) };
        checks.that("a page mapped where another was reads as zeros", page.iter().all(|&byte| byte == 0));
    }
    // SAFETY: nothing refers to the region any more.
    let gone = unsafe { memory::unmap(region, PAGES * PAGE) };
    checks.that("UNMAP all four pages, the refilled hole included", gone.is_ok());

    no_leak_in_a_loop(&mut checks);
    heap(&mut checks);
    show("at the end", &memory::memstats().unwrap_or_default());
    checks.finish()
}

/// The byte written at `index`: varies within and across pages, so a page swapped for another shows.
fn pattern(index: usize) -> u8 {
    (index % 251) as u8 ^ (index / PAGE) as u8
}

/// Whether the bytes of `range` (offsets into the region) hold the pattern.
fn holds_pattern(region: *mut u8, range: core::ops::Range<usize>) -> bool {
    range.into_iter().all(|index| {
        // SAFETY: callers pass offsets of pages that are mapped and readable, and hold no `&mut` to them.
        let byte = unsafe { region.add(index).read_volatile() };
        byte == pattern(index)
    })
}

fn consistent(stats: &MemStats) -> bool {
    stats.resident_pages == stats.shared_pages + stats.private_pages
}

fn show(when: &str, stats: &MemStats) {
    println!(
        "memory: {when}: frames {} free of {}; task pages resident {}, shared {}, private {}",
        stats.frames_free, stats.frames_total, stats.resident_pages, stats.shared_pages, stats.private_pages
    );
}

/// Maps, writes and unmaps 16 pages 32 times: the task must end up with what it started with.
fn no_leak_in_a_loop(checks: &mut Checks) {
    let start = memory::memstats().unwrap_or_default();
    let mut failures = 0;
    for round in 0..32_u8 {
        let Ok(block) = memory::map(16 * PAGE, Prot::READ_WRITE) else {
            failures += 1;
            continue;
        };
        for page in 0..16 {
            // SAFETY: the block was just mapped read-write and nothing else refers to it.
            unsafe { block.add(page * PAGE).write_volatile(round) };
        }
        // SAFETY: nothing refers to the block any more.
        if unsafe { memory::unmap(block, 16 * PAGE) }.is_err() {
            failures += 1;
        }
    }
    checks.check("32 rounds of MAP, write, UNMAP", failures == 0, format_args!("{failures} rounds failed"));
    let end = memory::memstats().unwrap_or_default();
    checks.check(
        "the rounds leave no pages behind",
        end.resident_pages <= start.resident_pages,
        format_args!("resident pages went from {} to {}", start.resident_pages, end.resident_pages),
    );
}

/// The global allocator, through `alloc`'s collections.
fn heap(checks: &mut Checks) {
    let squares: Vec<u64> = (0..100_000).map(|n| n * n).collect();
    let sum: u64 = squares.iter().sum();
    checks.check("a Vec of 100000 squares", sum == 333_328_333_350_000, format_args!("sum {sum}"));
    let mut text = String::new();
    for word in ["copy", "on", "write"] {
        let _ = write!(text, "{word}-");
    }
    checks.check("a String grows", text == "copy-on-write-", format_args!("{text:?}"));
}
