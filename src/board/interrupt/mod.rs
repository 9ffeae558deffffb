//! The boards' interrupt controllers, behind one small interface: route the boot core's EL1 physical
//! timer interrupt to it, say which interrupt is pending, and signal its end. The timer is the only
//! interrupt cowpi takes so far; it drives preemption and sleeping.

mod bcm2836_local;
mod gic400;

use super::InterruptController;

/// Lets the boot core's EL1 physical timer interrupt reach it.
pub fn route_boot_core_timer(controller: InterruptController) {
    match controller {
        InterruptController::Bcm2836Local { base } => {
            // SAFETY: the board table's address of the local controller, mapped as Device memory.
            let local = unsafe { bcm2836_local::LocalController::new(super::mmio(base)) };
            local.route_physical_timer_irq(0);
        }
        InterruptController::Gic400 { gicd, gicc } => {
            // SAFETY: the board table's addresses of the GIC-400 blocks, mapped as Device memory.
            let gic = unsafe { gic400::Gic400::new(super::mmio(gicd), super::mmio(gicc)) };
            gic.enable_private_interrupt(gic400::EL1_PHYSICAL_TIMER_PPI);
        }
    }
}

/// An interrupt the kernel knows how to handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The EL1 physical timer of this core.
    Timer,
    /// Something else, by the controller's number (reported, then ended).
    Other(u32),
}

/// Which interrupt is pending, acknowledging it where the controller needs that (the GIC). None for a
/// spurious interrupt.
pub fn acknowledge(controller: InterruptController) -> Option<Source> {
    match controller {
        InterruptController::Bcm2836Local { base } => {
            // SAFETY: as in `route_boot_core_timer`.
            let local = unsafe { bcm2836_local::LocalController::new(super::mmio(base)) };
            local.pending(0)
        }
        InterruptController::Gic400 { gicd, gicc } => {
            // SAFETY: as in `route_boot_core_timer`.
            let gic = unsafe { gic400::Gic400::new(super::mmio(gicd), super::mmio(gicc)) };
            gic.acknowledge()
        }
    }
}

/// Signals the end of handling `source` (the GIC needs it; the BCM2836 timer line drops when the timer
/// is re-armed).
pub fn end(controller: InterruptController, source: Source) {
    if let InterruptController::Gic400 { gicd, gicc } = controller {
        // SAFETY: as in `route_boot_core_timer`.
        let gic = unsafe { gic400::Gic400::new(super::mmio(gicd), super::mmio(gicc)) };
        gic.end(source);
    }
}
