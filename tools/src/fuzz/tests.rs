//! The fuzz driver against scripted boards: what it types, what it counts, and how each kind of failure
//! is recorded and followed by a fresh boot.

use std::time::Duration;

use super::*;
use crate::transport::fake::{FakeBoard, Script, answer};

fn mem(free: u64) -> String {
    answer(&["frames_total: 240590", &format!("frames_free: {free}"), "frames_used: 13"])
}

/// A run of `calls` calls that ends well, with a progress line every 10 000 calls.
fn good_run(seed: u64, calls: u64, pid: u32) -> String {
    let mut lines: Vec<String> =
        (1..=calls / 10_000).map(|n| format!("sysfuzz: {} calls, 7 errors, 2 forks", n * 10_000)).collect();
    lines.push(format!("sysfuzz: {calls} calls, seed {seed}, 70 errors returned, 9 forks: ok"));
    lines.push(format!("sysfuzz (task {pid}): exited with 0"));
    answer(&lines.iter().map(String::as_str).collect::<Vec<_>>())
}

fn plan(seeds: RangeInclusive<u64>) -> Plan<'static> {
    Plan {
        board: "raspi3b",
        seeds,
        calls: 20_000,
        timeouts: Timeouts::new(Duration::from_secs(20), Duration::from_secs(600), Duration::from_secs(600)),
    }
}

/// Remembers what the driver reported, as text.
#[derive(Default)]
struct Recorder {
    events: Vec<String>,
}

impl Progress for Recorder {
    fn running(&mut self, board: &str, seed: u64, calls: u64) {
        self.events.push(format!("{board} {seed} {calls}"));
    }

    fn finished(&mut self, board: &str, run: &SeedRun) {
        let verdict = run.failure.as_ref().map_or("ok", |f| f.reason.as_str());
        self.events.push(format!("{board} {} done: {verdict}", run.seed));
    }
}

fn run(board: &mut FakeBoard, seeds: RangeInclusive<u64>) -> (BoardRun, Recorder) {
    let mut recorder = Recorder::default();
    let result = run_board(board, &plan(seeds), &mut recorder);
    (result, recorder)
}

fn reasons(result: &BoardRun) -> Vec<Option<&str>> {
    result.seeds.iter().map(|run| run.failure.as_ref().map(|f| f.reason.as_str())).collect()
}

#[test]
fn every_seed_runs_on_one_boot_with_the_audit_and_the_frames_checked_after_each() {
    let board = Script::ready("raspi3b")
        .reply("mem", &mem(1000))
        .reply("run sysfuzz 4 20000", &good_run(4, 20_000, 2))
        .reply("audit", &answer(&["audit: ok"]))
        .reply("run sysfuzz 5 20000", &good_run(5, 20_000, 3));
    let mut board = FakeBoard::new([board]);
    let (result, recorder) = run(&mut board, 4..=5);

    assert_eq!(
        board.commands,
        ["mem", "run sysfuzz 4 20000", "audit", "mem", "run sysfuzz 5 20000", "audit", "mem"]
    );
    assert_eq!((board.restarts, result.boots, board.stopped), (1, 1, true));
    assert_eq!(reasons(&result), [None, None]);
    assert_eq!(result.calls(), 40_000);
    assert_eq!(result.seeds[1].frames_free, (Some(1000), Some(1000)));
    assert_eq!(result.seeds[1].frames_lost(), Some(0));
    assert_eq!(
        recorder.events,
        [
            "raspi3b 4 0",
            "raspi3b 4 10000",
            "raspi3b 4 20000",
            "raspi3b 4 20000",
            "raspi3b 4 done: ok",
            "raspi3b 5 0",
            "raspi3b 5 10000",
            "raspi3b 5 20000",
            "raspi3b 5 20000",
            "raspi3b 5 done: ok",
        ]
    );
}

#[test]
fn a_failed_seed_keeps_its_log_and_the_next_seed_gets_a_fresh_boot() {
    // Seed 1 leaks two frames; seed 2's fuzzer finds a broken promise; seed 3's audit fails; seed 4 panics
    // the kernel; seed 5 runs well on the last boot.
    let leaks = Script::ready("raspi3b")
        .reply_once("mem", &mem(1000))
        .reply("run sysfuzz 1 20000", &good_run(1, 20_000, 2))
        .reply("audit", &answer(&["audit: ok"]))
        .reply("mem", &mem(998));
    let broken_promise = Script::ready("raspi3b").reply("mem", &mem(1000)).reply(
        "run sysfuzz 2 20000",
        &answer(&[
            "sysfuzz: 10000 calls, 7 errors, 2 forks",
            "sysfuzz: FAILED page 3 of slot 1 changed (seed 2, call #12345)",
            "sysfuzz (task 2): exited with 1",
        ]),
    );
    let bad_audit = Script::ready("raspi3b")
        .reply("mem", &mem(1000))
        .reply("run sysfuzz 3 20000", &good_run(3, 20_000, 2))
        .reply("audit", &answer(&["audit: frame 0x1234 has refcount 2 but 1 holder"]));
    let panics = Script::ready("raspi3b").reply("mem", &mem(1000)).reply(
        "run sysfuzz 4 20000",
        "sysfuzz: 10000 calls, 7 errors, 2 forks\r\n!!! kernel panic at src/memory/frames.rs:10: double free\r\n  backtrace: 0x1\r\n",
    );
    let last = Script::ready("raspi3b")
        .reply("mem", &mem(1000))
        .reply("run sysfuzz 5 20000", &good_run(5, 20_000, 2))
        .reply("audit", &answer(&["audit: ok"]));
    let mut board = FakeBoard::new([leaks, broken_promise, bad_audit, panics, last]);
    let (result, _) = run(&mut board, 1..=5);

    assert_eq!(reasons(&result)[0], Some("998 frames free after the run, 1000 before"), "{result:#?}");
    assert_eq!(result.seeds[0].frames_lost(), Some(2));
    assert_eq!(
        reasons(&result)[1],
        Some("sysfuzz exited with 1: sysfuzz: FAILED page 3 of slot 1 changed (seed 2, call #12345)")
    );
    assert_eq!(result.seeds[1].calls, 10_000);
    assert_eq!(
        reasons(&result)[2],
        Some("the memory audit failed: audit: frame 0x1234 has refcount 2 but 1 holder")
    );
    assert_eq!(
        reasons(&result)[3],
        Some("the kernel stopped: kernel panic at src/memory/frames.rs:10: double free")
    );
    assert!(result.seeds[3].failure.as_ref().unwrap().log_tail.iter().any(|line| line.contains("backtrace")));
    assert_eq!(reasons(&result)[4], None);
    assert_eq!((board.restarts, result.boots), (5, 5));
}

#[test]
fn a_board_that_does_not_boot_a_run_that_never_ends_and_a_missing_program_are_failures() {
    let dead = Script::printing("[0.000] cowpi booting\r\n").exit_after_banner("QEMU exited with status 1");
    let hangs = Script::ready("raspi3b")
        .reply("mem", &mem(1000))
        .reply("run sysfuzz 2 20000", "sysfuzz: 10000 calls, 7 errors, 2 forks\r\n");
    let missing = Script::ready("raspi3b")
        .reply("mem", &mem(1000))
        .reply("run sysfuzz 3 20000", &answer(&["error: no program named 'sysfuzz'; 'programs' lists them"]));
    let mut board = FakeBoard::new([dead, hangs, missing]);
    let (result, _) = run(&mut board, 1..=3);

    let reasons = reasons(&result);
    assert!(reasons[0].is_some_and(|r| r.starts_with("not run: the board did not boot (")), "{reasons:?}");
    assert_eq!(reasons[1], Some("not finished within 600 s (10000 of 20000 calls made)"));
    assert!(
        board.timed_out_waits.iter().any(|wait| wait.as_secs() > 590),
        "the seed's own time limit applied"
    );
    assert_eq!(
        reasons[2],
        Some("the shell could not run sysfuzz: error: no program named 'sysfuzz'; 'programs' lists them")
    );
    let log = &result.seeds[2].failure.as_ref().unwrap().log_tail;
    assert!(
        log.iter().any(|line| line.ends_with("run sysfuzz 3 20000")),
        "the log starts at the command: {log:?}"
    );
    assert!(log.iter().any(|line| line.starts_with("error: no program")), "{log:?}");
}

#[test]
fn progress_and_exit_lines_are_read_strictly() {
    assert_eq!(calls_made("sysfuzz: 30000 calls, 12 errors, 3 forks"), Some(30_000));
    assert_eq!(calls_made("sysfuzz: 2000 calls, seed 1, 5 errors returned, 0 forks: ok"), Some(2000));
    assert_eq!(calls_made("sysfuzz: FAILED MAP returned 3 calls, not 4 (seed 1, call #5)"), None);
    assert_eq!(calls_made("sysfuzz child: 10 calls, 1 errors"), None);
    assert_eq!(exit_status("sysfuzz (task 12): exited with 0"), Some("exited with 0"));
    assert_eq!(
        exit_status("sysfuzz (task 3): killed by segmentation fault (signal 11)"),
        Some("killed by segmentation fault (signal 11)")
    );
    assert_eq!(exit_status("sysfuzz (task x): exited with 0"), None);
    assert_eq!(exit_status("hello (task 4): exited with 0"), None);
}
