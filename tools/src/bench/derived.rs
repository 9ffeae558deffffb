//! The headline figures, worked out from the medians of one board's run (the targets are checked
//! against them in [`super::targets`]).
//!
//! Each fault is compared with its floor, the least work its handling must do: a copy-on-write copy with
//! a kernel 4 KiB copy, a first write with a 4 KiB zero-fill, a reuse and a zero-page read with a null
//! system call (they copy nothing; what is left is taking and returning from the exception). Ratios divide
//! medians of the same run on the same board, so they hold however fast the host running QEMU is.
//!
//! Inputs that are missing (a quick run measures fewer sizes, a benchmark failed) make a figure `None`,
//! shown as "not measured". Every series the headline tables do not show is named in
//! [`Derived::other`], so nothing the kernel measured is dropped.

use serde::Serialize;

use super::results::{Series, label_pairs};
use super::targets::{self, Target};

pub const BOOT_READY: &str = "boot.ready";
pub const FLOOR_MEMCPY: &str = "floor.memcpy_4k";
pub const FLOOR_ZERO: &str = "floor.zero_4k";
pub const FLOOR_SYSCALL: &str = "floor.syscall";
pub const HASH: &str = "hash.throughput";
pub const FAULT: &str = "fault.cost";
pub const FORK: &str = "fork.latency";
pub const FORK_TOUCH: &str = "fork.touch";
pub const CHILDREN: &str = "memory.children";
pub const OVERCOMMIT: &str = "memory.overcommit";
pub const KSM_MERGE: &str = "ksm.merge";
pub const KSM_SCANS: &str = "ksm.merge_scans";
pub const KSM_PAGES: &str = "ksm.merged_pages";
pub const KSM_SHARE: &str = "ksm.scanner_share";
pub const TICK_LATENESS: &str = "irq.tick_lateness";
pub use cowpi_console::bench::{FORK_PHASES, FORK_PROFILE};

/// The floors, in the order the tables show them.
const FLOORS: [&str; 3] = [FLOOR_MEMCPY, FLOOR_ZERO, FLOOR_SYSCALL];

/// The fault kinds with their floors. Unmerging a KSM page is a copy, so it is compared with one.
const FAULT_FLOORS: [(&str, &str); 7] = [
    ("zero_read", FLOOR_SYSCALL),
    ("first_write", FLOOR_ZERO),
    ("cow_copy", FLOOR_MEMCPY),
    ("cow_reuse", FLOOR_SYSCALL),
    ("table_copy", FLOOR_MEMCPY),
    ("table_reuse", FLOOR_SYSCALL),
    ("ksm_unmerge", FLOOR_MEMCPY),
];

/// `FORK`'s modes as `benchfork` labels them: sharing level-3 tables (the default), copy-on-write page
/// by page, and the eager copy.
pub const FORK_MODES: [&str; 3] = ["tables", "pages", "eager"];

const HASH_ALGOS: [&str; 3] = ["xxh3_64", "xxh64", "memcpy"];
const OVERCOMMIT_ITEMS: [&str; 4] = ["ram", "reserved", "touched", "frames_used"];
const CHILDREN_STAGES: [&str; 3] = ["parent", "before_writes", "after_writes"];

const PAGE_BYTES: f64 = 4096.0;
/// 4 KiB pages in a MiB.
const PAGES_PER_MIB: f64 = 256.0;

/// A floor's median.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Floor {
    pub figure: String,
    pub ns: Option<f64>,
}

/// A fault's cost per page, and as a multiple of its floor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultCost {
    pub kind: String,
    pub ns: Option<f64>,
    pub floor: Option<String>,
    pub multiple_of_floor: Option<f64>,
}

/// One figure for each of [`FORK_MODES`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PerMode {
    pub tables: Option<f64>,
    pub pages: Option<f64>,
    pub eager: Option<f64>,
}

impl PerMode {
    fn from_fn(mut f: impl FnMut(&str) -> Option<f64>) -> PerMode {
        PerMode { tables: f("tables"), pages: f("pages"), eager: f("eager") }
    }

    /// The figure of the mode `benchfork` labels `mode`.
    pub fn get(&self, mode: &str) -> Option<f64> {
        match mode {
            "tables" => self.tables,
            "pages" => self.pages,
            "eager" => self.eager,
            _ => None,
        }
    }
}

/// Fork at one resident size, in each mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForkPoint {
    pub mib: u64,
    /// fork+exit+wait with a child that exits at once (`fork.latency`).
    pub latency: PerMode,
    /// fork+exit+wait with a child that writes every page first (`fork.touch`; not at 0 MiB).
    pub touch: PerMode,
    /// The eager copy against the default fork, `eager / tables`.
    pub eager_over_tables: Option<f64>,
    /// What each resident 4 KiB page adds to a fork, `(latency(mib) - latency(0)) / (mib * 256)`: for
    /// `pages`, the page-table entries that fork copies and write-protects. `None` at 0 MiB.
    pub ns_per_page: PerMode,
}

/// Hash (or copy) throughput over 4 KiB pages, in MB/s (1 MB = 10^6 bytes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Throughput {
    pub algo: String,
    pub mb_per_s: Option<f64>,
}

/// Frames in use with `labels` children of `labels` MiB, at each stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChildrenRow {
    /// The labels other than `stage` (`children=4 mib=16`).
    pub labels: String,
    pub parent: Option<f64>,
    pub before_writes: Option<f64>,
    pub after_writes: Option<f64>,
}

/// One counted item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountRow {
    pub item: String,
    pub value: Option<f64>,
    pub unit: Option<String>,
}

/// One KSM merge run (`rate=default mib=64`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KsmRow {
    pub labels: String,
    pub merge_ns: Option<f64>,
    pub scans: Option<f64>,
    pub merged_pages: Option<f64>,
}

/// The latest the timer tick was taken during one benchmark: how long interrupts stayed masked at most
/// (exactly, for any masked stretch longer than a tick period).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lateness {
    pub bench: String,
    pub ns: f64,
}

/// One phase of fork+exit+wait of an empty task, from the kernel's probes: its mean over the round trips.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForkPhase {
    pub phase: String,
    pub ns: f64,
}

/// The share of processor time the KSM scanner took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Share {
    pub labels: String,
    pub percent: f64,
}

/// Everything worked out from one board's series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Derived {
    pub boot_ns: Option<f64>,
    pub floors: Vec<Floor>,
    pub faults: Vec<FaultCost>,
    pub fork: Vec<ForkPoint>,
    pub hash: Vec<Throughput>,
    pub memory_children: Vec<ChildrenRow>,
    pub overcommit: Vec<CountRow>,
    pub ksm: Vec<KsmRow>,
    pub ksm_scanner_share: Vec<Share>,
    pub tick_lateness: Vec<Lateness>,
    /// Where fork+exit+wait of an empty task goes, phase by phase in round-trip order.
    pub fork_profile: Vec<ForkPhase>,
    pub targets: Vec<Target>,
    /// The series no headline table shows (`figure labels`): unknown figures, or known ones in an
    /// unexpected shape.
    pub other: Vec<String>,
}

impl Derived {
    pub fn from_series(series: &[Series]) -> Derived {
        let figures = Figures { series };
        let floors: Vec<Floor> =
            FLOORS.iter().map(|&f| Floor { figure: f.to_owned(), ns: figures.timed(f, &[]) }).collect();
        let faults = figures.faults();
        let fork = figures.fork();
        let hash = figures.hash();
        let memory_children = figures.children();
        let overcommit = figures.overcommit();
        let ksm = figures.ksm();
        let ksm_scanner_share = figures.scanner_share();
        let tick_lateness = figures
            .of(TICK_LATENESS)
            .filter_map(|s| Some(Lateness { bench: s.label("bench")?.to_owned(), ns: s.max_ns()? }))
            .collect();
        let phases = known_then_seen(&FORK_PHASES, figures.of(FORK_PROFILE).filter_map(|s| s.label("phase")));
        let fork_profile = phases
            .into_iter()
            .filter_map(|phase| {
                Some(ForkPhase { ns: figures.timed(FORK_PROFILE, &[("phase", &phase)])?, phase })
            })
            .collect();
        let mut derived = Derived {
            boot_ns: figures.timed(BOOT_READY, &[]),
            floors,
            faults,
            fork,
            hash,
            memory_children,
            overcommit,
            ksm,
            ksm_scanner_share,
            tick_lateness,
            fork_profile,
            targets: Vec::new(),
            other: series.iter().filter(|s| !is_headline(s)).map(Series::name).collect(),
        };
        derived.targets = targets::check(&derived);
        derived
    }

    /// The median of the floor `figure`.
    pub fn floor(&self, figure: &str) -> Option<f64> {
        self.floors.iter().find(|f| f.figure == figure).and_then(|f| f.ns)
    }
}

/// Whether a headline table shows `series`. The tables look series up only through [`Figures`], which
/// consults this, so a series is either shown there or listed as other, never both or neither.
pub fn is_headline(series: &Series) -> bool {
    let timed = series.median_ns().is_some();
    let unit = series.median_count().map(|(_, unit)| unit);
    let only = |key: &str| series.label(key).is_some() && label_pairs(&series.labels).count() == 1;
    match series.figure.as_str() {
        BOOT_READY | FLOOR_MEMCPY | FLOOR_ZERO | FLOOR_SYSCALL => timed && series.labels.is_empty(),
        FAULT => timed && only("kind"),
        TICK_LATENESS => timed && only("bench"),
        FORK_PROFILE => timed && only("phase"),
        HASH => timed && only("algo"),
        FORK | FORK_TOUCH => {
            timed && fork_mode_and_size(series).is_some() && label_pairs(&series.labels).count() == 2
        }
        CHILDREN => {
            unit == Some("frames") && series.label("stage").is_some_and(|s| CHILDREN_STAGES.contains(&s))
        }
        OVERCOMMIT => unit.is_some() && only("item"),
        KSM_MERGE => timed,
        KSM_SCANS => unit == Some("scans"),
        KSM_PAGES => unit == Some("pages"),
        KSM_SHARE => unit == Some("ppm"),
        _ => false,
    }
}

/// `fork.latency`'s or `fork.touch`'s mode (one of [`FORK_MODES`]) and resident MiB.
fn fork_mode_and_size(series: &Series) -> Option<(&str, u64)> {
    let mode = series.label("mode").filter(|m| FORK_MODES.contains(m))?;
    Some((mode, series.label("mib")?.parse().ok()?))
}

/// The labels of `series` other than `key`, as printed.
fn labels_without(series: &Series, key: &str) -> String {
    label_pairs(&series.labels)
        .filter(|(k, _)| *k != key)
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `known` in its order, then every other value in `seen`, each once.
fn known_then_seen<'a>(known: &[&str], seen: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut all: Vec<String> = known.iter().map(|&k| k.to_owned()).collect();
    for value in seen {
        if !all.iter().any(|a| a == value) {
            all.push(value.to_owned());
        }
    }
    all
}

/// `numerator / denominator` when both are measured.
pub fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    Some(numerator? / denominator?)
}

/// The headline series of one board, looked up by figure and labels.
struct Figures<'s> {
    series: &'s [Series],
}

impl<'s> Figures<'s> {
    fn of(&self, figure: &'s str) -> impl Iterator<Item = &'s Series> + 's {
        self.series.iter().filter(move |s| s.figure == figure && is_headline(s))
    }

    fn find(&self, figure: &'s str, labels: &[(&str, &str)]) -> Option<&'s Series> {
        self.of(figure).find(|s| s.has_labels(labels))
    }

    fn timed(&self, figure: &'s str, labels: &[(&str, &str)]) -> Option<f64> {
        self.find(figure, labels)?.median_ns()
    }

    fn faults(&self) -> Vec<FaultCost> {
        let kinds =
            known_then_seen(&FAULT_FLOORS.map(|(k, _)| k), self.of(FAULT).filter_map(|s| s.label("kind")));
        kinds
            .into_iter()
            .map(|kind| {
                let ns = self.timed(FAULT, &[("kind", &kind)]);
                let floor = FAULT_FLOORS.iter().find(|(k, _)| *k == kind).map(|(_, floor)| *floor);
                let floor_ns = floor.and_then(|f| self.timed(f, &[]));
                FaultCost {
                    kind,
                    ns,
                    floor: floor.map(str::to_owned),
                    multiple_of_floor: ratio(ns, floor_ns),
                }
            })
            .collect()
    }

    fn fork(&self) -> Vec<ForkPoint> {
        let mut sizes: Vec<u64> =
            self.of(FORK).filter_map(|s| fork_mode_and_size(s).map(|(_, mib)| mib)).collect();
        sizes.sort_unstable();
        sizes.dedup();
        let at =
            |figure, mode: &str, mib: u64| self.timed(figure, &[("mode", mode), ("mib", &mib.to_string())]);
        sizes
            .into_iter()
            .map(|mib| {
                let latency = PerMode::from_fn(|mode| at(FORK, mode, mib));
                let per_page = |mode: &str| {
                    let grown = latency.get(mode)? - at(FORK, mode, 0)?;
                    (mib > 0).then(|| grown / (mib as f64 * PAGES_PER_MIB))
                };
                ForkPoint {
                    mib,
                    touch: PerMode::from_fn(|mode| at(FORK_TOUCH, mode, mib)),
                    eager_over_tables: ratio(latency.eager, latency.tables),
                    ns_per_page: PerMode::from_fn(per_page),
                    latency,
                }
            })
            .collect()
    }

    fn hash(&self) -> Vec<Throughput> {
        known_then_seen(&HASH_ALGOS, self.of(HASH).filter_map(|s| s.label("algo")))
            .into_iter()
            .map(|algo| {
                let ns = self.timed(HASH, &[("algo", &algo)]);
                Throughput { algo, mb_per_s: ns.map(|ns| PAGE_BYTES / ns * 1e3) }
            })
            .collect()
    }

    fn children(&self) -> Vec<ChildrenRow> {
        let sizes: Vec<String> = self.of(CHILDREN).map(|s| labels_without(s, "stage")).collect();
        known_then_seen(&[], sizes.iter().map(String::as_str))
            .into_iter()
            .map(|labels| {
                let at = |stage: &str| {
                    let series = self
                        .of(CHILDREN)
                        .find(|s| s.label("stage") == Some(stage) && labels_without(s, "stage") == labels)?;
                    Some(series.median_count()?.0)
                };
                ChildrenRow {
                    parent: at("parent"),
                    before_writes: at("before_writes"),
                    after_writes: at("after_writes"),
                    labels,
                }
            })
            .collect()
    }

    fn overcommit(&self) -> Vec<CountRow> {
        let mut rows: Vec<CountRow> = Vec::new();
        for item in OVERCOMMIT_ITEMS {
            let measured = self.of(OVERCOMMIT).filter(|s| s.label("item") == Some(item));
            let before = rows.len();
            rows.extend(measured.filter_map(|s| {
                let (value, unit) = s.median_count()?;
                Some(CountRow { item: item.to_owned(), value: Some(value), unit: Some(unit.to_owned()) })
            }));
            if rows.len() == before {
                rows.push(CountRow { item: item.to_owned(), value: None, unit: None });
            }
        }
        let others =
            self.of(OVERCOMMIT).filter(|s| !s.label("item").is_some_and(|i| OVERCOMMIT_ITEMS.contains(&i)));
        rows.extend(others.filter_map(|s| {
            let (value, unit) = s.median_count()?;
            Some(CountRow {
                item: s.label("item")?.to_owned(),
                value: Some(value),
                unit: Some(unit.to_owned()),
            })
        }));
        rows
    }

    fn ksm(&self) -> Vec<KsmRow> {
        let runs =
            [KSM_MERGE, KSM_SCANS, KSM_PAGES].into_iter().flat_map(|f| self.of(f)).map(|s| s.labels.as_str());
        known_then_seen(&[], runs)
            .into_iter()
            .map(|labels| {
                let with = |figure| self.of(figure).find(|s| s.labels == labels);
                KsmRow {
                    merge_ns: with(KSM_MERGE).and_then(Series::median_ns),
                    scans: with(KSM_SCANS).and_then(|s| Some(s.median_count()?.0)),
                    merged_pages: with(KSM_PAGES).and_then(|s| Some(s.median_count()?.0)),
                    labels,
                }
            })
            .collect()
    }

    fn scanner_share(&self) -> Vec<Share> {
        self.of(KSM_SHARE)
            .filter_map(|s| Some(Share { labels: s.labels.clone(), percent: s.median_count()?.0 / 1e4 }))
            .collect()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::bench::results::group;
    use crate::bench::run::{RawMeasure, RawSample};

    /// A timed sample at 1 GHz, so ticks are nanoseconds.
    pub fn ns(figure: &str, labels: &str, ns: u64, ops: u64) -> RawSample {
        RawSample {
            figure: figure.to_owned(),
            labels: labels.to_owned(),
            measure: RawMeasure::Ticks { ticks: ns * ops, ops },
            timer_hz: 1_000_000_000,
        }
    }

    pub fn count(figure: &str, labels: &str, value: u64, unit: &str) -> RawSample {
        RawSample {
            figure: figure.to_owned(),
            labels: labels.to_owned(),
            measure: RawMeasure::Count { value, unit: unit.to_owned() },
            timer_hz: 1_000_000_000,
        }
    }

    /// A whole run on which every target is met.
    pub fn healthy() -> Vec<RawSample> {
        vec![
            ns(BOOT_READY, "", 5_000_000, 1),
            ns(FLOOR_MEMCPY, "", 400, 256),
            ns(FLOOR_ZERO, "", 200, 256),
            ns(FLOOR_SYSCALL, "", 100, 1000),
            ns(FAULT, "kind=zero_read", 300, 64),
            ns(FAULT, "kind=first_write", 600, 64),
            ns(FAULT, "kind=cow_copy", 900, 64),
            ns(FAULT, "kind=cow_reuse", 250, 64),
            ns(FAULT, "kind=table_copy", 1500, 8),
            ns(FAULT, "kind=table_reuse", 300, 8),
            ns(FAULT, "kind=ksm_unmerge", 1000, 64),
            ns(FORK, "mode=tables mib=0", 20_000, 1),
            ns(FORK, "mode=pages mib=0", 20_500, 1),
            ns(FORK, "mode=eager mib=0", 21_000, 1),
            ns(FORK, "mode=tables mib=64", 20_000 + 16_384 * 2, 1),
            ns(FORK, "mode=pages mib=64", 20_500 + 16_384 * 100, 1),
            ns(FORK, "mode=eager mib=64", 16_384 * 500, 1),
            ns(FORK, "mode=tables mib=256", 25_000, 1),
            ns(FORK_TOUCH, "mode=tables mib=64", 16_384 * 1000, 1),
            ns(FORK_TOUCH, "mode=pages mib=64", 16_384 * 1000 + 100, 1),
            ns(FORK_TOUCH, "mode=eager mib=64", 16_384 * 600, 1),
            ns(HASH, "algo=xxh3_64", 800, 256),
            ns(HASH, "algo=xxh64", 1600, 256),
            ns(HASH, "algo=memcpy", 400, 256),
            count(CHILDREN, "stage=parent children=4 mib=16", 4200, "frames"),
            count(CHILDREN, "stage=after_writes children=4 mib=16", 4300, "frames"),
            count(OVERCOMMIT, "item=ram", 240_000, "pages"),
            count(OVERCOMMIT, "item=frames_used", 3000, "frames"),
            ns(KSM_MERGE, "rate=default mib=64", 90_000_000, 1),
            count(KSM_SCANS, "rate=default mib=64", 2, "scans"),
            count(KSM_PAGES, "rate=default mib=64", 16_383, "pages"),
            count(KSM_SCANS, "rate=max mib=64", 2, "scans"),
            count(KSM_SHARE, "rate=default", 12_345, "ppm"),
            ns(TICK_LATENESS, "bench=fork", 40_000, 1),
            ns(TICK_LATENESS, "bench=fork", 90_000, 1),
            ns(TICK_LATENESS, "bench=faults", 2_000, 1),
            ns(FORK_PROFILE, "phase=teardown", 8_000, 4),
            ns(FORK_PROFILE, "phase=address_space_fork", 7_500, 4),
        ]
    }

    pub fn derived(samples: &[RawSample]) -> Derived {
        Derived::from_series(&group(samples))
    }

    #[test]
    fn headline_figures_come_from_the_medians() {
        let d = derived(&healthy());
        assert_eq!(d.boot_ns, Some(5_000_000.0));
        assert_eq!(d.floor(FLOOR_SYSCALL), Some(100.0));
        let copy = d.faults.iter().find(|f| f.kind == "cow_copy").unwrap();
        assert_eq!(
            (copy.floor.as_deref(), copy.multiple_of_floor),
            (Some(FLOOR_MEMCPY), Some(900.0 / 400.0))
        );
        let zero_read = d.faults.iter().find(|f| f.kind == "zero_read").unwrap();
        assert_eq!(zero_read.multiple_of_floor, Some(3.0));

        assert_eq!(d.fork.iter().map(|p| p.mib).collect::<Vec<_>>(), [0, 64, 256]);
        assert_eq!(d.fork[0].ns_per_page, PerMode { tables: None, pages: None, eager: None });
        assert_eq!(d.fork[0].touch, PerMode { tables: None, pages: None, eager: None });
        assert_eq!(d.fork[1].ns_per_page.tables, Some(2.0));
        assert_eq!(d.fork[1].ns_per_page.pages, Some(100.0));
        assert_eq!(d.fork[1].eager_over_tables, Some(16_384.0 * 500.0 / (20_000.0 + 16_384.0 * 2.0)));
        assert_eq!(d.fork[1].touch.pages, Some(16_384.0 * 1000.0 + 100.0));
        // 256 MiB was measured in one mode only: the others are not measured, not zero.
        assert_eq!((d.fork[2].latency.tables, d.fork[2].latency.pages), (Some(25_000.0), None));

        // 4096 bytes in 400 ns is 10.24 bytes per ns: 10,240 MB/s.
        let memcpy = d.hash.iter().find(|h| h.algo == "memcpy").unwrap();
        assert_eq!(memcpy.mb_per_s, Some(10_240.0));

        assert_eq!(
            d.memory_children,
            [ChildrenRow {
                labels: "children=4 mib=16".to_owned(),
                parent: Some(4200.0),
                before_writes: None,
                after_writes: Some(4300.0)
            }]
        );
        assert_eq!(
            d.overcommit.iter().map(|r| (r.item.as_str(), r.value)).collect::<Vec<_>>(),
            [("ram", Some(240_000.0)), ("reserved", None), ("touched", None), ("frames_used", Some(3000.0))]
        );
        assert_eq!(d.ksm[0].labels, "rate=default mib=64");
        assert_eq!(
            (d.ksm[0].merge_ns, d.ksm[0].scans, d.ksm[0].merged_pages),
            (Some(9e7), Some(2.0), Some(16_383.0))
        );
        assert_eq!(d.ksm[1].merge_ns, None);
        assert_eq!(d.ksm_scanner_share, [Share { labels: "rate=default".to_owned(), percent: 1.2345 }]);
        // The worst of the repetitions, not their median: one deaf stretch is one too many.
        let late: Vec<(&str, f64)> = d.tick_lateness.iter().map(|l| (l.bench.as_str(), l.ns)).collect();
        assert_eq!(late, [("fork", 90_000.0), ("faults", 2_000.0)]);
        // The probes' phases in round-trip order, whatever order the samples came in.
        let phases: Vec<(&str, f64)> = d.fork_profile.iter().map(|p| (p.phase.as_str(), p.ns)).collect();
        assert_eq!(phases, [("address_space_fork", 7_500.0), ("teardown", 8_000.0)]);
        assert!(d.other.is_empty(), "{:?}", d.other);
    }

    #[test]
    fn missing_inputs_leave_figures_not_measured() {
        let samples: Vec<RawSample> =
            healthy().into_iter().filter(|s| s.figure != FLOOR_SYSCALL && s.figure != HASH).collect();
        let d = derived(&samples);
        assert_eq!(d.floor(FLOOR_SYSCALL), None);
        let reuse = d.faults.iter().find(|f| f.kind == "cow_reuse").unwrap();
        assert_eq!((reuse.ns, reuse.multiple_of_floor), (Some(250.0), None));
        assert!(d.hash.iter().all(|h| h.mb_per_s.is_none()) && d.hash.len() == 3);

        let nothing = derived(&[]);
        assert_eq!(nothing.boot_ns, None);
        assert_eq!(nothing.faults.len(), FAULT_FLOORS.len());
        assert!(nothing.fork.is_empty() && nothing.ksm.is_empty() && nothing.memory_children.is_empty());
    }

    #[test]
    fn unknown_figures_and_unexpected_shapes_are_kept_as_other() {
        let mut samples = healthy();
        samples.push(ns("tlb.flush", "scope=asid", 50, 1));
        samples.push(ns(FAULT, "kind=cow_copy mib=1", 900, 1));
        samples.push(count(FORK, "mode=cow mib=16", 3, "frames"));
        samples.push(ns(FAULT, "kind=huge_page", 5000, 1));
        let d = derived(&samples);
        assert_eq!(
            d.other,
            ["tlb.flush scope=asid", "fault.cost kind=cow_copy mib=1", "fork.latency mode=cow mib=16"]
        );
        // A new fault kind is a headline row, without a floor.
        let huge = d.faults.last().unwrap();
        assert_eq!((huge.kind.as_str(), huge.ns, huge.floor.as_deref()), ("huge_page", Some(5000.0), None));
    }
}
