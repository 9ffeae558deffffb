//! `zeropage [mib=64] [write=256]`: checks that memory which is only read costs no memory.
//!
//! It maps `mib` MiB (more than the machine has is fine: `MAP` takes no frame until a page is touched),
//! reads every word of every page (all zeros), and checks with `MEMSTATS` that the free frames barely
//! moved (only page tables, one per 2 MiB, may be taken) while the pages now map the one shared zero
//! page. Then it writes `write` pages and checks that exactly those took a frame each (a few more at most)
//! and left the zero page, and that their neighbours still read as zeros. Each check prints an `ok` or
//! `FAILED` line; the exit status is the number of failures, 2 for bad arguments.
#![no_std]
#![no_main]

use cowpi_programs::checks::Checks;
use cowpi_programs::region::Region;
use cowpi_programs::{args, stats};
use cowpi_user::{entry, println};

entry!(main);

/// Frames a write of K pages may take beyond K: a page table or two, the stack, `MEMSTATS`'s buffer.
const WRITE_SLACK: u64 = 8;
/// Frames reading may take beyond the page tables.
const READ_SLACK: u64 = 16;
/// Seed of the written pages' pattern (see `Region`).
const WRITTEN: u64 = 7;

fn main(args: &str) -> i32 {
    let (mib, written) = match (args::number(args, 0, 64), args::number(args, 1, 256)) {
        (Ok(mib), Ok(written)) if mib > 0 => (mib as usize, written as usize),
        _ => {
            println!("usage: zeropage [mib=64] [pages to write=256]");
            return 2;
        }
    };
    let pages = mib * 256;
    let written = written.min(pages);
    let mut checks = Checks::new("zeropage");
    if !stats::has_copy_on_write_counters(&mut checks) {
        return checks.finish();
    }

    let before = stats::now();
    let region = match Region::map(pages) {
        Ok(region) => region,
        Err(error) => {
            let total = before.frames_total / 256;
            checks.check("MAP", false, format_args!("{mib} MiB on a machine of {total} MiB: {error}"));
            return checks.finish();
        }
    };
    println!("zeropage: mapped {mib} MiB ({pages} pages) on a machine of {} MiB", before.frames_total / 256);
    let mapped = stats::now();
    let taken = stats::frames_taken(&before, &mapped);
    checks.check(
        "MAP takes no frame for the memory itself",
        taken < pages as u64 / 2 + READ_SLACK,
        format_args!("{taken} frames taken"),
    );

    region.check_holds(&mut checks, "every page reads as zeros", 0..pages, 0);
    let read = stats::now();
    stats::show("zeropage", "before MAP", &before);
    stats::show("zeropage", "after reading", &read);
    let taken = stats::frames_taken(&before, &read);
    let tables = (pages as u64).div_ceil(512);
    checks.check(
        "reading takes no frame but page tables",
        taken <= tables + READ_SLACK,
        format_args!("{taken} frames taken, page tables need about {tables}"),
    );
    let mappings = read.zero_page_mappings.saturating_sub(before.zero_page_mappings);
    checks.check(
        "the read pages map the zero page",
        mappings >= pages as u64,
        format_args!("zero_page_mappings grew by {mappings} for {pages} pages"),
    );
    let own = read.zero_pages.saturating_sub(before.zero_pages);
    checks.check(
        "the task counts them as its zero pages",
        own >= pages as u64,
        format_args!("zero_pages grew by {own} for {pages} pages"),
    );

    region.fill(0..written, WRITTEN);
    let after = stats::now();
    stats::show("zeropage", "after writing", &after);
    let taken = stats::frames_taken(&read, &after);
    checks.check(
        "writing K pages takes about K frames",
        (written as u64..=written as u64 + WRITE_SLACK).contains(&taken),
        format_args!("{taken} frames taken for {written} pages"),
    );
    let left = read.zero_pages.saturating_sub(after.zero_pages);
    checks.check(
        "the written pages no longer map the zero page",
        left == written as u64,
        format_args!("zero_pages fell by {left} for {written} pages written"),
    );
    region.check_holds(&mut checks, "the written pages read back", 0..written, WRITTEN);
    let next = written..(written + 256).min(pages);
    region.check_holds(&mut checks, "the pages after them still read as zeros", next, 0);
    checks.finish()
}
