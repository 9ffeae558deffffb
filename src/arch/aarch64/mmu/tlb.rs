//! TLB maintenance and the switch of `TTBR0_EL1`: what the address-space engine (`cowpi_mm::AddressSpace`)
//! needs of the hardware when it changes a live mapping or a task is switched in.
//!
//! Every invalidation is broadcast to the inner-shareable domain (`TLBI ... IS`) and completed with
//! `DSB ISH` before it is relied on, as the Arm ARM asks (D8.14, "TLB maintenance"), so it holds with any
//! number of cores running.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, Readable, TTBR0_EL1, Writeable};
use alloc::sync::Arc;

use cowpi_mm::{AsidAllocator, AsidBits, Assignment, Frame, Page, SpaceAsid, TlbMaintenance};

use super::boot_map;
use crate::arch::cpu;

/// TLB maintenance for one address space's user mappings, broadcast to the inner-shareable domain.
///
/// It shares the space's [`SpaceAsid`] with the scheduler, and reads it at each invalidation with IRQs
/// masked: the space's lock is held with interrupts on (a fork may be preempted), and a switch in between
/// may give the space a new ASID at a rollover. Masked, no switch can come between reading the ASID and
/// the `TLBI` that uses it, and a rollover after it flushes every entry anyway.
#[derive(Debug, Default)]
pub struct KernelTlb {
    asid: Arc<SpaceAsid>,
}

impl KernelTlb {
    /// The TLB maintenance of a new address space, which has never run (no ASID).
    pub fn new() -> KernelTlb {
        KernelTlb::default()
    }

    /// The ASID cell the scheduler assigns at each switch to the space.
    pub fn asid(&self) -> &Arc<SpaceAsid> {
        &self.asid
    }

    /// Runs `tlbi` with the `TLBI` operand's ASID field (bits 63:48) filled in, unless the space never ran
    /// (then no TLB holds its translations).
    ///
    /// With several cores, another core may give the space a new ASID (a switch to it after a rollover)
    /// between the read of the ASID and the `TLBI`, and start filling its TLB from the tables as they were
    /// before the change being published. So the ASID is read again after the invalidation, and if it
    /// moved, the new one is invalidated too. That suffices: the other core stores the new ASID and then
    /// (`DSB ISH` in [`activate`]) starts walking; this core changes the tables and then (`DSB ISH`) reads
    /// the ASID. One of the two sees the other's store, so either the walk sees the new tables or the
    /// second read sees the new ASID.
    fn with_asid(&self, tlbi: impl Fn(u64)) {
        let saved = cpu::mask_irqs();
        let mut invalidated = None;
        loop {
            barrier::dsb(barrier::ISH);
            let asid = self.asid.current();
            if asid.is_none() || asid == invalidated {
                break;
            }
            if let Some(asid) = asid {
                tlbi(u64::from(asid.as_u16()) << 48);
            }
            invalidated = asid;
        }
        if invalidated.is_some() {
            barrier::isb(barrier::SY);
        }
        cpu::restore_irqs(saved);
    }
}

impl TlbMaintenance for KernelTlb {
    fn invalidate_page(&mut self, page: Page) {
        // TLBI VAE1IS operand: ASID in bits 63:48, VA[55:12] in bits 43:0. VAE1IS (not VALE1IS) also drops
        // cached table entries, which freeing an emptied table relies on.
        let va = page.start_address().as_u64() >> 12;
        self.with_asid(|asid| {
            // SAFETY: TLB invalidation only drops cached translations.
            unsafe {
                core::arch::asm!("tlbi vae1is, {}", in(reg) asid | va, options(nostack, preserves_flags))
            };
        });
    }

    fn invalidate_asid(&mut self) {
        // TLBI ASIDE1IS operand: the ASID in bits 63:48. It drops cached walks too (a shared table's
        // level-2 entry switched to a copy relies on that).
        self.with_asid(|asid| {
            // SAFETY: TLB invalidation only drops cached translations.
            unsafe { core::arch::asm!("tlbi aside1is, {}", in(reg) asid, options(nostack, preserves_flags)) };
        });
    }

    fn publish_tables(&mut self) {
        barrier::dsb(barrier::ISHST);
        barrier::isb(barrier::SY);
    }
}

/// ASID bits the CPU implements (`ID_AA64MMFR0_EL1.ASIDBits`: 8 or 16).
pub fn hardware_asid_bits() -> u32 {
    match AsidBits::from_id_aa64mmfr0_asid_bits(ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::ASIDBits)) {
        Some(AsidBits::Sixteen) => 16,
        _ => 8,
    }
}

/// The ASID allocator: 8-bit ASIDs, whatever the CPU offers (see [`hardware_asid_bits`]). The boot map
/// leaves `TCR_EL1.AS` clear, so the upper bits of TTBR0's ASID field are ignored; rollover then comes
/// every 255 address spaces, often enough that the tests exercise it.
pub fn asid_allocator() -> AsidAllocator {
    AsidAllocator::new(AsidBits::Eight, cpu::CORE_COUNT)
}

/// Switches this core's `TTBR0_EL1` to the address space whose level-1 table is `root`, with the ASID
/// `SpaceAsid::assign` gave it, dropping every EL1 entry of this core's TLB first if the ASIDs rolled over
/// since this core last switched to a user space (each core flushes its own; see `cowpi_mm::asid`).
pub fn activate(root: Frame, assignment: Assignment) {
    // The space's new ASID (stored by `SpaceAsid::assign`) is visible to every core before this core
    // walks its tables (see `KernelTlb::with_asid`).
    barrier::dsb(barrier::ISH);
    if assignment.flush_local {
        // SAFETY: invalidating every EL1 TLB entry of this core only costs refills.
        unsafe { core::arch::asm!("tlbi vmalle1", options(nostack, preserves_flags)) };
        barrier::dsb(barrier::NSH);
    }
    TTBR0_EL1.set(cowpi_mm::ttbr0_el1(root, assignment.asid));
    barrier::isb(barrier::SY);
}

/// Installs the empty table (no user space) in `TTBR0_EL1`.
pub fn activate_none() {
    TTBR0_EL1.set(boot_map::empty_table_physical_address());
    barrier::isb(barrier::SY);
}
