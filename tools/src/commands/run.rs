//! `cowpi <ELF> [--board B] [--gdb]`: boots the kernel in QEMU with its serial console on the terminal.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use crate::image::{default_image_path, write_image};
use crate::qemu;

/// The board `cargo run` boots when none is named.
pub const DEFAULT_BOARD: &str = "raspi3b";

pub fn run(elf: &Path, board: &str, gdb: bool) -> Result<ExitCode> {
    let board = cowpi_boards::find(&cowpi_boards::boards_dir(), board)?;
    qemu::require()?;
    let image = default_image_path(elf);
    write_image(elf, &image)?;
    eprintln!(
        "cowpi: booting {} on QEMU {} (Ctrl-A X quits, Ctrl-A C toggles QEMU's monitor)",
        image.display(),
        board.qemu_machine
    );
    if gdb {
        eprintln!(
            "cowpi: QEMU waits for a debugger; in another terminal: gdb-multiarch {} -ex 'target remote :1234'",
            elf.display()
        );
    }
    let mut command = qemu::interactive_command(&board.qemu_machine, &image, gdb);
    become_or_wait(&mut command).with_context(|| format!("cannot start {}", qemu::PROGRAM))
}

/// Hands the terminal to QEMU. On Unix this process becomes QEMU (as cargo's own `run` does), so signals,
/// the terminal's raw mode and the exit status (the kernel's `poweroff` chooses it through semihosting)
/// are QEMU's alone, and no QEMU is left behind if something kills the tool.
#[cfg(unix)]
fn become_or_wait(command: &mut Command) -> std::io::Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    Err(command.exec())
}

/// Elsewhere, waits for QEMU and exits with its status; a QEMU killed by a signal counts as a failure.
#[cfg(not(unix))]
fn become_or_wait(command: &mut Command) -> std::io::Result<ExitCode> {
    let status = command.status()?;
    Ok(status.code().and_then(|code| u8::try_from(code).ok()).map_or(ExitCode::FAILURE, ExitCode::from))
}
