//! Drives a board's kernel test suite over the serial protocol, the same way for QEMU and a real Pi.
//!
//! Per board: boot and wait for the ready line and the prompt, type `test list` and collect the suite,
//! check what `info` says about the board ([`info_check`]), then type `test run <name>` for each selected
//! test and watch for its `test-end`, a fatal `!!! ` line, the shell coming back without a verdict, or the
//! time limit. Only the protocol lines decide a result: QEMU's exit status never counts (SIGTERM makes
//! QEMU exit 0).
//!
//! Every test runs on a kernel no earlier test has spoiled, so that the order of the tests never matters.
//! A test that passed leaves the kernel as it found it (its memory audit proves it), so the next one runs
//! on the same boot. A test that reported FAILED may have left frames leaked or state changed, so the
//! kernel, still at its prompt, is told to `reboot` (cheap: no new QEMU, no person pressing reset); only
//! if it does not come back does the transport restart the board. A kernel that panicked or hung cannot
//! run anything more, so the transport restarts the board at once. Every boot's ready line must name the
//! board the suite started on.
//!
//! All waiting goes through [`Transport::receive`] deadlines, so unit tests replay transcripts through a
//! fake transport with no real waiting.

use std::io::Write;
use std::time::{Duration, Instant};

use cowpi_console::protocol::{Expect, Line, READY, is_valid_test_name, parse_line};

use crate::info_check::{self, ExpectedRam};
use crate::outcome::{Outcome, Verdict, judge, seconds};
use crate::session::{Heard, Session};
use crate::transport::Transport;

/// How much longer than an ordinary one a test listed as slow may take.
pub const SLOW_FACTOR: u32 = 4;

/// How long each kind of wait may last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From (re)starting the board to its ready line. A real board waits for a person to press reset.
    pub boot: Duration,
    /// From typing `reboot` to the ready line. No person is involved, so on a real board this is much
    /// shorter than `boot`: a watchdog that did not reset the board is soon noticed and a person asked.
    pub reboot: Duration,
    /// For the shell to answer: the prompt after the ready line or a test, the test list.
    pub reply: Duration,
    /// For the echo of one typed character.
    pub echo: Duration,
    /// For a test expected to finish (one the kernel lists as slow gets [`Timeouts::slow_test`]).
    pub test: Duration,
    /// For a test expected to hang: how long it must run without `test-end` to count as hung.
    pub hang: Duration,
    /// After a fatal line, how long output may pause before the rest of the panic report is taken as
    /// complete (the log shows all of it).
    pub fatal_quiet: Duration,
}

impl Timeouts {
    /// Timeouts for tests that normally finish: `test`, and `hang` for the ones expected to hang. A
    /// reboot may take as long as a boot.
    pub fn new(boot: Duration, test: Duration, hang: Duration) -> Self {
        Timeouts {
            boot,
            reboot: boot,
            reply: Duration::from_secs(10),
            echo: Duration::from_secs(2),
            test,
            hang,
            fatal_quiet: Duration::from_millis(300),
        }
    }

    /// For a test the kernel lists as slow (its work grows with the machine's RAM): [`SLOW_FACTOR`]
    /// times `test`.
    pub fn slow_test(&self) -> Duration {
        self.test.saturating_mul(SLOW_FACTOR)
    }
}

/// What to run on one board.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// The board the kernel must report in its ready line, when the host knows it (QEMU); a serial
    /// board is named by its ready line.
    pub expected_board: Option<&'a str>,
    /// Only tests whose name contains this (the `info` check included).
    pub filter: Option<&'a str>,
    /// The RAM `info` must report.
    pub ram: ExpectedRam,
    pub timeouts: Timeouts,
}

/// A test as the kernel listed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTest {
    pub name: String,
    pub expect: Expect,
    /// Listed as slow: given [`Timeouts::slow_test`].
    pub slow: bool,
}

/// One test's result.
#[derive(Debug, Clone)]
pub struct TestReport {
    pub board: String,
    pub name: String,
    pub verdict: Verdict,
    /// The serial log of this test: from its `test-begin` on, or everything since boot if it never began.
    pub log: Vec<String>,
}

/// A problem that kept the whole board from running its suite (no boot, bad test list).
#[derive(Debug, Clone)]
pub struct BoardFailure {
    pub reason: String,
    pub log: Vec<String>,
}

/// One board's results.
#[derive(Debug, Clone)]
pub struct SuiteReport {
    /// The board's name (from the ready line, else what the host expected, else `board`).
    pub board: String,
    pub failure: Option<BoardFailure>,
    pub tests: Vec<TestReport>,
}

impl SuiteReport {
    pub fn failed_tests(&self) -> impl Iterator<Item = &TestReport> {
        self.tests.iter().filter(|t| !t.verdict.is_ok())
    }
}

/// How many serial lines a [`Failure`] keeps: enough for a panic report and what led to it.
const LOG_TAIL: usize = 30;

/// Why a benchmark or fuzzing seed failed, and the end of the serial log that shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    pub reason: String,
    pub log_tail: Vec<String>,
}

impl Failure {
    /// `reason`, with the last [`LOG_TAIL`] lines of `log`.
    pub fn new(reason: String, log: &[String]) -> Failure {
        Failure { reason, log_tail: log[log.len().saturating_sub(LOG_TAIL)..].to_vec() }
    }
}

/// Why a wait ended without what it waited for.
pub(crate) enum Interrupted {
    Timeout,
    Closed(String),
    Fatal(String),
}

/// How the kernel is made to boot afresh before the next test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reboot {
    /// It is at its prompt but may be spoiled: it resets itself when told to `reboot`.
    Soft,
    /// It stopped, hangs or cannot be trusted to listen: the transport restarts the board.
    Restart,
}

/// What the kernel needs after a test ended this way, before it can run the next one.
fn reboot_after(outcome: &Outcome) -> Option<Reboot> {
    match outcome {
        Outcome::Finished { failure: None } => None,
        Outcome::Finished { failure: Some(_) } => Some(Reboot::Soft),
        Outcome::Panicked { .. } | Outcome::TimedOut { .. } | Outcome::Error { .. } => Some(Reboot::Restart),
    }
}

/// One thing to run on the board, reported as a test.
enum Step<'a> {
    /// The host's check of `info` (see [`info_check`]).
    InfoCheck,
    Kernel(&'a ListedTest),
}

impl Step<'_> {
    fn name(&self) -> &str {
        match self {
            Step::InfoCheck => info_check::NAME,
            Step::Kernel(test) => &test.name,
        }
    }
}

/// Runs the suite on one board and returns its results; prints a line per test to `progress` as it goes.
pub fn run_suite(transport: &mut dyn Transport, plan: &Plan, progress: &mut dyn Write) -> SuiteReport {
    let mut session = Session::new(transport);
    let report = drive(&mut session, plan, progress);
    session.stop();
    report
}

fn drive(session: &mut Session, plan: &Plan, progress: &mut dyn Write) -> SuiteReport {
    let mut report = SuiteReport {
        board: plan.expected_board.unwrap_or("board").to_owned(),
        failure: None,
        tests: Vec::new(),
    };
    let fail_board = |mut report: SuiteReport, session: &Session, reason: String| {
        report.failure = Some(BoardFailure { reason, log: session.log_from(0) });
        report
    };
    match boot(session, plan.expected_board, &plan.timeouts) {
        Ok(board) => report.board = board,
        Err(reason) => return fail_board(report, session, reason),
    }
    let suite = match list_tests(session, &plan.timeouts) {
        Ok(suite) => suite,
        Err(reason) => return fail_board(report, session, reason),
    };
    // The info check comes first: it must see the kernel as it booted, and is over in a moment.
    let steps: Vec<Step> = std::iter::once(Step::InfoCheck)
        .chain(suite.iter().map(Step::Kernel))
        .filter(|step| plan.filter.is_none_or(|f| step.name().contains(f)))
        .collect();
    let filtered_out = suite.len() + 1 - steps.len();
    let _ = writeln!(
        progress,
        "\nrunning {} test{} on {}{}",
        steps.len(),
        if steps.len() == 1 { "" } else { "s" },
        report.board,
        if filtered_out > 0 { format!(" ({filtered_out} filtered out)") } else { String::new() }
    );

    let mut reboot: Option<Reboot> = None;
    let mut boot_failure: Option<String> = None;
    for step in steps {
        let mut log = Vec::new();
        if let Some(how) = reboot.take()
            && boot_failure.is_none()
            && let Err(reason) = boot_again(session, how, &report.board, &plan.timeouts, progress)
        {
            boot_failure = Some(format!("not run: the board did not boot again ({reason})"));
            // The failed boot's output is shown once, under the first test it kept from running.
            log = session.log_from(0);
        }
        let verdict = match (&boot_failure, &step) {
            (Some(reason), _) => Verdict::Failed(reason.clone()),
            (None, Step::InfoCheck) => {
                let verdict;
                (verdict, log, reboot) = check_info(session, &report.board, plan);
                verdict
            }
            (None, Step::Kernel(test)) => {
                let outcome;
                (outcome, log) = run_test(session, test, &plan.timeouts);
                reboot = reboot_after(&outcome);
                judge(test.expect, &outcome)
            }
        };
        let shown = match &verdict {
            Verdict::Ok(text) => text,
            Verdict::Failed(_) => "FAILED",
        };
        // Progress is best effort: a closed stdout must not stop the tests (the report is returned).
        let _ = writeln!(progress, "test {}::{} ... {shown}", report.board, step.name());
        report.tests.push(TestReport {
            board: report.board.clone(),
            name: step.name().to_owned(),
            verdict,
            log,
        });
    }
    report
}

/// Waits for a line or prompt that `pick` accepts; a fatal line, the deadline or the board's end interrupt.
pub(crate) fn wait_for<R>(
    session: &mut Session,
    deadline: Instant,
    mut pick: impl FnMut(&Heard) -> Option<R>,
) -> Result<R, Interrupted> {
    loop {
        let heard = session.next(deadline);
        match &heard {
            Heard::Timeout => return Err(Interrupted::Timeout),
            Heard::Closed(why) => return Err(Interrupted::Closed(why.clone())),
            Heard::Line(line) => {
                if let Line::Fatal { message } = parse_line(line) {
                    return Err(Interrupted::Fatal(message.to_owned()));
                }
            }
            Heard::Prompt => {}
        }
        if let Some(found) = pick(&heard) {
            return Ok(found);
        }
    }
}

/// Explains an interrupted wait for `what` (`"prompt"`), as a clause for a failure reason.
pub(crate) fn explain(interrupted: Interrupted, what: &str, waited: Duration) -> String {
    match interrupted {
        Interrupted::Timeout => format!("no {what} within {}", seconds(waited)),
        Interrupted::Closed(why) => format!("{why} before the {what}"),
        Interrupted::Fatal(message) => format!("the kernel stopped before the {what}: {message}"),
    }
}

/// Boots the board and waits until its shell prompts; returns the board name from the ready line, which
/// must be `expected` if given.
pub(crate) fn boot(
    session: &mut Session,
    expected: Option<&str>,
    timeouts: &Timeouts,
) -> Result<String, String> {
    session.restart().map_err(|e| format!("could not start the board: {e:#}"))?;
    let board = wait_for_ready(session, timeouts.boot)?;
    finish_boot(session, board, expected, timeouts)
}

/// Boots the kernel afresh between tests, `how` it needs, and waits until its shell prompts. A soft
/// reboot that brings no ready line falls back to a restart; either way the ready line must name `board`.
fn boot_again(
    session: &mut Session,
    how: Reboot,
    board: &str,
    timeouts: &Timeouts,
    progress: &mut dyn Write,
) -> Result<(), String> {
    if how == Reboot::Restart {
        return boot(session, Some(board), timeouts).map(drop);
    }
    let _ = writeln!(progress, "(rebooting {board}: the last test reported FAILED)");
    let soft_failure = match soft_reboot(session, timeouts) {
        Ok(found) => return finish_boot(session, found, Some(board), timeouts).map(drop),
        Err(reason) => reason,
    };
    let _ = writeln!(progress, "({board} did not come back from `reboot`: {soft_failure}; restarting it)");
    boot(session, Some(board), timeouts)
        .map(drop)
        .map_err(|reason| format!("after `reboot`: {soft_failure}; after a restart: {reason}"))
}

/// Tells the kernel at its prompt to `reboot` and waits for the new boot's ready line; returns the board
/// it names.
fn soft_reboot(session: &mut Session, timeouts: &Timeouts) -> Result<String, String> {
    session.start_new_log();
    session.type_command("reboot", timeouts.echo).map_err(|e| format!("typing `reboot`: {e}"))?;
    wait_for_ready(session, timeouts.reboot)
}

/// Waits for the ready line of a boot that has begun; returns the board it names.
fn wait_for_ready(session: &mut Session, timeout: Duration) -> Result<String, String> {
    let pick_ready = |heard: &Heard| match heard {
        Heard::Line(line) => match parse_line(line) {
            Line::Ready { board } => Some(board.to_owned()),
            _ => None,
        },
        _ => None,
    };
    wait_for(session, Instant::now() + timeout, pick_ready)
        .map_err(|i| explain(i, &format!("ready line ({READY:?})"), timeout))
}

/// Checks the board a ready line named against `expected` and waits for the prompt that follows it.
fn finish_boot(
    session: &mut Session,
    board: String,
    expected: Option<&str>,
    timeouts: &Timeouts,
) -> Result<String, String> {
    if let Some(expected) = expected
        && board != expected
    {
        return Err(format!("the kernel says it runs on {board}, but this is {expected}"));
    }
    wait_for_prompt(session, timeouts.reply)
        .map_err(|i| explain(i, "prompt after the ready line", timeouts.reply))?;
    Ok(board)
}

pub(crate) fn wait_for_prompt(session: &mut Session, timeout: Duration) -> Result<(), Interrupted> {
    wait_for(session, Instant::now() + timeout, |heard| (*heard == Heard::Prompt).then_some(()))
}

/// Types `test list` and collects the suite, checking it against the count the kernel gives.
fn list_tests(session: &mut Session, timeouts: &Timeouts) -> Result<Vec<ListedTest>, String> {
    session.type_command("test list", timeouts.echo).map_err(|e| format!("typing `test list`: {e}"))?;
    let mut suite = Vec::new();
    let count = wait_for(session, Instant::now() + timeouts.reply, |heard| match heard {
        Heard::Line(line) => match parse_line(line) {
            Line::TestListed { name, expect, slow } => {
                suite.push(ListedTest { name: name.to_owned(), expect, slow });
                None
            }
            Line::TestListEnd { count } => Some(count),
            _ => None,
        },
        _ => None,
    })
    .map_err(|i| explain(i, "test-list-end line", timeouts.reply))?;
    if count != suite.len() {
        return Err(format!("the kernel announced {count} tests but listed {}", suite.len()));
    }
    for (i, test) in suite.iter().enumerate() {
        if !is_valid_test_name(&test.name) {
            return Err(format!("the kernel listed an invalid test name {:?}", test.name));
        }
        if suite[..i].iter().any(|earlier| earlier.name == test.name) {
            return Err(format!("the kernel listed {} twice", test.name));
        }
    }
    wait_for_prompt(session, timeouts.reply)
        .map_err(|i| explain(i, "prompt after the test list", timeouts.reply))?;
    Ok(suite)
}

/// Types `info` on a kernel at its prompt and checks what it says about `board`; returns the verdict, the
/// serial log from the command on, and the reboot needed if the kernel stopped answering (`info` itself
/// changes nothing, so wrong answers need none).
fn check_info(session: &mut Session, board: &str, plan: &Plan) -> (Verdict, Vec<String>, Option<Reboot>) {
    let timeouts = &plan.timeouts;
    let start = session.log_len();
    let (verdict, reboot) = match command_output(session, "info", timeouts) {
        Err(reason) => (Verdict::Failed(reason), Some(Reboot::Restart)),
        Ok(output) => match info_check::check(&info_check::parse_fields(&output), board, plan.ram) {
            Ok(()) => (Verdict::Ok("ok"), None),
            Err(problems) => (Verdict::Failed(problems), None),
        },
    };
    (verdict, session.log_from(start), reboot)
}

/// Types `command` on a kernel at its prompt and collects the lines it prints up to the next prompt. If
/// the kernel stops instead, the rest of its panic report is read, so the log shows all of it.
pub(crate) fn command_output(
    session: &mut Session,
    command: &str,
    timeouts: &Timeouts,
) -> Result<Vec<String>, String> {
    session.type_command(command, timeouts.echo).map_err(|e| format!("typing `{command}`: {e}"))?;
    let mut output = Vec::new();
    wait_for(session, Instant::now() + timeouts.reply, |heard| match heard {
        Heard::Line(line) => {
            output.push(line.clone());
            None
        }
        Heard::Prompt => Some(()),
        _ => None,
    })
    .map_err(|interrupted| {
        if let Interrupted::Fatal(_) = interrupted {
            read_rest_of_fatal_report(session, timeouts);
        }
        explain(interrupted, &format!("prompt after `{command}`"), timeouts.reply)
    })?;
    Ok(output)
}

/// Runs one test on a kernel sitting at its prompt; returns the outcome and the test's serial log.
fn run_test(session: &mut Session, test: &ListedTest, timeouts: &Timeouts) -> (Outcome, Vec<String>) {
    let start = session.log_len();
    let outcome = follow_test(session, test, timeouts);
    let begin = session
        .lines_from(start)
        .iter()
        .position(|line| matches!(parse_line(line), Line::TestBegin { name } if name == test.name));
    let log = session.log_from(begin.map_or(0, |offset| start + offset));
    (outcome, log)
}

fn follow_test(session: &mut Session, test: &ListedTest, timeouts: &Timeouts) -> Outcome {
    if let Err(error) = session.type_command(&format!("test run {}", test.name), timeouts.echo) {
        return Outcome::Error { reason: format!("typing `test run {}`: {error}", test.name) };
    }
    let limit = match test.expect {
        Expect::Hang => timeouts.hang,
        _ if test.slow => timeouts.slow_test(),
        _ => timeouts.test,
    };
    let deadline = Instant::now() + limit;
    let outcome = loop {
        match session.next(deadline) {
            Heard::Line(line) => match parse_line(&line) {
                Line::TestEnd { name, reason } if name == test.name => {
                    break Outcome::Finished { failure: reason.map(str::to_owned) };
                }
                Line::TestEnd { name, .. } => {
                    break Outcome::Error { reason: format!("the kernel ended test {name} instead") };
                }
                Line::Fatal { message } => {
                    let message = message.to_owned();
                    read_rest_of_fatal_report(session, timeouts);
                    break Outcome::Panicked { message };
                }
                _ => {}
            },
            Heard::Prompt => {
                break Outcome::Error {
                    reason: "the shell prompted again without a test-end line (is the test unknown?)"
                        .to_owned(),
                };
            }
            Heard::Timeout => break Outcome::TimedOut { after: limit },
            Heard::Closed(why) => break Outcome::Error { reason: why },
        }
    };
    if outcome.leaves_kernel_usable()
        && let Err(interrupted) = wait_for_prompt(session, timeouts.reply)
    {
        let trouble = explain(interrupted, "prompt", timeouts.reply);
        return Outcome::Error { reason: format!("after test-end: {trouble}") };
    }
    outcome
}

/// Reads on until the kernel falls silent, so a failure's log holds the whole panic report.
pub(crate) fn read_rest_of_fatal_report(session: &mut Session, timeouts: &Timeouts) {
    let last_chance = Instant::now() + timeouts.reply;
    loop {
        let deadline = (Instant::now() + timeouts.fatal_quiet).min(last_chance);
        match session.next(deadline) {
            Heard::Line(_) | Heard::Prompt => {}
            Heard::Timeout | Heard::Closed(_) => return,
        }
    }
}

#[cfg(test)]
mod tests;
