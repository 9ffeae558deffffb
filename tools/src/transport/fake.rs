//! A scripted board for unit tests: it echoes what is typed and answers commands from a transcript.
//!
//! Each boot follows a [`Script`]: a banner printed at boot, then fixed replies to typed command lines.
//! Like the real kernel, every boot understands `reboot` (it prints `rebooting` and the board boots the
//! next script without a restart), and a [`Script::ready`] boot understands `info` (it describes a 1 GiB
//! board at EL1), unless the script has its own reply to them. Output is handed out in small chunks so lines and the prompt arrive
//! split across reads, as they do from a real UART. When nothing is left to say, [`Transport::receive`]
//! reports a timeout at once: a test of the hang path takes no time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use cowpi_console::protocol::PROMPT;

use super::{Received, Transport};

/// Bytes per read: small, so that lines, the prompt and echo arrive split.
const CHUNK: usize = 5;

/// What one boot of the fake kernel does.
#[derive(Debug, Clone)]
pub struct Script {
    banner: String,
    /// Ends the connection after the banner (QEMU exiting during boot).
    exit_after_banner: Option<String>,
    replies: Vec<Reply>,
    /// The answer to `info` when no reply is scripted for it.
    info: Option<String>,
    echo: bool,
}

/// A scripted answer to one command line.
#[derive(Debug, Clone)]
struct Reply {
    command: String,
    output: String,
    /// Why the board goes away after it, if it does.
    exit: Option<String>,
    /// Used once, then the next reply scripted for the command answers it.
    once: bool,
}

/// Kernel output lines followed by the prompt: the shell is back.
pub fn answer(lines: &[&str]) -> String {
    lines.iter().map(|line| format!("{line}\r\n")).collect::<String>() + PROMPT
}

/// What the kernel's `info` prints for a board (the fields the host checks, among others).
pub fn info_output(board: &str, exception_level: &str, ram_board_mib: u64, ram_usable_mib: u64) -> String {
    [
        format!("board: {board}"),
        "model: Raspberry Pi (revision code 0xa02082, board revision 1.2)".to_owned(),
        format!("exception_level: {exception_level}"),
        "cores_online: 4 of 4".to_owned(),
        format!("ram_board_mib: {ram_board_mib}"),
        "ram_arm_mib: 960 (the VideoCore keeps the rest of the first GiB)".to_owned(),
        format!("ram_usable_mib: {ram_usable_mib}"),
        "ram_range: 0x000000000..0x03c000000".to_owned(),
        "uptime: 0.500000 s".to_owned(),
    ]
    .iter()
    .map(|line| format!("{line}\r\n"))
    .collect::<String>()
        + "cowpi> "
}

impl Script {
    /// A boot that prints exactly `banner`.
    pub fn printing(banner: &str) -> Script {
        Script {
            banner: banner.to_owned(),
            exit_after_banner: None,
            replies: Vec::new(),
            info: None,
            echo: true,
        }
    }

    /// A normal boot: a log line, the ready line for `board`, and the prompt; `info` describes a healthy
    /// 1 GiB `board`.
    pub fn ready(board: &str) -> Script {
        let mut script =
            Script::printing(&format!("[0.000] cowpi booting\r\ncowpi: ready board={board}\r\ncowpi> "));
        script.info = Some(info_output(board, "EL1", 1024, 960));
        script
    }

    /// Answers the command line `command` with `output` (include the prompt if the shell comes back).
    pub fn reply(self, command: &str, output: &str) -> Script {
        self.add_reply(command, output, None, false)
    }

    /// Answers `command` with `output` the first time only; later it gets the next reply scripted for it.
    pub fn reply_once(self, command: &str, output: &str) -> Script {
        self.add_reply(command, output, None, true)
    }

    /// Answers `command` with `output`, then the board goes away, saying `why`.
    pub fn reply_then_exit(self, command: &str, output: &str, why: &str) -> Script {
        self.add_reply(command, output, Some(why), false)
    }

    fn add_reply(mut self, command: &str, output: &str, exit: Option<&str>, once: bool) -> Script {
        let (command, output, exit) = (command.to_owned(), output.to_owned(), exit.map(str::to_owned));
        self.replies.push(Reply { command, output, exit, once });
        self
    }

    /// After the banner the board goes away, saying `why`.
    pub fn exit_after_banner(mut self, why: &str) -> Script {
        self.exit_after_banner = Some(why.to_owned());
        self
    }

    /// The shell does not echo typed characters.
    pub fn without_echo(mut self) -> Script {
        self.echo = false;
        self
    }
}

/// A fake board; each restart runs the next script.
#[derive(Debug, Default)]
pub struct FakeBoard {
    boots: VecDeque<Script>,
    running: Option<Script>,
    output: VecDeque<Vec<u8>>,
    closed: Option<String>,
    typed: Vec<u8>,
    /// Every command line the board received, in order, over all boots.
    pub commands: Vec<String>,
    /// How often the board was (re)started.
    pub restarts: usize,
    /// How often the kernel rebooted itself on `reboot`.
    pub reboots: usize,
    /// Whether the driver stopped the board at the end.
    pub stopped: bool,
    /// For each wait that timed out, how long the caller was prepared to wait: shows which time limit
    /// applied, since nothing here really waits.
    pub timed_out_waits: Vec<Duration>,
}

impl FakeBoard {
    /// A board that boots with each script in turn.
    pub fn new(boots: impl IntoIterator<Item = Script>) -> FakeBoard {
        FakeBoard { boots: boots.into_iter().collect(), ..FakeBoard::default() }
    }

    fn print(&mut self, text: &str) {
        self.output.extend(text.as_bytes().chunks(CHUNK).map(<[u8]>::to_vec));
    }

    /// Starts the next script's boot (after any output still queued, as a reset does not unsend bytes).
    fn boot_next(&mut self) -> Result<()> {
        self.running = None;
        let script = self.boots.pop_front().ok_or_else(|| anyhow!("the fake board has no boot left"))?;
        self.print(&script.banner.clone());
        self.closed = script.exit_after_banner.clone();
        self.running = Some(script);
        Ok(())
    }

    fn take_command(&mut self) {
        let command = String::from_utf8_lossy(&self.typed).into_owned();
        self.typed.clear();
        self.commands.push(command.clone());
        let Some(script) = &mut self.running else { return };
        if let Some(index) = script.replies.iter().position(|reply| reply.command == command) {
            let reply = if script.replies[index].once {
                script.replies.remove(index)
            } else {
                script.replies[index].clone()
            };
            self.print(&reply.output);
            self.closed = reply.exit;
        } else if let (Some(info), "info") = (&script.info, command.as_str()) {
            let info = info.clone();
            self.print(&info);
        } else if command == "reboot" {
            self.print("rebooting\r\n");
            self.reboots += 1;
            // With no boot left the board stays silent, like a watchdog reset that never comes back.
            let _ = self.boot_next();
        } else {
            self.print(&format!("unknown command: {command}\r\ncowpi> "));
        }
    }
}

impl Transport for FakeBoard {
    fn restart(&mut self) -> Result<()> {
        self.restarts += 1;
        self.output.clear();
        self.typed.clear();
        self.closed = None;
        self.stopped = false;
        self.boot_next()
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        if let Some(why) = &self.closed {
            return Err(anyhow!("{why}"));
        }
        let echo = self.running.as_ref().is_some_and(|s| s.echo);
        for &byte in bytes {
            if byte == b'\r' {
                if echo {
                    self.print("\r\n");
                }
                self.take_command();
            } else {
                if echo {
                    self.output.push_back(vec![byte]);
                }
                self.typed.push(byte);
            }
        }
        Ok(())
    }

    fn receive(&mut self, deadline: Instant) -> Received {
        match (self.output.pop_front(), &self.closed) {
            (Some(chunk), _) => Received::Data(chunk),
            (None, Some(why)) => Received::Closed(why.clone()),
            (None, None) => {
                self.timed_out_waits.push(deadline.saturating_duration_since(Instant::now()));
                Received::Timeout
            }
        }
    }

    fn stop(&mut self) {
        self.running = None;
        self.stopped = true;
    }
}
