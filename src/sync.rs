//! Locks for a kernel that takes interrupts, and the order they are taken in.
//!
//! A spin lock alone is not enough once interrupts preempt: if the timer interrupt switches away from a
//! task that holds the console lock, the next task to print spins on a lock whose holder cannot run. So
//! the kernel's short locks mask IRQs on this core for as long as they are held ([`IrqSafeLock`]), and
//! they are taken through a closure, so they cannot be held by accident past the code that needs them.
//! (On one core the spin part never spins; it is there for SMP and as a tripwire.)
//!
//! Work that grows with a task's memory (a fork, a teardown, `PROTECT` or `UNMAP` of a large range)
//! must not mask IRQs for its whole length: a 256 MiB eager fork would keep the timer and the serial
//! line waiting for tens of milliseconds. Each address space therefore has its own [`TaskLock`], held
//! with interrupts on: its holder may be preempted, and a task that finds it taken gives the processor
//! to others until it is free.
//!
//! # Lock order
//!
//! A lock may be taken while holding only those above it:
//!
//! 1. the page-merging lock (`memory::ksm`, an [`IrqSafeLock`]);
//! 2. the scheduler lock (`task::scheduler`, an [`IrqSafeLock`]): held only for short, bounded work on
//!    the task table; whoever needs a task's address space clones its handle under it, lets go, and only
//!    then locks the space. No address-space lock is ever taken under the scheduler lock;
//! 3. an address-space lock (`task::space`, a [`TaskLock`]): taken only by a task, never by an interrupt
//!    handler. Under an [`IrqSafeLock`] (page merging) only [`TaskLock::try_hold`] may be used, which does
//!    not wait: a space that is busy is left for later. One task holds at most one address-space lock by
//!    waiting for it;
//! 4. the frame table, the kernel heap and the console (`memory::frames`, `memory::heap`, `console`,
//!    [`IrqSafeLock`]s): leaves, under which no other lock is taken.

use core::sync::atomic::{AtomicUsize, Ordering};

use spin::{Mutex, MutexGuard};

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

/// A lock held by a task, with interrupts as the task had them: its holder may be preempted, so a task
/// that finds it taken yields (with IRQs on, so that the tick that lets the holder run again comes in)
/// until it is free. For data whose work grows with memory: an address space.
///
/// A holder that lets go while another task waits yields to it at once: a task that takes the lock over
/// and over (a program polling `MEMSTATS`) would otherwise be preempted with it held, at random, about as
/// often as not, and a waiter that only looks at its own turns could wait for many of them.
pub struct TaskLock<T> {
    inner: Mutex<T>,
    waiters: AtomicUsize,
}

impl<T> TaskLock<T> {
    pub const fn new(value: T) -> Self {
        TaskLock { inner: Mutex::new(value), waiters: AtomicUsize::new(0) }
    }

    /// Runs `f` with the lock held, waiting for it first if another task holds it. Only from a task, and
    /// never while holding an [`IrqSafeLock`] (see the lock order): the wait unmasks IRQs.
    pub fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut guard = match self.inner.try_lock() {
            Some(guard) => guard,
            None => self.wait(),
        };
        let result = f(&mut guard);
        drop(guard);
        if self.waiters.load(Ordering::Relaxed) != 0 {
            crate::task::yield_now();
        }
        result
    }

    #[cold]
    fn wait(&self) -> MutexGuard<'_, T> {
        self.waiters.fetch_add(1, Ordering::Relaxed);
        let guard = loop {
            let saved = cpu::mask_irqs();
            cpu::unmask_irqs();
            crate::task::yield_now();
            cpu::restore_irqs(saved);
            if let Some(guard) = self.inner.try_lock() {
                break guard;
            }
        };
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        guard
    }

    /// The lock, if no one holds it: for code that may not wait (under an [`IrqSafeLock`]).
    pub fn try_hold(&self) -> Option<MutexGuard<'_, T>> {
        self.inner.try_lock()
    }
}
