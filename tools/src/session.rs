//! One boot's conversation with cowpi's shell: what the board said, in lines, and typing to it.
//!
//! A [`Session`] sits between the raw [`Transport`] and the test driver. It splits output into lines (and
//! the prompt), keeps every line since the boot as the serial log shown for a failure, and types commands
//! the way a careful person would: one character at a time, each only after the previous one came back as
//! echo. A real Pi's UART has a 16-byte FIFO and the kernel reads it by polling, so bytes sent in a burst
//! can be lost; waiting for the echo also proves the shell is alive before a test is started.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::lines::{LineSplitter, Piece};
use crate::transport::{Received, Transport};

/// The next thing heard from the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    Line(String),
    Prompt,
    /// The deadline passed first.
    Timeout,
    /// The board is gone; the text says why.
    Closed(String),
}

/// Why a command could not be typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypingError {
    /// A character was not echoed in time: the shell is not listening (or the kernel stopped).
    NoEcho { byte: u8, waited: Duration },
    /// The board is gone; the text says why.
    Closed(String),
}

impl fmt::Display for TypingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypingError::NoEcho { byte, waited } => write!(
                f,
                "the shell did not echo the typed {:?} within {} ms",
                char::from(*byte),
                waited.as_millis()
            ),
            TypingError::Closed(why) => f.write_str(why),
        }
    }
}

/// The conversation with one boot of the board.
pub struct Session<'t> {
    transport: &'t mut dyn Transport,
    splitter: LineSplitter,
    /// Pieces received but not yet handed out (typing reads ahead while it waits for echo).
    pending: VecDeque<Piece>,
    /// Every complete line since the last boot.
    log: Vec<String>,
}

impl<'t> Session<'t> {
    pub fn new(transport: &'t mut dyn Transport) -> Self {
        Session { transport, splitter: LineSplitter::default(), pending: VecDeque::new(), log: Vec::new() }
    }

    /// Boots the board afresh and forgets the previous boot's output.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.splitter.reset();
        self.pending.clear();
        self.log.clear();
        self.transport.restart()
    }

    /// Starts a new serial log without restarting the board, for a boot the kernel does by itself
    /// (`reboot`): the lines already handed out belong to the old boot. Lines received but not handed out
    /// yet stay, as the first lines of the new log, so it shows the command that rebooted the kernel.
    pub fn start_new_log(&mut self) {
        self.log = self
            .pending
            .iter()
            .filter_map(|piece| match piece {
                Piece::Line(line) => Some(line.clone()),
                Piece::Prompt => None,
            })
            .collect();
    }

    /// Stops the board for good.
    pub fn stop(&mut self) {
        self.transport.stop();
    }

    /// Waits until `deadline` for the next line or prompt.
    pub fn next(&mut self, deadline: Instant) -> Heard {
        loop {
            match self.pending.pop_front() {
                Some(Piece::Line(line)) => return Heard::Line(line),
                Some(Piece::Prompt) => return Heard::Prompt,
                None => {}
            }
            match self.transport.receive(deadline) {
                Received::Data(bytes) => self.take(&bytes),
                Received::Timeout => return Heard::Timeout,
                Received::Closed(why) => return Heard::Closed(why),
            }
        }
    }

    /// Types `command` and Enter, each character after the echo of the previous one.
    pub fn type_command(&mut self, command: &str, echo_timeout: Duration) -> Result<(), TypingError> {
        for &byte in command.as_bytes().iter().chain(b"\r") {
            self.transport.send(&[byte]).map_err(|e| TypingError::Closed(format!("{e:#}")))?;
            // The shell answers Enter with "\r\n"; the newline is the sure sign the line was taken.
            let echo = if byte == b'\r' { b'\n' } else { byte };
            let deadline = Instant::now() + echo_timeout;
            loop {
                match self.transport.receive(deadline) {
                    Received::Data(bytes) => {
                        self.take(&bytes);
                        if bytes.contains(&echo) {
                            break;
                        }
                    }
                    Received::Timeout => {
                        return Err(TypingError::NoEcho { byte, waited: echo_timeout });
                    }
                    Received::Closed(why) => return Err(TypingError::Closed(why)),
                }
            }
        }
        Ok(())
    }

    /// Sends `bytes` as they are, without waiting for echo: for the upload's chunk lines, which the kernel
    /// does not echo (it acknowledges each whole line instead, which paces the host just as well).
    pub fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.transport.send(bytes)
    }

    /// How many complete lines this boot has produced so far.
    pub fn log_len(&self) -> usize {
        self.log.len()
    }

    /// The complete lines of this boot from index `start` on.
    pub fn lines_from(&self, start: usize) -> &[String] {
        &self.log[start.min(self.log.len())..]
    }

    /// The serial log from line `start` on, for a failure report: the complete lines plus whatever the
    /// unfinished last line holds (a kernel that stops mid-line still shows what it printed).
    pub fn log_from(&self, start: usize) -> Vec<String> {
        let mut log = self.lines_from(start).to_vec();
        let partial = self.splitter.partial();
        if !partial.is_empty() {
            log.push(partial);
        }
        log
    }

    fn take(&mut self, bytes: &[u8]) {
        for piece in self.splitter.push(bytes) {
            if let Piece::Line(line) = &piece {
                self.log.push(line.clone());
            }
            self.pending.push_back(piece);
        }
    }
}
