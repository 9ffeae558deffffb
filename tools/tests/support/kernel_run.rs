//! The real kernel for the end-to-end tests that need one (`bench.rs`, `fuzz.rs`, `bad_input.rs`,
//! `upload.rs`, `fault_report.rs`): the built debug kernel and QEMU, or a note why a test checks nothing
//! without them; a private copy of the kernel, and `cowpi` run on it with its output in files and a time
//! limit; or QEMU booting a raw image with its serial line on pipes.
//!
//! Each test file uses part of it.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The debug kernel `cargo build` makes, or `None` (and a note why) if it is not built.
pub fn built_kernel() -> Option<PathBuf> {
    let kernel = workspace().join("target/aarch64-unknown-none/debug/cowpi");
    if !kernel.is_file() {
        eprintln!("skipped: the kernel is not built ({} is missing; run `cargo build`)", kernel.display());
        return None;
    }
    Some(kernel)
}

/// Whether QEMU is installed; a note says so if not.
pub fn qemu_installed() -> bool {
    let found = Command::new("qemu-system-aarch64").arg("--version").output().is_ok();
    if !found {
        eprintln!("skipped: qemu-system-aarch64 is not installed (tools/setup.sh installs it)");
    }
    found
}

/// A fresh folder `<test tmp>/<name>` holding a private copy of the debug kernel, so its kernel8.img is
/// the test's own, in a subfolder named `debug` as cargo's is; `None` (and a note why) if the kernel is
/// not built.
pub fn kernel_copy(name: &str) -> Option<(PathBuf, PathBuf)> {
    let kernel = built_kernel()?;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    let elf = dir.join("debug").join("cowpi");
    fs::create_dir_all(elf.parent().unwrap()).unwrap();
    fs::copy(&kernel, &elf).unwrap();
    Some((dir, elf))
}

/// Runs `cowpi <elf> <args>` in `dir` with at most `timeout`, and returns its status, stdout and stderr.
/// Output goes to files, not pipes, so a long run cannot block on a full pipe.
pub fn run_cowpi(dir: &Path, elf: &Path, args: &[&str], timeout: Duration) -> (ExitStatus, String, String) {
    let (stdout_path, stderr_path) = (dir.join("stdout.txt"), dir.join("stderr.txt"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_cowpi"));
    command
        .arg(elf)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).unwrap())
        .stderr(File::create(&stderr_path).unwrap());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let status = wait_bounded(command.spawn().expect("cowpi starts"), timeout);
    (status, fs::read_to_string(&stdout_path).unwrap(), fs::read_to_string(&stderr_path).unwrap())
}

/// Waits for `child` at most `timeout`; past it the child and everything it started (QEMU) are killed.
fn wait_bounded(mut child: Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("cowpi can be waited for") {
            return status;
        }
        if Instant::now() > deadline {
            // cowpi leads its own process group (see `process_group` above), so this reaches QEMU too.
            let _ = Command::new("kill").args(["-KILL", &format!("-{}", child.id())]).status();
            let _ = child.kill();
            let _ = child.wait();
            panic!("cowpi took longer than {} s", timeout.as_secs());
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// QEMU with its serial line on pipes: what is typed goes to `stdin`, and a reader thread appends all the
/// kernel prints to `output`, notifying its condition variable.
pub struct SerialQemu {
    pub child: Child,
    pub stdin: ChildStdin,
    pub output: Arc<(Mutex<Vec<u8>>, Condvar)>,
}

/// Boots the raw `image` on QEMU's `machine` with the serial line alone on stdio, as the test runner has
/// it (no monitor to intercept Ctrl-A bytes).
pub fn serial_qemu(machine: &str, image: &Path) -> SerialQemu {
    let mut child = Command::new("qemu-system-aarch64")
        .args(["-M", machine, "-kernel"])
        .arg(image)
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("QEMU starts");
    let stdin = child.stdin.take().expect("stdin is piped");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let output = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    let writer = Arc::clone(&output);
    thread::spawn(move || {
        let mut buffer = [0; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buffer) {
            writer.0.lock().unwrap().extend_from_slice(&buffer[..n]);
            writer.1.notify_all();
        }
    });
    SerialQemu { child, stdin, output }
}
