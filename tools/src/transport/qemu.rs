//! The board as a QEMU process whose serial port is its stdin and stdout.
//!
//! Pipes are enough: QEMU's `-serial stdio` reads stdin only when the emulated PL011 can take a byte, so
//! typed characters wait in the pipe rather than being dropped. A thread copies QEMU's stdout into a
//! channel so reads can have deadlines, and another keeps its stderr, which explains an early exit
//! (a bad `-kernel` path, an unknown machine). Restarting means killing the process and starting a new
//! one; every kill waits for the process to be gone, so no QEMU outlives the run.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use super::{Received, Transport};
use crate::qemu;

/// How long QEMU may take to exit after closing its stdout before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// A running QEMU and the threads reading it.
struct Instance {
    child: Child,
    stdin: ChildStdin,
    output: Receiver<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
}

/// Builds the QEMU command line for a machine and an image (one of the `crate::qemu` builders).
pub type CommandLine = fn(&str, &Path) -> Command;

/// One emulated board, started on demand.
pub struct QemuBoard {
    machine: String,
    image: PathBuf,
    command_line: CommandLine,
    instance: Option<Instance>,
    /// Why the last instance ended, once it has (repeated for every later read).
    ended: Option<String>,
}

impl QemuBoard {
    /// A board of QEMU machine `machine` booting the raw `image`; nothing runs until the first restart.
    pub fn new(machine: &str, image: PathBuf) -> QemuBoard {
        QemuBoard::with_command_line(machine, image, qemu::test_command)
    }

    /// Like [`QemuBoard::new`], but QEMU is started with `command_line` (the benchmarks' virtual clock).
    pub fn with_command_line(machine: &str, image: PathBuf, command_line: CommandLine) -> QemuBoard {
        QemuBoard { machine: machine.to_owned(), image, command_line, instance: None, ended: None }
    }

    /// Kills the running QEMU, if any, and waits until it is gone.
    fn kill(&mut self) {
        if let Some(mut instance) = self.instance.take() {
            // Errors mean it already exited; `wait` reaps it either way.
            let _ = instance.child.kill();
            let _ = instance.child.wait();
        }
    }

    /// QEMU closed its stdout: collect its exit status and what it said on stderr.
    fn reap(&mut self) -> String {
        let Some(mut instance) = self.instance.take() else {
            return "QEMU is not running".to_owned();
        };
        let deadline = Instant::now() + EXIT_GRACE;
        let status = loop {
            match instance.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = instance.child.kill();
                    let _ = instance.child.wait();
                    break None;
                }
            }
        };
        let stderr = instance.stderr.join().unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr);
        let said = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" / ");
        let mut why = match status {
            Some(status) => format!("QEMU exited ({status})"),
            None => "QEMU closed its output and was killed".to_owned(),
        };
        if !said.is_empty() {
            why.push_str(&format!(", saying: {said}"));
        }
        why
    }
}

impl Transport for QemuBoard {
    fn restart(&mut self) -> Result<()> {
        self.kill();
        self.ended = None;
        let mut child = (self.command_line)(&self.machine, &self.image)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", qemu::PROGRAM))?;
        let (stdin, stdout, stderr) = match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
            (Some(stdin), Some(stdout), Some(stderr)) => (stdin, stdout, stderr),
            _ => bail!("QEMU's standard streams could not be captured"),
        };
        let (sender, output) = mpsc::channel();
        thread::spawn(move || copy_to_channel(stdout, sender));
        let stderr = thread::spawn(move || {
            let (mut stderr, mut text) = (stderr, Vec::new());
            // What arrived before an error is still worth showing; the error itself is not.
            let _ = stderr.read_to_end(&mut text);
            text
        });
        self.instance = Some(Instance { child, stdin, output, stderr });
        Ok(())
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let instance = self.instance.as_mut().ok_or_else(|| anyhow!("QEMU is not running"))?;
        instance
            .stdin
            .write_all(bytes)
            .and_then(|()| instance.stdin.flush())
            .context("QEMU stopped reading its input")
    }

    fn receive(&mut self, deadline: Instant) -> Received {
        if let Some(why) = &self.ended {
            return Received::Closed(why.clone());
        }
        let Some(instance) = &self.instance else {
            return Received::Closed("QEMU is not running".to_owned());
        };
        match instance.output.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(bytes) => Received::Data(bytes),
            Err(RecvTimeoutError::Timeout) => Received::Timeout,
            Err(RecvTimeoutError::Disconnected) => {
                let why = self.reap();
                self.ended = Some(why.clone());
                Received::Closed(why)
            }
        }
    }

    fn stop(&mut self) {
        self.kill();
    }
}

impl Drop for QemuBoard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Forwards everything read from `source` until it ends; dropping the sender tells the reader.
fn copy_to_channel(mut source: impl Read, sender: mpsc::Sender<Vec<u8>>) {
    let mut buffer = [0; 4096];
    loop {
        match source.read(&mut buffer) {
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if sender.send(buffer[..n].to_vec()).is_err() {
                    return;
                }
            }
        }
    }
}
