//! The boards' interrupt controllers, as far as cowpi uses them yet: routing the boot core's EL1
//! physical timer interrupt, so that an idle core can sleep in WFI until the next timer tick.
//!
//! The interrupt stays masked in PSTATE (DAIF.I), so no handler runs: WFI wakes on a pending interrupt
//! whether or not it is masked (Arm ARM D1.6.2, "Wait for Interrupt"), and the waker simply re-arms or
//! stops the timer. Taking interrupts for real (preemption) comes with the scheduler.

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
