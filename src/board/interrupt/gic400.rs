//! The Arm GIC-400 (GICv2) of the Pi 4 (BCM2711): just enough to let a core's private interrupts (its
//! timer's PPI, and software-generated interrupts from other cores) reach it. Reference: Arm Generic Interrupt Controller Architecture Specification v2,
//! chapter 4 (distributor and CPU interface registers).

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

use super::Source;
use crate::board::mmio::MmioBlock;

/// The EL1 physical timer's interrupt ID: PPI 14, INTID 30.
pub const EL1_PHYSICAL_TIMER_PPI: u32 = 30;
/// The software-generated interrupt (SGI, INTID 0-15) that carries IPIs. `boot.s` enables it on a
/// parked core, so it must stay 0 there too.
pub const IPI_SGI: u32 = 0;

register_bitfields! {u32,
    GICD_CTLR [ENABLE OFFSET(0) NUMBITS(1) []],
    GICC_CTLR [ENABLE OFFSET(0) NUMBITS(1) []],
    GICC_PMR [PRIORITY OFFSET(0) NUMBITS(8) []],
    GICD_SGIR [
        SGIINTID OFFSET(0) NUMBITS(4) [],
        /// One bit per core the SGI goes to (with `TARGET_LIST_FILTER` 0, "the listed cores").
        CPU_TARGET_LIST OFFSET(16) NUMBITS(8) [],
        TARGET_LIST_FILTER OFFSET(24) NUMBITS(2) [Listed = 0]
    ]
}

register_structs! {
    DistributorRegisters {
        (0x000 => ctlr: ReadWrite<u32, GICD_CTLR::Register>),
        (0x004 => _reserved1),
        (0x100 => isenabler: [ReadWrite<u32>; 32]),
        (0x180 => _reserved2),
        (0x400 => ipriorityr: [ReadWrite<u32>; 255]),
        (0x7FC => _reserved3),
        (0xF00 => sgir: WriteOnly<u32, GICD_SGIR::Register>),
        (0xF04 => @END),
    }
}

register_structs! {
    CpuInterfaceRegisters {
        (0x000 => ctlr: ReadWrite<u32, GICC_CTLR::Register>),
        (0x004 => pmr: ReadWrite<u32, GICC_PMR::Register>),
        (0x008 => _reserved),
        (0x00C => iar: ReadOnly<u32>),
        (0x010 => eoir: WriteOnly<u32>),
        (0x014 => @END),
    }
}

pub struct Gic400 {
    distributor: MmioBlock<DistributorRegisters>,
    cpu_interface: MmioBlock<CpuInterfaceRegisters>,
}

impl Gic400 {
    /// # Safety
    ///
    /// `gicd` and `gicc` must be the GIC-400's distributor and CPU interface, mapped as Device memory.
    pub const unsafe fn new(gicd: usize, gicc: usize) -> Gic400 {
        // SAFETY: forwarded from the caller.
        unsafe { Gic400 { distributor: MmioBlock::new(gicd), cpu_interface: MmioBlock::new(gicc) } }
    }

    /// Enables a banked (SGI or PPI, INTID < 32) interrupt for the calling core, at the highest priority,
    /// with the distributor and this core's CPU interface on and no priority masked.
    pub fn enable_private_interrupt(&self, id: u32) {
        debug_assert!(id < 32);
        let d = &self.distributor;
        // Priority 0, the highest: four 8-bit priority fields per register.
        let priority = &d.ipriorityr[(id / 4) as usize];
        priority.set(priority.get() & !(0xFF << ((id % 4) * 8)));
        d.isenabler[0].set(1 << id);
        d.ctlr.write(GICD_CTLR::ENABLE::SET);
        self.cpu_interface.pmr.write(GICC_PMR::PRIORITY.val(0xFF));
        self.cpu_interface.ctlr.write(GICC_CTLR::ENABLE::SET);
    }

    /// Raises SGI `id` on core `core`.
    pub fn send_sgi(&self, id: u32, core: usize) {
        self.distributor.sgir.write(
            GICD_SGIR::SGIINTID.val(id)
                + GICD_SGIR::CPU_TARGET_LIST.val(1 << core)
                + GICD_SGIR::TARGET_LIST_FILTER::Listed,
        );
    }

    /// Reads `GICC_IAR`: acknowledges the highest-priority pending interrupt, and returns it with the
    /// value read, which [`Gic400::end`] needs. INTID 1023 means none.
    pub fn acknowledge(&self) -> Option<(Source, u32)> {
        let raw = self.cpu_interface.iar.get();
        let source = match raw & 0x3FF {
            1023 => return None,
            EL1_PHYSICAL_TIMER_PPI => Source::Timer,
            IPI_SGI => Source::Ipi,
            other => Source::Other(other),
        };
        Some((source, raw))
    }

    /// Writes `GICC_EOIR` with what `GICC_IAR` gave for the interrupt (for an SGI its source core
    /// field too, which the GIC checks).
    pub fn end(&self, raw: u32) {
        self.cpu_interface.eoir.set(raw);
    }
}
