//! `cowpi upload` against the real kernel in QEMU, and the test runner's `--serial` path against QEMU
//! behind a pseudo-terminal, so the code that drives a real Pi's serial port runs in CI too.
//!
//! Every test needs the built kernel (`cargo build`), its user programs and QEMU; without them it says
//! why and checks nothing. Each run is bounded by a timeout and QEMU is killed at the end either way.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

#[path = "support/kernel_run.rs"]
mod kernel_run;

use kernel_run::{built_kernel, qemu_installed, workspace};

/// The longest any one cowpi run here may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A private copy of the built kernel in `<test tmp>/<test>/` (kernel8.img is written beside it), or
/// `None` with the reason printed when something the test needs is missing.
fn kernel_copy(test: &str) -> Option<PathBuf> {
    let kernel = built_kernel()?;
    if !qemu_installed() {
        return None;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("kernel");
    std::fs::copy(&kernel, &copy).unwrap();
    Some(copy)
}

/// The user program `name` as the kernel build left it, or `None` with the reason printed.
fn user_program(test: &str, name: &str) -> Option<PathBuf> {
    let path = workspace().join("target/user/aarch64-unknown-none/release").join(name);
    if !path.is_file() {
        eprintln!("{test}: skipped, {} is missing (the kernel build makes it)", path.display());
        return None;
    }
    Some(path)
}

/// Waits for `child` at most `timeout`, killing it if it takes longer.
fn finish(mut child: Child, timeout: Duration) -> (Output, String, String) {
    let deadline = Instant::now() + timeout;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

fn cowpi(args: &[&std::ffi::OsStr]) -> (Output, String, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_cowpi"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cowpi starts");
    finish(child, RUN_TIMEOUT)
}

#[test]
fn an_uploaded_program_runs_and_its_exit_status_is_shown() {
    let test = "an_uploaded_program_runs_and_its_exit_status_is_shown";
    let (Some(kernel), Some(hello)) = (kernel_copy(test), user_program(test, "hello")) else { return };
    let (output, stdout, stderr) =
        cowpi(&[kernel.as_os_str(), "upload".as_ref(), hello.as_os_str(), "one".as_ref(), "two".as_ref()]);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("args: \"one two\""), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("hello (task ") && l.ends_with("): exited with 0")),
        "{stdout}"
    );
}

#[test]
fn every_argument_the_line_has_room_for_reaches_the_uploaded_program() {
    let test = "every_argument_the_line_has_room_for_reaches_the_uploaded_program";
    let (Some(kernel), Some(hello)) = (kernel_copy(test), user_program(test, "hello")) else { return };
    // Twelve arguments: the shell once split a line into at most 8 words, so `upload` lost all but four.
    let words: Vec<String> = (1..=12).map(|n| format!("w{n}")).collect();
    let mut args: Vec<&std::ffi::OsStr> = vec![kernel.as_os_str(), "upload".as_ref(), hello.as_os_str()];
    args.extend(words.iter().map(std::ffi::OsStr::new));
    let (output, stdout, stderr) = cowpi(&args);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("args: \"{}\"", words.join(" "))), "{stdout}");
}

#[test]
fn a_corrupt_chunk_is_refused_then_resent() {
    let test = "a_corrupt_chunk_is_refused_then_resent";
    let (Some(kernel), Some(hello)) = (kernel_copy(test), user_program(test, "hello")) else { return };
    let (output, stdout, stderr) = cowpi(&[
        kernel.as_os_str(),
        "upload".as_ref(),
        hello.as_os_str(),
        "--corrupt-chunk".as_ref(),
        "3".as_ref(),
    ]);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("chunk 3 was refused (checksum mismatch); sending it again"), "{stderr}");
    assert!(stdout.contains("exited with 0"), "{stdout}");
}

#[test]
fn a_malformed_elf_gets_a_clear_error() {
    let test = "a_malformed_elf_gets_a_clear_error";
    let Some(kernel) = kernel_copy(test) else { return };
    let junk = kernel.with_file_name("junk");
    std::fs::write(&junk, [0x5a_u8; 1000]).unwrap();
    let (output, stdout, stderr) = cowpi(&[kernel.as_os_str(), "upload".as_ref(), junk.as_os_str()]);
    assert!(!output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("cowpi: the kernel refused junk: not a program cowpi can run: not an ELF file"),
        "{stderr}"
    );
}

/// QEMU with its serial port on a new pseudo-terminal, stopped before the first instruction (output sent
/// to a pty no one has opened yet is dropped, so the ready line must wait for the runner); its monitor
/// on stdin lets the test start it.
struct PtyQemu {
    child: Child,
    pty: String,
}

impl PtyQemu {
    fn start(image: &Path) -> PtyQemu {
        let mut child = Command::new("qemu-system-aarch64")
            .args(["-M", "raspi3b", "-kernel"])
            .arg(image)
            .args(["-semihosting-config", "enable=on,target=native"])
            .args(["-display", "none", "-monitor", "stdio", "-serial", "pty", "-S"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("QEMU starts");
        // QEMU names the pty on its monitor (stdout here) or on stderr, depending on its version: read both,
        // each in a thread that goes on draining the pipe so QEMU never blocks on it.
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().map(|pipe| Box::new(pipe) as Box<dyn Read + Send>);
        let stderr = child.stderr.take().map(|pipe| Box::new(pipe) as Box<dyn Read + Send>);
        for pipe in [stdout, stderr].into_iter().flatten() {
            let sender = sender.clone();
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = sender.send(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut pty = None;
        while pty.is_none() {
            let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
                break;
            };
            pty = line
                .split("char device redirected to ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_owned);
        }
        let Some(pty) = pty else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("QEMU did not say within 10 s which pseudo-terminal it opened");
        };
        PtyQemu { child, pty }
    }

    /// Lets the stopped CPU run.
    fn cont(&mut self) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"cont\n").and_then(|()| stdin.flush()).expect("QEMU's monitor takes `cont`");
    }
}

impl Drop for PtyQemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_serial_runner_drives_the_kernel_tests_over_a_pty() {
    let test = "the_serial_runner_drives_the_kernel_tests_over_a_pty";
    let Some(kernel) = kernel_copy(test) else { return };
    let image = kernel.with_file_name("kernel8.img");
    let (output, _, stderr) =
        cowpi(&[kernel.as_os_str(), "image".as_ref(), "-o".as_ref(), image.as_os_str()]);
    assert!(output.status.success(), "{stderr}");

    let mut qemu = PtyQemu::start(&image);
    let runner = Command::new(env!("CARGO_BIN_EXE_cowpi"))
        .arg(&kernel)
        .args(["test", "--serial", &qemu.pty, "--boot-timeout", "20", "--timeout", "20", "shell::upload::"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cowpi starts");
    // The runner opens the port at once; give it a moment before the kernel prints its ready line.
    thread::sleep(Duration::from_millis(500));
    qemu.cont();
    let (output, stdout, stderr) = finish(runner, RUN_TIMEOUT);
    drop(qemu);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("a_received_program_runs"), "{stdout}");
    assert!(stdout.trim_end().ends_with("2 passed, 0 failed"), "{stdout}");
}
