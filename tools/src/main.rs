//! `cowpi`, the host side of cowpi: what `cargo run` does with the kernel ELF it has just built.
//!
//! cargo calls it through `tools/cargo-runner` with the ELF first. It flattens the ELF into the raw
//! `kernel8.img` the Pi boots, then boots it in QEMU for a person to use, drives the kernel's test suite
//! over the serial console (in QEMU or on a real Pi) after running the host unit tests, or runs its
//! benchmarks or a long system-call fuzzing run in QEMU. Errors are reported as one line, `cowpi: <what went wrong>`.

mod bench;
mod cli;
mod commands;
mod driver;
mod fuzz;
mod host_tests;
mod image;
mod info_check;
mod lines;
mod outcome;
mod qemu;
mod report;
mod sdcard;
mod session;
mod transport;
mod upload;

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    match dispatch(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("cowpi: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    if cli.command.is_some() && (cli.board.is_some() || cli.gdb) {
        bail!(
            "--board and --gdb before a subcommand only apply to booting; put a test's --board after `test`"
        );
    }
    match &cli.command {
        None => commands::run::run(
            &cli.elf,
            cli.board.as_deref().unwrap_or(commands::run::DEFAULT_BOARD),
            cli.gdb,
        ),
        Some(Command::Test(args)) => commands::test::run(&cli.elf, args),
        Some(Command::Image(args)) => commands::image::run(&cli.elf, args.output.as_deref()),
        Some(Command::Sdcard(args)) => commands::sdcard::run(&cli.elf, args),
        Some(Command::Upload(args)) => commands::upload::run(&cli.elf, args),
        Some(Command::Bench(args)) => commands::bench::run(&cli.elf, args),
        Some(Command::Fuzz(args)) => commands::fuzz::run(&cli.elf, args),
    }
}
