//! The boards' interrupt controllers, behind one small interface: route a core's EL1 physical timer
//! interrupt to it, interrupt another core (an inter-processor interrupt, IPI), say which interrupt is
//! pending on this core, and signal its end. The timer drives preemption and sleeping; an IPI only wakes
//! its core and makes it look at what the kernel left for it.

mod bcm2836_local;
mod gic400;

use super::InterruptController;

/// Lets `core`'s EL1 physical timer interrupt reach it. Called on that core: on the GIC the timer's
/// enable bit is banked per core.
pub fn route_timer(controller: InterruptController, core: usize) {
    match controller {
        InterruptController::Bcm2836Local { base } => {
            // SAFETY: the board table's address of the local controller, mapped as Device memory.
            let local = unsafe { bcm2836_local::LocalController::new(super::mmio(base)) };
            local.route_physical_timer_irq(core);
        }
        InterruptController::Gic400 { gicd, gicc } => {
            // SAFETY: the board table's addresses of the GIC-400 blocks, mapped as Device memory.
            let gic = unsafe { gic400::Gic400::new(super::mmio(gicd), super::mmio(gicc)) };
            gic.enable_private_interrupt(gic400::EL1_PHYSICAL_TIMER_PPI);
        }
    }
}

/// Lets IPIs reach the calling core `core`. A parked core has done this for itself already (`boot.s`
/// arms its wake-up before it waits); the boot core calls it.
pub fn route_ipis(controller: InterruptController, core: usize) {
    match controller {
        InterruptController::Bcm2836Local { base } => {
            // SAFETY: as in `route_timer`.
            let local = unsafe { bcm2836_local::LocalController::new(super::mmio(base)) };
            local.route_ipi_mailbox(core);
        }
        InterruptController::Gic400 { gicd, gicc } => {
            // SAFETY: as in `route_timer`.
            let gic = unsafe { gic400::Gic400::new(super::mmio(gicd), super::mmio(gicc)) };
            gic.enable_private_interrupt(gic400::IPI_SGI);
        }
    }
}

/// Interrupts core `core`: it takes an IPI as soon as it unmasks IRQs, and leaves WFI for it. Whatever
/// the sender stored before is visible to the receiver when it takes the IPI.
pub fn send_ipi(controller: InterruptController, core: usize) {
    // The IPI is a store to Device memory; the receiver's reads of what this core stored to Normal
    // memory must not overtake it (as Linux's GIC drivers do before raising an SGI).
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::ISHST);
    match controller {
        InterruptController::Bcm2836Local { base } => {
            // SAFETY: as in `route_timer`.
            let local = unsafe { bcm2836_local::LocalController::new(super::mmio(base)) };
            local.raise_ipi(core);
        }
        InterruptController::Gic400 { gicd, gicc } => {
            // SAFETY: as in `route_timer`.
            let gic = unsafe { gic400::Gic400::new(super::mmio(gicd), super::mmio(gicc)) };
            gic.send_sgi(gic400::IPI_SGI, core);
        }
    }
}

/// An interrupt the kernel knows how to handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The EL1 physical timer of this core.
    Timer,
    /// Another core interrupted this one ([`send_ipi`]).
    Ipi,
    /// Something else, by the controller's number (reported, then ended).
    Other(u32),
}

/// A pending interrupt taken by [`acknowledge`], to be handed back to [`end`].
#[derive(Debug, Clone, Copy)]
pub struct Interrupt {
    pub source: Source,
    /// What the controller needs to end it: the GIC's whole `GICC_IAR` value (for an SGI it names the
    /// sending core too, and `GICC_EOIR` must be given the same).
    raw: u32,
}

/// Which interrupt is pending on the calling core `core`, acknowledging it where the controller needs
/// that (the GIC; the BCM2836 mailbox is cleared here, before the IPI is handled, so that one sent
/// meanwhile is not lost). None for a spurious interrupt.
pub fn acknowledge(controller: InterruptController, core: usize) -> Option<Interrupt> {
    match controller {
        InterruptController::Bcm2836Local { base } => {
            // SAFETY: as in `route_timer`.
            let local = unsafe { bcm2836_local::LocalController::new(super::mmio(base)) };
            let source = local.pending(core)?;
            if source == Source::Ipi {
                local.clear_ipi(core);
            }
            Some(Interrupt { source, raw: 0 })
        }
        InterruptController::Gic400 { gicd, gicc } => {
            // SAFETY: as in `route_timer`.
            let gic = unsafe { gic400::Gic400::new(super::mmio(gicd), super::mmio(gicc)) };
            gic.acknowledge().map(|(source, raw)| Interrupt { source, raw })
        }
    }
}

/// Signals the end of handling `interrupt` (the GIC needs it; the BCM2836 timer line drops when the
/// timer is re-armed, and its mailbox was cleared when acknowledged).
pub fn end(controller: InterruptController, interrupt: Interrupt) {
    if let InterruptController::Gic400 { gicd, gicc } = controller {
        // SAFETY: as in `route_timer`.
        let gic = unsafe { gic400::Gic400::new(super::mmio(gicd), super::mmio(gicc)) };
        gic.end(interrupt.raw);
    }
}
