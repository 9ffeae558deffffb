//! IRQ handling: find out which interrupt it is, handle it, end it, and preempt if the scheduler says so.

use crate::arch::exception::ExceptionFrame;
use crate::arch::time;
use crate::board::{self, interrupt::Source};
use crate::task::scheduler;

/// Enables the timer interrupt and starts the scheduler tick. IRQs stay masked until the caller unmasks.
pub fn start_timer_tick() {
    board::interrupt::route_boot_core_timer(board::info().spec().interrupt_controller);
    time::start_tick(core::time::Duration::from_millis(scheduler::TICK_MS));
}

/// Called from the IRQ vectors (EL1 and EL0) with IRQs masked.
pub fn handle_irq(_frame: &mut ExceptionFrame) {
    let controller = board::info().spec().interrupt_controller;
    let Some(source) = board::interrupt::acknowledge(controller) else { return };
    let preempt = match source {
        Source::Timer => {
            time::rearm_tick();
            scheduler::tick()
        }
        Source::Other(number) => {
            log::warn!("unexpected interrupt {number:#x}, ignored");
            false
        }
    };
    // End before switching away: the next task must be able to take the next tick.
    board::interrupt::end(controller, source);
    if preempt {
        scheduler::schedule();
    }
}
