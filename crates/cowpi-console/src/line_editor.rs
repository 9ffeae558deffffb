//! The shell's line editor: turns the bytes arriving on the serial line into command lines.
//!
//! A serial terminal sends every key as it is pressed and shows only what the other end echoes, so the
//! kernel must do what a terminal driver's "cooked mode" does on a desktop OS: collect characters, echo
//! them, handle erasing, and hand over a line when Enter is pressed. It runs before any allocator may
//! exist, so the line lives in a fixed buffer.
//!
//! The rule that drives the design is that *what the user sees is what runs*:
//!
//! - only printable ASCII is stored, and every stored character is echoed; erasing is echoed as
//!   backspace-space-backspace, which blanks the character on any terminal;
//! - a character that does not fit is not stored: it rings the bell and the line is reported as
//!   [`Input::TooLong`] instead of running truncated (until it is erased completely);
//! - the escape sequences that arrow and function keys send are swallowed whole, so they cannot leave
//!   stray `[A` characters in a command;
//! - any other byte, including line noise, is ignored: nothing that arrives can panic or corrupt the line.
//!
//! Enter may arrive as CR, LF or CR LF depending on the terminal; LF straight after CR is taken as part of
//! the same Enter, so CR LF does not also submit an empty line.

use core::str;

/// What the user finished with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// Enter was pressed on this line (possibly empty, never more than the editor's capacity).
    Line(&'a str),
    /// Ctrl-C was pressed: the line was abandoned.
    Cancelled,
    /// Enter was pressed after more characters were typed than fit; the line must not be run.
    TooLong,
}

const BELL: u8 = 0x07;
const BACKSPACE: u8 = 0x08;
const DELETE: u8 = 0x7f;
const CTRL_C: u8 = 0x03;
const CTRL_U: u8 = 0x15;
const ESCAPE: u8 = 0x1b;
const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// Moves the cursor back over a character, blanks it and moves back again.
const ERASE_ONE: &[u8] = b"\x08 \x08";
const NEWLINE: &[u8] = b"\r\n";
const CANCEL_ECHO: &[u8] = b"^C\r\n";

/// Where the editor is within a multi-byte key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Nothing,
    /// Enter arrived as CR: an LF now belongs to it.
    LineFeedAfterReturn,
    /// ESC arrived.
    Escape,
    /// `ESC [` arrived: parameter and intermediate bytes follow, then a final byte in 0x40..=0x7E.
    ControlSequence,
    /// `ESC O` arrived (keypad and F1-F4 in some terminal modes): one more byte follows.
    SingleShift,
}

/// A line editor holding at most `N` characters.
#[derive(Debug, Clone)]
pub struct LineEditor<const N: usize> {
    /// `buffer[..len]` is the line so far: printable ASCII only.
    buffer: [u8; N],
    len: usize,
    /// A character was dropped for lack of room since the line was last empty.
    overflowed: bool,
    pending: Pending,
}

impl<const N: usize> LineEditor<N> {
    /// The longest line the editor accepts.
    pub const CAPACITY: usize = N;

    pub const fn new() -> LineEditor<N> {
        LineEditor { buffer: [0; N], len: 0, overflowed: false, pending: Pending::Nothing }
    }

    /// Takes one received byte, passes to `echo` whatever should be written back to the terminal, and
    /// returns the input when a line is finished.
    pub fn feed(&mut self, byte: u8, mut echo: impl FnMut(&[u8])) -> Option<Input<'_>> {
        let pending = core::mem::replace(&mut self.pending, Pending::Nothing);
        let swallowed = match pending {
            Pending::Nothing => false,
            Pending::LineFeedAfterReturn => byte == LF,
            Pending::Escape => match byte {
                b'[' => self.await_more(Pending::ControlSequence),
                b'O' => self.await_more(Pending::SingleShift),
                // A two-byte sequence (Alt+key sends ESC and the key).
                0x20..=0x7e => true,
                // A control byte is not part of any sequence; acting on it keeps Enter and Ctrl-C working
                // even after a stray ESC.
                _ => false,
            },
            Pending::ControlSequence => match byte {
                // Parameter and intermediate bytes.
                0x20..=0x3f => self.await_more(Pending::ControlSequence),
                // The final byte.
                0x40..=0x7e => true,
                _ => false,
            },
            Pending::SingleShift => (0x20..=0x7e).contains(&byte),
        };
        if swallowed {
            return None;
        }
        match byte {
            0x20..=0x7e => self.insert(byte, &mut echo),
            BACKSPACE | DELETE => self.erase(1, &mut echo),
            CTRL_U => self.erase(self.len, &mut echo),
            CTRL_C => {
                echo(CANCEL_ECHO);
                self.clear();
                return Some(Input::Cancelled);
            }
            CR | LF => {
                if byte == CR {
                    self.pending = Pending::LineFeedAfterReturn;
                }
                echo(NEWLINE);
                return Some(self.finish_line());
            }
            ESCAPE => self.pending = Pending::Escape,
            _ => {}
        }
        None
    }

    /// The line typed so far, for redrawing it after other output has interrupted it.
    pub fn partial_line(&self) -> &str {
        self.text(self.len)
    }

    /// Forgets the unfinished line and any half-received key, without echo: for a reader that gives up
    /// in the middle of a line nobody saw (the upload's chunk lines are not echoed), so it cannot become
    /// the start of the next command. An LF still pairs with the CR that ended the line before.
    pub fn discard_partial_line(&mut self) {
        self.clear();
        if self.pending != Pending::LineFeedAfterReturn {
            self.pending = Pending::Nothing;
        }
    }

    /// Marks the byte just read as part of a sequence that goes on: it is swallowed.
    fn await_more(&mut self, pending: Pending) -> bool {
        self.pending = pending;
        true
    }

    fn insert(&mut self, byte: u8, echo: &mut impl FnMut(&[u8])) {
        match self.buffer.get_mut(self.len) {
            Some(slot) => {
                *slot = byte;
                self.len += 1;
                echo(&[byte]);
            }
            None => {
                self.overflowed = true;
                echo(&[BELL]);
            }
        }
    }

    /// Erases up to `count` characters from the end of the line, on screen too.
    fn erase(&mut self, count: usize, echo: &mut impl FnMut(&[u8])) {
        let count = count.min(self.len);
        for _ in 0..count {
            echo(ERASE_ONE);
        }
        self.len -= count;
        if self.len == 0 {
            // Nothing of the overlong line is left on screen, so nothing of it can run truncated.
            self.overflowed = false;
        }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.overflowed = false;
    }

    /// Ends the line and readies the editor for the next one; the returned line still borrows the buffer.
    fn finish_line(&mut self) -> Input<'_> {
        let len = self.len;
        let overflowed = self.overflowed;
        self.clear();
        if overflowed { Input::TooLong } else { Input::Line(self.text(len)) }
    }

    fn text(&self, len: usize) -> &str {
        str::from_utf8(&self.buffer[..len]).expect("the line editor stores only printable ASCII")
    }
}

impl<const N: usize> Default for LineEditor<N> {
    fn default() -> LineEditor<N> {
        LineEditor::new()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::{String, ToString};
    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;

    /// An [`Input`] that outlives the editor's next byte.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Owned {
        Line(String),
        Cancelled,
        TooLong,
    }

    impl From<Input<'_>> for Owned {
        fn from(input: Input<'_>) -> Owned {
            match input {
                Input::Line(line) => Owned::Line(line.to_string()),
                Input::Cancelled => Owned::Cancelled,
                Input::TooLong => Owned::TooLong,
            }
        }
    }

    fn line(text: &str) -> Owned {
        Owned::Line(text.to_string())
    }

    /// Feeds `bytes` to `editor`, returning every input it produced and everything it echoed.
    fn feed_all<const N: usize>(editor: &mut LineEditor<N>, bytes: &[u8]) -> (Vec<Owned>, Vec<u8>) {
        let mut inputs = Vec::new();
        let mut echoed = Vec::new();
        for &byte in bytes {
            if let Some(input) = editor.feed(byte, |bytes: &[u8]| echoed.extend_from_slice(bytes)) {
                inputs.push(input.into());
            }
        }
        (inputs, echoed)
    }

    fn type_into<const N: usize>(bytes: &[u8]) -> (Vec<Owned>, Vec<u8>) {
        feed_all(&mut LineEditor::<N>::new(), bytes)
    }

    #[test]
    fn typing_echoes_and_enter_returns_the_line() {
        let (inputs, echoed) = type_into::<16>(b"help\r");
        assert_eq!(inputs, [line("help")]);
        assert_eq!(echoed, b"help\r\n");
    }

    #[test]
    fn each_line_ending_is_one_enter() {
        for ending in [&b"\r"[..], b"\n", b"\r\n"] {
            let bytes = [&b"one"[..], ending, b"two", ending].concat();
            let (inputs, echoed) = type_into::<16>(&bytes);
            assert_eq!(inputs, [line("one"), line("two")], "ending {ending:?}");
            assert_eq!(echoed, b"one\r\ntwo\r\n", "ending {ending:?}");
        }
    }

    #[test]
    fn lone_line_ends_each_give_a_line() {
        assert_eq!(type_into::<16>(b"\r\r").0, [line(""), line("")]);
        assert_eq!(type_into::<16>(b"\n\n").0, [line(""), line("")]);
        assert_eq!(type_into::<16>(b"\r\n\n").0, [line(""), line("")]);
        assert_eq!(type_into::<16>(b"\n\r").0, [line(""), line("")], "LF CR is two line ends, not a pair");
    }

    #[test]
    fn line_feed_is_paired_only_with_the_byte_just_before() {
        let mut editor = LineEditor::<16>::new();
        assert_eq!(feed_all(&mut editor, b"a\r").0, [line("a")]);
        assert_eq!(feed_all(&mut editor, b"b").0, []);
        assert_eq!(feed_all(&mut editor, b"\n").0, [line("b")]);
    }

    #[test]
    fn editor_is_ready_for_the_next_line() {
        let mut editor = LineEditor::<16>::new();
        assert_eq!(editor.feed(b'x', |_| {}), None);
        assert_eq!(editor.feed(b'\r', |_| {}), Some(Input::Line("x")));
        assert_eq!(editor.partial_line(), "");
        assert_eq!(feed_all(&mut editor, b"yz\r").0, [line("yz")]);
    }

    #[test]
    fn backspace_and_delete_erase_one_character() {
        for erase in [BACKSPACE, DELETE] {
            let (inputs, echoed) = type_into::<16>(&[b'a', b'b', b'c', erase, b'd', b'\r']);
            assert_eq!(inputs, [line("abd")]);
            assert_eq!(echoed, b"abc\x08 \x08d\r\n");
        }
    }

    #[test]
    fn erasing_an_empty_line_echoes_nothing() {
        let (inputs, echoed) = type_into::<16>(&[BACKSPACE, DELETE, b'a', BACKSPACE, BACKSPACE, b'\r']);
        assert_eq!(inputs, [line("")]);
        assert_eq!(echoed, b"a\x08 \x08\r\n");
    }

    #[test]
    fn ctrl_u_erases_the_line_visibly() {
        let (inputs, echoed) = type_into::<16>(&[b'a', b'b', b'c', CTRL_U, b'x', b'\r']);
        assert_eq!(inputs, [line("x")]);
        assert_eq!(echoed, b"abc\x08 \x08\x08 \x08\x08 \x08x\r\n");
        assert_eq!(type_into::<16>(&[CTRL_U]).1, b"", "nothing to erase");
    }

    #[test]
    fn ctrl_c_cancels_the_line() {
        let mut editor = LineEditor::<16>::new();
        let (inputs, echoed) = feed_all(&mut editor, &[b'r', b'm', CTRL_C]);
        assert_eq!(inputs, [Owned::Cancelled]);
        assert_eq!(echoed, b"rm^C\r\n");
        assert_eq!(editor.partial_line(), "");
        assert_eq!(feed_all(&mut editor, b"ls\r").0, [line("ls")]);
    }

    #[test]
    fn full_line_is_accepted() {
        assert_eq!(type_into::<4>(b"abcd\r").0, [line("abcd")]);
    }

    #[test]
    fn overflow_rings_the_bell_and_makes_the_line_too_long() {
        let mut editor = LineEditor::<4>::new();
        let (inputs, echoed) = feed_all(&mut editor, b"abcdef\r");
        assert_eq!(inputs, [Owned::TooLong]);
        assert_eq!(echoed, b"abcd\x07\x07\r\n");
        assert_eq!(feed_all(&mut editor, b"ok\r").0, [line("ok")], "the next line starts afresh");
    }

    #[test]
    fn overlong_line_stays_too_long_after_partial_erasing() {
        let bytes = [&b"abcdef"[..], &[BACKSPACE, BACKSPACE], b"x\r"].concat();
        assert_eq!(type_into::<4>(&bytes).0, [Owned::TooLong]);
    }

    #[test]
    fn erasing_an_overlong_line_completely_starts_afresh() {
        let by_ctrl_u = [&b"abcdef"[..], &[CTRL_U], b"ok\r"].concat();
        assert_eq!(type_into::<4>(&by_ctrl_u).0, [line("ok")]);
        let by_backspace = [&b"abcdef"[..], &[BACKSPACE; 4], b"ok\r"].concat();
        assert_eq!(type_into::<4>(&by_backspace).0, [line("ok")]);
    }

    #[test]
    fn ctrl_c_clears_an_overflow() {
        let bytes = [&b"abcdef"[..], &[CTRL_C], b"ok\r"].concat();
        assert_eq!(type_into::<4>(&bytes).0, [Owned::Cancelled, line("ok")]);
    }

    #[test]
    fn zero_capacity_editor_accepts_only_empty_lines() {
        assert_eq!(type_into::<0>(b"\r").0, [line("")]);
        assert_eq!(type_into::<0>(b"a\r"), (std::vec![Owned::TooLong], b"\x07\r\n".to_vec()));
    }

    #[test]
    fn escape_sequences_are_swallowed() {
        let keys: [&[u8]; 9] = [
            b"\x1b[A",      // up
            b"\x1b[D",      // left
            b"\x1b[3~",     // delete
            b"\x1b[1;5C",   // ctrl+right
            b"\x1b[200~",   // start of bracketed paste
            b"\x1bOP",      // F1
            b"\x1bOA",      // up, in application cursor mode
            b"\x1bx",       // alt+x
            b"\x1b[?1049h", // a private-mode sequence
        ];
        for key in keys {
            let bytes = [&b"ab"[..], key, b"c\r"].concat();
            let (inputs, echoed) = type_into::<16>(&bytes);
            assert_eq!(inputs, [line("abc")], "key {key:?}");
            assert_eq!(echoed, b"abc\r\n", "key {key:?}");
        }
    }

    #[test]
    fn control_bytes_interrupt_an_escape_sequence() {
        // A stray ESC (or a sequence cut off by noise) must not eat the Enter or Ctrl-C that follows.
        assert_eq!(type_into::<16>(b"ls\x1b\r").0, [line("ls")]);
        assert_eq!(type_into::<16>(b"ls\x1b[1\r").0, [line("ls")]);
        assert_eq!(type_into::<16>(b"ls\x1bO\r").0, [line("ls")]);
        assert_eq!(type_into::<16>(b"ls\x1b[\x03").0, [Owned::Cancelled]);
        assert_eq!(type_into::<16>(b"\x1b\x1b[Ax\r").0, [line("x")], "ESC ESC starts a new sequence");
    }

    #[test]
    fn an_escape_after_return_ends_the_pairing() {
        assert_eq!(type_into::<16>(b"a\r\x1b[A\n").0, [line("a"), line("")]);
    }

    #[test]
    fn other_control_and_high_bytes_are_ignored() {
        let noise: Vec<u8> =
            (0x00..0x20).filter(|b| ![BACKSPACE, CTRL_C, CTRL_U, ESCAPE, CR, LF].contains(b)).collect();
        let high: Vec<u8> = (0x80..=0xff).collect();
        let bytes = [&b"a"[..], &noise, &high, b"b\r"].concat();
        let (inputs, echoed) = type_into::<16>(&bytes);
        assert_eq!(inputs, [line("ab")]);
        assert_eq!(echoed, b"ab\r\n");
    }

    #[test]
    fn a_discarded_partial_line_is_gone_and_line_ends_still_pair() {
        let mut editor = LineEditor::<4>::new();
        feed_all(&mut editor, b"abcdef\x1b[1");
        editor.discard_partial_line();
        assert_eq!(editor.partial_line(), "");
        assert_eq!(
            feed_all(&mut editor, b"ok\r"),
            (std::vec![line("ok")], b"ok\r\n".to_vec()),
            "no overflow, no escape left"
        );
        editor.discard_partial_line();
        assert_eq!(feed_all(&mut editor, b"\nx\r").0, [line("x")], "the LF still belongs to the CR before");
    }

    #[test]
    fn partial_line_shows_what_was_typed() {
        let mut editor = LineEditor::<8>::new();
        feed_all(&mut editor, b"mem\x1b[Ast");
        assert_eq!(editor.partial_line(), "memst");
        assert_eq!(LineEditor::<8>::CAPACITY, 8);
        assert_eq!(LineEditor::<8>::default().partial_line(), "");
    }

    /// A terminal that keeps just the current line, to check that the screen shows what the editor holds.
    #[derive(Default)]
    struct Screen {
        cells: Vec<u8>,
        cursor: usize,
    }

    impl Screen {
        fn show(&mut self, bytes: &[u8]) -> Result<(), TestCaseError> {
            for &byte in bytes {
                match byte {
                    0x20..=0x7e => {
                        if self.cursor == self.cells.len() {
                            self.cells.push(byte);
                        } else {
                            self.cells[self.cursor] = byte;
                        }
                        self.cursor += 1;
                    }
                    BACKSPACE => {
                        // A terminal does not back up past the line start, so the screen would go out of step.
                        prop_assert!(self.cursor > 0, "backspace at the start of the line");
                        self.cursor -= 1;
                    }
                    CR => self.cursor = 0,
                    LF => self.cells.clear(),
                    BELL => {}
                    other => prop_assert!(false, "echoed control byte {other:#04x}"),
                }
            }
            Ok(())
        }

        /// The text before the cursor, after checking that everything after it has been blanked.
        fn visible(&self) -> Result<&[u8], TestCaseError> {
            let (text, rest) = self.cells.split_at(self.cursor);
            prop_assert!(rest.iter().all(|&b| b == b' '), "stale characters on screen: {:?}", rest);
            Ok(text)
        }
    }

    const CAPACITY: usize = 8;

    proptest! {
        /// Whatever arrives, the editor never panics, returns only printable lines that fit, and the
        /// screen always shows exactly the line that Enter would run.
        #[test]
        fn arbitrary_bytes_keep_screen_and_line_in_step(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut editor = LineEditor::<CAPACITY>::new();
            let mut screen = Screen::default();
            for byte in bytes {
                let before = editor.partial_line().to_string();
                let mut echoed = Vec::new();
                let input = editor.feed(byte, |bytes: &[u8]| echoed.extend_from_slice(bytes)).map(Owned::from);
                screen.show(&echoed)?;
                match input {
                    None => prop_assert_eq!(screen.visible()?, editor.partial_line().as_bytes()),
                    Some(input) => {
                        prop_assert!(echoed.ends_with(NEWLINE), "a finished line must move to a new line");
                        prop_assert_eq!(editor.partial_line(), "");
                        if let Owned::Line(line) = input {
                            prop_assert!(line.len() <= CAPACITY);
                            prop_assert!(line.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{:?}", line);
                            prop_assert_eq!(line, before);
                        }
                    }
                }
            }
        }

        /// Noise rich in what the editor treats specially (escape sequences whole, cut off and garbled,
        /// line ends, erasing, Ctrl-C, bytes no sequence takes), then Ctrl-C and a command: the command
        /// always comes through whole, whatever state the noise left the editor in, and the screen kept
        /// in step all along. This is what lets the shell (and a person) recover from line noise.
        #[test]
        fn ctrl_c_recovers_a_clean_line_after_any_noise(
            noise in proptest::collection::vec(
                prop_oneof![
                    3 => prop::sample::select(std::vec![
                        ESCAPE, b'[', b'O', b';', b'0', b'9', b'?', b'~', b'A', b' ', CR, LF, BACKSPACE, DELETE,
                        CTRL_U, CTRL_C, 0x00, 0x04, 0x7e, 0x80, 0x9b, 0xff,
                    ]),
                    1 => any::<u8>(),
                ],
                0..300,
            ),
        ) {
            let mut editor = LineEditor::<CAPACITY>::new();
            let mut screen = Screen::default();
            for byte in noise.iter().copied().chain([CTRL_C]) {
                let mut echoed = Vec::new();
                let finished = editor.feed(byte, |bytes: &[u8]| echoed.extend_from_slice(bytes)).is_some();
                screen.show(&echoed)?;
                if !finished {
                    prop_assert_eq!(screen.visible()?, editor.partial_line().as_bytes());
                }
            }
            prop_assert_eq!(editor.partial_line(), "");
            let (inputs, echoed) = feed_all(&mut editor, b"help\r");
            prop_assert_eq!(inputs, std::vec![line("help")]);
            prop_assert_eq!(echoed, b"help\r\n".to_vec());
        }

        /// Typing interleaved with cursor and function keys yields exactly the typed characters, or
        /// TooLong when they do not fit; the keys never leave a trace.
        #[test]
        fn keys_among_typing_leave_no_trace(
            chunks in proptest::collection::vec(
                prop_oneof![
                    4 => (0x20u8..=0x7e).prop_map(|b| std::vec![b]),
                    1 => prop::sample::select(std::vec![
                        b"\x1b[A".to_vec(), b"\x1b[C".to_vec(), b"\x1b[3~".to_vec(),
                        b"\x1b[1;5D".to_vec(), b"\x1bOQ".to_vec(), b"\x1b[15~".to_vec(),
                    ]),
                ],
                0..16,
            ),
            ending in prop::sample::select(std::vec![&b"\r"[..], b"\n", b"\r\n"]),
        ) {
            let typed: String = chunks.iter().filter(|c| c.len() == 1).map(|c| c[0] as char).collect();
            let bytes = [chunks.concat(), ending.to_vec()].concat();
            let expected = if typed.len() <= CAPACITY { Owned::Line(typed) } else { Owned::TooLong };
            prop_assert_eq!(type_into::<CAPACITY>(&bytes).0, std::vec![expected]);
        }
    }
}
