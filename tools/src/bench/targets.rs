//! The design targets cowpi's memory manager is held to, checked against one board's headline figures.
//!
//! Targets 1-6 compare figures of the same run, so they hold however fast the host running QEMU is:
//! (1) copy-on-write makes forking a 64 MiB task at least 50 times cheaper than copying it; (2) a COW
//! copy fault costs at most twice its floor, a 4 KiB copy plus an exception round trip; (3) a reuse,
//! which copies nothing, costs at most a third of a copy; (4) a read of fresh memory (mapping the zero
//! page) is cheaper than a first write (which zero-fills a frame); (5) the KSM checksum runs at least at
//! half the speed of copying the page; (6) 64 MiB of identical pages are merged within two full scans,
//! at the default and the fastest scan rate.
//!
//! Targets 7-12 are the fork that shares level-3 tables (issue 14), set against Linux 6.1 on the same
//! QEMU model: some are absolute, in nanoseconds, which under QEMU's `-icount shift=0` (how `bench` runs
//! the boards) are instructions. (7) fork+exit+wait of a task with 64 MiB written costs at most 100 000,
//! over 60 times below Linux's 6.4 M, and (8) of an empty task at most 60 000 (Linux: about 202 000); (9)
//! 256 MiB costs at most 1.5 times 0 MiB: the fork's cost follows tables, not pages; (10) the per-page
//! fork adds at most 150 per resident page (Linux: about 377); (11) the first write into a shared table
//! costs at most twice an ordinary copy-on-write copy, and (12) a child that writes every page after the
//! fork costs no more with shared tables than with the per-page fork: the cost moved to the faults is not
//! bigger than what it saved. (13) The faults, absolute: a zero-page read at most 500, a first write 800,
//! a reuse 600, a copy 1 100 (Linux: 1 136, 3 264, 1 296, 4 416). (14) No benchmark kept interrupts
//! masked for more than 100 µs, as the latest timer tick shows. (14) No benchmark kept interrupts
//! masked for more than 100 µs, as the latest timer tick shows.
//!
//! A target whose figures are missing is not measured rather than missed.

use serde::Serialize;

use super::derived::{Derived, FLOOR_MEMCPY, FLOOR_SYSCALL, ratio};
use super::format;
use super::results::label_pairs;

/// The resident size the fork and merge targets are set for.
const TARGET_MIB: &str = "64";
/// The KSM scan rates target 6 is checked at.
const KSM_RATES: [&str; 2] = ["default", "max"];

/// Whether a target was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Met,
    Missed,
    NotMeasured,
}

/// What a target's measured value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// A ratio of two medians.
    Ratio,
    /// Full KSM scans.
    Scans,
    /// A duration in nanoseconds (instructions under `-icount shift=0`).
    Ns,
}

/// How a target's measured value must compare with its limit.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Need {
    AtLeast(f64),
    AtMost(f64),
    Above(f64),
}

impl Need {
    fn judge(self, measured: Option<f64>) -> Status {
        let Some(value) = measured else { return Status::NotMeasured };
        let met = match self {
            Need::AtLeast(limit) => value >= limit,
            Need::AtMost(limit) => value <= limit,
            Need::Above(limit) => value > limit,
        };
        if met { Status::Met } else { Status::Missed }
    }
}

/// A design target and how this run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub number: u8,
    pub what: String,
    pub requirement: String,
    pub measured: Option<f64>,
    pub quantity: Quantity,
    pub status: Status,
}

fn target(number: u8, what: &str, requirement: &str, measured: Option<f64>, need: Need) -> Target {
    Target {
        number,
        what: what.to_owned(),
        requirement: requirement.to_owned(),
        measured,
        quantity: Quantity::Ratio,
        status: need.judge(measured),
    }
}

/// A target on a duration: `measured` at most `limit` ns.
fn duration_target(number: u8, what: &str, requirement: &str, measured: Option<f64>, limit: f64) -> Target {
    Target { quantity: Quantity::Ns, ..target(number, what, requirement, measured, Need::AtMost(limit)) }
}

/// Every target, in order, checked against `d`'s headline figures.
pub fn check(d: &Derived) -> Vec<Target> {
    let fault = |kind: &str| d.faults.iter().find(|f| f.kind == kind).and_then(|f| f.ns);
    let throughput = |algo: &str| d.hash.iter().find(|h| h.algo == algo).and_then(|h| h.mb_per_s);
    let fork_at = |mib: u64| d.fork.iter().find(|p| p.mib == mib);
    let fork_64 = fork_at(TARGET_MIB.parse().unwrap_or(64));
    let latency = |mib: u64, mode: &str| fork_at(mib).and_then(|p| p.latency.get(mode));
    let copy_floor = d.floor(FLOOR_MEMCPY).zip(d.floor(FLOOR_SYSCALL)).map(|(copy, call)| copy + call);
    let mut targets = vec![
        target(
            1,
            "COW fork of a 64 MiB task vs eager fork",
            "eager / tables ≥ 50×",
            fork_64.and_then(|p| p.eager_over_tables),
            Need::AtLeast(50.0),
        ),
        target(
            2,
            "COW copy fault vs its floor",
            "cow_copy / (memcpy_4k + syscall) ≤ 2×",
            ratio(fault("cow_copy"), copy_floor),
            Need::AtMost(2.0),
        ),
        target(
            3,
            "COW reuse fault vs COW copy fault",
            "cow_copy / cow_reuse ≥ 3×",
            ratio(fault("cow_copy"), fault("cow_reuse")),
            Need::AtLeast(3.0),
        ),
        target(
            4,
            "zero-page read fault vs first write fault",
            "first_write / zero_read > 1×",
            ratio(fault("first_write"), fault("zero_read")),
            Need::Above(1.0),
        ),
        target(
            5,
            "XXH3-64 throughput vs memcpy",
            "xxh3_64 / memcpy ≥ 0.5×",
            ratio(throughput("xxh3_64"), throughput("memcpy")),
            Need::AtLeast(0.5),
        ),
    ];
    for rate in KSM_RATES {
        let run = d.ksm.iter().find(|row| {
            let mut labels: Vec<(&str, &str)> = label_pairs(&row.labels).collect();
            labels.sort_unstable();
            labels == [("mib", TARGET_MIB), ("rate", rate)]
        });
        let mut merged = target(
            6,
            &format!("64 MiB of identical pages merged (rate={rate})"),
            "full scans ≤ 2",
            run.and_then(|row| row.scans),
            Need::AtMost(2.0),
        );
        merged.quantity = Quantity::Scans;
        targets.push(merged);
    }
    targets.extend([
        duration_target(
            7,
            "shared-table fork+exit+wait, 64 MiB written",
            "≤ 100 µs",
            latency(64, "tables"),
            1e5,
        ),
        duration_target(8, "shared-table fork+exit+wait, empty task", "≤ 60 µs", latency(0, "tables"), 6e4),
        target(
            9,
            "shared-table fork, 256 MiB vs 0 MiB",
            "tables(256) / tables(0) ≤ 1.5×",
            ratio(latency(256, "tables"), latency(0, "tables")),
            Need::AtMost(1.5),
        ),
        duration_target(
            10,
            "per-page fork, per resident page",
            "≤ 150 ns",
            fork_64.and_then(|p| p.ns_per_page.pages),
            150.0,
        ),
        target(
            11,
            "first write into a shared table vs a COW copy fault",
            "table_copy / cow_copy ≤ 2×",
            ratio(fault("table_copy"), fault("cow_copy")),
            Need::AtMost(2.0),
        ),
        target(
            12,
            "fork, child writes all 64 MiB: shared tables vs per-page",
            "touch tables / touch pages ≤ 1×",
            fork_64.and_then(|p| ratio(p.touch.tables, p.touch.pages)),
            Need::AtMost(1.0),
        ),
    ]);
    for (kind, limit) in
        [("zero_read", 500.0), ("first_write", 800.0), ("cow_reuse", 600.0), ("cow_copy", 1100.0)]
    {
        let requirement = format!("≤ {}", format::duration(limit));
        targets.push(duration_target(13, &format!("{kind} fault"), &requirement, fault(kind), limit));
    }
    let deafest = d.tick_lateness.iter().map(|l| l.ns).reduce(f64::max);
    targets.push(duration_target(
        14,
        "longest interrupts-masked stretch (latest timer tick) in any benchmark",
        "≤ 100 µs",
        deafest,
        1e5,
    ));
    targets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::derived::tests::{derived, healthy};
    use crate::bench::derived::{FAULT, FORK, HASH, KSM_SCANS, TICK_LATENESS};
    use crate::bench::run::{RawMeasure, RawSample};

    fn statuses(derived: &Derived) -> Vec<(u8, Status)> {
        derived.targets.iter().map(|t| (t.number, t.status)).collect()
    }

    #[test]
    fn every_target_is_met_on_a_healthy_run() {
        let d = derived(&healthy());
        let met = Status::Met;
        let numbers: Vec<u8> = d.targets.iter().map(|t| t.number).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 6, 7, 8, 9, 10, 11, 12, 13, 13, 13, 13, 14]);
        assert!(d.targets.iter().all(|t| t.status == met), "{:#?}", d.targets);
        assert_eq!(d.targets[1].measured, Some(900.0 / 500.0));
        assert_eq!(d.targets[5].quantity, Quantity::Scans);
        assert_eq!(d.targets[5].measured, Some(2.0));
    }

    #[test]
    fn targets_are_missed_when_the_figures_fall_short() {
        let mut samples = healthy();
        for sample in &mut samples {
            let slow = match (sample.figure.as_str(), sample.labels.as_str()) {
                (FAULT, "kind=cow_copy") => Some(2000),
                (FAULT, "kind=cow_reuse") => Some(700),
                (FAULT, "kind=zero_read") => Some(600),
                (HASH, "algo=xxh3_64") => Some(1000),
                (FORK, "mode=eager mib=64") => Some(1_000_000),
                (FORK, "mode=tables mib=0") => Some(70_000),
                (FORK, "mode=pages mib=64") => Some(20_500 + 16_384 * 151),
                (FAULT, "kind=table_copy") => Some(4100),
                (TICK_LATENESS, "bench=faults") => Some(100_001),
                _ => None,
            };
            if let (Some(ns), RawMeasure::Ticks { ticks, ops }) = (slow, &mut sample.measure) {
                *ticks = ns * *ops;
            }
            if sample.figure == KSM_SCANS && sample.labels.starts_with("rate=max") {
                sample.measure = RawMeasure::Count { value: 3, unit: "scans".to_owned() };
            }
        }
        let d = derived(&samples);
        let missed = Status::Missed;
        // A slower empty fork makes 256 MiB relatively cheaper and moves the 64 MiB ratio, which
        // stays met; the per-page figure is measured against the per-page empty fork.
        let met = Status::Met;
        assert_eq!(
            statuses(&d),
            [
                (1, missed),
                (2, missed),
                (3, missed),
                (4, missed),
                (5, missed),
                (6, met),
                (6, missed),
                (7, met),
                (8, missed),
                (9, met),
                (10, missed),
                (11, missed),
                (12, met),
                (13, missed),
                (13, met),
                (13, missed),
                (13, missed),
                (14, missed),
            ]
        );
    }

    #[test]
    fn missing_inputs_mean_not_measured_not_missed() {
        let samples: Vec<RawSample> = healthy()
            .into_iter()
            .filter(|s| s.figure != FLOOR_SYSCALL && !s.labels.contains("mib=64") && s.figure != HASH)
            .collect();
        let (not, met) = (Status::NotMeasured, Status::Met);
        assert_eq!(
            statuses(&derived(&samples)),
            [
                (1, not),
                (2, not),
                (3, met),
                (4, met),
                (5, not),
                (6, not),
                (6, not),
                (7, not),
                (8, met),
                (9, met),
                (10, not),
                (11, met),
                (12, not),
                (13, met),
                (13, met),
                (13, met),
                (13, met),
                (14, met),
            ]
        );
        assert!(derived(&[]).targets.iter().all(|t| t.status == not));
    }

    #[test]
    fn the_limits_are_inclusive_except_the_strict_one() {
        assert_eq!(Need::AtLeast(50.0).judge(Some(50.0)), Status::Met);
        assert_eq!(Need::AtMost(2.0).judge(Some(2.0)), Status::Met);
        assert_eq!(Need::Above(1.0).judge(Some(1.0)), Status::Missed);
        assert_eq!(Need::AtMost(2.0).judge(None), Status::NotMeasured);
    }
}
