//! Runs the system-call fuzzer for a long time on one board through its shell, and checks that the
//! kernel comes out of it whole.
//!
//! The test suite runs `sysfuzz` for a fixed 130 000 calls per board, within its time limit per test;
//! `cowpi fuzz` runs as many seeds and calls as asked. The conversation uses only the ordinary shell: after
//! the boot, `mem` gives the free frames to come back to, then for each seed `run sysfuzz <seed> <calls>`
//! (the shell answers `sysfuzz (task N): exited with 0`, or another status, when the task ends; the
//! fuzzer prints `sysfuzz: <n> calls, ...` every 10 000 calls, which drives the progress), then `audit`
//! must say `audit: ok` and `mem` must show every frame free again.
//!
//! A seed that fails (any other exit status, a failed audit, frames not back, the kernel stopping with a
//! `!!! ` line, no answer in time, QEMU gone) is recorded with the end of its serial log, and the next
//! seed gets a freshly booted board: a leak or a broken kernel must not be blamed on the seeds after it.
//!
//! All waiting goes through [`Transport::receive`] deadlines, so the unit tests replay transcripts
//! through the fake transport without waiting.

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use cowpi_console::protocol::{Line, parse_line};

use crate::driver::{self, Failure, Timeouts, command_output, explain, read_rest_of_fatal_report};
use crate::outcome::seconds;
use crate::session::{Heard, Session};
use crate::transport::Transport;

/// The user program that fuzzes.
pub const PROGRAM: &str = "sysfuzz";

/// What to run on one board.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// The board the kernel must name in its ready line.
    pub board: &'a str,
    pub seeds: RangeInclusive<u64>,
    /// Calls per seed.
    pub calls: u64,
    /// `test` is the time one seed may take; `hang` is unused.
    pub timeouts: Timeouts,
}

/// One seed's run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedRun {
    pub seed: u64,
    /// Calls the fuzzer reported making (all of them when it finished).
    pub calls: u64,
    /// From typing the command to the shell's exit line, as the host saw it.
    pub took: Duration,
    /// Free frames before the run and after it (`None` where they could not be read).
    pub frames_free: (Option<u64>, Option<u64>),
    pub failure: Option<Failure>,
}

impl SeedRun {
    /// Frames the run did not give back (negative if more came back than were free before).
    pub fn frames_lost(&self) -> Option<i64> {
        match self.frames_free {
            (Some(before), Some(after)) => Some(before as i64 - after as i64),
            _ => None,
        }
    }
}

/// Everything one board produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardRun {
    pub board: String,
    /// How often the board was booted.
    pub boots: u32,
    pub seeds: Vec<SeedRun>,
}

impl BoardRun {
    pub fn failures(&self) -> impl Iterator<Item = &SeedRun> {
        self.seeds.iter().filter(|run| run.failure.is_some())
    }

    /// Calls made over every seed.
    pub fn calls(&self) -> u64 {
        self.seeds.iter().map(|run| run.calls).sum()
    }

    /// Time spent in the fuzzer over every seed.
    pub fn took(&self) -> Duration {
        self.seeds.iter().map(|run| run.took).sum()
    }
}

/// Told about the seeds as they run, for a progress display.
pub trait Progress {
    /// A seed has started (`calls` 0) or the fuzzer reported `calls` calls made.
    fn running(&mut self, board: &str, seed: u64, calls: u64);
    /// A seed has ended (or could not start).
    fn finished(&mut self, board: &str, run: &SeedRun);
}

/// Runs the plan on one board and stops it at the end.
pub fn run_board(transport: &mut dyn Transport, plan: &Plan, progress: &mut dyn Progress) -> BoardRun {
    let mut session = Session::new(transport);
    let mut fuzz = Fuzz {
        session: &mut session,
        plan,
        progress,
        result: BoardRun { board: plan.board.to_owned(), boots: 0, seeds: Vec::new() },
    };
    fuzz.drive();
    let result = fuzz.result;
    session.stop();
    result
}

/// One board's conversation and what it produced so far.
struct Fuzz<'a, 's, 't> {
    session: &'s mut Session<'t>,
    plan: &'a Plan<'a>,
    progress: &'a mut dyn Progress,
    result: BoardRun,
}

impl Fuzz<'_, '_, '_> {
    fn drive(&mut self) {
        // The free frames every seed must give back, read on a fresh boot; `None` until the board is up.
        let mut baseline: Option<u64> = None;
        for seed in self.plan.seeds.clone() {
            let start = self.session.log_len();
            let ready = match baseline {
                Some(free) => Ok(free),
                None => self.boot_and_count(),
            };
            let run = match ready {
                Ok(free) => self.run_seed(seed, free),
                Err(reason) => SeedRun {
                    seed,
                    calls: 0,
                    took: Duration::ZERO,
                    frames_free: (None, None),
                    failure: Some(Failure::new(
                        format!("not run: the board did not boot ({reason})"),
                        &self.session.log_from(start),
                    )),
                },
            };
            baseline = match (&run.failure, run.frames_free.0) {
                (None, Some(free)) => Some(free),
                _ => None,
            };
            self.progress.finished(self.plan.board, &run);
            self.result.seeds.push(run);
        }
    }

    /// Boots the board afresh and reads its free frames.
    fn boot_and_count(&mut self) -> Result<u64, String> {
        self.result.boots += 1;
        driver::boot(self.session, Some(self.plan.board), &self.plan.timeouts)?;
        self.frames_free()
    }

    /// Runs one seed on the kernel at its prompt, `free` frames free, and checks what it left.
    fn run_seed(&mut self, seed: u64, free: u64) -> SeedRun {
        self.progress.running(self.plan.board, seed, 0);
        let start = self.session.log_len();
        let began = Instant::now();
        let mut run =
            SeedRun { seed, calls: 0, took: Duration::ZERO, frames_free: (Some(free), None), failure: None };
        let outcome = self.follow(&mut run);
        run.took = began.elapsed();
        let checked = outcome.and_then(|()| {
            self.audit()?;
            let after = self.frames_free()?;
            run.frames_free.1 = Some(after);
            if after != free {
                return Err(format!("{after} frames free after the run, {free} before"));
            }
            Ok(())
        });
        if let Err(reason) = checked {
            run.failure = Some(Failure::new(reason, &self.session.log_from(start)));
        }
        run
    }

    /// Types the `run` command and reads until the shell's exit line and the prompt after it.
    fn follow(&mut self, run: &mut SeedRun) -> Result<(), String> {
        let timeouts = self.plan.timeouts;
        let command = format!("run {PROGRAM} {} {}", run.seed, self.plan.calls);
        self.session.type_command(&command, timeouts.echo).map_err(|e| format!("typing `{command}`: {e}"))?;
        let deadline = Instant::now() + timeouts.test;
        // The fuzzer's own account of what went wrong, if it gave one.
        let mut complaint: Option<String> = None;
        let status = loop {
            let line = match self.session.next(deadline) {
                Heard::Line(line) => line,
                Heard::Prompt => {
                    return Err(format!("the shell prompted again without {PROGRAM}'s exit line"));
                }
                Heard::Timeout => {
                    return Err(format!(
                        "not finished within {} ({} of {} calls made)",
                        seconds(timeouts.test),
                        run.calls,
                        self.plan.calls
                    ));
                }
                Heard::Closed(why) => return Err(format!("{why} during the run")),
            };
            if let Line::Fatal { message } = parse_line(&line) {
                let message = message.to_owned();
                read_rest_of_fatal_report(self.session, &timeouts);
                return Err(format!("the kernel stopped: {message}"));
            }
            if let Some(calls) = calls_made(&line) {
                run.calls = calls;
                self.progress.running(self.plan.board, run.seed, calls);
            } else if let Some(status) = exit_status(&line) {
                break status.to_owned();
            } else if line.starts_with("error: ") {
                return Err(format!("the shell could not run {PROGRAM}: {line}"));
            } else if complaint.is_none() && line.contains(": FAILED ") {
                complaint = Some(line);
            }
        };
        driver::wait_for_prompt(self.session, timeouts.reply)
            .map_err(|i| format!("after the exit line: {}", explain(i, "prompt", timeouts.reply)))?;
        match (status.as_str(), complaint) {
            ("exited with 0", None) => Ok(()),
            (status, Some(complaint)) => Err(format!("{PROGRAM} {status}: {complaint}")),
            (status, None) => Err(format!("{PROGRAM} {status}")),
        }
    }

    /// Types `audit`: the memory audit must pass.
    fn audit(&mut self) -> Result<(), String> {
        let lines = command_output(self.session, "audit", &self.plan.timeouts)?;
        if lines.iter().any(|line| line == "audit: ok") {
            return Ok(());
        }
        let report: Vec<&str> =
            lines.iter().map(String::as_str).filter(|line| line.starts_with("audit: ")).collect();
        Err(if report.is_empty() {
            "no audit report".to_owned()
        } else {
            format!("the memory audit failed: {}", report.join("; "))
        })
    }

    /// Types `mem` and reads `frames_free`.
    fn frames_free(&mut self) -> Result<u64, String> {
        let lines = command_output(self.session, "mem", &self.plan.timeouts)?;
        lines
            .iter()
            .find_map(|line| line.strip_prefix("frames_free: ")?.trim().parse().ok())
            .ok_or_else(|| "`mem` printed no frames_free line".to_owned())
    }
}

/// The calls made, from the fuzzer's progress line `sysfuzz: <n> calls, ...`.
fn calls_made(line: &str) -> Option<u64> {
    let rest = line.strip_prefix(PROGRAM)?.strip_prefix(": ")?;
    rest.split_once(" calls, ")?.0.parse().ok()
}

/// The status in the shell's exit line `sysfuzz (task N): <status>`.
fn exit_status(line: &str) -> Option<&str> {
    let rest = line.strip_prefix(PROGRAM)?.strip_prefix(" (task ")?;
    let (pid, status) = rest.split_once("): ")?;
    pid.bytes().all(|b| b.is_ascii_digit()).then_some(status)
}

#[cfg(test)]
mod tests;
