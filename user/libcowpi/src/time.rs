//! The system counter, read directly at EL0: what programs time themselves with.
//!
//! The kernel sets `CNTKCTL_EL1.EL0PCTEN`, so `CNTPCT_EL0` and `CNTFRQ_EL0` read at EL0 without a system
//! call: a measurement costs two register reads, not two exceptions, and brackets exactly the code
//! between them. Under QEMU with `-icount shift=0` the counter follows executed instructions, so the
//! readings repeat from run to run (see `cowpi_console::bench`).

use core::arch::asm;

/// The counter's value now. The ISB before the read keeps it from being taken early, before the
/// instructions that precede it have finished.
pub fn ticks() -> u64 {
    let value: u64;
    // SAFETY: reading CNTPCT_EL0 has no side effect; the kernel enables it at EL0.
    unsafe { asm!("isb", "mrs {}, cntpct_el0", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

/// Counter ticks per second.
pub fn frequency() -> u64 {
    let value: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effect and is allowed at EL0 while EL0PCTEN is set.
    unsafe { asm!("mrs {}, cntfrq_el0", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

/// `ticks` counter ticks in nanoseconds (rounded down).
pub fn ticks_to_ns(ticks: u64) -> u64 {
    (u128::from(ticks) * 1_000_000_000 / u128::from(frequency().max(1))) as u64
}
