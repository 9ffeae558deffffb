//! `cowpi <ELF> bench [--board B]... [--reps N] [--quick] [--out DIR] [--timeout SECS] [--only NAME]...`:
//! runs the kernel's benchmarks in QEMU and writes `results.json`, `results.md` and SVG charts.
//!
//! QEMU runs with a virtual clock of one nanosecond per instruction, so the figures count instructions and
//! a run needs no quiet machine. Every board under `boards/` is measured by default, each in its own QEMU processes (see
//! `crate::bench::run` for when a board is booted afresh). A failed benchmark does not stop the run: it
//! is reported with its serial log as it happens, recorded in the results, and makes the exit status
//! non-zero at the end.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cowpi_boards::Board;
use cowpi_console::bench::Scale;
use indicatif::ProgressBar;

use crate::bench::results::{BoardResults, Profile, Report};
use crate::bench::run::{self, BenchRun, Plan, Progress, run_board};
use crate::bench::{charts, markdown};
use crate::cli::BenchArgs;
use crate::commands::{
    plural, print_failures, progress_bar, say_above, select_boards, with_log_tail, workspace_root,
};
use crate::driver::Timeouts;
use crate::image::{default_image_path, write_image};
use crate::qemu;
use crate::transport::qemu::QemuBoard;

/// From starting QEMU to the prompt: the counted clock runs the boot more slowly than plain QEMU does.
const BOOT: Duration = Duration::from_secs(60);

const JSON_NAME: &str = "results.json";
const MARKDOWN_NAME: &str = "results.md";

pub fn run(elf: &Path, args: &BenchArgs) -> Result<ExitCode> {
    // Everything that can stop the run is checked before the first benchmark spends its time.
    let boards = select_boards(&args.boards)?;
    qemu::require()?;
    let out_dir = args.out.clone().unwrap_or_else(|| workspace_root().join("bench"));
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let image = default_image_path(elf);
    write_image(elf, &image)?;

    let report = measure(&boards, &image, kernel_profile(elf), args);
    let markdown = markdown::render(&report);
    let written = write_results(&out_dir, &report, &markdown)?;
    let mut out = io::stdout();
    writeln!(out, "\n{markdown}")?;
    for path in &written {
        writeln!(out, "wrote {}", path.display())?;
    }
    writeln!(out)?;
    let failed: Vec<String> = report
        .boards
        .iter()
        .flat_map(|b| b.failed.iter().map(move |f| (&b.board, f)))
        .map(|(board, f)| format!("    {board}::{} (boot {}): {}", f.benchmark, f.boot, f.failure.reason))
        .collect();
    print_failures(&mut out, &failed, "benchmark run", "every benchmark ran")?;
    Ok(if report.failures() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// How the kernel was built; a debug build is pointed out, since its figures are not the ones to publish.
fn kernel_profile(elf: &Path) -> Profile {
    let profile = Profile::of_elf(elf);
    if profile == Profile::Debug {
        eprintln!(
            "cowpi: warning: {} is a debug build; figures from an unoptimised kernel are not the published \
             ones (use `cargo run --release -- bench`)",
            elf.display()
        );
    }
    profile
}

/// Runs the benchmarks on each board in turn, showing the progress.
fn measure(boards: &[Board], image: &Path, profile: Profile, args: &BenchArgs) -> Report {
    let scale = if args.quick { Scale::Quick } else { Scale::Full };
    let timeout = Duration::from_secs(args.timeout);
    let mut report = Report::new(qemu::BENCH_ICOUNT, profile, args.reps(), scale, &args.only);
    let mut console = Console::new();
    for board in boards {
        console.say(&format!(
            "\n== benchmarks on {} (QEMU {} -icount {}) ==",
            board.name,
            board.qemu_machine,
            qemu::BENCH_ICOUNT
        ));
        let plan = Plan {
            board: &board.name,
            reps: args.reps(),
            scale,
            only: &args.only,
            timeouts: Timeouts::new(BOOT, timeout, timeout),
        };
        let mut qemu =
            QemuBoard::with_command_line(&board.qemu_machine, image.to_path_buf(), qemu::bench_command);
        let ran = run_board(&mut qemu, &plan, &mut console);
        report.boards.push(BoardResults::new(&ran, &board.qemu_machine));
    }
    console.bar.finish_and_clear();
    report
}

/// Writes the JSON, the Markdown and every board's charts into `dir`; returns the paths written.
fn write_results(dir: &Path, report: &Report, markdown: &str) -> Result<Vec<PathBuf>> {
    let json = report.to_json().context("cannot encode the results as JSON")?;
    let mut written = Vec::new();
    for (name, text) in [(JSON_NAME, json.as_str()), (MARKDOWN_NAME, markdown)] {
        let path = dir.join(name);
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    for board in &report.boards {
        written.extend(charts::write(dir, board)?);
    }
    Ok(written)
}

/// The progress display: a bar over every benchmark run when stdout is a terminal (indicatif hides it
/// otherwise), and one plain line per finished run either way, so a log shows the progress too.
struct Console {
    bar: ProgressBar,
    /// The run in progress and when it started.
    current: Option<(String, Instant)>,
}

impl Console {
    fn new() -> Console {
        Console { bar: progress_bar("[{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}", 0), current: None }
    }

    /// Prints a line above the bar.
    fn say(&self, text: &str) {
        say_above(&self.bar, text);
    }
}

impl Progress for Console {
    fn planned(&mut self, runs: usize) {
        self.bar.inc_length(runs as u64);
    }

    fn running(&mut self, board: &str, benchmark: &str, samples: usize) {
        if samples == 0 {
            self.current = Some((benchmark.to_owned(), Instant::now()));
        }
        self.bar.set_message(format!("{board} {benchmark}: {samples} sample{}", plural(samples)));
    }

    fn finished(&mut self, board: &str, run: &BenchRun) {
        self.bar.inc(1);
        let took = match self.current.take() {
            Some((name, started)) if name == run.name => {
                format!(", {:.1} s", started.elapsed().as_secs_f64())
            }
            _ => String::new(),
        };
        let boot = if run.name == run::BOOT { format!(" (boot {})", run.boot) } else { String::new() };
        let head = format!("bench {board}::{}{boot} ...", run.name);
        let mut text = match &run.failure {
            None => {
                let n = run.samples.len();
                format!("{head} ok ({n} sample{}{took})", plural(n))
            }
            Some(failure) => with_log_tail(format!("{head} FAILED{took}: {}", failure.reason), failure),
        };
        for line in &run.garbled {
            text.push_str(&format!("\n    warning: a garbled benchmark line (a sample lost): {line:?}"));
        }
        self.say(&text);
    }
}
