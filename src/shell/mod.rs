//! The serial shell: reads lines through the line editor and runs commands.
//!
//! It is also the test runner's way in: the host types `test list` and `test run <name>` like a person
//! would (see `cowpi_console::protocol`). Nothing typed can crash it: over-long lines, control characters
//! and escape sequences are handled by the line editor, unknown commands get a one-line error.

mod commands;
mod upload;

use cowpi_console::line_editor::{Input, LineEditor};
use cowpi_console::protocol;

use crate::board;
use crate::console;
use crate::task;
use crate::{print, println};

/// The longest command line, in bytes.
pub const MAX_LINE: usize = 128;

/// How often, in milliseconds, an idle shell looks at the UART. At 115200 baud about 12 bytes arrive per
/// millisecond, fewer than the PL011's 16-byte receive FIFO holds, so nothing is lost between looks.
const IDLE_POLL_MS: u64 = 1;

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
    let mut editor = LineEditor::<MAX_LINE>::new();
    print!("{}", protocol::PROMPT);
    loop {
        let byte = read_byte();
        let input = console::with_uart(|uart| {
            editor.feed(byte, &mut |echo: &[u8]| echo.iter().for_each(|&b| uart.write_byte(b)))
        });
        let Some(Some(input)) = input else { continue };
        match input {
            Input::Line(line) => commands::execute(line),
            Input::Cancelled => {}
            Input::TooLong => println!("error: line too long (at most {MAX_LINE} characters)"),
        }
        print!("{}", protocol::PROMPT);
    }
}
