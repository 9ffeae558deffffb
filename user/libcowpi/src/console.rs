//! Console output: `WRITE` to file descriptor 1, and the [`print!`](crate::print) and
//! [`println!`](crate::println) macros.
//!
//! Each `print!` formats into a small buffer on the stack and hands it to the kernel in as few `WRITE`s
//! as possible, usually one. That matters when tasks run side by side: a line written in one call cannot
//! be split by another task's output, whereas formatting piece by piece would interleave mid-line.

use core::fmt::{self, Write};

use cowpi_abi::request::CONSOLE_FD;
use cowpi_abi::{Error, Syscall};

use crate::syscall;

/// Writes `bytes` to the console with one `WRITE`, returning how many it took.
pub fn write(bytes: &[u8]) -> Result<usize, Error> {
    let args = [CONSOLE_FD, bytes.as_ptr() as u64, bytes.len() as u64, 0, 0, 0];
    // SAFETY: WRITE only reads the buffer, which is a live slice of ours.
    let written = unsafe { syscall::call(Syscall::Write, args)? };
    // Lossless: the kernel never reports more than it was given.
    Ok(written as usize)
}

/// Writes all of `bytes`, however many `WRITE`s that takes.
pub fn write_all(mut bytes: &[u8]) -> Result<(), Error> {
    while !bytes.is_empty() {
        let written = write(bytes)?;
        // A console that takes nothing would make this loop forever; the ABI says it takes everything.
        bytes = bytes.get(written.max(1)..).unwrap_or_default();
    }
    Ok(())
}

/// Collects formatted text and writes it in as few calls as possible.
struct LineBuffer {
    bytes: [u8; LineBuffer::CAPACITY],
    len: usize,
}

impl LineBuffer {
    /// Enough for any ordinary line; a longer one goes out in several `WRITE`s.
    const CAPACITY: usize = 256;

    const fn new() -> LineBuffer {
        LineBuffer { bytes: [0; LineBuffer::CAPACITY], len: 0 }
    }

    fn flush(&mut self) -> fmt::Result {
        let result = write_all(&self.bytes[..self.len]).map_err(|_| fmt::Error);
        self.len = 0;
        result
    }
}

impl Write for LineBuffer {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            if self.len == LineBuffer::CAPACITY {
                self.flush()?;
            }
            self.bytes[self.len] = byte;
            self.len += 1;
        }
        Ok(())
    }
}

/// What [`print!`] and [`println!`] expand to. Output errors are dropped: there is nowhere to report them.
#[doc(hidden)]
pub fn print_fmt(args: fmt::Arguments) {
    let mut buffer = LineBuffer::new();
    let _ = buffer.write_fmt(args);
    let _ = buffer.flush();
}

/// Prints to the console, like `std`'s `print!`.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print_fmt(format_args!($($arg)*)) };
}

/// Prints a line to the console, like `std`'s `println!`.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::print_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}
