//! `cowpi bench --quick` end to end: the real kernel's benchmarks in QEMU on every board, checked through
//! the files the run writes.
//!
//! A quick run only shows that every benchmark runs and every figure arrives and parses; its numbers are
//! not looked at. The test needs the debug kernel (`cargo build`) and QEMU. Without the kernel it says so
//! and checks nothing; with it, anything missing (QEMU included) fails the test rather than skipping it.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The longest the whole quick run may take, over every board.
const RUN_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Every figure the kernel's benchmarks must report (see `crate::bench::derived` in the tool).
const EXPECTED_FIGURES: [&str; 13] = [
    "boot.ready",
    "floor.memcpy_4k",
    "floor.zero_4k",
    "floor.syscall",
    "hash.throughput",
    "fault.cost",
    "fork.latency",
    "memory.children",
    "memory.overcommit",
    "ksm.merge",
    "ksm.merge_scans",
    "ksm.merged_pages",
    "ksm.scanner_share",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

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

/// Waits for `child` at most `timeout`; past it the child and everything it started (QEMU) are killed.
fn wait_bounded(mut child: Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("cowpi can be waited for") {
            return status;
        }
        if Instant::now() > deadline {
            // cowpi leads its own process group (see `process_group` below), so this reaches QEMU too.
            let _ = Command::new("kill").args(["-KILL", &format!("-{}", child.id())]).status();
            let _ = child.kill();
            let _ = child.wait();
            panic!("cowpi bench took longer than {} s", timeout.as_secs());
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// The series of `figure` in a board's results.
fn series_of<'a>(board: &'a Value, figure: &str) -> Vec<&'a Value> {
    let series = board["series"].as_array().expect("a board has a list of series");
    series.iter().filter(|s| s["figure"] == figure).collect()
}

#[test]
fn a_quick_run_on_every_board_reports_every_figure_and_writes_the_files() {
    let kernel = workspace().join("target/aarch64-unknown-none/debug/cowpi");
    if !kernel.is_file() {
        eprintln!("skipped: the kernel is not built ({} is missing; run `cargo build`)", kernel.display());
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench");
    let _ = fs::remove_dir_all(&dir);
    // A private copy, so its kernel8.img is this test's own; in a folder named `debug`, as cargo's is.
    let elf = dir.join("debug").join("cowpi");
    fs::create_dir_all(elf.parent().unwrap()).unwrap();
    fs::copy(&kernel, &elf).unwrap();
    let out = dir.join("results");
    let (stdout_path, stderr_path) = (dir.join("stdout.txt"), dir.join("stderr.txt"));

    // Output goes to files, not pipes, so a long run cannot block on a full pipe.
    let mut command = Command::new(env!("CARGO_BIN_EXE_cowpi"));
    command
        .arg(&elf)
        .args(["bench", "--quick", "--out"])
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).unwrap())
        .stderr(File::create(&stderr_path).unwrap());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let status = wait_bounded(command.spawn().expect("cowpi starts"), RUN_TIMEOUT);
    let stdout = fs::read_to_string(&stdout_path).unwrap();
    let stderr = fs::read_to_string(&stderr_path).unwrap();
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
