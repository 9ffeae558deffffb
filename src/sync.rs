//! Locks for a kernel that takes interrupts.
//!
//! A spin lock alone is not enough once interrupts preempt: if the timer interrupt switches away from a
//! task that holds the console lock, the next task to print spins on a lock whose holder cannot run. So
//! every kernel lock masks IRQs on this core for as long as it is held ([`IrqSafeLock`]), and it is taken
//! through a closure, so it cannot be held by accident past the code that needs it. (On one core the spin
//! part never spins; it is there for SMP and as a tripwire.)

use spin::Mutex;

use crate::arch::cpu;

pub struct IrqSafeLock<T> {
    inner: Mutex<T>,
}

impl<T> IrqSafeLock<T> {
    pub const fn new(value: T) -> Self {
        IrqSafeLock { inner: Mutex::new(value) }
    }

    /// Runs `f` with the lock held and IRQs masked; restores the previous IRQ mask afterwards.
    pub fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let saved = cpu::mask_irqs();
        let result = f(&mut self.inner.lock());
        cpu::restore_irqs(saved);
        result
    }
}
