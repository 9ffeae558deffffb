//! The BCM2836 "ARM local" interrupt controller of the Pi 3 (BCM2837): per-core routing of the generic
//! timer, mailbox and GPU interrupts. Reference: BCM2836 "ARM Quad A7 core" document, section 4.6.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

use super::Source;
use crate::board::mmio::MmioBlock;

register_bitfields! {u32,
    /// Core n IRQ source: which lines are asserting this core's IRQ.
    IRQ_SOURCE [
        CNTPNSIRQ OFFSET(1) NUMBITS(1) []
    ],
    /// Core n timers interrupt control.
    TIMER_INTERRUPT_CONTROL [
        /// Physical non-secure timer (CNTPNSIRQ) to this core's IRQ line.
        CNTPNSIRQ_IRQ OFFSET(1) NUMBITS(1) [Disabled = 0, Enabled = 1]
    ]
}

register_structs! {
    Registers {
        (0x00 => _reserved),
        (0x40 => timer_interrupt_control: [ReadWrite<u32, TIMER_INTERRUPT_CONTROL::Register>; 4]),
        (0x50 => _reserved2),
        (0x60 => irq_source: [ReadOnly<u32, IRQ_SOURCE::Register>; 4]),
        (0x70 => @END),
    }
}

pub struct LocalController {
    registers: MmioBlock<Registers>,
}

impl LocalController {
    /// # Safety
    ///
    /// `base` must be the BCM2836 local controller, mapped as Device memory.
    pub const unsafe fn new(base: usize) -> LocalController {
        // SAFETY: forwarded from the caller.
        LocalController { registers: unsafe { MmioBlock::new(base) } }
    }

    pub fn route_physical_timer_irq(&self, core: usize) {
        self.registers.timer_interrupt_control[core].write(TIMER_INTERRUPT_CONTROL::CNTPNSIRQ_IRQ::Enabled);
    }

    /// The pending interrupt of `core`, timer first.
    pub fn pending(&self, core: usize) -> Option<Source> {
        let source = &self.registers.irq_source[core];
        if source.is_set(IRQ_SOURCE::CNTPNSIRQ) {
            Some(Source::Timer)
        } else {
            match source.get() {
                0 => None,
                other => Some(Source::Other(other)),
            }
        }
    }
}
