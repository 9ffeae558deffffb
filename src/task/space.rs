//! A user task's address space as the scheduler keeps it: behind its own lock, with the ASID and the
//! root table beside the lock, so that switching to the task never waits for the space's owner.
//!
//! The lock is a [`TaskLock`], held with interrupts on: a fork, a teardown or a range call takes as long
//! as the memory it covers, and the timer and the serial line must not wait for it (see `sync` for the
//! lock order). Everything that changes or reads the space takes it: the task's own faults and system
//! calls, `ps`, the memory audit, and page merging (which only tries under its own lock, and waits for a
//! busy space after letting go of it).
//!
//! The handle is an [`Arc`]: `ps` and the audit clone it under the scheduler lock and lock the space
//! after letting go of that lock, so the space may outlive its place in the task for a moment. The task
//! that gives its space up (exit, `EXEC`) waits for those clones to go ([`release`]) and tears the space
//! down itself, so its frames are free before its parent hears of its exit.

use alloc::sync::Arc;

use cowpi_mm::{Frame, SpaceAsid};

use crate::memory::address_space::AddressSpace;
use crate::sync::{HoldTimes, TaskLock};

/// How long address-space locks are held, all spaces together (the `locks` benchmark).
pub static HOLD_TIMES: HoldTimes = HoldTimes::new();

/// An address space shared between its task, the scheduler and the kernel's walkers.
pub struct SharedSpace {
    /// What the context switch assigns an ASID in, without the lock; the space's TLB maintenance
    /// (`KernelTlb`, inside the lock) holds the same cell and reads it at each invalidation.
    pub asid: Arc<SpaceAsid>,
    /// The level-1 table, which never changes for the life of the space: what `TTBR0_EL1` points at. A
    /// copy of what the tables know, kept outside the lock for the switch.
    pub root: Frame,
    pub space: TaskLock<AddressSpace>,
}

impl SharedSpace {
    pub fn new(space: AddressSpace) -> Arc<SharedSpace> {
        let asid = space.tables().tlb().asid().clone();
        let root = space.tables().root();
        Arc::new(SharedSpace { asid, root, space: TaskLock::with_hold_times(space, &HOLD_TIMES) })
    }
}

/// Tears `space` down once no one else holds it: waits (yielding) for `ps`, the audit and page merging
/// to let go of their handles, then drops it, with interrupts as the caller has them (on, for `EXEC` and
/// exit, so a large teardown does not hold off the timer).
pub fn release(mut space: Arc<SharedSpace>) {
    loop {
        match Arc::try_unwrap(space) {
            Ok(only) => {
                drop(only);
                return;
            }
            Err(shared) => {
                space = shared;
                super::yield_now();
            }
        }
    }
}
