//! The BCM2836 "ARM local" interrupt controller of the Pi 3 (BCM2837): per-core routing of the generic
//! timer, mailbox and GPU interrupts. Reference: BCM2836 "ARM Quad A7 core" document, sections 4.6-4.8.
//!
//! Each core has four 32-bit mailboxes: any core sets bits through a mailbox's write-set register, and
//! while any bit is set (and the mailbox's interrupt is enabled for its core) that core's IRQ line is
//! asserted; the core clears bits through the read/write-to-clear register. Mailbox 0 carries IPIs.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

use super::Source;
use crate::board::mmio::MmioBlock;

/// The mailbox (of four per core) that carries IPIs.
const IPI_MAILBOX: usize = 0;

register_bitfields! {u32,
    /// Core n IRQ source: which lines are asserting this core's IRQ.
    IRQ_SOURCE [
        CNTPNSIRQ OFFSET(1) NUMBITS(1) [],
        MAILBOX0 OFFSET(4) NUMBITS(1) []
    ],
    /// Core n timers interrupt control.
    TIMER_INTERRUPT_CONTROL [
        /// Physical non-secure timer (CNTPNSIRQ) to this core's IRQ line.
        CNTPNSIRQ_IRQ OFFSET(1) NUMBITS(1) [Disabled = 0, Enabled = 1]
    ],
    /// Core n mailboxes interrupt control.
    MAILBOX_INTERRUPT_CONTROL [
        /// Mailbox 0 to this core's IRQ line.
        MAILBOX0_IRQ OFFSET(0) NUMBITS(1) [Disabled = 0, Enabled = 1]
    ]
}

register_structs! {
    Registers {
        (0x00 => _reserved),
        (0x40 => timer_interrupt_control: [ReadWrite<u32, TIMER_INTERRUPT_CONTROL::Register>; 4]),
        (0x50 => mailbox_interrupt_control: [ReadWrite<u32, MAILBOX_INTERRUPT_CONTROL::Register>; 4]),
        (0x60 => irq_source: [ReadOnly<u32, IRQ_SOURCE::Register>; 4]),
        (0x70 => _reserved2),
        /// Core c's mailbox m at index 4 c + m.
        (0x80 => mailbox_write_set: [WriteOnly<u32>; 16]),
        (0xC0 => mailbox_read_clear: [ReadWrite<u32>; 16]),
        (0x100 => @END),
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

    pub fn route_ipi_mailbox(&self, core: usize) {
        self.registers.mailbox_interrupt_control[core]
            .write(MAILBOX_INTERRUPT_CONTROL::MAILBOX0_IRQ::Enabled);
    }

    pub fn raise_ipi(&self, core: usize) {
        self.registers.mailbox_write_set[4 * core + IPI_MAILBOX].set(1);
    }

    pub fn clear_ipi(&self, core: usize) {
        self.registers.mailbox_read_clear[4 * core + IPI_MAILBOX].set(u32::MAX);
    }

    /// The pending interrupt of `core`: timer first, then an IPI.
    pub fn pending(&self, core: usize) -> Option<Source> {
        let source = &self.registers.irq_source[core];
        if source.is_set(IRQ_SOURCE::CNTPNSIRQ) {
            Some(Source::Timer)
        } else if source.is_set(IRQ_SOURCE::MAILBOX0) {
            Some(Source::Ipi)
        } else {
            match source.get() {
                0 => None,
                other => Some(Source::Other(other)),
            }
        }
    }
}
