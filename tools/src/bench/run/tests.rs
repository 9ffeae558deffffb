//! The benchmark driver against scripted boards: what it types, what it keeps, and how each kind of
//! failure is recorded and followed by a fresh boot.

use std::time::Duration;

use super::*;
use crate::transport::fake::{FakeBoard, Script, answer};

const PROMPT: &str = "cowpi> ";
const HZ: u64 = 62_500_000;

fn list(names: &[&str]) -> String {
    let mut lines: Vec<String> = names.iter().map(|name| format!("bench-list: {name}")).collect();
    lines.push(format!("bench-list-end: {}", names.len()));
    answer(&lines.iter().map(String::as_str).collect::<Vec<_>>())
}

/// A benchmark's whole answer: begin, the given lines, end ok, prompt.
fn benchmark(name: &str, lines: &[&str]) -> String {
    let begin = format!("bench-begin: {name} timer_hz={HZ}");
    let end = format!("bench-end: {name} ok");
    let mut all = vec![begin.as_str()];
    all.extend_from_slice(lines);
    all.push(&end);
    answer(&all)
}

fn boot_answer(ticks: u64) -> String {
    benchmark("boot", &[&format!("bench-sample: boot.ready ticks={ticks} ops=1")])
}

fn plan(only: &[String]) -> Plan<'_> {
    Plan {
        board: "raspi3b",
        reps: 2,
        scale: Scale::Full,
        only,
        timeouts: Timeouts::new(
            Duration::from_secs(60),
            Duration::from_secs(1800),
            Duration::from_secs(1800),
        ),
    }
}

/// Remembers what the driver reported, as text.
#[derive(Default)]
struct Recorder {
    planned: usize,
    events: Vec<String>,
}

impl Progress for Recorder {
    fn planned(&mut self, runs: usize) {
        self.planned += runs;
    }

    fn running(&mut self, board: &str, benchmark: &str, samples: usize) {
        self.events.push(format!("{board} {benchmark} {samples}"));
    }

    fn finished(&mut self, board: &str, run: &BenchRun) {
        let verdict = run.failure.as_ref().map_or("ok", |f| f.reason.as_str());
        self.events.push(format!("{board} {} done: {verdict}", run.name));
    }
}

fn run(board: &mut FakeBoard, only: &[String]) -> (BoardRun, Recorder) {
    let mut recorder = Recorder::default();
    let result = run_board(board, &plan(only), &mut recorder);
    (result, recorder)
}

fn figures(run: &BenchRun) -> Vec<(&str, &str, &RawMeasure)> {
    run.samples.iter().map(|s| (s.figure.as_str(), s.labels.as_str(), &s.measure)).collect()
}

#[test]
fn samples_are_collected_failures_recorded_and_each_failure_followed_by_a_fresh_boot() {
    let first = Script::ready("raspi3b")
        .reply("bench list", &list(&["boot", "floors", "fork", "ksm"]))
        .reply("bench run boot 1 full", &boot_answer(1000))
        .reply(
            "bench run floors 2 full",
            &benchmark(
                "floors",
                &[
                    "bench-sample: floor.syscall ticks=125 ops=10",
                    "bench-sample: floor.sysc\u{fffd}ll ticks=1",
                    "some program output",
                    "bench-count: memory.children stage=parent children=2 mib=1 value=300 unit=frames",
                ],
            ),
        )
        .reply(
            "bench run fork 2 full",
            &answer(&[
                "bench-begin: fork timer_hz=62500000",
                "bench-sample: fork.latency mode=cow mib=0 ticks=50 ops=1",
                "bench-end: fork FAILED fork: out of memory",
            ]),
        );
    let second = Script::ready("raspi3b").reply(
        "bench run ksm 2 full",
        &benchmark("ksm", &["bench-count: ksm.merge_scans rate=max mib=64 value=2 unit=scans"]),
    );
    let third = Script::ready("raspi3b").reply("bench run boot 1 full", &boot_answer(1010));
    let mut board = FakeBoard::new([first, second, third]);
    let (result, recorder) = run(&mut board, &[]);

    assert_eq!(
        board.commands,
        [
            "bench list",
            "bench run boot 1 full",
            "bench run floors 2 full",
            "bench run fork 2 full",
            "bench run ksm 2 full",
            "bench run boot 1 full"
        ]
    );
    assert_eq!((board.restarts, result.boots, board.stopped), (3, 3, true));
    assert_eq!(result.listed, ["boot", "floors", "fork", "ksm"]);
    let names: Vec<(&str, u32, bool)> =
        result.runs.iter().map(|r| (r.name.as_str(), r.boot, r.failure.is_none())).collect();
    assert_eq!(
        names,
        [("boot", 1, true), ("floors", 1, true), ("fork", 1, false), ("ksm", 2, true), ("boot", 3, true)]
    );

    let floors = &result.runs[1];
    assert_eq!(
        figures(floors),
        [
            ("floor.syscall", "", &RawMeasure::Ticks { ticks: 125, ops: 10 }),
            (
                "memory.children",
                "stage=parent children=2 mib=1",
                &RawMeasure::Count { value: 300, unit: "frames".to_owned() }
            ),
        ]
    );
    assert!(floors.samples.iter().all(|s| s.timer_hz == HZ));
    assert_eq!(floors.garbled, ["bench-sample: floor.sysc\u{fffd}ll ticks=1"]);

    let fork = result.runs[2].failure.as_ref().expect("fork failed");
    assert_eq!(fork.reason, "the benchmark reported FAILED: fork: out of memory");
    assert!(
        fork.log_tail.contains(&"bench-end: fork FAILED fork: out of memory".to_owned()),
        "{:?}",
        fork.log_tail
    );
    assert!(fork.log_tail[0].ends_with("bench run fork 2 full"), "{:?}", fork.log_tail);

    assert_eq!(figures(&result.runs[4]), [("boot.ready", "", &RawMeasure::Ticks { ticks: 1010, ops: 1 })]);
    assert_eq!(recorder.planned, 5);
    assert!(recorder.events.contains(&"raspi3b floors 2".to_owned()), "{:?}", recorder.events);
    assert!(
        recorder
            .events
            .contains(&"raspi3b fork done: the benchmark reported FAILED: fork: out of memory".to_owned())
    );
    assert_eq!(recorder.events.iter().filter(|e| e.contains(" done: ")).count(), 5);
}

#[test]
fn a_panic_a_hang_and_an_unknown_benchmark_each_fail_and_the_next_gets_a_fresh_boot() {
    let first = Script::ready("raspi3b").reply("bench list", &list(&["a", "b", "c", "d"])).reply(
        "bench run a 2 full",
        answer(&["bench-begin: a timer_hz=1000", "!!! kernel panic: at a.rs:1", "!!! ELR_EL1 0x1"])
            .trim_end_matches(PROMPT),
    );
    let second = Script::ready("raspi3b").reply("bench run b 2 full", "bench-begin: b timer_hz=1000\r\n");
    let third = Script::ready("raspi3b").reply("bench run c 2 full", &answer(&["unknown benchmark: c"]));
    let fourth = Script::ready("raspi3b")
        .reply("bench run d 2 full", &benchmark("d", &["bench-sample: x.y ticks=1 ops=1"]));
    let mut board = FakeBoard::new([first, second, third, fourth]);
    let (result, _) = run(&mut board, &[]);

    let reasons: Vec<Option<&str>> =
        result.runs.iter().map(|r| r.failure.as_ref().map(|f| f.reason.as_str())).collect();
    assert_eq!(
        reasons,
        [
            Some("the kernel stopped: kernel panic: at a.rs:1"),
            Some("no bench-end line within 1800 s"),
            Some("the shell prompted again without a bench-end line (is the benchmark unknown?)"),
            None,
        ]
    );
    let panic_log = &result.runs[0].failure.as_ref().unwrap().log_tail;
    assert_eq!(panic_log.last().map(String::as_str), Some("!!! ELR_EL1 0x1"), "the whole panic report");
    assert_eq!(board.restarts, 4);
}

#[test]
fn only_selects_benchmarks_and_names_the_kernel_does_not_list_fail() {
    let script = Script::ready("raspi3b")
        .reply("bench list", &list(&["boot", "fork", "ksm"]))
        .reply("bench run fork 2 full", &benchmark("fork", &[]));
    let mut board = FakeBoard::new([script]);
    let only = ["fork".to_owned(), "nosuch".to_owned()];
    let (result, recorder) = run(&mut board, &only);
    assert_eq!(board.commands, ["bench list", "bench run fork 2 full"]);
    assert_eq!(board.restarts, 1, "without boot in the selection the board boots once");
    let failure = result.runs[0].failure.as_ref().unwrap();
    assert_eq!(result.runs[0].name, "nosuch");
    assert_eq!(failure.reason, "not run: the kernel does not list it (it lists boot, fork, ksm)");
    assert!(result.runs[1].failure.is_none());
    assert_eq!(recorder.planned, 2);
}

#[test]
fn a_board_that_does_not_boot_or_list_is_one_failure() {
    let wrong_board = Script::ready("raspi4b");
    let (result, recorder) = run(&mut FakeBoard::new([wrong_board]), &[]);
    assert_eq!(result.runs.len(), 1);
    assert_eq!(result.runs[0].name, LISTING);
    let failure = result.runs[0].failure.as_ref().unwrap();
    assert_eq!(failure.reason, "the kernel says it runs on raspi4b, but this is raspi3b");
    assert!(failure.log_tail.contains(&"cowpi: ready board=raspi4b".to_owned()), "{:?}", failure.log_tail);
    assert_eq!(recorder.planned, 1);

    let miscounted =
        Script::ready("raspi3b").reply("bench list", &answer(&["bench-list: a", "bench-list-end: 2"]));
    let (result, _) = run(&mut FakeBoard::new([miscounted]), &[]);
    assert_eq!(
        result.runs[0].failure.as_ref().unwrap().reason,
        "the kernel announced 2 benchmarks but listed 1"
    );

    // An older kernel answers "unknown command" and prompts again; no need to wait for the time limit.
    let (result, _) = run(&mut FakeBoard::new([Script::ready("raspi3b")]), &[]);
    assert_eq!(
        result.runs[0].failure.as_ref().unwrap().reason,
        "the shell prompted again without a bench-list-end line (does this kernel have `bench`?)"
    );
}

#[test]
fn a_board_that_does_not_come_back_fails_the_benchmarks_it_keeps_from_running() {
    let first = Script::ready("raspi3b")
        .reply("bench list", &list(&["a", "b"]))
        .reply("bench run a 2 full", &answer(&["bench-begin: a timer_hz=1000", "bench-end: a FAILED no"]));
    let dead = Script::printing("").exit_after_banner("QEMU exited (exit status: 1)");
    let (result, _) = run(&mut FakeBoard::new([first, dead]), &[]);
    let failure = result.runs[1].failure.as_ref().unwrap();
    assert_eq!(result.runs[1].name, "b");
    assert!(
        failure.reason.starts_with("not run: the board did not boot again (QEMU exited"),
        "{}",
        failure.reason
    );
}

#[test]
fn garbled_means_a_benchmark_prefix_that_does_not_parse() {
    assert!(looks_like_bench_line("bench-sample: fork.latency ticks=1"));
    assert!(looks_like_bench_line("hellobench-count: x value=1 unit=frames"));
    assert!(!looks_like_bench_line("cowpi> bench run fork 5 full"));
    assert!(!looks_like_bench_line("fork: 16 MiB"));
}
