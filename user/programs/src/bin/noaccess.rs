//! `noaccess`: `PROTECT` to no access and back keeps every kind of page, with a forked child watching.
//!
//! POSIX `mprotect(PROT_NONE)` takes the rights away, not the memory: guard pages, garbage collectors and
//! sandboxes hide pages and show them again later, and expect what they held. This program takes each
//! kind of page cowpi has through that round trip and checks it comes back as it was, in its bytes and in
//! its sharing:
//!
//! 1. a private page: while hidden it still counts as resident and private (`MEMSTATS`) and no frame is
//!    freed; shown again it holds its bytes and is written in place, without a fault;
//! 2. with a forked child alive, a page shared copy-on-write with it, a page that maps the zero page (read,
//!    never written) and two pages merged by the kernel's page merging (`MERGEABLE`; the kernel test
//!    drives the scanner). The parent hides all three while the child checks its own copies and writes
//!    them (each write must still copy, or zero-fill); once the child is gone the parent shows its pages
//!    again: their bytes are the parent's, and each still copies on write (a reuse, a zero fill, a copy);
//! 3. a page hidden before a fork, copy-on-write and then eager-copy: the child inherits it hidden, shows
//!    its own, checks the bytes and writes it (a copy, since the parent still holds the frame); the
//!    parent's holds its own bytes, and once the child has gone it is written in place;
//! 4. a hidden page `UNMAP`ped gives its frame back, and memory `MAP`ped in its place reads zeros.
//!
//! Each check prints an `ok` or `FAILED` line; the exit status is the number of failures (a child's
//! failures count as one).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;

use cowpi_programs::checks::Checks;
use cowpi_programs::region::{Region, WORDS_PER_PAGE};
use cowpi_programs::{stack, stats};
use cowpi_user::abi::ForkMode;
use cowpi_user::abi::layout::PAGE_SIZE;
use cowpi_user::{ExitStatus, MemStats, Prot, entry, memory, task, time};

entry!(main);

const PROGRAM: &str = "noaccess";

/// How long the program waits for the merging task to merge its two mergeable pages.
const MERGE_WAIT_MS: u64 = 20_000;

/// How long the watching child sleeps before it checks, so that the parent has hidden its pages by then.
const CHILD_DELAY_MS: u64 = 20;

/// What word `word` of both mergeable pages holds: the same in each, so that they can merge.
fn merged_word(word: usize) -> u64 {
    0x4d45_5247_4544_0000 | word as u64
}

/// The task's own pages as `MEMSTATS` counts them: what a round trip must leave exactly as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pages {
    resident: u64,
    shared: u64,
    private: u64,
    zero: u64,
}

impl Pages {
    fn of(stats: &MemStats) -> Pages {
        Pages {
            resident: stats.resident_pages,
            shared: stats.shared_pages,
            private: stats.private_pages,
            zero: stats.zero_pages,
        }
    }
}

/// Sets `prot` on every page of `region`.
fn protect(region: &Region, prot: Prot) -> Result<(), cowpi_user::Error> {
    // SAFETY: the region is only ever reached through `Region`'s raw pointers, never a reference, and
    // the callers touch it only while it is readable (and write it only while writable).
    unsafe { memory::protect(region.address(), region.pages() * PAGE_SIZE as usize, prot) }
}

/// Hides `regions` (`PROTECT` to no access) and checks the task's pages are counted exactly as before;
/// with `quiet` (no other task can take or free frames meanwhile), that no frame came free either.
fn hide(checks: &mut Checks, what: &str, regions: &[&Region], quiet: bool) {
    // The MEMSTATS buffers live on the stack: after a fork, writing there would copy a stack page and
    // take a frame between the two counts. Nothing is printed (or put on the heap) until both are read.
    stack::prefault();
    let before = stats::now();
    let hidden = regions.iter().all(|region| protect(region, Prot::NONE).is_ok());
    let after = stats::now();
    checks.that(&format!("{what}: {}", "PROTECT to no access succeeds"), hidden);
    checks.check(
        &format!("{what}: {}", "the pages stay resident while hidden"),
        Pages::of(&before) == Pages::of(&after),
        format_args!("{:?} before, {:?} after", Pages::of(&before), Pages::of(&after)),
    );
    if quiet {
        checks.check(
            &format!("{what}: {}", "hiding frees no frame"),
            before.frames_free == after.frames_free,
            format_args!("{} frames free before, {} after", before.frames_free, after.frames_free),
        );
    }
}

/// Shows `regions` again (read-write) and checks the task's pages are counted as before.
fn show(checks: &mut Checks, what: &str, regions: &[&Region]) {
    stack::prefault();
    let before = stats::now();
    let shown = regions.iter().all(|region| protect(region, Prot::READ_WRITE).is_ok());
    let after = stats::now();
    checks.that(&format!("{what}: {}", "PROTECT read-write again succeeds"), shown);
    checks.check(
        &format!("{what}: {}", "showing the pages maps nothing new"),
        Pages::of(&before) == Pages::of(&after),
        format_args!("{:?} before, {:?} after", Pages::of(&before), Pages::of(&after)),
    );
}

/// Checks that page `page` of `region` holds `expected(word)` in every word.
fn check_page(
    checks: &mut Checks,
    what: &str,
    region: &Region,
    page: usize,
    expected: impl FnMut(usize) -> u64,
) {
    match region.page_difference(page, expected) {
        None => checks.that(what, true),
        Some(difference) => checks.check(what, false, format_args!("{difference}")),
    }
}

/// Writes word 0 of page `page` of `region` and checks the write took the fault it should (`counter`
/// says which, from `MEMSTATS`) and landed.
fn write_faulting(
    checks: &mut Checks,
    what: &str,
    region: &Region,
    page: usize,
    value: u64,
    counter: fn(&MemStats) -> u64,
) {
    stack::prefault();
    let before = stats::now();
    region.write(page, 0, value);
    let after = stats::now();
    checks.check(
        what,
        counter(&after) == counter(&before) + 1 && region.read(page, 0) == value,
        format_args!(
            "counter {} -> {}, word 0 holds {:#x}",
            counter(&before),
            counter(&after),
            region.read(page, 0)
        ),
    );
}

/// Writes word 0 of `region`'s first page and checks the write took no fault and landed.
fn write_in_place(checks: &mut Checks, what: &str, region: &Region) {
    stack::prefault();
    let before = stats::now();
    region.write(0, 0, 0x1111);
    let after = stats::now();
    let faults = |s: &MemStats| (s.cow_faults, s.zero_fill_faults);
    checks.check(
        what,
        faults(&after) == faults(&before) && region.read(0, 0) == 0x1111,
        format_args!("(cow, zero-fill) faults {:?} -> {:?}", faults(&before), faults(&after)),
    );
}

/// Waits until the two pages of `merged` share a frame (the kernel test runs the merging task).
fn wait_until_merged(checks: &mut Checks, merged: &Region) -> bool {
    let deadline = time::ticks() + MERGE_WAIT_MS * time::frequency() / 1000;
    loop {
        let now = stats::now();
        // Before the fork, the only shared pages that are not zero-page mappings are the merged ones.
        let merged_pages = now.shared_pages - now.zero_pages;
        if merged_pages >= merged.pages() as u64 {
            checks.that("the two mergeable pages are merged", true);
            return true;
        }
        if time::ticks() > deadline {
            checks.check("the two mergeable pages are merged", false, format_args!("{merged_pages} merged"));
            return false;
        }
        task::sleep(5);
    }
}

/// Waits for `child` and checks it exited with 0.
fn reap(checks: &mut Checks, what: &str, child: u64) {
    let outcome = task::wait(Some(child));
    checks.check(what, matches!(outcome, Ok((_, ExitStatus::Exited(0)))), format_args!("{outcome:?}"));
}

fn main(_: &str) -> i32 {
    let mut checks = Checks::new(PROGRAM);
    if !stats::has_ksm_counters(&mut checks) {
        return checks.finish();
    }
    let (Ok(private), Ok(cow), Ok(zero), Ok(merged)) =
        (Region::map(1), Region::map(1), Region::map(1), Region::map(2))
    else {
        checks.that("MAP the pages", false);
        return checks.finish();
    };
    private.fill(0..1, 1);
    cow.fill(0..1, 2);
    // A read of untouched memory maps the zero page.
    checks.that("an untouched page reads zero", zero.read(0, 0) == 0);
    for page in 0..merged.pages() {
        for word in 0..WORDS_PER_PAGE {
            merged.write(page, word, merged_word(word));
        }
    }
    checks
        .that("MERGEABLE", memory::mergeable(merged.address(), merged.pages() * PAGE_SIZE as usize).is_ok());
    let is_merged = wait_until_merged(&mut checks, &merged);

    // 1. A private page, nothing else running.
    hide(&mut checks, "private", &[&private], true);
    show(&mut checks, "private", &[&private]);
    check_page(&mut checks, "private: the bytes are back", &private, 0, |word| Region::pattern(1, 0, word));
    write_in_place(&mut checks, "private: written in place", &private);

    // 2. Shared pages, hidden in the parent while a child checks and writes its own.
    let sharing_before = stats::now().ksm_pages_sharing;
    match task::fork() {
        Err(error) => checks.check("FORK the watcher", false, format_args!("{error:?}")),
        Ok(task::Fork::Child) => {
            let mut checks = Checks::new("noaccess child");
            task::sleep(CHILD_DELAY_MS);
            check_page(&mut checks, "its copy-on-write page holds the bytes", &cow, 0, |word| {
                Region::pattern(2, 0, word)
            });
            checks.that("its zero page reads zero", zero.read(0, 0) == 0);
            check_page(&mut checks, "its merged page holds the bytes", &merged, 0, merged_word);
            write_faulting(&mut checks, "its copy-on-write page copies on write", &cow, 0, 0x2222, |s| {
                s.cow_copies
            });
            write_faulting(&mut checks, "its zero page zero-fills on write", &zero, 0, 0x3333, |s| {
                s.zero_fill_faults
            });
            write_faulting(&mut checks, "its merged page copies on write", &merged, 0, 0x4444, |s| {
                s.cow_copies
            });
            task::exit(checks.finish());
        }
        Ok(task::Fork::Parent { child }) => {
            let shared = [&cow, &zero, &merged];
            hide(&mut checks, "shared", &shared, false);
            reap(&mut checks, "the watching child saw and wrote only its own copies", child);
            show(&mut checks, "shared", &shared);
            check_page(&mut checks, "copy-on-write: the bytes are back", &cow, 0, |word| {
                Region::pattern(2, 0, word)
            });
            checks.that("zero page: still reads zero", zero.read(0, 0) == 0 && zero.read(0, 1) == 0);
            for page in 0..merged.pages() {
                check_page(&mut checks, "merged: the bytes are back", &merged, page, merged_word);
            }
            if is_merged {
                checks.check(
                    "merged: still merged",
                    stats::now().ksm_pages_sharing == sharing_before,
                    format_args!(
                        "{} sharing before, {} after",
                        sharing_before,
                        stats::now().ksm_pages_sharing
                    ),
                );
            }
            // The child has gone, so the copy-on-write page is this task's alone: reused in place.
            write_faulting(&mut checks, "copy-on-write: reused on write", &cow, 0, 0x5555, |s| s.cow_reuses);
            write_faulting(&mut checks, "zero page: zero-fills on write", &zero, 0, 0x6666, |s| {
                s.zero_fill_faults
            });
            // Page 1 still holds the merged frame.
            write_faulting(&mut checks, "merged: copies on write", &merged, 0, 0x7777, |s| s.cow_copies);
            check_page(&mut checks, "merged: the other page is unchanged", &merged, 1, merged_word);
        }
    }

    // 3. Pages hidden at a fork: the child inherits them hidden.
    for (mode, seed, name) in [
        (ForkMode::CopyOnWrite, 3, "copy-on-write fork"),
        (ForkMode::EagerCopy, 4, "eager-copy fork"),
        (ForkMode::CopyOnWritePages, 5, "per-page copy-on-write fork"),
    ] {
        let Ok(hidden) = Region::map(1) else {
            checks.that("MAP a page to hide", false);
            break;
        };
        hidden.fill(0..1, seed);
        hide(&mut checks, &format!("hidden at a {name}"), &[&hidden], true);
        match task::fork_with(mode) {
            Err(error) => checks.check("FORK with hidden pages", false, format_args!("{error:?}")),
            Ok(task::Fork::Child) => {
                let mut checks = Checks::new("noaccess child");
                show(&mut checks, &format!("inherited hidden at a {name}"), &[&hidden]);
                check_page(
                    &mut checks,
                    &format!("inherited hidden at a {name}: the bytes are there"),
                    &hidden,
                    0,
                    |word| Region::pattern(seed, 0, word),
                );
                write_faulting(
                    &mut checks,
                    &format!("inherited hidden at a {name}: copies on write"),
                    &hidden,
                    0,
                    0x8888,
                    |s| s.cow_copies,
                );
                task::exit(checks.finish());
            }
            Ok(task::Fork::Parent { child }) => {
                reap(&mut checks, "the child showed, read and wrote its own copy", child);
                show(&mut checks, &format!("hidden at a {name}"), &[&hidden]);
                check_page(
                    &mut checks,
                    &format!("hidden at a {name}: the bytes are the parent's"),
                    &hidden,
                    0,
                    |word| Region::pattern(seed, 0, word),
                );
                // Hidden, it was shared with no copy-on-write mark (it was not writable at the fork); the
                // child has gone, so showing it made it writable in place.
                write_in_place(&mut checks, &format!("hidden at a {name}: written in place"), &hidden);
            }
        }
    }
    unmap_hidden(&mut checks);
    checks.finish()
}

/// A hidden page still goes with `UNMAP`, frame and bytes: what is mapped there next reads zeros.
fn unmap_hidden(checks: &mut Checks) {
    let Ok(page) = Region::map(1) else {
        checks.that("MAP a page to unmap hidden", false);
        return;
    };
    page.fill(0..1, 5);
    hide(checks, "unmapped hidden", &[&page], true);
    let address = page.address();
    let before = stats::now();
    // SAFETY: `page` is never used again; only its address is, to map new memory there.
    let unmapped = unsafe { memory::unmap(address, PAGE_SIZE as usize) };
    let after = stats::now();
    checks.check(
        "unmapped hidden: UNMAP gives the frame back",
        unmapped.is_ok()
            && after.resident_pages + 1 == before.resident_pages
            && after.frames_free > before.frames_free,
        format_args!(
            "{unmapped:?}; resident {} -> {}, free {} -> {}",
            before.resident_pages, after.resident_pages, before.frames_free, after.frames_free
        ),
    );
    match memory::map_at(address as usize, PAGE_SIZE as usize, Prot::READ_WRITE) {
        Ok(again) if again == address => {
            // SAFETY: a fresh page of ours, read through a raw pointer only.
            let word = unsafe { again.cast::<u64>().read_volatile() };
            checks.check("unmapped hidden: mapped again, reads zeros", word == 0, format_args!("{word:#x}"));
        }
        other => checks.check("unmapped hidden: MAP at the same place", false, format_args!("{other:?}")),
    }
}
