//! The copy-on-write decision: what a write fault on a present user mapping means, and what it takes.
//!
//! A task may write a page that is read-only in hardware for three legal reasons, each recorded in a
//! software bit of the descriptor (see [`PageFlags`]): the frame is shared after a fork (COW), merged with
//! identical ones (KSM-merged), or the shared zero frame (zero page). Which way the fault is resolved then
//! depends on one more fact, the frame's reference count:
//!
//! | mapping                  | refcount | resolution                                                  |
//! |--------------------------|----------|-------------------------------------------------------------|
//! | COW or merged            | 1        | [`WriteFault::Reuse`]: writable in place, nothing allocated  |
//! | COW or merged            | > 1      | [`WriteFault::Copy`]: a private copy, break-before-make      |
//! | zero page                | any      | [`WriteFault::ZeroFill`]: a fresh zeroed frame               |
//! | none of those, read-only | any      | [`WriteFault::Denied`]: a real permission fault              |
//! | no access, any marks     | any      | [`WriteFault::Denied`]: the task may not touch it now        |
//!
//! The zero frame is never reused, whatever its count: it must stay zero for every mapping of it, present
//! and future, and the kernel keeps a reference of its own anyway.
//!
//! Everything else is a kernel bug, not a task's: a mapping of a frame with no holders (the frame table
//! and the translation tables disagree, so the frame may already belong to someone else), a write fault
//! on a mapping that is writable already (the fault was not a permission fault, or a TLB entry went stale
//! after a missed invalidation), or a shared page whose writable form would break a rule (W^X). The
//! decision is pure, so every case is tested on the host; the kernel applies it with the
//! [`crate::AddressSpaceTables`] operation each variant names.

use core::fmt;

use crate::Prot;
use crate::translation::{FlagsError, PageFlags};

/// How to resolve a write fault on a present user mapping: the outcome of [`decide_write_fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFault {
    /// This mapping is the frame's only holder: make it writable in place with `flags`
    /// ([`crate::AddressSpaceTables::protect`]). No copy, no allocation, the refcount stays 1.
    Reuse { flags: PageFlags },
    /// Other mappings still hold the frame: allocate a frame, copy the 4 KiB into it, map it with `flags`
    /// ([`crate::AddressSpaceTables::replace`], break-before-make), then drop this mapping's reference to
    /// the old frame.
    Copy { flags: PageFlags },
    /// A mapping of the zero frame: allocate a zeroed frame, map it with `flags`
    /// ([`crate::AddressSpaceTables::replace`]), then drop the reference to the zero frame. The zero frame
    /// itself is never written.
    ZeroFill { flags: PageFlags },
    /// A private read-only page: the task wrote where it may not. A real permission fault; the task is
    /// killed, the mapping left as it is.
    Denied,
}

/// A write fault that should not have happened: the kernel's state is inconsistent. Report it as a bug;
/// it is not the task's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CowError {
    /// The mapped frame has no holders: the frame table says free what a translation table still maps.
    UnheldFrame,
    /// The mapping is writable already, so a write cannot fault on its permissions.
    AlreadyWritable,
    /// The page's flags once written would break a rule (an executable COW page would become writable
    /// and executable).
    ResolvedFlags(FlagsError),
}

impl fmt::Display for CowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CowError::UnheldFrame => f.write_str("write fault on a mapping of a frame with no holders"),
            CowError::AlreadyWritable => f.write_str("write fault on a writable mapping"),
            CowError::ResolvedFlags(error) => {
                write!(f, "write fault would make a page with bad flags: {error}")
            }
        }
    }
}

/// How to resolve a write fault on a present user mapping with `flags`, whose frame has `refcount`
/// holders (from [`crate::FrameTable::refcount`], read under the same lock as the tables).
pub fn decide_write_fault(flags: PageFlags, refcount: u32) -> Result<WriteFault, CowError> {
    if refcount == 0 {
        return Err(CowError::UnheldFrame);
    }
    if flags.writable {
        return Err(CowError::AlreadyWritable);
    }
    // A no-access page keeps its sharing marks for when it is accessible again, but may not be written
    // now: its marks must not turn the fault into a copy.
    if flags.no_access || !flags.is_shared_for_writing() {
        return Ok(WriteFault::Denied);
    }
    let resolved = flags.resolve_write_fault();
    resolved.check().map_err(CowError::ResolvedFlags)?;
    // The zero page first: a zero-page mapping is never reused in place, even if it is the last one.
    Ok(if flags.zero_page {
        WriteFault::ZeroFill { flags: resolved }
    } else if refcount == 1 {
        WriteFault::Reuse { flags: resolved }
    } else {
        WriteFault::Copy { flags: resolved }
    })
}

/// What an eager-copy fork (the benchmarks' baseline, `FORK` with `ForkMode::EagerCopy`) gives the child
/// for one of the parent's mappings: the decision [`decide_eager_copy`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EagerCopy {
    /// Map the parent's frame in the child with `flags`, taking a reference: a page neither side can
    /// write in place (program text and rodata, the zero page), which Unix shared even before
    /// copy-on-write.
    Share { flags: PageFlags },
    /// Give the child a frame of its own holding a copy of the page, mapped with `flags`: writable if the
    /// task may write the page at all. The parent's mapping is left exactly as it is.
    Copy { flags: PageFlags },
}

/// The flags a mapped page gets when its task changes its rights to `wanted` (`PROTECT`), given its
/// flags now and its frame's reference count.
///
/// A page whose frame has other holders must never become writable in place, whether or not it carries
/// a sharing mark: a page that was read-only at a fork is shared with no copy-on-write mark (it needed
/// none), and making it writable in place would let this task's writes show in the other. Such a page
/// becomes copy-on-write instead, so its next write copies it. A page marked shared keeps its marks,
/// including while it has no access (`wanted` is [`PageFlags::USER_NO_ACCESS`]), so a shared page made
/// accessible again still copies on write.
pub fn decide_protect(current: PageFlags, wanted: PageFlags, refcount: u32) -> PageFlags {
    if current.is_shared_for_writing() {
        return PageFlags {
            writable: false,
            cow: current.cow,
            zero_page: current.zero_page,
            ksm_merged: current.ksm_merged,
            ..wanted
        };
    }
    if refcount > 1 && wanted.writable { wanted.copy_on_write() } else { wanted }
}

/// What an eager-copy fork does with a parent mapping with `flags`, in a region with `rights`. Every
/// page the child could write is copied, whether the parent has it writable, copy-on-write from an
/// earlier fork, or merged; the copy is the child's alone, so it is mapped writable with no sharing bits.
/// The region says whether the child could write it, not the marks alone: a shared page made read-only
/// with `PROTECT` keeps its copy-on-write or merged mark ([`decide_protect`]), and copying it writable
/// gave the child write access its region does not allow (found by the copy-on-write state machine).
/// The zero page stays shared: it holds no data of the task's, and a write to it allocates anyway. A
/// no-access page is shared as it is, marks and all, never copied writable: neither side can touch it,
/// and making it accessible again ([`decide_protect`]) sees the frame's other holder and makes it
/// copy-on-write.
pub fn decide_eager_copy(flags: PageFlags, rights: Prot) -> Result<EagerCopy, CowError> {
    // An executable page cannot be written (W^X), even if a sharing mark from before a PROTECT says it
    // once could: it is shared like text.
    if flags.zero_page || !flags.logically_writable() || flags.executable || !rights.contains(Prot::WRITE) {
        return Ok(EagerCopy::Share { flags });
    }
    let private = flags.resolve_write_fault();
    private.check().map_err(CowError::ResolvedFlags)?;
    Ok(EagerCopy::Copy { flags: private })
}

#[cfg(test)]
mod tests;
