//! The panic handler: a kernel bug stops the kernel, loudly, with where and what.
//!
//! It prints the location, the message, the registers it can still see (SP, frame pointer, link
//! register) and a frame-pointer backtrace (the kernel is built with frame pointers), all on lines that
//! start with `!!! ` so the test runner recognises them, then halts the core.

use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::cpu;
use crate::console;

static PANICKING: AtomicBool = AtomicBool::new(false);

/// Frames the backtrace follows at most.
const BACKTRACE_DEPTH: usize = 16;

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    cpu::mask_all_interrupts();
    let (sp, fp, lr): (u64, u64, u64);
    // SAFETY: copying SP, x29 and x30 into registers has no side effects.
    unsafe {
        core::arch::asm!("mov {}, sp", "mov {}, x29", "mov {}, x30", out(reg) sp, out(reg) fp, out(reg) lr,
            options(nomem, nostack, preserves_flags));
    }
    let mut out = console::panic_writer();
    if PANICKING.swap(true, Ordering::Relaxed) {
        let _ = writeln!(out, "\n!!! kernel panic while panicking: {}", info.message());
        cpu::halt();
    }
    let _ = write!(out, "\n!!! kernel panic");
    if let Some(location) = info.location() {
        let _ = write!(out, " at {}:{}:{}", location.file(), location.line(), location.column());
    }
    let _ = writeln!(out, ": {}", info.message());
    let _ = writeln!(out, "!!!   sp {sp:#018x}  fp (x29) {fp:#018x}  lr (x30) {lr:#018x}");
    let _ = writeln!(out, "!!!   backtrace (return addresses; resolve with addr2line -e <kernel ELF>):");
    let mut frame = fp;
    for _ in 0..BACKTRACE_DEPTH {
        if frame == 0 || frame % 16 != 0 || !crate::memory::layout::is_boot_stack(frame) {
            break;
        }
        // SAFETY: `frame` is a 16-byte aligned address inside the boot stack, where each AArch64 frame
        // record is {previous frame pointer, return address}.
        let (previous, return_address) =
            unsafe { (core::ptr::read(frame as *const u64), core::ptr::read((frame + 8) as *const u64)) };
        if return_address == 0 {
            break;
        }
        let _ = writeln!(out, "!!!     {return_address:#018x}");
        frame = previous;
    }
    let _ = writeln!(out, "!!! kernel stopped");
    cpu::halt()
}
