//! Locks for a kernel that takes interrupts, and the order they are taken in.
//!
//! A spin lock alone is not enough once interrupts preempt: if the timer interrupt switches away from a
//! task that holds the console lock, the next task to print spins on a lock whose holder cannot run. So
//! the kernel's short locks mask IRQs on this core for as long as they are held ([`IrqSafeLock`]), and
//! they are taken through a closure, so they cannot be held by accident past the code that needs them.
//! Another core may hold one: then the taker spins until it lets go, which is short by construction. A
//! lock this core already holds can never be let go while it waits with IRQs masked, so that is reported
//! as the kernel bug it is.
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
//! 2. the scheduler lock (`task::scheduler`, an [`IrqSafeLock`]): one for all cores, held only for
//!    short, bounded work on the task table and the run queue (every core's tick takes it); whoever
//!    needs a task's address space clones its handle under it, lets go, and only then locks the space.
//!    No address-space lock is ever taken under the scheduler lock, and a core never waits under it for
//!    another core (the on-CPU hand-off of a switched-out task is waited for after letting go);
//! 3. an address-space lock (`task::space`, a [`TaskLock`]): taken only by a task, never by an interrupt
//!    handler. Under an [`IrqSafeLock`] (page merging) only [`TaskLock::try_hold`] may be used, which does
//!    not wait: a space that is busy is left for later. One task holds at most one address-space lock by
//!    waiting for it;
//! 4. the frame table, the kernel heap and the console (`memory::frames`, `memory::heap`, `console`,
//!    [`IrqSafeLock`]s): leaves, under which no other lock is taken.

#[cfg(debug_assertions)]
use core::panic::Location;
#[cfg(debug_assertions)]
use core::sync::atomic::AtomicPtr;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};

use spin::{Mutex, MutexGuard};

use crate::arch::{cpu, time};

/// `IrqSafeLock::taken_on_core` of a lock no core holds.
const NO_CORE: u8 = u8::MAX;

/// Whether the locks that keep [`HoldTimes`] record them: only while the `locks` benchmark runs.
static HOLD_TIMES_ARMED: AtomicBool = AtomicBool::new(false);

/// How long a lock (or every lock of a kind: all address spaces share one) was held while the `locks`
/// benchmark recorded: the longest hold and the sum of holds, in counter ticks, and how many. Disarmed, a
/// hold costs a load and a branch more.
pub struct HoldTimes {
    longest: AtomicU64,
    total: AtomicU64,
    holds: AtomicU64,
}

impl HoldTimes {
    pub const fn new() -> HoldTimes {
        HoldTimes { longest: AtomicU64::new(0), total: AtomicU64::new(0), holds: AtomicU64::new(0) }
    }

    /// When a hold began, if holds are being recorded.
    #[inline(always)]
    fn begin() -> Option<u64> {
        HOLD_TIMES_ARMED.load(Ordering::Relaxed).then(time::ticks)
    }

    #[inline(always)]
    fn end(&self, began: Option<u64>) {
        if let Some(began) = began {
            let held = time::ticks().wrapping_sub(began);
            self.longest.fetch_max(held, Ordering::Relaxed);
            self.total.fetch_add(held, Ordering::Relaxed);
            self.holds.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The longest hold, the sum of holds (counter ticks) and their number since the last call, and
    /// starts again from nothing.
    pub fn take(&self) -> (u64, u64, u64) {
        let take = |v: &AtomicU64| v.swap(0, Ordering::Relaxed);
        (take(&self.longest), take(&self.total), take(&self.holds))
    }
}

/// Starts or stops recording [`HoldTimes`].
pub fn record_hold_times(on: bool) {
    HOLD_TIMES_ARMED.store(on, Ordering::Relaxed);
}

pub struct IrqSafeLock<T> {
    inner: Mutex<T>,
    /// The core holding the lock (`MPIDR_EL1.Aff0`), [`NO_CORE`] while it is free: what tells a lock
    /// taken twice on one core from one another core holds. Written by each holder once it holds it.
    taken_on_core: AtomicU8,
    /// Where the lock was last taken, for the report of a lock taken twice. Debug builds only (the test
    /// suite's): recording it as well made a release kernel's fork+exit+wait 4 % dearer, the core alone
    /// under 1 % (`cargo run --release -- bench`); the report names the second place in any build.
    #[cfg(debug_assertions)]
    taken_at: AtomicPtr<Location<'static>>,
    hold_times: Option<&'static HoldTimes>,
}

impl<T> IrqSafeLock<T> {
    pub const fn new(value: T) -> Self {
        IrqSafeLock {
            inner: Mutex::new(value),
            taken_on_core: AtomicU8::new(NO_CORE),
            #[cfg(debug_assertions)]
            taken_at: AtomicPtr::new(core::ptr::null_mut()),
            hold_times: None,
        }
    }

    /// A lock whose holds the `locks` benchmark measures, into `hold_times`.
    pub const fn with_hold_times(value: T, hold_times: &'static HoldTimes) -> Self {
        IrqSafeLock {
            inner: Mutex::new(value),
            taken_on_core: AtomicU8::new(NO_CORE),
            #[cfg(debug_assertions)]
            taken_at: AtomicPtr::new(core::ptr::null_mut()),
            hold_times: Some(hold_times),
        }
    }

    /// Runs `f` with the lock held and IRQs masked; restores the previous IRQ mask afterwards.
    ///
    /// # Panics
    ///
    /// If this core holds the lock already (a lock taken inside its own closure, or by code the
    /// closure calls): with IRQs masked, nothing could ever let it go, so the kernel stops, naming the
    /// place it was taken again (and in debug builds where it was taken first), instead of hanging in
    /// silence.
    #[track_caller]
    pub fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let saved = cpu::mask_irqs();
        let mut guard = match self.inner.try_lock() {
            Some(guard) => guard,
            None => self.wait_for_other_core(),
        };
        self.taken_on_core.store(cpu::core_id(), Ordering::Relaxed);
        #[cfg(debug_assertions)]
        self.taken_at.store(Location::caller() as *const Location<'static> as *mut _, Ordering::Relaxed);
        let began = self.hold_times.and_then(|_| HoldTimes::begin());
        let result = f(&mut guard);
        if let Some(hold_times) = self.hold_times {
            hold_times.end(began);
        }
        // Before letting go, so that a core that finds the lock taken never reads its own last hold as
        // the current one.
        self.taken_on_core.store(NO_CORE, Ordering::Relaxed);
        drop(guard);
        cpu::restore_irqs(saved);
        result
    }

    /// The lock is taken: by another core, which will let go, or by this one, which never can.
    #[cold]
    #[track_caller]
    fn wait_for_other_core(&self) -> MutexGuard<'_, T> {
        if self.taken_on_core.load(Ordering::Relaxed) == cpu::core_id() {
            #[cfg(debug_assertions)]
            {
                let held = self.taken_at.load(Ordering::Relaxed);
                // SAFETY: `taken_at` is null or was stored from a `&'static Location`.
                if let Some(held) = unsafe { held.as_ref() } {
                    panic!(
                        "kernel bug: a lock taken at {held} is taken again on the same core (core {})",
                        cpu::core_id()
                    );
                }
            }
            panic!("kernel bug: a lock this core holds is taken again (core {})", cpu::core_id());
        }
        loop {
            if let Some(guard) = self.inner.try_lock() {
                return guard;
            }
            cpu::spin_wait_hint();
        }
    }
}

/// How often a task waiting for a [`TaskLock`] looks at it between two yields.
const TASK_LOCK_SPINS: u32 = 200;

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
    hold_times: Option<&'static HoldTimes>,
}

impl<T> TaskLock<T> {
    /// A lock whose holds through [`TaskLock::lock`] the `locks` benchmark measures, into `hold_times`
    /// (not those of [`TaskLock::try_hold`], whose holder keeps the guard).
    pub const fn with_hold_times(value: T, hold_times: &'static HoldTimes) -> Self {
        TaskLock { inner: Mutex::new(value), waiters: AtomicUsize::new(0), hold_times: Some(hold_times) }
    }

    /// Runs `f` with the lock held, waiting for it first if another task holds it. Only from a task, and
    /// never while holding an [`IrqSafeLock`] (see the lock order): the wait unmasks IRQs.
    pub fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut guard = match self.inner.try_lock() {
            Some(guard) => guard,
            None => self.wait(),
        };
        let began = self.hold_times.and_then(|_| HoldTimes::begin());
        let result = f(&mut guard);
        if let Some(hold_times) = self.hold_times {
            hold_times.end(began);
        }
        drop(guard);
        if self.waiters.load(Ordering::Relaxed) != 0 {
            crate::task::yield_now();
        }
        result
    }

    #[cold]
    fn wait(&self) -> MutexGuard<'_, T> {
        self.waiters.fetch_add(1, Ordering::Relaxed);
        let guard = 'taken: loop {
            let saved = cpu::mask_irqs();
            cpu::unmask_irqs();
            crate::task::yield_now();
            cpu::restore_irqs(saved);
            // The holder may be running on another core and about to let go: look a while before
            // yielding again. A yield with nothing else ready comes straight back, and a loop of those
            // would take the scheduler lock, which every core needs, as fast as it can.
            for _ in 0..TASK_LOCK_SPINS {
                if let Some(guard) = self.inner.try_lock() {
                    break 'taken guard;
                }
                cpu::spin_wait_hint();
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
