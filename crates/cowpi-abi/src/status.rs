//! How a task ended, as `WAIT` reports it to the parent: an `i64` exit status.
//!
//! A task ends in one of two ways. It calls `EXIT(code)`: the status is `code & 0xff`, `0..=255` as in
//! POSIX (so `exit(-1)` reads back as 255). Or the kernel kills it, for an exception it cannot resolve: the
//! status is `-(signal number)`. cowpi has no signal handlers; it borrows POSIX's numbers only so that
//! `-11` looks as familiar as `SIGSEGV` does. Both forms fit in an `i64` without overlapping.

use core::fmt;

/// The exit code of a program that panicked (the user library's panic handler uses it), the same number
/// Rust's `std` uses, so a panic is told apart from an ordinary failure at a glance.
pub const PANIC_EXIT_CODE: u8 = 101;

/// Why the kernel killed a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Signal {
    /// An undefined or illegal instruction (`udf`, a privileged instruction, an illegal execution state).
    IllegalInstruction = 4,
    /// A breakpoint instruction (`brk`), which Rust emits for some aborts.
    Breakpoint = 5,
    /// A misaligned access the hardware refused (for example a misaligned `sp` or exclusive access).
    BusError = 7,
    /// The kernel could not go on running the task, for example no frame to resolve a page fault.
    Killed = 9,
    /// An access to memory the task may not touch that way: unmapped, the kernel's, or against the page's
    /// protection (a write to code, a jump into data).
    SegmentationFault = 11,
}

impl Signal {
    /// Every signal, in number order.
    pub const ALL: [Signal; 5] = [
        Signal::IllegalInstruction,
        Signal::Breakpoint,
        Signal::BusError,
        Signal::Killed,
        Signal::SegmentationFault,
    ];

    pub const fn number(self) -> u8 {
        self as u8
    }

    pub fn from_number(number: u8) -> Option<Signal> {
        Signal::ALL.into_iter().find(|signal| signal.number() == number)
    }

    /// A short description for people, e.g. `"segmentation fault"`.
    pub const fn description(self) -> &'static str {
        match self {
            Signal::IllegalInstruction => "illegal instruction",
            Signal::Breakpoint => "breakpoint",
            Signal::BusError => "bus error",
            Signal::Killed => "the kernel (no memory left for it)",
            Signal::SegmentationFault => "segmentation fault",
        }
    }
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// It called `EXIT`; the code is what was kept of the argument.
    Exited(u8),
    /// The kernel killed it.
    Killed(Signal),
}

impl ExitStatus {
    /// The status of a task that called `EXIT(argument)`: only the low 8 bits are kept.
    pub const fn from_exit_argument(argument: u64) -> ExitStatus {
        ExitStatus::Exited(argument as u8)
    }

    /// The `i64` that `WAIT` writes.
    pub const fn to_raw(self) -> i64 {
        match self {
            ExitStatus::Exited(code) => code as i64,
            ExitStatus::Killed(signal) => -(signal.number() as i64),
        }
    }

    /// The status an `i64` from `WAIT` stands for, or `None` if it stands for none.
    pub fn from_raw(raw: i64) -> Option<ExitStatus> {
        match raw {
            0..=255 => Some(ExitStatus::Exited(raw as u8)),
            -255..=-1 => Signal::from_number(raw.unsigned_abs() as u8).map(ExitStatus::Killed),
            _ => None,
        }
    }

    /// Whether the task exited with code 0.
    pub const fn is_success(self) -> bool {
        matches!(self, ExitStatus::Exited(0))
    }
}

/// `exited with 0`, `exited with 101 (panic)`, `killed by segmentation fault (signal 11)`.
impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Exited(PANIC_EXIT_CODE) => write!(f, "exited with {PANIC_EXIT_CODE} (panic)"),
            ExitStatus::Exited(code) => write!(f, "exited with {code}"),
            ExitStatus::Killed(signal) => {
                write!(f, "killed by {} (signal {})", signal.description(), signal.number())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::ToString;

    use super::*;

    #[test]
    fn exits_keep_the_low_eight_bits() {
        assert_eq!(ExitStatus::from_exit_argument(0), ExitStatus::Exited(0));
        assert_eq!(ExitStatus::from_exit_argument(3), ExitStatus::Exited(3));
        assert_eq!(ExitStatus::from_exit_argument(-1_i64 as u64), ExitStatus::Exited(255));
        assert_eq!(ExitStatus::from_exit_argument(0x1_02), ExitStatus::Exited(2));
    }

    #[test]
    fn kills_are_negative_signal_numbers() {
        assert_eq!(ExitStatus::Killed(Signal::SegmentationFault).to_raw(), -11);
        assert_eq!(ExitStatus::Killed(Signal::IllegalInstruction).to_raw(), -4);
        assert_eq!(ExitStatus::from_raw(-11), Some(ExitStatus::Killed(Signal::SegmentationFault)));
    }

    #[test]
    fn every_status_survives_the_round_trip_and_no_two_collide() {
        let mut seen = std::collections::BTreeSet::new();
        let exits = (0..=255).map(ExitStatus::Exited);
        let kills = Signal::ALL.into_iter().map(ExitStatus::Killed);
        for status in exits.chain(kills) {
            assert_eq!(ExitStatus::from_raw(status.to_raw()), Some(status));
            assert!(seen.insert(status.to_raw()), "{status} collides");
        }
    }

    #[test]
    fn other_raw_values_stand_for_nothing() {
        for raw in [256, -1, -3, -12, -256, i64::MIN, i64::MAX] {
            assert_eq!(ExitStatus::from_raw(raw), None, "{raw}");
        }
    }

    #[test]
    fn shows_what_happened() {
        assert_eq!(ExitStatus::Exited(0).to_string(), "exited with 0");
        assert_eq!(ExitStatus::Exited(101).to_string(), "exited with 101 (panic)");
        assert_eq!(
            ExitStatus::Killed(Signal::SegmentationFault).to_string(),
            "killed by segmentation fault (signal 11)"
        );
        assert!(ExitStatus::Exited(0).is_success());
        assert!(!ExitStatus::Exited(1).is_success());
        assert!(!ExitStatus::Killed(Signal::Killed).is_success());
    }
}
