//! Turns the serial byte stream into lines, and notices the shell prompt.
//!
//! The kernel ends its lines with `\r\n`, but its prompt (`cowpi> `) is never followed by a newline: it
//! waits for input on the same line. So besides complete lines the splitter reports [`Piece::Prompt`] at
//! the byte that completes a prompt on the unfinished line (checked per byte, so a prompt is reported
//! once, however the reads split it); the echo of the command typed after it then completes that same
//! line (`cowpi> test list`).

use cowpi_console::protocol::PROMPT;

/// One thing recognised in the byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A complete line, without its `\r\n` (invalid UTF-8 replaced, so garbage cannot stop the run).
    Line(String),
    /// The unfinished line now ends with the shell prompt.
    Prompt,
}

/// Accumulates bytes until they form lines.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// Feeds received bytes; returns what they completed, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Piece> {
        let mut pieces = Vec::new();
        for &byte in bytes {
            match byte {
                b'\n' => {
                    let line = String::from_utf8_lossy(&self.partial).trim_end_matches('\r').to_owned();
                    pieces.push(Piece::Line(line));
                    self.partial.clear();
                }
                _ => {
                    self.partial.push(byte);
                    if self.partial.ends_with(PROMPT.as_bytes()) {
                        pieces.push(Piece::Prompt);
                    }
                }
            }
        }
        pieces
    }

    /// The unfinished line so far (for logs: a kernel that stops mid-line still shows what it printed).
    pub fn partial(&self) -> String {
        String::from_utf8_lossy(&self.partial).trim_end_matches('\r').to_owned()
    }

    /// Forgets everything: a new boot starts a new stream.
    pub fn reset(&mut self) {
        *self = LineSplitter::default();
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn line(text: &str) -> Piece {
        Piece::Line(text.to_owned())
    }

    #[test]
    fn lines_end_at_newline_with_or_without_carriage_return() {
        let mut splitter = LineSplitter::default();
        assert_eq!(splitter.push(b"one\r\ntwo\nthr"), [line("one"), line("two")]);
        assert_eq!(splitter.partial(), "thr");
        assert_eq!(splitter.push(b"ee\r\n"), [line("three")]);
        assert_eq!(splitter.partial(), "");
    }

    #[test]
    fn the_prompt_is_reported_once_even_when_split_across_reads() {
        let mut splitter = LineSplitter::default();
        assert_eq!(
            splitter.push(b"cowpi: ready board=raspi3b\r\ncowp"),
            [line("cowpi: ready board=raspi3b")]
        );
        assert_eq!(splitter.push(b"i> "), [Piece::Prompt]);
        // The echo of the typed command extends the prompt's line without reporting the prompt again.
        assert_eq!(splitter.push(b"test list"), []);
        assert_eq!(splitter.push(b"\r\n"), [line("cowpi> test list")]);
        assert_eq!(splitter.push(b"cowpi> "), [Piece::Prompt]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let mut splitter = LineSplitter::default();
        assert_eq!(splitter.push(b"a\xff\xfeb\n"), [line("a\u{fffd}\u{fffd}b")]);
    }

    #[test]
    fn reset_drops_the_unfinished_line() {
        let mut splitter = LineSplitter::default();
        splitter.push(b"half a li");
        splitter.reset();
        assert_eq!(splitter.push(b"ne\n"), [line("ne")]);
    }

    proptest! {
        /// Any bytes, split into reads anywhere: the pieces are those of the whole stream read at once
        /// (a line or prompt never depends on where a read ended), no line holds a line feed, and a
        /// prompt is reported exactly where the unfinished line comes to end with one.
        #[test]
        fn any_stream_splits_the_same_however_it_is_read(
            stream in proptest::collection::vec(
                prop_oneof![
                    3 => any::<u8>().prop_map(|b| vec![b]),
                    1 => prop::sample::select(vec![
                        PROMPT.as_bytes().to_vec(), b"\r\n".to_vec(), b"cowpi".to_vec(), b"> ".to_vec(),
                    ]),
                ],
                0..200,
            ).prop_map(|pieces| pieces.concat()),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let whole = LineSplitter::default().push(&stream);
            let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(stream.len() + 1)).collect();
            cuts.extend([0, stream.len()]);
            cuts.sort_unstable();
            let mut splitter = LineSplitter::default();
            let pieces: Vec<Piece> = cuts.windows(2).flat_map(|w| splitter.push(&stream[w[0]..w[1]])).collect();
            prop_assert_eq!(&pieces, &whole);
            let mut line_start = 0;
            let mut expected = Vec::new();
            for (at, &byte) in stream.iter().enumerate() {
                if byte == b'\n' {
                    let line = String::from_utf8_lossy(&stream[line_start..at]).trim_end_matches('\r').to_owned();
                    expected.push(Piece::Line(line));
                    line_start = at + 1;
                } else if stream[line_start..=at].ends_with(PROMPT.as_bytes()) {
                    expected.push(Piece::Prompt);
                }
            }
            prop_assert_eq!(whole, expected);
        }
    }
}
