//! Runs the benchmarks on one board through its shell, and collects what the kernel measured.
//!
//! The conversation follows `cowpi_console::bench`: boot, `bench list`, then `bench run <name> <reps>
//! <scale>` for each benchmark, keeping every sample between its `bench-begin` and `bench-end`. The host
//! times nothing itself; it only reads counter ticks the guest measured.
//!
//! A benchmark that reports FAILED, stops the kernel (a fatal line), runs out of time or loses QEMU is
//! recorded as failed with the end of its serial log, and the next benchmark gets a freshly booted
//! board: whatever went wrong must not leak into its figures. The boot benchmark needs a fresh boot per
//! sample, so the board is booted `reps` times: the first boot runs it first and then every other
//! benchmark, each later boot runs only it.
//!
//! All waiting goes through [`Transport::receive`] deadlines, so the unit tests replay transcripts
//! through the fake transport without waiting.

use std::time::Instant;

use cowpi_console::bench::{self as protocol, BenchLine, Measure, Sample, Scale};
use cowpi_console::protocol::{Line, PROMPT, parse_line};
use serde::Serialize;

pub use crate::driver::Failure;
use crate::driver::{self, Timeouts, explain, read_rest_of_fatal_report, wait_for, wait_for_prompt};
use crate::outcome::seconds;
use crate::session::{Heard, Session};
use crate::transport::Transport;

/// The benchmark that measures booting; it gives one sample per boot.
pub const BOOT: &str = "boot";

/// The failure recorded when the board cannot even list its benchmarks.
pub const LISTING: &str = "bench list";

/// What to run on one board.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// The board the kernel must name in its ready line.
    pub board: &'a str,
    /// Repetitions of each benchmark, and boots for the boot benchmark.
    pub reps: u32,
    pub scale: Scale,
    /// Only these benchmarks, when not empty.
    pub only: &'a [String],
    /// `test` is the time one benchmark may take; `hang` is unused.
    pub timeouts: Timeouts,
}

/// One sample as the kernel sent it, with the counter frequency of the benchmark it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawSample {
    pub figure: String,
    /// The `key=value` labels as printed (`""` when none).
    pub labels: String,
    pub measure: RawMeasure,
    pub timer_hz: u64,
}

/// What one sample measured (an owned `cowpi_console::bench::Measure`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RawMeasure {
    Ticks { ticks: u64, ops: u64 },
    Count { value: u64, unit: String },
}

impl RawSample {
    pub fn new(sample: &Sample, timer_hz: u64) -> RawSample {
        let measure = match sample.measure {
            Measure::Ticks { ticks, ops } => RawMeasure::Ticks { ticks, ops },
            Measure::Count { value, unit } => RawMeasure::Count { value, unit: unit.to_owned() },
        };
        RawSample {
            figure: sample.figure.to_owned(),
            labels: sample.labels.as_str().to_owned(),
            measure,
            timer_hz,
        }
    }
}

/// One `bench run` (or an attempt that could not start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchRun {
    pub name: String,
    /// The boot of the board it ran on, counting from 1.
    pub boot: u32,
    pub samples: Vec<RawSample>,
    /// Lines that started like benchmark lines but did not parse: samples lost on the way.
    pub garbled: Vec<String>,
    pub failure: Option<Failure>,
}

/// Everything one board produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardRun {
    pub board: String,
    /// The benchmarks as the kernel listed them.
    pub listed: Vec<String>,
    /// How often the board was booted.
    pub boots: u32,
    /// Every run, in the order they ran.
    pub runs: Vec<BenchRun>,
}

/// Told about the runs as they happen, for a progress display.
pub trait Progress {
    /// `runs` more runs are planned (called once the board has listed its benchmarks).
    fn planned(&mut self, runs: usize);
    /// A run has started or received a sample: `samples` so far.
    fn running(&mut self, board: &str, benchmark: &str, samples: usize);
    /// A run has ended (or could not start).
    fn finished(&mut self, board: &str, run: &BenchRun);
}

/// Runs the plan on one board and stops it at the end.
pub fn run_board(transport: &mut dyn Transport, plan: &Plan, progress: &mut dyn Progress) -> BoardRun {
    let mut session = Session::new(transport);
    let mut bench = Bench {
        session: &mut session,
        plan,
        progress,
        result: BoardRun { board: plan.board.to_owned(), listed: Vec::new(), boots: 0, runs: Vec::new() },
    };
    bench.drive();
    let result = bench.result;
    session.stop();
    result
}

/// One board's conversation and what it produced so far.
struct Bench<'a, 's, 't> {
    session: &'s mut Session<'t>,
    plan: &'a Plan<'a>,
    progress: &'a mut dyn Progress,
    result: BoardRun,
}

impl Bench<'_, '_, '_> {
    fn drive(&mut self) {
        let listed = match self.boot().and_then(|()| self.list()) {
            Ok(listed) => listed,
            Err(reason) => {
                self.progress.planned(1);
                let log = self.session.log_from(0);
                self.record_failure(LISTING, reason, &log);
                return;
            }
        };
        self.result.listed.clone_from(&listed);
        let (selected, unlisted) = select(&listed, self.plan.only);
        let measures_boot = selected.iter().any(|name| name == BOOT);
        let others: Vec<&String> = selected.iter().filter(|name| *name != BOOT).collect();
        let boot_runs = if measures_boot { self.plan.reps as usize } else { 0 };
        self.progress.planned(unlisted.len() + others.len() + boot_runs);

        for name in unlisted {
            let reason = format!("not run: the kernel does not list it (it lists {})", listed.join(", "));
            self.record_failure(&name, reason, &[]);
        }
        // The first boot's sample comes first, before anything else has run on the kernel.
        let usable = !measures_boot || self.run_benchmark(BOOT, 1);
        self.run_on_this_boot(&others, usable);
        for _ in 1..boot_runs {
            self.boot_once_more();
        }
    }

    /// Runs `names` one after the other, booting afresh after any that failed; `usable` says whether the
    /// kernel at hand can be trusted with the first.
    fn run_on_this_boot(&mut self, names: &[&String], mut usable: bool) {
        for name in names {
            if !usable && let Err(reason) = self.boot() {
                let log = self.session.log_from(0);
                self.record_failure(name, format!("not run: the board did not boot again ({reason})"), &log);
                continue;
            }
            usable = self.run_benchmark(name, self.plan.reps);
        }
    }

    /// Boots afresh for one more sample of the boot benchmark.
    fn boot_once_more(&mut self) {
        match self.boot() {
            Ok(()) => _ = self.run_benchmark(BOOT, 1),
            Err(reason) => {
                let log = self.session.log_from(0);
                self.record_failure(BOOT, format!("the board did not boot: {reason}"), &log);
            }
        }
    }

    /// Boots the board afresh and waits for its ready line and prompt.
    fn boot(&mut self) -> Result<(), String> {
        self.result.boots += 1;
        driver::boot(self.session, Some(self.plan.board), &self.plan.timeouts).map(drop)
    }

    /// Types `bench list` and collects the names, checking them against the count the kernel gives.
    fn list(&mut self) -> Result<Vec<String>, String> {
        let timeouts = &self.plan.timeouts;
        self.session
            .type_command("bench list", timeouts.echo)
            .map_err(|e| format!("typing `bench list`: {e}"))?;
        let mut listed: Vec<String> = Vec::new();
        // `Some(None)`: the shell came back without a list, as it does after an unknown command.
        let count = wait_for(self.session, Instant::now() + timeouts.reply, |heard| match heard {
            Heard::Line(line) => match protocol::parse_line(line) {
                Some(BenchLine::Listed { name }) => {
                    listed.push(name.to_owned());
                    None
                }
                Some(BenchLine::ListEnd { count }) => Some(Some(count)),
                _ => None,
            },
            Heard::Prompt => Some(None),
            _ => None,
        })
        .map_err(|i| explain(i, "bench-list-end line", timeouts.reply))?
        .ok_or("the shell prompted again without a bench-list-end line (does this kernel have `bench`?)")?;
        if count != listed.len() {
            return Err(format!("the kernel announced {count} benchmarks but listed {}", listed.len()));
        }
        if let Some(twice) = listed.iter().enumerate().find(|(i, name)| listed[..*i].contains(name)) {
            return Err(format!("the kernel listed {} twice", twice.1));
        }
        wait_for_prompt(self.session, timeouts.reply)
            .map_err(|i| explain(i, "prompt after the benchmark list", timeouts.reply))?;
        Ok(listed)
    }

    /// Runs one benchmark on the kernel at its prompt and records it; returns whether it went well, so
    /// that the kernel can be trusted with the next one.
    fn run_benchmark(&mut self, name: &str, reps: u32) -> bool {
        self.progress.running(self.plan.board, name, 0);
        let start = self.session.log_len();
        let mut run = BenchRun {
            name: name.to_owned(),
            boot: self.result.boots,
            samples: Vec::new(),
            garbled: Vec::new(),
            failure: None,
        };
        if let Err(reason) = self.follow(&mut run, reps) {
            run.failure = Some(Failure::new(reason, &self.session.log_from(start)));
        }
        let ok = run.failure.is_none();
        self.record(run);
        ok
    }

    /// Types `bench run` and reads until the benchmark's end and the prompt after it.
    fn follow(&mut self, run: &mut BenchRun, reps: u32) -> Result<(), String> {
        let timeouts = self.plan.timeouts;
        let command = format!("bench run {} {reps} {}", run.name, self.plan.scale.as_str());
        self.session.type_command(&command, timeouts.echo).map_err(|e| format!("typing `{command}`: {e}"))?;
        let deadline = Instant::now() + timeouts.test;
        let mut timer_hz = None;
        loop {
            let line = match self.session.next(deadline) {
                Heard::Line(line) => line,
                Heard::Prompt => {
                    return Err(
                        "the shell prompted again without a bench-end line (is the benchmark unknown?)"
                            .to_owned(),
                    );
                }
                Heard::Timeout => return Err(format!("no bench-end line within {}", seconds(timeouts.test))),
                Heard::Closed(why) => return Err(format!("{why} during the benchmark")),
            };
            if let Line::Fatal { message } = parse_line(&line) {
                let message = message.to_owned();
                read_rest_of_fatal_report(self.session, &timeouts);
                return Err(format!("the kernel stopped: {message}"));
            }
            match protocol::parse_line(&line) {
                Some(BenchLine::Begin { name, timer_hz: hz }) if name == run.name => timer_hz = Some(hz),
                Some(BenchLine::Begin { name, .. }) => {
                    return Err(format!("the kernel began benchmark {name} instead"));
                }
                Some(BenchLine::Sample(sample)) => {
                    // Before bench-begin there is no counter frequency, and nothing of this run to keep.
                    if let Some(hz) = timer_hz {
                        run.samples.push(RawSample::new(&sample, hz));
                        self.progress.running(self.plan.board, &run.name, run.samples.len());
                    }
                }
                Some(BenchLine::End { name, reason }) if name == run.name => match (timer_hz, reason) {
                    (None, _) => return Err("bench-end without bench-begin".to_owned()),
                    (Some(_), Some(reason)) => {
                        return Err(format!("the benchmark reported FAILED: {reason}"));
                    }
                    (Some(_), None) => break,
                },
                Some(BenchLine::End { name, .. }) => {
                    return Err(format!("the kernel ended benchmark {name} instead"));
                }
                Some(BenchLine::Listed { .. } | BenchLine::ListEnd { .. }) => {}
                None if looks_like_bench_line(&line) => run.garbled.push(line),
                None => {}
            }
        }
        wait_for_prompt(self.session, timeouts.reply)
            .map_err(|i| format!("after bench-end: {}", explain(i, "prompt", timeouts.reply)))
    }

    fn record_failure(&mut self, name: &str, reason: String, log: &[String]) {
        let failure = Failure::new(reason, log);
        let run = BenchRun {
            name: name.to_owned(),
            boot: self.result.boots,
            samples: Vec::new(),
            garbled: Vec::new(),
            failure: Some(failure),
        };
        self.record(run);
    }

    fn record(&mut self, run: BenchRun) {
        self.progress.finished(self.plan.board, &run);
        self.result.runs.push(run);
    }
}

/// The listed benchmarks `only` selects (all when it is empty), in the kernel's order, and the names in
/// `only` the kernel does not list.
fn select(listed: &[String], only: &[String]) -> (Vec<String>, Vec<String>) {
    let selected = listed.iter().filter(|name| only.is_empty() || only.contains(name)).cloned().collect();
    let mut unlisted: Vec<String> = Vec::new();
    for name in only {
        if !listed.contains(name) && !unlisted.contains(name) {
            unlisted.push(name.clone());
        }
    }
    (selected, unlisted)
}

/// Whether a line that did not parse was meant as a benchmark line: a sample lost on the wire, or two
/// lines printed into each other.
fn looks_like_bench_line(line: &str) -> bool {
    let body = line.strip_prefix(PROMPT).unwrap_or(line);
    [
        protocol::BENCH_LIST,
        protocol::BENCH_LIST_END,
        protocol::BENCH_BEGIN,
        protocol::BENCH_SAMPLE,
        protocol::BENCH_COUNT,
        protocol::BENCH_END,
    ]
    .iter()
    .any(|prefix| body.contains(prefix.trim_end()))
}

#[cfg(test)]
mod tests;
