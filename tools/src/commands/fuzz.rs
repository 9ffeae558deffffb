//! `cowpi <ELF> fuzz [--board B]... [--seeds FIRST..LAST | --seeds N] [--calls N] [--timeout SECS]`: runs the
//! system-call fuzzer far longer than the test suite does, on each board in QEMU.
//!
//! The test suite gives `sysfuzz` a fixed 130 000 calls per board, as much as fits its time limit per
//! test; this is the long run behind a flag. Each board is booted once (and again after a failed seed,
//! see `crate::fuzz`), every seed runs to its end with the memory audit and the free frames checked after
//! it, and the run ends with the calls made, the rate, and the frames lost per board. Any failure is
//! reported with its seed and the end of its serial log as it happens, and makes the exit status non-zero.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use indicatif::ProgressBar;

use crate::cli::FuzzArgs;
use crate::commands::{plural, print_failures, progress_bar, say_above, select_boards, with_log_tail};
use crate::driver::Timeouts;
use crate::fuzz::{self, BoardRun, Plan, Progress, SeedRun, run_board};
use crate::image::{default_image_path, write_image};
use crate::qemu;
use crate::transport::qemu::QemuBoard;

/// From starting QEMU to the prompt.
const BOOT: Duration = Duration::from_secs(30);

pub fn run(elf: &Path, args: &FuzzArgs) -> Result<ExitCode> {
    let boards = select_boards(&args.boards)?;
    qemu::require()?;
    let image = default_image_path(elf);
    write_image(elf, &image)?;

    let seeds = args.seeds.range();
    let timeout = Duration::from_secs(args.timeout());
    let mut console = Console::new(boards.len() as u64 * args.seeds.count() * args.calls, args.calls);
    let seed_text = match args.seeds.count() {
        1 => format!("seed {}", seeds.start()),
        n => format!("{n} seeds ({}..{})", seeds.start(), seeds.end()),
    };
    console.say(&format!(
        "fuzzing with {seed_text} x {} calls on {}; at most {} s per seed",
        args.calls,
        boards.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", "),
        timeout.as_secs()
    ));
    let mut results = Vec::new();
    for board in &boards {
        let plan = Plan {
            board: &board.name,
            seeds: seeds.clone(),
            calls: args.calls,
            timeouts: Timeouts::new(BOOT, timeout, timeout),
        };
        let mut qemu = QemuBoard::new(&board.qemu_machine, image.clone());
        results.push(run_board(&mut qemu, &plan, &mut console));
    }
    console.bar.finish_and_clear();

    let mut out = io::stdout();
    print_summary(&mut out, &results)?;
    let failed = results.iter().any(|board| board.failures().next().is_some());
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// One line per board (calls, time, rate, frames lost), then every failed seed.
fn print_summary(out: &mut dyn Write, results: &[BoardRun]) -> io::Result<()> {
    writeln!(out)?;
    for board in results {
        let (took, rate) = took_and_rate(board.calls(), board.took());
        let lost: i64 = board.seeds.iter().filter_map(SeedRun::frames_lost).sum();
        let failed = board.failures().count();
        writeln!(
            out,
            "{}: {} seed{}, {} calls in {took:.1} s ({rate:.0} calls/s), {lost} frames lost, {} failed, {} boot{}",
            board.board,
            board.seeds.len(),
            plural(board.seeds.len()),
            board.calls(),
            failed,
            board.boots,
            plural(board.boots as usize)
        )?;
    }
    let failures: Vec<String> = results
        .iter()
        .flat_map(|board| board.failures().map(move |run| (board, run)))
        .map(|(board, run)| {
            let reason = run.failure.as_ref().map_or("", |f| f.reason.as_str());
            format!("    {} seed {}: {reason}", board.board, run.seed)
        })
        .collect();
    print_failures(out, &failures, "seed", "every seed ran clean")
}

/// Seconds taken and calls per second (0 when no time passed).
fn took_and_rate(calls: u64, took: Duration) -> (f64, f64) {
    let took = took.as_secs_f64();
    (took, if took > 0.0 { calls as f64 / took } else { 0.0 })
}

/// The progress display: a bar over every call of every board when stdout is a terminal (indicatif hides
/// it otherwise), and one plain line per finished seed either way, so a log shows the progress too.
struct Console {
    bar: ProgressBar,
    /// Calls of the seeds already finished.
    done: u64,
    /// Calls per seed, for the command that reruns a failed seed.
    calls: u64,
}

impl Console {
    fn new(total: u64, calls: u64) -> Console {
        let bar = progress_bar(
            "[{elapsed_precise}] {bar:30} {human_pos}/{human_len} calls ({per_sec}, {eta} left) {wide_msg}",
            total,
        );
        Console { bar, done: 0, calls }
    }

    /// Prints a line above the bar.
    fn say(&self, text: &str) {
        say_above(&self.bar, text);
    }
}

impl Progress for Console {
    fn running(&mut self, board: &str, seed: u64, calls: u64) {
        self.bar.set_position(self.done + calls);
        self.bar.set_message(format!("{board} seed {seed}"));
    }

    fn finished(&mut self, board: &str, run: &SeedRun) {
        self.done += run.calls;
        self.bar.set_position(self.done);
        let (took, rate) = took_and_rate(run.calls, run.took);
        let head =
            format!("fuzz {board} seed {}: {} calls in {took:.1} s ({rate:.0} calls/s)", run.seed, run.calls);
        let text = match &run.failure {
            None => {
                let free =
                    run.frames_free.1.map_or(String::new(), |free| format!(", {free} frames free again"));
                format!("{head}, audit ok{free} ... ok")
            }
            Some(failure) => with_log_tail(
                format!(
                    "{head} ... FAILED: {}\n    to rerun it: `cargo run -- --board {board}`, then `run {} {} {}` \
                     (add trace=<call> to see every call from there on)",
                    failure.reason,
                    fuzz::PROGRAM,
                    run.seed,
                    self.calls
                ),
                failure,
            ),
        };
        self.say(&text);
    }
}
