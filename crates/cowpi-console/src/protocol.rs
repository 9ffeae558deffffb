//! The serial test protocol.
//!
//! The host speaks to the kernel's ordinary shell: it types commands and reads lines back. Every line the
//! protocol depends on starts with a fixed tag, so the host can pick them out of echo, log output and
//! anything else the kernel prints. The kernel writes these lines with the `format_*` helpers (or the tag
//! constants) and the host parses them with [`parse_line`]; both sides use this one module, so they cannot
//! drift apart.
//!
//! ```text
//! kernel: cowpi: ready board=raspi3b               once per boot, before the first prompt
//! host:   test list
//! kernel: test-list: frames::alloc_and_free pass   one line per test: name and expected outcome
//! kernel: test-list: selftest::panics panic
//! kernel: test-list: cow::reading_much pass slow    a test whose work grows with the machine's RAM
//! kernel: test-list-end: 2
//! host:   test run frames::alloc_and_free
//! kernel: test-begin: frames::alloc_and_free
//! kernel: ...                                     anything the test prints
//! kernel: test-end: frames::alloc_and_free ok      or `FAILED <reason>`; sent after the memory audit
//! kernel: !!! kernel panic ...                     a fatal line: the kernel has stopped
//! ```
//!
//! Expected outcomes are `pass`, `fail` (the test must report FAILED), `panic` (the kernel must panic) and
//! `hang` (the test must never finish: the host's timeout must fire). The last three prove that the host
//! runner notices each kind of failure. A test marked `slow` does work that grows with the machine (two
//! million page faults to read four times a Pi 4's RAM): the host gives it a longer time limit, so that
//! the ordinary limit can stay short enough to catch a hang soon.

/// Printed once per boot, before the first prompt, followed by ` board=<name>`.
pub const READY: &str = "cowpi: ready";
/// The shell prompt (no newline follows it).
pub const PROMPT: &str = "cowpi> ";
/// Prefix of every line that means the kernel has stopped (panic or unexpected exception).
pub const FATAL: &str = "!!! ";
pub const TEST_LIST: &str = "test-list: ";
pub const TEST_LIST_END: &str = "test-list-end: ";
pub const TEST_BEGIN: &str = "test-begin: ";
pub const TEST_END: &str = "test-end: ";
/// The word after a listed test's expected outcome that marks it slow.
pub const SLOW: &str = "slow";

/// What a test is expected to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Finish and report ok.
    Pass,
    /// Finish and report FAILED.
    Fail,
    /// Panic the kernel.
    Panic,
    /// Never finish.
    Hang,
}

impl Expect {
    pub const fn as_str(self) -> &'static str {
        match self {
            Expect::Pass => "pass",
            Expect::Fail => "fail",
            Expect::Panic => "panic",
            Expect::Hang => "hang",
        }
    }

    pub fn parse(word: &str) -> Option<Expect> {
        [Expect::Pass, Expect::Fail, Expect::Panic, Expect::Hang].into_iter().find(|e| e.as_str() == word)
    }
}

/// A protocol line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    Ready {
        board: &'a str,
    },
    TestListed {
        name: &'a str,
        expect: Expect,
        /// Marked [`SLOW`]: given a longer time limit.
        slow: bool,
    },
    TestListEnd {
        count: usize,
    },
    TestBegin {
        name: &'a str,
    },
    /// `reason` is `None` for a pass.
    TestEnd {
        name: &'a str,
        reason: Option<&'a str>,
    },
    Fatal {
        message: &'a str,
    },
    /// Anything else: echo, log lines, test output.
    Other(&'a str),
}

/// Parses one line (without its line ending; a trailing `\r` is ignored).
pub fn parse_line(line: &str) -> Line<'_> {
    let line = line.trim_end_matches(['\r', '\n']);
    // The prompt may precede a line when the host reads the echo of its own command.
    let body = line.strip_prefix(PROMPT).unwrap_or(line);
    if let Some(rest) = body.strip_prefix(READY) {
        if let Some(board) = rest.trim().strip_prefix("board=") {
            return Line::Ready { board };
        }
    } else if let Some(rest) = body.strip_prefix(TEST_LIST) {
        let mut words = rest.split_whitespace();
        if let (Some(name), Some(expect), marks) = (words.next(), words.next(), words.next())
            && let Some(expect) = Expect::parse(expect)
            && words.next().is_none()
            && (marks.is_none() || marks == Some(SLOW))
        {
            return Line::TestListed { name, expect, slow: marks.is_some() };
        }
    } else if let Some(rest) = body.strip_prefix(TEST_LIST_END) {
        if let Ok(count) = rest.trim().parse() {
            return Line::TestListEnd { count };
        }
    } else if let Some(name) = body.strip_prefix(TEST_BEGIN) {
        return Line::TestBegin { name: name.trim() };
    } else if let Some(rest) = body.strip_prefix(TEST_END) {
        let (name, verdict) = rest.split_once(' ').unwrap_or((rest, ""));
        if verdict == "ok" {
            return Line::TestEnd { name, reason: None };
        }
        if let Some(reason) = verdict.strip_prefix("FAILED") {
            return Line::TestEnd { name, reason: Some(reason.trim()) };
        }
    } else if let Some(message) = body.strip_prefix(FATAL) {
        return Line::Fatal { message };
    }
    Line::Other(line)
}

/// Whether `name` is a valid test name: non-empty, and only ASCII letters, digits, `_` and `:`.
pub fn is_valid_test_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn parses_every_kind_of_line() {
        assert_eq!(parse_line("cowpi: ready board=raspi4b\r"), Line::Ready { board: "raspi4b" });
        assert_eq!(
            parse_line("test-list: frames::alloc hang"),
            Line::TestListed { name: "frames::alloc", expect: Expect::Hang, slow: false }
        );
        assert_eq!(
            parse_line("test-list: cow::much pass slow\r"),
            Line::TestListed { name: "cow::much", expect: Expect::Pass, slow: true }
        );
        assert_eq!(parse_line("test-list-end: 12"), Line::TestListEnd { count: 12 });
        assert_eq!(parse_line("test-begin: a::b"), Line::TestBegin { name: "a::b" });
        assert_eq!(parse_line("test-end: a::b ok"), Line::TestEnd { name: "a::b", reason: None });
        assert_eq!(
            parse_line("test-end: a::b FAILED audit: 3 frames lost"),
            Line::TestEnd { name: "a::b", reason: Some("audit: 3 frames lost") }
        );
        assert_eq!(parse_line("!!! kernel panic"), Line::Fatal { message: "kernel panic" });
        assert_eq!(parse_line("cowpi> test list"), Line::Other("cowpi> test list"));
    }

    #[test]
    fn malformed_protocol_lines_are_just_output() {
        for line in [
            "test-list: noexpect",
            "test-list: a maybe",
            "test-list: a pass quick",
            "test-list: a pass slow slow",
            "test-list-end: x",
            "test-end: a meh",
        ] {
            assert_eq!(parse_line(line), Line::Other(line));
        }
    }

    #[test]
    fn expectations_round_trip() {
        for e in [Expect::Pass, Expect::Fail, Expect::Panic, Expect::Hang] {
            assert_eq!(Expect::parse(e.as_str()), Some(e));
        }
        assert_eq!(Expect::parse("ok"), None);
    }

    proptest::proptest! {
        /// Garbage on the serial line never panics the parser, and what it recognises is really in the
        /// line: a test's verdict and expectation are never made up.
        #[test]
        fn any_line_parses_without_panicking(line in "(test-(list|end|begin)(-end)?: )?.{0,100}") {
            let trimmed = line.trim_end_matches(['\r', '\n']);
            match parse_line(&line) {
                Line::TestListed { name, expect, slow } => {
                    let ending = if slow { std::format!("{} {SLOW}", expect.as_str()) } else { expect.as_str().into() };
                    proptest::prop_assert!(trimmed.contains(name) && trimmed.ends_with(&ending));
                }
                Line::TestEnd { name, reason: None } => {
                    proptest::prop_assert!(trimmed.ends_with(" ok") && trimmed.contains(name));
                }
                Line::TestEnd { reason: Some(_), .. } => proptest::prop_assert!(line.contains("FAILED")),
                _ => {}
            }
        }
    }

    proptest::proptest! {
        /// Any text at all, as the host's lossy reading of a noisy line may hold, parses without panicking.
        #[test]
        fn any_text_parses_without_panicking(line in proptest::prelude::any::<std::string::String>()) {
            let _ = parse_line(&line);
            let _ = is_valid_test_name(&line);
        }
    }

    #[test]
    fn test_names_are_restricted() {
        assert!(is_valid_test_name("frames::alloc_2"));
        assert!(!is_valid_test_name(""));
        assert!(!is_valid_test_name("a b"));
        assert!(!is_valid_test_name("a\u{1b}[A"));
    }
}
