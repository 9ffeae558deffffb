//! The board as a real Raspberry Pi on a serial port (a USB-to-TTL adapter on GPIO 14/15).
//!
//! The host cannot reset a Pi, so "restart" means asking the person at the desk to press reset (or
//! power-cycle it) and then waiting, with a long timeout, for the kernel's ready line. Output still in
//! flight from before is not flushed: only a fresh boot prints a ready line, so the driver's wait for it
//! already skips anything older (and a flush could race with, and lose, the new boot's first lines). A
//! thread reads the port into a channel so reads can have deadlines, as with QEMU.

use std::io::{ErrorKind, Read, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serialport::SerialPort;

use super::{Received, Transport};

/// How long one read of the port may block; the reader thread simply reads again.
const POLL: Duration = Duration::from_millis(100);

/// A Pi on a serial port.
pub struct SerialBoard {
    device: String,
    port: Box<dyn SerialPort>,
    input: Receiver<Result<Vec<u8>, String>>,
    restarts: usize,
    /// Why the port failed, once it has.
    ended: Option<String>,
}

impl SerialBoard {
    /// Opens `device` (like `/dev/ttyUSB0`) at `baud` bits per second, 8N1 without flow control.
    pub fn open(device: &str, baud: u32) -> Result<SerialBoard> {
        let port = serialport::new(device, baud)
            .timeout(POLL)
            .open()
            .with_context(|| format!("cannot open serial port {device}"))?;
        SerialBoard::with_port(device, port)
    }

    /// A board on an already open port; `device` names it in messages.
    pub fn with_port(device: &str, port: Box<dyn SerialPort>) -> Result<SerialBoard> {
        let reader = port.try_clone().with_context(|| format!("cannot read serial port {device}"))?;
        let (sender, input) = mpsc::channel();
        thread::spawn(move || read_port(reader, sender));
        Ok(SerialBoard { device: device.to_owned(), port, input, restarts: 0, ended: None })
    }
}

impl Transport for SerialBoard {
    fn restart(&mut self) -> Result<()> {
        self.restarts += 1;
        if self.restarts == 1 {
            eprintln!("waiting for cowpi's ready line on {}: reset or power-cycle the board", self.device);
        } else {
            eprintln!(
                "the kernel on {} has stopped or hangs: reset or power-cycle the board to go on",
                self.device
            );
        }
        Ok(())
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.port
            .write_all(bytes)
            .and_then(|()| self.port.flush())
            .with_context(|| format!("writing to {}", self.device))
    }

    fn receive(&mut self, deadline: Instant) -> Received {
        if let Some(why) = &self.ended {
            return Received::Closed(why.clone());
        }
        let why = match self.input.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Ok(bytes)) => return Received::Data(bytes),
            Err(RecvTimeoutError::Timeout) => return Received::Timeout,
            Ok(Err(why)) => why,
            Err(RecvTimeoutError::Disconnected) => format!("the reader of {} stopped", self.device),
        };
        self.ended = Some(why.clone());
        Received::Closed(why)
    }

    fn stop(&mut self) {}
}

/// Forwards what the port receives until the port fails or, at the next byte, nobody listens any more.
fn read_port(mut port: Box<dyn SerialPort>, sender: mpsc::Sender<Result<Vec<u8>, String>>) {
    let mut buffer = [0; 1024];
    loop {
        let message = match port.read(&mut buffer) {
            Ok(0) => continue,
            Ok(n) => Ok(buffer[..n].to_vec()),
            // The read timeout only keeps the port from blocking forever; nothing arrived.
            Err(error) if matches!(error.kind(), ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                continue;
            }
            Err(error) => Err(format!("the serial port failed: {error}")),
        };
        let failed = message.is_err();
        if sender.send(message).is_err() || failed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use serialport::TTYPort;

    use super::*;
    use crate::driver::{Plan, Timeouts, run_suite};
    use crate::info_check::{self, ExpectedRam};
    use crate::outcome::Verdict;
    use crate::transport::fake::{FakeBoard, Script};

    /// Plays `kernel` on the far end of a pseudo-terminal until `done`: bytes typed into the port reach
    /// it, and what it prints comes out of the port, through the same kernel driver as a real UART.
    fn serve(mut far_end: TTYPort, mut kernel: FakeBoard, done: Arc<AtomicBool>) {
        kernel.restart().expect("the script has a boot");
        let mut buffer = [0; 256];
        while !done.load(Ordering::Relaxed) {
            while let Received::Data(bytes) = kernel.receive(Instant::now()) {
                far_end.write_all(&bytes).expect("the pseudo-terminal takes output");
            }
            match far_end.read(&mut buffer) {
                Ok(n) => kernel.send(&buffer[..n]).expect("the fake kernel takes input"),
                Err(error) if error.kind() == ErrorKind::TimedOut => {}
                Err(error) => panic!("pseudo-terminal failed: {error}"),
            }
        }
    }

    #[test]
    fn a_suite_runs_over_a_real_tty_and_the_board_names_itself() {
        let (far_end, near_end) = match TTYPort::pair() {
            Ok(pair) => pair,
            Err(error) => {
                eprintln!("skipped: this machine gives no pseudo-terminal ({error})");
                return;
            }
        };
        let list = "test-list: a pass\r\ntest-list: b fail\r\ntest-list-end: 2\r\ncowpi> ";
        let kernel = FakeBoard::new([Script::ready("raspi4b")
            .reply("test list", list)
            .reply("test run a", "test-begin: a\r\ntest-end: a ok\r\ncowpi> ")
            .reply("test run b", "test-begin: b\r\ntest-end: b FAILED as planned\r\ncowpi> ")]);
        let done = Arc::new(AtomicBool::new(false));
        let server = {
            let done = Arc::clone(&done);
            thread::spawn(move || serve(far_end, kernel, done))
        };

        let mut board = SerialBoard::with_port("pty", Box::new(near_end)).unwrap();
        let second = Duration::from_secs(1);
        let plan = Plan {
            expected_board: None,
            filter: None,
            ram: ExpectedRam::AnyPiModel,
            timeouts: Timeouts::new(5 * second, 5 * second, second),
        };
        let report = run_suite(&mut board, &plan, &mut Vec::new());
        done.store(true, Ordering::Relaxed);
        server.join().unwrap();

        assert!(report.failure.is_none(), "{:?}", report.failure);
        assert_eq!(report.board, "raspi4b");
        let verdicts: Vec<_> = report.tests.iter().map(|t| (t.name.as_str(), t.verdict.clone())).collect();
        assert_eq!(
            verdicts,
            [
                (info_check::NAME, Verdict::Ok("ok")),
                ("a", Verdict::Ok("ok")),
                ("b", Verdict::Ok("ok (failed as expected)"))
            ]
        );
    }
}
