//! `benchfault <reps> <pages>`: what one page fault of each kind costs, against the floor of a plain
//! system call. A benchmark the kernel's `bench` command runs; `benchfault 5 256` by hand works too.
//!
//! Each repetition prints, in this order, one `bench-sample:` line per figure, each for `pages`
//! operations (one byte touched per page, the first byte, with volatile accesses):
//!
//! - `floor.syscall`: `pages` `GETPID` calls, the cost of entering and leaving the kernel at all;
//! - `fault.cost kind=zero_read`: reading fresh pages, each fault mapping the shared zero page;
//! - `fault.cost kind=first_write`: writing fresh pages, each fault taking a zeroed frame;
//! - `fault.cost kind=cow_copy`: a child forked page by page (`FORK` mode 2, so that its tables are its
//!   own) writing pages its parent still holds, each fault copying the page (the child prints this line
//!   itself);
//! - `fault.cost kind=cow_reuse`: the parent writing the same pages once the child is gone, each fault
//!   finding it the frame's last holder and only making the page writable again;
//! - `fault.cost kind=table_copy`: a child forked with shared level-3 tables (mode 0) writing one page in
//!   each of [`TABLES`] full tables its parent still holds, each fault copying the whole table (512 entries,
//!   one more reference on each frame) and then the page;
//! - `fault.cost kind=table_reuse`: the parent writing the same pages once that child is gone, each
//!   fault finding it the table's last holder (write access given back, nothing copied) and then the
//!   frame's (the page made writable again).
//!
//! Only the touching loop is timed; mapping, filling and unmapping are not. `MEMSTATS` counters around
//! each loop must show that every touch took the fault the figure is named after, else the program
//! prints an `error:` line and exits with 1. Exits with 0 otherwise, 2 for bad arguments.
#![no_std]
#![no_main]

use cowpi_programs::args;
use cowpi_programs::bench::{self, Failure, PAGE_BYTES, Pages};
use cowpi_user::abi::ForkMode;
use cowpi_user::task::{self, Fork};
use cowpi_user::{MemStats, entry, time};

entry!(main);

const USAGE: &str = "usage: benchfault <reps> <pages>";

/// Faults the program may take beyond those it measures: its stack and the `MEMSTATS` buffer.
const SLACK: u64 = 16;

/// `MEMSTATS` must fill the copy-on-write counters and the shared tables'.
const STATS_SIZE: usize = MemStats::SIZE;

/// Pages one level-3 table maps: 2 MiB.
const TABLE_PAGES: usize = 512;

/// Full level-3 tables the table faults are measured on (16 MiB written, untimed, before the fork).
const TABLES: usize = 8;

fn main(args: &str) -> i32 {
    let (reps, pages) = match (args::number(args, 0, 0), args::number(args, 1, 0)) {
        (Ok(reps @ 1..), Ok(pages @ 1..)) if args.split_whitespace().count() == 2 => (reps, pages as usize),
        _ => return bench::bad_arguments(args, USAGE),
    };
    bench::finish((0..reps).try_for_each(|_| repetition(pages)))
}

fn repetition(pages: usize) -> Result<(), Failure> {
    floor_syscall(pages);
    zero_read(pages)?;
    first_write(pages)?;
    copy_on_write(pages)?;
    shared_tables()
}

/// Prints one `fault.cost` sample of `kind` for `pages` touches.
fn fault_sample(kind: &str, ticks: u64, pages: usize) {
    bench::sample("fault.cost", &[("kind", kind.into())], ticks, pages as u64);
}

fn floor_syscall(pages: usize) {
    let t0 = time::ticks();
    for _ in 0..pages {
        task::getpid();
    }
    let t1 = time::ticks();
    bench::sample("floor.syscall", &[], t1 - t0, pages as u64);
}

fn zero_read(pages: usize) -> Result<(), Failure> {
    let region = Pages::map(pages)?;
    let before = bench::memstats(STATS_SIZE)?;
    let t0 = time::ticks();
    region.read_every_page();
    let t1 = time::ticks();
    let after = bench::memstats(STATS_SIZE)?;
    region.unmap()?;
    let (was, is) = (before.zero_page_mappings, after.zero_page_mappings);
    bench::check_growth("zero_read", "zero_page_mappings", was, is, pages as u64, SLACK)?;
    fault_sample("zero_read", t1 - t0, pages);
    Ok(())
}

fn first_write(pages: usize) -> Result<(), Failure> {
    let region = Pages::map(pages)?;
    let before = bench::memstats(STATS_SIZE)?;
    let t0 = time::ticks();
    region.write_every_page(1);
    let t1 = time::ticks();
    let after = bench::memstats(STATS_SIZE)?;
    region.unmap()?;
    let (was, is) = (before.zero_fill_faults, after.zero_fill_faults);
    bench::check_growth("first_write", "zero_fill_faults", was, is, pages as u64, SLACK)?;
    fault_sample("first_write", t1 - t0, pages);
    Ok(())
}

/// `cow_copy` in a child, then `cow_reuse` in the parent, on the same pages.
fn copy_on_write(pages: usize) -> Result<(), Failure> {
    let region = Pages::map(pages)?;
    region.write_every_page(1);
    let child = match task::fork_with(ForkMode::CopyOnWritePages) {
        Ok(Fork::Child) => task::exit(bench::finish(cow_copy(&region))),
        Ok(Fork::Parent { child }) => child,
        Err(error) => return Err(Failure::new(format_args!("cow_copy: FORK: {error}"))),
    };
    bench::reap("cow_copy", child)?;

    let before = bench::memstats(STATS_SIZE)?;
    let t0 = time::ticks();
    region.write_every_page(3);
    let t1 = time::ticks();
    let after = bench::memstats(STATS_SIZE)?;
    region.unmap()?;
    bench::check_growth("cow_reuse", "cow_reuses", before.cow_reuses, after.cow_reuses, pages as u64, SLACK)?;
    bench::check_growth("cow_reuse", "cow_copies", before.cow_copies, after.cow_copies, 0, SLACK)?;
    fault_sample("cow_reuse", t1 - t0, pages);
    Ok(())
}

/// The child's part: every write copies, because the parent, waiting, still holds every frame.
fn cow_copy(region: &Pages) -> Result<(), Failure> {
    let pages = region.pages();
    let before = bench::memstats(STATS_SIZE)?;
    let t0 = time::ticks();
    region.write_every_page(2);
    let t1 = time::ticks();
    let after = bench::memstats(STATS_SIZE)?;
    bench::check_growth("cow_copy", "cow_copies", before.cow_copies, after.cow_copies, pages as u64, SLACK)?;
    fault_sample("cow_copy", t1 - t0, pages);
    Ok(())
}

/// `table_copy` in a child, then `table_reuse` in the parent, on one page of each of [`TABLES`] tables
/// that map nothing but written pages of one region.
fn shared_tables() -> Result<(), Failure> {
    // One table more than measured, so that `TABLES` whole 2 MiB-aligned tables lie inside the region.
    let region = Pages::map((TABLES + 1) * TABLE_PAGES)?;
    region.write_every_page(1);
    let table_bytes = TABLE_PAGES * PAGE_BYTES;
    let first = (region.address() as usize).next_multiple_of(table_bytes) - region.address() as usize;
    let touched: [usize; TABLES] = core::array::from_fn(|table| first / PAGE_BYTES + table * TABLE_PAGES);
    let child = match task::fork_with(ForkMode::CopyOnWrite) {
        Ok(Fork::Child) => task::exit(bench::finish(table_copy(&region, &touched))),
        Ok(Fork::Parent { child }) => child,
        Err(error) => return Err(Failure::new(format_args!("table_copy: FORK: {error}"))),
    };
    bench::reap("table_copy", child)?;

    let (ticks, before, after) = touch_pages(&region, &touched, 3)?;
    region.unmap()?;
    let tables = TABLES as u64;
    bench::check_growth("table_reuse", "table_reuses", before.table_reuses, after.table_reuses, tables, 0)?;
    bench::check_growth("table_reuse", "table_copies", before.table_copies, after.table_copies, 0, 0)?;
    bench::check_growth("table_reuse", "cow_reuses", before.cow_reuses, after.cow_reuses, tables, SLACK)?;
    fault_sample("table_reuse", ticks, TABLES);
    Ok(())
}

/// The child's part: the first write into each table copies it, because the parent still holds it.
fn table_copy(region: &Pages, touched: &[usize]) -> Result<(), Failure> {
    let (ticks, before, after) = touch_pages(region, touched, 2)?;
    let tables = touched.len() as u64;
    bench::check_growth("table_copy", "table_copies", before.table_copies, after.table_copies, tables, 0)?;
    bench::check_growth("table_copy", "cow_copies", before.cow_copies, after.cow_copies, tables, SLACK)?;
    fault_sample("table_copy", ticks, touched.len());
    Ok(())
}

/// Writes `value` into the first byte of each page of `touched`, timed, with `MEMSTATS` before and after.
fn touch_pages(region: &Pages, touched: &[usize], value: u8) -> Result<(u64, MemStats, MemStats), Failure> {
    let before = bench::memstats(STATS_SIZE)?;
    let t0 = time::ticks();
    for &page in touched {
        region.write_byte(page, 0, value);
    }
    let t1 = time::ticks();
    let after = bench::memstats(STATS_SIZE)?;
    Ok((t1 - t0, before, after))
}
