//! What a page mapping allows, in the memory manager's words, and its exact level-3 descriptor.
//!
//! [`PageFlags`] says who may use a page (the task, or only the kernel), whether the task may touch it at
//! all now, whether it may be written or executed now, its memory type, whether its TLB entry is global,
//! and why it is shared (copy-on-write, the zero page, merged). [`PageFlags::to_descriptor`] and
//! [`PageFlags::from_descriptor`] are the only places that turn these into descriptor bits and back; the
//! bit layout is in [`super::descriptor`].
//!
//! Every valid mapping is readable by its privilege level: AArch64 has no write-only permission, and cowpi
//! does not use EL0 execute-only mappings. The one exception is a *no-access* user page, what `PROTECT`
//! with no rights leaves of a page the task had touched: its frame and contents stay (POSIX `mprotect`
//! with `PROT_NONE` keeps them, and guard pages, garbage collectors and sandboxes rely on that), mapped
//! `AP = 0b10` (EL0 nothing, EL1 read-only: the least a valid descriptor allows) with PXN, UXN and nG set,
//! so that every EL0 access faults. A software bit tells it apart from a kernel read-only page, whose
//! `AP` is the same. It keeps its sharing marks (copy-on-write, zero page, merged), so that once
//! accessible again it is exactly the page it was, and a shared one still copies on its next write.
//!
//! The conversion enforces cowpi's rules, so that a wrong request fails here instead of becoming a hole:
//!
//! - **W^X**: no page is both writable and executable, so nothing a task (or an attacker) writes can be
//!   run without an explicit permission change.
//! - **User pages are not global** (nG = 1): their TLB entries are tagged with the task's ASID.
//! - **The kernel never executes user memory** (PXN = 1 on every user page), and EL0 never executes
//!   kernel memory (UXN = 1 on every kernel page). EL0 executes a user page only if it asked to (UXN = 0).
//! - **Shared pages are read-only in hardware**: a COW, zero-page or merged mapping that were writable
//!   would let one task's write land in a frame others still map.
//! - **A no-access page is user data**: not writable, not executable, so the no-access bit never hides
//!   rights EL0 could use.
//! - **Device memory is never executable**: instruction fetches, even speculative ones, must not touch
//!   MMIO.
//!
//! Every page is Inner Shareable with AF = 1 (see the descriptor module for why).

use core::fmt;

use tock_registers::LocalRegisterCopy;

use super::descriptor::{MAIR_DEVICE_NGNRE, MAIR_NORMAL_WRITE_BACK, MAX_OUTPUT_FRAME, PAGE_DESCRIPTOR};
use crate::Prot;
use crate::addr::Frame;

// A local copy, not `InMemoryRegister`: that one reads and writes through volatile accesses, which made
// every descriptor decode and encode on the fault path several times slower for nothing.
type PageDescriptor = LocalRegisterCopy<u64, PAGE_DESCRIPTOR::Register>;

/// The memory type of a mapping, selected through a `MAIR_EL1` slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryType {
    /// Normal write-back cacheable memory: RAM.
    Normal,
    /// Device-nGnRE: memory-mapped I/O, uncached, accesses neither merged nor reordered.
    Device,
}

impl MemoryType {
    /// The descriptor's `AttrIndx` for this type.
    pub const fn attr_index(self) -> u64 {
        match self {
            MemoryType::Normal => MAIR_NORMAL_WRITE_BACK,
            MemoryType::Device => MAIR_DEVICE_NGNRE,
        }
    }
}

/// What a page mapping allows and records. See the module documentation for the rules it must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageFlags {
    /// The page belongs to the task (EL0), though with [`PageFlags::no_access`] it may not touch it now.
    /// Otherwise it is kernel-only.
    pub user: bool,
    /// A user page the task may not touch now (`PROTECT` with no rights): mapped so that every EL0 access
    /// faults, its frame and sharing marks kept for when it is made accessible again.
    pub no_access: bool,
    /// The hardware allows writes now. A copy-on-write page is not writable in this sense, though the
    /// task may write it: see [`PageFlags::logically_writable`].
    pub writable: bool,
    /// Executable at the page's own privilege level (EL0 for a user page, EL1 for a kernel page).
    pub executable: bool,
    pub memory: MemoryType,
    /// The TLB entry serves every ASID (nG = 0). Only for kernel pages.
    pub global: bool,
    /// Shared copy-on-write: a write fault copies the frame, or reuses it if this is its last holder.
    pub cow: bool,
    /// A mapping of the shared zero frame: a write fault allocates a fresh zeroed frame.
    pub zero_page: bool,
    /// A frame that page merging folded together with identical ones: a write fault copies it. With
    /// `zero_page` too, page merging found the page all zeros and put it on the zero frame (see
    /// [`PageFlags::is_ksm_zero_page`]); the write fault then allocates, as for any zero-page mapping.
    pub ksm_merged: bool,
}

/// A [`PageFlags`] that breaks one of cowpi's rules, or a frame no descriptor can hold. Nothing was
/// changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagsError {
    /// Writable and executable at once (W^X).
    WriteAndExecute,
    /// Write or execute access without read: not a mapping cowpi makes.
    NotReadable,
    /// A no-access page that is a kernel page, writable or executable.
    AccessibleNoAccessPage,
    /// A user page marked global: its TLB entry would serve every task.
    GlobalUserPage,
    /// Device memory marked executable.
    ExecutableDevice,
    /// A COW, zero-page or merged mapping that is writable in hardware.
    WritableSharedPage,
    /// A COW, zero-page or merged mapping of kernel or device memory: sharing is for user RAM.
    SharedNonUserMemory,
    /// The frame lies beyond the 48-bit physical addresses a descriptor can hold.
    FrameBeyondOutputAddress(Frame),
}

impl fmt::Display for FlagsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagsError::WriteAndExecute => f.write_str("page both writable and executable (W^X)"),
            FlagsError::NotReadable => f.write_str("page mapping without read access"),
            FlagsError::AccessibleNoAccessPage => {
                f.write_str("no-access page that is kernel, writable or executable")
            }
            FlagsError::GlobalUserPage => f.write_str("user page marked global"),
            FlagsError::ExecutableDevice => f.write_str("device memory marked executable"),
            FlagsError::WritableSharedPage => {
                f.write_str("shared (COW, zero or merged) page marked writable")
            }
            FlagsError::SharedNonUserMemory => f.write_str("kernel or device page marked shared"),
            FlagsError::FrameBeyondOutputAddress(frame) => {
                write!(f, "{frame} is beyond 48-bit physical addresses")
            }
        }
    }
}

/// A value that is not a level-3 page descriptor cowpi would write. In cowpi's own tables, it means
/// corruption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescriptorError {
    /// Bits `[1:0]` are not `0b11`: invalid, or the reserved encoding.
    NotAPage,
    /// `AttrIndx` names a `MAIR_EL1` slot cowpi does not use.
    UnknownMemoryType { attr_index: u64 },
    /// Shareability other than Inner Shareable.
    NotInnerShareable,
    /// The Access flag is clear: the first access would fault, and Armv8.0 cores would never set it.
    AccessFlagClear,
    /// Bits that cowpi never sets (NS, contiguous, DBM, ...).
    UnexpectedBits { bits: u64 },
    /// The no-access bit on a page whose `AP` is not EL1 read-only, EL0 none.
    NoAccessPermissions,
    /// A user page without PXN.
    UserPageExecutableByKernel,
    /// A kernel page without UXN.
    KernelPageExecutableByUser,
    /// The fields decode, but to flags that break a rule.
    Flags(FlagsError),
}

impl fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DescriptorError::NotAPage => f.write_str("not a page descriptor"),
            DescriptorError::UnknownMemoryType { attr_index } => {
                write!(f, "unknown memory type (AttrIndx {attr_index})")
            }
            DescriptorError::NotInnerShareable => f.write_str("not Inner Shareable"),
            DescriptorError::AccessFlagClear => f.write_str("Access flag clear"),
            DescriptorError::UnexpectedBits { bits } => write!(f, "unexpected bits {bits:#x}"),
            DescriptorError::NoAccessPermissions => {
                f.write_str("no-access page whose AP is not EL1 read-only")
            }
            DescriptorError::UserPageExecutableByKernel => f.write_str("user page without PXN"),
            DescriptorError::KernelPageExecutableByUser => f.write_str("kernel page without UXN"),
            DescriptorError::Flags(error) => write!(f, "{error}"),
        }
    }
}

/// Every bit a page descriptor written by [`PageFlags::to_descriptor`] may have set.
const KNOWN_BITS: u64 = PAGE_DESCRIPTOR::VALID::SET.mask()
    | PAGE_DESCRIPTOR::TYPE::SET.mask()
    | PAGE_DESCRIPTOR::ATTR_INDX::SET.mask()
    | PAGE_DESCRIPTOR::AP::SET.mask()
    | PAGE_DESCRIPTOR::SH::SET.mask()
    | PAGE_DESCRIPTOR::AF::SET.mask()
    | PAGE_DESCRIPTOR::NG::SET.mask()
    | PAGE_DESCRIPTOR::OUTPUT_ADDRESS::SET.mask()
    | PAGE_DESCRIPTOR::PXN::SET.mask()
    | PAGE_DESCRIPTOR::UXN::SET.mask()
    | PAGE_DESCRIPTOR::COW::SET.mask()
    | PAGE_DESCRIPTOR::ZERO_PAGE::SET.mask()
    | PAGE_DESCRIPTOR::KSM_MERGED::SET.mask()
    | PAGE_DESCRIPTOR::NO_ACCESS::SET.mask();

impl PageFlags {
    /// User data the task may only read.
    pub const USER_READ_ONLY: PageFlags = PageFlags {
        user: true,
        no_access: false,
        writable: false,
        executable: false,
        memory: MemoryType::Normal,
        global: false,
        cow: false,
        zero_page: false,
        ksm_merged: false,
    };
    /// User data the task may read and write.
    pub const USER_READ_WRITE: PageFlags = PageFlags { writable: true, ..PageFlags::USER_READ_ONLY };
    /// User code.
    pub const USER_READ_EXECUTE: PageFlags = PageFlags { executable: true, ..PageFlags::USER_READ_ONLY };
    /// A user page the task may not touch now (`PROTECT` with no rights), its frame kept.
    pub const USER_NO_ACCESS: PageFlags = PageFlags { no_access: true, ..PageFlags::USER_READ_ONLY };
    /// Kernel read-only data.
    pub const KERNEL_READ_ONLY: PageFlags =
        PageFlags { user: false, global: true, ..PageFlags::USER_READ_ONLY };
    /// Kernel data.
    pub const KERNEL_READ_WRITE: PageFlags = PageFlags { writable: true, ..PageFlags::KERNEL_READ_ONLY };
    /// Kernel code.
    pub const KERNEL_READ_EXECUTE: PageFlags = PageFlags { executable: true, ..PageFlags::KERNEL_READ_ONLY };
    /// Kernel MMIO.
    pub const KERNEL_DEVICE: PageFlags =
        PageFlags { memory: MemoryType::Device, ..PageFlags::KERNEL_READ_WRITE };

    /// Flags for a user page of ordinary memory with the rights `prot` gives: with none,
    /// [`PageFlags::USER_NO_ACCESS`].
    pub const fn user(prot: Prot) -> Result<PageFlags, FlagsError> {
        if prot.bits() == Prot::NONE.bits() {
            return Ok(PageFlags::USER_NO_ACCESS);
        }
        if prot.is_writable_and_executable() {
            return Err(FlagsError::WriteAndExecute);
        }
        if !prot.is_readable() {
            return Err(FlagsError::NotReadable);
        }
        Ok(PageFlags {
            writable: prot.is_writable(),
            executable: prot.is_executable(),
            ..PageFlags::USER_READ_ONLY
        })
    }

    /// These flags with the page shared copy-on-write: read-only in hardware, COW set. What fork does to
    /// a writable private page, in both address spaces.
    pub const fn copy_on_write(self) -> PageFlags {
        PageFlags { writable: false, cow: true, ..self }
    }

    /// The task may write the page, now or after a write fault gives it a frame of its own. Never a
    /// no-access page, whatever its marks.
    pub const fn logically_writable(self) -> bool {
        !self.no_access && (self.writable || self.is_shared_for_writing())
    }

    /// Carries a sharing mark: mapped read-only because the frame is shared, so that a write the task may
    /// make (none while the page is no-access) is resolved by copying (COW, merged) or allocating (zero
    /// page).
    pub const fn is_shared_for_writing(self) -> bool {
        self.cow || self.zero_page || self.ksm_merged
    }

    /// A mapping of the zero frame that page merging made (both marks), not a read fault (`zero_page`
    /// alone): what the kernel's `ksm_zero_pages` counts, as Linux tells its KSM zero pages by the dirty
    /// bit of a zero-page PTE.
    pub const fn is_ksm_zero_page(self) -> bool {
        self.zero_page && self.ksm_merged
    }

    /// The flags once a write fault has given the page a frame of its own: writable, no longer shared.
    pub const fn resolve_write_fault(self) -> PageFlags {
        PageFlags { writable: true, cow: false, zero_page: false, ksm_merged: false, ..self }
    }

    /// What the page's owner may do with it, as the task sees it (a COW page counts as writable, a
    /// no-access page has no rights).
    pub const fn prot(self) -> Prot {
        if self.no_access {
            return Prot::NONE;
        }
        let mut prot = Prot::READ;
        if self.logically_writable() {
            prot = prot.union(Prot::WRITE);
        }
        if self.executable {
            prot = prot.union(Prot::EXEC);
        }
        prot
    }

    /// Whether these flags follow cowpi's rules (see the module documentation).
    pub const fn check(self) -> Result<(), FlagsError> {
        if self.writable && self.executable {
            return Err(FlagsError::WriteAndExecute);
        }
        if self.user && self.global {
            return Err(FlagsError::GlobalUserPage);
        }
        if self.no_access && (!self.user || self.writable || self.executable) {
            return Err(FlagsError::AccessibleNoAccessPage);
        }
        if matches!(self.memory, MemoryType::Device) && self.executable {
            return Err(FlagsError::ExecutableDevice);
        }
        if self.is_shared_for_writing() {
            if self.writable {
                return Err(FlagsError::WritableSharedPage);
            }
            if !self.user || matches!(self.memory, MemoryType::Device) {
                return Err(FlagsError::SharedNonUserMemory);
            }
        }
        Ok(())
    }

    /// The level-3 page descriptor mapping `frame` with these flags.
    pub fn to_descriptor(self, frame: Frame) -> Result<u64, FlagsError> {
        self.check()?;
        if frame.number() > MAX_OUTPUT_FRAME {
            return Err(FlagsError::FrameBeyondOutputAddress(frame));
        }
        let access = match (self.user, self.writable) {
            // The least a valid descriptor allows. The kernel reaches user frames through the linear
            // map, never through the task's addresses, so EL1's read right here serves nothing.
            _ if self.no_access => PAGE_DESCRIPTOR::AP::PrivilegedReadOnly,
            (true, true) => PAGE_DESCRIPTOR::AP::ReadWrite,
            (true, false) => PAGE_DESCRIPTOR::AP::ReadOnly,
            (false, true) => PAGE_DESCRIPTOR::AP::PrivilegedReadWrite,
            (false, false) => PAGE_DESCRIPTOR::AP::PrivilegedReadOnly,
        };
        // Each privilege level executes only its own pages, and only executable ones.
        let (privileged_xn, unprivileged_xn) =
            if self.user { (true, !self.executable) } else { (!self.executable, true) };
        let mut descriptor = PageDescriptor::new(0);
        descriptor.write(
            PAGE_DESCRIPTOR::VALID::SET
                + PAGE_DESCRIPTOR::TYPE::Page
                + PAGE_DESCRIPTOR::ATTR_INDX.val(self.memory.attr_index())
                + access
                + PAGE_DESCRIPTOR::SH::InnerShareable
                + PAGE_DESCRIPTOR::AF::SET
                + PAGE_DESCRIPTOR::NG.val(u64::from(!self.global))
                + PAGE_DESCRIPTOR::OUTPUT_ADDRESS.val(frame.number())
                + PAGE_DESCRIPTOR::PXN.val(u64::from(privileged_xn))
                + PAGE_DESCRIPTOR::UXN.val(u64::from(unprivileged_xn))
                + PAGE_DESCRIPTOR::COW.val(u64::from(self.cow))
                + PAGE_DESCRIPTOR::ZERO_PAGE.val(u64::from(self.zero_page))
                + PAGE_DESCRIPTOR::KSM_MERGED.val(u64::from(self.ksm_merged))
                + PAGE_DESCRIPTOR::NO_ACCESS.val(u64::from(self.no_access)),
        );
        Ok(descriptor.get())
    }

    /// The copy-on-write form of a page descriptor that EL0 may write (`AP = 0b01`), made on its bits:
    /// `AP` becomes `0b11` (read-only at EL0 and EL1) and the COW bit is set, everything else kept. The
    /// same descriptor as decoding it, [`PageFlags::copy_on_write`] and encoding it again (a test checks
    /// it for every kind of user page), without the decoding: fork and the copy of a shared table do it
    /// for every page they meet. `None` if EL0 may not write through `descriptor`.
    pub const fn copy_on_write_descriptor(descriptor: u64) -> Option<u64> {
        const AP_SHIFT: u32 = 6;
        const AP_MASK: u64 = 0b11 << AP_SHIFT;
        const AP_EL0_READ_WRITE: u64 = 0b01 << AP_SHIFT;
        const AP_READ_ONLY: u64 = 0b11 << AP_SHIFT;
        const COW_BIT: u64 = 1 << 55;
        if descriptor & AP_MASK != AP_EL0_READ_WRITE {
            return None;
        }
        Some((descriptor & !AP_MASK) | AP_READ_ONLY | COW_BIT)
    }

    /// The frame a valid page descriptor maps, read off its output address alone. For the passes over a
    /// whole table (fork, the copy of a shared table) that only count holders: they meet descriptors this
    /// crate wrote, and [`PageFlags::from_descriptor`] checks every bit where a decision is made.
    pub fn descriptor_frame(descriptor: u64) -> Frame {
        Frame::from_number(PageDescriptor::new(descriptor).read(PAGE_DESCRIPTOR::OUTPUT_ADDRESS))
    }

    /// Whether a valid page descriptor maps device memory (its `AttrIndx`), which no fork shares.
    pub fn descriptor_maps_device(descriptor: u64) -> bool {
        PageDescriptor::new(descriptor).read(PAGE_DESCRIPTOR::ATTR_INDX) == MAIR_DEVICE_NGNRE
    }

    /// Whether a valid page descriptor maps a zero page that page merging made
    /// ([`PageFlags::is_ksm_zero_page`]), read off its two software bits with one mask: the passes over a
    /// whole table (fork, the copy of a shared table, teardown) count such pages for every entry.
    pub const fn descriptor_is_ksm_zero_page(descriptor: u64) -> bool {
        const BITS: u64 = (1 << 56) | (1 << 57);
        descriptor & BITS == BITS
    }

    /// The frame and flags of a level-3 page descriptor, if it is one that [`PageFlags::to_descriptor`]
    /// could have written.
    pub fn from_descriptor(descriptor: u64) -> Result<(Frame, PageFlags), DescriptorError> {
        let bits = PageDescriptor::new(descriptor);
        if !bits.is_set(PAGE_DESCRIPTOR::VALID) || !bits.is_set(PAGE_DESCRIPTOR::TYPE) {
            return Err(DescriptorError::NotAPage);
        }
        let unexpected = descriptor & !KNOWN_BITS;
        if unexpected != 0 {
            return Err(DescriptorError::UnexpectedBits { bits: unexpected });
        }
        let memory = match bits.read(PAGE_DESCRIPTOR::ATTR_INDX) {
            MAIR_NORMAL_WRITE_BACK => MemoryType::Normal,
            MAIR_DEVICE_NGNRE => MemoryType::Device,
            attr_index => return Err(DescriptorError::UnknownMemoryType { attr_index }),
        };
        if !bits.matches_all(PAGE_DESCRIPTOR::SH::InnerShareable) {
            return Err(DescriptorError::NotInnerShareable);
        }
        if !bits.is_set(PAGE_DESCRIPTOR::AF) {
            return Err(DescriptorError::AccessFlagClear);
        }
        // AP[1] (descriptor bit 6) grants EL0 access; AP[2] (bit 7) makes the page read-only. The
        // no-access bit makes an EL1 read-only page a user page EL0 may not touch now.
        let no_access = bits.is_set(PAGE_DESCRIPTOR::NO_ACCESS);
        let (user, writable) = match bits.read_as_enum(PAGE_DESCRIPTOR::AP) {
            Some(PAGE_DESCRIPTOR::AP::Value::PrivilegedReadOnly) if no_access => (true, false),
            _ if no_access => return Err(DescriptorError::NoAccessPermissions),
            Some(PAGE_DESCRIPTOR::AP::Value::ReadWrite) => (true, true),
            Some(PAGE_DESCRIPTOR::AP::Value::ReadOnly) => (true, false),
            Some(PAGE_DESCRIPTOR::AP::Value::PrivilegedReadWrite) => (false, true),
            Some(PAGE_DESCRIPTOR::AP::Value::PrivilegedReadOnly) | None => (false, false),
        };
        let privileged_xn = bits.is_set(PAGE_DESCRIPTOR::PXN);
        let unprivileged_xn = bits.is_set(PAGE_DESCRIPTOR::UXN);
        let executable = if user {
            if !privileged_xn {
                return Err(DescriptorError::UserPageExecutableByKernel);
            }
            !unprivileged_xn
        } else {
            if !unprivileged_xn {
                return Err(DescriptorError::KernelPageExecutableByUser);
            }
            !privileged_xn
        };
        let flags = PageFlags {
            user,
            no_access,
            writable,
            executable,
            memory,
            global: !bits.is_set(PAGE_DESCRIPTOR::NG),
            cow: bits.is_set(PAGE_DESCRIPTOR::COW),
            zero_page: bits.is_set(PAGE_DESCRIPTOR::ZERO_PAGE),
            ksm_merged: bits.is_set(PAGE_DESCRIPTOR::KSM_MERGED),
        };
        flags.check().map_err(DescriptorError::Flags)?;
        Ok((Frame::from_number(bits.read(PAGE_DESCRIPTOR::OUTPUT_ADDRESS)), flags))
    }
}

#[cfg(test)]
mod tests;
