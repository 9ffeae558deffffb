//! The shell's `upload` command: receives a user program's ELF image over the serial console and runs it.
//!
//! The protocol and its receiving state machine are `cowpi_console::upload` (host-tested); this file moves
//! bytes: it reads the chunk lines itself, through the shell's line editor but without echo (the host
//! waits for each ack instead), into a heap buffer, then checks the image with the loader and starts it
//! like `run` does. Every way out drops the buffer, so a failed or cancelled upload leaves the heap and
//! the frame table as they were.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use cowpi_console::upload::{self, Header, Receiver, Reply, Step};

use super::Entered;
use crate::arch::time;
use crate::{console, println, task};

/// How long the kernel waits for the host's next line before it gives the upload up, so a host that died
/// mid-transfer does not leave the shell deaf.
const LINE_TIMEOUT: Duration = Duration::from_secs(10);

/// The received image, 16-byte aligned like the embedded programs: the loader reads ELF headers in place,
/// and a `Vec<u8>` only promises byte alignment.
struct Image {
    words: Vec<u128>,
    len: usize,
}

impl Image {
    /// `len` zero bytes, or `None` if the heap has no room (a clear error, not a kernel panic).
    fn zeroed(len: usize) -> Option<Image> {
        let count = len.div_ceil(size_of::<u128>());
        let mut words = Vec::new();
        words.try_reserve_exact(count).ok()?;
        words.resize(count, 0);
        Some(Image { words, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `u128` has no padding, so its bytes are initialised; `len` <= 16 * `words.len()`, so the
        // slice stays inside the one allocation, which `&self` keeps alive and unchanged.
        unsafe { core::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; any byte pattern is a valid `u128`, and `&mut self` makes the slice the
        // only way to the words while it lives.
        unsafe { core::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<u8>(), self.len) }
    }
}

/// `upload <name> <length> <crc32> [args]`.
pub fn command(args: &[&str]) {
    let (header, program_args) = match upload::parse_header(args) {
        Ok(parsed) => parsed,
        Err(error) => return println!("{}", Reply::Error(&error.to_string())),
    };
    let Some(image) = receive(&header, read_line) else { return };
    let arguments = program_args.join(" ");
    let spawned = task::user::spawn_image(header.name, image.bytes(), arguments.as_bytes());
    // The task has its own copy of every page now.
    drop(image);
    super::commands::report_run(header.name, spawned);
}

/// Runs one transfer, answering each line; the checked image, or `None` after an error was reported.
fn receive(
    header: &Header<'_>,
    mut next_line: impl FnMut() -> Result<String, &'static str>,
) -> Option<Image> {
    let Some(mut image) = Image::zeroed(header.length) else {
        println!("{}", Reply::Error("not enough kernel heap for the image"));
        return None;
    };
    println!("{}", Reply::Ready);
    let mut receiver = Receiver::new(header);
    loop {
        let line = match next_line() {
            Ok(line) => line,
            Err(why) => {
                println!("{}", Reply::Error(why));
                return None;
            }
        };
        match receiver.receive(&line, image.bytes_mut()) {
            Step::Ack(seq) => println!("{}", Reply::Ack(seq)),
            Step::Nak(seq, reason) => println!("{}", Reply::Nak(seq, &reason.to_string())),
            Step::Complete => break,
            Step::Failed(failure) => {
                println!("{}", Reply::Error(&failure.to_string()));
                return None;
            }
        }
    }
    if let Err(error) = cowpi_loader::plan(image.bytes()) {
        println!("{}", Reply::Error(&format!("not a program cowpi can run: {error}")));
        return None;
    }
    println!("{}", Reply::Ok { name: header.name, length: header.length });
    Some(image)
}

/// The host's next line, read without echo through the shell's own line editor (so a CR LF ending the
/// previous line is one line end); a line too long for the shell comes back as one the receiver refuses as
/// malformed, so it is naked and resent like any corrupt chunk.
fn read_line() -> Result<String, &'static str> {
    let mut deadline = time::uptime() + LINE_TIMEOUT;
    loop {
        let Some(Some(byte)) = console::with_uart(|uart| uart.try_read_byte()) else {
            if time::uptime() > deadline {
                super::discard_partial_line();
                return Err("timed out waiting for the next chunk");
            }
            // Busy-poll while a line is arriving: the host sends a whole chunk line at once and the UART's
            // receive FIFO holds only 16 bytes. Between lines others may run.
            if !super::line_in_progress() {
                task::scheduler::yield_now();
            }
            continue;
        };
        deadline = time::uptime() + LINE_TIMEOUT;
        match super::feed(byte, |_| {}) {
            Some(Entered::Line(line)) => return Ok(line),
            Some(Entered::TooLong) => return Ok(String::from("too-long")),
            Some(Entered::Cancelled) => return Ok(String::new()),
            None => {}
        }
    }
}

crate::kernel_test! {
    /// An embedded program sent through the receiver chunk by chunk, one chunk corrupted once, comes out
    /// whole and runs; the audit after the test shows every buffer was given back.
    fn a_received_program_runs() -> TestResult {
        let hello = crate::check_ok!(crate::programs::find("hello").ok_or("hello is not embedded"));
        let header = Header { name: "uploaded", length: hello.elf.len(), crc: upload::crc32(hello.elf) };
        let mut lines = hello
            .elf
            .chunks(upload::CHUNK_BYTES)
            .enumerate()
            .map(|(seq, data)| upload::ChunkLine { seq, data }.to_string())
            .collect::<Vec<_>>();
        let corrupt = lines[1].replacen(' ', " 0", 1);
        lines.insert(1, corrupt);
        let mut lines = lines.into_iter();
        let image = receive(&header, || lines.next().ok_or("ran out of lines"));
        let image = crate::check_ok!(image.ok_or("the upload failed"));
        crate::check!(image.bytes() == hello.elf);
        let pid = crate::check_ok!(task::user::spawn_image(header.name, image.bytes(), b"from an upload"));
        drop(image);
        let (_, status) = crate::check_ok!(task::wait(Some(pid)));
        crate::check!(status == 0, "exit status {status}");
        Ok(())
    }
}

crate::kernel_test! {
    /// A well-transferred image that is no ELF is refused with the loader's reason, and nothing leaks.
    fn a_received_non_elf_is_refused() -> TestResult {
        let junk = [0x42u8; 100];
        let header = Header { name: "junk", length: junk.len(), crc: upload::crc32(&junk) };
        let mut lines = junk
            .chunks(upload::CHUNK_BYTES)
            .enumerate()
            .map(|(seq, data)| upload::ChunkLine { seq, data }.to_string())
            .collect::<Vec<_>>()
            .into_iter();
        crate::check!(receive(&header, || lines.next().ok_or("ran out of lines")).is_none());
        Ok(())
    }
}
