//! The stage-1 descriptor formats, bit for bit as the table walker reads them (Arm ARM D8.3, "Translation
//! table descriptor formats", 4 KiB granule), and the software bits cowpi keeps in them.
//!
//! Bits `[1:0]` say what a descriptor is. `VALID` = 0: invalid, every other bit is ignored by hardware.
//! At levels 1 and 2, `0b11` is a *table* descriptor (the next level's table address) and `0b01` a
//! *block* (a 1 GiB or 2 MiB mapping, which cowpi uses only in the kernel's own maps); at level 3, `0b11`
//! is a *page* descriptor and `0b01` is reserved (treated as invalid). A page descriptor:
//!
//! ```text
//!  63    59 58  57  56  55  54  53  52     48 47             12 11  10  9  8  7  6  5  4    2  1  0
//! | ignored |NA |KSM|ZP |COW|UXN|PXN| 0      | output address  |nG |AF | SH  | AP  |NS |AttrIndx| 1| 1|
//! ```
//!
//! - `AttrIndx` picks one of the eight memory types programmed in `MAIR_EL1`: cowpi uses slot
//!   [`MAIR_NORMAL_WRITE_BACK`] and slot [`MAIR_DEVICE_NGNRE`], and the kernel programs `MAIR_EL1` with
//!   [`MAIR_EL1_VALUE`] to match.
//! - `SH`: shareability; cowpi marks all memory Inner Shareable (all four cores are one inner domain).
//! - `AF`, the Access flag: a descriptor with AF = 0 faults on first use so that software can track
//!   accesses. Cortex-A53 and A72 (Armv8.0) cannot set it in hardware, and cowpi does not track accesses
//!   this way, so every valid page descriptor has AF = 1.
//! - `nG`, not global: the TLB entry is tagged with the current ASID. User pages are always nG, so one
//!   task's translations never serve another's; kernel pages are global.
//! - `PXN`/`UXN`: execute-never at EL1 (privileged) and at EL0 (unprivileged).
//!
//! `AP[2:1]` (bits 7:6) sets data access for EL1 and EL0. Armv8.0 has no PAN (Privileged Access Never),
//! so EL1 can always reach user pages through these permissions; the kernel's user-copy code is what keeps
//! it honest:
//!
//! | `AP[2:1]` | EL1 | EL0 | cowpi uses it for |
//! |---|---|---|---|
//! | `0b00` | read-write | none | kernel data |
//! | `0b01` | read-write | read-write | a user page the task may write |
//! | `0b10` | read-only | none | kernel read-only data and code, and a user page with no access now |
//! | `0b11` | read-only | read-only | a user read-only page, and every copy-on-write page |
//!
//! Bits 58:55 are reserved for software: the table walker ignores them, so cowpi records there why a page
//! is mapped the way it is. A *copy-on-write* page is mapped `AP = 0b11` with `COW` (bit 55) set: the
//! task may logically write it, but the frame is shared, so the hardware must fault the first write. The
//! fault handler sees the COW bit, and either copies the frame (others still hold it) or, when the task is
//! the last holder, reuses it; either way the page ends up `AP = 0b01` with the bit clear. `ZERO_PAGE`
//! (bit 56) marks a mapping of the one shared zero frame (a write fault allocates a fresh zeroed frame),
//! and `KSM_MERGED` (bit 57) a frame that page merging folded together (a write fault copies, like COW).
//! `NO_ACCESS` (bit 58) marks a user page the task may not touch now (`PROTECT` with no rights): it is
//! mapped `AP = 0b10` like kernel read-only data, so without the bit a decoder could not tell it from a
//! kernel page; with it, the page keeps its frame and its other marks while every EL0 access faults.

use tock_registers::LocalRegisterCopy;
use tock_registers::register_bitfields;

use crate::addr::{Frame, PAGE_SHIFT};
use crate::translation::Level;

register_bitfields! {u64,
    /// A level-1 or level-2 descriptor that points at the next level's table (Arm ARM D8.3.1).
    pub TABLE_DESCRIPTOR [
        /// Hierarchical data access permissions for everything reached through this table (Arm ARM
        /// D8.4.2, "Hierarchical control of data access permissions"): bit 62 set (`0b10`) takes write
        /// access away at EL0 and EL1 alike, whatever the page descriptors below say; bit 61 (`0b01`)
        /// would take EL0 access away, which cowpi never does. cowpi sets `0b10` on the level-2 entries
        /// of a level-3 table that several address spaces share (see `page_table::share`).
        AP_TABLE OFFSET(61) NUMBITS(2) [NoEffect = 0b00, NoWrite = 0b10],
        /// Hierarchical privileged execute-never: nothing reached through this table may be executed at
        /// EL1. cowpi sets it in every user table, since the kernel never executes user memory.
        PXN_TABLE OFFSET(59) NUMBITS(1) [],
        /// The next level's table, as a frame number (physical address bits `[47:12]`).
        NEXT_LEVEL_TABLE_ADDRESS OFFSET(12) NUMBITS(36) [],
        TYPE OFFSET(1) NUMBITS(1) [Block = 0, Table = 1],
        VALID OFFSET(0) NUMBITS(1) []
    ],
    /// A level-3 page descriptor mapping one 4 KiB page (Arm ARM D8.3.2).
    pub PAGE_DESCRIPTOR [
        /// Software bit 58: a user page with no access now, mapped `AP = 0b10` (EL0 none).
        NO_ACCESS OFFSET(58) NUMBITS(1) [],
        /// Software bit 57: the frame is a page that merging folded together; a write fault copies it.
        KSM_MERGED OFFSET(57) NUMBITS(1) [],
        /// Software bit 56: the frame is the shared zero frame; a write fault allocates a fresh one.
        ZERO_PAGE OFFSET(56) NUMBITS(1) [],
        /// Software bit 55: shared copy-on-write, mapped read-only; a write fault copies or reuses.
        COW OFFSET(55) NUMBITS(1) [],
        /// Unprivileged (EL0) execute-never.
        UXN OFFSET(54) NUMBITS(1) [],
        /// Privileged (EL1) execute-never.
        PXN OFFSET(53) NUMBITS(1) [],
        /// The frame mapped, as a frame number (physical address bits `[47:12]`).
        OUTPUT_ADDRESS OFFSET(12) NUMBITS(36) [],
        /// Not global: the TLB entry belongs to the current ASID only.
        NG OFFSET(11) NUMBITS(1) [],
        /// Access flag.
        AF OFFSET(10) NUMBITS(1) [],
        /// Shareability.
        SH OFFSET(8) NUMBITS(2) [NonShareable = 0b00, OuterShareable = 0b10, InnerShareable = 0b11],
        /// Data access permissions `AP[2:1]`; see the table in the module documentation.
        AP OFFSET(6) NUMBITS(2) [
            PrivilegedReadWrite = 0b00,
            ReadWrite = 0b01,
            PrivilegedReadOnly = 0b10,
            ReadOnly = 0b11
        ],
        /// Non-secure: ignored in cowpi's Non-secure EL1&0 regime; always 0.
        NS OFFSET(5) NUMBITS(1) [],
        /// Which `MAIR_EL1` attribute slot gives the memory type.
        ATTR_INDX OFFSET(2) NUMBITS(3) [],
        TYPE OFFSET(1) NUMBITS(1) [Reserved = 0, Page = 1],
        VALID OFFSET(0) NUMBITS(1) []
    ]
}

/// An invalid descriptor: the walker faults, and the TLB caches nothing for it.
pub const INVALID: u64 = 0;

/// `AttrIndx` of Normal memory, inner and outer write-back, read- and write-allocate, non-transient.
pub const MAIR_NORMAL_WRITE_BACK: u64 = 0;

/// `AttrIndx` of Device-nGnRE memory (no gathering, no reordering, early write acknowledgement): MMIO.
pub const MAIR_DEVICE_NGNRE: u64 = 1;

/// The `MAIR_EL1` value that gives the slots above their meaning: attribute byte `0xFF` (Normal,
/// inner and outer write-back non-transient read/write-allocate) in slot 0, `0x04` (Device-nGnRE) in
/// slot 1, and the unused slots 0 (Device-nGnRnE, the safest meaning for a stray index).
pub const MAIR_EL1_VALUE: u64 = (0x04 << (8 * MAIR_DEVICE_NGNRE)) | (0xFF << (8 * MAIR_NORMAL_WRITE_BACK));

/// The highest frame a descriptor's 36-bit output address field can hold: physical addresses are at most
/// 48 bits (and the Pi's are far below that).
pub const MAX_OUTPUT_FRAME: u64 = (1 << (48 - PAGE_SHIFT)) - 1;

/// What a descriptor at a given level is, from its type bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescriptorKind {
    /// VALID = 0, or the reserved level-3 encoding `0b01`: the walk faults here.
    Invalid,
    /// Levels 1 and 2: the next level's table lives in this frame.
    Table(Frame),
    /// Levels 1 and 2: a 1 GiB or 2 MiB block mapping.
    Block,
    /// Level 3: a 4 KiB page mapping of this frame.
    Page(Frame),
}

impl DescriptorKind {
    /// What `descriptor` is when the walker finds it at `level`.
    pub fn of(level: Level, descriptor: u64) -> DescriptorKind {
        let bits = LocalRegisterCopy::<u64, TABLE_DESCRIPTOR::Register>::new(descriptor);
        if !bits.is_set(TABLE_DESCRIPTOR::VALID) {
            return DescriptorKind::Invalid;
        }
        // Both formats keep the output address in bits [47:12].
        let frame = Frame::from_number(bits.read(TABLE_DESCRIPTOR::NEXT_LEVEL_TABLE_ADDRESS));
        match (level, bits.is_set(TABLE_DESCRIPTOR::TYPE)) {
            (Level::Three, true) => DescriptorKind::Page(frame),
            (Level::Three, false) => DescriptorKind::Invalid,
            (_, true) => DescriptorKind::Table(frame),
            (_, false) => DescriptorKind::Block,
        }
    }
}

/// A level-1 or level-2 descriptor pointing at the user table in `next`.
///
/// # Panics
///
/// If `next` is beyond [`MAX_OUTPUT_FRAME`]: the table memory handed out a frame no descriptor can name.
pub fn user_table_descriptor(next: Frame) -> u64 {
    assert!(
        next.number() <= MAX_OUTPUT_FRAME,
        "translation table in {next}, beyond 48-bit physical addresses"
    );
    let mut descriptor = LocalRegisterCopy::<u64, TABLE_DESCRIPTOR::Register>::new(INVALID);
    descriptor.write(
        TABLE_DESCRIPTOR::VALID::SET
            + TABLE_DESCRIPTOR::TYPE::Table
            + TABLE_DESCRIPTOR::NEXT_LEVEL_TABLE_ADDRESS.val(next.number())
            + TABLE_DESCRIPTOR::PXN_TABLE::SET,
    );
    descriptor.get()
}

/// Whether the table descriptor `descriptor` takes write access away from everything below it
/// (`APTable = 0b10`).
pub fn is_write_protected_table(descriptor: u64) -> bool {
    LocalRegisterCopy::<u64, TABLE_DESCRIPTOR::Register>::new(descriptor)
        .matches_all(TABLE_DESCRIPTOR::AP_TABLE::NoWrite)
}

/// The table descriptor `descriptor` with write access taken away from everything below it, or given back
/// (`APTable` `0b10` or `0b00`); the table it points at is unchanged.
pub fn with_table_write_protection(descriptor: u64, protected: bool) -> u64 {
    let mut bits = LocalRegisterCopy::<u64, TABLE_DESCRIPTOR::Register>::new(descriptor);
    bits.modify(if protected {
        TABLE_DESCRIPTOR::AP_TABLE::NoWrite
    } else {
        TABLE_DESCRIPTOR::AP_TABLE::NoEffect
    });
    bits.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_descriptor_bits() {
        let descriptor = user_table_descriptor(Frame::from_number(0x1234));
        assert_eq!(descriptor, (1 << 59) | 0x0123_4000 | 0b11);
        assert_eq!(
            DescriptorKind::of(Level::One, descriptor),
            DescriptorKind::Table(Frame::from_number(0x1234))
        );
        assert_eq!(
            DescriptorKind::of(Level::Two, descriptor),
            DescriptorKind::Table(Frame::from_number(0x1234))
        );
    }

    #[test]
    fn write_protection_of_a_table_is_aptable_0b10_and_keeps_the_table() {
        let descriptor = user_table_descriptor(Frame::from_number(0x1234));
        assert!(!is_write_protected_table(descriptor));
        let protected = with_table_write_protection(descriptor, true);
        assert_eq!(protected, descriptor | (1 << 62));
        assert!(is_write_protected_table(protected));
        assert_eq!(
            DescriptorKind::of(Level::Two, protected),
            DescriptorKind::Table(Frame::from_number(0x1234))
        );
        assert_eq!(with_table_write_protection(protected, false), descriptor);
        // APTable = 0b01 (no EL0 access) is not write protection, and cowpi never writes it.
        assert!(!is_write_protected_table(descriptor | (1 << 61)));
    }

    #[test]
    fn type_bits_mean_different_things_per_level() {
        assert_eq!(DescriptorKind::of(Level::One, 0x4000_0001), DescriptorKind::Block);
        assert_eq!(DescriptorKind::of(Level::Two, 0x20_0001), DescriptorKind::Block);
        assert_eq!(DescriptorKind::of(Level::Three, 0x5003), DescriptorKind::Page(Frame::from_number(5)));
        assert_eq!(DescriptorKind::of(Level::Three, 0x5001), DescriptorKind::Invalid);
        // Without VALID the rest is ignored, whatever it holds.
        assert_eq!(DescriptorKind::of(Level::Three, !1), DescriptorKind::Invalid);
        assert_eq!(DescriptorKind::of(Level::One, INVALID), DescriptorKind::Invalid);
    }

    #[test]
    fn mair_slots_match_the_attribute_bytes() {
        assert_eq!(MAIR_EL1_VALUE & 0xFF, 0xFF);
        assert_eq!((MAIR_EL1_VALUE >> 8) & 0xFF, 0x04);
        assert_eq!(MAIR_EL1_VALUE >> 16, 0);
    }

    #[test]
    #[should_panic(expected = "beyond 48-bit")]
    fn table_beyond_the_output_range_is_refused() {
        user_table_descriptor(Frame::from_number(MAX_OUTPUT_FRAME + 1));
    }
}
