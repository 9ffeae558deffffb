//! `cowpi bench --quick` end to end: the real kernel's benchmarks in QEMU on every board, checked through
//! the files the run writes.
//!
//! A quick run only shows that every benchmark runs and every figure arrives and parses; its numbers are
//! not looked at. The test needs the debug kernel (`cargo build`) and QEMU. Without the kernel it says so
//! and checks nothing; with it, anything missing (QEMU included) fails the test rather than skipping it.

use std::fs;
use std::time::Duration;

use serde_json::Value;

#[path = "support/kernel_run.rs"]
mod kernel_run;

use kernel_run::{kernel_copy, run_cowpi, workspace};

/// The longest the whole quick run may take, over every board.
const RUN_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Every figure the kernel's benchmarks must report (see `crate::bench::derived` in the tool).
const EXPECTED_FIGURES: [&str; 18] = [
    "boot.ready",
    "floor.memcpy_4k",
    "floor.zero_4k",
    "floor.syscall",
    "hash.throughput",
    "fault.cost",
    "fork.latency",
    "fork.touch",
    "fork.profile",
    "irq.tick_lateness",
    "memory.children",
    "memory.overcommit",
    "ksm.merge",
    "ksm.merge_scans",
    "ksm.merged_pages",
    "ksm.scanner_share",
    "lock.hold",
    "lock.hold_longest",
];

/// Every board described under boards/.
fn boards() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(workspace().join("boards"))
        .expect("boards/ can be read")
        .map(|entry| entry.expect("boards/ can be listed").path())
        .filter(|path| path.join("board.toml").is_file())
        .filter_map(|path| Some(path.file_name()?.to_str()?.to_owned()))
        .collect();
    names.sort();
    names
}

/// The series of `figure` in a board's results.
fn series_of<'a>(board: &'a Value, figure: &str) -> Vec<&'a Value> {
    let series = board["series"].as_array().expect("a board has a list of series");
    series.iter().filter(|s| s["figure"] == figure).collect()
}

#[test]
fn a_quick_run_on_every_board_reports_every_figure_and_writes_the_files() {
    let Some((dir, elf)) = kernel_copy("bench") else { return };
    let out = dir.join("results");
    let (status, stdout, stderr) =
        run_cowpi(&dir, &elf, &["bench", "--quick", "--out", out.to_str().unwrap()], RUN_TIMEOUT);
    assert!(status.success(), "cowpi bench failed ({status}):\n{stdout}\n{stderr}");
    assert!(stderr.contains("is a debug build"), "the debug kernel is pointed out: {stderr}");

    let json = fs::read_to_string(out.join("results.json")).expect("results.json is written");
    let report: Value = serde_json::from_str(&json).expect("results.json is JSON");
    assert_eq!((report["scale"].as_str(), report["kernel_profile"].as_str()), (Some("quick"), Some("debug")));
    assert_eq!(report["icount"], "shift=0,sleep=off");
    let measured: Vec<&str> =
        report["boards"].as_array().unwrap().iter().filter_map(|b| b["board"].as_str()).collect();
    assert_eq!(measured, boards());

    let markdown = fs::read_to_string(out.join("results.md")).expect("results.md is written");
    for board in report["boards"].as_array().unwrap() {
        let name = board["board"].as_str().unwrap();
        assert_eq!(
            board["failed"].as_array().map(Vec::len),
            Some(0),
            "{name}: failed benchmarks: {:#}",
            board["failed"]
        );
        for figure in EXPECTED_FIGURES {
            let samples: u64 = series_of(board, figure).iter().filter_map(|s| s["n"].as_u64()).sum();
            assert!(samples >= 1, "{name}: no sample of {figure}");
        }
        // Every phase of the fork profile, each from complete round trips.
        assert_eq!(series_of(board, "fork.profile").len(), 6, "{name}: the fork profile's phases");
        assert!(markdown.contains(&format!("\n## {name}\n")), "results.md has a section for {name}");
        for chart in ["fork", "faults", "hash"] {
            let path = out.join(format!("{chart}-{name}.svg"));
            let svg = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                svg.starts_with("<svg") && svg.contains("<text"),
                "{} is an SVG with text",
                path.display()
            );
        }
    }
}
