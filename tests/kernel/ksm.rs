//! Same-page merging through the scanner, driven pass by pass (`ksm::scan_full_passes`) so the results do
//! not depend on timing; the background scanner stays off except in the test that checks it does nothing.
//! The pages come from `ksmfill` tasks, which check their own bytes until they exit.

use cowpi_abi::ExitStatus;

use super::programs::finish;
use crate::arch::time;
use crate::memory::{self, frames, heap, ksm};
use crate::task::{self, Pid};
use crate::{check, check_eq, check_ok, kernel_test, programs};

fn start(args: &str) -> Result<Pid, crate::ktest::TestFailure> {
    super::programs::start("ksmfill", args)
}

/// Waits for the tasks to fill their pages (they sleep once done), runs `passes` full passes and returns
/// the merging counters' change: (pages_sharing, zero_pages_merged).
fn merge(passes: u64) -> (u64, u64) {
    task::sleep(150);
    let before = ksm::status();
    ksm::scan_full_passes(passes);
    let after = ksm::status();
    (
        after.pages_sharing.saturating_sub(before.pages_sharing),
        after.counters.zero_pages_merged - before.counters.zero_pages_merged,
    )
}

/// Waits for every task, checks each exited 0, then lets the scanner drop its now unused stable frames
/// and checks every frame came back.
fn finish_all(pids: &[Pid], free_before: usize) -> crate::ktest::TestResult {
    for &pid in pids {
        check_eq!(finish(pid)?, Some(ExitStatus::Exited(0)));
    }
    ksm::scan_full_passes(1);
    check_eq!(ksm::status().pages_shared, 0);
    check_eq!(frames::counters().free, free_before);
    Ok(())
}

kernel_test! {
    /// 64 identical pages in each of two tasks end up on one frame within two full scans.
    fn identical_pages_merge_within_two_scans() -> TestResult {
        let free_before = frames::counters().free;
        let pids = [start("same 64 1500")?, start("same 64 1500")?];
        task::sleep(150);
        let free_filled = frames::counters().free;
        let (sharing, _) = merge(2);
        check_eq!(sharing, 127);
        check_eq!(ksm::status().pages_shared, 1);
        check!(frames::counters().free >= free_filled + 127, "merging freed too few frames");
        finish_all(&pids, free_before)
    }
}

kernel_test! {
    fn unique_pages_are_never_merged() -> TestResult {
        let free_before = frames::counters().free;
        let pids = [start("unique 64 1000")?, start("unique 64 1000")?];
        check_eq!(merge(3), (0, 0));
        finish_all(&pids, free_before)
    }
}

kernel_test! {
    /// Even when every checksum is equal, pages whose bytes differ are never merged: the byte comparison
    /// decides, not the checksum.
    fn equal_checksums_never_merge_different_pages() -> TestResult {
        let free_before = frames::counters().free;
        ksm::set_tunables(|t| t.constant_checksum = true);
        let pids = [start("unique 32 1000")?, start("unique 32 1000")?];
        let result = merge(3);
        ksm::set_tunables(|t| t.constant_checksum = false);
        check_eq!(result, (0, 0));
        finish_all(&pids, free_before)
    }
}

kernel_test! {
    /// With every checksum equal, identical pages still merge within two scans when a different page was
    /// seen between them: the byte comparison tries every page of the pass with the checksum, not only the
    /// latest. The tasks start in this order, so the scan meets same, unique x4, same.
    fn equal_checksums_still_merge_identical_pages() -> TestResult {
        let free_before = frames::counters().free;
        ksm::set_tunables(|t| t.constant_checksum = true);
        let pids = [start("same 1 1000")?, start("unique 4 1000")?, start("same 1 1000")?];
        let result = merge(2);
        ksm::set_tunables(|t| t.constant_checksum = false);
        check_eq!(result, (1, 0));
        finish_all(&pids, free_before)
    }
}

kernel_test! {
    /// The task rewrites its pages every 5 ms, all with the same bytes at any moment: only their
    /// volatility keeps them from being merged. The passes are 20 ms apart, as the scanner's are.
    fn a_page_rewritten_between_scans_is_never_merged() -> TestResult {
        let free_before = frames::counters().free;
        let pids = [start("volatile-same 16 1200")?];
        task::sleep(150);
        let before = ksm::status();
        for _ in 0..4 {
            ksm::scan_full_passes(1);
            check!(ksm::status().counters.pages_volatile > 0, "a pass saw no page changing");
            task::sleep(20);
        }
        check_eq!(ksm::status().pages_sharing, before.pages_sharing);
        finish_all(&pids, free_before)
    }
}

kernel_test! {
    fn zero_filled_pages_go_to_the_zero_page() -> TestResult {
        let free_before = frames::counters().free;
        let pids = [start("zero 64 1000")?];
        let (_, zero_merged) = merge(2);
        check_eq!(zero_merged, 64);
        finish_all(&pids, free_before)
    }
}

kernel_test! {
    /// A write to a merged page gives the writer a private copy (the COW fault); the other sharers keep
    /// their bytes (each `ksmfill` checks its own).
    fn writing_a_merged_page_unmerges_only_the_writer() -> TestResult {
        let free_before = frames::counters().free;
        let pids = [start("same 16 1500 write")?, start("same 16 1500")?, start("same 16 1500")?];
        let (sharing, _) = merge(2);
        check_eq!(sharing, 47);
        finish_all(&pids, free_before)
    }
}

kernel_test! {
    /// Tasks that exit in the middle of a pass leave nothing behind (the audit after the test checks
    /// every frame's holders).
    fn tasks_exiting_mid_scan_leave_the_audit_clean() -> TestResult {
        let free_before = frames::counters().free;
        let pids = [start("same 32 300")?, start("same 32 300")?];
        task::sleep(150);
        ksm::scan_full_passes(1);
        for &pid in &pids {
            check_eq!(finish(pid)?, Some(ExitStatus::Exited(0)));
        }
        ksm::scan_full_passes(2);
        check_eq!(ksm::status().pages_shared, 0);
        check_eq!(frames::counters().free, free_before);
        Ok(())
    }
}

kernel_test! {
    /// With KSM off the background scanner merges nothing, however long the pages sit still.
    fn ksm_off_means_no_merging() -> TestResult {
        let free_before = frames::counters().free;
        check!(!ksm::tunables().run, "KSM is on");
        let before = ksm::status();
        let pids = [start("same 32 600")?, start("same 32 600")?];
        task::sleep(400);
        check_eq!(ksm::status().counters.full_scans, before.counters.full_scans);
        check_eq!(ksm::status().pages_sharing, before.pages_sharing);
        finish_all(&pids, free_before)
    }
}

kernel_test! {
    /// With every task's memory in scope (`ksm mode all`), the scanner runs pass after pass while a task
    /// forks and its children write copy-on-write pages: every task still sees exactly its own bytes
    /// (`forktest` checks), and the audit afterwards is clean.
    fn forking_tasks_under_a_busy_scanner_keep_their_data() -> TestResult {
        let free_before = frames::counters().free;
        ksm::set_tunables(|t| t.all = true);
        let program = check_ok!(programs::find("forktest").ok_or("no forktest"));
        let pids = [
            check_ok!(task::user::spawn(program, b"isolation 256")),
            check_ok!(task::user::spawn(program, b"generations")),
        ];
        let running = |pid: Pid| {
            task::tasks_snapshot().iter().any(|t| t.pid == pid && !matches!(t.state, task::State::Exited(_)))
        };
        let mut passes = 0;
        while pids.iter().any(|&pid| running(pid)) && passes < 2000 {
            ksm::scan_full_passes(1);
            passes += 1;
            // The forks run on the other cores meanwhile (and in the time this yields, with fewer).
            task::yield_now();
        }
        ksm::set_tunables(|t| t.all = false);
        for pid in pids {
            check_eq!(finish(pid)?, Some(ExitStatus::Exited(0)));
        }
        check!(passes > 3, "the scanner ran only {passes} passes alongside the forks");
        ksm::scan_full_passes(1);
        check_eq!(frames::counters().free, free_before);
        Ok(())
    }
}

kernel_test! {
    /// The scanner at its maximum rate (a batch of 100 000 pages every millisecond) must not mask
    /// interrupts for its whole batch: it once held the scheduler lock for an entire batch, hundreds of
    /// milliseconds of lost timer ticks. While it hashes 16 MiB of unique pages flat out, no hold of its
    /// locks covers more than `PAGES_PER_HOLD` pages. (Counted in pages, not in timer ticks: ticks depend
    /// on how busy the host running QEMU is.)
    fn a_flat_out_scanner_masks_interrupts_for_a_few_pages_at_a_time() -> TestResult {
        let free_before = frames::counters().free;
        let saved = ksm::tunables();
        let pid = start("unique 4096 3000")?;
        task::sleep(300);
        let scanned_before = ksm::status().counters.pages_scanned;
        ksm::set_tunables(|t| {
            t.run = true;
            t.sleep_ms = 1;
            t.pages_to_scan = 100_000;
        });
        let (ticks_before, counter_before) = (task::scheduler::tick_count(), time::ticks());
        // Busy, not asleep: the test must compete with the scanner for the processor, as a task would.
        while time::ticks() - counter_before < time::frequency() / 2 {
            task::yield_now();
        }
        let ticked = task::scheduler::tick_count() - ticks_before;
        let elapsed_ms = (time::ticks() - counter_before) * 1000 / time::frequency();
        ksm::set_tunables(|t| *t = saved);
        let status = ksm::status();
        let scanned = status.counters.pages_scanned - scanned_before;
        crate::println!("ksm: {scanned} pages scanned, {ticked} timer ticks in {elapsed_ms} ms");
        check!(scanned >= 1000, "the scanner scanned only {scanned} pages flat out");
        check!(
            status.longest_hold <= ksm::PAGES_PER_HOLD,
            "{} pages under one hold of the locks",
            status.longest_hold
        );
        finish_all(&[pid], free_before)
    }
}

kernel_test! {
    /// The book never remembers more than its limit, whatever tasks mark mergeable, and what it costs the
    /// kernel heap per page keeps the default limit well inside the heap. Without a limit, one task
    /// marking 800 MiB of unique pages mergeable exhausted the heap and panicked the kernel.
    fn the_scanner_remembers_no_more_pages_than_its_limit() -> TestResult {
        const LIMIT: usize = 500;
        let free_before = frames::counters().free;
        ksm::set_max_tracked(Some(LIMIT));
        let heap_before = heap::stats().requested;
        let untracked_before = ksm::status().pages_untracked;
        let pids = [start("unique 800 2000")?];
        task::sleep(150);
        ksm::scan_full_passes(1);
        // Stop in the second pass after every remembered page was visited again, with its unstable entry.
        ksm::scan(LIMIT + 100);
        let (status, heap_during) = (ksm::status(), heap::stats().requested);
        ksm::scan_full_passes(1);
        ksm::set_max_tracked(None);
        check_eq!(status.tracked, LIMIT);
        check!(status.pages_untracked - untracked_before >= 300, "untracked: {}", status.pages_untracked);
        let per_page = heap_during.saturating_sub(heap_before) / LIMIT;
        let budget = ksm::MAX_TRACKED_PAGES * per_page;
        crate::println!("ksm: {per_page} heap bytes per remembered page; the default limit costs {budget} bytes");
        check!(per_page > 0, "the book took no heap");
        check!(budget <= memory::HEAP_BYTES as usize / 2, "the default limit would take {budget} heap bytes");
        finish_all(&pids, free_before)
    }
}

kernel_test! {
    /// `ksm_zero_pages` follows the zero pages merging made until each goes: `ksmzero` checks through
    /// `MEMSTATS` that it counts every page merged onto the zero page, loses exactly the pages written,
    /// unmapped, or gone with a forked child, and gains each child's copies, while the scans go on here.
    /// The rest go when it exits, and the cumulative count never goes down. (The audit after the test
    /// also walks every mapping against the count.)
    fn ksm_zero_pages_follows_merged_zero_pages_until_they_go() -> TestResult {
        const PAGES: u64 = 64;
        let free_before = frames::counters().free;
        let before = ksm::status();
        let pid = super::programs::start("ksmzero", &alloc::format!("{PAGES}"))?;
        let mut passes = 0;
        while task::tasks_snapshot().iter().any(|t| t.pid == pid && !matches!(t.state, task::State::Exited(_)))
            && passes < 4000
        {
            ksm::scan_full_passes(1);
            passes += 1;
            task::sleep(5);
        }
        check_eq!(finish(pid)?, Some(ExitStatus::Exited(0)));
        let after = ksm::status();
        check_eq!(after.zero_pages, before.zero_pages);
        check_eq!(after.counters.zero_pages_merged - before.counters.zero_pages_merged, PAGES);
        finish_all(&[], free_before)
    }
}

kernel_test! {
    /// README.md's example session ends with `ksm status`: its lines must be the shell's, by name and in
    /// order, so that the README cannot fall behind what `ksm status` prints.
    fn the_readme_shows_ksm_status_as_the_shell_prints_it() -> TestResult {
        const README: &str = include_str!("../../README.md");
        let name = |line: &str| alloc::string::String::from(line.split(':').next().unwrap_or(line));
        let transcript = check_ok!(README.split("cowpi> ksm status\n").nth(1).ok_or("no ksm status in README.md"));
        let shown: alloc::vec::Vec<_> = transcript.lines().take_while(|line| !line.starts_with("```")).map(name).collect();
        let printed: alloc::vec::Vec<_> = crate::shell::ksm_status_lines().iter().map(|line| name(line)).collect();
        check_eq!(shown, printed);
        Ok(())
    }
}
