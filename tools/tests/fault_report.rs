//! A user task's fault report, read off the real shell: `cargo run` boots the kernel, a person types
//! `run fault <kind>`, and the one line the kernel prints must name the act plainly and be what the
//! README's transcript shows.
//!
//! The test boots the built debug kernel on raspi3b, as `cargo run` does, with the serial line on pipes,
//! types at the prompt and reads what comes back. Without the kernel or QEMU it says why and checks
//! nothing.

use std::io::Write;
use std::process::{Child, ChildStdin, Command};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use cowpi_console::protocol::PROMPT;

#[path = "support/kernel_run.rs"]
mod kernel_run;

use kernel_run::{SerialQemu, kernel_copy, qemu_installed, serial_qemu, workspace};

/// The longest any one answer may take to arrive, on a loaded machine.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The kernel's shell on a pipe.
struct Shell {
    child: Child,
    stdin: ChildStdin,
    output: Arc<(Mutex<Vec<u8>>, Condvar)>,
    /// How much of `output` has been read.
    read: usize,
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Shell {
    /// Boots raspi3b (what `cargo run` boots) with its serial line on pipes, and waits for the prompt.
    fn boot(test: &str) -> Option<Shell> {
        if !qemu_installed() {
            return None;
        }
        let (dir, elf) = kernel_copy(test)?;
        let image = dir.join("kernel8.img");
        let made =
            Command::new(env!("CARGO_BIN_EXE_cowpi")).arg(&elf).args(["image", "-o"]).arg(&image).output();
        let made = made.expect("cowpi starts");
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        // The serial line alone on stdio, as the test runner has it: `cargo run` also puts QEMU's monitor
        // there, which only changes what Ctrl-A does.
        let SerialQemu { child, stdin, output } = serial_qemu("raspi3b", &image);
        let mut shell = Shell { child, stdin, output, read: 0 };
        shell.until_prompt("the first prompt");
        Some(shell)
    }

    /// Waits for the next prompt and returns the lines before it, without their `\r`.
    fn until_prompt(&mut self, what: &str) -> Vec<String> {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let (lock, arrived) = &*self.output;
        let mut output = lock.lock().unwrap();
        loop {
            let unread = &output[self.read..];
            if let Some(at) = unread.windows(PROMPT.len()).position(|bytes| bytes == PROMPT.as_bytes()) {
                let text = String::from_utf8_lossy(&unread[..at]);
                let lines = text.lines().map(|line| line.replace('\r', "")).collect();
                self.read += at + PROMPT.len();
                return lines;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no prompt after {what} within {} s: {}",
                ANSWER_TIMEOUT.as_secs(),
                String::from_utf8_lossy(unread)
            );
            output = arrived.wait_timeout(output, left).unwrap().0;
        }
    }

    /// Types `line` and returns what the shell printed for it (its echo first).
    fn command(&mut self, line: &str) -> Vec<String> {
        self.stdin.write_all(format!("{line}\r").as_bytes()).unwrap();
        self.stdin.flush().unwrap();
        self.until_prompt(line)
    }
}

/// `line` with every `task <number>` made `task N`: task numbers depend on what ran before.
fn without_task_numbers(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("task ") {
        out.push_str(&rest[..at + 5]);
        rest = &rest[at + 5..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push('N');
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    // The pc depends on how the user program was built (it differs between clones): not compared.
    match out.find("(pc 0x") {
        Some(at) => {
            let end = out[at + 6..].find(|c: char| !c.is_ascii_hexdigit()).map_or(out.len(), |n| at + 6 + n);
            format!("{}(pc N{}", &out[..at], &out[end..])
        }
        None => out,
    }
}

/// The lines the README's transcript shows after `cowpi> <command>`, up to the next prompt.
fn readme_answer(command: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let typed = format!("{PROMPT}{command}");
    let mut lines = readme.lines().skip_while(|line| *line != typed);
    assert!(lines.next().is_some(), "the README shows no `{typed}`");
    lines.take_while(|line| !line.starts_with(PROMPT) && !line.starts_with("```")).map(String::from).collect()
}

#[test]
fn the_readme_shows_the_fault_report_the_shell_prints() {
    let Some(mut shell) = Shell::boot("fault_report_readme") else { return };
    let command = "run fault kernel-write";
    let said = shell.command(command);
    assert_eq!(said.first().map(String::as_str), Some(command), "the echo");
    let said: Vec<String> = said[1..].iter().map(|line| without_task_numbers(line)).collect();
    let shown: Vec<String> = readme_answer(command).iter().map(|line| without_task_numbers(line)).collect();
    assert_eq!(said, shown, "the README's transcript differs from the shell");
}

#[test]
fn an_undefined_instruction_is_named_with_its_word() {
    let Some(mut shell) = Shell::boot("fault_report_undefined") else { return };
    let said = shell.command("run fault undefined");
    let report = said.iter().find(|line| line.contains(" killed: ")).expect("a kill report");
    // `udf #0` is the word 0; the report gives it, then where, then the decoded syndrome.
    let (head, tail) = report.split_once(" killed: ").unwrap();
    assert!(head.starts_with("task ") && head.ends_with(" (fault)"), "{report}");
    let rest =
        tail.strip_prefix("illegal instruction: undefined instruction 0x00000000 at 0x").expect(report);
    let (address, rest) = rest.split_once(" (pc 0x").expect(report);
    let (pc, syndrome) = rest.split_once("; ").expect(report);
    assert_eq!(address, pc, "the address of an undefined instruction is its pc: {report}");
    assert_eq!(syndrome, "unknown reason (EC 0x00))", "{report}");
    assert!(
        said.iter().any(|line| line.ends_with("): killed by illegal instruction (signal 4)")),
        "{said:?}"
    );
}
