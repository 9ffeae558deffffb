//! The driver against scripted transcripts: every way a kernel test can end, every way a board can
//! misbehave before, between and during tests, how the kernel is booted afresh after a failure, and the
//! host's check of `info`.

use std::time::Duration;

use super::*;
use crate::transport::fake::{FakeBoard, Script, answer, info_output};

/// Kernel output lines, each ended as the kernel ends them.
fn lines(lines: &[&str]) -> String {
    lines.iter().map(|line| format!("{line}\r\n")).collect()
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
        ram: ExpectedRam::Mib(1024),
        timeouts: Timeouts::new(Duration::from_secs(20), Duration::from_secs(30), Duration::from_secs(3)),
    }
}

fn run(board: &mut FakeBoard, plan: &Plan) -> (SuiteReport, String) {
    let mut progress = Vec::new();
    let report = run_suite(board, plan, &mut progress);
    (report, String::from_utf8(progress).unwrap())
}

/// The verdicts of the kernel's tests (the info check, first, is checked on its own where it matters).
fn verdicts(report: &SuiteReport) -> Vec<(&str, Verdict)> {
    let (info, kernel_tests) = report.tests.split_first().expect("the info check is always reported");
    assert_eq!((info.name.as_str(), &info.verdict), (info_check::NAME, &Verdict::Ok("ok")));
    kernel_tests.iter().map(|t| (t.name.as_str(), t.verdict.clone())).collect()
}

/// The report of the kernel test `name`.
fn test_named<'r>(report: &'r SuiteReport, name: &str) -> &'r TestReport {
    report.tests.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no {name} in {:?}", report.tests))
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
    assert_eq!(board.commands, ["test list", "info", "test run a::b"]);
    assert_eq!((board.restarts, board.reboots, board.stopped), (1, 0, true));
    assert!(
        progress.ends_with(
            "running 2 tests on raspi3b\n\
             test raspi3b::shell::info_names_board_el1_and_ram ... ok\n\
             test raspi3b::a::b ... ok\n"
        ),
        "{progress}"
    );
}

#[test]
fn each_expected_failure_kind_counts_as_ok_and_each_leaves_a_fresh_kernel_for_the_next_test() {
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
    let mut board = FakeBoard::new([script.clone(), script.clone(), script.clone(), script]);
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
    // One boot for the list, a reboot after the FAILED test, restarts after the panic and the hang.
    assert_eq!((board.restarts, board.reboots), (3, 1));
    assert_eq!(
        board.commands,
        [
            "test list",
            "info",
            "test run t::fails",
            "reboot",
            "test run t::panics",
            "test run t::hangs",
            "test run t::after"
        ]
    );
    assert!(progress.contains("test raspi3b::t::hangs ... ok (hung as expected)\n"), "{progress}");
    // The expected hang was given the short hang limit (3 s), not the 30 s a normal test gets.
    let hang_wait = board.timed_out_waits.iter().copied().filter(|w| *w > Duration::from_secs(1)).max();
    assert!(hang_wait.is_some_and(|w| w <= Duration::from_secs(3)), "{:?}", board.timed_out_waits);
}

#[test]
fn a_test_listed_as_slow_is_given_four_times_the_limit() {
    let script = Script::ready("raspi3b")
        .reply("test list", &list(&[("a::slow", "pass slow"), ("a::quick", "pass")]))
        .reply("test run a::slow", &lines(&["test-begin: a::slow"]))
        .reply("test run a::quick", &lines(&["test-begin: a::quick"]));
    let mut board = FakeBoard::new([script.clone(), script.clone(), script]);
    let (report, _) = run(&mut board, &plan());
    assert_eq!(
        verdicts(&report),
        [
            ("a::slow", Verdict::Failed("no test-end came within 120 s".to_owned())),
            ("a::quick", Verdict::Failed("no test-end came within 30 s".to_owned())),
        ]
    );
    let longest = board.timed_out_waits.iter().copied().max();
    let slow_limit = Duration::from_secs(90)..=Duration::from_secs(120);
    assert!(longest.is_some_and(|w| slow_limit.contains(&w)), "{:?}", board.timed_out_waits);
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
    let test = test_named(&report, "mm::cow");
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
    let mut board = FakeBoard::new([script.clone(), script.clone(), script]);
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
    assert_eq!(test_named(&report, "a::slow").log, ["test-begin: a::slow", "working"]);
    assert_eq!((board.restarts, board.reboots), (2, 1));
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
    // The info check is filtered out too.
    assert!(progress.contains("running 2 tests on raspi3b (2 filtered out)"), "{progress}");
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
    let test = test_named(&report, "h");
    let Verdict::Failed(reason) = &test.verdict else { panic!("{test:?}") };
    assert!(reason.contains("prompted again without a test-end"), "{reason}");
    // It never began, so its log is everything since boot.
    assert_eq!(test.log[0], "[0.000] cowpi booting");
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
    assert_eq!(test_named(&report, "p").verdict, Verdict::Ok("ok (panicked as expected)"));
    for name in ["q", "r"] {
        let Verdict::Failed(reason) = &test_named(&report, name).verdict else { panic!("{report:?}") };
        assert!(reason.starts_with("not run: the board did not boot again (no ready line"), "{reason}");
    }
    assert_eq!(
        test_named(&report, "q").log,
        ["no ready line this time"],
        "the failed boot's log, shown once"
    );
    assert!(test_named(&report, "r").log.is_empty());
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

/// The suite of the reboot tests: a test that fails on purpose, then one that passes.
fn failing_then_passing() -> Script {
    Script::ready("raspi3b").reply("test list", &list(&[("a::fails", "fail"), ("a::next", "pass")])).reply(
        "test run a::fails",
        &answer(&["test-begin: a::fails", "test-end: a::fails FAILED on purpose"]),
    )
}

#[test]
fn a_test_that_reported_failed_is_followed_by_a_reboot_and_the_next_test_runs_on_the_new_boot() {
    // Only the second boot knows `a::next`: on the first, the fake shell would call it an unknown command.
    let after_reboot = Script::ready("raspi3b").reply("test run a::next", &passing("a::next"));
    let mut board = FakeBoard::new([failing_then_passing(), after_reboot]);
    let (report, progress) = run(&mut board, &plan());
    assert_eq!(
        verdicts(&report),
        [("a::fails", Verdict::Ok("ok (failed as expected)")), ("a::next", Verdict::Ok("ok"))]
    );
    assert_eq!((board.restarts, board.reboots), (1, 1), "the kernel reboots itself: no restart");
    assert_eq!(board.commands, ["test list", "info", "test run a::fails", "reboot", "test run a::next"]);
    assert!(
        progress.contains(
            "test raspi3b::a::fails ... ok (failed as expected)\n\
             (rebooting raspi3b: the last test reported FAILED)\n\
             test raspi3b::a::next ... ok\n"
        ),
        "{progress}"
    );
}

#[test]
fn the_last_test_failing_needs_no_reboot() {
    let script = Script::ready("raspi3b")
        .reply("test list", &list(&[("a::fails", "fail")]))
        .reply("test run a::fails", &answer(&["test-begin: a::fails", "test-end: a::fails FAILED"]));
    let mut board = FakeBoard::new([script]);
    let (report, progress) = run(&mut board, &plan());
    assert_eq!(verdicts(&report), [("a::fails", Verdict::Ok("ok (failed as expected)"))]);
    assert_eq!((board.restarts, board.reboots), (1, 0));
    assert!(!progress.contains("rebooting"), "{progress}");
}

#[test]
fn test_order_does_not_matter_a_test_that_leaks_a_frame_can_run_first() {
    let leaked = "test-end: selftest::leaks FAILED audit: frame 0x1000 has 1 holder but none is known";
    let suite = list(&[("selftest::leaks", "fail"), ("frames::alloc", "pass")]);
    // On the boot that leaked, every later test's audit would find the leak.
    let spoiled = Script::ready("raspi3b")
        .reply("test list", &suite)
        .reply("test run selftest::leaks", &answer(&["test-begin: selftest::leaks", leaked]))
        .reply(
            "test run frames::alloc",
            &answer(&["test-begin: frames::alloc", &leaked.replace("selftest::leaks", "frames::alloc")]),
        );
    let fresh = Script::ready("raspi3b").reply("test run frames::alloc", &passing("frames::alloc"));
    let (report, _) = run(&mut FakeBoard::new([spoiled, fresh]), &plan());
    assert_eq!(
        verdicts(&report),
        [("selftest::leaks", Verdict::Ok("ok (failed as expected)")), ("frames::alloc", Verdict::Ok("ok"))]
    );
}

#[test]
fn a_reboot_the_watchdog_does_not_carry_out_falls_back_to_a_restart() {
    let stuck = failing_then_passing()
        .reply("reboot", &answer(&["rebooting", "error: the watchdog did not reset the board"]));
    let restarted = Script::ready("raspi3b").reply("test run a::next", &passing("a::next"));
    let mut board = FakeBoard::new([stuck, restarted]);
    let (report, progress) = run(&mut board, &plan());
    assert_eq!(
        verdicts(&report),
        [("a::fails", Verdict::Ok("ok (failed as expected)")), ("a::next", Verdict::Ok("ok"))]
    );
    assert_eq!((board.restarts, board.reboots), (2, 0));
    assert!(
        progress.contains(
            "(raspi3b did not come back from `reboot`: no ready line (\"cowpi: ready\") within 20 s; \
             restarting it)\n"
        ),
        "{progress}"
    );
    // The kernel was given the boot timeout to come back by itself.
    assert!(
        board.timed_out_waits.iter().any(|w| *w > Duration::from_secs(10)),
        "{:?}",
        board.timed_out_waits
    );
}

#[test]
fn a_reboot_into_a_boot_without_ready_line_falls_back_to_a_restart() {
    let garbled = Script::printing("firmware noise\r\n");
    let restarted = Script::ready("raspi3b").reply("test run a::next", &passing("a::next"));
    let mut board = FakeBoard::new([failing_then_passing(), garbled, restarted]);
    let (report, _) = run(&mut board, &plan());
    assert_eq!(test_named(&report, "a::next").verdict, Verdict::Ok("ok"));
    assert_eq!((board.restarts, board.reboots), (2, 1));
}

#[test]
fn when_neither_reboot_nor_restart_brings_the_kernel_back_the_rest_fail_with_both_reasons() {
    let suite = list(&[("a::fails", "fail"), ("a::next", "pass"), ("a::last", "pass")]);
    let first = Script::ready("raspi3b")
        .reply("test list", &suite)
        .reply("test run a::fails", &answer(&["test-begin: a::fails", "test-end: a::fails FAILED"]));
    let mut board = FakeBoard::new([first, Script::printing("silence\r\n"), Script::printing("more\r\n")]);
    let (report, _) = run(&mut board, &plan());
    let reason = "not run: the board did not boot again (after `reboot`: no ready line (\"cowpi: ready\") \
                  within 20 s; after a restart: no ready line (\"cowpi: ready\") within 20 s)";
    assert_eq!(test_named(&report, "a::next").verdict, Verdict::Failed(reason.to_owned()));
    assert_eq!(test_named(&report, "a::next").log, ["more"], "the log of the restart that failed");
    assert_eq!(test_named(&report, "a::last").verdict, Verdict::Failed(reason.to_owned()));
    assert_eq!((board.restarts, board.reboots), (2, 1), "no more boots are tried after that");
}

#[test]
fn a_reboot_must_come_back_as_the_board_the_suite_started_on_even_on_a_serial_port() {
    // Over a serial port the host does not know the board: the first ready line names it.
    let first = Script::ready("raspi4b")
        .reply("test list", &list(&[("a::fails", "fail"), ("a::next", "pass")]))
        .reply("test run a::fails", &answer(&["test-begin: a::fails", "test-end: a::fails FAILED"]));
    let other = Script::ready("raspi3b").reply("test run a::next", &passing("a::next"));
    let mut board = FakeBoard::new([first, other]);
    let serial = Plan { expected_board: None, ram: ExpectedRam::AnyPiModel, ..plan() };
    let (report, _) = run(&mut board, &serial);
    assert_eq!(report.board, "raspi4b");
    assert_eq!(
        test_named(&report, "a::next").verdict,
        Verdict::Failed(
            "not run: the board did not boot again (the kernel says it runs on raspi3b, but this is raspi4b)"
                .to_owned()
        )
    );
    assert_eq!((board.restarts, board.reboots), (1, 1), "a wrong board is not retried by a restart");
}

/// A boot whose `info` prints `info`, with one passing kernel test after it.
fn script_with_info(info: &str) -> Script {
    Script::ready("raspi3b")
        .reply("test list", &list(&[("a::b", "pass")]))
        .reply("info", info)
        .reply("test run a::b", &passing("a::b"))
}

fn board_with_info(info: &str) -> FakeBoard {
    FakeBoard::new([script_with_info(info)])
}

#[test]
fn the_info_check_fails_on_a_wrong_board_name_exception_level_or_ram() {
    let cases = [
        (info_output("raspi4b", "EL1", 1024, 960), "info: board is raspi4b, expected raspi3b"),
        (info_output("raspi3b", "EL2", 1024, 960), "info: exception_level is EL2, expected EL1"),
        (
            info_output("raspi3b", "EL1", 2048, 1984),
            "info: ram_board_mib is 2048, expected 1024 (ram_mib in board.toml); ram_usable_mib is 1984, \
             expected less than the board's 1024 (the VideoCore keeps some)",
        ),
        (
            info_output("raspi3b", "EL1", 1024, 1024),
            "info: ram_usable_mib is 1024, expected less than the board's 1024 (the VideoCore keeps some)",
        ),
    ];
    for (info, reason) in cases {
        let mut board = board_with_info(&info);
        let (report, progress) = run(&mut board, &plan());
        let check = &report.tests[0];
        assert_eq!(
            (check.name.as_str(), &check.verdict),
            (info_check::NAME, &Verdict::Failed(reason.to_owned()))
        );
        assert!(
            progress.contains("test raspi3b::shell::info_names_board_el1_and_ram ... FAILED\n"),
            "{progress}"
        );
        // The log shows what the kernel said, from the command on.
        assert_eq!(check.log[0], "cowpi> info");
        assert!(check.log.iter().any(|line| line.starts_with("ram_usable_mib: ")), "{:?}", check.log);
        // `info` changes nothing, so the kernel tests go on on the same boot.
        assert_eq!(test_named(&report, "a::b").verdict, Verdict::Ok("ok"));
        assert_eq!((board.restarts, board.reboots), (1, 0));
    }
}

#[test]
fn on_a_serial_port_the_info_check_accepts_any_pi_ram_size() {
    let mut board = board_with_info(&info_output("raspi3b", "EL1", 4096, 3968));
    let serial = Plan { expected_board: None, ram: ExpectedRam::AnyPiModel, ..plan() };
    let (report, _) = run(&mut board, &serial);
    assert_eq!(report.tests[0].verdict, Verdict::Ok("ok"));
    // The same answer in QEMU, where the machine has 1 GiB, is wrong.
    let (report, _) = run(&mut board_with_info(&info_output("raspi3b", "EL1", 4096, 3968)), &plan());
    assert!(!report.tests[0].verdict.is_ok());
}

#[test]
fn an_info_command_that_never_returns_to_the_prompt_fails_and_the_board_restarts() {
    let panicking =
        script_with_info(&lines(&["board: raspi3b", "!!! kernel panic: in info", "!!! at x.rs:1"]));
    let second_boot = Script::ready("raspi3b").reply("test run a::b", &passing("a::b"));
    let mut board = FakeBoard::new([panicking, second_boot]);
    let (report, _) = run(&mut board, &plan());
    assert_eq!(
        report.tests[0].verdict,
        Verdict::Failed(
            "the kernel stopped before the prompt after `info`: kernel panic: in info".to_owned()
        )
    );
    assert_eq!(
        report.tests[0].log,
        ["cowpi> info", "board: raspi3b", "!!! kernel panic: in info", "!!! at x.rs:1"]
    );
    assert_eq!(test_named(&report, "a::b").verdict, Verdict::Ok("ok"));
    assert_eq!(board.restarts, 2);
}

#[test]
fn the_info_check_follows_the_filter() {
    let mut board = board_with_info(&info_output("raspi3b", "EL1", 1024, 960));
    let (report, progress) = run(&mut board, &Plan { filter: Some("shell::info"), ..plan() });
    assert_eq!(report.tests.len(), 1);
    assert_eq!(report.tests[0].name, info_check::NAME);
    assert_eq!(board.commands, ["test list", "info"]);
    assert!(progress.contains("running 1 test on raspi3b (1 filtered out)"), "{progress}");

    let mut board = board_with_info(&info_output("raspi3b", "EL1", 1024, 960));
    let (report, _) = run(&mut board, &Plan { filter: Some("a::b"), ..plan() });
    assert_eq!(report.tests.len(), 1);
    assert_eq!(board.commands, ["test list", "test run a::b"]);
}
