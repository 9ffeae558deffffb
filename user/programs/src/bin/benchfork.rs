//! `benchfork <reps> <mib>...`: how long `FORK` takes in each of its three modes as the parent's memory
//! grows, and where the cost goes once the child writes. A benchmark the kernel's `bench` command runs;
//! `benchfork 5 0 1 16 64 256` by hand works too.
//!
//! The modes: `tables`, the default copy-on-write fork that shares the parent's level-3 tables; `pages`,
//! the copy-on-write fork that marks every page at the fork, as Linux does; `eager`, the copy of Unix before
//! copy-on-write. For each size it maps `mib` MiB and writes every page (nothing for 0: then only the
//! program's image, stack and heap are forked). Each repetition, for each mode in turn:
//!
//! - `fork.latency`: the round trip `FORK`, the child calling `EXIT` at once, the parent's `WAIT`
//!   returning;
//! - `fork.touch`: the same round trip with a child that first writes one byte into every page of the
//!   region (sizes of at least 1 MiB): the cost a copy-on-write fork moves from the fork to the faults,
//!   shown rather than hidden.
//!
//! Before each fork, untimed, the parent writes one byte into every page, so that each fork finds every page
//! private and writable as a fresh workload would (after a copy-on-write fork and the child's exit they are
//! still mapped copy-on-write, or in a shared table, which would leave the next fork less to do). One line per
//! fork: `bench-sample: fork.latency|fork.touch mode=tables|pages|eager mib=<mib> ticks=<ticks> ops=1`.
//!
//! `benchfork profile <n>` makes `n` such round trips of the default mode at 0 MiB and prints nothing:
//! the kernel's `forkprofile` benchmark runs it with its probes armed, to show where they go.
//!
//! Exits with 0; 1 after an `error:` line if a `FORK`, `MAP` or child failed; 2 for bad arguments.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use cowpi_programs::args;
use cowpi_programs::bench::{self, Failure, PAGES_PER_MIB, Pages};
use cowpi_user::abi::ForkMode;
use cowpi_user::task::{self, Fork};
use cowpi_user::{ExitStatus, entry, time};

entry!(main);

const USAGE: &str = "usage: benchfork <reps> <mib>... | benchfork profile <n>";

/// The modes in the order each repetition runs them, with their label.
const MODES: [(ForkMode, &str); 3] = [
    (ForkMode::CopyOnWrite, "tables"),
    (ForkMode::CopyOnWritePages, "pages"),
    (ForkMode::EagerCopy, "eager"),
];

/// What the child does before it exits.
#[derive(Clone, Copy)]
enum Child<'a> {
    /// Nothing: `fork.latency`.
    ExitsAtOnce,
    /// Writes every page of the region: `fork.touch`.
    WritesEveryPage(&'a Pages),
}

fn main(args: &str) -> i32 {
    if let Some(rest) = args.trim_start().strip_prefix("profile ") {
        return match args::number(rest, 0, 0) {
            Ok(trips @ 1..) if rest.split_whitespace().count() == 1 => bench::finish(
                (0..trips)
                    .try_for_each(|_| fork_and_wait(MODES[0].0, MODES[0].1, Child::ExitsAtOnce).map(drop)),
            ),
            _ => bench::bad_arguments(args, USAGE),
        };
    }
    let words = args.split_whitespace().count();
    let numbers: Result<Vec<u64>, _> = (0..words).map(|index| args::number(args, index, 0)).collect();
    let (reps, sizes) = match numbers.as_deref() {
        Ok([reps, sizes @ ..]) if *reps > 0 && !sizes.is_empty() => (*reps, sizes.to_vec()),
        _ => return bench::bad_arguments(args, USAGE),
    };
    bench::finish(sizes.into_iter().try_for_each(|mib| size(reps, mib as usize)))
}

/// Every repetition for one size of the parent's memory.
fn size(reps: u64, mib: usize) -> Result<(), Failure> {
    let region = if mib == 0 { None } else { Some(Pages::map(mib * PAGES_PER_MIB)?) };
    for round in 0..reps {
        for (mode, label) in MODES {
            let labels = [("mode", label.into()), ("mib", (mib as u64).into())];
            if let Some(region) = &region {
                region.write_every_page(round as u8);
            }
            let ticks = fork_and_wait(mode, label, Child::ExitsAtOnce)?;
            bench::sample("fork.latency", &labels, ticks, 1);
            if let Some(region) = &region {
                region.write_every_page(round as u8);
                let ticks = fork_and_wait(mode, label, Child::WritesEveryPage(region))?;
                bench::sample("fork.touch", &labels, ticks, 1);
            }
        }
    }
    region.map_or(Ok(()), Pages::unmap)
}

/// Forks in `mode` a child that does what `child_does` says and exits, waits for it, and returns the ticks all
/// that took.
fn fork_and_wait(mode: ForkMode, label: &str, child_does: Child) -> Result<u64, Failure> {
    let t0 = time::ticks();
    let child = match task::fork_with(mode) {
        Ok(Fork::Child) => {
            if let Child::WritesEveryPage(region) = child_does {
                region.write_every_page(0xC0);
            }
            task::exit(0)
        }
        Ok(Fork::Parent { child }) => child,
        Err(error) => return Err(Failure::new(format_args!("FORK mode={label}: {error}"))),
    };
    let waited = task::wait(Some(child));
    let t1 = time::ticks();
    match waited {
        Ok((pid, ExitStatus::Exited(0))) if pid == child => Ok(t1 - t0),
        other => Err(Failure::new(format_args!("FORK mode={label}: child {child} ended with {other:?}"))),
    }
}
