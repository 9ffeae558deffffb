//! `benchksm <mib> <rate>`: how long the kernel's page-merging task (KSM) takes to merge a region, what
//! share of the processor it used meanwhile, and what a write to a merged page costs. A benchmark the
//! kernel's `bench` command runs, after setting the scanner's tunables and switching it on; `<rate>` is
//! only the label that says which tunables (`default`, `max`). By hand, at the shell: `ksm on`, then
//! `run benchksm 16 default`.
//!
//! It maps `mib` MiB and fills every page with one of 16 patterns (page `i` gets pattern `i % 16`, every
//! word of it), so the region can shrink to 16 frames. Then it marks the region `MERGEABLE` and polls
//! `MEMSTATS` every millisecond until all but 16 of its pages share a frame (or errs after 20 full scans
//! without that, or a minute without any). Lines, each labelled `rate=<rate>` (and `mib=<mib>` but the
//! share):
//!
//! - `bench-sample: ksm.merge ticks=<from MERGEABLE to all merged> ops=1`;
//! - `bench-count: ksm.merge_scans value=<full scans completed meanwhile> unit=scans`;
//! - `bench-count: ksm.merged_pages value=<growth of ksm_pages_sharing> unit=pages`;
//! - `bench-count: ksm.scanner_share value=<the scanner's processor time per time passed> unit=ppm`;
//! - `bench-sample: fault.cost kind=ksm_unmerge ticks=<..> ops=<pages>`: writing one byte into every
//!   merged page, each write a copy-on-write fault that gives the page a frame of its own again (the
//!   scanner's processor time during the writes taken out).
//!
//! Finally every word of every page must still hold its pattern (and the written byte): merging must
//! never change what a page holds. Exits with 0; 1 after an `error:` line if a system call failed,
//! merging did not finish or data changed; 2 for bad arguments.
#![no_std]
#![no_main]

use cowpi_console::bench::{Value, is_valid_value};
use cowpi_programs::args;
use cowpi_programs::bench::{self, Failure, PAGES_PER_MIB, Pages};
use cowpi_programs::region::WORDS_PER_PAGE;
use cowpi_user::{MemStats, entry, memory, task, time};

entry!(main);

const USAGE: &str = "usage: benchksm <mib> <rate>";

/// How many different page contents the region holds: what it merges down to.
const GROUPS: usize = 16;

/// Full scans after which merging should long have finished: a page merges on its second scan at most.
const MAX_SCANS: u64 = 20;

/// How long the scanner may go without completing a full scan before the program gives up on it (it is
/// probably off).
const STALL_MS: u64 = 60_000;

/// Faults the program may take beyond those it measures: its stack and the `MEMSTATS` buffer.
const SLACK: u64 = 16;

/// What the unmerging writes put into byte 0 of every page; no pattern has it there.
const WRITTEN: u8 = 0xA5;

/// `MEMSTATS` must fill the scanner's processor time (version 4).
const STATS_SIZE: usize = MemStats::SIZE;

fn main(args: &str) -> i32 {
    let rate = args.split_whitespace().nth(1).unwrap_or("");
    match args::number(args, 0, 0) {
        Ok(mib @ 1..) if is_valid_value(rate) && args.split_whitespace().count() == 2 => {
            bench::finish(run(mib as usize, rate))
        }
        _ => bench::bad_arguments(args, USAGE),
    }
}

/// What word `word` of page `page` holds: non-zero, the same in every page of a group, and with the low
/// byte of word 0 (the group's number) never [`WRITTEN`].
fn pattern(page: usize, word: usize) -> u64 {
    let group = (page % GROUPS) as u64 + 1;
    (group * 0x0101_0101) << 32 | (word as u64) << 8 | group
}

/// What word `word` of page `page` holds once byte 0 of every page was overwritten, if `written`.
fn expected(page: usize, word: usize, written: bool) -> u64 {
    let value = pattern(page, word);
    // Little-endian: byte 0 of the page is the low byte of word 0.
    if written && word == 0 { value & !0xff | u64::from(WRITTEN) } else { value }
}

fn run(mib: usize, rate: &str) -> Result<(), Failure> {
    let pages = mib * PAGES_PER_MIB;
    let region = Pages::map(pages)?;
    for page in 0..pages {
        for word in 0..WORDS_PER_PAGE {
            region.write_word(page, word, pattern(page, word));
        }
    }
    merge(&region, rate, mib)?;
    unmerge(&region)?;
    check_contents(&region)?;
    region.unmap()
}

/// Marks the region mergeable, waits until the scanner has merged it, and prints the `ksm.*` lines.
fn merge(region: &Pages, rate: &str, mib: usize) -> Result<(), Failure> {
    let pages = region.pages() as u64;
    let before = bench::memstats(STATS_SIZE)?;
    let t0 = time::ticks();
    memory::mergeable(region.address(), region.bytes())
        .map_err(|error| Failure::new(format_args!("MERGEABLE on {pages} pages: {error}")))?;
    let after = wait_for_merging(&before, pages)?;
    let t1 = time::ticks();

    let labels = [("rate", Value::Word(rate)), ("mib", (mib as u64).into())];
    let scans = after.ksm_full_scans - before.ksm_full_scans;
    let merged = after.ksm_pages_sharing - before.ksm_pages_sharing;
    let scanner_ns = after.ksm_scanner_ns.saturating_sub(before.ksm_scanner_ns);
    let elapsed_ns = time::ticks_to_ns(t1 - t0).max(1);
    let share_ppm = (u128::from(scanner_ns) * 1_000_000 / u128::from(elapsed_ns)) as u64;
    bench::sample("ksm.merge", &labels, t1 - t0, 1);
    bench::count("ksm.merge_scans", &labels, scans, "scans");
    bench::count("ksm.merged_pages", &labels, merged, "pages");
    bench::count("ksm.scanner_share", &labels[..1], share_ppm, "ppm");
    Ok(())
}

/// Polls `MEMSTATS` every millisecond until all but one page of each group share a frame, and returns
/// the counters then.
fn wait_for_merging(before: &MemStats, pages: u64) -> Result<MemStats, Failure> {
    let target = pages - GROUPS as u64;
    let stall = bench::ms_to_ticks(STALL_MS);
    let (mut last_scans, mut last_scan_at) = (before.ksm_full_scans, time::ticks());
    loop {
        task::sleep(1);
        let now = bench::memstats(STATS_SIZE)?;
        let merged = now.ksm_pages_sharing.saturating_sub(before.ksm_pages_sharing);
        if merged >= target {
            return Ok(now);
        }
        let scans = now.ksm_full_scans - before.ksm_full_scans;
        if scans > MAX_SCANS {
            return Err(Failure::new(format_args!(
                "after {scans} full scans only {merged} of {pages} pages were merged, expected {target}"
            )));
        }
        if now.ksm_full_scans != last_scans {
            (last_scans, last_scan_at) = (now.ksm_full_scans, time::ticks());
        } else if time::ticks() - last_scan_at > stall {
            return Err(Failure::new(format_args!(
                "the merging task completed no full scan in {} s ({merged} of {pages} pages merged): is it \
                 on (`ksm on`)?",
                STALL_MS / 1000
            )));
        }
    }
}

/// Writes one byte into every (merged) page, timed, and prints the `fault.cost kind=ksm_unmerge` line.
/// The scanner is still running (flat out at the maximum rate), and on one core its time lands inside
/// the window: it is taken out (`ksm_scanner_ns` over the window), so the figure is the faults' own cost.
fn unmerge(region: &Pages) -> Result<(), Failure> {
    let pages = region.pages() as u64;
    let before = bench::memstats(STATS_SIZE)?;
    let t0 = time::ticks();
    region.write_every_page(WRITTEN);
    let t1 = time::ticks();
    let after = bench::memstats(STATS_SIZE)?;
    bench::check_growth("ksm_unmerge", "cow_faults", before.cow_faults, after.cow_faults, pages, SLACK)?;
    let scanner_ns = after.ksm_scanner_ns.saturating_sub(before.ksm_scanner_ns);
    let scanner_ticks = (u128::from(scanner_ns) * u128::from(time::frequency()) / 1_000_000_000) as u64;
    let own_ticks = (t1 - t0).saturating_sub(scanner_ticks);
    bench::sample("fault.cost", &[("kind", "ksm_unmerge".into())], own_ticks, pages);
    Ok(())
}

/// Checks that every word holds its pattern, byte 0 of each page the written byte.
fn check_contents(region: &Pages) -> Result<(), Failure> {
    for page in 0..region.pages() {
        for word in 0..WORDS_PER_PAGE {
            let (found, wanted) = (region.read_word(page, word), expected(page, word, true));
            if found != wanted {
                return Err(Failure::new(format_args!(
                    "page {page} word {word} holds {found:#018x}, expected {wanted:#018x}: a write was lost \
                     or another page's data showed through"
                )));
            }
        }
    }
    Ok(())
}
