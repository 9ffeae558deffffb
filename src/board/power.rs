//! The power-management block's watchdog, used to reset the board (`reboot`).
//!
//! Writing a full-reset configuration to PM_RSTC and a short timeout to PM_WDOG resets the SoC when the
//! watchdog expires; the firmware then boots the kernel again. QEMU's raspi machines model this too.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

use super::mmio::MmioBlock;

register_structs! {
    Registers {
        (0x00 => _reserved),
        (0x1C => pm_rstc: ReadWrite<u32>),
        (0x20 => _reserved2),
        (0x24 => pm_wdog: ReadWrite<u32>),
        (0x28 => @END),
    }
}

/// Every write to a PM register must carry this in its top byte.
const PM_PASSWORD: u32 = 0x5A00_0000;
/// PM_RSTC.WRCFG field and its full-reset value.
const PM_RSTC_WRCFG_MASK: u32 = 0x0000_0030;
const PM_RSTC_WRCFG_FULL_RESET: u32 = 0x0000_0020;
/// Watchdog ticks (about 16 µs each) before the reset.
const RESET_TICKS: u32 = 10;

pub struct PowerManagement {
    registers: MmioBlock<Registers>,
}

impl PowerManagement {
    /// # Safety
    ///
    /// `base` must be the board's power-management block, mapped as Device memory.
    pub const unsafe fn new(base: usize) -> PowerManagement {
        // SAFETY: forwarded from the caller.
        PowerManagement { registers: unsafe { MmioBlock::new(base) } }
    }

    /// Starts a full reset of the board. It takes effect within a millisecond.
    pub fn reset(&self) {
        let r = &self.registers;
        r.pm_wdog.set(PM_PASSWORD | RESET_TICKS);
        let rstc = r.pm_rstc.get() & !PM_RSTC_WRCFG_MASK;
        r.pm_rstc.set(PM_PASSWORD | rstc | PM_RSTC_WRCFG_FULL_RESET);
    }
}
