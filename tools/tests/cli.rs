//! The `cowpi` binary end to end: its one-line errors, and real QEMU runs.
//!
//! The QEMU tests boot a stub kernel made here: twelve hand-assembled AArch64 instructions that print a
//! message on raspi3b's PL011 and end QEMU through semihosting with a chosen exit status. That checks the
//! whole QEMU path (ELF to image, pipes, exit status, stderr) without depending on the real kernel, and
//! shows that QEMU exiting, even with status 0, is never taken for a pass. One more test drives the real
//! kernel's self-tests when it has been built. Tests that need QEMU say so and skip when it is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;

use common::elf_for;

/// The stub kernel's code; the exit block and the message follow it.
///
/// ```text
///     adr   x1, message          // +0x40
///     movz  x2, #0x3f20, lsl #16
///     movk  x2, #0x1000          // x2 = raspi3b's PL011 data register, 0x3f20_1000
/// 1:  ldrb  w3, [x1], #1
///     cbz   w3, 2f
///     strb  w3, [x2]
///     b     1b
/// 2:  mov   x0, #0x18            // SYS_EXIT
///     adr   x1, exit_block       // +0x30: {ADP_Stopped_ApplicationExit, status}
///     hlt   #0xf000              // semihosting call
/// 3:  b     3b
///     nop                        // pads the code to 0x30
/// ```
const STUB_CODE: [u32; 12] = [
    0x1000_0201,
    0xd2a7_e402,
    0xf282_0002,
    0x3840_1423,
    0x3400_0063,
    0x3900_0043,
    0x17ff_fffd,
    0xd280_0300,
    0x1000_0081,
    0xd45e_0000,
    0x1400_0000,
    0xd503_201f,
];

/// ADP_Stopped_ApplicationExit: the semihosting reason that carries an exit status.
const APPLICATION_EXIT: u64 = 0x20026;

/// The raw image of a stub kernel that prints `message` and makes QEMU exit with `status`.
fn stub_image(message: &str, status: u64) -> Vec<u8> {
    let mut image: Vec<u8> = STUB_CODE.iter().flat_map(|word| word.to_le_bytes()).collect();
    image.extend(APPLICATION_EXIT.to_le_bytes());
    image.extend(status.to_le_bytes());
    image.extend(message.as_bytes());
    image.push(0);
    image
}

/// Writes `bytes` as `<test tmp>/<name>/kernel` and returns its path (each test its own folder, because
/// kernel8.img is written beside the ELF).
fn write_elf(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).expect("the test folder can be made");
    let path = dir.join("kernel");
    std::fs::write(&path, bytes).expect("the test ELF can be written");
    path
}

fn cowpi(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cowpi"));
    command.args(args).stdin(Stdio::null());
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("cowpi runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// Whether QEMU is here; if not, says why the calling test checks nothing.
fn have_qemu(test: &str) -> bool {
    let found = Command::new("qemu-system-aarch64").arg("--version").output().is_ok();
    if !found {
        eprintln!("{test}: skipped, qemu-system-aarch64 is not installed (tools/setup.sh installs it)");
    }
    found
}

#[test]
fn a_garbage_elf_is_one_clear_line() {
    let elf = write_elf("garbage", b"definitely not an ELF");
    let (output, _, stderr) = run(&mut cowpi(&[elf.to_str().unwrap(), "image"]));
    assert!(!output.status.success());
    assert_eq!(
        stderr,
        format!("cowpi: cannot make a raw image of {}: not a 64-bit ELF file\n", elf.display())
    );
}

#[test]
fn a_missing_elf_is_one_clear_line() {
    let (output, _, stderr) = run(&mut cowpi(&["/nonexistent/kernel", "image"]));
    assert!(!output.status.success());
    assert!(stderr.starts_with("cowpi: cannot read the kernel ELF /nonexistent/kernel: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn an_unknown_board_names_the_known_ones() {
    let elf = write_elf("unknown_board", &elf_for(&stub_image("", 0)));
    let (output, _, stderr) = run(&mut cowpi(&[elf.to_str().unwrap(), "--board", "raspi9"]));
    assert!(!output.status.success());
    assert_eq!(stderr, "cowpi: unknown board \"raspi9\"; known boards: raspi3b, raspi4b\n");
}

#[test]
fn without_qemu_the_message_says_how_to_get_it() {
    let elf = write_elf("no_qemu", &elf_for(&stub_image("", 0)));
    let empty = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no_qemu/empty_path");
    std::fs::create_dir_all(&empty).unwrap();
    let (output, _, stderr) = run(cowpi(&[elf.to_str().unwrap(), "test", "--no-host"]).env("PATH", &empty));
    assert!(!output.status.success());
    assert_eq!(
        stderr,
        "cowpi: QEMU >= 9 (qemu-system-aarch64) is needed; run tools/setup.sh to install it \
         (qemu-system-aarch64 was not found)\n"
    );
}

#[test]
fn the_image_command_writes_the_flat_image_beside_the_elf() {
    let image = stub_image("hello", 0);
    let elf = write_elf("image", &elf_for(&image));
    let (output, stdout, _) = run(&mut cowpi(&[elf.to_str().unwrap(), "image"]));
    assert!(output.status.success());
    let written = elf.with_file_name("kernel8.img");
    assert_eq!(std::fs::read(&written).unwrap(), image);
    assert!(stdout.contains("loaded at 0x80000"), "{stdout}");
}

#[test]
fn booting_interactively_exits_with_qemus_status() {
    if !have_qemu("booting_interactively_exits_with_qemus_status") {
        return;
    }
    let elf = write_elf("interactive", &elf_for(&stub_image("hello from the stub\r\n", 3)));
    let (output, stdout, _) = run(&mut cowpi(&[elf.to_str().unwrap()]));
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(stdout.contains("hello from the stub"), "{stdout}");
}

#[test]
fn qemu_exiting_after_the_ready_line_fails_the_board_with_its_status() {
    if !have_qemu("qemu_exiting_after_the_ready_line_fails_the_board_with_its_status") {
        return;
    }
    let elf = write_elf("exits_after_ready", &elf_for(&stub_image("cowpi: ready board=raspi3b\r\n", 3)));
    let (output, stdout, _) =
        run(&mut cowpi(&[elf.to_str().unwrap(), "test", "--no-host", "--board", "raspi3b"]));
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("---- raspi3b serial log ----\ncowpi: ready board=raspi3b\n"), "{stdout}");
    assert!(
        stdout
            .contains("error: raspi3b: QEMU exited (exit status: 3) before the prompt after the ready line"),
        "{stdout}"
    );
    assert!(stdout.ends_with("\n0 passed, 1 failed\n"), "{stdout}");
}

#[test]
fn qemu_exiting_with_status_0_is_not_a_pass() {
    if !have_qemu("qemu_exiting_with_status_0_is_not_a_pass") {
        return;
    }
    let elf = write_elf("exits_0", &elf_for(&stub_image("booting\r\n", 0)));
    let (output, stdout, _) =
        run(&mut cowpi(&[elf.to_str().unwrap(), "test", "--no-host", "--board", "raspi3b"]));
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("QEMU exited (exit status: 0) before the ready line"), "{stdout}");
    assert!(stdout.ends_with("\n0 passed, 1 failed\n"), "{stdout}");
}

#[test]
fn a_fatal_line_while_booting_is_reported_with_its_text() {
    if !have_qemu("a_fatal_line_while_booting_is_reported_with_its_text") {
        return;
    }
    let elf = write_elf("fatal", &elf_for(&stub_image("!!! kernel panic: stub\r\n", 0)));
    let (output, stdout, _) =
        run(&mut cowpi(&[elf.to_str().unwrap(), "test", "--no-host", "--board", "raspi3b"]));
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains("the kernel stopped before the ready line (\"cowpi: ready\"): kernel panic: stub"),
        "{stdout}"
    );
}

/// The real kernel's self-tests exist to fail in each way the runner must catch (FAILED, panic, hang):
/// all of them must come out "as expected" through real QEMU pipes.
#[test]
fn the_real_kernels_self_tests_meet_their_expectations() {
    let test = "the_real_kernels_self_tests_meet_their_expectations";
    let kernel = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/aarch64-unknown-none/debug/cowpi");
    if !kernel.is_file() {
        eprintln!(
            "{test}: skipped, the kernel is not built ({} is missing; run `cargo build`)",
            kernel.display()
        );
        return;
    }
    if !have_qemu(test) {
        return;
    }
    // A copy, so that the image written beside it cannot disturb a concurrent `cargo run`.
    let elf = write_elf("real_kernel", &std::fs::read(&kernel).unwrap());
    let (output, stdout, _) =
        run(&mut cowpi(&[elf.to_str().unwrap(), "test", "--no-host", "--board", "raspi3b", "selftest::"]));
    assert!(output.status.success(), "{stdout}");
    for outcome in ["ok (failed as expected)", "ok (panicked as expected)", "ok (hung as expected)"] {
        assert!(stdout.contains(outcome), "no test came out {outcome:?}:\n{stdout}");
    }
    assert!(stdout.trim_end().ends_with(" passed, 0 failed"), "{stdout}");
}
