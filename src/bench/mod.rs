//! Benchmarks the host runs over the serial line (`cargo run --release -- bench`), and a person can run
//! at the shell: `bench list`, `bench run <name> [reps] [quick|full]`.
//!
//! Each benchmark measures with the system counter and prints raw samples in the format of
//! `cowpi_console::bench`; the host takes medians and ratios. Some measure inside the kernel (the copy
//! and zero-fill floors, page hashing, boot), the others run user programs that time themselves at EL0
//! (`benchfault`, `benchfork`, `benchmem`, `benchksm`), because a fault or a fork is only honest when a
//! real task takes it. Every benchmark ends with the memory audit, as every test does: a benchmark that
//! leaks a frame or kernel heap, or leaves a refcount wrong, reports FAILED, whatever it measured.

mod boot;
mod floors;
mod ksm;
mod locks;
pub mod probe;
mod programs;

use cowpi_console::bench::{BENCH_BEGIN, BENCH_END, BENCH_LIST, BENCH_LIST_END, SampleLine, Scale, Value};

use crate::arch::time;
use crate::{memory, println};

pub use boot::record_ready;

/// One benchmark: what it is called, what it measures, and how to run it `reps` times at `scale`.
struct Benchmark {
    name: &'static str,
    about: &'static str,
    run: fn(reps: u32, scale: Scale) -> Result<(), alloc::string::String>,
}

const BENCHMARKS: &[Benchmark] = &[
    Benchmark { name: "boot", about: "boot to the shell prompt", run: boot::run },
    Benchmark {
        name: "floors",
        about: "4 KiB copy and zero-fill in the kernel; page hashing (XXH3-64, XXH64) against copying",
        run: floors::run,
    },
    Benchmark {
        name: "faults",
        about: "cost per page of zero-page reads, first writes, copy-on-write copies and reuses, shared-table copies and reuses (benchfault)",
        run: programs::faults,
    },
    Benchmark {
        name: "fork",
        about: "fork+exit+wait with 0 to 256 MiB resident, shared tables, per-page and eager; and with a child writing every page (benchfork)",
        run: programs::fork,
    },
    Benchmark {
        name: "forkprofile",
        about: "where fork+exit+wait of an empty task spends its instructions, phase by phase (probes)",
        run: programs::fork_profile,
    },
    Benchmark {
        name: "memory",
        about: "frames used by 64 children of a 16 MiB task; reserving 4x RAM and touching 1% (benchmem)",
        run: programs::memory,
    },
    Benchmark {
        name: "ksm",
        about: "merging 64 MiB of duplicates at default and maximum scan rate; unmerging (benchksm)",
        run: ksm::run,
    },
    Benchmark {
        name: "locks",
        about: "how long the frame-table, scheduler and address-space locks are held while tasks fork, fault and exit",
        run: locks::run,
    },
];

/// The figure every benchmark ends with: the latest the boot core's timer tick was taken while it ran
/// ([`time::take_longest_tick_lateness`]), the measure of how long interrupts stayed masked. The boot
/// core is where tasks run (see `smp`).
const TICK_LATENESS: &str = "irq.tick_lateness";

/// The most repetitions `bench run` accepts: enough for stable medians, few enough to finish.
pub const MAX_REPS: u32 = 100;

/// `bench list`: one protocol line per benchmark, then the count, then what each measures for a person.
pub fn list() {
    for benchmark in BENCHMARKS {
        println!("{BENCH_LIST}{}", benchmark.name);
    }
    println!("{BENCH_LIST_END}{}", BENCHMARKS.len());
    for benchmark in BENCHMARKS {
        println!("  {:<8} {}", benchmark.name, benchmark.about);
    }
}

/// `bench run`: runs benchmark `name`; `Err` if there is none of that name.
pub fn run(name: &str, reps: u32, scale: Scale) -> Result<(), ()> {
    let benchmark = BENCHMARKS.iter().find(|b| b.name == name).ok_or(())?;
    println!("{BENCH_BEGIN}{name} timer_hz={}", time::frequency());
    let heap_before = memory::audit::heap_in_use();
    time::take_longest_tick_lateness(0);
    let outcome = (benchmark.run)(reps, scale);
    let lateness = time::take_longest_tick_lateness(0);
    let labels = [("bench", Value::from(name))];
    println!("{}", SampleLine { figure: TICK_LATENESS, labels: &labels, ticks: lateness, ops: 1 });
    let outcome = outcome
        .and_then(|()| memory::audit::audit())
        .and_then(|()| memory::audit::heap_returned(heap_before));
    match outcome {
        Ok(()) => println!("{BENCH_END}{name} ok"),
        Err(reason) => println!("{BENCH_END}{name} FAILED {}", reason.lines().next().unwrap_or("")),
    }
    Ok(())
}
