//! The design targets cowpi's memory manager is held to, checked against one board's headline figures.
//!
//! Each target compares figures of the same run, so it holds however fast the host running QEMU is:
//! (1) copy-on-write makes forking a 64 MiB task at least 50 times cheaper than copying it; (2) a COW
//! copy fault costs at most twice its floor, a 4 KiB copy plus an exception round trip; (3) a reuse,
//! which copies nothing, costs at most a third of a copy; (4) a read of fresh memory (mapping the zero
//! page) is cheaper than a first write (which zero-fills a frame); (5) the KSM checksum runs at least at
//! half the speed of copying the page; (6) 64 MiB of identical pages are merged within two full scans,
//! at the default and the fastest scan rate. A target whose figures are missing is not measured rather
//! than missed.

use serde::Serialize;

use super::derived::{Derived, FLOOR_MEMCPY, FLOOR_SYSCALL, ratio};
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

/// Every target, in order, checked against `d`'s headline figures.
pub fn check(d: &Derived) -> Vec<Target> {
    let fault = |kind: &str| d.faults.iter().find(|f| f.kind == kind).and_then(|f| f.ns);
    let throughput = |algo: &str| d.hash.iter().find(|h| h.algo == algo).and_then(|h| h.mb_per_s);
    let fork_64 = d.fork.iter().find(|p| p.mib.to_string() == TARGET_MIB).and_then(|p| p.eager_over_cow);
    let copy_floor = d.floor(FLOOR_MEMCPY).zip(d.floor(FLOOR_SYSCALL)).map(|(copy, call)| copy + call);
    let mut targets = vec![
        target(
            1,
            "COW fork of a 64 MiB task vs eager fork",
            "eager / COW ≥ 50×",
            fork_64,
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
    targets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::derived::tests::{derived, healthy};
    use crate::bench::derived::{FAULT, FORK, HASH, KSM_SCANS};
    use crate::bench::run::{RawMeasure, RawSample};

    fn statuses(derived: &Derived) -> Vec<(u8, Status)> {
        derived.targets.iter().map(|t| (t.number, t.status)).collect()
    }

    #[test]
    fn every_target_is_met_on_a_healthy_run() {
        let d = derived(&healthy());
        let met = Status::Met;
        assert_eq!(statuses(&d), [(1, met), (2, met), (3, met), (4, met), (5, met), (6, met), (6, met)]);
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
        assert_eq!(
            statuses(&d),
            [(1, missed), (2, missed), (3, missed), (4, missed), (5, missed), (6, Status::Met), (6, missed)]
        );
    }

    #[test]
    fn missing_inputs_mean_not_measured_not_missed() {
        let samples: Vec<RawSample> = healthy()
            .into_iter()
            .filter(|s| s.figure != FLOOR_SYSCALL && !s.labels.contains("mib=64") && s.figure != HASH)
            .collect();
        let not = Status::NotMeasured;
        assert_eq!(
            statuses(&derived(&samples)),
            [(1, not), (2, not), (3, Status::Met), (4, Status::Met), (5, not), (6, not), (6, not)]
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
