//! The kernel's one frame table: every frame of RAM the kernel manages, with its reference count.
//!
//! The table logic lives in the host-tested `cowpi-mm` crate; this file only gives it storage carved from
//! RAM, puts it behind a lock, and zeroes frames (which needs the frames mapped, so it is the kernel's job).

use cowpi_mm::{Frame, FrameCounters, FrameError, FrameTable, OutOfFrames, Release};
use spin::Once;

use crate::arch::page;
use crate::sync::{HoldTimes, IrqSafeLock};

static TABLE: Once<IrqSafeLock<FrameTable<'static>>> = Once::new();

/// How long the frame table's lock is held (the `locks` benchmark).
pub static HOLD_TIMES: HoldTimes = HoldTimes::new();

/// Installs the table. Called once by `memory::init`.
pub fn install(table: FrameTable<'static>) {
    TABLE.call_once(|| IrqSafeLock::with_hold_times(table, &HOLD_TIMES));
}

/// Runs `f` with the frame table locked.
pub fn with_table<R>(f: impl FnOnce(&mut FrameTable<'static>) -> R) -> R {
    TABLE.get().expect("frame table used before memory::init").lock(f)
}

/// A fresh frame, filled with zeros, with one holder (the caller).
pub fn alloc_zeroed() -> Result<Frame, OutOfFrames> {
    let frame = with_table(|t| t.alloc())?;
    // SAFETY: the frame was just allocated, so nothing else uses it, and all RAM is mapped read-write in
    // the kernel's linear map.
    unsafe { page::zero_page(super::frame_pointer(frame)) };
    Ok(frame)
}

/// A fresh frame holding a copy of `source`'s 4 KiB, with one holder (the caller). The frame is not
/// zeroed first: the copy overwrites every byte, and a copy-on-write fault should cost one pass over the
/// page, not two.
pub fn alloc_copy_of(source: Frame) -> Result<Frame, OutOfFrames> {
    let frame = with_table(|t| t.alloc())?;
    // SAFETY: the new frame was just allocated, so nothing else uses it; the caller holds `source`, so it
    // stays allocated while it is read; both lie in the linear map, and two distinct frames never overlap.
    unsafe { page::copy_page(super::frame_pointer(frame), super::frame_pointer(source)) };
    Ok(frame)
}

/// Drops one holder of `frame`.
pub fn release(frame: Frame) -> Result<Release, FrameError> {
    with_table(|t| t.release(frame))
}

/// Drops a holder the caller knows it has: a frame not held (a double release) or not in the frame
/// table means the kernel's own bookkeeping is wrong, which is a loud kernel bug, never silence.
#[track_caller]
pub fn drop_holder(frame: Frame) {
    if let Err(error) = release(frame) {
        panic!("kernel bug: dropping a holder of {frame}: {error}");
    }
}

/// How many holders `frame` has (0 for a free frame or one the table does not manage).
pub fn refcount(frame: Frame) -> u32 {
    with_table(|t| t.refcount(frame)).unwrap_or(0)
}

/// Adds one holder to `frame`.
pub fn share(frame: Frame) -> Result<u32, FrameError> {
    with_table(|t| t.share(frame))
}

pub fn counters() -> FrameCounters {
    with_table(|t| t.counters())
}
