//! Starting a parked core: what `boot.s`'s `secondary_start` needs to reach Rust with the boot core's
//! translation regime, and the hand-over through the spin-table slot the core polls.
//!
//! A parked core runs with its MMU and caches off, so it reads RAM, not the boot core's caches: the boot
//! core writes the core's record and entry point and cleans both to the point of coherency before it
//! sends the IPI that ends the core's `WFI` (real hardware needs the clean; QEMU has no caches to miss).

use aarch64_cpu::registers::{MAIR_EL1, Readable, SCTLR_EL1, TCR_EL1, TTBR1_EL1};

use super::cache;
use super::mmu::virt_to_phys;

/// What `secondary_start` loads before turning its MMU on. The layout (and the 64-byte record size,
/// `SECONDARY_BOOT_RECORD_SHIFT`) is shared with `boot.s`.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
pub struct SecondaryBoot {
    mair: u64,
    tcr: u64,
    /// The kernel's level-1 table: upper half in `TTBR1_EL1`, and its identity view in `TTBR0_EL1`
    /// until the core is in the upper half.
    ttbr: u64,
    sctlr: u64,
    /// The top of the core's stack, an upper-half address.
    stack_top: u64,
}

const _: () = assert!(core::mem::size_of::<SecondaryBoot>() == 1 << 6);

/// One record per core (core 0's unused), read by `boot.s` at its physical address.
#[unsafe(no_mangle)]
static mut __secondary_boot: [SecondaryBoot; super::cpu::CORE_COUNT] =
    [SecondaryBoot { mair: 0, tcr: 0, ttbr: 0, sctlr: 0, stack_top: 0 }; super::cpu::CORE_COUNT];

unsafe extern "C" {
    /// `boot.s`: the slots the parked cores poll, one 64-bit entry address per core.
    static mut __secondary_entry: [u64; super::cpu::CORE_COUNT];
    /// `boot.s`: where a released core starts, at its physical address.
    fn secondary_start();
}

/// Lets parked core `core` go: it will run `secondary_start` on the stack whose top is `stack_top` and
/// enter `_secondary_start_rust(core)` once it has an IPI (the caller sends it next: the store to the
/// slot alone does not end a `WFI`).
///
/// # Safety
///
/// `core` must be a parked core (1 to 3) not released before, and `stack_top` the top of memory that
/// stays the core's own stack for good. Called on the boot core, after the kernel's tables are final.
pub unsafe fn release(core: usize, stack_top: u64) {
    assert!((1..super::cpu::CORE_COUNT).contains(&core));
    let record = SecondaryBoot {
        mair: MAIR_EL1.get(),
        tcr: TCR_EL1.get(),
        ttbr: TTBR1_EL1.get_baddr(),
        sctlr: SCTLR_EL1.get(),
        stack_top,
    };
    // SAFETY: each core's record and slot are written once, here, before that core is released, and
    // read by that core only; the boot core is the only writer.
    unsafe {
        let slot = &raw mut __secondary_boot[core];
        slot.write(record);
        cache::clean_and_invalidate(slot as usize, core::mem::size_of::<SecondaryBoot>());
        let entry = &raw mut __secondary_entry[core];
        entry.write_volatile(virt_to_phys(secondary_start as *const () as u64));
        cache::clean_and_invalidate(entry as usize, core::mem::size_of::<u64>());
    }
}
