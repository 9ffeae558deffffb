//! `benchfork <reps> <mib>...`: how long `FORK` takes, copy-on-write against the eager copy of Unix
//! before copy-on-write, as the parent's memory grows. A benchmark the kernel's `bench` command runs;
//! `benchfork 5 0 1 16 64 256` by hand works too.
//!
//! For each size it maps `mib` MiB and writes every page (nothing for 0: then only the program's image,
//! stack and heap are forked). Each repetition forks once in each mode, `cow` then `eager`, and times the
//! whole round trip: `FORK`, the child calling `EXIT` at once, the parent's `WAIT` returning. Before each
//! fork, untimed, it writes one byte into every page, so that each fork finds every page private and
//! writable as a fresh workload would (after a copy-on-write fork and the child's exit they are still
//! mapped copy-on-write, which would leave the next fork less to do). One line per fork:
//! `bench-sample: fork.latency mode=cow|eager mib=<mib> ticks=<ticks> ops=1`.
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

const USAGE: &str = "usage: benchfork <reps> <mib>...";

/// The modes in the order each repetition runs them, with their label.
const MODES: [(ForkMode, &str); 2] = [(ForkMode::CopyOnWrite, "cow"), (ForkMode::EagerCopy, "eager")];

fn main(args: &str) -> i32 {
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
            if let Some(region) = &region {
                region.write_every_page(round as u8);
            }
            let ticks = fork_and_wait(mode, label)?;
            bench::sample("fork.latency", &[("mode", label.into()), ("mib", (mib as u64).into())], ticks, 1);
        }
    }
    region.map_or(Ok(()), Pages::unmap)
}

/// Forks in `mode` a child that exits at once, waits for it, and returns the ticks all that took.
fn fork_and_wait(mode: ForkMode, label: &str) -> Result<u64, Failure> {
    let t0 = time::ticks();
    let child = match task::fork_with(mode) {
        Ok(Fork::Child) => task::exit(0),
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
