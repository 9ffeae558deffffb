//! The driver against scripted transcripts: every way a kernel test can end, and every way a board can
//! misbehave before, between and during tests.

use std::time::Duration;

use super::*;
use crate::transport::fake::{FakeBoard, Script};

const PROMPT: &str = "cowpi> ";

/// Kernel output lines, each ended as the kernel ends them.
fn lines(lines: &[&str]) -> String {
    lines.iter().map(|line| format!("{line}\r\n")).collect()
}

/// Lines followed by the prompt: the shell is back.
fn answer(output: &[&str]) -> String {
    lines(output) + PROMPT
}

fn list(tests: &[(&str, &str)]) -> String {
    let mut output: Vec<String> =
        tests.iter().map(|(name, expect)| format!("test-list: {name} {expect}")).collect();
    output.push(format!("test-list-end: {}", tests.len()));
    answer(&output.iter().map(String::as_str).collect::<Vec<_>>())
}

fn passing(name: &str) -> String {
    answer(&[&format!("test-begin: {name}"), &format!("test-end: {name} ok")])
}

fn plan() -> Plan<'static> {
    Plan {
        expected_board: Some("raspi3b"),
        filter: None,
        timeouts: Timeouts::new(Duration::from_secs(20), Duration::from_secs(30), Duration::from_secs(3)),
    }
}

fn run(board: &mut FakeBoard, plan: &Plan) -> (SuiteReport, String) {
    let mut progress = Vec::new();
    let report = run_suite(board, plan, &mut progress);
    (report, String::from_utf8(progress).unwrap())
}

fn verdicts(report: &SuiteReport) -> Vec<(&str, Verdict)> {
    report.tests.iter().map(|t| (t.name.as_str(), t.verdict.clone())).collect()
}

#[test]
fn a_passing_test_passes_and_the_commands_are_typed_in_order() {
    let script = Script::ready("raspi3b")
        .reply("test list", &list(&[("a::b", "pass")]))
        .reply("test run a::b", &passing("a::b"));
    let mut board = FakeBoard::new([script]);
    let (report, progress) = run(&mut board, &plan());
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert_eq!(verdicts(&report), [("a::b", Verdict::Ok("ok"))]);
    assert_eq!(board.commands, ["test list", "test run a::b"]);
    assert_eq!((board.restarts, board.stopped), (1, true));
    assert!(progress.contains("running 1 test on raspi3b\n"), "{progress}");
    assert!(progress.contains("test raspi3b::a::b ... ok\n"), "{progress}");
}

#[test]
fn each_expected_failure_kind_counts_as_ok_and_the_board_reboots_after_a_panic_or_hang() {
    let suite =
        list(&[("t::fails", "fail"), ("t::panics", "panic"), ("t::hangs", "hang"), ("t::after", "pass")]);
    let script = Script::ready("raspi3b")
        .reply("test list", &suite)
        .reply(
            "test run t::fails",
            &answer(&["test-begin: t::fails", "test-end: t::fails FAILED on purpose"]),
        )
        .reply(
            "test run t::panics",
            &lines(&["test-begin: t::panics", "!!! kernel panic: on purpose", "!!! at x.rs:1"]),
        )
        .reply("test run t::hangs", &lines(&["test-begin: t::hangs"]))
        .reply("test run t::after", &passing("t::after"));
    let mut board = FakeBoard::new([script.clone(), script.clone(), script]);
    let (report, progress) = run(&mut board, &plan());
    assert_eq!(
        verdicts(&report),
        [
            ("t::fails", Verdict::Ok("ok (failed as expected)")),
            ("t::panics", Verdict::Ok("ok (panicked as expected)")),
            ("t::hangs", Verdict::Ok("ok (hung as expected)")),
            ("t::after", Verdict::Ok("ok")),
        ]
    );
    // One boot for the list, one after the panic, one after the hang.
    assert_eq!(board.restarts, 3);
    assert_eq!(
        board.commands,
        ["test list", "test run t::fails", "test run t::panics", "test run t::hangs", "test run t::after"]
    );
    assert!(progress.contains("test raspi3b::t::hangs ... ok (hung as expected)\n"), "{progress}");
    // The expected hang was given the short hang limit (3 s), not the 30 s a normal test gets.
    let hang_wait = board.timed_out_waits.iter().copied().filter(|w| *w > Duration::from_secs(1)).max();
    assert!(hang_wait.is_some_and(|w| w <= Duration::from_secs(3)), "{:?}", board.timed_out_waits);
}

#[test]
fn an_unexpected_panic_fails_with_the_whole_panic_report_in_its_log() {
    let script = Script::ready("raspi3b").reply("test list", &list(&[("mm::cow", "pass")])).reply(
        "test run mm::cow",
        &lines(&[
            "test-begin: mm::cow",
            "copying page",
            "!!! kernel panic: page fault at 0x0",
            "!!! ELR_EL1 0x80abc",
        ]),
    );
    let (report, progress) = run(&mut FakeBoard::new([script]), &plan());
    let test = &report.tests[0];
    assert_eq!(
        test.verdict,
        Verdict::Failed("the kernel panicked: kernel panic: page fault at 0x0".to_owned())
    );
    assert_eq!(
        test.log,
        ["test-begin: mm::cow", "copying page", "!!! kernel panic: page fault at 0x0", "!!! ELR_EL1 0x80abc"]
    );
    assert!(progress.contains("test raspi3b::mm::cow ... FAILED\n"), "{progress}");
}

#[test]
fn a_test_that_reports_failed_or_times_out_fails_with_the_reason() {
    let suite = list(&[("a::bad", "pass"), ("a::slow", "pass"), ("a::next", "pass")]);
    let script = Script::ready("raspi3b")
        .reply("test list", &suite)
        .reply(
            "test run a::bad",
            &answer(&["test-begin: a::bad", "test-end: a::bad FAILED audit: 3 frames lost"]),
        )
        .reply("test run a::slow", &lines(&["test-begin: a::slow", "working"]))
        .reply("test run a::next", &passing("a::next"));
    let mut board = FakeBoard::new([script.clone(), script]);
    let (report, _) = run(&mut board, &plan());
    assert_eq!(
        verdicts(&report),
        [
            ("a::bad", Verdict::Failed("the test reported FAILED: audit: 3 frames lost".to_owned())),
            ("a::slow", Verdict::Failed("no test-end came within 30 s".to_owned())),
            ("a::next", Verdict::Ok("ok")),
        ]
    );
    // The partial line after a timeout is part of the log: nothing the kernel printed is hidden.
    assert_eq!(report.tests[1].log, ["test-begin: a::slow", "working"]);
    assert_eq!(board.restarts, 2);
}

#[test]
fn expected_failures_that_do_not_happen_fail() {
    let suite = list(&[("x::should_panic", "panic"), ("x::should_hang", "hang")]);
    let script = Script::ready("raspi3b")
        .reply("test list", &suite)
        .reply("test run x::should_panic", &passing("x::should_panic"))
        .reply("test run x::should_hang", &passing("x::should_hang"));
    let (report, _) = run(&mut FakeBoard::new([script]), &plan());
    assert_eq!(
        verdicts(&report),
        [
            ("x::should_panic", Verdict::Failed("expected a kernel panic, but the test passed".to_owned())),
            ("x::should_hang", Verdict::Failed("expected the test to hang, but the test passed".to_owned())),
        ]
    );
}

#[test]
fn a_board_that_never_gets_ready_fails_once_with_its_boot_log() {
    let script = Script::printing("firmware noise\r\n\x00\x7fgarbage");
    let (report, progress) = run(&mut FakeBoard::new([script]), &plan());
    let failure = report.failure.expect("the board must fail");
    assert_eq!(failure.reason, "no ready line (\"cowpi: ready\") within 20 s");
    assert_eq!(failure.log, ["firmware noise", "\0\u{7f}garbage"]);
    assert!(report.tests.is_empty());
    assert!(progress.is_empty(), "{progress}");
}

#[test]
fn qemu_exiting_during_boot_is_reported_as_such() {
    let script = Script::printing("[0.0] booting\r\n").exit_after_banner("QEMU exited with exit status: 1");
    let (report, _) = run(&mut FakeBoard::new([script]), &plan());
    assert_eq!(
        report.failure.unwrap().reason,
        "QEMU exited with exit status: 1 before the ready line (\"cowpi: ready\")"
    );
}

#[test]
fn a_kernel_on_the_wrong_board_fails_the_board() {
    let (report, _) = run(&mut FakeBoard::new([Script::ready("raspi4b")]), &plan());
    assert_eq!(report.failure.unwrap().reason, "the kernel says it runs on raspi4b, but this is raspi3b");
}

#[test]
fn noise_and_echo_between_protocol_lines_are_ignored() {
    let suite = answer(&[
        "[1.5] frames: 240000 free",
        "test-list: a::one pass",
        "\x1b[1mbold\x1b[0m text",
        "test-list: a::two pass",
        "test-list-end: 2",
    ]);
    let noisy_run = answer(&[
        "test-begin: a::one",
        "test-end: a::other ok-ish",
        "log: test-list-end: 9",
        "test-end: a::one ok",
    ]);
    let script = Script::ready("raspi3b")
        .reply("test list", &suite)
        .reply("test run a::one", &noisy_run)
        .reply("test run a::two", &passing("a::two"));
    let (report, _) = run(&mut FakeBoard::new([script]), &plan());
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert_eq!(verdicts(&report), [("a::one", Verdict::Ok("ok")), ("a::two", Verdict::Ok("ok"))]);
}

#[test]
fn a_test_list_whose_count_disagrees_fails_the_board() {
    let suite = answer(&["test-list: a pass", "test-list: b sometimes", "test-list-end: 2"]);
    let script = Script::ready("raspi3b").reply("test list", &suite);
    let (report, _) = run(&mut FakeBoard::new([script]), &plan());
    let failure = report.failure.unwrap();
    assert_eq!(failure.reason, "the kernel announced 2 tests but listed 1");
    assert!(failure.log.contains(&"test-list: b sometimes".to_owned()), "{:?}", failure.log);
}

#[test]
fn duplicate_test_names_fail_the_board() {
    let script = Script::ready("raspi3b").reply("test list", &list(&[("a", "pass"), ("a", "fail")]));
    let (report, _) = run(&mut FakeBoard::new([script]), &plan());
    assert_eq!(report.failure.unwrap().reason, "the kernel listed a twice");
}

#[test]
fn the_filter_selects_tests_by_substring() {
    let suite = list(&[("frames::alloc", "pass"), ("cow::fork", "pass"), ("frames::free", "pass")]);
    let script = Script::ready("raspi3b")
        .reply("test list", &suite)
        .reply("test run frames::alloc", &passing("frames::alloc"))
        .reply("test run frames::free", &passing("frames::free"));
    let mut board = FakeBoard::new([script]);
    let (report, progress) = run(&mut board, &Plan { filter: Some("frames"), ..plan() });
    assert_eq!(report.tests.len(), 2);
    assert_eq!(board.commands, ["test list", "test run frames::alloc", "test run frames::free"]);
    assert!(progress.contains("running 2 tests on raspi3b (1 filtered out)"), "{progress}");
}

#[test]
fn a_shell_that_does_not_echo_fails_the_board() {
    let (report, _) = run(&mut FakeBoard::new([Script::ready("raspi3b").without_echo()]), &plan());
    assert_eq!(
        report.failure.unwrap().reason,
        "typing `test list`: the shell did not echo the typed 't' within 2000 ms"
    );
}

#[test]
fn a_prompt_without_test_end_fails_at_once_even_for_an_expected_hang() {
    let script = Script::ready("raspi3b")
        .reply("test list", &list(&[("h", "hang")]))
        .reply("test run h", &answer(&["no such test: h"]));
    let (report, _) = run(&mut FakeBoard::new([script]), &plan());
    let Verdict::Failed(reason) = &report.tests[0].verdict else { panic!("{:?}", report.tests[0]) };
    assert!(reason.contains("prompted again without a test-end"), "{reason}");
    // It never began, so its log is everything since boot.
    assert_eq!(report.tests[0].log[0], "[0.000] cowpi booting");
}

#[test]
fn qemu_exiting_mid_test_fails_that_test_and_the_rest_run_after_a_reboot() {
    let suite = list(&[("a", "pass"), ("b", "pass")]);
    let dying = Script::ready("raspi3b").reply("test list", &suite).reply_then_exit(
        "test run a",
        &lines(&["test-begin: a"]),
        "QEMU exited with exit status: 0",
    );
    let healthy = Script::ready("raspi3b").reply("test run b", &passing("b"));
    let (report, _) = run(&mut FakeBoard::new([dying, healthy]), &plan());
    assert_eq!(
        verdicts(&report),
        [("a", Verdict::Failed("QEMU exited with exit status: 0".to_owned())), ("b", Verdict::Ok("ok"))]
    );
}

#[test]
fn when_the_board_does_not_come_back_the_remaining_tests_fail_without_waiting_each() {
    let suite = list(&[("p", "panic"), ("q", "pass"), ("r", "pass")]);
    let first = Script::ready("raspi3b")
        .reply("test list", &suite)
        .reply("test run p", &lines(&["!!! kernel panic"]));
    let broken = Script::printing("no ready line this time\r\n");
    let mut board = FakeBoard::new([first, broken]);
    let (report, _) = run(&mut board, &plan());
    assert_eq!(report.tests[0].verdict, Verdict::Ok("ok (panicked as expected)"));
    for test in &report.tests[1..] {
        let Verdict::Failed(reason) = &test.verdict else { panic!("{test:?}") };
        assert!(reason.starts_with("not run: the board did not boot again (no ready line"), "{reason}");
    }
    assert_eq!(report.tests[1].log, ["no ready line this time"], "the failed boot's log, shown once");
    assert!(report.tests[2].log.is_empty());
    assert_eq!(board.restarts, 2, "one failed reboot must not be retried for every remaining test");
}

#[test]
fn a_missing_prompt_after_test_end_fails_the_test_and_forces_a_reboot() {
    let suite = list(&[("a", "pass"), ("b", "pass")]);
    let script = Script::ready("raspi3b")
        .reply("test list", &suite)
        .reply("test run a", &lines(&["test-begin: a", "test-end: a ok"]))
        .reply("test run b", &passing("b"));
    let mut board = FakeBoard::new([script.clone(), script]);
    let (report, _) = run(&mut board, &plan());
    assert_eq!(
        verdicts(&report),
        [
            ("a", Verdict::Failed("after test-end: no prompt within 10 s".to_owned())),
            ("b", Verdict::Ok("ok"))
        ]
    );
    assert_eq!(board.restarts, 2);
}
