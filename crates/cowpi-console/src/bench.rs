//! The serial benchmark protocol: how the kernel and its user programs report measurements to the host.
//!
//! Benchmarks run in QEMU with `-icount shift=0,sleep=off`, where virtual time advances by exactly one
//! nanosecond per instruction, so counter readings repeat from run to run. The host never times anything
//! itself: it asks the shell to run each benchmark and reads the counter ticks (`CNTPCT_EL0`) the guest
//! measured. Raw samples come over the line; medians, ratios and unit conversions are the host's work,
//! so the guest side stays small and the arithmetic stays host-tested.
//!
//! ```text
//! host:   bench list
//! kernel: bench-list: floors                      one line per benchmark
//! kernel: bench-list-end: 6
//! host:   bench run floors 5 full                 name, repetitions, scale (`full` or `quick`)
//! kernel: bench-begin: floors timer_hz=62500000
//! kernel: bench-sample: floor.memcpy_4k ticks=4100 ops=256
//! kernel: bench-sample: fork.latency mode=cow mib=16 ticks=5120 ops=1
//! kernel: bench-count: memory.children stage=after_writes value=4200 unit=frames
//! kernel: bench-end: floors ok                     or `FAILED <reason>`
//! ```
//!
//! A `bench-sample` is one repetition of a timed figure: `ticks` counter ticks for `ops` operations. A
//! `bench-count` is one repetition of a counted figure (frames, scans, parts per million). The figure
//! name and the `key=value` labels between it and the measurement identify a series; repetitions repeat
//! the same line with new numbers. Samples may come from the kernel or from a user program the benchmark
//! runs: both print with [`SampleLine`] and [`CountLine`].

use core::fmt;

pub const BENCH_LIST: &str = "bench-list: ";
pub const BENCH_LIST_END: &str = "bench-list-end: ";
pub const BENCH_BEGIN: &str = "bench-begin: ";
pub const BENCH_SAMPLE: &str = "bench-sample: ";
pub const BENCH_COUNT: &str = "bench-count: ";
pub const BENCH_END: &str = "bench-end: ";

/// The figure of the kernel's fork probes (the `forkprofile` benchmark), one sample per phase.
pub const FORK_PROFILE: &str = "fork.profile";
/// The phases of `fork.profile` (its `phase` label), in the order a round trip passes them: from `FORK`
/// to the child's address space, to the child task, to its first run, to its `EXIT`, to the end of its
/// teardown, to the parent's `WAIT` returning.
pub const FORK_PHASES: [&str; 6] = [
    "address_space_fork",
    "task_creation",
    "to_the_child",
    "child_to_exit",
    "teardown",
    "back_to_the_parent",
];

/// How much a benchmark does: `full` for the published figures, `quick` for the test suite, which only
/// checks that every benchmark runs and its output parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Quick,
    Full,
}

impl Scale {
    pub const fn as_str(self) -> &'static str {
        match self {
            Scale::Quick => "quick",
            Scale::Full => "full",
        }
    }

    pub fn parse(word: &str) -> Option<Scale> {
        [Scale::Quick, Scale::Full].into_iter().find(|s| s.as_str() == word)
    }
}

/// The `key=value` labels of a sample, as received: iterate with [`Labels::iter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labels<'a>(&'a str);

impl<'a> Labels<'a> {
    /// The pairs in the order they were printed.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.0.split_ascii_whitespace().filter_map(|pair| pair.split_once('='))
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The labels as printed (`""` when there are none).
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// What one repetition measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure<'a> {
    /// `ticks` counter ticks for `ops` operations (`ops` >= 1).
    Ticks { ticks: u64, ops: u64 },
    /// A count: `value` of `unit` (`frames`, `pages`, `scans`, `ppm`...).
    Count { value: u64, unit: &'a str },
}

/// One repetition of one figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample<'a> {
    pub figure: &'a str,
    pub labels: Labels<'a>,
    pub measure: Measure<'a>,
}

/// A benchmark protocol line, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchLine<'a> {
    Listed {
        name: &'a str,
    },
    ListEnd {
        count: usize,
    },
    Begin {
        name: &'a str,
        timer_hz: u64,
    },
    Sample(Sample<'a>),
    /// `reason` is `None` when the benchmark finished normally.
    End {
        name: &'a str,
        reason: Option<&'a str>,
    },
}

/// Whether `word` may be a benchmark or figure name, a label key or a unit: non-empty, lowercase ASCII
/// letters, digits, `_` and `.`.
pub fn is_valid_name(word: &str) -> bool {
    !word.is_empty()
        && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}

/// Whether `word` may be a label value: non-empty ASCII letters, digits, `_`, `.` and `-`.
pub fn is_valid_value(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// Parses one line; `None` for anything that is not a well-formed benchmark line (echo, program output,
/// log lines, a line garbled on the wire). The prompt may precede it and a trailing `\r` is ignored.
pub fn parse_line(line: &str) -> Option<BenchLine<'_>> {
    let line = line.trim_end_matches(['\r', '\n']);
    let body = line.strip_prefix(crate::protocol::PROMPT).unwrap_or(line);
    if let Some(name) = body.strip_prefix(BENCH_LIST) {
        let name = name.trim();
        return is_valid_name(name).then_some(BenchLine::Listed { name });
    }
    if let Some(count) = body.strip_prefix(BENCH_LIST_END) {
        return count.trim().parse().ok().map(|count| BenchLine::ListEnd { count });
    }
    if let Some(rest) = body.strip_prefix(BENCH_BEGIN) {
        let (name, hz) = rest.trim().split_once(' ')?;
        let timer_hz = hz.strip_prefix("timer_hz=")?.parse().ok().filter(|&hz| hz > 0)?;
        return is_valid_name(name).then_some(BenchLine::Begin { name, timer_hz });
    }
    if let Some(rest) = body.strip_prefix(BENCH_END) {
        let (name, verdict) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
        if !is_valid_name(name) {
            return None;
        }
        if verdict == "ok" {
            return Some(BenchLine::End { name, reason: None });
        }
        let reason = verdict.strip_prefix("FAILED")?.trim();
        return Some(BenchLine::End {
            name,
            reason: Some(if reason.is_empty() { "no reason given" } else { reason }),
        });
    }
    if let Some(rest) = body.strip_prefix(BENCH_SAMPLE) {
        let (figure, labels, last_two) = split_sample(rest)?;
        let ticks = last_two[0].strip_prefix("ticks=")?.parse().ok()?;
        let ops = last_two[1].strip_prefix("ops=")?.parse().ok().filter(|&ops| ops > 0)?;
        return Some(BenchLine::Sample(Sample { figure, labels, measure: Measure::Ticks { ticks, ops } }));
    }
    if let Some(rest) = body.strip_prefix(BENCH_COUNT) {
        let (figure, labels, last_two) = split_sample(rest)?;
        let value = last_two[0].strip_prefix("value=")?.parse().ok()?;
        let unit = last_two[1].strip_prefix("unit=").filter(|unit| is_valid_name(unit))?;
        return Some(BenchLine::Sample(Sample { figure, labels, measure: Measure::Count { value, unit } }));
    }
    None
}

/// Splits `figure [k=v ...] a=x b=y` into the figure, the labels and the last two words, checking every
/// name and label on the way.
fn split_sample(rest: &str) -> Option<(&str, Labels<'_>, [&str; 2])> {
    let rest = rest.trim();
    let (figure, after_figure) = rest.split_once(' ')?;
    if !is_valid_name(figure) {
        return None;
    }
    let after_figure = after_figure.trim_start();
    let mut words = after_figure.rsplitn(3, ' ');
    let last = words.next()?;
    let second_last = words.next()?;
    let labels = words.next().unwrap_or("").trim();
    let labels_ok = labels
        .split_ascii_whitespace()
        .all(|pair| pair.split_once('=').is_some_and(|(k, v)| is_valid_name(k) && is_valid_value(v)));
    labels_ok.then_some((figure, Labels(labels), [second_last, last]))
}

/// A label value as the guest prints it: a number or a word.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Number(u64),
    Word(&'a str),
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(n) => write!(f, "{n}"),
            Value::Word(w) => f.write_str(w),
        }
    }
}

impl From<u64> for Value<'_> {
    fn from(n: u64) -> Self {
        Value::Number(n)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(w: &'a str) -> Self {
        Value::Word(w)
    }
}

/// Writes ` k=v` for each label.
fn write_labels(f: &mut fmt::Formatter<'_>, labels: &[(&str, Value<'_>)]) -> fmt::Result {
    for (key, value) in labels {
        write!(f, " {key}={value}")?;
    }
    Ok(())
}

/// A `bench-sample` line (without the line ending), for `println!("{}", SampleLine { .. })`.
pub struct SampleLine<'a> {
    pub figure: &'a str,
    pub labels: &'a [(&'a str, Value<'a>)],
    pub ticks: u64,
    pub ops: u64,
}

impl fmt::Display for SampleLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{BENCH_SAMPLE}{}", self.figure)?;
        write_labels(f, self.labels)?;
        write!(f, " ticks={} ops={}", self.ticks, self.ops)
    }
}

/// A `bench-count` line (without the line ending).
pub struct CountLine<'a> {
    pub figure: &'a str,
    pub labels: &'a [(&'a str, Value<'a>)],
    pub value: u64,
    pub unit: &'a str,
}

impl fmt::Display for CountLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{BENCH_COUNT}{}", self.figure)?;
        write_labels(f, self.labels)?;
        write!(f, " value={} unit={}", self.value, self.unit)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::format;
    use std::vec::Vec;

    use super::*;

    #[test]
    fn parses_every_kind_of_line() {
        assert_eq!(parse_line("bench-list: floors\r"), Some(BenchLine::Listed { name: "floors" }));
        assert_eq!(parse_line("bench-list-end: 6"), Some(BenchLine::ListEnd { count: 6 }));
        assert_eq!(
            parse_line("bench-begin: fork timer_hz=62500000"),
            Some(BenchLine::Begin { name: "fork", timer_hz: 62_500_000 })
        );
        assert_eq!(parse_line("bench-end: fork ok"), Some(BenchLine::End { name: "fork", reason: None }));
        assert_eq!(
            parse_line("bench-end: fork FAILED fork: out of memory"),
            Some(BenchLine::End { name: "fork", reason: Some("fork: out of memory") })
        );
        let Some(BenchLine::Sample(sample)) =
            parse_line("cowpi> bench-sample: fork.latency mode=cow mib=16 ticks=51 ops=1")
        else {
            panic!()
        };
        assert_eq!(sample.figure, "fork.latency");
        assert_eq!(sample.labels.iter().collect::<Vec<_>>(), [("mode", "cow"), ("mib", "16")]);
        assert_eq!(sample.labels.get("mib"), Some("16"));
        assert_eq!(sample.measure, Measure::Ticks { ticks: 51, ops: 1 });
        let Some(BenchLine::Sample(count)) =
            parse_line("bench-count: ksm.merge_scans rate=max value=2 unit=scans")
        else {
            panic!()
        };
        assert_eq!(count.measure, Measure::Count { value: 2, unit: "scans" });
        let Some(BenchLine::Sample(bare)) = parse_line("bench-sample: boot.ready ticks=9 ops=1") else {
            panic!()
        };
        assert_eq!(bare.labels.as_str(), "");
    }

    #[test]
    fn malformed_lines_are_not_benchmark_lines() {
        for line in [
            "bench-sample: fork.latency ticks=1",
            "bench-sample: fork.latency ticks=1 ops=0",
            "bench-sample: fork.latency ticks=x ops=1",
            "bench-sample: Fork ticks=1 ops=1",
            "bench-sample: fork mode ticks=1 ops=1",
            "bench-sample: fork mode=c\u{7f}w ticks=1 ops=1",
            "bench-count: a value=1",
            "bench-count: a value=1 unit=",
            "bench-begin: fork",
            "bench-begin: fork timer_hz=0",
            "bench-end: fork maybe",
            "bench-list: Two Words",
            "bench-list-end: many",
            "test-end: a ok",
            "",
        ] {
            assert_eq!(parse_line(line), None, "{line:?}");
        }
    }

    #[test]
    fn what_the_guest_prints_the_host_parses() {
        let labels = [("mode", Value::from("eager")), ("mib", Value::from(64))];
        let line = format!("{}", SampleLine { figure: "fork.latency", labels: &labels, ticks: 123, ops: 4 });
        assert_eq!(line, "bench-sample: fork.latency mode=eager mib=64 ticks=123 ops=4");
        let Some(BenchLine::Sample(sample)) = parse_line(&line) else { panic!("{line}") };
        assert_eq!(sample.measure, Measure::Ticks { ticks: 123, ops: 4 });
        assert_eq!(sample.labels.get("mode"), Some("eager"));

        let line =
            format!("{}", CountLine { figure: "memory.children", labels: &[], value: 7, unit: "frames" });
        assert_eq!(line, "bench-count: memory.children value=7 unit=frames");
        assert!(matches!(parse_line(&line), Some(BenchLine::Sample(_))));
    }

    proptest::proptest! {
        /// Garbage on the serial line (any bytes the host's lossy UTF-8 decoding can produce) never
        /// panics the parser, and whatever it accepts satisfies the format's rules.
        #[test]
        fn any_line_parses_without_panicking(line in ".{0,120}") {
            if let Some(BenchLine::Sample(sample)) = parse_line(&line) {
                proptest::prop_assert!(is_valid_name(sample.figure));
                if let Measure::Ticks { ops, .. } = sample.measure {
                    proptest::prop_assert!(ops > 0);
                }
            }
        }

        /// Every sample a guest can print parses back to the same numbers and labels.
        #[test]
        fn printed_samples_parse_back(
            figure in "[a-z][a-z0-9_.]{0,20}",
            key in "[a-z][a-z0-9_]{0,10}",
            value in "[A-Za-z0-9_.-]{1,12}",
            ticks in proptest::prelude::any::<u64>(),
            ops in 1..u64::MAX,
        ) {
            let labels = [(key.as_str(), Value::from(value.as_str()))];
            let line = format!("{}", SampleLine { figure: &figure, labels: &labels, ticks, ops });
            let Some(BenchLine::Sample(sample)) = parse_line(&line) else {
                return Err(proptest::test_runner::TestCaseError::fail(line));
            };
            proptest::prop_assert_eq!(sample.figure, figure.as_str());
            proptest::prop_assert_eq!(sample.labels.get(&key), Some(value.as_str()));
            proptest::prop_assert_eq!(sample.measure, Measure::Ticks { ticks, ops });
        }
    }

    #[test]
    fn scales_round_trip() {
        for scale in [Scale::Quick, Scale::Full] {
            assert_eq!(Scale::parse(scale.as_str()), Some(scale));
        }
        assert_eq!(Scale::parse("huge"), None);
    }
}
