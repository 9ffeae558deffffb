//! Page merging: how fast the scanner merges a task's duplicate pages at the default and at the maximum
//! scan rate, what share of the processor it takes at the defaults, and what unmerging costs.
//!
//! The measuring is `benchksm`'s (a task that fills memory with duplicates, marks it mergeable and times
//! until it is merged); this file sets the scanner up for each rate first and puts the tunables back
//! after, whatever happened.

use alloc::format;
use alloc::string::String;

use cowpi_console::bench::Scale;

use super::programs::run_program;
use crate::memory::ksm::{self, Tunables};

/// The scanner's defaults (`ksm status` after boot): the rate a running system sees.
const DEFAULT_RATE: (u64, usize) = (20, 100);
/// The fastest the tunables allow: 1 ms sleeps, and a batch bigger than any memory cowpi runs on.
const MAX_RATE: (u64, usize) = (1, 100_000);

pub fn run(reps: u32, scale: Scale) -> Result<(), String> {
    let mib = match scale {
        Scale::Quick => 4,
        Scale::Full => 64,
    };
    let saved = ksm::tunables();
    let outcome = (|| {
        for _ in 0..reps {
            for (label, (sleep_ms, pages_to_scan)) in [("default", DEFAULT_RATE), ("max", MAX_RATE)] {
                ksm::set_tunables(|t| {
                    *t = Tunables { run: true, sleep_ms, pages_to_scan, all: false, constant_checksum: false }
                });
                run_program("benchksm", &format!("{mib} {label}"))?;
            }
        }
        Ok(())
    })();
    ksm::set_tunables(|t| *t = saved);
    // The book forgets a task's pages at the end of the first pass without it: run that pass now, so
    // that the heap check after the benchmark finds the book empty whichever task the last exit let
    // run first.
    ksm::scan_full_passes(1);
    outcome
}
