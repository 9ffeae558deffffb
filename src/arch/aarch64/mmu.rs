//! The boot-time MMU set-up: an identity map of RAM and the board's MMIO, so caches can be on.
//!
//! Real Raspberry Pi hardware cannot do atomic read-modify-write (and so no spin lock) until the MMU and
//! data cache are on, and with the MMU off every access is Device memory, where unaligned accesses fault.
//! So the kernel turns the MMU on early, before any lock is taken, with the simplest map that is correct:
//! virtual = physical through `TTBR0_EL1`, 2 MiB blocks, RAM as Normal write-back cacheable memory and the
//! board's device ranges as Device-nGnRE; everything else unmapped. Per-task address spaces, a kernel in the
//! upper half and page-granular permissions come with the virtual-memory stage.
//!
//! Translation regime: 4 KiB granule, `T0SZ` = 25 (a 39-bit, 512 GiB address space), so a walk starts at
//! level 1; the first four level-1 entries point at level-2 tables of 2 MiB blocks covering 0-4 GiB, which
//! is where every Pi 3 and Pi 4 (low-peripheral mode) puts RAM below the peripherals and the MMIO itself.

use core::ops::Range;

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    ID_AA64MMFR0_EL1, MAIR_EL1, ReadWriteable, Readable, SCTLR_EL1, TCR_EL1, TTBR0_EL1, Writeable,
};
use tock_registers::register_bitfields;
use tock_registers::registers::InMemoryRegister;

register_bitfields! {u64,
    /// A level-1 descriptor pointing at a level-2 table (Arm ARM D8.3.1).
    TABLE_DESCRIPTOR [
        NEXT_LEVEL_TABLE_ADDRESS OFFSET(12) NUMBITS(36) [],
        TYPE OFFSET(1) NUMBITS(1) [Block = 0, Table = 1],
        VALID OFFSET(0) NUMBITS(1) [False = 0, True = 1]
    ],
    /// A level-2 block descriptor mapping 2 MiB (Arm ARM D8.3.2).
    BLOCK_DESCRIPTOR [
        /// Unprivileged (EL0) execute-never.
        UXN OFFSET(54) NUMBITS(1) [False = 0, True = 1],
        /// Privileged (EL1) execute-never.
        PXN OFFSET(53) NUMBITS(1) [False = 0, True = 1],
        OUTPUT_ADDRESS_2MIB OFFSET(21) NUMBITS(27) [],
        /// Access flag: Armv8.0 cores do not set it in hardware, so a mapping sets it itself.
        AF OFFSET(10) NUMBITS(1) [False = 0, True = 1],
        SH OFFSET(8) NUMBITS(2) [OuterShareable = 0b10, InnerShareable = 0b11],
        /// AP[2:1]: 0b00 = EL1 read-write, EL0 none.
        AP OFFSET(6) NUMBITS(2) [PrivilegedReadWrite = 0b00],
        ATTR_INDEX OFFSET(2) NUMBITS(3) [],
        TYPE OFFSET(1) NUMBITS(1) [Block = 0, Table = 1],
        VALID OFFSET(0) NUMBITS(1) [False = 0, True = 1]
    ]
}

/// `MAIR_EL1` slot of Normal, inner and outer write-back read/write-allocate memory.
const ATTR_NORMAL: u64 = 0;
/// `MAIR_EL1` slot of Device-nGnRE memory.
const ATTR_DEVICE: u64 = 1;

const ENTRIES: usize = 512;
const BLOCK_SIZE: u64 = 2 << 20;
const GIB: u64 = 1 << 30;
/// How much physical address space the boot map covers.
pub const MAPPED_LIMIT: u64 = 4 * GIB;
const LEVEL2_TABLES: usize = (MAPPED_LIMIT / GIB) as usize;

#[repr(C, align(4096))]
struct Table([u64; ENTRIES]);

/// The boot map: one level-1 table and four level-2 tables. Written once, before the MMU is on.
struct BootTables {
    level1: Table,
    level2: [Table; LEVEL2_TABLES],
}

static mut BOOT_TABLES: BootTables =
    BootTables { level1: Table([0; ENTRIES]), level2: [const { Table([0; ENTRIES]) }; LEVEL2_TABLES] };

/// How a 2 MiB block is to be mapped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Unmapped,
    Ram,
    Device,
}

fn classify(address: u64, ram: &[Range<u64>], devices: &[(u64, u64)]) -> BlockKind {
    if devices.iter().any(|&(start, end)| (start..end).contains(&address)) {
        BlockKind::Device
    } else if ram.iter().any(|r| r.contains(&address)) {
        BlockKind::Ram
    } else {
        BlockKind::Unmapped
    }
}

fn block_descriptor(address: u64, kind: BlockKind) -> u64 {
    use BLOCK_DESCRIPTOR::*;
    let descriptor = InMemoryRegister::<u64, BLOCK_DESCRIPTOR::Register>::new(0);
    let common = VALID::True
        + TYPE::Block
        + AF::True
        + AP::PrivilegedReadWrite
        + UXN::True
        + OUTPUT_ADDRESS_2MIB.val(address >> 21);
    match kind {
        BlockKind::Unmapped => return 0,
        BlockKind::Ram => descriptor.write(common + ATTR_INDEX.val(ATTR_NORMAL) + SH::InnerShareable),
        BlockKind::Device => {
            descriptor.write(common + ATTR_INDEX.val(ATTR_DEVICE) + SH::OuterShareable + PXN::True)
        }
    }
    descriptor.get()
}

/// Builds the identity map of `ram` (Normal memory) and `devices` (Device memory) below 4 GiB and turns on
/// the MMU and the caches.
///
/// # Safety
///
/// Must run once, on the boot core, with the MMU off, before anything relies on the MMU being off or on.
/// The kernel image, its stack and every device it uses must lie in the mapped ranges.
pub unsafe fn enable_identity_map(ram: &[Range<u64>], devices: &[(u64, u64)]) {
    let tables = &raw mut BOOT_TABLES;
    for gib in 0..LEVEL2_TABLES {
        for index in 0..ENTRIES {
            let address = gib as u64 * GIB + index as u64 * BLOCK_SIZE;
            let descriptor = block_descriptor(address, classify(address, ram, devices));
            // SAFETY: the tables are only touched here, once, before the MMU uses them.
            unsafe { (*tables).level2[gib].0[index] = descriptor };
        }
        let table = InMemoryRegister::<u64, TABLE_DESCRIPTOR::Register>::new(0);
        // SAFETY: taking the address of the static does not access it.
        let level2_address = unsafe { (&raw const (*tables).level2[gib]) as u64 };
        table.write(
            TABLE_DESCRIPTOR::VALID::True
                + TABLE_DESCRIPTOR::TYPE::Table
                + TABLE_DESCRIPTOR::NEXT_LEVEL_TABLE_ADDRESS.val(level2_address >> 12),
        );
        // SAFETY: as above.
        unsafe { (*tables).level1.0[gib] = table.get() };
    }

    MAIR_EL1.write(
        MAIR_EL1::Attr0_Normal_Outer::WriteBack_NonTransient_ReadWriteAlloc
            + MAIR_EL1::Attr0_Normal_Inner::WriteBack_NonTransient_ReadWriteAlloc
            + MAIR_EL1::Attr1_Device::nonGathering_nonReordering_EarlyWriteAck,
    );
    let physical_address_range = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange);
    TCR_EL1.write(
        TCR_EL1::IPS.val(physical_address_range)
            + TCR_EL1::TG0::KiB_4
            + TCR_EL1::SH0::Inner
            + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::EPD0::EnableTTBR0Walks
            + TCR_EL1::A1::TTBR0
            + TCR_EL1::T0SZ.val(25)
            + TCR_EL1::EPD1::DisableTTBR1Walks,
    );
    // SAFETY: taking the address of the static does not access it.
    let level1_address = unsafe { (&raw const (*tables).level1) as u64 };
    TTBR0_EL1.set_baddr(level1_address);

    // The table stores must be complete before the first walk, and no stale translation or instruction
    // may survive from before (Arm ARM D8.14: "Using break-before-make when updating translation table
    // entries" does not apply to a first enable, but TLB and I-cache must start clean).
    barrier::dsb(barrier::ISHST);
    // SAFETY: invalidating all EL1 TLB entries and the I-cache has no effect beyond dropping cached state.
    unsafe { core::arch::asm!("tlbi vmalle1", "ic iallu", options(nostack, preserves_flags)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);

    SCTLR_EL1.modify(SCTLR_EL1::M::Enable + SCTLR_EL1::C::Cacheable + SCTLR_EL1::I::Cacheable);
    barrier::isb(barrier::SY);
}
