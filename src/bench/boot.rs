//! Boot time: the counter when the shell announces itself.
//!
//! Under QEMU the system counter starts at zero when the machine does, so its value at the ready line is
//! the time from power-on to the prompt (virtual time, paced by instructions under `-icount`). A real Pi's
//! counter starts with the SoC, before its firmware loads the kernel, so there it includes the firmware.
//! The time from the kernel's first Rust instruction is printed too, which means the same on both.

use core::sync::atomic::{AtomicU64, Ordering};

use cowpi_console::bench::{SampleLine, Scale};

use crate::arch::time;
use crate::println;

/// Counter value when the shell printed its ready line.
static READY_TICKS: AtomicU64 = AtomicU64::new(0);

/// Called by the shell as it prints the ready line.
pub fn record_ready() {
    READY_TICKS.store(time::ticks(), Ordering::Relaxed);
}

/// One sample per boot: repetitions would all print the same numbers, so the host boots `reps` times
/// and runs this once after each boot.
pub fn run(_reps: u32, _scale: Scale) -> Result<(), alloc::string::String> {
    let ready = READY_TICKS.load(Ordering::Relaxed);
    println!("{}", SampleLine { figure: "boot.ready", labels: &[], ticks: ready, ops: 1 });
    let from_kernel = ready.saturating_sub(time::boot_ticks());
    println!("{}", SampleLine { figure: "boot.kernel", labels: &[], ticks: from_kernel, ops: 1 });
    Ok(())
}
