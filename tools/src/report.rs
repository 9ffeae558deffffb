//! How results are shown: cargo-like test lines, a serial log under each failure, and the closing
//! `N passed, N failed` line.
//!
//! The closing line is the same format CI tooling reads from any test runner, so it appears exactly once,
//! at the very end, and covers host and kernel tests together. Per-board lines are worded differently on
//! purpose so they are never mistaken for it.

use std::io::{self, Write};

use crate::driver::SuiteReport;
use crate::outcome::Verdict;

/// Counts of passed and failed tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
}

impl Tally {
    pub fn add(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
    }

    /// The closing line: `3 passed, 1 failed`.
    pub fn summary_line(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }

    /// The counts for one board; a board that could not run its suite counts as one failure.
    pub fn of_suite(suite: &SuiteReport) -> Tally {
        let failed = suite.failed_tests().count();
        Tally { passed: suite.tests.len() - failed, failed: failed + usize::from(suite.failure.is_some()) }
    }
}

/// Names of everything that failed in a suite, as the final `failures:` list shows them.
pub fn failure_names(suite: &SuiteReport) -> Vec<String> {
    let mut names: Vec<String> = suite.failed_tests().map(|t| format!("{}::{}", t.board, t.name)).collect();
    if suite.failure.is_some() {
        names.insert(0, format!("{} (the board did not run its tests)", suite.board));
    }
    names
}

/// Prints a suite's failures, each with its serial log and reason, then a per-board count.
pub fn print_suite_end(out: &mut dyn Write, suite: &SuiteReport) -> io::Result<()> {
    if let Some(failure) = &suite.failure {
        writeln!(out, "\n---- {} serial log ----", suite.board)?;
        print_log(out, &failure.log)?;
        writeln!(out, "error: {}: {}", suite.board, failure.reason)?;
    }
    for test in suite.failed_tests() {
        writeln!(out, "\n---- {}::{} serial log ----", test.board, test.name)?;
        print_log(out, &test.log)?;
        if let Verdict::Failed(reason) = &test.verdict {
            writeln!(out, "reason: {reason}")?;
        }
    }
    let tally = Tally::of_suite(suite);
    writeln!(out, "\n{}: {} ok, {} failed", suite.board, tally.passed, tally.failed)
}

fn print_log(out: &mut dyn Write, log: &[String]) -> io::Result<()> {
    if log.is_empty() {
        return writeln!(out, "(nothing received)");
    }
    for line in log {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{BoardFailure, TestReport};

    fn test(name: &str, verdict: Verdict, log: &[&str]) -> TestReport {
        TestReport {
            board: "raspi3b".to_owned(),
            name: name.to_owned(),
            verdict,
            log: log.iter().map(|l| l.to_string()).collect(),
        }
    }

    #[test]
    fn the_summary_line_has_the_format_ci_reads() {
        let mut tally = Tally { passed: 40, failed: 0 };
        tally.add(Tally { passed: 2, failed: 1 });
        assert_eq!(tally.summary_line(), "42 passed, 1 failed");
        assert_eq!(Tally::default().summary_line(), "0 passed, 0 failed");
    }

    #[test]
    fn failures_show_their_log_and_reason_and_are_counted() {
        let suite = SuiteReport {
            board: "raspi3b".to_owned(),
            failure: None,
            tests: vec![
                test("a::ok", Verdict::Ok("ok"), &[]),
                test(
                    "a::slow",
                    Verdict::Failed("no test-end came within 30 s".to_owned()),
                    &["test-begin: a::slow"],
                ),
            ],
        };
        let mut out = Vec::new();
        print_suite_end(&mut out, &suite).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\n---- raspi3b::a::slow serial log ----\ntest-begin: a::slow\nreason: no test-end came within 30 s\n\
             \nraspi3b: 1 ok, 1 failed\n"
        );
        assert_eq!(Tally::of_suite(&suite), Tally { passed: 1, failed: 1 });
        assert_eq!(failure_names(&suite), ["raspi3b::a::slow"]);
    }

    #[test]
    fn a_board_that_ran_nothing_counts_as_one_failure() {
        let suite = SuiteReport {
            board: "raspi4b".to_owned(),
            failure: Some(BoardFailure { reason: "no ready line".to_owned(), log: vec![] }),
            tests: vec![],
        };
        let mut out = Vec::new();
        print_suite_end(&mut out, &suite).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "---- raspi4b serial log ----\n(nothing received)\nerror: raspi4b: no ready line\n"
            ),
            "{text}"
        );
        assert_eq!(Tally::of_suite(&suite), Tally { passed: 0, failed: 1 });
        assert_eq!(failure_names(&suite), ["raspi4b (the board did not run its tests)"]);
    }
}
