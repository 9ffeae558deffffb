//! The processor itself: which core and exception level this is, what CPU it is, and how to idle or stop.

use aarch64_cpu::asm;
use aarch64_cpu::registers::{
    CurrentEL, DAIF, MIDR_EL1, MPIDR_EL1, ReadWriteable, Readable, TPIDR_EL1, Writeable,
};

/// Cores on every supported board; the boot core is core 0 and `smp` starts the others.
pub const CORE_COUNT: usize = 4;

/// Exception level the code runs at (0-3).
pub fn exception_level() -> u8 {
    CurrentEL.read(CurrentEL::EL) as u8
}

/// `MPIDR_EL1.Aff0`: the core number within the cluster.
pub fn core_id() -> u8 {
    (MPIDR_EL1.get() & 0xFF) as u8
}

/// Sets `TPIDR_EL1`, which holds the running task's address space (a pointer, 0 for none): the scheduler
/// sets it on the core it switches a task in on, so a task reads its own, whichever core it runs on now,
/// with no lock and no lookup.
#[inline(always)]
pub fn set_current_space_word(word: u64) {
    TPIDR_EL1.set(word);
}

/// What [`set_current_space_word`] last set on this core: the running task's.
#[inline(always)]
pub fn current_space_word() -> u64 {
    TPIDR_EL1.get()
}

/// The fields of `MIDR_EL1` that identify a CPU.
#[derive(Debug, Clone, Copy)]
pub struct CpuId {
    pub raw: u64,
    pub implementer: u8,
    pub variant: u8,
    pub part: u16,
    pub revision: u8,
}

impl CpuId {
    pub fn read() -> CpuId {
        let raw = MIDR_EL1.get();
        CpuId {
            raw,
            implementer: MIDR_EL1.read(MIDR_EL1::Implementer) as u8,
            variant: MIDR_EL1.read(MIDR_EL1::Variant) as u8,
            part: MIDR_EL1.read(MIDR_EL1::PartNum) as u16,
            revision: MIDR_EL1.read(MIDR_EL1::Revision) as u8,
        }
    }
}

/// IRQ mask state saved by [`mask_irqs`].
#[derive(Clone, Copy)]
pub struct IrqMask(u64);

// The three IRQ-mask functions are two or three instructions each, and every lock of the kernel
// (`sync::IrqSafeLock`) runs two of them: they are always inlined. Left to LLVM's judgement they were
// inlined until the kernel grew, then became 551 out-of-line calls, which cost a null system call 14
// instructions (6 %) and a forked page 15 more (`cargo run --release -- bench`).

/// Masks IRQs on this core and returns the previous state for [`restore_irqs`].
#[inline(always)]
pub fn mask_irqs() -> IrqMask {
    let saved = DAIF.get();
    DAIF.modify(DAIF::I::Masked);
    IrqMask(saved)
}

/// Puts the IRQ mask back as [`mask_irqs`] found it.
#[inline(always)]
pub fn restore_irqs(saved: IrqMask) {
    DAIF.set(saved.0);
}

/// Unmasks IRQs on this core.
#[inline(always)]
pub fn unmask_irqs() {
    DAIF.modify(DAIF::I::Unmasked);
}

/// The pause in a loop that waits for another core (a lock it holds, a context it is saving): `YIELD`,
/// the Arm hint for "spinning". On a Pi it only tells the core; under QEMU's `-icount`, which runs the
/// cores in turn, it ends the waiting core's turn at once, so the core being waited for runs next instead
/// of the waiter burning its whole turn (and the benchmarks' virtual time) on a lock it cannot get.
/// `core::hint::spin_loop` is an `ISB` on AArch64, which QEMU does not take as a yield.
#[inline(always)]
pub fn spin_wait_hint() {
    // SAFETY: YIELD is a hint with no architectural effect.
    unsafe { core::arch::asm!("yield", options(nomem, nostack, preserves_flags)) };
}

/// Masks every interrupt (D, A, I, F) on this core.
pub fn mask_all_interrupts() {
    DAIF.write(DAIF::D::Masked + DAIF::A::Masked + DAIF::I::Masked + DAIF::F::Masked);
}

/// Stops this core for good, in a low-power state. WFI rather than WFE: QEMU implements WFE as a yield
/// and would keep a host core busy.
pub fn halt() -> ! {
    mask_all_interrupts();
    loop {
        asm::wfi();
    }
}
