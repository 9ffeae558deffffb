//! From raw samples to series with medians, and the whole run's report (what `results.json` holds).
//!
//! A series is one figure with one set of labels (`fork.latency mode=cow mib=16`); its samples are the
//! repetitions. Timed samples become nanoseconds per operation, `ticks * 1e9 / timer_hz / ops`, each with
//! the counter frequency of the benchmark it came from. The median is the figure reported: under icount
//! the repetitions hardly differ, and where they do (the first run warming a cache, a scan landing
//! mid-measurement) the median ignores the odd one out. Series keep the order the kernel first printed
//! them in, so reports follow the benchmarks' own order. The report has no timestamps: the same kernel
//! gives the same file.

use std::collections::HashMap;
use std::path::Path;

use cowpi_console::bench::Scale;
use serde::Serialize;

use super::derived::Derived;
use super::run::{BoardRun, Failure, RawMeasure, RawSample};

/// The median, the smallest and the largest of a series' values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    /// The statistics of `values`, `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Stats> {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let (&min, &max) = (sorted.first()?, sorted.last()?);
        Some(Stats { median: median_of_sorted(&sorted), min, max })
    }
}

/// The middle value; for an even count, the mean of the two middle ones.
fn median_of_sorted(sorted: &[f64]) -> f64 {
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 { sorted[middle] } else { (sorted[middle - 1] + sorted[middle]) / 2.0 }
}

/// Nanoseconds per operation of `ticks` counter ticks at `timer_hz` for `ops` operations.
pub fn ns_per_op(ticks: u64, ops: u64, timer_hz: u64) -> f64 {
    ticks as f64 * 1e9 / timer_hz as f64 / ops as f64
}

/// One repetition of a timed figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimedSample {
    pub ticks: u64,
    pub ops: u64,
    pub ns_per_op: f64,
}

/// What a series measured, with its raw samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measured {
    Timed { ns_per_op: Stats, ticks_median: f64, samples: Vec<TimedSample> },
    Counted { unit: String, stats: Stats, values: Vec<u64> },
}

/// One figure with one set of labels, over its repetitions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub figure: String,
    pub labels: String,
    /// How many samples the series has.
    pub n: usize,
    #[serde(flatten)]
    pub measured: Measured,
}

impl Series {
    /// The value of label `key`, if the series has it.
    pub fn label(&self, key: &str) -> Option<&str> {
        label_pairs(&self.labels).find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Whether the labels are exactly `wanted`, in any order.
    pub fn has_labels(&self, wanted: &[(&str, &str)]) -> bool {
        label_pairs(&self.labels).count() == wanted.len()
            && wanted.iter().all(|(key, value)| self.label(key) == Some(value))
    }

    /// The median nanoseconds per operation of a timed series.
    pub fn median_ns(&self) -> Option<f64> {
        match &self.measured {
            Measured::Timed { ns_per_op, .. } => Some(ns_per_op.median),
            Measured::Counted { .. } => None,
        }
    }

    /// The largest nanoseconds per operation of a timed series.
    pub fn max_ns(&self) -> Option<f64> {
        match &self.measured {
            Measured::Timed { ns_per_op, .. } => Some(ns_per_op.max),
            Measured::Counted { .. } => None,
        }
    }

    /// The median value and the unit of a counted series.
    pub fn median_count(&self) -> Option<(f64, &str)> {
        match &self.measured {
            Measured::Counted { stats, unit, .. } => Some((stats.median, unit)),
            Measured::Timed { .. } => None,
        }
    }

    /// The figure and its labels, as one name (`fork.latency mode=cow mib=16`).
    pub fn name(&self) -> String {
        if self.labels.is_empty() { self.figure.clone() } else { format!("{} {}", self.figure, self.labels) }
    }
}

/// The `key=value` pairs of a label string.
pub fn label_pairs(labels: &str) -> impl Iterator<Item = (&str, &str)> {
    labels.split_ascii_whitespace().filter_map(|pair| pair.split_once('='))
}

/// What identifies a series: the figure, its labels, and the kind of measure (a count's unit included),
/// so that a figure printed two ways becomes two series rather than a mixture.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key<'s> {
    figure: &'s str,
    labels: &'s str,
    unit: Option<&'s str>,
}

impl<'s> Key<'s> {
    fn of(sample: &'s RawSample) -> Key<'s> {
        let unit = match &sample.measure {
            RawMeasure::Ticks { .. } => None,
            RawMeasure::Count { unit, .. } => Some(unit.as_str()),
        };
        Key { figure: &sample.figure, labels: &sample.labels, unit }
    }
}

/// Groups samples into series, in the order each series first appears.
pub fn group<'a>(samples: impl IntoIterator<Item = &'a RawSample>) -> Vec<Series> {
    let mut index: HashMap<Key, usize> = HashMap::new();
    let mut groups: Vec<(Key, Vec<&RawSample>)> = Vec::new();
    for sample in samples {
        let key = Key::of(sample);
        match index.get(&key) {
            Some(&i) => groups[i].1.push(sample),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, vec![sample]));
            }
        }
    }
    groups.into_iter().filter_map(|(key, samples)| series(&key, &samples)).collect()
}

/// The series of one group (never empty, so always `Some`).
fn series(key: &Key, samples: &[&RawSample]) -> Option<Series> {
    let measured = match key.unit {
        None => {
            let timed: Vec<TimedSample> = samples
                .iter()
                .filter_map(|s| match s.measure {
                    RawMeasure::Ticks { ticks, ops } => {
                        Some(TimedSample { ticks, ops, ns_per_op: ns_per_op(ticks, ops, s.timer_hz) })
                    }
                    RawMeasure::Count { .. } => None,
                })
                .collect();
            let ns: Vec<f64> = timed.iter().map(|s| s.ns_per_op).collect();
            let ticks: Vec<f64> = timed.iter().map(|s| s.ticks as f64).collect();
            Measured::Timed {
                ns_per_op: Stats::of(&ns)?,
                ticks_median: Stats::of(&ticks)?.median,
                samples: timed,
            }
        }
        Some(unit) => {
            let values: Vec<u64> = samples
                .iter()
                .filter_map(|s| match s.measure {
                    RawMeasure::Count { value, .. } => Some(value),
                    RawMeasure::Ticks { .. } => None,
                })
                .collect();
            let as_f64: Vec<f64> = values.iter().map(|&v| v as f64).collect();
            Measured::Counted { unit: unit.to_owned(), stats: Stats::of(&as_f64)?, values }
        }
    };
    Some(Series { figure: key.figure.to_owned(), labels: key.labels.to_owned(), n: samples.len(), measured })
}

/// How the kernel was built, read from where cargo put it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Debug,
    Release,
    /// Not under a `debug` or `release` folder (copied elsewhere, or a custom profile).
    Unknown,
}

impl Profile {
    /// cargo puts the kernel in `target/<target>/<profile>/`: the nearest folder named `debug` or
    /// `release` names the profile.
    pub fn of_elf(elf: &Path) -> Profile {
        let mut folders = elf.parent().map(Path::components).into_iter().flatten().rev();
        folders
            .find_map(|folder| match folder.as_os_str().to_str() {
                Some("debug") => Some(Profile::Debug),
                Some("release") => Some(Profile::Release),
                _ => None,
            })
            .unwrap_or(Profile::Unknown)
    }
}

/// A benchmark that failed, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedBenchmark {
    pub benchmark: String,
    /// The boot of the board it ran on, counting from 1.
    pub boot: u32,
    #[serde(flatten)]
    pub failure: Failure,
}

/// A line that looked like a benchmark line but did not parse: a sample lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GarbledLine {
    pub benchmark: String,
    pub line: String,
}

/// One board's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardResults {
    pub board: String,
    pub machine: String,
    /// The counter frequency the first benchmark reported (every benchmark reports its own, and each
    /// sample is converted with its own).
    pub timer_hz: Option<u64>,
    /// The benchmarks the kernel listed.
    pub benchmarks: Vec<String>,
    pub boots: u32,
    /// Every series of the benchmarks that finished, failed ones' samples left out.
    pub series: Vec<Series>,
    pub derived: Derived,
    pub failed: Vec<FailedBenchmark>,
    pub garbled_lines: Vec<GarbledLine>,
}

impl BoardResults {
    pub fn new(run: &BoardRun, machine: &str) -> BoardResults {
        let finished = run.runs.iter().filter(|r| r.failure.is_none());
        let series = group(finished.flat_map(|r| &r.samples));
        let derived = Derived::from_series(&series);
        let failed = run
            .runs
            .iter()
            .filter_map(|r| {
                let failure = r.failure.clone()?;
                Some(FailedBenchmark { benchmark: r.name.clone(), boot: r.boot, failure })
            })
            .collect();
        let garbled_lines = run
            .runs
            .iter()
            .flat_map(|r| {
                r.garbled.iter().map(|line| GarbledLine { benchmark: r.name.clone(), line: line.clone() })
            })
            .collect();
        BoardResults {
            board: run.board.clone(),
            machine: machine.to_owned(),
            timer_hz: run.runs.iter().flat_map(|r| &r.samples).map(|s| s.timer_hz).next(),
            benchmarks: run.listed.clone(),
            boots: run.boots,
            series,
            derived,
            failed,
            garbled_lines,
        }
    }
}

/// The whole run: how it was measured, and each board's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The tool that wrote the report (`cowpi 0.1.0`).
    pub tool: String,
    /// QEMU's `-icount` setting.
    pub icount: String,
    pub kernel_profile: Profile,
    pub reps: u32,
    pub scale: String,
    /// The benchmarks selected with `--only` (empty: all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub only: Vec<String>,
    pub boards: Vec<BoardResults>,
}

impl Report {
    pub fn new(icount: &str, kernel_profile: Profile, reps: u32, scale: Scale, only: &[String]) -> Report {
        Report {
            tool: format!("cowpi {}", env!("CARGO_PKG_VERSION")),
            icount: icount.to_owned(),
            kernel_profile,
            reps,
            scale: scale.as_str().to_owned(),
            only: only.to_vec(),
            boards: Vec::new(),
        }
    }

    /// How many benchmark runs failed, over all boards.
    pub fn failures(&self) -> usize {
        self.boards.iter().map(|b| b.failed.len()).sum()
    }

    /// The report as pretty-printed JSON, ending with a newline.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self).map(|json| json + "\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::run::BenchRun;

    fn ticks(figure: &str, labels: &str, ticks: u64, ops: u64, timer_hz: u64) -> RawSample {
        RawSample {
            figure: figure.to_owned(),
            labels: labels.to_owned(),
            measure: RawMeasure::Ticks { ticks, ops },
            timer_hz,
        }
    }

    fn count(figure: &str, labels: &str, value: u64, unit: &str) -> RawSample {
        RawSample {
            figure: figure.to_owned(),
            labels: labels.to_owned(),
            measure: RawMeasure::Count { value, unit: unit.to_owned() },
            timer_hz: 1_000_000_000,
        }
    }

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_and_of_an_even_count_the_mean_of_the_two() {
        assert_eq!(Stats::of(&[5.0, 1.0, 3.0]), Some(Stats { median: 3.0, min: 1.0, max: 5.0 }));
        assert_eq!(Stats::of(&[4.0, 1.0, 3.0, 10.0]), Some(Stats { median: 3.5, min: 1.0, max: 10.0 }));
        assert_eq!(Stats::of(&[7.0]).map(|s| s.median), Some(7.0));
        assert_eq!(Stats::of(&[]), None);
    }

    #[test]
    fn ticks_become_nanoseconds_per_operation() {
        // 62.5 MHz: one tick is 16 ns.
        assert_eq!(ns_per_op(1, 1, 62_500_000), 16.0);
        assert_eq!(ns_per_op(4100, 256, 62_500_000), 4100.0 * 16.0 / 256.0);
        // Under icount at 1 GHz a tick is a nanosecond.
        assert_eq!(ns_per_op(54_000, 1, 1_000_000_000), 54_000.0);
    }

    #[test]
    fn samples_group_by_figure_and_labels_in_first_seen_order() {
        let samples = [
            ticks("fork.latency", "mode=cow mib=16", 100, 1, 1_000_000_000),
            ticks("fork.latency", "mode=eager mib=16", 9000, 1, 1_000_000_000),
            ticks("fork.latency", "mode=cow mib=16", 120, 1, 1_000_000_000),
            count("memory.children", "stage=parent", 300, "frames"),
            ticks("fork.latency", "mode=cow mib=16", 110, 2, 1_000_000_000),
            // The same figure and labels counted instead of timed is a series of its own.
            count("fork.latency", "mode=cow mib=16", 1, "frames"),
        ];
        let series = group(&samples);
        let names: Vec<(String, usize)> = series.iter().map(|s| (s.name(), s.n)).collect();
        assert_eq!(
            names,
            [
                ("fork.latency mode=cow mib=16".to_owned(), 3),
                ("fork.latency mode=eager mib=16".to_owned(), 1),
                ("memory.children stage=parent".to_owned(), 1),
                ("fork.latency mode=cow mib=16".to_owned(), 1),
            ]
        );
        let Measured::Timed { ns_per_op, ticks_median, samples } = &series[0].measured else { panic!() };
        assert_eq!(*ns_per_op, Stats { median: 100.0, min: 55.0, max: 120.0 });
        assert_eq!(*ticks_median, 110.0);
        assert_eq!(samples[2], TimedSample { ticks: 110, ops: 2, ns_per_op: 55.0 });
        assert_eq!(series[2].median_count(), Some((300.0, "frames")));
        assert_eq!(series[0].label("mib"), Some("16"));
        assert!(series[0].has_labels(&[("mib", "16"), ("mode", "cow")]));
        assert!(!series[0].has_labels(&[("mode", "cow")]));
    }

    #[test]
    fn each_sample_is_converted_with_its_own_counter_frequency() {
        let samples =
            [ticks("boot.ready", "", 1000, 1, 1_000_000_000), ticks("boot.ready", "", 1000, 1, 500_000_000)];
        let series = group(&samples);
        let Measured::Timed { ns_per_op, .. } = &series[0].measured else { panic!() };
        assert_eq!((ns_per_op.min, ns_per_op.max, ns_per_op.median), (1000.0, 2000.0, 1500.0));
    }

    #[test]
    fn the_profile_is_the_folder_cargo_built_the_kernel_in() {
        let of = |path: &str| Profile::of_elf(Path::new(path));
        assert_eq!(of("/w/target/aarch64-unknown-none/release/cowpi"), Profile::Release);
        assert_eq!(of("target/aarch64-unknown-none/debug/cowpi"), Profile::Debug);
        assert_eq!(of("/tmp/kernel"), Profile::Unknown);
        assert_eq!(of("/tmp/debug"), Profile::Unknown, "the file's own name does not count");
    }

    #[test]
    fn failed_runs_are_reported_and_their_samples_left_out() {
        let ok = BenchRun {
            name: "floors".to_owned(),
            boot: 1,
            samples: vec![ticks("floor.syscall", "", 10, 1, 1_000_000_000)],
            garbled: vec!["bench-sample: x".to_owned()],
            failure: None,
        };
        let failed = BenchRun {
            name: "fork".to_owned(),
            boot: 1,
            samples: vec![ticks("fork.latency", "mode=cow mib=0", 10, 1, 1_000_000_000)],
            garbled: Vec::new(),
            failure: Some(Failure { reason: "out of memory".to_owned(), log_tail: vec!["x".to_owned()] }),
        };
        let run = BoardRun {
            board: "raspi3b".to_owned(),
            listed: vec!["floors".to_owned(), "fork".to_owned()],
            boots: 1,
            runs: vec![ok, failed],
        };
        let board = BoardResults::new(&run, "raspi3b");
        assert_eq!(board.series.len(), 1);
        assert_eq!(board.timer_hz, Some(1_000_000_000));
        assert_eq!(board.failed.len(), 1);
        assert_eq!(
            (board.failed[0].benchmark.as_str(), board.failed[0].failure.reason.as_str()),
            ("fork", "out of memory")
        );
        assert_eq!(
            board.garbled_lines,
            [GarbledLine { benchmark: "floors".to_owned(), line: "bench-sample: x".to_owned() }]
        );

        let mut report = Report::new("shift=0,sleep=off", Profile::Release, 5, Scale::Full, &[]);
        report.boards.push(board);
        assert_eq!(report.failures(), 1);
        let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
        assert_eq!(json["kernel_profile"], "release");
        assert_eq!(json["boards"][0]["series"][0]["kind"], "timed");
        assert_eq!(json["boards"][0]["series"][0]["ns_per_op"]["median"], 10.0);
        assert_eq!(json["boards"][0]["failed"][0]["reason"], "out of memory");
        assert!(json.get("only").is_none());
    }
}
