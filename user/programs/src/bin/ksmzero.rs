//! `ksmzero <pages>`: follows `MEMSTATS`'s `ksm_zero_pages` (the pages that map the zero page now because
//! the kernel's page-merging task put them there) through everything that adds or removes such a page.
//!
//! Run by the kernel test `ksm::ksm_zero_pages_follows_merged_zero_pages_until_they_go`, which runs full
//! scans while it waits; by hand, type `ksm on` first. It counts on being the only task whose zero pages
//! are merged meanwhile, since the counter is machine-wide.
//!
//! It maps `<pages>` pages (at least 8), writes a zero into each (so each takes a frame of its own, all
//! zeros), marks them `MERGEABLE` and waits (polling `MEMSTATS` every 5 ms, for at most 20 s) until all
//! are merged onto the zero page. Then it checks, each step against the count before it:
//!
//! - the count went up by exactly `<pages>`, as did the cumulative `ksm_zero_pages_merged`;
//! - writing a byte into a quarter of the pages (zero-fill faults) takes exactly that many away;
//! - `UNMAP` of another quarter takes exactly that many away;
//! - `PROTECT` read-only and back to read-write changes nothing: the pages are still merged zero pages;
//! - a copy-on-write `FORK` adds the child's copy of each page left: the child sees twice as many, and a
//!   write in the child takes one away; once the child has exited and been waited for, the count is back;
//! - an eager-copy `FORK` does the same (its child shares the zero page rather than copying it);
//! - `ksm_zero_pages_merged` never went down, and no page reads as anything but what was written.
//!
//! What is left goes when the task exits (the kernel test checks that). Each check prints an `ok` or
//! `FAILED` line; the exit status is the number of failures (a child's count as one), 2 for bad
//! arguments.
#![no_std]
#![no_main]

use cowpi_programs::checks::Checks;
use cowpi_programs::region::Region;
use cowpi_programs::{args, stats};
use cowpi_user::abi::ForkMode;
use cowpi_user::abi::layout::PAGE_SIZE;
use cowpi_user::task::Fork;
use cowpi_user::{ExitStatus, MemStats, Prot, entry, memory, println, task};

entry!(main);

const USAGE: &str = "usage: ksmzero <pages>=8..";

/// How long to wait for the merging task to merge every page, in 5 ms steps.
const WAIT_STEPS: u64 = 4_000;

fn main(args: &str) -> i32 {
    let pages = match args::number(args, 0, 0) {
        Ok(pages @ 8..=65_536) => pages as usize,
        _ => {
            println!("{USAGE}");
            return 2;
        }
    };
    let mut checks = Checks::new("ksmzero");
    if !stats::has_ksm_counters(&mut checks) {
        return checks.finish();
    }
    let before = stats::now();
    let region = match Region::map(pages) {
        Ok(region) => region,
        Err(error) => {
            checks.check("MAP", false, format_args!("{pages} pages: {error}"));
            return checks.finish();
        }
    };
    for page in 0..pages {
        region.write(page, 0, 0);
    }
    if let Err(error) = memory::mergeable(region.address(), pages * PAGE_SIZE as usize) {
        checks.check("MERGEABLE", false, format_args!("{error}"));
        return checks.finish();
    }

    // Every page merged onto the zero page.
    let merged = wait_for(|now| now.ksm_zero_pages_merged - before.ksm_zero_pages_merged >= pages as u64);
    let count = |stats: &MemStats| stats.ksm_zero_pages.wrapping_sub(before.ksm_zero_pages);
    checks.check(
        "every page merged onto the zero page",
        merged.ksm_zero_pages_merged - before.ksm_zero_pages_merged == pages as u64,
        format_args!("{} merged", merged.ksm_zero_pages_merged - before.ksm_zero_pages_merged),
    );
    expect(&mut checks, "ksm_zero_pages counts each of them", count(&merged), pages as u64);

    // A write takes a page away (the zero-fill fault); a nonzero byte keeps it from being merged again.
    let quarter = pages / 4;
    for page in 0..quarter {
        region.write(page, 0, page as u64 + 1);
    }
    let written = stats::now();
    expect(&mut checks, "a write takes its page away", count(&written), (pages - quarter) as u64);

    // UNMAP takes the pages away.
    let unmapped = quarter..2 * quarter;
    // SAFETY: the offset stays inside the region's mapping; nothing refers into these pages, and only the
    // region's pages below `quarter` and from `2 * quarter` on are used below.
    let result = unsafe {
        memory::unmap(region.address().add(unmapped.start * PAGE_SIZE as usize), quarter * PAGE_SIZE as usize)
    };
    checks.that("UNMAP", result.is_ok());
    let left = (pages - 2 * quarter) as u64;
    let after_unmap = stats::now();
    expect(&mut checks, "UNMAP takes its pages away", count(&after_unmap), left);

    // PROTECT keeps them merged zero pages, whatever access it leaves.
    let rest = region.address().wrapping_add(2 * quarter * PAGE_SIZE as usize);
    let rest_len = (pages - 2 * quarter) * PAGE_SIZE as usize;
    for prot in [Prot::READ, Prot::READ_WRITE] {
        // SAFETY: nothing refers into the region; it is only read below until it is writable again.
        let result = unsafe { memory::protect(rest, rest_len, prot) };
        checks.that("PROTECT", result.is_ok());
        expect(&mut checks, "PROTECT keeps the pages counted", count(&stats::now()), left);
    }

    for mode in [ForkMode::CopyOnWrite, ForkMode::CopyOnWritePages, ForkMode::EagerCopy] {
        fork_case(&mut checks, mode, &region, 2 * quarter, &before, left);
    }

    let end = stats::now();
    checks.that(
        "ksm_zero_pages_merged never went down",
        end.ksm_zero_pages_merged >= merged.ksm_zero_pages_merged,
    );
    let intact = (0..quarter).all(|page| region.read(page, 0) == page as u64 + 1)
        && (2 * quarter..pages).all(|page| region.read(page, 0) == 0);
    checks.that("every page reads what was written", intact);
    checks.finish()
}

/// Forks in `mode`; the child checks that it counts its copies of the `left` merged zero pages (from page
/// `first` on) too, and that its write to one takes it away; the parent checks that the count is back
/// once the child is gone. The count is of page descriptors: after a fork that shares level-3 tables,
/// the child's pages are the parent's descriptors until its first write gives it a table of its own (and
/// with it copies of them all).
fn fork_case(
    checks: &mut Checks,
    mode: ForkMode,
    region: &Region,
    first: usize,
    before: &MemStats,
    left: u64,
) {
    let count = |stats: &MemStats| stats.ksm_zero_pages.wrapping_sub(before.ksm_zero_pages);
    let (name, at_fork) = match mode {
        ForkMode::CopyOnWrite => ("copy-on-write fork (shared tables)", left),
        ForkMode::CopyOnWritePages => ("copy-on-write fork (page by page)", 2 * left),
        ForkMode::EagerCopy => ("eager fork", 2 * left),
    };
    match task::fork_with(mode) {
        Ok(Fork::Child) => {
            let mut mine = Checks::new("ksmzero child");
            expect(
                &mut mine,
                "the child's copies count once they are its own",
                count(&stats::now()),
                at_fork,
            );
            region.write(first, 0, 0xC0FFEE);
            expect(&mut mine, "a write in the child takes its page away", count(&stats::now()), 2 * left - 1);
            task::exit(mine.finish());
        }
        Ok(Fork::Parent { child }) => {
            let status = task::wait(Some(child));
            checks.check(name, status == Ok((child, ExitStatus::Exited(0))), format_args!("{status:?}"));
            expect(checks, "the child's pages went with it", count(&stats::now()), left);
            checks.that("the child's write stayed in the child", region.read(first, 0) == 0);
        }
        Err(error) => checks.check(name, false, format_args!("{error}")),
    }
}

/// Checks that `found` is `expected`.
fn expect(checks: &mut Checks, what: &str, found: u64, expected: u64) {
    checks.check(what, found == expected, format_args!("{found}, expected {expected}"));
}

/// `MEMSTATS` once `done` says so, or after [`WAIT_STEPS`] steps of 5 ms.
fn wait_for(done: impl Fn(&MemStats) -> bool) -> MemStats {
    for _ in 0..WAIT_STEPS {
        let now = stats::now();
        if done(&now) {
            return now;
        }
        task::sleep(5);
    }
    stats::now()
}
