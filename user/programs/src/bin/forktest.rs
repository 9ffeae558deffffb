//! `forktest <what>`: checks that `FORK` shares memory copy-on-write, and that every task still sees
//! only its own data.
//!
//! - `isolation [pages=512]`: the parent fills `pages` pages and forks; the child sees the parent's data,
//!   overwrites it and exits; the parent's data is intact. Then the other way round: the parent writes
//!   while a child still holds the old frames, and the child sees the old data. Try 1, 512 (2 MiB) and
//!   16384 (64 MiB).
//! - `generations`: three generations of forks, each writing a part of the memory its ancestors wrote and
//!   checking, once its child is done, that nothing of the child's leaked back.
//! - `reuse [pages=256]`: after a child that never wrote has exited, the parent is the last holder of
//!   its frames, so writing them again copies nothing (`cow_copies` stays) and takes no frame.
//! - `children [n=8] [mib=16]`: `n` children of a task with `mib` MiB alive at once take barely more
//!   frames than the parent alone, where copying at fork would take `n` times as many.
//! - `syscall-into-cow`: the kernel itself writes into a copy-on-write page (a `MEMSTATS` in the child, a
//!   `WAIT` status in the parent) and must copy it first like any write.
//! - `eager [pages=256]`: the benchmarks' baseline, `FORK` with the eager copy: the child gets private
//!   writable copies of every page at the fork, so it sees the parent's data, and neither side takes a
//!   single copy-on-write fault afterwards; each side's writes stay its own.
//! - `exec`: fork, then `EXEC hello` in the child: a failed `EXEC` leaves the child as it was, and fork
//!   plus exec copies no more than a few stack pages, however large the parent.
//! - `tables`: a region that covers level-3 tables (2 MiB each) partly and whole; between the fork and
//!   the writes, one side `PROTECT`s part of it read-only and back, `UNMAP`s a range across a table
//!   boundary and `MAP`s it again; each side sees its own data and the other's never.
//!
//! A last word `pages` forks page by page (`ForkMode::CopyOnWritePages`) instead of sharing level-3
//! tables (`FORK` mode 0, the default): every case holds in both.
//!
//! Each check prints an `ok` or `FAILED` line; children print their own, under `forktest child` and the
//! like. The exit status is the number of failures (a child's failures count as one), 2 for bad arguments.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use cowpi_programs::checks::Checks;
use cowpi_programs::region::{Region, WORDS_PER_PAGE};
use cowpi_programs::{args, stats};
use cowpi_user::abi::{ForkMode, Syscall};
use cowpi_user::task::{self, Fork};
use cowpi_user::{Error, ExitStatus, MemStats, entry, println, syscall};

entry!(main);

const USAGE: &str = "usage: forktest isolation [pages=512] | generations | reuse [pages=256] \
                     | children [n=8] [mib=16] | syscall-into-cow | eager [pages=256] | exec | tables \
                     [pages]";

const WHATS: [&str; 8] =
    ["isolation", "generations", "reuse", "children", "syscall-into-cow", "eager", "exec", "tables"];

/// The `FORK` mode of [`fork_child`]: `ForkMode::flags` of the mode the arguments ask for.
static MODE: AtomicU64 = AtomicU64::new(ForkMode::COPY_ON_WRITE);

/// Seeds of the region patterns (see `Region`): who wrote a page.
const PARENT: u64 = 1;
const CHILD: u64 = 2;
const PARENT_AGAIN: u64 = 3;

fn main(args: &str) -> i32 {
    let what = args.split_whitespace().next().unwrap_or("");
    if !WHATS.contains(&what) {
        println!("{USAGE}");
        return 2;
    }
    if args.split_whitespace().last() == Some("pages") {
        MODE.store(ForkMode::COPY_ON_WRITE_PAGES, Ordering::Relaxed);
    }
    let mut checks = Checks::new("forktest");
    if !stats::has_copy_on_write_counters(&mut checks) {
        return checks.finish();
    }
    let number = |index, default| args::number(args, index, default).map(|n| n as usize);
    let outcome = match what {
        "isolation" => number(1, 512).map(|pages| isolation(&mut checks, pages)),
        "generations" => {
            generations(&mut checks);
            Ok(())
        }
        "reuse" => number(1, 256).map(|pages| reuse(&mut checks, pages)),
        "children" => number(1, 8).and_then(|n| number(2, 16).map(|mib| children(&mut checks, n, mib))),
        "syscall-into-cow" => {
            syscall_into_cow(&mut checks);
            Ok(())
        }
        "eager" => number(1, 256).map(|pages| eager(&mut checks, pages)),
        "exec" => {
            fork_and_exec(&mut checks);
            Ok(())
        }
        "tables" => {
            tables(&mut checks);
            Ok(())
        }
        _ => Err(what),
    };
    if let Err(word) = outcome {
        println!("forktest: bad argument {word:?}\n{USAGE}");
        return 2;
    }
    checks.finish()
}

/// Forks a child that runs `body` with checks of its own, printed under `label`, and exits with its
/// failures. Returns the child's pid in the parent, or `None` if `FORK` failed (a failed check).
fn fork_child(checks: &mut Checks, label: &'static str, body: impl FnOnce(&mut Checks)) -> Option<u64> {
    match fork() {
        Ok(Fork::Child) => {
            let mut mine = Checks::new(label);
            body(&mut mine);
            task::exit(mine.finish())
        }
        Ok(Fork::Parent { child }) => Some(child),
        Err(error) => {
            checks.check("FORK", false, format_args!("{error}"));
            None
        }
    }
}

/// `FORK` in the copy-on-write mode the arguments ask for ([`MODE`]).
fn fork() -> Result<Fork, Error> {
    task::fork_with(ForkMode::from_flags(MODE.load(Ordering::Relaxed)).unwrap_or(ForkMode::CopyOnWrite))
}

/// Waits for `child` and checks that it exited with `expected`.
fn reap(checks: &mut Checks, what: &str, child: u64, expected: u8) {
    let status = task::wait(Some(child));
    checks.check(what, status == Ok((child, ExitStatus::Exited(expected))), format_args!("WAIT: {status:?}"));
}

/// Maps `pages` pages, or records why not.
fn map(checks: &mut Checks, pages: usize) -> Option<Region> {
    match Region::map(pages) {
        Ok(region) => Some(region),
        Err(error) => {
            checks.check("MAP the test region", false, format_args!("{pages} pages: {error}"));
            None
        }
    }
}

fn isolation(checks: &mut Checks, pages: usize) {
    let Some(region) = map(checks, pages) else { return };
    let all = 0..pages;
    region.fill(all.clone(), PARENT);
    println!("forktest: isolation: {pages} pages ({} KiB) filled by the parent", pages * 4);
    let before = stats::now();

    // The child reads the parent's data, then writes every page: each write must copy.
    let child = fork_child(checks, "forktest child", |mine| {
        let shared = stats::now().shared_pages;
        mine.check(
            "right after FORK the region is shared with the parent",
            shared >= pages as u64,
            format_args!("{shared} shared pages, the region has {pages}"),
        );
        region.check_holds(mine, "the child sees the parent's data", all.clone(), PARENT);
        region.fill(all.clone(), CHILD);
        region.check_holds(mine, "the child's own writes read back", all.clone(), CHILD);
    });
    if let Some(child) = child {
        reap(checks, "the child that wrote every page exits with 0", child, 0);
    }
    region.check_holds(checks, "the parent's data is intact after the child wrote", all.clone(), PARENT);
    let after = stats::now();
    let faults = after.cow_faults.saturating_sub(before.cow_faults);
    checks.check(
        "the child's writes were copy-on-write faults",
        faults >= pages as u64,
        format_args!("cow_faults grew by {faults} for {pages} pages written"),
    );

    // The other way round: the parent writes while the child, asleep, still holds the old frames.
    let child = fork_child(checks, "forktest child", |mine| {
        task::sleep(50);
        region.check_holds(mine, "the child still sees the data from before the fork", all.clone(), PARENT);
    });
    region.fill(all.clone(), PARENT_AGAIN);
    region.check_holds(checks, "the parent's writes after FORK read back", all.clone(), PARENT_AGAIN);
    if let Some(child) = child {
        reap(checks, "the child that only read exits with 0", child, 0);
    }
    region.check_holds(checks, "the parent's new data is intact", all, PARENT_AGAIN);
}

/// How many generations fork below the first task, and the pages each writes.
const GENERATIONS: usize = 3;
const PART: usize = 16;
const LABELS: [&str; GENERATIONS + 1] =
    ["forktest", "forktest generation 1", "forktest generation 2", "forktest generation 3"];

fn generations(checks: &mut Checks) {
    // Part 0 is rewritten by every generation g with seed 100 + g; part g >= 1 is written once, by
    // generation g with seed g; the parts of later generations are still zeros.
    let Some(region) = map(checks, (GENERATIONS + 1) * PART) else { return };
    generation(checks, &region, 0);
}

/// The pages of part `part`.
fn part(part: usize) -> core::ops::Range<usize> {
    part * PART..(part + 1) * PART
}

/// What part `part` holds in the eyes of generation `g`, once it has written.
fn seed_seen_by(g: usize, part: usize) -> u64 {
    match part {
        0 => 100 + g as u64,
        _ if part <= g => part as u64,
        _ => 0,
    }
}

/// Checks that generation `g` sees the region as it left it.
fn check_view(checks: &mut Checks, what: &str, region: &Region, g: usize) {
    let difference = (0..=GENERATIONS).find_map(|p| region.first_difference(part(p), seed_seen_by(g, p)));
    match difference {
        None => checks.that(what, true),
        Some(difference) => checks.check(what, false, format_args!("{difference}")),
    }
}

/// Generation `g` writes its parts, forks the next generation (if any), waits for it, and checks that its
/// own view of the region is unchanged.
fn generation(checks: &mut Checks, region: &Region, g: usize) {
    region.fill(part(0), seed_seen_by(g, 0));
    if g > 0 {
        region.fill(part(g), seed_seen_by(g, g));
    }
    check_view(checks, "this generation's writes read back", region, g);
    if g == GENERATIONS {
        return;
    }
    let child = fork_child(checks, LABELS[g + 1], |mine| {
        check_view(mine, "the new generation sees its parent's memory", region, g);
        generation(mine, region, g + 1);
    });
    if let Some(child) = child {
        reap(checks, "the next generation exits with 0", child, 0);
    }
    check_view(checks, "the later generations' writes left this one's memory alone", region, g);
}

fn reuse(checks: &mut Checks, pages: usize) {
    let Some(region) = map(checks, pages) else { return };
    region.fill(0..pages, PARENT);
    let before = stats::now();
    // A child that exits at once, writing nothing of the region.
    let child = match fork() {
        Ok(Fork::Child) => task::exit(0),
        Ok(Fork::Parent { child }) => child,
        Err(error) => return checks.check("FORK", false, format_args!("{error}")),
    };
    reap(checks, "the child exits with 0", child, 0);
    let waited = stats::now();
    // The region's frames are still mapped read-only (copy-on-write), but only the parent holds them.
    region.fill(0..pages, PARENT_AGAIN);
    let after = stats::now();
    stats::show("forktest", "before FORK", &before);
    stats::show("forktest", "after WAIT", &waited);
    stats::show("forktest", "after rewriting", &after);
    region.check_holds(checks, "the rewritten pages read back", 0..pages, PARENT_AGAIN);
    let copies = after.cow_copies.saturating_sub(waited.cow_copies);
    let reuses = after.cow_reuses.saturating_sub(waited.cow_reuses);
    checks.check(
        "writing frames no one else holds copies none of them",
        copies == 0,
        format_args!("cow_copies grew by {copies} (reuses by {reuses}) rewriting {pages} pages"),
    );
    checks.check(
        "and takes no frame",
        after.frames_free >= waited.frames_free,
        format_args!("frames free went from {} to {}", waited.frames_free, after.frames_free),
    );
}

fn eager(checks: &mut Checks, pages: usize) {
    let Some(region) = map(checks, pages) else { return };
    region.fill(0..pages, PARENT);
    let before = stats::now();
    let child = match task::fork_with(ForkMode::EagerCopy) {
        Ok(Fork::Child) => {
            let mut mine = Checks::new("forktest eager child");
            let at_fork = stats::now();
            region.check_holds(&mut mine, "the child sees the parent's data", 0..pages, PARENT);
            mine.check(
                "its copies are its own",
                at_fork.private_pages >= pages as u64,
                format_args!(
                    "{} private pages of {} resident",
                    at_fork.private_pages, at_fork.resident_pages
                ),
            );
            region.fill(0..pages, CHILD);
            let after = stats::now();
            mine.check(
                "and writing them takes no copy-on-write fault",
                after.cow_faults == at_fork.cow_faults,
                format_args!("cow_faults went from {} to {}", at_fork.cow_faults, after.cow_faults),
            );
            task::exit(mine.finish())
        }
        Ok(Fork::Parent { child }) => child,
        Err(error) => return checks.check("FORK (eager copy)", false, format_args!("{error}")),
    };
    reap(checks, "the child exits with 0", child, 0);
    let waited = stats::now();
    region.check_holds(checks, "the parent's data is intact", 0..pages, PARENT);
    region.fill(0..pages, PARENT_AGAIN);
    let after = stats::now();
    checks.check(
        "the parent's pages stayed writable: no copy-on-write fault on either side",
        after.cow_faults == before.cow_faults,
        format_args!("cow_faults went from {} to {}", before.cow_faults, after.cow_faults),
    );
    checks.check(
        "the child's copies all came back when it exited",
        waited.frames_free + 2 >= before.frames_free,
        format_args!(
            "frames free: {} before the fork, {} after the wait",
            before.frames_free, waited.frames_free
        ),
    );
}

/// Frames a child may take beyond the page tables of the region: its page-table roots and the tables of
/// its image and stack, its kernel stack, the page it writes, the stack pages it and its parent copy.
const FRAMES_PER_CHILD: u64 = 24;
/// Frames anything else might take meanwhile (the parent's heap, the kernel's).
const SLACK: u64 = 64;

fn children(checks: &mut Checks, n: usize, mib: usize) {
    let pages = mib * 256;
    let baseline = stats::now();
    let Some(region) = map(checks, pages.max(1)) else { return };
    region.fill(0..pages, PARENT);
    let mut pids = Vec::with_capacity(n);
    for index in 0..n {
        match fork() {
            Ok(Fork::Child) => {
                // Each child writes one page (its own copy), stays a while, and says if its page is right.
                let page = index % pages.max(1);
                region.fill(page..page + 1, CHILD + index as u64);
                task::sleep(200);
                let intact = region.first_difference(page..page + 1, CHILD + index as u64).is_none();
                task::exit(if intact { 0 } else { 1 })
            }
            Ok(Fork::Parent { child }) => pids.push(child),
            Err(error) => {
                checks.check("FORK every child", false, format_args!("child {index}: {error}"));
                break;
            }
        }
    }
    let during = stats::now();
    let used = stats::frames_taken(&baseline, &during);
    // The region's L3 tables: one per 2 MiB, for each child too if the kernel copies page tables.
    let per_child = FRAMES_PER_CHILD + (mib as u64).div_ceil(2);
    let budget = pages as u64 + n as u64 * per_child + SLACK;
    let eager = (n as u64 + 1) * pages as u64;
    println!(
        "forktest: {} children of a task with {mib} MiB alive: the test uses {used} frames; budget {budget} \
         = {pages} + {n} x {per_child} + {SLACK}; copying at fork would take about {eager}",
        pids.len()
    );
    checks.check(
        "the children share the parent's memory",
        used < budget,
        format_args!("{used} frames in use, budget {budget}"),
    );
    for child in pids {
        reap(checks, "a child that wrote one page exits with 0", child, 0);
    }
    region.check_holds(checks, "the parent's data is intact", 0..pages, PARENT);
}

/// Asks the kernel to write `MEMSTATS` into the first bytes of `region`.
fn memstats_into(region: &Region) -> Result<u64, Error> {
    let args = [region.address() as u64, MemStats::SIZE as u64, 0, 0, 0, 0];
    // SAFETY: the region is mapped read-write for the rest of the task and no reference into it exists
    // (`Region` only uses volatile raw accesses); every bit pattern is a valid u64.
    unsafe { syscall::call(Syscall::MemStats, args) }
}

/// Waits for `child` with its status stored in the first word of `region`.
fn wait_into(region: &Region, child: u64) -> Result<u64, Error> {
    // SAFETY: as for `memstats_into`: WAIT writes 8 bytes into the region.
    unsafe { syscall::call(Syscall::Wait, [child, region.address() as u64, 0, 0, 0, 0]) }
}

/// Checks that `region`'s page 0 holds `first` in word 0 and `seed`'s pattern from word `from` on.
fn check_written(checks: &mut Checks, what: &str, region: &Region, first: u64, from: usize, seed: u64) {
    let found = region.read(0, 0);
    let rest = (from..WORDS_PER_PAGE).find(|&word| region.read(0, word) != Region::pattern(seed, 0, word));
    checks.check(
        what,
        found == first && rest.is_none(),
        format_args!("word 0 holds {found:#x} (expected {first:#x}), first changed word after it: {rest:?}"),
    );
}

fn syscall_into_cow(checks: &mut Checks) {
    let Some(region) = map(checks, 1) else { return };
    region.fill(0..1, PARENT);

    // The kernel writes MEMSTATS into the child's copy-on-write page: it must copy the page first.
    let child = fork_child(checks, "forktest child", |mine| {
        let written = memstats_into(&region);
        mine.check("MEMSTATS into a copy-on-write page", written.is_ok(), format_args!("{written:?}"));
        if let Ok(written) = written {
            let words = (written as usize).div_ceil(8);
            check_written(mine, "the child's page holds the counters", &region, written, words, PARENT);
        }
    });
    if let Some(child) = child {
        reap(checks, "the child exits with 0", child, 0);
    }
    region.check_holds(checks, "the kernel's write in the child left the parent's page alone", 0..1, PARENT);

    // The kernel writes a WAIT status into the parent's page while a sleeping child still shares it.
    let holder = fork_child(checks, "forktest holder", |mine| {
        task::sleep(100);
        region.check_holds(mine, "the sleeping child's page is untouched by WAIT", 0..1, PARENT);
    });
    let quick = match fork() {
        Ok(Fork::Child) => task::exit(42),
        Ok(Fork::Parent { child }) => Some(child),
        Err(error) => {
            checks.check("FORK", false, format_args!("{error}"));
            None
        }
    };
    if let Some(quick) = quick {
        let waited = wait_into(&region, quick);
        checks.check("WAIT into a copy-on-write page", waited == Ok(quick), format_args!("{waited:?}"));
        check_written(checks, "the parent's page holds the status 42", &region, 42, 1, PARENT);
    }
    if let Some(holder) = holder {
        reap(checks, "the sleeping child exits with 0", holder, 0);
    }
}

/// Copy-on-write copies that fork then exec may make: the stack pages the parent and the child write
/// between the two calls.
const EXEC_COPIES: u64 = 4;

fn fork_and_exec(checks: &mut Checks) {
    // A parent with a megabyte of data: copying it at fork would show as 256 copies.
    let pages = 256;
    let Some(region) = map(checks, pages) else { return };
    region.fill(0..pages, PARENT);
    let before = stats::now();
    match fork() {
        Ok(Fork::Child) => {
            // A failed EXEC must leave the task exactly as it was.
            let error = task::exec("no-such-program", "");
            let intact = region.first_difference(0..pages, PARENT).is_none();
            if error != Error::NoSuchProgram || !intact {
                println!("forktest child: FAILED: EXEC no-such-program: {error}, region intact: {intact}");
                task::exit(1);
            }
            println!("forktest child: ok: a failed EXEC says NoSuchProgram and changes nothing");
            let error = task::exec("hello", "exec'd by forktest");
            println!("forktest child: FAILED: EXEC hello: {error}");
            task::exit(1)
        }
        Ok(Fork::Parent { child }) => reap(checks, "the child, turned into hello, exits with 0", child, 0),
        Err(error) => return checks.check("FORK", false, format_args!("{error}")),
    }
    let after = stats::now();
    let copies = after.cow_copies.saturating_sub(before.cow_copies);
    checks.check(
        "FORK then EXEC copies no more than a few stack pages",
        copies <= EXEC_COPIES,
        format_args!("cow_copies grew by {copies}; the parent has {pages} pages of data"),
    );
    region.check_holds(checks, "the parent's data is intact", 0..pages, PARENT);
}

/// Pages of the `tables` region: three whole level-3 tables' worth and some, so that wherever `MAP` puts
/// it, it covers at least two tables whole and one or two in part.
const TABLES_PAGES: usize = 3 * 512 + 100;
/// Bytes in a page.
const PAGE_BYTES: usize = cowpi_user::abi::layout::PAGE_SIZE as usize;
/// The range one side protects, and the range it unmaps and maps again (across a table boundary
/// wherever the region lies, since it is longer than a table).
const PROTECTED: core::ops::Range<usize> = 10..700;
const REMAPPED: core::ops::Range<usize> = 900..1500;

/// The `tables` case: each side in turn changes the region's rights and mappings between the fork and
/// its writes, while the other checks that its own view never moves.
fn tables(checks: &mut Checks) {
    let Some(region) = map(checks, TABLES_PAGES) else { return };
    let all = 0..TABLES_PAGES;
    region.fill(all.clone(), PARENT);
    // The child changes things, the parent watches; then the other way round.
    let child = fork_child(checks, "forktest child", |mine| {
        region.check_holds(mine, "the child sees the parent's data", all.clone(), PARENT);
        reshape(mine, &region);
        region.fill(0..REMAPPED.start, CHILD);
        region.check_holds(mine, "the child's writes read back", 0..REMAPPED.start, CHILD);
    });
    if let Some(child) = child {
        reap(checks, "the child that reshaped the region exits with 0", child, 0);
    }
    region.check_holds(checks, "nothing the child did shows in the parent", all.clone(), PARENT);

    let child = fork_child(checks, "forktest child", |mine| {
        task::sleep(50);
        region.check_holds(mine, "nothing the parent did shows in the child", all.clone(), PARENT);
    });
    reshape(checks, &region);
    region.fill(0..REMAPPED.start, PARENT_AGAIN);
    if let Some(child) = child {
        reap(checks, "the child that watched exits with 0", child, 0);
    }
    region.check_holds(checks, "the parent's writes read back", 0..REMAPPED.start, PARENT_AGAIN);
}

/// `PROTECT`s [`PROTECTED`] read-only and back, then `UNMAP`s [`REMAPPED`] and `MAP`s it again at the
/// same address, checking what each step leaves.
fn reshape(checks: &mut Checks, region: &Region) {
    let page = |index: usize| region.address().wrapping_add(index * PAGE_BYTES);
    let len = |range: &core::ops::Range<usize>| range.len() * PAGE_BYTES;
    for prot in [cowpi_user::Prot::READ, cowpi_user::Prot::READ_WRITE] {
        // SAFETY: nothing refers into the range; it is only read until it is writable again.
        let result = unsafe { cowpi_user::memory::protect(page(PROTECTED.start), len(&PROTECTED), prot) };
        checks.check("PROTECT part of the region", result.is_ok(), format_args!("{prot}: {result:?}"));
        region.check_holds(checks, "PROTECT keeps the data", PROTECTED, PARENT);
    }
    // SAFETY: nothing refers into the range, and it is mapped again before it is touched.
    let unmapped = unsafe { cowpi_user::memory::unmap(page(REMAPPED.start), len(&REMAPPED)) };
    checks.check("UNMAP across a table boundary", unmapped.is_ok(), format_args!("{unmapped:?}"));
    let mapped = cowpi_user::memory::map_at(
        page(REMAPPED.start) as usize,
        len(&REMAPPED),
        cowpi_user::Prot::READ_WRITE,
    );
    checks.check(
        "MAP it again at the same address",
        mapped == Ok(page(REMAPPED.start)),
        format_args!("{mapped:?}"),
    );
    region.check_holds(checks, "the range mapped again reads zeros", REMAPPED, 0);
    region.check_holds(checks, "the rest is untouched", REMAPPED.end..TABLES_PAGES, PARENT);
}
