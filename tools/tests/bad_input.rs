//! Bad input on the serial line, against the real kernel in QEMU on every board.
//!
//! The serial line is the only way into cowpi, so line noise, a confused terminal or a buggy host must
//! not hang the shell, stop the kernel or quietly eat the next command. Each test boots every board, feeds
//! its serial line seeded, reproducible bad input (random bytes, over-long lines, control characters and
//! escape sequences, bad `test` commands, bad uploads), checks the exact words of every answer, and then
//! checks that the kernel is still whole: `info` names the board, `audit` passes, and `mem` shows as many
//! free frames and as much heap in use as before.
//!
//! The shell's answers to noise are predicted byte for byte by running the kernel's own line editor
//! (`cowpi_console::line_editor`) and upload receiver over the same bytes here, so a single lost, extra or
//! garbled byte fails a test. Each test prints how many bytes of bad input it sent to each board.
//!
//! The tests need the built kernel (`cargo build`) and QEMU; without them they say why and check nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use cowpi_boards::Board;
use cowpi_console::line_editor::{Input, LineEditor};
use cowpi_console::protocol::{PROMPT, READY};
use cowpi_console::upload::{self, ChunkLine, Header, HeaderLine, Receiver, Reply, Step};
use proptest::prelude::Rng;
use proptest::test_runner::{RngAlgorithm, TestRng};

#[path = "support/kernel_run.rs"]
mod kernel_run;

use kernel_run::{SerialQemu, built_kernel, qemu_installed, serial_qemu};

/// The shell's line limit (`src/shell/mod.rs`).
const MAX_LINE: usize = 128;
/// The kernel's limit on the silence between two upload lines (`src/shell/upload.rs`).
const UPLOAD_LINE_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest any one answer may take to arrive, on a loaded machine.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// The shell's commands: noise that happens to type one would run it, so the model refuses such a seed.
const COMMANDS: [&str; 14] = [
    "help", "info", "mem", "programs", "run", "upload", "demo", "ksm", "ps", "audit", "test", "bench",
    "reboot", "poweroff",
];
const TOO_LONG: &str = "error: line too long (at most 128 characters)\r\n";

/// The kernel's raw image, written once for all the tests here, or `None` (and the reason printed) when
/// the kernel is not built or QEMU is missing.
fn kernel_image() -> Option<&'static Path> {
    static IMAGE: OnceLock<Option<PathBuf>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let kernel = built_kernel()?;
            if !qemu_installed() {
                return None;
            }
            let image = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad_input-kernel8.img");
            let output = Command::new(env!("CARGO_BIN_EXE_cowpi"))
                .arg(&kernel)
                .args(["image", "-o"])
                .arg(&image)
                .output()
                .expect("cowpi starts");
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            Some(image)
        })
        .as_deref()
}

/// Runs `scenario` on every board at once, each in a fresh QEMU, and prints the bad bytes each was sent.
fn on_every_board(test: &str, scenario: fn(&mut Shell)) {
    on_every_board_after(test, &[], scenario);
}

/// Like [`on_every_board`], with `early` bad bytes sent while the kernel boots, before the shell runs.
fn on_every_board_after(test: &str, early: &[u8], scenario: fn(&mut Shell)) {
    let Some(image) = kernel_image() else { return };
    let boards = cowpi_boards::load_all(&cowpi_boards::boards_dir()).expect("the board files parse");
    assert!(!boards.is_empty());
    thread::scope(|scope| {
        for board in &boards {
            scope.spawn(move || {
                let started = Instant::now();
                let mut shell = Shell::boot(board, image, early);
                // `info` and `audit` once first, so whatever they keep from their first run is in the baseline.
                shell.command(b"info", false);
                shell.command(b"audit", false);
                shell.baseline = Some(shell.health());
                scenario(&mut shell);
                shell.check_health("the end");
                // Straight to stdout, past the test harness's capture, so the figure shows in every run.
                let figure = format!(
                    "{test} on {}: {} bytes of bad input, every answer as expected, kernel whole ({:.1} s)\n",
                    board.name,
                    shell.bad_bytes,
                    started.elapsed().as_secs_f64()
                );
                std::io::stdout().write_all(figure.as_bytes()).expect("stdout takes the figure");
            });
        }
    });
}

/// What `mem` shows that bad input must leave as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Health {
    frames_free: u64,
    heap_allocated_bytes: u64,
}

/// A booted kernel's serial line, with a model of its line editor kept in step.
struct Shell {
    board: Board,
    child: Child,
    stdin: ChildStdin,
    /// Everything the kernel has written, appended by a reader thread.
    output: Arc<(Mutex<Vec<u8>>, Condvar)>,
    /// How much of `output` has been checked.
    checked: usize,
    /// The kernel's line editor as it should be now: every byte sent to the kernel goes through it too.
    editor: LineEditor<MAX_LINE>,
    bad_bytes: usize,
    baseline: Option<Health>,
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Shell {
    /// Starts QEMU, sends `early` as soon as the kernel prints, and checks the boot up to the prompt and
    /// the shell's answers to `early` (ended with Ctrl-C).
    fn boot(board: &Board, image: &Path, early: &[u8]) -> Shell {
        let SerialQemu { child, stdin, output } = serial_qemu(&board.qemu_machine, image);
        let mut shell = Shell {
            board: board.clone(),
            child,
            stdin,
            output,
            checked: 0,
            editor: LineEditor::new(),
            bad_bytes: 0,
            baseline: None,
        };
        let mut early_answers = Vec::new();
        if !early.is_empty() {
            // Once the kernel prints, its UART is set up: from then on nothing typed is lost, though the
            // shell reads it only later. (Setting the UART up drops what came before, as on a real board,
            // where the line runs at the firmware's settings until then.)
            shell.wait_for(|out| (!out.is_empty()).then_some(0), "the first output");
            early_answers = [shell_answers(&mut shell, early), shell_answers(&mut shell, b"\x03")].concat();
            shell.bad_bytes += early.len();
        }
        let ready = format!("{READY} board={}\r\n", board.name);
        shell.checked = shell.wait_for(|out| find(out, ready.as_bytes()), "the ready line");
        let banner = format!("Type 'help' for the commands.\r\n{PROMPT}");
        shell.expect(
            &[banner.as_bytes(), &early_answers].concat(),
            "the banner and the answers to early noise",
        );
        shell
    }

    /// Waits until `found` finds something in the unchecked output; returns what it returned.
    fn wait_for(&self, found: impl Fn(&[u8]) -> Option<usize>, what: &str) -> usize {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let (lock, arrived) = &*self.output;
        let mut output = lock.lock().unwrap();
        loop {
            if let Some(at) = found(&output[self.checked..]) {
                return at;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{}: no {what} within {} s; the last of the unchecked output: {}",
                self.board.name,
                ANSWER_TIMEOUT.as_secs(),
                shown(&output[output.len().saturating_sub(400).max(self.checked)..])
            );
            output = arrived.wait_timeout(output, left).unwrap().0;
        }
    }

    /// Sends bytes the kernel reads with its line editor, updating the model; returns what it echoes.
    fn type_bytes(&mut self, bytes: &[u8]) -> (Vec<u8>, Vec<Owned>) {
        let (inputs, echo) = feed(&mut self.editor, bytes, true);
        self.send(bytes);
        (echo, inputs)
    }

    /// Checks that the kernel's next output is exactly `expected`.
    fn expect(&mut self, expected: &[u8], what: &str) {
        let len = expected.len();
        // Waiting stops at the first byte that differs, so a wrong answer fails at once.
        let arrived = self.wait_for(
            |out| {
                let n = out.len().min(len);
                (n == len || out[..n] != expected[..n]).then_some(n)
            },
            what,
        );
        let output = self.output.0.lock().unwrap();
        let got = &output[self.checked..self.checked + arrived];
        let at = got.iter().zip(expected).position(|(a, b)| a != b).unwrap_or(arrived);
        if at < len {
            let from = at.saturating_sub(200);
            panic!(
                "{}: {what}: the kernel's output differs at byte {at} of {len}\n  expected: {}\n  received: {}",
                self.board.name,
                shown(&expected[from..(at + 200).min(len)]),
                shown(&got[from..(at + 200).min(arrived)])
            );
        }
        self.checked += len;
    }

    /// Sends noise to the shell's prompt and checks the shell answers exactly as the model says, then
    /// ends any half-typed line with Ctrl-C, as a person would, so the next command starts clean.
    fn noise(&mut self, bytes: &[u8], what: &str) {
        self.bad_bytes += bytes.len();
        let expected = [shell_answers(self, bytes), shell_answers(self, b"\x03")].concat();
        self.expect(&expected, what);
        self.check_health(what);
    }

    /// Types a command line with Enter (bad or not: `bad` counts it) and returns the lines it printed
    /// before the next prompt.
    fn command(&mut self, line: &[u8], bad: bool) -> Vec<String> {
        if bad {
            self.bad_bytes += line.len() + 1;
        }
        let (echo, inputs) = self.type_bytes(&[line, b"\r"].concat());
        assert_eq!(inputs.len(), 1, "one command line at a time: {}", shown(line));
        self.expect(&echo, "the echo of a command");
        self.answers_until_prompt()
    }

    /// Types a bad command line and checks the shell answers with exactly `answer`.
    fn refused(&mut self, line: &[u8], answer: &[&str]) {
        let said = self.command(line, true);
        assert_eq!(said, answer, "{}: the answer to {}", self.board.name, shown(line));
        self.check_health(&shown(line));
    }

    fn health(&mut self) -> Health {
        let mem = self.command(b"mem", false);
        let field = |name: &str| -> u64 {
            let prefix = format!("{name}: ");
            let line = mem.iter().find_map(|line| line.strip_prefix(&prefix));
            line.and_then(|value| value.parse().ok()).unwrap_or_else(|| panic!("no {name} in {mem:?}"))
        };
        Health { frames_free: field("frames_free"), heap_allocated_bytes: field("heap_allocated_bytes") }
    }

    /// `info` names the board at EL1 with its RAM, `audit` passes, and `mem` shows what it did at boot.
    fn check_health(&mut self, after: &str) {
        let name = self.board.name.clone();
        let info = self.command(b"info", false);
        for line in [
            format!("board: {name}"),
            "exception_level: EL1".into(),
            format!("ram_board_mib: {}", self.board.ram_mib),
        ] {
            assert!(info.contains(&line), "{name}: after {after}, `info` lacks `{line}`: {info:?}");
        }
        let audit = self.command(b"audit", false);
        assert_eq!(audit, ["audit: ok"], "{name}: after {after}");
        let health = self.health();
        assert_eq!(Some(&health), self.baseline.as_ref(), "{name}: after {after}, `mem` changed");
    }
}

/// An [`Input`] that outlives the editor's next byte.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Line(String),
    Cancelled,
    TooLong,
}

/// Feeds `bytes` to `editor`: every finished input, and the echo if `echoed` (upload lines are not).
fn feed(editor: &mut LineEditor<MAX_LINE>, bytes: &[u8], echoed: bool) -> (Vec<Owned>, Vec<u8>) {
    let mut inputs = Vec::new();
    let mut echo = Vec::new();
    for &byte in bytes {
        let input = editor.feed(byte, |bytes: &[u8]| {
            if echoed {
                echo.extend_from_slice(bytes)
            }
        });
        inputs.extend(input.map(|input| match input {
            Input::Line(line) => Owned::Line(line.to_owned()),
            Input::Cancelled => Owned::Cancelled,
            Input::TooLong => Owned::TooLong,
        }));
    }
    (inputs, echo)
}

/// Sends `bytes` to the shell's prompt and returns what the shell must print for them: the echo and, for
/// each finished line, its error and a new prompt. The bytes must never type a real command.
fn shell_answers(shell: &mut Shell, bytes: &[u8]) -> Vec<u8> {
    let mut expected = Vec::new();
    // One byte at a time, so each answer lands between the echo of the byte before and the one after.
    for &byte in bytes {
        let (echo, inputs) = shell.type_bytes(&[byte]);
        expected.extend_from_slice(&echo);
        for input in inputs {
            match input {
                Owned::Line(line) => {
                    if let Some(word) = line.split_whitespace().next() {
                        assert!(
                            !COMMANDS.contains(&word),
                            "the noise types the command `{line}`: change the seed"
                        );
                        let error = format!("error: unknown command '{word}'; type 'help' for the list\r\n");
                        expected.extend_from_slice(error.as_bytes());
                    }
                }
                Owned::Cancelled => {}
                Owned::TooLong => expected.extend_from_slice(TOO_LONG.as_bytes()),
            }
            expected.extend_from_slice(PROMPT.as_bytes());
        }
    }
    expected
}

/// Where `needle` ends in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle).map(|at| at + needle.len())
}

/// Where the first prompt at the start of a line ends.
fn find_prompt(output: &[u8]) -> Option<usize> {
    if output.starts_with(PROMPT.as_bytes()) {
        return Some(PROMPT.len());
    }
    find(output, format!("\n{PROMPT}").as_bytes())
}

/// Bytes as readable text, control characters escaped.
fn shown(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// A reproducible generator for the noise.
fn rng(seed: u8) -> TestRng {
    TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32])
}

fn random_bytes(rng: &mut TestRng, len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// Random printable characters, no spaces.
fn random_word(rng: &mut TestRng, len: usize) -> Vec<u8> {
    random_bytes(rng, len).into_iter().map(|b| b'!' + b % 94).collect()
}

#[test]
fn random_bytes_at_the_shell_are_answered_and_lose_nothing() {
    on_every_board("random_bytes", |shell| {
        let noise = random_bytes(&mut rng(1), 32 * 1024);
        assert!((0..=255).all(|value| noise.contains(&value)), "the noise holds every byte value");
        // In pieces, with a check after each, so a failure points near its cause.
        for (n, piece) in noise.chunks(4096).enumerate() {
            shell.noise(piece, &format!("random bytes, piece {n}"));
        }
    });
}

#[test]
fn random_bytes_during_the_boot_are_answered_once_the_shell_runs() {
    let noise = random_bytes(&mut rng(6), 4096);
    on_every_board_after("random_bytes_during_boot", &noise, |shell| {
        shell.check_health("random bytes during the boot")
    });
}

#[test]
fn over_long_lines_are_refused_whole() {
    on_every_board("over_long_lines", |shell| {
        let mut rng = rng(2);
        let longest = [&b"x"[..]; MAX_LINE].concat();
        shell.noise(&[&longest[..], b"\r"].concat(), "a line of exactly the limit");
        shell.noise(&[&longest[..], b"y\r"].concat(), "one character too many");
        let printable = random_word(&mut rng, 8 * 1024);
        shell.noise(&[&printable[..], b"\r"].concat(), "8 KiB on one line");
        let erased_back = [&longest[..], b"yz", &[0x7f; 10], b"\r"].concat();
        shell.noise(&erased_back, "too long, then erased back under the limit");
        let with_keys = [&longest[..60], b"\x1b[A\x1b[1;5C", &longest[60..], b"\x1bOPzz\r"].concat();
        shell.noise(&with_keys, "too long with cursor keys inside");
        shell.noise(&[&longest[..], b"abc\x15ok\r"].concat(), "too long, then Ctrl-U and a new line");
        shell.noise(&[&printable[..4000], b"\r\n"].concat(), "too long, CR LF");
    });
}

#[test]
fn control_characters_and_escape_sequences_are_handled() {
    on_every_board("control_characters", |shell| {
        let cases: [(&str, Vec<u8>); 19] = [
            ("NUL", b"ab\0\0\0cd\0\r".to_vec()),
            ("Ctrl-C", b"abc\x03def\r".to_vec()),
            ("Ctrl-D", b"\x04\x04xy\x04z\r\x04".to_vec()),
            ("Ctrl-U", b"abc\x15\x15def\x15ghi\r".to_vec()),
            ("ESC", b"ab\x1b\rcd\x1b\x1b\r".to_vec()),
            ("cursor keys", b"\x1b[A\x1b[B\x1b[C\x1b[Dkeys\x1bOA\x1bOD\r".to_vec()),
            ("a truncated CSI", b"csi\x1b[1;\rcut\x1b[\r".to_vec()),
            ("a garbage CSI", b"g\x1b[\xff\x00~h\x1b[99;\x80\x01x\r".to_vec()),
            ("a CSI parameter flood", [&b"p\x1b["[..], &[b';'; 3000], b"Aq\r"].concat()),
            ("backspaces at an empty line", [&[0x08u8; 600][..], b"bs\r"].concat()),
            ("DEL at an empty line", [&[0x7fu8; 600][..], b"del\x7f\x7f\x7f\x7fx\r"].concat()),
            ("bare CR", b"\r\r\rcr\r".to_vec()),
            ("CR LF", b"crlf\r\n\r\n".to_vec()),
            ("LF CR", b"lfcr\n\r\n\r".to_vec()),
            ("bare LF", b"\n\nlf\n".to_vec()),
            ("invalid UTF-8", b"u\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x90\x28\xbc\xc0\xafv\r".to_vec()),
            ("0xFF", [&[0xffu8; 500][..], b"ff\xff\r"].concat()),
            ("every control byte", (0..0x20).chain([0x7f]).collect::<Vec<u8>>()),
            ("every high byte", [(0x80..=0xff).collect::<Vec<u8>>(), b"hi\r".to_vec()].concat()),
        ];
        for (what, bytes) in cases {
            shell.noise(&bytes, what);
        }
    });
}

#[test]
fn bad_test_commands_get_clear_errors() {
    on_every_board("bad_test_commands", |shell| {
        let usage = ["usage: test list | test run <name>"];
        shell.refused(
            b"test run no::such_test",
            &["error: no test named 'no::such_test'; 'test list' lists them"],
        );
        let longest_name = "a".repeat(MAX_LINE - "test run ".len());
        let answer = format!("error: no test named '{longest_name}'; 'test list' lists them");
        shell.refused(format!("test run {longest_name}").as_bytes(), &[&answer]);
        shell.refused(format!("test run {longest_name}b").as_bytes(), &[TOO_LONG.trim_end()]);
        // The line editor keeps only printable ASCII, so the name that runs is the name on screen.
        shell.refused(
            b"test run t\xc3\xa9st\xff\x80",
            &["error: no test named 'tst'; 'test list' lists them"],
        );
        shell.refused(b"test run a-b", &["error: 'a-b' is not a test name"]);
        shell.refused(b"test run 'x'", &["error: ''x'' is not a test name"]);
        for line in ["test", "test run", "test run a b", "test list all", "test frobnicate", "test -- run"] {
            shell.refused(line.as_bytes(), &usage);
        }
        let mut rng = rng(4);
        for _ in 0..8 {
            let words: Vec<Vec<u8>> = (0..3).map(|_| random_word(&mut rng, 12)).collect();
            shell.refused(&[&b"test "[..], &words.join(&b' ')].concat(), &usage);
        }
        // The protocol still works: the list is whole and a test runs.
        let listed = shell.command(b"test list", false);
        let names: Vec<&str> =
            listed.iter().filter_map(|l| l.strip_prefix("test-list: ")?.strip_suffix(" pass")).collect();
        assert_eq!(listed.last(), Some(&format!("test-list-end: {}", listed.len() - 1)), "{listed:?}");
        let name = names.iter().find(|n| n.ends_with("board_entry_matches_the_cpu")).expect("a quick test");
        let ran = shell.command(format!("test run {name}").as_bytes(), false);
        assert_eq!(ran.last(), Some(&format!("test-end: {name} ok")), "{ran:?}");
        shell.check_health("bad test commands");
    });
}

/// `upload: ...` answers as the kernel prints them.
fn replies(replies: &[Reply<'_>]) -> Vec<String> {
    replies.iter().map(ToString::to_string).collect()
}

/// The chunk lines of `image`, each ended with `ending`.
fn chunk_lines(image: &[u8], ending: &str) -> Vec<String> {
    image
        .chunks(upload::CHUNK_BYTES)
        .enumerate()
        .map(|(seq, data)| format!("{}{ending}", ChunkLine { seq, data }))
        .collect()
}

#[test]
fn bad_uploads_get_clear_errors() {
    on_every_board("bad_uploads", |shell| {
        let junk: Vec<u8> = (0..100u8).collect();
        let crc = upload::crc32(&junk);
        let header = HeaderLine(Header { name: "junk", length: junk.len(), crc }).to_string();

        // Bad headers.
        let error = |reason: &str| Reply::Error(reason).to_string();
        let usage = error("usage: upload <name> <length> <crc32 hex> [args]");
        shell.refused(b"upload", &[&usage]);
        shell.refused(b"upload abort", &[&usage]);
        shell.refused(b"upload junk 100", &[&usage]);
        shell.refused(b"upload ju/nk 100 00000000", &[&error("bad name (1 to 32 of a-z A-Z 0-9 _ -)")]);
        shell.refused(
            format!("upload {} 1 00000000", "n".repeat(33)).as_bytes(),
            &[&error("bad name (1 to 32 of a-z A-Z 0-9 _ -)")],
        );
        for length in ["12a", "-1", "+5", "0x10", "1e3", "１"] {
            let line = format!("upload junk {length} 00000000");
            let answer =
                if length == "１" { usage.clone() } else { error("bad length (a decimal number of bytes)") };
            shell.refused(line.as_bytes(), &[&answer]);
        }
        shell.refused(b"upload junk 0 00000000", &[&error("length 0: nothing to upload")]);
        shell.refused(
            b"upload junk 1048577 00000000",
            &[&error("1048577 bytes is more than the limit of 1048576")],
        );
        shell.refused(
            b"upload junk 99999999999999999999999 00000000",
            &[&error("99999999999999999999999 bytes is more than the limit of 1048576")],
        );
        for crc in ["0000000g", "abc", "123456789", "-0000001"] {
            shell.refused(format!("upload junk 100 {crc}").as_bytes(), &[&error("bad crc32 (8 hex digits)")]);
        }

        // A chunk with a bad checksum is refused and resent; a wrong CRC over the image fails at the end.
        let lines = chunk_lines(&junk, "\r");
        let bad_checksum = lines[0].replacen(&format!("{:08x}", upload::crc32(&junk[..48])), "00000000", 1);
        let wrong_total = HeaderLine(Header { name: "junk", length: junk.len(), crc: !crc }).to_string();
        shell.upload_answered(
            &wrong_total,
            "\r",
            &[bad_checksum.as_str(), &lines[0], &lines[1], &lines[2]].concat(),
            &[
                Reply::Ready,
                Reply::Nak(0, "checksum mismatch"),
                Reply::Ack(0),
                Reply::Ack(1),
                Reply::Error(&format!("crc32 mismatch: announced {:08x}, received {crc:08x}", !crc)),
            ],
        );

        // CR LF line ends, on the command and on every chunk: each is one line end, as at the prompt.
        shell.upload_answered(
            &header,
            "\r\n",
            &chunk_lines(&junk, "\r\n").concat(),
            &[
                Reply::Ready,
                Reply::Ack(0),
                Reply::Ack(1),
                Reply::Error("not a program cowpi can run: not an ELF file (bad magic)"),
            ],
        );

        // As many program arguments as the line has room for.
        let mut many = header.clone();
        while many.len() + 2 <= MAX_LINE {
            many.push_str(" a");
        }
        shell.upload_answered(
            &many,
            "\r",
            &format!("{}\r", upload::ABORT),
            &[Reply::Ready, Reply::Error("aborted")],
        );
        shell.refused(format!("{many} b").as_bytes(), &[TOO_LONG.trim_end()]);

        // The largest image announced, then Ctrl-C: its megabyte of heap must come back.
        let big = format!("upload big {} 00000000", upload::MAX_LENGTH);
        shell.upload_answered(&big, "\r", "\x03", &[Reply::Ready, Reply::Error("aborted")]);

        // Garbage bytes in the payload: random bytes of any value put into the chunk lines, each corrupt
        // line followed by the good one, as a resending host would. Every answer is predicted by the
        // kernel's own receiver behind a copy of its line editor.
        let mut rng = rng(5);
        let mut noise = Vec::new();
        for line in &lines {
            let mut corrupt = line.clone().into_bytes();
            for _ in 0..4 {
                let at = (rng.next_u64() % corrupt.len() as u64) as usize;
                corrupt.insert(at, rng.next_u32() as u8);
            }
            noise.extend_from_slice(&corrupt);
            noise.extend_from_slice(line.as_bytes());
        }
        shell.start_upload(&header, "\r");
        let (noise, answers) = receiver_answers(&shell.editor, &junk, &noise);
        assert!(answers.iter().any(|a| a.starts_with("upload: nak")), "the seed makes a nak: {answers:?}");
        shell.send_payload(noise);
        let expected: Vec<String> = [Reply::Ready.to_string()].into_iter().chain(answers).collect();
        assert_eq!(shell.answers_until_prompt(), expected);
        shell.check_health("garbage in the payload");

        // A short payload, then silence: the kernel gives up after its timeout, and the half-sent line it
        // was reading does not become the start of the next command.
        let started = Instant::now();
        let said = shell.upload(&header, "\r", &[lines[0].as_str(), &lines[1][..40]].concat());
        assert_eq!(
            said,
            replies(&[Reply::Ready, Reply::Ack(0), Reply::Error("timed out waiting for the next chunk")])
        );
        assert!(started.elapsed() >= UPLOAD_LINE_TIMEOUT, "gave up after {:?}", started.elapsed());
        shell.editor.discard_partial_line();
        shell.check_health("a short payload, then silence");
    });
}

impl Shell {
    /// Types an upload command line ended with `ending`, sends `payload` as it is, and returns the
    /// kernel's answers up to the prompt.
    fn upload(&mut self, command: &str, ending: &str, payload: &str) -> Vec<String> {
        self.start_upload(command, ending);
        self.send_payload(payload.as_bytes());
        self.answers_until_prompt()
    }

    /// Like [`Shell::upload`], then checks the answers are `expected` and the kernel is whole.
    fn upload_answered(&mut self, command: &str, ending: &str, payload: &str, expected: &[Reply<'_>]) {
        let said = self.upload(command, ending, payload);
        assert_eq!(
            said,
            replies(expected),
            "{}: the answers to {}",
            self.board.name,
            shown(command.as_bytes())
        );
        self.check_health(command);
    }

    fn start_upload(&mut self, command: &str, ending: &str) {
        self.bad_bytes += command.len() + ending.len();
        let (echo, inputs) = self.type_bytes(format!("{command}{ending}").as_bytes());
        assert_eq!(inputs, [Owned::Line(command.to_owned())]);
        self.expect(&echo, "the echo of an upload command");
    }

    /// Sends bytes the kernel reads as upload lines, without echo.
    fn send_payload(&mut self, payload: &[u8]) {
        self.bad_bytes += payload.len();
        feed(&mut self.editor, payload, false);
        self.send(payload);
    }

    /// Writes `bytes` to the kernel's serial line.
    fn send(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).and_then(|()| self.stdin.flush()).expect("QEMU reads its input");
    }

    /// The lines the kernel prints up to its next prompt.
    fn answers_until_prompt(&mut self) -> Vec<String> {
        let end = self.wait_for(find_prompt, "the prompt");
        let output = self.output.0.lock().unwrap();
        let text = String::from_utf8_lossy(&output[self.checked..self.checked + end]).into_owned();
        drop(output);
        self.checked += end;
        let text = text.strip_suffix(PROMPT).expect("find_prompt ends at a prompt");
        text.lines().map(|line| line.trim_end_matches('\r').to_owned()).collect()
    }
}

/// What the kernel answers to `noise` as an upload's payload for `image`, by its own receiver behind a
/// copy of its line editor: the bytes up to the one that ends the transfer, and the answers. The noise
/// must end the transfer.
fn receiver_answers<'n>(
    editor: &LineEditor<MAX_LINE>,
    image: &[u8],
    noise: &'n [u8],
) -> (&'n [u8], Vec<String>) {
    let mut editor = editor.clone();
    let header = Header { name: "junk", length: image.len(), crc: upload::crc32(image) };
    let mut receiver = Receiver::new(&header);
    let mut buffer = vec![0; image.len()];
    let mut answers = Vec::new();
    for (at, &byte) in noise.iter().enumerate() {
        let Some(input) = editor.feed(byte, |_| {}) else { continue };
        // As `src/shell/upload.rs::read_line` hands lines to the receiver.
        let line = match input {
            Input::Line(line) => line.to_owned(),
            Input::TooLong => "too-long".to_owned(),
            Input::Cancelled => String::new(),
        };
        match receiver.receive(&line, &mut buffer) {
            Step::Ack(seq) => answers.push(Reply::Ack(seq).to_string()),
            Step::Nak(seq, reason) => answers.push(Reply::Nak(seq, &reason.to_string()).to_string()),
            Step::Complete => {
                // The image is the test's junk, which the kernel's loader refuses.
                answers.push(
                    Reply::Error("not a program cowpi can run: not an ELF file (bad magic)").to_string(),
                );
                return (&noise[..=at], answers);
            }
            Step::Failed(failure) => {
                answers.push(Reply::Error(&failure.to_string()).to_string());
                return (&noise[..=at], answers);
            }
        }
    }
    panic!("the noise never ended the transfer: {answers:?}")
}
