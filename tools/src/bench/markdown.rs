//! `results.md`: the report as Markdown tables, for reading and for pasting into documentation.
//!
//! Per board: the headline figures (boot, floors, faults as multiples of their floors, fork COW against
//! eager at each size, memory, hashing, merging), the targets with what was measured, then every other
//! figure and anything that failed. A section with nothing measured in it (a run with `--only`) is left
//! out; within a section, a missing figure reads "not measured". Figures are medians; the JSON has every
//! sample.

use super::derived::{BOOT_READY, Derived, FLOOR_MEMCPY, FLOOR_SYSCALL, FLOOR_ZERO};
use super::format::{self, NOT_MEASURED, or_not_measured};
use super::results::{BoardResults, Measured, Profile, Report, Series};
use super::targets::{Quantity, Status, Target};

/// Renders the whole report.
pub fn render(report: &Report) -> String {
    let mut out = header(report);
    for board in &report.boards {
        out.push_str(&board_section(board));
    }
    out
}

fn header(report: &Report) -> String {
    let mut out = String::from("# cowpi benchmarks\n\n");
    if report.kernel_profile == Profile::Debug {
        out.push_str(
            "> **Debug kernel.** Figures from an unoptimised kernel are not the published ones; \
             run `cargo run --release -- bench`.\n\n",
        );
    }
    let profile = match report.kernel_profile {
        Profile::Debug => "debug",
        Profile::Release => "release",
        Profile::Unknown => "unknown",
    };
    let selection =
        if report.only.is_empty() { String::new() } else { format!(", only {}", report.only.join(", ")) };
    out.push_str(&format!(
        "Kernel: {profile} build. QEMU with `-icount {}`: one nanosecond of virtual time per instruction, so \
         the figures count instructions, whatever the host's speed, and barely vary from run to run; they \
         are not the speed of a real Pi. \
         {} repetition{} per benchmark, scale `{}`{selection}; figures are medians. Written by {}.\n",
        report.icount,
        report.reps,
        if report.reps == 1 { "" } else { "s" },
        report.scale,
        report.tool,
    ));
    out
}

fn board_section(board: &BoardResults) -> String {
    let d = &board.derived;
    let timer = board.timer_hz.map_or_else(|| "no counter frequency reported".to_owned(), format::frequency);
    let mut out = format!(
        "\n## {}\n\nQEMU machine `{}`, counter {timer}, booted {} time{}.\n",
        board.board,
        board.machine,
        board.boots,
        if board.boots == 1 { "" } else { "s" }
    );
    let sections = [
        ("Boot and floors", boot_and_floors(board)),
        ("Page faults, per 4 KiB page", faults(d)),
        ("Fork latency", fork(d)),
        ("Where fork+exit+wait of an empty task goes (kernel probes)", fork_profile(d)),
        ("Memory with forked children (frames in use)", children(d)),
        ("Overcommit", overcommit(d)),
        ("Hashing 4 KiB pages", hash(d)),
        ("Same-page merging", ksm(d)),
        ("Latest timer tick (longest stretch with interrupts masked)", lateness(d)),
        ("Targets", targets(&d.targets)),
        ("Other figures", other(board)),
        ("Failed benchmarks", failed(board)),
        ("Garbled lines (samples lost)", garbled(board)),
    ];
    for (title, body) in sections {
        if let Some(body) = body {
            out.push_str(&format!("\n### {title}\n\n{body}"));
        }
    }
    out
}

/// A Markdown table; `None` when there are no rows.
fn table(headers: &[&str], rows: Vec<Vec<String>>) -> Option<String> {
    if rows.is_empty() {
        return None;
    }
    let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
    let mut out = line(&headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    out.push_str(&line(&headers.iter().map(|_| "---".to_owned()).collect::<Vec<_>>()));
    for row in rows {
        out.push_str(&line(&row));
    }
    Some(out)
}

/// A series' median, range and sample count as table cells.
fn stats_cells(series: Option<&Series>) -> [String; 3] {
    let Some(series) = series else { return [NOT_MEASURED.to_owned(), String::new(), String::new()] };
    let (stats, show): (_, Box<dyn Fn(f64) -> String>) = match &series.measured {
        Measured::Timed { ns_per_op, .. } => (ns_per_op, Box::new(format::duration)),
        Measured::Counted { stats, unit, .. } => {
            let unit = unit.clone();
            (stats, Box::new(move |v| format!("{} {unit}", format::count(v))))
        }
    };
    let range = if stats.min == stats.max {
        "–".to_owned()
    } else {
        format!("{} – {}", show(stats.min), show(stats.max))
    };
    [show(stats.median), range, series.n.to_string()]
}

fn boot_and_floors(board: &BoardResults) -> Option<String> {
    let d = &board.derived;
    if d.boot_ns.is_none() && d.floors.iter().all(|f| f.ns.is_none()) {
        return None;
    }
    let rows = [
        (BOOT_READY, "boot to the shell prompt"),
        (FLOOR_MEMCPY, "kernel 4 KiB copy"),
        (FLOOR_ZERO, "kernel 4 KiB zero-fill"),
        (FLOOR_SYSCALL, "null system call from EL0: exception entry and return"),
    ]
    .map(|(figure, what)| {
        let series = board
            .series
            .iter()
            .find(|s| s.figure == figure && s.labels.is_empty() && s.median_ns().is_some());
        let [median, range, n] = stats_cells(series);
        vec![format!("{what} (`{figure}`)"), median, range, n]
    });
    table(&["figure", "median", "min – max", "samples"], rows.into())
}

/// What each fault kind is, for the table.
fn fault_meaning(kind: &str) -> &'static str {
    match kind {
        "zero_read" => "first read of fresh memory: map the zero page",
        "first_write" => "first write of fresh memory: a zeroed frame",
        "cow_copy" => "write to a shared copy-on-write page: copy it",
        "cow_reuse" => "write to a copy-on-write page no one else holds: reuse it",
        "table_copy" => "first write into a level-3 table a fork shared: copy the table, then the page",
        "table_reuse" => "first write into a shared table no one else holds: unprotect it, reuse the page",
        "ksm_unmerge" => "write to a merged page: copy it out",
        _ => "",
    }
}

fn faults(d: &Derived) -> Option<String> {
    if d.faults.iter().all(|f| f.ns.is_none()) {
        return None;
    }
    let rows = d
        .faults
        .iter()
        .map(|f| {
            let meaning = fault_meaning(&f.kind);
            let what =
                if meaning.is_empty() { format!("`{}`", f.kind) } else { format!("`{}`: {meaning}", f.kind) };
            let floor = f.floor.as_deref().map_or("–".to_owned(), |floor| format!("`{floor}`"));
            vec![
                what,
                or_not_measured(f.ns, format::duration),
                floor,
                or_not_measured(f.multiple_of_floor, format::ratio),
            ]
        })
        .collect();
    table(&["fault", "cost", "floor", "× floor"], rows)
}

fn fork(d: &Derived) -> Option<String> {
    let time = |v: Option<f64>| or_not_measured(v, format::duration);
    let rows = d
        .fork
        .iter()
        .map(|p| {
            let per_page = |v| if p.mib == 0 { "–".to_owned() } else { time(v) };
            let touch = |v| if p.mib == 0 { "–".to_owned() } else { time(v) };
            vec![
                format!("{} MiB", p.mib),
                time(p.latency.tables),
                time(p.latency.pages),
                time(p.latency.eager),
                or_not_measured(p.eager_over_tables, format::ratio),
                per_page(p.ns_per_page.pages),
                touch(p.touch.tables),
                touch(p.touch.pages),
                touch(p.touch.eager),
            ]
        })
        .collect();
    table(
        &[
            "resident",
            "shared tables",
            "per-page COW",
            "eager",
            "eager / tables",
            "per-page COW, per resident page",
            "child writes all: tables",
            "pages",
            "eager",
        ],
        rows,
    )
}

fn fork_profile(d: &Derived) -> Option<String> {
    let total: f64 = d.fork_profile.iter().map(|p| p.ns).sum();
    let share = |ns: f64| format!("{:.0} %", 100.0 * ns / total);
    let mut rows: Vec<Vec<String>> = d
        .fork_profile
        .iter()
        .map(|p| vec![format!("`{}`", p.phase), format::duration(p.ns), share(p.ns)])
        .collect();
    if !rows.is_empty() {
        rows.push(vec!["all of them".to_owned(), format::duration(total), share(total)]);
    }
    table(&["phase (fork.profile)", "mean", "share"], rows)
}

fn lateness(d: &Derived) -> Option<String> {
    let rows =
        d.tick_lateness.iter().map(|l| vec![format!("`{}`", l.bench), format::duration(l.ns)]).collect();
    table(&["benchmark", "latest tick, worst repetition"], rows)
}

fn children(d: &Derived) -> Option<String> {
    let frames = |v: Option<f64>| or_not_measured(v, format::count);
    let rows = d
        .memory_children
        .iter()
        .map(|r| {
            vec![format!("`{}`", r.labels), frames(r.parent), frames(r.before_writes), frames(r.after_writes)]
        })
        .collect();
    table(&["children, size", "parent alone", "children before writing", "after each wrote a page"], rows)
}

fn overcommit(d: &Derived) -> Option<String> {
    if d.overcommit.iter().all(|r| r.value.is_none()) {
        return None;
    }
    let rows = d
        .overcommit
        .iter()
        .map(|r| {
            let value = match (r.value, &r.unit) {
                (Some(value), Some(unit)) => format!("{} {unit}", format::count(value)),
                _ => NOT_MEASURED.to_owned(),
            };
            vec![format!("`{}`", r.item), value]
        })
        .collect();
    table(&["item", "value"], rows)
}

fn hash(d: &Derived) -> Option<String> {
    if d.hash.iter().all(|h| h.mb_per_s.is_none()) {
        return None;
    }
    let rows = d
        .hash
        .iter()
        .map(|h| vec![format!("`{}`", h.algo), or_not_measured(h.mb_per_s, format::mb_per_s)])
        .collect();
    table(&["algorithm", "throughput (1 MB = 10^6 bytes)"], rows)
}

fn ksm(d: &Derived) -> Option<String> {
    let count = |v: Option<f64>| or_not_measured(v, format::count);
    let rows = d
        .ksm
        .iter()
        .map(|r| {
            vec![
                format!("`{}`", r.labels),
                or_not_measured(r.merge_ns, format::duration),
                count(r.scans),
                count(r.merged_pages),
            ]
        })
        .collect();
    let mut out = table(&["run", "time to merge", "full scans", "pages merged"], rows).unwrap_or_default();
    for share in &d.ksm_scanner_share {
        let labels = if share.labels.is_empty() { String::new() } else { format!(" (`{}`)", share.labels) };
        out.push_str(&format!(
            "\nThe scanner's share of processor time{labels}: {}.\n",
            format::percent(share.percent)
        ));
    }
    (!out.is_empty()).then_some(out)
}

fn targets(targets: &[Target]) -> Option<String> {
    let rows = targets
        .iter()
        .map(|t| {
            let measured = match t.quantity {
                Quantity::Ratio => or_not_measured(t.measured, format::ratio),
                Quantity::Scans => or_not_measured(t.measured, |v| format!("{} scans", format::count(v))),
                Quantity::Ns => or_not_measured(t.measured, format::duration),
            };
            let result = match t.status {
                Status::Met => "met",
                Status::Missed => "**missed**",
                Status::NotMeasured => NOT_MEASURED,
            };
            vec![t.number.to_string(), t.what.clone(), t.requirement.clone(), measured, result.to_owned()]
        })
        .collect();
    table(&["#", "target", "requirement", "measured", "result"], rows)
}

fn other(board: &BoardResults) -> Option<String> {
    let rows = board
        .series
        .iter()
        .filter(|s| board.derived.other.contains(&s.name()))
        .map(|s| {
            let [median, range, n] = stats_cells(Some(s));
            vec![format!("`{}`", s.name()), median, range, n]
        })
        .collect();
    table(&["figure", "median", "min – max", "samples"], rows)
}

fn failed(board: &BoardResults) -> Option<String> {
    let rows = board
        .failed
        .iter()
        .map(|f| vec![format!("`{}`", f.benchmark), f.boot.to_string(), cell(&f.failure.reason)])
        .collect();
    table(&["benchmark", "boot", "reason (results.json has the serial log)"], rows)
}

fn garbled(board: &BoardResults) -> Option<String> {
    let rows = board
        .garbled_lines
        .iter()
        .map(|g| vec![format!("`{}`", g.benchmark), format!("`{}`", cell(&g.line.replace('`', "'")))])
        .collect();
    table(&["benchmark", "line"], rows)
}

/// Text from the kernel made safe for a table cell: a `|` would end the cell (even in a code span).
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use cowpi_console::bench::Scale;

    use super::*;
    use crate::bench::run::{BenchRun, BoardRun, Failure, RawMeasure, RawSample};

    fn sample(figure: &str, labels: &str, measure: RawMeasure) -> RawSample {
        RawSample { figure: figure.to_owned(), labels: labels.to_owned(), measure, timer_hz: 1_000_000_000 }
    }

    fn report(profile: Profile) -> Report {
        let ticks = |ticks| RawMeasure::Ticks { ticks, ops: 1 };
        let samples = vec![
            sample("boot.ready", "", ticks(5_000_000)),
            sample("boot.ready", "", ticks(5_100_000)),
            sample("floor.memcpy_4k", "", ticks(400)),
            sample("fault.cost", "kind=cow_copy", ticks(900)),
            sample("fork.latency", "mode=tables mib=0", ticks(20_000)),
            sample("fork.latency", "mode=pages mib=0", ticks(20_000)),
            sample("fork.latency", "mode=eager mib=0", ticks(21_000)),
            sample("fork.latency", "mode=tables mib=64", ticks(100_000)),
            sample("fork.latency", "mode=pages mib=64", ticks(1_658_400)),
            sample("fork.latency", "mode=eager mib=64", ticks(8_000_000)),
            sample("fork.touch", "mode=tables mib=64", ticks(20_000_000)),
            sample("hash.throughput", "algo=xxh3_64", RawMeasure::Ticks { ticks: 800 * 256, ops: 256 }),
            sample(
                "ksm.merge_scans",
                "rate=default mib=64",
                RawMeasure::Count { value: 2, unit: "scans".into() },
            ),
            sample("tlb.flush", "scope=asid", ticks(50)),
        ];
        let runs = vec![
            BenchRun {
                name: "all".into(),
                boot: 1,
                samples,
                garbled: vec!["bench-sample: x|y".into()],
                failure: None,
            },
            BenchRun {
                name: "fork".into(),
                boot: 1,
                samples: Vec::new(),
                garbled: Vec::new(),
                failure: Some(Failure { reason: "out of memory".into(), log_tail: Vec::new() }),
            },
        ];
        let run =
            BoardRun { board: "raspi3b".into(), listed: vec!["all".into(), "fork".into()], boots: 2, runs };
        let mut report = Report::new("shift=0,sleep=off", profile, 2, Scale::Full, &[]);
        report.boards.push(BoardResults::new(&run, "raspi3b"));
        report
    }

    #[test]
    fn the_report_has_the_headline_rows_targets_other_figures_and_failures() {
        let md = render(&report(Profile::Release));
        for expected in [
            "# cowpi benchmarks\n",
            "Kernel: release build. QEMU with `-icount shift=0,sleep=off`",
            "## raspi3b\n",
            "QEMU machine `raspi3b`, counter 1000 MHz, booted 2 times.",
            "| boot to the shell prompt (`boot.ready`) | 5.05 ms | 5.00 ms – 5.10 ms | 2 |\n",
            "| kernel 4 KiB zero-fill (`floor.zero_4k`) | not measured |  |  |\n",
            "| `cow_copy`: write to a shared copy-on-write page: copy it | 900 ns | `floor.memcpy_4k` | 2.25× |\n",
            "| 64 MiB | 100 µs | 1.66 ms | 8.00 ms | 80.0× | 100 ns | 20.0 ms | not measured | not measured |\n",
            "| 0 MiB | 20.0 µs | 20.0 µs | 21.0 µs | 1.05× | – | – | – | – |\n",
            "| `xxh3_64` | 5,120 MB/s |\n",
            "| `rate=default mib=64` | not measured | 2 | not measured |\n",
            "| 1 | COW fork of a 64 MiB task vs eager fork | eager / tables ≥ 50× | 80.0× | met |\n",
            "| 7 | shared-table fork+exit+wait, 64 MiB written | ≤ 100 µs | 100 µs | met |\n",
            "| 10 | per-page fork, per resident page | ≤ 150 ns | 100 ns | met |\n",
            "| 13 | cow_copy fault | ≤ 1,100 ns | 900 ns | met |\n",
            "| 5 | XXH3-64 throughput vs memcpy | xxh3_64 / memcpy ≥ 0.5× | not measured | not measured |\n",
            "| 6 | 64 MiB of identical pages merged (rate=default) | full scans ≤ 2 | 2 scans | met |\n",
            "### Other figures\n\n| figure | median | min – max | samples |\n| --- | --- | --- | --- |\n| `tlb.flush scope=asid` | 50.0 ns | – | 1 |\n",
            "| `fork` | 1 | out of memory |\n",
            "| `all` | `bench-sample: x\\|y` |\n",
        ] {
            assert!(md.contains(expected), "missing {expected:?} in:\n{md}");
        }
        assert!(!md.contains("Debug kernel"), "{md}");
        assert!(!md.contains("### Overcommit"), "a section with nothing measured is left out: {md}");
    }

    #[test]
    fn sections_with_nothing_measured_are_left_out_but_the_targets_stay() {
        let samples = vec![sample("tlb.flush", "scope=asid", RawMeasure::Ticks { ticks: 50, ops: 1 })];
        let runs =
            vec![BenchRun { name: "tlb".into(), boot: 1, samples, garbled: Vec::new(), failure: None }];
        let run = BoardRun { board: "raspi4b".into(), listed: vec!["tlb".into()], boots: 1, runs };
        let mut report = Report::new("shift=0,sleep=off", Profile::Release, 1, Scale::Quick, &["tlb".into()]);
        report.boards.push(BoardResults::new(&run, "raspi4b"));
        let md = render(&report);
        let sections: Vec<&str> = md.lines().filter(|l| l.starts_with("### ")).collect();
        assert_eq!(sections, ["### Targets", "### Other figures"], "{md}");
        assert!(md.contains("scale `quick`, only tlb;"), "{md}");
        assert!(md.contains("booted 1 time.\n"), "{md}");
    }

    #[test]
    fn a_debug_kernel_is_flagged() {
        let md = render(&report(Profile::Debug));
        assert!(md.contains("> **Debug kernel.**") && md.contains("cargo run --release -- bench"), "{md}");
    }
}
