//! The connection to a board running cowpi: a byte pipe that can also make the board boot afresh.
//!
//! The test driver ([`crate::driver`]) only needs to restart the board, send bytes and receive bytes with a
//! deadline. QEMU ([`qemu`]) and a real Pi on a serial port ([`serial`]) implement that differently (kill
//! and respawn a process, or ask a person to press reset), and unit tests replay transcripts through
//! [`fake`] without any waiting. Keeping the trait this small is what lets one driver serve all three.

pub mod qemu;
pub mod serial;

#[cfg(test)]
pub mod fake;

use std::time::Instant;

/// What a wait for output produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Some bytes, in arrival order (any amount: reads do not follow line boundaries).
    Data(Vec<u8>),
    /// The deadline passed with nothing received.
    Timeout,
    /// The board is gone (QEMU exited, the serial port failed); the text says why, as a full clause.
    Closed(String),
}

/// A board running cowpi, reached through its serial console.
pub trait Transport {
    /// Makes the board boot from scratch, so the next output is a fresh boot log; output of the previous
    /// boot that was not read yet is dropped. QEMU starts a new process; a real board asks the user to
    /// reset it.
    fn restart(&mut self) -> anyhow::Result<()>;

    /// Sends bytes to the board's serial input.
    fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()>;

    /// Waits until `deadline` for output.
    fn receive(&mut self, deadline: Instant) -> Received;

    /// Stops the board for good (QEMU is killed); the transport may be restarted afterwards.
    fn stop(&mut self);
}
