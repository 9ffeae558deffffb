//! The host's side of the upload protocol (`cowpi_console::upload`): sends a program image to a shell
//! that is at its prompt, chunk by chunk, resending refused chunks, then follows the program's run.
//!
//! It works on a [`Session`], so QEMU and a real serial port are driven alike: the command line is typed
//! with echo, like every command; the chunk lines are sent whole and paced by the kernel's acks.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cowpi_console::protocol::{self, Line};
use cowpi_console::upload::{self, ChunkLine, Header, HeaderLine, Reply};

use crate::session::{Heard, Session};

/// What to send and how.
pub struct Upload<'a> {
    pub name: &'a str,
    pub image: &'a [u8],
    pub args: &'a [String],
    /// For the tests: send this chunk corrupted (one data digit changed, checksum kept) the first time, to
    /// exercise the nak and resend path against a real kernel.
    pub corrupt_chunk: Option<usize>,
}

/// How long to wait for the kernel's answer to one line.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the echo of one typed character.
const ECHO_TIMEOUT: Duration = Duration::from_secs(2);

/// How the uploaded program ended, as the shell reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// The shell's last line about it: `hello (task 3): exited with 0`, or why it could not start.
    pub status_line: String,
    pub exited_with_zero: bool,
}

/// Uploads and runs `upload` at the shell's prompt, writing the program's output to `out` as it comes,
/// then waits up to `run_timeout` for the program to end and the prompt to come back.
pub fn upload_and_run(
    session: &mut Session,
    upload: &Upload<'_>,
    run_timeout: Duration,
    out: &mut dyn Write,
) -> Result<Ran> {
    let header = Header { name: upload.name, length: upload.image.len(), crc: upload::crc32(upload.image) };
    check_header(&header)?;
    // The shell's line editor drops anything else without echo, so typing it would stall on the missing
    // echo, and on a real board leave half a command line behind.
    if let Some(arg) = upload.args.iter().find(|arg| !arg.bytes().all(|b| (0x20..=0x7e).contains(&b))) {
        bail!(
            "cannot upload {}: the argument {arg:?} is not printable ASCII, all the shell takes",
            upload.name
        );
    }
    let mut command = HeaderLine(header).to_string();
    for arg in upload.args {
        command.push(' ');
        command.push_str(arg);
    }
    if command.len() > 128 {
        bail!(
            "the upload command line is {} characters, more than the shell's 128: shorten the arguments",
            command.len()
        );
    }
    session.type_command(&command, ECHO_TIMEOUT).map_err(|e| anyhow::anyhow!("typing `{command}`: {e}"))?;
    let answer = next_reply(session)?;
    match upload::parse_reply(&answer) {
        Some(Reply::Ready) => {}
        Some(Reply::Error(reason)) => bail!("the kernel refused the upload: {reason}"),
        _ => bail!("the kernel answered `upload` with `{answer}`"),
    }
    send_chunks(session, upload)?;
    collect_run(session, upload.name, run_timeout, out)
}

/// Refuses here what the kernel would refuse, with the same words.
fn check_header(header: &Header<'_>) -> Result<()> {
    upload::parse_header_words(header.name, &header.length.to_string(), &format!("{:08x}", header.crc))
        .map(drop)
        .map_err(|error| anyhow::anyhow!("cannot upload {}: {error}", header.name))
}

/// Sends every chunk; returns once the kernel said `ok`.
fn send_chunks(session: &mut Session, upload: &Upload<'_>) -> Result<()> {
    let count = upload::chunk_count(upload.image.len());
    for (seq, data) in upload.image.chunks(upload::CHUNK_BYTES).enumerate() {
        let line = ChunkLine { seq, data }.to_string();
        let mut refusals = 0;
        loop {
            let sent = if upload.corrupt_chunk == Some(seq) && refusals == 0 {
                corrupt(&line)
            } else {
                line.clone()
            };
            session.send(format!("{sent}\r").as_bytes()).context("sending a chunk")?;
            let answer = next_reply(session)?;
            let why = match upload::parse_reply(&answer) {
                Some(Reply::Ack(acked)) if acked == seq && seq + 1 < count => break,
                Some(Reply::Ok { .. }) if seq + 1 == count => return Ok(()),
                Some(Reply::Error(reason)) if seq + 1 == count => {
                    bail!("the kernel refused {}: {reason}", upload.name)
                }
                Some(Reply::Error(reason)) => bail!("the kernel stopped the upload at chunk {seq}: {reason}"),
                Some(Reply::Nak(_, reason)) => reason.to_owned(),
                _ => format!("unexpected answer `{answer}`"),
            };
            refusals += 1;
            eprintln!("cowpi: chunk {seq} was refused ({why}); sending it again");
            if refusals > upload::MAX_RESENDS {
                // The kernel has given up too by now; the abort makes sure the shell is back either way.
                let _ = session.send(format!("{}\r", upload::ABORT).as_bytes());
                bail!("chunk {seq} was refused {refusals} times (last: {why}); upload abandoned");
            }
        }
    }
    bail!("the kernel acknowledged every chunk but never said `ok`")
}

/// `line` with its first data digit changed and its checksum kept, so the kernel must refuse it.
fn corrupt(line: &str) -> String {
    let at = line.find(' ').expect("a chunk line has a space") + 1;
    let mut bytes = line.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).expect("still ASCII")
}

/// The kernel's next upload reply line (one `upload::parse_reply` reads), skipping any other line.
fn next_reply(session: &mut Session) -> Result<String> {
    let deadline = Instant::now() + REPLY_TIMEOUT;
    // What the shell said last that was not a reply nor the echo of a command: if it gives up on the
    // upload, that line is its reason, and the only useful thing to report.
    let mut said = None;
    loop {
        match session.next(deadline) {
            Heard::Line(line) => {
                if let Line::Fatal { message } = protocol::parse_line(&line) {
                    bail!("the kernel stopped: {message}");
                }
                if upload::parse_reply(&line).is_some() {
                    return Ok(line);
                }
                // A line after the prompt is the echo of a command: what came before it is older news.
                said = (!line.starts_with(protocol::PROMPT) && !line.trim().is_empty()).then_some(line);
            }
            Heard::Prompt => match said {
                Some(line) => bail!("the shell answered `{line}` instead of going on with the upload"),
                None => bail!("the shell prompted again in the middle of the upload"),
            },
            Heard::Timeout => bail!("no answer from the kernel within {} s", REPLY_TIMEOUT.as_secs()),
            Heard::Closed(why) => bail!("{why} during the upload"),
        }
    }
}

/// Shows the program's output until the prompt returns; the last status line says how it ended.
fn collect_run(session: &mut Session, name: &str, timeout: Duration, out: &mut dyn Write) -> Result<Ran> {
    let deadline = Instant::now() + timeout;
    let mut status_line = None;
    loop {
        match session.next(deadline) {
            Heard::Line(line) => {
                writeln!(out, "{line}")?;
                if let Line::Fatal { message } = protocol::parse_line(&line) {
                    bail!("the kernel stopped while {name} ran: {message}");
                }
                if line.starts_with(&format!("{name} (task "))
                    || line.starts_with(&format!("error: cannot run {name}"))
                {
                    status_line = Some(line);
                }
            }
            Heard::Prompt => break,
            Heard::Timeout => bail!("{name} did not finish within {} s", timeout.as_secs()),
            Heard::Closed(why) => bail!("{why} while {name} ran"),
        }
    }
    let status_line = status_line.with_context(|| format!("the shell never said how {name} ended"))?;
    let exited_with_zero = status_line.ends_with("): exited with 0");
    Ok(Ran { status_line, exited_with_zero })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{self, Timeouts};
    use crate::transport::Transport;
    use crate::transport::fake::{FakeBoard, Script};

    #[test]
    fn a_corrupted_line_is_refused_by_the_receiver() {
        for image in [&[0u8; 10][..], &[0x11; 48]] {
            let line = ChunkLine { seq: 0, data: image }.to_string();
            let bad = corrupt(&line);
            assert_ne!(bad, line);
            assert!(upload::parse_chunk(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_shell_error_instead_of_a_reply_is_reported_as_it_is() {
        let image = [7u8; 10];
        let args: Vec<String> = (1..=8).map(|n| n.to_string()).collect();
        let command = format!("upload seven 10 {:08x} 1 2 3 4 5 6 7 8", upload::crc32(&image));
        let mut board = FakeBoard::new([
            Script::ready("raspi3b").reply(&command, "error: too many words (at most 8)\r\ncowpi> ")
        ]);
        let mut session = Session::new(&mut board);
        let second = Duration::from_secs(1);
        driver::boot(&mut session, Some("raspi3b"), &Timeouts::new(second, second, second)).unwrap();
        let upload = Upload { name: "seven", image: &image, args: &args, corrupt_chunk: None };
        let error =
            upload_and_run(&mut session, &upload, Duration::from_secs(1), &mut Vec::new()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the shell answered `error: too many words (at most 8)` instead of going on with the upload"
        );
    }

    #[test]
    fn an_argument_the_shell_cannot_take_is_refused_before_typing() {
        for arg in ["é", "a\tb", "\u{1b}[A"] {
            let mut board = FakeBoard::new([Script::ready("raspi3b")]);
            board.restart().unwrap();
            let mut session = Session::new(&mut board);
            let args = [arg.to_owned()];
            let upload = Upload { name: "seven", image: &[7; 10], args: &args, corrupt_chunk: None };
            let error =
                upload_and_run(&mut session, &upload, Duration::from_secs(1), &mut Vec::new()).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "cannot upload seven: the argument {arg:?} is not printable ASCII, all the shell takes"
                )
            );
            drop(session);
            assert!(board.commands.is_empty(), "typed {:?}", board.commands);
        }
    }
}
