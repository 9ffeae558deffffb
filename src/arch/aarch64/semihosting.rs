//! Arm semihosting, used only to end a QEMU session (`poweroff`, and the test runner's clean exit).
//!
//! QEMU started with `-semihosting-config enable=on,target=native` treats `HLT #0xF000` as a semihosting
//! call. Without it, and on a real board, `HLT` is an undefined instruction. Rather than fault, the
//! exception handler recognises that one instruction while a call is in flight and resumes after it with
//! an error in x0, so `poweroff` can say that it could not power off.

use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

use super::exception::ExceptionFrame;

/// Semihosting operation SYS_EXIT.
const SYS_EXIT: u64 = 0x18;
/// ADP_Stopped_ApplicationExit: the reason code for a normal exit.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;
/// The encoding of `HLT #0xF000`.
const HLT_F000: u32 = 0xD45E_0000;
/// What x0 holds after a semihosting call that the handler skipped.
const UNAVAILABLE: u64 = u64::MAX;

static CALL_IN_FLIGHT: AtomicBool = AtomicBool::new(false);

/// Semihosting is not available (real hardware, or QEMU without `-semihosting-config enable=on`).
#[derive(Debug)]
pub struct Unavailable;

/// Ends the QEMU session with exit status `code` (QEMU keeps the low 8 bits). Returns only if semihosting
/// is not available.
pub fn exit(code: u8) -> Unavailable {
    let block: [u64; 2] = [ADP_STOPPED_APPLICATION_EXIT, code as u64];
    CALL_IN_FLIGHT.store(true, Ordering::SeqCst);
    let mut x0 = SYS_EXIT;
    // SAFETY: SYS_EXIT reads the two-word block x1 points at and does not return when semihosting is on;
    // when it is off, the undefined-instruction exception is turned into a return (see `skip_failed_call`).
    unsafe { asm!("hlt #0xF000", inout("x0") x0, in("x1") block.as_ptr(), options(nostack)) };
    CALL_IN_FLIGHT.store(false, Ordering::SeqCst);
    debug_assert_eq!(x0, UNAVAILABLE);
    Unavailable
}

/// Called by the EL1 synchronous exception handler: if the exception is a semihosting call that the
/// platform did not implement, makes the call return `UNAVAILABLE` and reports `true`.
pub fn skip_failed_call(frame: &mut ExceptionFrame) -> bool {
    if !CALL_IN_FLIGHT.load(Ordering::SeqCst) {
        return false;
    }
    // SAFETY: ELR_EL1 of a synchronous exception taken from EL1 points at the faulting kernel instruction,
    // which is mapped and readable.
    let instruction = unsafe { core::ptr::read_volatile(frame.elr as *const u32) };
    if instruction != HLT_F000 {
        return false;
    }
    frame.x[0] = UNAVAILABLE;
    frame.elr += 4;
    true
}
