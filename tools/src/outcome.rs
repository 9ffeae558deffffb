//! What a kernel test did, and whether that is what it was expected to do.
//!
//! Some kernel tests exist to fail on purpose (they report FAILED, panic the kernel, or never finish) so
//! that the runner is seen to catch each kind of failure. A test therefore passes when its [`Outcome`]
//! matches its [`Expect`]ation, not when it "succeeds"; [`judge`] is that comparison, and its reasons are
//! what a reader sees under a failed test.

use std::time::Duration;

use cowpi_console::protocol::Expect;

/// How a test run ended, as seen from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel printed `test-end`: `failure` is the FAILED reason, `None` for ok.
    Finished { failure: Option<String> },
    /// The kernel printed a fatal `!!! ` line and stopped; `message` is that line's text.
    Panicked { message: String },
    /// No `test-end` came within the time limit.
    TimedOut { after: Duration },
    /// The test could not be run or followed to its end: the board was gone, did not boot again, ignored
    /// typing, or broke the protocol. Always a failure, whatever was expected.
    Error { reason: String },
}

impl Outcome {
    /// Whether the kernel may still be at its prompt afterwards; if not, the board must boot again.
    pub fn leaves_kernel_usable(&self) -> bool {
        matches!(self, Outcome::Finished { .. })
    }

    /// The outcome as a clause for reasons: "the test passed", "the kernel panicked: ...".
    fn describe(&self) -> String {
        match self {
            Outcome::Finished { failure: None } => "the test passed".to_owned(),
            Outcome::Finished { failure: Some(reason) } if reason.is_empty() => {
                "the test reported FAILED".to_owned()
            }
            Outcome::Finished { failure: Some(reason) } => format!("the test reported FAILED: {reason}"),
            Outcome::Panicked { message } => format!("the kernel panicked: {message}"),
            Outcome::TimedOut { after } => format!("no test-end came within {}", seconds(*after)),
            Outcome::Error { reason } => reason.clone(),
        }
    }
}

/// Whether an outcome matched the expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Matched; the text is what the report shows (`ok`, `ok (panicked as expected)`, ...).
    Ok(&'static str),
    /// Did not match; the text says what was expected and what happened instead.
    Failed(String),
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::Ok(_))
    }
}

/// Compares what happened with what the test declared it would do.
pub fn judge(expect: Expect, outcome: &Outcome) -> Verdict {
    let matched = match (expect, outcome) {
        (Expect::Pass, Outcome::Finished { failure: None }) => Some("ok"),
        (Expect::Fail, Outcome::Finished { failure: Some(_) }) => Some("ok (failed as expected)"),
        (Expect::Panic, Outcome::Panicked { .. }) => Some("ok (panicked as expected)"),
        (Expect::Hang, Outcome::TimedOut { .. }) => Some("ok (hung as expected)"),
        _ => None,
    };
    if let Some(text) = matched {
        return Verdict::Ok(text);
    }
    let wanted = match (expect, outcome) {
        (Expect::Pass, _) | (_, Outcome::Error { .. }) => {
            return Verdict::Failed(outcome.describe());
        }
        (Expect::Fail, _) => "expected the test to report FAILED",
        (Expect::Panic, _) => "expected a kernel panic",
        (Expect::Hang, _) => "expected the test to hang",
    };
    Verdict::Failed(format!("{wanted}, but {}", outcome.describe()))
}

/// A duration for people: `30 s`, `0.5 s`.
pub fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passed() -> Outcome {
        Outcome::Finished { failure: None }
    }
    fn failed(reason: &str) -> Outcome {
        Outcome::Finished { failure: Some(reason.to_owned()) }
    }
    fn panicked() -> Outcome {
        Outcome::Panicked { message: "kernel panic at src/x.rs:1".to_owned() }
    }
    fn hung() -> Outcome {
        Outcome::TimedOut { after: Duration::from_secs(3) }
    }

    #[test]
    fn each_expectation_is_met_by_exactly_its_own_outcome() {
        let outcomes =
            [passed(), failed("x"), panicked(), hung(), Outcome::Error { reason: "gone".to_owned() }];
        let expectations = [Expect::Pass, Expect::Fail, Expect::Panic, Expect::Hang];
        for (i, expect) in expectations.into_iter().enumerate() {
            for (j, outcome) in outcomes.iter().enumerate() {
                assert_eq!(judge(expect, outcome).is_ok(), i == j, "{expect:?} vs {outcome:?}");
            }
        }
    }

    #[test]
    fn matched_outcomes_say_what_they_matched() {
        assert_eq!(judge(Expect::Pass, &passed()), Verdict::Ok("ok"));
        assert_eq!(judge(Expect::Fail, &failed("x")), Verdict::Ok("ok (failed as expected)"));
        assert_eq!(judge(Expect::Panic, &panicked()), Verdict::Ok("ok (panicked as expected)"));
        assert_eq!(judge(Expect::Hang, &hung()), Verdict::Ok("ok (hung as expected)"));
    }

    #[test]
    fn failure_reasons_name_the_expectation_and_what_happened() {
        assert_eq!(
            judge(Expect::Pass, &failed("audit: 3 frames lost")),
            Verdict::Failed("the test reported FAILED: audit: 3 frames lost".to_owned())
        );
        assert_eq!(judge(Expect::Pass, &hung()), Verdict::Failed("no test-end came within 3 s".to_owned()));
        assert_eq!(
            judge(Expect::Panic, &passed()),
            Verdict::Failed("expected a kernel panic, but the test passed".to_owned())
        );
        assert_eq!(
            judge(Expect::Hang, &panicked()),
            Verdict::Failed(
                "expected the test to hang, but the kernel panicked: kernel panic at src/x.rs:1".to_owned()
            )
        );
        assert_eq!(
            judge(Expect::Fail, &Outcome::Error { reason: "QEMU exited".to_owned() }),
            Verdict::Failed("QEMU exited".to_owned())
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(seconds(Duration::from_secs(30)), "30 s");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5 s");
    }
}
