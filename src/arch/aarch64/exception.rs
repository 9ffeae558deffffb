//! Exception handling: the Rust side of the vector table in `exception.s`.
//!
//! For now every exception but one is unexpected: the kernel reports it with the decoded syndrome and the
//! interrupted registers and stops. The one expected case is a semihosting call on a platform without
//! semihosting (see `semihosting`). System calls, page faults and interrupts arrive here in later stages.

use core::fmt::{self, Write};

use super::esr::{ExceptionClass, Syndrome};
use super::{cpu, semihosting};
use crate::console;

/// The interrupted context, as `exception.s` saves it on the stack. The layout is shared with the
/// assembly: change both together.
#[repr(C)]
#[derive(Clone)]
pub struct ExceptionFrame {
    /// General-purpose registers x0-x30 (x29 is the frame pointer, x30 the link register).
    pub x: [u64; 31],
    /// `ELR_EL1`: where the exception was taken (or, for SVC, the instruction after it).
    pub elr: u64,
    /// `SPSR_EL1`: the interrupted PSTATE.
    pub spsr: u64,
    /// `ESR_EL1`: why.
    pub esr: u64,
    /// `FAR_EL1`: the faulting virtual address, for aborts.
    pub far: u64,
    /// `SP_EL0`: the user stack pointer.
    pub sp_el0: u64,
    /// `TPIDR_EL0`: the user thread pointer.
    pub tpidr_el0: u64,
    /// FP/SIMD registers q0-q31.
    pub q: [u128; 32],
    pub fpcr: u64,
    pub fpsr: u64,
}

const _: () = assert!(core::mem::size_of::<ExceptionFrame>() == 38 * 8 + 32 * 16 + 16);

/// Enters EL0 with the registers in `frame`.
///
/// # Safety
///
/// `frame` must lie on the current kernel stack, above nothing the caller still needs: the stack is cut
/// back to it, and after the frame is popped, SP_EL1 is where the task's next exception lands.
pub unsafe fn return_to_user(frame: &ExceptionFrame) -> ! {
    // IRQs must be masked from here to the ERET: an interrupt taken after the restore code has written
    // SPSR_EL1 and ELR_EL1 would overwrite them with its own return state, and the ERET would then enter
    // the user program at EL1. (Found by the ASID-rollover test: user code faulting at EL1.)
    // SAFETY: per the contract, switching SP to the frame and restoring it is the exception return.
    unsafe {
        core::arch::asm!(
            "msr daifset, #2","mov sp, {frame}", "b __exception_restore_context", frame = in(reg) frame as *const ExceptionFrame, options(noreturn))
    }
}

impl ExceptionFrame {
    /// All registers zero.
    pub fn zeroed() -> ExceptionFrame {
        ExceptionFrame {
            x: [0; 31],
            elr: 0,
            spsr: 0,
            esr: 0,
            far: 0,
            sp_el0: 0,
            tpidr_el0: 0,
            q: [0; 32],
            fpcr: 0,
            fpsr: 0,
        }
    }

    /// The stack pointer at the exception: `SP_EL0` for an exception from EL0, else the kernel stack just
    /// above this frame.
    pub fn interrupted_sp(&self) -> u64 {
        if self.is_from_el0() {
            self.sp_el0
        } else {
            self as *const Self as u64 + core::mem::size_of::<Self>() as u64
        }
    }

    /// Whether the exception was taken from EL0 (`SPSR_EL1.M[3:2]` = 0).
    pub fn is_from_el0(&self) -> bool {
        (self.spsr >> 2) & 0b11 == 0
    }
}

impl fmt::Display for ExceptionFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let syndrome = Syndrome(self.esr);
        writeln!(f, "!!!   cause: {syndrome}")?;
        writeln!(
            f,
            "!!!   ESR_EL1 {:#010x}  FAR_EL1 {:#018x}  ELR_EL1 {:#018x}  SPSR_EL1 {:#010x}",
            self.esr, self.far, self.elr, self.spsr
        )?;
        write_registers(f, &self.x, self.interrupted_sp())
    }
}

/// Writes x0-x30 and SP, three to a line, each line tagged as part of a fatal report.
pub fn write_registers(f: &mut impl Write, x: &[u64; 31], sp: u64) -> fmt::Result {
    for (row, chunk) in x.chunks(3).enumerate() {
        f.write_str("!!!  ")?;
        for (column, value) in chunk.iter().enumerate() {
            let n = row * 3 + column;
            write!(f, " x{n:<2} {value:#018x}")?;
        }
        if chunk.len() < 3 {
            write!(f, " sp  {sp:#018x}")?;
        }
        f.write_str("\n")?;
    }
    Ok(())
}

/// Reports an exception the kernel has no handler for, and stops this core.
fn unexpected(kind: &str, frame: &ExceptionFrame) -> ! {
    let mut out = console::panic_writer();
    let _ = write!(out, "\n!!! unexpected exception: {kind}\n{frame}!!! kernel stopped\n");
    cpu::halt()
}

macro_rules! unexpected_handlers {
    ($($name:ident => $kind:literal),* $(,)?) => {$(
        #[unsafe(no_mangle)]
        extern "C" fn $name(frame: &mut ExceptionFrame) {
            unexpected($kind, frame)
        }
    )*};
}

unexpected_handlers! {
    current_el0_synchronous => "synchronous, from EL1 running on SP_EL0",
    current_el0_irq => "IRQ, from EL1 running on SP_EL0",
    current_el0_fiq => "FIQ, from EL1 running on SP_EL0",
    current_el0_serror => "SError, from EL1 running on SP_EL0",
    current_elx_fiq => "FIQ, from EL1",
    current_elx_serror => "SError, from EL1",
    lower_aarch64_fiq => "FIQ, from EL0",
    lower_aarch64_serror => "SError, from EL0",
    lower_aarch32_synchronous => "synchronous, from AArch32 EL0",
    lower_aarch32_irq => "IRQ, from AArch32 EL0",
    lower_aarch32_fiq => "FIQ, from AArch32 EL0",
    lower_aarch32_serror => "SError, from AArch32 EL0",
}

#[unsafe(no_mangle)]
extern "C" fn current_elx_synchronous(frame: &mut ExceptionFrame) {
    if semihosting::skip_failed_call(frame) {
        return;
    }
    unexpected("synchronous, from EL1", frame)
}

#[unsafe(no_mangle)]
extern "C" fn current_elx_irq(frame: &mut ExceptionFrame) {
    crate::interrupt::handle_irq(frame);
}

#[unsafe(no_mangle)]
extern "C" fn lower_aarch64_irq(frame: &mut ExceptionFrame) {
    crate::interrupt::handle_irq(frame);
}

/// Exceptions from a user task: system calls, and faults that end the task.
#[unsafe(no_mangle)]
extern "C" fn lower_aarch64_synchronous(frame: &mut ExceptionFrame) {
    let syndrome = Syndrome(frame.esr);
    if syndrome.class() == ExceptionClass::SvcAarch64 {
        // SVC: interrupts may come in again while the call runs (it may sleep or wait).
        crate::arch::cpu::unmask_irqs();
        crate::syscall::handle(frame);
        crate::arch::cpu::mask_irqs();
        return;
    }
    crate::task::user::handle_fault(frame, syndrome)
}
