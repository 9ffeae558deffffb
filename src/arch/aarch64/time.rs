//! The Arm generic timer: the system counter (`CNTPCT_EL0`) and its frequency (`CNTFRQ_EL0`).
//!
//! The counter runs at a fixed frequency on every core (62.5 MHz under QEMU, 54 MHz on a Pi 4, 19.2 MHz on
//! a Pi 3; always read it). Uptime counts from the kernel's first instruction of Rust.

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use aarch64_cpu::asm;
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{CNTFRQ_EL0, CNTP_CTL_EL0, CNTP_TVAL_EL0, CNTPCT_EL0, Readable, Writeable};

/// Counter value at boot. A relaxed atomic store is a plain store, safe before the MMU is on.
static BOOT_TICKS: AtomicU64 = AtomicU64::new(0);

/// Records the boot time. Called first thing in `kernel_init`.
pub fn record_boot() {
    BOOT_TICKS.store(ticks(), Ordering::Relaxed);
}

/// Counter ticks per second.
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// The current counter value. The ISB keeps the read from being hoisted above earlier instructions, so
/// that a measurement brackets exactly the code between two reads.
pub fn ticks() -> u64 {
    barrier::isb(barrier::SY);
    CNTPCT_EL0.get()
}

/// Converts counter ticks to a duration.
pub fn ticks_to_duration(ticks: u64) -> Duration {
    let frequency = frequency().max(1);
    let seconds = ticks / frequency;
    let rest = ticks % frequency;
    Duration::new(seconds, ((rest as u128 * 1_000_000_000) / frequency as u128) as u32)
}

/// Time since boot.
pub fn uptime() -> Duration {
    ticks_to_duration(ticks().wrapping_sub(BOOT_TICKS.load(Ordering::Relaxed)))
}

/// Busy-waits for at least `duration`.
pub fn spin_for(duration: Duration) {
    let wait = (duration.as_nanos() * frequency() as u128 / 1_000_000_000) as u64;
    let start = ticks();
    while ticks().wrapping_sub(start) < wait {
        core::hint::spin_loop();
    }
}

/// Sleeps in WFI until the EL1 physical timer fires after `duration`, or anything else wakes the core.
///
/// The timer interrupt must be routed to this core (`board::interrupt::route_boot_core_timer`) but stays
/// masked in PSTATE: WFI wakes on it all the same, and stopping the timer afterwards withdraws it. This is
/// how an idle core waits without keeping a host core busy under QEMU.
pub fn sleep_until_tick(duration: Duration) {
    let wait = (duration.as_nanos() * frequency() as u128 / 1_000_000_000).clamp(1, u32::MAX as u128);
    CNTP_TVAL_EL0.set(wait as u64);
    CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::SET + CNTP_CTL_EL0::IMASK::CLEAR);
    asm::wfi();
    CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::CLEAR + CNTP_CTL_EL0::IMASK::SET);
}
