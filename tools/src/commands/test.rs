//! `cowpi <ELF> test`: runs everything, the host unit tests and then the kernel's tests on each board.
//!
//! In QEMU every board under `boards/` is tested by default, each in fresh QEMU processes; with `--serial`
//! the kernel tests run on the real Pi at the other end of the cable instead. Each board's run also checks
//! what the kernel's `info` says about the board against what the host knows of it (`board.toml` in QEMU).
//! The run ends with a single `N passed, N failed` line over everything, and a non-zero exit status if
//! anything failed.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use crate::cli::TestArgs;
use crate::commands::{select_boards, workspace_root};
use crate::driver::{Plan, SuiteReport, Timeouts, run_suite};
use crate::host_tests;
use crate::image::{default_image_path, write_image};
use crate::info_check::ExpectedRam;
use crate::qemu;
use crate::report::{Tally, failure_names, print_suite_end};
use crate::transport::qemu::QemuBoard;
use crate::transport::serial::SerialBoard;

/// Boot timeout in QEMU: the ready line normally comes well within a second.
const QEMU_BOOT: Duration = Duration::from_secs(20);
/// Boot timeout on a real board: a person has to notice the request and press reset.
const SERIAL_BOOT: Duration = Duration::from_secs(600);
/// Time a real board may take to come back from `reboot` (its firmware boots in seconds) before a person
/// is asked to reset it.
const SERIAL_REBOOT: Duration = Duration::from_secs(60);

/// What has run so far.
#[derive(Default)]
struct Totals {
    tally: Tally,
    failures: Vec<String>,
}

impl Totals {
    fn add_suite(&mut self, out: &mut dyn Write, suite: &SuiteReport) -> io::Result<()> {
        print_suite_end(out, suite)?;
        self.tally.add(Tally::of_suite(suite));
        self.failures.extend(failure_names(suite));
        Ok(())
    }
}

pub fn run(elf: &Path, args: &TestArgs) -> Result<ExitCode> {
    let mut out = io::stdout();
    let mut totals = Totals::default();
    let secs = Duration::from_secs;
    let filter = args.filter.as_deref();

    if let Some(device) = &args.serial {
        let boot = args.boot_timeout.map_or(SERIAL_BOOT, secs);
        let mut timeouts = Timeouts::new(boot, secs(args.timeout), secs(args.hang_timeout));
        timeouts.reboot = boot.min(SERIAL_REBOOT);
        // Which Pi is on the cable, and so how much RAM it has, only its kernel can say.
        let plan = Plan { expected_board: None, filter, ram: ExpectedRam::AnyPiModel, timeouts };
        let mut board = SerialBoard::open(device, args.baud)?;
        let suite = run_suite(&mut board, &plan, &mut out);
        totals.add_suite(&mut out, &suite)?;
    } else {
        // Everything that can stop the run is checked before the host tests spend their time.
        let boards = select_boards(&args.boards)?;
        qemu::require()?;
        let image = default_image_path(elf);
        write_image(elf, &image)?;

        if !args.no_host {
            writeln!(out, "== host unit tests ==")?;
            let tally = host_tests::run(&workspace_root(), filter, &mut out)?;
            writeln!(out, "host: {} ok, {} failed", tally.passed, tally.failed)?;
            if tally.failed > 0 {
                totals.failures.push("host unit tests (see cargo's output above)".to_owned());
            }
            totals.tally.add(tally);
        }

        let boot = args.boot_timeout.map_or(QEMU_BOOT, secs);
        for board in &boards {
            writeln!(out, "\n== kernel tests on {} (QEMU {}) ==", board.name, board.qemu_machine)?;
            let plan = Plan {
                expected_board: Some(&board.name),
                filter,
                ram: ExpectedRam::Mib(board.ram_mib),
                timeouts: Timeouts::new(boot, secs(args.timeout), secs(args.hang_timeout)),
            };
            let mut qemu = QemuBoard::new(&board.qemu_machine, image.clone());
            let suite = run_suite(&mut qemu, &plan, &mut out);
            totals.add_suite(&mut out, &suite)?;
        }
    }

    if !totals.failures.is_empty() {
        writeln!(out, "\nfailures:")?;
        for name in &totals.failures {
            writeln!(out, "    {name}")?;
        }
    }
    writeln!(out, "\n{}", totals.tally.summary_line())?;
    Ok(if totals.tally.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
