//! The MMU: the kernel's place in the address space and the switch from physical to virtual addresses.
//!
//! Translation regime: 4 KiB granule, 39-bit virtual addresses in both halves (`T0SZ` = `T1SZ` = 25), so
//! a walk starts at level 1. The kernel lives in the upper half, `TTBR1_EL1`: all RAM and the board's MMIO
//! below 4 GiB are mapped linearly at [`KERNEL_VA_BASE`] + physical address, and the kernel image is linked
//! at its place in that linear map. User address spaces use `TTBR0_EL1`; while none is active it points at
//! an empty table, so every lower-half address faults.

pub mod boot_map;
pub mod tlb;

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{TTBR0_EL1, Writeable};

/// Where the upper half (the `TTBR1_EL1` range for a 39-bit address space) begins.
pub const KERNEL_VA_BASE: u64 = 0xFFFF_FF80_0000_0000;
/// How much physical address space the linear map covers.
pub const LINEAR_MAP_LIMIT: u64 = 4 << 30;

/// The kernel-virtual address of a physical address in the linear map.
pub const fn phys_to_virt(physical: u64) -> u64 {
    physical + KERNEL_VA_BASE
}

/// The physical address of a kernel-virtual address in the linear map (the kernel image included).
pub const fn virt_to_phys(virtual_address: u64) -> u64 {
    virtual_address - KERNEL_VA_BASE
}

/// Stops translating lower-half addresses through the boot map: from here on `TTBR0_EL1` holds the empty
/// table (ASID 0) until a user address space is switched in. Called once, after the jump to the upper half.
pub fn drop_identity_map() {
    TTBR0_EL1.set(boot_map::empty_table_physical_address());
    barrier::isb(barrier::SY);
    // The boot map's lower-half entries may be cached as global translations: drop them all.
    // SAFETY: invalidating every EL1 TLB entry only costs refills.
    unsafe { core::arch::asm!("tlbi vmalle1is", options(nostack, preserves_flags)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
}

/// [`drop_identity_map`] for a secondary core, once it is in the upper half: only its own TLB holds
/// the boot map's lower half (the boot core's is long gone), so the invalidation is not broadcast.
pub fn drop_identity_map_on_this_core() {
    TTBR0_EL1.set(boot_map::empty_table_physical_address());
    barrier::isb(barrier::SY);
    // SAFETY: invalidating every EL1 TLB entry of this core only costs refills.
    unsafe { core::arch::asm!("tlbi vmalle1", options(nostack, preserves_flags)) };
    barrier::dsb(barrier::NSH);
    barrier::isb(barrier::SY);
}

/// The access [`translate`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    KernelRead,
    KernelWrite,
    UserRead,
    UserWrite,
}

/// Asks the MMU itself, with the address translation instructions (`AT S1E1R`, `AT S1E1W`, `AT S1E0R`,
/// `AT S1E0W`), whether `address` may be accessed so from the current translation regime. Returns the
/// physical address, or the fault status code (`PAR_EL1.FST`, a DFSC) the access would raise.
pub fn translate(address: u64, access: Access) -> Result<u64, u8> {
    let par: u64;
    // SAFETY: AT instructions only write PAR_EL1; the ISB makes the result visible to the MRS.
    unsafe {
        match access {
            Access::KernelRead => core::arch::asm!("at s1e1r, {}", in(reg) address, options(nostack)),
            Access::KernelWrite => core::arch::asm!("at s1e1w, {}", in(reg) address, options(nostack)),
            Access::UserRead => core::arch::asm!("at s1e0r, {}", in(reg) address, options(nostack)),
            Access::UserWrite => core::arch::asm!("at s1e0w, {}", in(reg) address, options(nostack)),
        }
        core::arch::asm!("isb", "mrs {}, PAR_EL1", out(reg) par, options(nostack));
    }
    if par & 1 == 0 {
        Ok((par & 0x0000_FFFF_FFFF_F000) | (address & 0xFFF))
    } else {
        Err(((par >> 1) & 0x3F) as u8)
    }
}
