//! Event counters of the memory manager, shown by `mem` and returned by `MEMSTATS`.

use core::sync::atomic::{AtomicU64, Ordering};

/// A monotonic event counter.
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }

    pub fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_n(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Write faults on copy-on-write pages (shared after fork, or merged).
pub static COW_FAULTS: Counter = Counter::new();
/// COW faults resolved by copying the frame (it had other holders).
pub static COW_COPIES: Counter = Counter::new();
/// COW faults resolved in place: the faulting task was the frame's last holder.
pub static COW_REUSES: Counter = Counter::new();
/// COW faults on pages merged by KSM: the writer unmerges its page (counted in `COW_FAULTS` too).
pub static KSM_UNMERGES: Counter = Counter::new();
/// Faults that gave a page a fresh zeroed frame (first write to anonymous memory or the zero page).
pub static ZERO_FILL_FAULTS: Counter = Counter::new();
/// Tasks killed because no frame was left for them.
pub static OOM_KILLS: Counter = Counter::new();
/// Level-3 tables a fork shared with the child instead of copying them.
pub static TABLES_SHARED: Counter = Counter::new();
/// Shared level-3 tables copied at a write fault into them (other holders were left).
pub static TABLE_COPIES: Counter = Counter::new();
/// Shared level-3 tables given write access back at a write fault, without a copy: the faulting task was
/// their last holder.
pub static TABLE_REUSES: Counter = Counter::new();
