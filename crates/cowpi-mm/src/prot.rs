//! What user code may do with a range of its address space: read, write, execute.
//!
//! This is the task's view (`mmap`'s `PROT_*` bits), shared by the region list, which remembers what each
//! range allows, and the page flags, which turn it into descriptor permissions when a page is mapped. The
//! two differ on purpose: a region may be writable while its pages are mapped read-only for copy-on-write.

use core::fmt;

/// Access rights of user code to a range of memory.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Prot {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Prot {
    /// No access: a guard range. Nothing is mapped there, and every access faults.
    pub const NONE: Prot = Prot { read: false, write: false, exec: false };
    pub const READ: Prot = Prot { read: true, write: false, exec: false };
    pub const READ_WRITE: Prot = Prot { read: true, write: true, exec: false };
    pub const READ_EXEC: Prot = Prot { read: true, write: false, exec: true };

    /// Writable and executable at once: what W^X forbids, so that injected data can never run as code.
    pub const fn is_write_and_exec(self) -> bool {
        self.write && self.exec
    }
}

impl fmt::Display for Prot {
    /// `rwx` style, `-` for a missing right: `r-x`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = |on: bool, c: char| if on { c } else { '-' };
        write!(f, "{}{}{}", flag(self.read, 'r'), flag(self.write, 'w'), flag(self.exec, 'x'))
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

    use super::*;
    use std::format;

    #[test]
    fn prints_like_ls() {
        assert_eq!(format!("{}", Prot::READ_EXEC), "r-x");
        assert_eq!(format!("{:?}", Prot::READ_WRITE), "Prot(rw-)");
        assert_eq!(format!("{}", Prot::NONE), "---");
    }

    #[test]
    fn write_and_exec_is_only_both() {
        assert!(Prot { read: true, write: true, exec: true }.is_write_and_exec());
        assert!(!Prot::READ_WRITE.is_write_and_exec());
        assert!(!Prot::READ_EXEC.is_write_and_exec());
    }
}
