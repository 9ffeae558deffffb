//! `cowpi fuzz` end to end: the real kernel's `sysfuzz` in QEMU on raspi3b, once run to a clean end and
//! once stopped by its time limit.
//!
//! A tiny run (one seed, 2 000 calls) shows the command boots the board, runs the fuzzer, checks the audit
//! and the free frames, and reports the calls and the rate; the second run gives a seed far more calls than
//! one second allows and must fail with the seed, the reason and the serial log. The tests need the debug
//! kernel (`cargo build`) and QEMU: without the kernel they say so and check nothing; with it, anything
//! missing (QEMU included) fails them.

use std::time::Duration;

#[path = "support/kernel_run.rs"]
mod kernel_run;

use kernel_run::{kernel_copy, run_cowpi};

/// Booting and 2 000 calls take a few seconds; a loaded machine may take many times that.
const RUN_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[test]
fn a_short_run_finishes_clean_and_reports_its_calls() {
    let Some((dir, elf)) = kernel_copy("fuzz-clean") else { return };
    let (status, stdout, stderr) = run_cowpi(
        &dir,
        &elf,
        &["fuzz", "--board", "raspi3b", "--seeds", "1", "--calls", "2000"],
        RUN_TIMEOUT,
    );
    assert!(status.success(), "cowpi fuzz failed ({status}):\n{stdout}\n{stderr}");
    assert!(stdout.contains("fuzzing with seed 1 x 2000 calls on raspi3b"), "{stdout}");
    assert!(stdout.contains("fuzz raspi3b seed 1: 2000 calls in "), "{stdout}");
    assert!(stdout.contains("audit ok, "), "{stdout}");
    assert!(stdout.contains("raspi3b: 1 seed, 2000 calls in "), "{stdout}");
    assert!(stdout.contains(" 0 frames lost, 0 failed, 1 boot\n"), "{stdout}");
    assert!(stdout.contains("every seed ran clean"), "{stdout}");
}

#[test]
fn a_seed_out_of_time_fails_the_run_with_its_seed_and_serial_log() {
    let Some((dir, elf)) = kernel_copy("fuzz-timeout") else { return };
    let args = ["fuzz", "--board", "raspi3b", "--seeds", "7..7", "--calls", "100000000", "--timeout", "1"];
    let (status, stdout, stderr) = run_cowpi(&dir, &elf, &args, RUN_TIMEOUT);
    assert_eq!(status.code(), Some(1), "cowpi fuzz must fail:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("fuzz raspi3b seed 7: ") && stdout.contains("FAILED: not finished within 1 s ("),
        "{stdout}"
    );
    assert!(stdout.contains("| cowpi> run sysfuzz 7 100000000"), "the serial log is shown: {stdout}");
    assert!(stdout.contains("1 seed failed:\n    raspi3b seed 7: not finished within 1 s"), "{stdout}");
}
