//! `cowpi <ELF> upload <PROGRAM> [ARGS] [--board B | --serial DEV --baud N]`: runs a user program on the
//! kernel without rebuilding it or rewriting the SD card.
//!
//! In QEMU the kernel is booted afresh and stopped at the end; on a serial port the Pi must already be at
//! cowpi's prompt, and stays running.

use std::io;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cowpi_console::protocol::{self, Line};

use crate::cli::UploadArgs;
use crate::commands::run::DEFAULT_BOARD;
use crate::image::{default_image_path, write_image};
use crate::qemu;
use crate::session::{Heard, Session};
use crate::transport::Transport;
use crate::transport::qemu::QemuBoard;
use crate::transport::serial::SerialBoard;
use crate::upload::{Upload, upload_and_run};

/// From starting QEMU to the shell's prompt.
const QEMU_BOOT: Duration = Duration::from_secs(20);
/// For a running Pi's shell to answer an Enter.
const SHELL_ANSWER: Duration = Duration::from_secs(5);

pub fn run(elf: &Path, args: &UploadArgs) -> Result<ExitCode> {
    let image =
        std::fs::read(&args.program).with_context(|| format!("cannot read {}", args.program.display()))?;
    let name = match &args.name {
        Some(name) => name.clone(),
        None => args
            .program
            .file_stem()
            .and_then(|stem| stem.to_str())
            .with_context(|| {
                format!("{} has no usable file name; give one with --name", args.program.display())
            })?
            .to_owned(),
    };
    let upload = Upload { name: &name, image: &image, args: &args.args, corrupt_chunk: args.corrupt_chunk };

    let mut board: Box<dyn Transport> = match &args.serial {
        Some(device) => Box::new(SerialBoard::open(device, args.baud)?),
        None => {
            let board = cowpi_boards::find(
                &cowpi_boards::boards_dir(),
                args.board.as_deref().unwrap_or(DEFAULT_BOARD),
            )?;
            qemu::require()?;
            let kernel_image = default_image_path(elf);
            write_image(elf, &kernel_image)?;
            Box::new(QemuBoard::new(&board.qemu_machine, kernel_image))
        }
    };
    let mut session = Session::new(board.as_mut());
    let result = if args.serial.is_some() { reach_running_shell(&mut session) } else { boot(&mut session) }
        .and_then(|()| {
            upload_and_run(&mut session, &upload, Duration::from_secs(args.timeout), &mut io::stdout())
        });
    if args.serial.is_none() {
        session.stop();
    }
    let ran = result?;
    Ok(if ran.exited_with_zero { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Boots QEMU and waits for the ready line and the prompt after it.
fn boot(session: &mut Session) -> Result<()> {
    session.restart()?;
    let deadline = Instant::now() + QEMU_BOOT;
    let mut ready = false;
    loop {
        match session.next(deadline) {
            Heard::Line(line) => match protocol::parse_line(&line) {
                Line::Ready { .. } => ready = true,
                Line::Fatal { message } => bail!("the kernel stopped while booting: {message}"),
                _ => {}
            },
            Heard::Prompt if ready => return Ok(()),
            Heard::Prompt => {}
            Heard::Timeout => bail!("the kernel did not reach its prompt within {} s", QEMU_BOOT.as_secs()),
            Heard::Closed(why) => bail!("{why} while booting"),
        }
    }
}

/// Presses Enter on a board that should be at cowpi's prompt, and waits for the prompt to come back.
fn reach_running_shell(session: &mut Session) -> Result<()> {
    session
        .type_command("", SHELL_ANSWER)
        .map_err(|e| anyhow::anyhow!("{e}: is cowpi running and at its prompt on the other end?"))?;
    let deadline = Instant::now() + SHELL_ANSWER;
    loop {
        match session.next(deadline) {
            Heard::Prompt => return Ok(()),
            Heard::Line(_) => {}
            Heard::Timeout => bail!("no cowpi prompt within {} s after Enter", SHELL_ANSWER.as_secs()),
            Heard::Closed(why) => bail!("{why}"),
        }
    }
}
