//! Stress: fork/write/exit cycles with the page-merging scanner (KSM) running flat out, tasks writing to
//! merged pages, and every task checking its own memory (`user/programs/src/bin/forkstress.rs`). Here
//! the kernel checks what the program cannot: that the run really exercised merging and unmerging, and
//! that every frame came back. A failure names the seed; rerun `forkstress <seed> <cycles>` from the
//! shell (after `ksm set sleep_ms 1`, `ksm set pages_to_scan 100000`, `ksm on`) to see it again.

use cowpi_abi::ExitStatus;

use super::programs::run;
use crate::memory::ksm::{self, Tunables};
use crate::memory::{counters, frames};
use crate::{check, check_eq, kernel_test};

/// The scanner at the highest rate `ksm set` allows: a batch of up to 100 000 pages every millisecond.
const MAX_RATE: Tunables =
    Tunables { run: true, sleep_ms: 1, pages_to_scan: 100_000, all: false, constant_checksum: false };

/// Puts the scanner's tunables back as they were when it was made, however the test ends.
struct RestoreTunables(Tunables);

impl Drop for RestoreTunables {
    fn drop(&mut self) {
        let saved = self.0;
        ksm::set_tunables(|t| *t = saved);
    }
}

/// Merges and unmerges counted since boot.
fn merge_counts() -> (u64, u64) {
    (ksm::status().counters.merges, counters::KSM_UNMERGES.get())
}

/// Runs `forkstress args` with the scanner at its maximum rate and checks that it exited 0, that pages
/// were merged and merged pages written during the run, and that every frame came back.
fn stress(args: &str) -> crate::ktest::TestResult {
    let free_before = frames::counters().free;
    let (merges_before, unmerges_before) = merge_counts();
    let status = {
        let _restore = RestoreTunables(ksm::tunables());
        ksm::set_tunables(|t| *t = MAX_RATE);
        run("forkstress", args)?
    };
    check_eq!((args, status), (args, Some(ExitStatus::Exited(0))));
    let (merges, unmerges) = merge_counts();
    check!(merges > merges_before, "forkstress {args}: the scanner merged no page during the run");
    check!(unmerges > unmerges_before, "forkstress {args}: no write hit a merged page during the run");
    // The stable frames no task maps any more are the scanner's to let go of, at the end of a pass.
    ksm::scan_full_passes(1);
    check_eq!(ksm::status().pages_shared, 0);
    check_eq!(frames::counters().free, free_before);
    Ok(())
}

kernel_test! {
    /// 1 000 fork/write/exit cycles, up to four children alive at once, each task writing to pages the
    /// scanner keeps merging: no task ever sees a lost write or another task's write.
    #[slow("the scanner at full rate on its own core: about 34 s in QEMU, whose broadcast TLB invalidations stop every core")]
    fn a_thousand_forks_writing_merged_pages_keep_every_write() -> TestResult {
        stress("1 1000")
    }
}
