//! The errors a system call can return, with the numbers that travel in `x0`.
//!
//! A failed call returns `-(number)`; the numbers are stable, like the call numbers, and 0 is not an error.
//! Each error means one thing wherever it appears, so a program can react to it without knowing which
//! check inside the kernel fired.

use core::fmt;

/// Why a system call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Error {
    /// An argument is out of its range: an unaligned address where a page address is needed, a zero or
    /// impossibly large length, unknown protection bits, a pid that cannot exist, a name or argument string
    /// over its limit.
    InvalidArgument = 1,
    /// A pointer argument does not name memory the call may use: outside user space, not mapped, or not
    /// readable (or writable, for memory the kernel writes) by the task.
    BadAddress = 2,
    /// No system call has the number in `x8`.
    NoSuchSyscall = 3,
    /// The kernel has no memory (frames, or room in the map area) for the request.
    OutOfMemory = 4,
    /// `SPAWN` named a program that is not embedded in the kernel.
    NoSuchProgram = 5,
    /// `WAIT` has no child to wait for: none at all, or the pid is not a child of the caller.
    NoChild = 6,
    /// `SPAWN` or `FORK` would exceed the kernel's task limit (`MemStats::task_limit`: every task counts,
    /// kernel tasks and exited ones not yet collected included).
    TooManyTasks = 7,
    /// The program's ELF image was refused by the loader.
    BadExecutable = 8,
    /// The request breaks a policy: memory both writable and executable (W^X).
    PermissionDenied = 9,
    /// `WRITE` to a file descriptor that does not exist (only 1, the console, does).
    BadFileDescriptor = 10,
    /// `UNMAP` or `PROTECT` covers a page that is not mapped.
    NotMapped = 11,
}

impl Error {
    /// Every error, in number order.
    pub const ALL: [Error; 11] = [
        Error::InvalidArgument,
        Error::BadAddress,
        Error::NoSuchSyscall,
        Error::OutOfMemory,
        Error::NoSuchProgram,
        Error::NoChild,
        Error::TooManyTasks,
        Error::BadExecutable,
        Error::PermissionDenied,
        Error::BadFileDescriptor,
        Error::NotMapped,
    ];

    /// The error's number: a failed call returns its negation.
    pub const fn number(self) -> u64 {
        self as u64
    }

    /// The error with this number, if there is one.
    pub fn from_number(number: u64) -> Option<Error> {
        Error::ALL.into_iter().find(|error| error.number() == number)
    }

    /// The variant's name, e.g. `"BadAddress"`: what test output prints, so it can be searched for.
    pub const fn name(self) -> &'static str {
        match self {
            Error::InvalidArgument => "InvalidArgument",
            Error::BadAddress => "BadAddress",
            Error::NoSuchSyscall => "NoSuchSyscall",
            Error::OutOfMemory => "OutOfMemory",
            Error::NoSuchProgram => "NoSuchProgram",
            Error::NoChild => "NoChild",
            Error::TooManyTasks => "TooManyTasks",
            Error::BadExecutable => "BadExecutable",
            Error::PermissionDenied => "PermissionDenied",
            Error::BadFileDescriptor => "BadFileDescriptor",
            Error::NotMapped => "NotMapped",
        }
    }

    /// A short description for people.
    pub const fn description(self) -> &'static str {
        match self {
            Error::InvalidArgument => "invalid argument",
            Error::BadAddress => "bad address",
            Error::NoSuchSyscall => "no such system call",
            Error::OutOfMemory => "out of memory",
            Error::NoSuchProgram => "no such program",
            Error::NoChild => "no child to wait for",
            Error::TooManyTasks => "too many tasks",
            Error::BadExecutable => "bad executable",
            Error::PermissionDenied => "permission denied",
            Error::BadFileDescriptor => "bad file descriptor",
            Error::NotMapped => "not mapped",
        }
    }
}

/// Prints the name and the description, e.g. `BadAddress (bad address)`.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.description())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::ToString;

    use super::*;

    #[test]
    fn numbers_are_stable() {
        let expected = [
            (Error::InvalidArgument, 1),
            (Error::BadAddress, 2),
            (Error::NoSuchSyscall, 3),
            (Error::OutOfMemory, 4),
            (Error::NoSuchProgram, 5),
            (Error::NoChild, 6),
            (Error::TooManyTasks, 7),
            (Error::BadExecutable, 8),
            (Error::PermissionDenied, 9),
            (Error::BadFileDescriptor, 10),
            (Error::NotMapped, 11),
        ];
        assert_eq!(expected.len(), Error::ALL.len());
        for (error, number) in expected {
            assert_eq!(error.number(), number, "{error}");
            assert_eq!(Error::from_number(number), Some(error));
        }
    }

    #[test]
    fn zero_and_unknown_numbers_are_no_error() {
        for number in [0, 12, 4095, u64::MAX] {
            assert_eq!(Error::from_number(number), None, "{number}");
        }
    }

    #[test]
    fn display_shows_name_and_description() {
        assert_eq!(Error::BadAddress.to_string(), "BadAddress (bad address)");
        for error in Error::ALL {
            let shown = error.to_string();
            assert!(shown.starts_with(error.name()) && shown.contains(error.description()), "{shown}");
        }
    }
}
