//! System calls at the kernel's limits (`user/programs/src/bin/limits.rs`): huge lazily mapped ranges,
//! whose `PROTECT`, `MERGEABLE`, `WRITE`, `FORK` and `UNMAP` must cost what is mapped rather than what was
//! reserved, and the per-task region limit (`MAX_REGIONS`), which keeps one task from filling the kernel
//! heap. Here the kernel adds what only it sees: its heap and every frame come back.

use cowpi_abi::ExitStatus;

use super::programs::run;
use crate::memory::{frames, heap};
use crate::{check, check_eq, kernel_test};

kernel_test! {
    /// Before range operations skipped missing tables, the `UNMAP` of 192 GiB alone walked 50 million
    /// pages with the address space locked (minutes: the runner's timeout fired), and each `MERGEABLE`
    /// looked up every page of the range.
    fn huge_ranges_and_the_region_limit_cost_what_is_mapped() -> TestResult {
        let (free, heap_before) = (frames::counters().free, heap::stats().requested);
        check_eq!(run("limits", "")?, Some(ExitStatus::Exited(0)));
        check_eq!(frames::counters().free, free);
        let heap_after = heap::stats().requested;
        check!(heap_after <= heap_before, "the kernel heap grew from {heap_before} to {heap_after} bytes");
        Ok(())
    }
}
