//! The upload protocol: sending a user program's ELF image to the running kernel over the serial console.
//!
//! cowpi has no file system, so without this a new program means a new SD card. The transfer runs over the
//! ordinary shell, whose line editor only takes printable ASCII, so the image travels as hex, in numbered
//! chunks each with its own checksum, and every chunk is acknowledged before the next is sent (the
//! acknowledgement is also the flow control a 16-byte UART FIFO needs):
//!
//! ```text
//! host:   upload hello 33336 9a3c01fe a b    name, length in bytes, CRC-32 of the image (8 hex digits),
//!                                            then the arguments to run it with
//! kernel: upload: ready                      or `upload: error <reason>` (bad name, length 0 or too big)
//! host:   0 7f454c46...(96 hex digits) 1c2b3a4d    chunk <seq>: 48 bytes (the last may be shorter) and
//!                                                  the CRC-32 of those bytes; not echoed
//! kernel: upload: ack 0                      or `upload: nak 0 <reason>`: the host sends chunk 0 again,
//!                                            at most MAX_RESENDS times, then gives up
//! ...
//! kernel: upload: ok hello 33336             the whole image arrived, its CRC-32 matches and the
//!                                            loader accepts it; the kernel runs it like `run` does
//! kernel: upload: error <reason>             instead, if the total CRC-32 or the ELF is wrong
//! ```
//!
//! Chunk `seq` always holds the bytes from `seq * CHUNK_BYTES`, so a resent chunk can never land in the
//! wrong place. A repeat of the chunk just acknowledged (its ack was lost) is acknowledged again and
//! otherwise ignored; the host treats an ack for any chunk but the one it sent like a nak. An empty line or `upload abort` cancels the transfer (`upload: error aborted`).
//! The longest chunk line is 5 + 1 + 96 + 1 + 8 = 111 characters, under the shell's 128.
//!
//! CRC-32 is the IEEE 802.3 one (zlib's, `cksum -o 3`'s), written out here: it is a few lines, and one
//! definition on both sides is what matters. The receiving state machine ([`Receiver`]) lives here too,
//! so it is host-tested; the kernel only moves lines and bytes.

use core::fmt;

/// The largest image the kernel accepts, in bytes.
pub const MAX_LENGTH: usize = 1 << 20;
/// Bytes per chunk: 96 hex digits, so a chunk line stays well under the shell's line limit.
pub const CHUNK_BYTES: usize = 48;
/// The longest program name.
pub const MAX_NAME: usize = 32;
/// How often the host sends one chunk again after a nak before it gives up.
pub const MAX_RESENDS: usize = 3;
/// Naks in a row after which the kernel gives up on its side (one more than the host's resends).
pub const MAX_NAKS_IN_A_ROW: usize = MAX_RESENDS + 1;
/// The shell command that starts an upload.
pub const COMMAND: &str = "upload";
/// What the host sends to cancel an upload (an empty line does too).
pub const ABORT: &str = "upload abort";
/// Prefix of every line the kernel answers with.
pub const TAG: &str = "upload: ";

/// CRC-32 (IEEE 802.3, reflected, polynomial 0x04C11DB7), computed piece by piece.
#[derive(Debug, Clone, Copy)]
pub struct Crc32(u32);

/// The byte-at-a-time table, built at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

impl Default for Crc32 {
    fn default() -> Self {
        Crc32::new()
    }
}

impl Crc32 {
    pub const fn new() -> Self {
        Crc32(0xFFFF_FFFF)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = CRC_TABLE[((self.0 ^ u32::from(byte)) & 0xFF) as usize] ^ (self.0 >> 8);
        }
    }

    pub const fn finish(self) -> u32 {
        !self.0
    }
}

/// The CRC-32 of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = Crc32::new();
    crc.update(bytes);
    crc.finish()
}

/// What is wrong with an `upload` command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError<'a> {
    Usage,
    BadName,
    BadLength,
    Empty,
    /// The length as it was written: a number too big for a `usize` must not be shown as another one.
    TooLong {
        length: &'a str,
    },
    BadCrc,
}

impl fmt::Display for HeaderError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Usage => f.write_str("usage: upload <name> <length> <crc32 hex> [args]"),
            HeaderError::BadName => write!(f, "bad name (1 to {MAX_NAME} of a-z A-Z 0-9 _ -)"),
            HeaderError::BadLength => f.write_str("bad length (a decimal number of bytes)"),
            HeaderError::Empty => f.write_str("length 0: nothing to upload"),
            HeaderError::TooLong { length } => {
                write!(f, "{length} bytes is more than the limit of {MAX_LENGTH}")
            }
            HeaderError::BadCrc => f.write_str("bad crc32 (8 hex digits)"),
        }
    }
}

/// An `upload` command: what is coming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'a str,
    pub length: usize,
    pub crc: u32,
}

/// Whether `name` may name an uploaded program (it becomes the task's name).
pub fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parses the words after `upload`: `<name> <length> <crc32>`, then the program's arguments, returned as
/// they are.
pub fn parse_header<'w, 'a>(words: &'w [&'a str]) -> Result<(Header<'a>, &'w [&'a str]), HeaderError<'a>> {
    let [name, length, crc, args @ ..] = words else { return Err(HeaderError::Usage) };
    Ok((parse_header_words(name, length, crc)?, args))
}

/// Parses `<name> <length> <crc32>`.
pub fn parse_header_words<'a>(
    name: &'a str,
    length: &'a str,
    crc: &str,
) -> Result<Header<'a>, HeaderError<'a>> {
    if !is_valid_name(name) {
        return Err(HeaderError::BadName);
    }
    if length.is_empty() || !length.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeaderError::BadLength);
    }
    let typed = length;
    let length = length.parse::<usize>().unwrap_or(usize::MAX);
    if length == 0 {
        return Err(HeaderError::Empty);
    }
    if length > MAX_LENGTH {
        return Err(HeaderError::TooLong { length: typed });
    }
    let crc = parse_hex_u32(crc).ok_or(HeaderError::BadCrc)?;
    Ok(Header { name, length, crc })
}

/// Exactly eight hex digits.
fn parse_hex_u32(text: &str) -> Option<u32> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// Formats the command line that starts an upload (without arguments).
pub struct HeaderLine<'a>(pub Header<'a>);

impl fmt::Display for HeaderLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{COMMAND} {} {} {:08x}", self.0.name, self.0.length, self.0.crc)
    }
}

/// How many chunks an image of `length` bytes travels in.
pub const fn chunk_count(length: usize) -> usize {
    length.div_ceil(CHUNK_BYTES)
}

/// Formats chunk `seq` of a transfer: `<seq> <hex> <crc32>`.
pub struct ChunkLine<'a> {
    pub seq: usize,
    pub data: &'a [u8],
}

impl fmt::Display for ChunkLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.seq)?;
        for byte in self.data {
            write!(f, "{byte:02x}")?;
        }
        write!(f, " {:08x}", crc32(self.data))
    }
}

/// A chunk line, checked and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub seq: usize,
    data: [u8; CHUNK_BYTES],
    len: usize,
}

impl Chunk {
    pub fn data(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

/// Why a chunk line was refused. The ones that carry a sequence number are naks; the sender can resend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// Not `<seq> <hex> <crc32>` at all.
    Malformed,
    BadHex,
    TooLong,
    BadChecksum,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChunkError::Malformed => "malformed chunk line",
            ChunkError::BadHex => "bad hex",
            ChunkError::TooLong => "chunk too long",
            ChunkError::BadChecksum => "checksum mismatch",
        })
    }
}

fn hex_digit(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

/// Parses a chunk line. On an error the sequence number is returned too when it could be read, so the nak
/// can name it.
pub fn parse_chunk(line: &str) -> Result<Chunk, (Option<usize>, ChunkError)> {
    let mut words = line.split(' ');
    let (Some(seq), Some(hex), Some(crc), None) = (words.next(), words.next(), words.next(), words.next())
    else {
        return Err((None, ChunkError::Malformed));
    };
    let seq = (!seq.is_empty() && seq.len() <= 9 && seq.bytes().all(|b| b.is_ascii_digit()))
        .then(|| seq.parse::<usize>().ok())
        .flatten()
        .ok_or((None, ChunkError::Malformed))?;
    let fail = |error| Err((Some(seq), error));
    if hex.len() > 2 * CHUNK_BYTES {
        return fail(ChunkError::TooLong);
    }
    if hex.is_empty() || hex.len() % 2 != 0 {
        return fail(ChunkError::BadHex);
    }
    let mut chunk = Chunk { seq, data: [0; CHUNK_BYTES], len: hex.len() / 2 };
    for (byte, pair) in chunk.data.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        let (Some(high), Some(low)) = (hex_digit(pair[0]), hex_digit(pair[1])) else {
            return fail(ChunkError::BadHex);
        };
        *byte = high << 4 | low;
    }
    let Some(crc) = parse_hex_u32(crc) else { return fail(ChunkError::BadHex) };
    if crc != crc32(chunk.data()) {
        return fail(ChunkError::BadChecksum);
    }
    Ok(chunk)
}

/// A line the kernel answers with, parsed (the host's view) or to be formatted (the kernel's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    Ready,
    Ack(usize),
    Nak(usize, &'a str),
    Ok { name: &'a str, length: usize },
    Error(&'a str),
}

impl fmt::Display for Reply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(TAG)?;
        match self {
            Reply::Ready => f.write_str("ready"),
            Reply::Ack(seq) => write!(f, "ack {seq}"),
            Reply::Nak(seq, reason) => write!(f, "nak {seq} {reason}"),
            Reply::Ok { name, length } => write!(f, "ok {name} {length}"),
            Reply::Error(reason) => write!(f, "error {reason}"),
        }
    }
}

/// Reads a reply line; `None` for any other line (log output, a program's output, echo).
pub fn parse_reply(line: &str) -> Option<Reply<'_>> {
    let rest = line.trim_end().strip_prefix(TAG)?;
    let (word, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    match word {
        "ready" if rest.is_empty() => Some(Reply::Ready),
        "ack" => rest.parse().ok().map(Reply::Ack),
        "nak" => {
            let (seq, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            seq.parse().ok().map(|seq| Reply::Nak(seq, reason))
        }
        "ok" => {
            let (name, length) = rest.split_once(' ')?;
            Some(Reply::Ok { name, length: length.parse().ok()? })
        }
        "error" => Some(Reply::Error(rest)),
        _ => None,
    }
}

/// What the receiver makes of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Chunk `seq` is stored (or was already): send `ack`.
    Ack(usize),
    /// The line was refused: send `nak` with this sequence number (the expected one when the line's own
    /// could not be read) and reason; the transfer goes on.
    Nak(usize, NakReason),
    /// The last chunk is stored and the image's CRC-32 matches: the buffer holds the image.
    Complete,
    /// The transfer is over without an image.
    Failed(Failure),
}

/// Why a chunk was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NakReason {
    Chunk(ChunkError),
    /// A chunk other than the next one (or the one just acknowledged).
    WrongSeq {
        expected: usize,
    },
    /// A chunk whose length is not what its place in the image implies.
    WrongLength {
        expected: usize,
    },
}

impl fmt::Display for NakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NakReason::Chunk(error) => error.fmt(f),
            NakReason::WrongSeq { expected } => write!(f, "wrong sequence number, expected {expected}"),
            NakReason::WrongLength { expected } => write!(f, "wrong chunk length, expected {expected} bytes"),
        }
    }
}

/// Why a transfer ended without an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Aborted,
    TooManyNaks,
    /// Every byte arrived, but the image's CRC-32 is not the announced one.
    CrcMismatch {
        expected: u32,
        actual: u32,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Aborted => f.write_str("aborted"),
            Failure::TooManyNaks => write!(f, "{MAX_NAKS_IN_A_ROW} bad chunks in a row, giving up"),
            Failure::CrcMismatch { expected, actual } => {
                write!(f, "crc32 mismatch: announced {expected:08x}, received {actual:08x}")
            }
        }
    }
}

/// The kernel's side of one transfer: takes lines, fills a buffer of the announced length.
#[derive(Debug)]
pub struct Receiver {
    length: usize,
    crc: u32,
    next_seq: usize,
    naks_in_a_row: usize,
    running: Crc32,
}

impl Receiver {
    pub fn new(header: &Header<'_>) -> Receiver {
        Receiver {
            length: header.length,
            crc: header.crc,
            next_seq: 0,
            naks_in_a_row: 0,
            running: Crc32::new(),
        }
    }

    /// Takes one line from the host; `buffer` is the image, exactly `header.length` bytes long.
    /// Once it returned `Complete` or `Failed` the transfer is over.
    pub fn receive(&mut self, line: &str, buffer: &mut [u8]) -> Step {
        debug_assert_eq!(buffer.len(), self.length);
        let line = line.trim();
        if line.is_empty() || line == ABORT {
            return Step::Failed(Failure::Aborted);
        }
        let step = self.chunk(line, buffer);
        if let Step::Nak(..) = step {
            self.naks_in_a_row += 1;
            if self.naks_in_a_row >= MAX_NAKS_IN_A_ROW {
                return Step::Failed(Failure::TooManyNaks);
            }
        } else {
            self.naks_in_a_row = 0;
        }
        step
    }

    fn chunk(&mut self, line: &str, buffer: &mut [u8]) -> Step {
        let chunk = match parse_chunk(line) {
            Ok(chunk) => chunk,
            Err((seq, error)) => return Step::Nak(seq.unwrap_or(self.next_seq), NakReason::Chunk(error)),
        };
        if chunk.seq + 1 == self.next_seq {
            // Our ack was lost and the host sent it again; it is stored already. Only if it is the same
            // chunk, though: a corrupted sequence number must not be acknowledged.
            let start = chunk.seq * CHUNK_BYTES;
            let stored = buffer.get(start..start + chunk.data().len());
            if stored == Some(chunk.data()) {
                return Step::Ack(chunk.seq);
            }
        }
        if chunk.seq != self.next_seq {
            return Step::Nak(chunk.seq, NakReason::WrongSeq { expected: self.next_seq });
        }
        let start = chunk.seq * CHUNK_BYTES;
        let expected = CHUNK_BYTES.min(self.length - start);
        if chunk.data().len() != expected {
            return Step::Nak(chunk.seq, NakReason::WrongLength { expected });
        }
        buffer[start..start + expected].copy_from_slice(chunk.data());
        self.running.update(chunk.data());
        self.next_seq += 1;
        if start + expected < self.length {
            return Step::Ack(chunk.seq);
        }
        let actual = self.running.finish();
        if actual == self.crc {
            Step::Complete
        } else {
            Step::Failed(Failure::CrcMismatch { expected: self.crc, actual })
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::{String, ToString};
    use std::vec;
    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;

    /// Every chunk line of `image`, in order.
    fn chunk_lines(image: &[u8]) -> Vec<String> {
        image.chunks(CHUNK_BYTES).enumerate().map(|(seq, data)| ChunkLine { seq, data }.to_string()).collect()
    }

    /// Feeds `lines` to a receiver for `image`'s header; returns every step and the buffer.
    fn receive_all(image: &[u8], lines: &[String]) -> (Vec<Step>, Vec<u8>) {
        let header = Header { name: "x", length: image.len(), crc: crc32(image) };
        let mut receiver = Receiver::new(&header);
        let mut buffer = vec![0; image.len()];
        let steps = lines.iter().map(|line| receiver.receive(line, &mut buffer)).collect();
        (steps, buffer)
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        let mut pieces = Crc32::new();
        pieces.update(b"1234");
        pieces.update(b"56789");
        assert_eq!(pieces.finish(), 0xCBF4_3926);
    }

    #[test]
    fn headers_are_checked() {
        let ok = parse_header(&["hello", "100", "0000abcd", "a", "b"]).unwrap();
        assert_eq!(ok.0, Header { name: "hello", length: 100, crc: 0xabcd });
        assert_eq!(ok.1, ["a", "b"]);
        assert_eq!(HeaderLine(ok.0).to_string(), "upload hello 100 0000abcd");
        for (words, error) in [
            (&["hello", "100"][..], HeaderError::Usage),
            (&["he/llo", "100", "0000abcd"], HeaderError::BadName),
            (&["", "100", "0000abcd"], HeaderError::BadName),
            (&["hello", "0", "0000abcd"], HeaderError::Empty),
            (&["hello", "-1", "0000abcd"], HeaderError::BadLength),
            (&["hello", "1048577", "0000abcd"], HeaderError::TooLong { length: "1048577" }),
            (
                &["hello", "99999999999999999999999", "0000abcd"],
                HeaderError::TooLong { length: "99999999999999999999999" },
            ),
            (&["hello", "100", "abcd"], HeaderError::BadCrc),
            (&["hello", "100", "0000abcg"], HeaderError::BadCrc),
        ] {
            assert_eq!(parse_header(words).map(|h| h.0), Err(error), "{words:?}");
        }
    }

    #[test]
    fn a_length_too_big_for_a_number_is_shown_as_written() {
        let error = parse_header(&["hello", "99999999999999999999999", "0000abcd"]).unwrap_err();
        assert_eq!(error.to_string(), "99999999999999999999999 bytes is more than the limit of 1048576");
    }

    #[test]
    fn the_longest_chunk_line_fits_the_shell() {
        let line = ChunkLine { seq: chunk_count(MAX_LENGTH) - 1, data: &[0xff; CHUNK_BYTES] }.to_string();
        assert!(line.len() < 128, "{} characters: {line}", line.len());
    }

    #[test]
    fn replies_round_trip() {
        for reply in [
            Reply::Ready,
            Reply::Ack(7),
            Reply::Nak(3, "checksum mismatch"),
            Reply::Ok { name: "hello", length: 33336 },
            Reply::Error("bad name"),
        ] {
            assert_eq!(parse_reply(&reply.to_string()), Some(reply));
        }
        assert_eq!(parse_reply("hello from pid 2!"), None);
        assert_eq!(parse_reply("upload: ack x"), None);
    }

    #[test]
    fn a_lost_ack_is_acknowledged_again_and_stores_nothing_twice() {
        let image: Vec<u8> = (0..100u8).collect();
        let lines = chunk_lines(&image);
        let sent = [lines[0].clone(), lines[0].clone(), lines[1].clone(), lines[2].clone()];
        let (steps, buffer) = receive_all(&image, &sent);
        assert_eq!(steps, [Step::Ack(0), Step::Ack(0), Step::Ack(1), Step::Complete]);
        assert_eq!(buffer, image);
    }

    #[test]
    fn aborts_end_the_transfer() {
        let image = [1u8; 10];
        for line in ["", "  ", ABORT] {
            assert_eq!(receive_all(&image, &[line.to_string()]).0, [Step::Failed(Failure::Aborted)]);
        }
    }

    #[test]
    fn too_many_naks_in_a_row_give_up() {
        let image = [1u8; 10];
        let bad = vec!["0 zz 00000000".to_string(); MAX_NAKS_IN_A_ROW];
        let steps = receive_all(&image, &bad).0;
        assert_eq!(steps.last(), Some(&Step::Failed(Failure::TooManyNaks)));
        assert!(steps[..MAX_NAKS_IN_A_ROW - 1].iter().all(|s| matches!(s, Step::Nak(0, _))), "{steps:?}");
    }

    #[test]
    fn a_wrong_total_crc_fails_at_the_end() {
        let image = [5u8; 60];
        let header = Header { name: "x", length: 60, crc: crc32(&image) ^ 1 };
        let mut receiver = Receiver::new(&header);
        let mut buffer = [0; 60];
        let lines = chunk_lines(&image);
        assert_eq!(receiver.receive(&lines[0], &mut buffer), Step::Ack(0));
        assert!(matches!(
            receiver.receive(&lines[1], &mut buffer),
            Step::Failed(Failure::CrcMismatch { .. })
        ));
    }

    #[test]
    fn wrong_seq_and_wrong_length_are_naked() {
        let image = [9u8; 100];
        let short = ChunkLine { seq: 0, data: &image[..10] }.to_string();
        let ahead = ChunkLine { seq: 1, data: &image[..CHUNK_BYTES] }.to_string();
        let steps = receive_all(&image, &[short, ahead]).0;
        assert_eq!(
            steps,
            [
                Step::Nak(0, NakReason::WrongLength { expected: CHUNK_BYTES }),
                Step::Nak(1, NakReason::WrongSeq { expected: 0 })
            ]
        );
    }

    proptest! {
        #[test]
        fn any_image_round_trips(image in proptest::collection::vec(any::<u8>(), 1..600)) {
            let lines = chunk_lines(&image);
            let (steps, buffer) = receive_all(&image, &lines);
            let (last, acks) = steps.split_last().unwrap();
            prop_assert_eq!(*last, Step::Complete);
            prop_assert!(acks.iter().enumerate().all(|(i, s)| *s == Step::Ack(i)));
            prop_assert_eq!(buffer, image);
        }

        /// Any change to one character of a chunk line is refused, and the resent good line is taken.
        #[test]
        fn every_corrupted_chunk_is_naked_and_a_resend_recovers(
            image in proptest::collection::vec(any::<u8>(), 1..200),
            which in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(),
            replacement in 0x20u8..0x7f,
        ) {
            let lines = chunk_lines(&image);
            let target = which.index(lines.len());
            let mut bad = lines[target].clone().into_bytes();
            let at = at.index(bad.len());
            prop_assume!(bad[at] != replacement);
            // Hex digits differing only in case decode alike: not a corruption.
            prop_assume!(!bad[at].eq_ignore_ascii_case(&replacement));
            bad[at] = replacement;
            let bad = String::from_utf8(bad).unwrap();
            let mut sent: Vec<String> = lines[..target].to_vec();
            sent.push(bad);
            sent.extend_from_slice(&lines[target..]);
            let (steps, buffer) = receive_all(&image, &sent);
            // Refused, or at most taken for a repeat of the chunk before with the very same bytes (the host
            // waits for this chunk's ack, so it resends).
            prop_assert!(
                matches!(steps[target], Step::Nak(..)) || (target > 0 && steps[target] == Step::Ack(target - 1)),
                "{:?} for {:?}", steps[target], sent[target]
            );
            prop_assert_eq!(*steps.last().unwrap(), Step::Complete);
            prop_assert_eq!(buffer, image);
        }

        /// Whatever words follow `upload`, the parser answers without panicking, and as a plain model of
        /// the rules says; what it accepts formats back to the same words, and every refusal is one line,
        /// as the kernel prints it after `upload: error `.
        #[test]
        fn any_header_words_are_judged_by_the_rules(
            name in prop_oneof!["[a-zA-Z0-9_-]{1,32}", "[a-z]{33,40}", any::<String>()],
            length in prop_oneof!["0{1,4}", "0{0,3}[1-9][0-9]{0,7}", "[0-9]{20,30}", any::<String>()],
            crc in prop_oneof!["[0-9a-fA-F]{8}", "[0-9a-fA-F]{0,10}", any::<String>()],
            args in proptest::collection::vec(any::<String>(), 0..3),
            count in 0usize..7,
        ) {
            let all: Vec<&str> =
                [name.as_str(), length.as_str(), crc.as_str()].into_iter().chain(args.iter().map(String::as_str)).collect();
            let words = &all[..count.min(all.len())];
            let expected = match words {
                [name, length, crc, ..] => {
                    let digits = length.trim_start_matches('0');
                    if !(1..=MAX_NAME).contains(&name.len())
                        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    {
                        Err(HeaderError::BadName)
                    } else if length.is_empty() || !length.bytes().all(|b| b.is_ascii_digit()) {
                        Err(HeaderError::BadLength)
                    } else if digits.is_empty() {
                        Err(HeaderError::Empty)
                    } else if digits.len() > 7 || digits.parse::<usize>().unwrap() > MAX_LENGTH {
                        Err(HeaderError::TooLong { length })
                    } else if crc.len() != 8 || !crc.bytes().all(|b| b.is_ascii_hexdigit()) {
                        Err(HeaderError::BadCrc)
                    } else {
                        Ok(())
                    }
                }
                _ => Err(HeaderError::Usage),
            };
            match parse_header(words) {
                Ok((header, rest)) => {
                    prop_assert_eq!(expected, Ok(()));
                    prop_assert_eq!(rest, &words[3..]);
                    let line = HeaderLine(header).to_string();
                    let again: Vec<&str> = line.split(' ').skip(1).collect();
                    prop_assert_eq!(parse_header(&again).map(|h| h.0), Ok(header));
                    prop_assert_eq!(again[1], words[1].trim_start_matches('0'));
                    prop_assert!(again[2].eq_ignore_ascii_case(words[2]));
                }
                Err(error) => {
                    prop_assert_eq!(Err(error), expected);
                    let text = error.to_string();
                    prop_assert!(!text.is_empty() && !text.contains(['\r', '\n']), "{:?}", text);
                }
            }
        }

        /// Lines of any characters (the host reads the kernel's output lossily, so replies may hold any)
        /// never panic the chunk parser, the receiver or the reply parser.
        #[test]
        fn arbitrary_text_never_panics(line in any::<String>()) {
            let image = [0u8; 100];
            let _ = receive_all(&image, core::slice::from_ref(&line));
            let _ = parse_reply(&line);
            let _ = parse_chunk(&line);
        }

        #[test]
        fn arbitrary_lines_never_panic(line in "[ -~]{0,130}") {
            let image = [0u8; 100];
            let _ = receive_all(&image, core::slice::from_ref(&line));
            let _ = parse_reply(&line);
        }
    }
}
