//! Page protections: what `MAP` and `PROTECT` take, and what the loader derives from ELF segment flags.
//!
//! Three bits, READ = 1, WRITE = 2, EXEC = 4; 0 means no access at all (a guard page, or memory hidden for
//! a while: `PROTECT` to 0 keeps what the pages hold, for when they are made accessible again). AArch64
//! page tables cannot give EL0 write-only or execute-only memory, so system calls refuse both: every
//! protection but NONE includes READ. cowpi enforces W^X: no page is ever writable and executable at once,
//! so a bug that lets a task write data can never make that data run as code. [`Prot::check`] is the one
//! place that rule lives for system-call arguments.
//!
//! This is also the memory manager's type (`cowpi_mm::Prot` re-exports it): its region list remembers the
//! `Prot` of each range, and its page flags turn a `Prot` into descriptor permissions. The two differ on
//! purpose: a region may be writable while its pages are mapped read-only for copy-on-write.

use core::fmt;
use core::ops::BitOr;

use crate::Error;

/// A set of access rights for a range of user pages.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Prot(u8);

impl Prot {
    /// No access: every touch faults.
    pub const NONE: Prot = Prot(0);
    pub const READ: Prot = Prot(1);
    pub const WRITE: Prot = Prot(2);
    pub const EXEC: Prot = Prot(4);
    /// The usual protection of data and anonymous memory.
    pub const READ_WRITE: Prot = Prot(1 | 2);
    /// The usual protection of code.
    pub const READ_EXEC: Prot = Prot(1 | 4);

    /// Every bit the ABI defines.
    const KNOWN: u8 = 1 | 2 | 4;

    /// The protection a system-call argument asks for: [`Error::InvalidArgument`] if it has bits the ABI
    /// does not define, [`Error::PermissionDenied`] if it asks for writable and executable memory, then
    /// [`Error::InvalidArgument`] if it is not readable but not [`Prot::NONE`] either (write-only and
    /// execute-only memory, which AArch64 cannot give EL0).
    pub fn check(bits: u64) -> Result<Prot, Error> {
        if bits & !u64::from(Prot::KNOWN) != 0 {
            return Err(Error::InvalidArgument);
        }
        // Lossless: the bits were just checked to fit in KNOWN.
        let prot = Prot(bits as u8);
        if prot.is_writable_and_executable() {
            return Err(Error::PermissionDenied);
        }
        // AArch64 page tables cannot give write-only or execute-only memory to EL0; the kernel used to
        // refuse these later with a misleading error (found by the system-call fuzzer).
        if prot != Prot::NONE && !prot.is_readable() {
            return Err(Error::InvalidArgument);
        }
        Ok(prot)
    }

    /// The bits as they travel in a register.
    pub const fn bits(self) -> u64 {
        self.0 as u64
    }

    /// The rights of both: what `|` does, usable in constants.
    pub const fn union(self, other: Prot) -> Prot {
        Prot(self.0 | other.0)
    }

    /// Whether every right in `other` is also in `self`.
    pub const fn contains(self, other: Prot) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn is_readable(self) -> bool {
        self.contains(Prot::READ)
    }

    pub const fn is_writable(self) -> bool {
        self.contains(Prot::WRITE)
    }

    pub const fn is_executable(self) -> bool {
        self.contains(Prot::EXEC)
    }

    /// Writable and executable at once: what W^X forbids, so that injected data can never run as code.
    pub const fn is_writable_and_executable(self) -> bool {
        self.is_writable() && self.is_executable()
    }
}

impl BitOr for Prot {
    type Output = Prot;

    fn bitor(self, other: Prot) -> Prot {
        self.union(other)
    }
}

/// `rwx` style, with `-` for a missing right: `r-x`, `rw-`, `---`.
impl fmt::Display for Prot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = |present: bool, letter: char| if present { letter } else { '-' };
        write!(
            f,
            "{}{}{}",
            flag(self.is_readable(), 'r'),
            flag(self.is_writable(), 'w'),
            flag(self.is_executable(), 'x')
        )
    }
}

impl fmt::Debug for Prot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Prot({self})")
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::ToString;

    use super::*;

    #[test]
    fn bits_are_the_documented_ones() {
        assert_eq!(Prot::READ.bits(), 1);
        assert_eq!(Prot::WRITE.bits(), 2);
        assert_eq!(Prot::EXEC.bits(), 4);
        assert_eq!((Prot::READ | Prot::WRITE), Prot::READ_WRITE);
        assert_eq!((Prot::READ | Prot::EXEC), Prot::READ_EXEC);
    }

    #[test]
    fn check_accepts_no_access_and_every_readable_combination_but_write_and_exec() {
        for bits in 0..8 {
            let expected = if bits & 6 == 6 {
                Err(Error::PermissionDenied)
            } else if bits != 0 && bits & 1 == 0 {
                Err(Error::InvalidArgument)
            } else {
                Ok(Prot(bits as u8))
            };
            assert_eq!(Prot::check(bits), expected, "{bits}");
        }
    }

    #[test]
    fn check_refuses_unknown_bits_before_anything_else() {
        for bits in [8, 0x10, 1 << 63, 8 | 6, u64::MAX] {
            assert_eq!(Prot::check(bits), Err(Error::InvalidArgument), "{bits:#x}");
        }
    }

    #[test]
    fn shows_like_ls() {
        assert_eq!(Prot::READ_EXEC.to_string(), "r-x");
        assert_eq!(Prot::READ_WRITE.to_string(), "rw-");
        assert_eq!(Prot::NONE.to_string(), "---");
        assert_eq!(std::format!("{:?}", Prot::READ), "Prot(r--)");
        assert_eq!(std::format!("{:?}", Prot::READ_WRITE), "Prot(rw-)");
    }

    #[test]
    fn write_and_exec_is_only_both() {
        assert!((Prot::READ | Prot::WRITE | Prot::EXEC).is_writable_and_executable());
        assert!(!Prot::READ_WRITE.is_writable_and_executable());
        assert!(!Prot::READ_EXEC.is_writable_and_executable());
    }
}
