//! IRQ handling: find out which interrupt it is, handle it, end it, and preempt if the scheduler says so.

use crate::arch::exception::ExceptionFrame;
use crate::arch::{cpu, time};
use crate::board::{self, interrupt::Source};
use crate::smp;
use crate::task::scheduler;

/// Enables the calling core's timer interrupt and starts its tick. IRQs stay masked until the caller
/// unmasks.
pub fn start_timer_tick() {
    board::interrupt::route_timer(board::info().spec().interrupt_controller, cpu::core_id() as usize);
    time::start_tick(core::time::Duration::from_millis(scheduler::TICK_MS));
}

/// Called from the IRQ vectors (EL1 and EL0) with IRQs masked, on any core: the timer ends time slices
/// (and on the boot core keeps the time), an IPI makes an idle core look for a ready task.
pub fn handle_irq(_frame: &mut ExceptionFrame) {
    let controller = board::info().spec().interrupt_controller;
    let core = cpu::core_id() as usize;
    let Some(interrupt) = board::interrupt::acknowledge(controller, core) else { return };
    let preempt = match interrupt.source {
        Source::Timer => {
            time::rearm_tick();
            smp::count_tick(core);
            scheduler::tick()
        }
        Source::Ipi => {
            smp::count_ipi(core);
            scheduler::ipi()
        }
        Source::Other(number) => {
            log::warn!("unexpected interrupt {number:#x} on core {core}, ignored");
            false
        }
    };
    // End before switching away: the next task must be able to take the next tick.
    board::interrupt::end(controller, interrupt);
    if preempt {
        scheduler::schedule();
    }
}
