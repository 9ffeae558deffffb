//! The boot translation tables: the kernel's linear map, built before the MMU is on.
//!
//! Real Raspberry Pi hardware cannot do atomic read-modify-write (so no spin lock) until the MMU and data
//! cache are on, and with the MMU off every access is Device memory. So the MMU goes on first, from
//! `early_boot`, with the simplest map that is correct:
//!
//! - every 2 MiB block of RAM below 4 GiB as Normal write-back memory, read-write, never executable;
//! - the board's device ranges as Device-nGnRE, never executable;
//! - the 2 MiB blocks holding the kernel image split into 4 KiB pages, so that text is read-only and
//!   executable, rodata read-only, and data, BSS and the boot stack read-write but never executable
//!   (W^X; `SCTLR_EL1.WXN` enforces it in hardware as well);
//! - nothing else.
//!
//! The level-1 table indexes bits 38:30 of the address in either half, so the same tables translate both
//! `KERNEL_VA_BASE + pa` (through `TTBR1_EL1`) and `pa` itself (through `TTBR0_EL1`). That identity view
//! lets the boot code run on at its physical address for the few instructions between turning the MMU on
//! and jumping to the upper half; `mmu::drop_identity_map` then removes it.
//!
//! This code runs at the kernel's physical address while it is linked for the upper half: it must not
//! follow pointers stored in static data (string slices in statics, vtables, `dyn`, formatting). Statics
//! are reached PC-relative, which is correct at either address.

use core::ops::Range;

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    ID_AA64MMFR0_EL1, MAIR_EL1, ReadWriteable, Readable, SCTLR_EL1, TCR_EL1, TTBR0_EL1, TTBR1_EL1, Writeable,
};
use cowpi_mm::translation::descriptor::{
    MAIR_DEVICE_NGNRE, MAIR_EL1_VALUE, MAIR_NORMAL_WRITE_BACK, PAGE_DESCRIPTOR, TABLE_DESCRIPTOR,
};
use tock_registers::registers::InMemoryRegister;

use crate::arch::cache;

/// A block (level 2) and a page (level 3) descriptor share every field but bit 1, `TYPE`: 0 is a block
/// at level 2, 1 a page at level 3. The boot map uses cowpi-mm's one definition of the encoding.
const TYPE_BLOCK: u64 = 0;
const TYPE_PAGE: u64 = 1;

const ENTRIES: usize = 512;
const PAGE: u64 = 4096;
const BLOCK: u64 = 2 << 20;
const GIB: u64 = 1 << 30;
const LEVEL2_TABLES: usize = (super::LINEAR_MAP_LIMIT / GIB) as usize;
/// 2 MiB blocks the kernel image (with its boot stack below it) may span: 16 MiB.
const KERNEL_BLOCKS: usize = 8;

#[repr(C, align(4096))]
struct Table([u64; ENTRIES]);

const EMPTY: Table = Table([0; ENTRIES]);

/// Every table of the boot map, in BSS (zeroed by `_start` before `build` runs).
#[repr(C)]
struct BootTables {
    level1: Table,
    level2: [Table; LEVEL2_TABLES],
    kernel_level3: [Table; KERNEL_BLOCKS],
    /// What `TTBR0_EL1` points at while no user address space is active.
    empty_level1: Table,
}

static mut TABLES: BootTables = BootTables {
    level1: EMPTY,
    level2: [EMPTY; LEVEL2_TABLES],
    kernel_level3: [EMPTY; KERNEL_BLOCKS],
    empty_level1: EMPTY,
};

/// The physical address of the all-invalid level-1 table.
pub fn empty_table_physical_address() -> u64 {
    // SAFETY: only the address is taken. After the MMU is on this is the upper-half address; convert.
    let address = unsafe { &raw const TABLES.empty_level1 } as u64;
    if address >= super::KERNEL_VA_BASE { super::virt_to_phys(address) } else { address }
}

/// How a piece of the map is to be mapped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unmapped,
    /// RAM: read-write, never executable.
    Data,
    Device,
    /// Kernel text: read-only, executable at EL1.
    Text,
    /// Kernel rodata: read-only.
    ReadOnly,
}

fn leaf(address: u64, kind: Kind, page: bool) -> u64 {
    use PAGE_DESCRIPTOR::*;
    let descriptor = InMemoryRegister::<u64, PAGE_DESCRIPTOR::Register>::new(0);
    // Kernel mappings are global (nG = 0): the same in every address space, never tagged with an ASID.
    let shape = VALID::SET + TYPE.val(if page { TYPE_PAGE } else { TYPE_BLOCK }) + AF::SET + UXN::SET;
    let output = OUTPUT_ADDRESS.val(address >> 12);
    let normal = ATTR_INDX.val(MAIR_NORMAL_WRITE_BACK) + SH::InnerShareable;
    match kind {
        Kind::Unmapped => return 0,
        Kind::Data => descriptor.write(shape + output + normal + AP::PrivilegedReadWrite + PXN::SET),
        Kind::ReadOnly => descriptor.write(shape + output + normal + AP::PrivilegedReadOnly + PXN::SET),
        Kind::Text => descriptor.write(shape + output + normal + AP::PrivilegedReadOnly + PXN::CLEAR),
        Kind::Device => descriptor.write(
            shape
                + output
                + ATTR_INDX.val(MAIR_DEVICE_NGNRE)
                + SH::OuterShareable
                + AP::PrivilegedReadWrite
                + PXN::SET,
        ),
    }
    descriptor.get()
}

fn table_descriptor(table_address: u64) -> u64 {
    let descriptor = InMemoryRegister::<u64, TABLE_DESCRIPTOR::Register>::new(0);
    descriptor.write(
        TABLE_DESCRIPTOR::VALID::SET
            + TABLE_DESCRIPTOR::TYPE::Table
            + TABLE_DESCRIPTOR::NEXT_LEVEL_TABLE_ADDRESS.val(table_address >> 12),
    );
    descriptor.get()
}

/// The physical layout of the kernel image, as `early_boot` reads it from the linker's symbols.
pub struct KernelImage {
    /// Boot stack, below the image: read-write.
    pub stack: Range<u64>,
    pub text: Range<u64>,
    pub rodata: Range<u64>,
    /// Data and BSS.
    pub data: Range<u64>,
}

impl KernelImage {
    fn kind_of_page(&self, address: u64) -> Kind {
        if self.text.contains(&address) {
            Kind::Text
        } else if self.rodata.contains(&address) {
            Kind::ReadOnly
        } else {
            Kind::Data
        }
    }
}

fn kind_of_block(address: u64, ram: &[Range<u64>], devices: &[(u64, u64)]) -> Kind {
    if devices.iter().any(|&(start, end)| (start..end).contains(&address)) {
        Kind::Device
    } else if ram.iter().any(|r| r.contains(&address)) {
        Kind::Data
    } else {
        Kind::Unmapped
    }
}

/// Builds the boot map and turns on the MMU, the caches and `SCTLR_EL1.WXN`.
///
/// # Safety
///
/// Must run once, on the boot core, at the physical address, with the MMU off, BSS zeroed and `ram`
/// holding only real RAM that includes the kernel image and its stack.
pub unsafe fn build_and_enable(ram: &[Range<u64>], devices: &[(u64, u64)], kernel: &KernelImage) {
    let tables = &raw mut TABLES;
    let kernel_blocks = kernel.stack.start / BLOCK..kernel.data.end.div_ceil(BLOCK);
    for gib in 0..LEVEL2_TABLES {
        for index in 0..ENTRIES {
            let block = gib * ENTRIES + index;
            let address = block as u64 * BLOCK;
            let descriptor = if kernel_blocks.contains(&(block as u64)) {
                let level3 = block - kernel_blocks.start as usize;
                if level3 >= KERNEL_BLOCKS {
                    return; // The image outgrew the boot map: nothing sensible can be printed yet.
                }
                for page in 0..ENTRIES {
                    let page_address = address + page as u64 * PAGE;
                    // SAFETY: the boot tables are only written here, before the MMU uses them.
                    unsafe {
                        (*tables).kernel_level3[level3].0[page] =
                            leaf(page_address, kernel.kind_of_page(page_address), true)
                    };
                }
                // SAFETY: as above; taking the table's address does not access it.
                table_descriptor(unsafe { &raw const (*tables).kernel_level3[level3] } as u64)
            } else {
                leaf(address, kind_of_block(address, ram, devices), false)
            };
            // SAFETY: as above.
            unsafe { (*tables).level2[gib].0[index] = descriptor };
        }
        // SAFETY: as above.
        unsafe { (*tables).level1.0[gib] = table_descriptor(&raw const (*tables).level2[gib] as u64) };
    }
    // The walker reads the tables with caches on: nothing stale may sit in the caches for them.
    cache::clean_and_invalidate(tables as usize, core::mem::size_of::<BootTables>());

    MAIR_EL1.set(MAIR_EL1_VALUE);
    TCR_EL1.write(
        TCR_EL1::IPS.val(ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange))
            + TCR_EL1::TG0::KiB_4
            + TCR_EL1::SH0::Inner
            + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::EPD0::EnableTTBR0Walks
            + TCR_EL1::T0SZ.val(25)
            + TCR_EL1::TG1::KiB_4
            + TCR_EL1::SH1::Inner
            + TCR_EL1::ORGN1::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::IRGN1::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::EPD1::EnableTTBR1Walks
            + TCR_EL1::A1::TTBR0
            + TCR_EL1::T1SZ.val(25),
    );
    // SAFETY: taking the table's address does not access it.
    let root = unsafe { &raw const (*tables).level1 } as u64;
    TTBR0_EL1.set_baddr(root);
    TTBR1_EL1.set_baddr(root);

    // Arm ARM D8.14: no stale translation or instruction may survive from before the enable.
    barrier::dsb(barrier::ISH);
    // SAFETY: invalidating all EL1 TLB entries and the I-cache only drops cached state.
    unsafe { core::arch::asm!("tlbi vmalle1", "ic iallu", options(nostack, preserves_flags)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
    SCTLR_EL1.modify(
        SCTLR_EL1::M::Enable + SCTLR_EL1::C::Cacheable + SCTLR_EL1::I::Cacheable + SCTLR_EL1::WXN::Enable,
    );
    barrier::isb(barrier::SY);
}
