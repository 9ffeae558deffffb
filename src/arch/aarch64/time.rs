//! The Arm generic timer: the system counter (`CNTPCT_EL0`) and its frequency (`CNTFRQ_EL0`).
//!
//! The counter runs at a fixed frequency on every core (62.5 MHz under QEMU, 54 MHz on a Pi 4, 19.2 MHz on
//! a Pi 3; always read it). Uptime counts from the kernel's first instruction of Rust.

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTKCTL_EL1, CNTP_CTL_EL0, CNTP_CVAL_EL0, CNTPCT_EL0, ReadWriteable, Readable, Writeable,
};

/// Counter value at boot. A relaxed atomic store is a plain store, safe before the MMU is on.
static BOOT_TICKS: AtomicU64 = AtomicU64::new(0);

/// Records the boot time. Called first thing in `kernel_init`.
pub fn record_boot() {
    BOOT_TICKS.store(ticks(), Ordering::Relaxed);
}

/// The counter value `record_boot` noted: when the kernel's first Rust code ran.
pub fn boot_ticks() -> u64 {
    BOOT_TICKS.load(Ordering::Relaxed)
}

/// Lets EL0 read `CNTPCT_EL0` and `CNTFRQ_EL0` (`CNTKCTL_EL1.EL0PCTEN`), as Linux lets programs read the
/// virtual counter: a program timing itself then needs no system call, whose own cost would swamp what
/// it measures. The counter is the same for every task, so it reveals nothing a task may not know. The
/// EL0 timer registers stay trapped.
pub fn allow_el0_counter_reads() {
    CNTKCTL_EL1.modify(CNTKCTL_EL1::EL0PCTEN::SET);
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

/// Counter ticks per scheduler tick, set by `start_tick`.
static TICK_PERIOD: AtomicU64 = AtomicU64::new(0);

/// Starts the periodic timer interrupt (EL1 physical timer), every `period`.
pub fn start_tick(period: Duration) {
    let period_ticks = (period.as_nanos() * frequency() as u128 / 1_000_000_000).max(1) as u64;
    TICK_PERIOD.store(period_ticks, Ordering::Relaxed);
    CNTP_CVAL_EL0.set(ticks() + period_ticks);
    CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::SET + CNTP_CTL_EL0::IMASK::CLEAR);
}

/// Per core, the latest a tick was taken since [`take_longest_tick_lateness`] last asked, in counter
/// ticks.
static LONGEST_TICK_LATENESS: [AtomicU64; super::cpu::CORE_COUNT] =
    [const { AtomicU64::new(0) }; super::cpu::CORE_COUNT];

/// How late `core`'s latest tick was taken since the last call for that core (counter ticks after its
/// deadline), and starts again from 0. A tick is late only while interrupts are masked (or while another
/// interrupt is being handled), so this is a lower bound on the longest interval the core ran with
/// interrupts masked, exact for any interval longer than a tick period: what a benchmark reports to show
/// that no work that grows with memory runs with the machine deaf. (Not for a core that idles in `WFI`
/// under QEMU's `-icount`: QEMU runs the cores in turn there and lets a halted core's timer wait for its
/// turn, tens of microseconds.)
pub fn take_longest_tick_lateness(core: usize) -> u64 {
    LONGEST_TICK_LATENESS[core].swap(0, Ordering::Relaxed)
}

/// Sets the next timer interrupt one period after the last one (so ticks do not drift), or one period
/// from now if the kernel fell behind. Re-arming withdraws the pending interrupt.
pub fn rearm_tick() {
    let period = TICK_PERIOD.load(Ordering::Relaxed);
    let now = ticks();
    let due = CNTP_CVAL_EL0.get();
    LONGEST_TICK_LATENESS[super::cpu::core_id() as usize]
        .fetch_max(now.saturating_sub(due), Ordering::Relaxed);
    let mut next = due + period;
    if next <= now {
        next = now + period;
    }
    CNTP_CVAL_EL0.set(next);
}
