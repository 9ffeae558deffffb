//! The serial shell: reads lines through the line editor and runs commands.
//!
//! It is also the test runner's way in: the host types `test list` and `test run <name>` like a person
//! would (see `cowpi_console::protocol`). Nothing typed can crash it: over-long lines, control characters
//! and escape sequences are handled by the line editor, unknown commands get a one-line error.

mod commands;
mod upload;

pub use commands::ksm_status_lines;

use alloc::string::{String, ToString};

use cowpi_console::line_editor::{Input, LineEditor};
use cowpi_console::protocol;

use crate::board;
use crate::console;
use crate::sync::IrqSafeLock;
use crate::task;
use crate::{print, println};

/// The longest command line, in bytes.
pub const MAX_LINE: usize = 128;

/// How often, in milliseconds, an idle shell looks at the UART. At 115200 baud about 12 bytes arrive per
/// millisecond, fewer than the PL011's 16-byte receive FIFO holds, so nothing is lost between looks.
const IDLE_POLL_MS: u64 = 1;

/// The serial line's one line editor. The shell reads its commands with it and `upload` its chunk lines,
/// so what spans two lines passes from one reader to the other: with an editor each, the LF of a CR LF
/// that ended `upload ...` reached the upload's fresh editor as an empty line, which aborts the transfer.
static EDITOR: IrqSafeLock<LineEditor<MAX_LINE>> = IrqSafeLock::new(LineEditor::new());

/// A finished [`Input`], owned, so the editor is not locked while a command runs.
enum Entered {
    Line(String),
    Cancelled,
    TooLong,
}

/// Feeds one received byte to the line editor, passing its echo to `echo`; what the byte finished.
fn feed(byte: u8, echo: impl FnMut(&[u8])) -> Option<Entered> {
    EDITOR.lock(|editor| {
        editor.feed(byte, echo).map(|input| match input {
            Input::Line(line) => Entered::Line(line.to_string()),
            Input::Cancelled => Entered::Cancelled,
            Input::TooLong => Entered::TooLong,
        })
    })
}

/// Whether a line has been started and not finished yet.
fn line_in_progress() -> bool {
    EDITOR.lock(|editor| !editor.partial_line().is_empty())
}

/// Forgets the unfinished line, for a reader that gives up in the middle of one (the upload, on a timeout):
/// it was never echoed, so it must not become the start of the next command.
fn discard_partial_line() {
    EDITOR.lock(LineEditor::discard_partial_line);
}

/// Waits for the next received byte, sleeping between looks.
fn read_byte() -> u8 {
    loop {
        if let Some(Some(byte)) = console::with_uart(|uart| uart.try_read_byte()) {
            return byte;
        }
        task::sleep(IDLE_POLL_MS);
    }
}

/// Runs the shell for good (as a kernel task).
pub fn run() -> ! {
    crate::bench::record_ready();
    println!("{} board={}", protocol::READY, board::info().spec().name);
    println!("Type 'help' for the commands.");
    print!("{}", protocol::PROMPT);
    loop {
        let byte = read_byte();
        let entered = console::with_uart(|uart| {
            feed(byte, |echo: &[u8]| echo.iter().for_each(|&b| uart.write_byte(b)))
        });
        let Some(Some(entered)) = entered else { continue };
        match entered {
            Entered::Line(line) => commands::execute(&line),
            Entered::Cancelled => {}
            Entered::TooLong => println!("error: line too long (at most {MAX_LINE} characters)"),
        }
        print!("{}", protocol::PROMPT);
    }
}
