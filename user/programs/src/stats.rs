//! Reading and printing `MEMSTATS` in the programs that watch copy-on-write and page merging at work.

use cowpi_user::{MemStats, memory, println};

use crate::checks::Checks;

/// The counters now.
///
/// # Panics
///
/// If `MEMSTATS` fails: it cannot, given a buffer of ours on the stack, so the kernel is broken.
pub fn now() -> MemStats {
    match memory::memstats() {
        Ok(stats) => stats,
        Err(error) => panic!("MEMSTATS failed: {error}"),
    }
}

/// Checks that the kernel fills the structure at least up to the copy-on-write counters (an older kernel
/// fills only the first version, see `MemStats::V1_SIZE`), and says whether it does.
pub fn has_copy_on_write_counters(checks: &mut Checks) -> bool {
    has_version(checks, "MEMSTATS has the copy-on-write counters", MemStats::V2_SIZE)
}

/// Checks that the kernel fills the whole structure, page-merging (KSM) counters included, up to the
/// latest, `ksm_zero_pages` (a kernel from before page merging fills only up to `MemStats::V2_SIZE`, one
/// from before `ksm_zero_pages` up to `MemStats::V5_SIZE`), and says whether it does.
pub fn has_ksm_counters(checks: &mut Checks) -> bool {
    has_version(checks, "MEMSTATS has the page-merging counters", MemStats::SIZE)
}

/// Checks that `MEMSTATS` fills at least `expected` bytes.
fn has_version(checks: &mut Checks, what: &str, expected: usize) -> bool {
    let size = memory::memstats().map(|stats| stats.size);
    let complete = size.is_ok_and(|size| size >= expected as u64);
    checks.check(what, complete, format_args!("it filled {size:?} bytes of {expected}"));
    complete
}

/// How many frames went from free to used between `before` and `after` (0 if more became free).
pub fn frames_taken(before: &MemStats, after: &MemStats) -> u64 {
    before.frames_free.saturating_sub(after.frames_free)
}

/// Prints `stats` on two lines, the machine's and the task's, each starting with `program: when:`.
pub fn show(program: &str, when: &str, stats: &MemStats) {
    println!(
        "{program}: {when}: machine: {} of {} frames free; cow faults {}, copies {}, reuses {}; \
         zero-fill faults {}; zero-page mappings {}; oom kills {}",
        stats.frames_free,
        stats.frames_total,
        stats.cow_faults,
        stats.cow_copies,
        stats.cow_reuses,
        stats.zero_fill_faults,
        stats.zero_page_mappings,
        stats.oom_kills
    );
    println!(
        "{program}: {when}: this task: {} pages resident = {} shared + {} private; {} map the zero page",
        stats.resident_pages, stats.shared_pages, stats.private_pages, stats.zero_pages
    );
}

/// Prints the page-merging (KSM) counters of `stats` on one line starting with `program: when:`.
pub fn show_ksm(program: &str, when: &str, stats: &MemStats) {
    println!(
        "{program}: {when}: ksm: {} pages shared, {} sharing, {} full scans, {} zero pages merged; \
         {} of {} frames free",
        stats.ksm_pages_shared,
        stats.ksm_pages_sharing,
        stats.ksm_full_scans,
        stats.ksm_zero_pages_merged,
        stats.frames_free,
        stats.frames_total
    );
}
