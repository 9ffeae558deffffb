//! `benchmem children <n> <mib>` and `benchmem overcommit <factor> <permille>`: how much memory
//! copy-on-write and lazy mapping save, counted in frames with `MEMSTATS`. A benchmark the kernel's
//! `bench` command runs; `benchmem children 64 16` or `benchmem overcommit 4 10` by hand works too.
//!
//! - `children`: the parent maps `mib` MiB and writes every page, then forks `n` children that stay alive
//!   together. Each child writes one byte into a page of its own at an agreed moment and exits later.
//!   There are no pipes or signals, so the tasks agree on moments of the system counter: the parent picks
//!   them before forking and the children inherit them with its memory. Lines (all `unit=frames`, frames
//!   in use on the machine beyond those in use before the parent mapped anything):
//!   `memory.children stage=parent` once the parent has written its memory, `stage=before_writes` with
//!   the children alive but not yet written, `stage=after_writes` once each has written its page; then a
//!   line for people comparing that with what copying at fork would take (`n + 1` times the parent's).
//! - `overcommit`: reserves `factor` times the machine's memory with one `MAP`, writes one byte in
//!   `permille` of its pages (every `1000 / permille`-th), and prints `memory.overcommit item=ram`,
//!   `item=reserved`, `item=touched` (`unit=pages`) and `item=frames_used` (`unit=frames`, page tables
//!   included). After `UNMAP`, every frame must be free again.
//!
//! Exits with 0; 1 after an `error:` line if a system call or a child failed, the agreed moments came too
//! soon, or frames went missing; 2 for bad arguments.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use cowpi_console::bench::Value;
use cowpi_programs::args;
use cowpi_programs::bench::{self, Failure, PAGES_PER_MIB, Pages};
use cowpi_user::task::{self, Fork};
use cowpi_user::{MemStats, entry, println, time};

entry!(main);

const USAGE: &str = "usage: benchmem children <n> <mib> | overcommit <factor> <permille>";

/// `MEMSTATS` must fill the frame counts, which every version does.
const STATS_SIZE: usize = MemStats::V1_SIZE;

/// Page tables a mapping needs per page: one last-level table maps 512 pages.
const PAGES_PER_TABLE: u64 = 512;

fn main(args: &str) -> i32 {
    let what = args.split_whitespace().next().unwrap_or("");
    let numbers = (args::number(args, 1, 0), args::number(args, 2, 0));
    if args.split_whitespace().count() != 3 {
        return bench::bad_arguments(args, USAGE);
    }
    let outcome = match (what, numbers) {
        ("children", (Ok(n @ 1..), Ok(mib @ 1..))) if n <= mib * PAGES_PER_MIB as u64 => {
            children(n as usize, mib as usize)
        }
        ("overcommit", (Ok(factor @ 1..), Ok(permille @ 1..=1000))) => overcommit(factor, permille),
        _ => return bench::bad_arguments(args, USAGE),
    };
    bench::finish(outcome)
}

fn children(n: usize, mib: usize) -> Result<(), Failure> {
    let used_before_map = bench::frames_used(&bench::memstats(STATS_SIZE)?);
    let used = || {
        bench::memstats(STATS_SIZE).map(|stats| bench::frames_used(&stats).saturating_sub(used_before_map))
    };
    let region = Pages::map(mib * PAGES_PER_MIB)?;
    region.write_every_page(1);
    let parent = used()?;
    bench::count("memory.children", &labels("parent", n, mib), parent, "frames");

    // Idle time is free under QEMU's `-icount sleep=off`, so the margin can be generous: forking costs
    // well under a millisecond per MiB of the parent, and a second on top covers the rest.
    let margin_ms = 1000 + (n * mib) as u64;
    let margin = bench::ms_to_ticks(margin_ms);
    let t_write = time::ticks() + margin;
    let t_exit = t_write + margin;
    let mut pids = Vec::with_capacity(n);
    let mut outcome = Ok(());
    for index in 0..n {
        match task::fork() {
            Ok(Fork::Child) => child(&region, index, t_write, t_exit),
            Ok(Fork::Parent { child }) => pids.push(child),
            Err(error) => {
                outcome = Err(Failure::new(format_args!("FORK of child {} of {n}: {error}", index + 1)));
                break;
            }
        }
    }
    if outcome.is_ok() {
        let moments = Moments { t_write, margin, margin_ms };
        outcome = count_children(n, mib, parent, &used, &moments);
    }
    // Every child is waited for, whatever went wrong: none is left behind.
    for pid in pids {
        let reaped = bench::reap("a child", pid);
        outcome = outcome.and(reaped);
    }
    outcome?;
    region.unmap()
}

/// The labels of a `memory.children` line.
fn labels(stage: &str, n: usize, mib: usize) -> [(&'static str, Value<'_>); 3] {
    [("stage", Value::Word(stage)), ("children", (n as u64).into()), ("mib", (mib as u64).into())]
}

/// The moments of the counter the parent and its children agree on.
struct Moments {
    /// When each child writes its page.
    t_write: u64,
    /// Ticks from forking to `t_write`, and from `t_write` to the children's exit.
    margin: u64,
    margin_ms: u64,
}

/// The parent's count while its `n` children are alive: before they write and after. `used` is the
/// frames in use beyond those before the parent mapped, `parent` what the parent alone took.
fn count_children(
    n: usize,
    mib: usize,
    parent: u64,
    used: &dyn Fn() -> Result<u64, Failure>,
    moments: &Moments,
) -> Result<(), Failure> {
    let Moments { t_write, margin, margin_ms } = *moments;
    let before_writes = used()?;
    // Checked after counting: then no child can have written before the count.
    if time::ticks() >= t_write {
        return Err(Failure::new(format_args!(
            "forking {n} children took longer than the {margin_ms} ms margin: the children may have \
             written before the parent counted"
        )));
    }
    bench::sleep_until(t_write + margin / 2);
    let after_writes = used()?;
    if after_writes < before_writes + n as u64 {
        return Err(Failure::new(format_args!(
            "{n} children writing a page each took {} frames: not all of them wrote within {} ms",
            after_writes.saturating_sub(before_writes),
            margin_ms / 2
        )));
    }
    bench::count("memory.children", &labels("before_writes", n, mib), before_writes, "frames");
    bench::count("memory.children", &labels("after_writes", n, mib), after_writes, "frames");
    println!(
        "benchmem: {n} children of a parent with {mib} MiB ({parent} frames): {before_writes} frames in all \
         with copy-on-write, {after_writes} once each wrote a page; copying at fork would take about {} \
         frames",
        (n as u64 + 1) * parent
    );
    Ok(())
}

/// A child's life: wait for the agreed moment, write one byte into a page no other child writes, stay
/// alive until every task has been counted, exit.
fn child(region: &Pages, index: usize, t_write: u64, t_exit: u64) -> ! {
    bench::sleep_until(t_write);
    region.write_byte(index, 0, 2);
    bench::sleep_until(t_exit);
    task::exit(0)
}

fn overcommit(factor: u64, permille: u64) -> Result<(), Failure> {
    let before = bench::memstats(STATS_SIZE)?;
    let ram = before.frames_total;
    let reserved = factor
        .checked_mul(ram)
        .ok_or_else(|| Failure::new(format_args!("{factor} times {ram} pages overflows")))?;
    let stride = (1000 / permille) as usize;
    let expected_touches = reserved.div_ceil(stride as u64);
    // Running out of frames would get the task killed, with nothing to show for it.
    let needed = expected_touches + reserved.div_ceil(PAGES_PER_TABLE);
    if needed > before.frames_free {
        return Err(Failure::new(format_args!(
            "touching {expected_touches} pages of {reserved} needs about {needed} frames, only {} are free",
            before.frames_free
        )));
    }
    let region = Pages::map(reserved as usize)?;
    let mut touched = 0;
    for page in (0..region.pages()).step_by(stride) {
        region.write_byte(page, 0, 1);
        touched += 1;
    }
    let now = bench::memstats(STATS_SIZE)?;
    let frames_used = bench::frames_used(&now).saturating_sub(bench::frames_used(&before));
    bench::count("memory.overcommit", &[("item", "ram".into())], ram, "pages");
    bench::count("memory.overcommit", &[("item", "reserved".into())], reserved, "pages");
    bench::count("memory.overcommit", &[("item", "touched".into())], touched, "pages");
    bench::count("memory.overcommit", &[("item", "frames_used".into())], frames_used, "frames");
    region.unmap()?;
    let after = bench::memstats(STATS_SIZE)?;
    if after.frames_free != before.frames_free {
        return Err(Failure::new(format_args!(
            "{} frames were free before MAP, {} after UNMAP",
            before.frames_free, after.frames_free
        )));
    }
    Ok(())
}
