//! System-call numbers: what a task puts in `x8` before `svc #0`.
//!
//! The numbers are part of the ABI: a program built today must work with tomorrow's kernel, so a number is
//! never reused or changed, only added. 0 is left out on purpose (a forgotten `x8` is a clear error).

use core::fmt;

/// A system call, by number. The arguments of each are described on [`Request`](crate::Request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Syscall {
    Write = 1,
    Exit = 2,
    GetPid = 3,
    Yield = 4,
    Sleep = 5,
    Spawn = 6,
    Wait = 7,
    Map = 8,
    Unmap = 9,
    Protect = 10,
    MemStats = 11,
    Fork = 12,
    Exec = 13,
    Mergeable = 14,
}

impl Syscall {
    /// Every call, in number order.
    pub const ALL: [Syscall; 14] = [
        Syscall::Write,
        Syscall::Exit,
        Syscall::GetPid,
        Syscall::Yield,
        Syscall::Sleep,
        Syscall::Spawn,
        Syscall::Wait,
        Syscall::Map,
        Syscall::Unmap,
        Syscall::Protect,
        Syscall::MemStats,
        Syscall::Fork,
        Syscall::Exec,
        Syscall::Mergeable,
    ];

    /// The value of `x8` that selects this call.
    pub const fn number(self) -> u64 {
        self as u64
    }

    /// The call with this number, or `None` (the kernel then answers [`Error::NoSuchSyscall`]).
    ///
    /// [`Error::NoSuchSyscall`]: crate::Error::NoSuchSyscall
    pub fn from_number(number: u64) -> Option<Syscall> {
        Syscall::ALL.into_iter().find(|call| call.number() == number)
    }

    /// The call's name as the ABI table spells it, e.g. `"WRITE"`.
    pub const fn name(self) -> &'static str {
        match self {
            Syscall::Write => "WRITE",
            Syscall::Exit => "EXIT",
            Syscall::GetPid => "GETPID",
            Syscall::Yield => "YIELD",
            Syscall::Sleep => "SLEEP",
            Syscall::Spawn => "SPAWN",
            Syscall::Wait => "WAIT",
            Syscall::Map => "MAP",
            Syscall::Unmap => "UNMAP",
            Syscall::Protect => "PROTECT",
            Syscall::MemStats => "MEMSTATS",
            Syscall::Fork => "FORK",
            Syscall::Exec => "EXEC",
            Syscall::Mergeable => "MERGEABLE",
        }
    }
}

impl fmt::Display for Syscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_the_documented_ones() {
        let numbers: [(Syscall, u64); 14] = [
            (Syscall::Write, 1),
            (Syscall::Exit, 2),
            (Syscall::GetPid, 3),
            (Syscall::Yield, 4),
            (Syscall::Sleep, 5),
            (Syscall::Spawn, 6),
            (Syscall::Wait, 7),
            (Syscall::Map, 8),
            (Syscall::Unmap, 9),
            (Syscall::Protect, 10),
            (Syscall::MemStats, 11),
            (Syscall::Fork, 12),
            (Syscall::Exec, 13),
            (Syscall::Mergeable, 14),
        ];
        for (call, number) in numbers {
            assert_eq!(call.number(), number, "{call}");
            assert_eq!(Syscall::from_number(number), Some(call));
        }
    }

    #[test]
    fn all_is_complete_and_in_number_order() {
        for (index, call) in Syscall::ALL.into_iter().enumerate() {
            assert_eq!(call.number(), index as u64 + 1);
        }
    }

    #[test]
    fn other_numbers_are_no_call() {
        for number in [0, 15, 0x100, u64::MAX, 1 << 32 | 1] {
            assert_eq!(Syscall::from_number(number), None, "{number:#x}");
        }
    }
}
