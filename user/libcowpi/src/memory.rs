//! Anonymous memory and the kernel's memory counters: `MAP`, `UNMAP`, `PROTECT`, `MERGEABLE` and
//! `MEMSTATS`.
//!
//! [`map`] is safe: it hands out memory nothing refers to yet. [`unmap`] and [`protect`] are not, because
//! taking memory away (or its write permission) under a live Rust reference breaks what the compiler was
//! promised about that reference; the caller has to know that no reference is left. [`mergeable`] is safe
//! again: merging never changes what the memory holds, only which frame holds it.

use cowpi_abi::{Error, MemStats, Prot, Syscall};

use crate::syscall;

/// Maps `len` bytes (rounded up to whole pages) of zero-filled memory with `prot`, wherever the kernel
/// likes; returns its page-aligned address.
pub fn map(len: usize, prot: Prot) -> Result<*mut u8, Error> {
    map_at(0, len, prot)
}

/// Like [`map`], but asks for the memory to start at `hint` (page-aligned, or 0 for no preference). The
/// kernel honours the hint if the range is inside the map area and free; otherwise it chooses.
pub fn map_at(hint: usize, len: usize, prot: Prot) -> Result<*mut u8, Error> {
    // SAFETY: MAP touches no existing memory: it never replaces a mapping, whatever the hint.
    let addr = unsafe { syscall::call(Syscall::Map, [hint as u64, len as u64, prot.bits(), 0, 0, 0])? };
    Ok(addr as usize as *mut u8)
}

/// Unmaps the pages covering `len` bytes from `addr` (page-aligned); every one must be mapped.
///
/// # Safety
///
/// No reference into the range may be used afterwards: the memory is gone, and a later `MAP` may put
/// other data at the same address.
pub unsafe fn unmap(addr: *mut u8, len: usize) -> Result<(), Error> {
    // SAFETY: the caller gives up the range.
    unsafe { syscall::call(Syscall::Unmap, [addr as u64, len as u64, 0, 0, 0, 0]) }.map(drop)
}

/// Changes the protection of the pages covering `len` bytes from `addr` (page-aligned) to `prot`.
///
/// # Safety
///
/// No reference into the range may be used in a way `prot` no longer allows (a `&mut` after write access
/// is removed, for example): the access would kill the task.
pub unsafe fn protect(addr: *mut u8, len: usize, prot: Prot) -> Result<(), Error> {
    let args = [addr as u64, len as u64, prot.bits(), 0, 0, 0];
    // SAFETY: the caller vouches for every reference into the range.
    unsafe { syscall::call(Syscall::Protect, args) }.map(drop)
}

/// Marks this task's anonymous memory in the pages covering `len` bytes from `addr` (page-aligned) as
/// candidates for page merging (KSM), like `madvise(MADV_MERGEABLE)`. If the kernel's merging task is on,
/// it may later map such a page to one frame shared with identical pages (here or in other tasks), or to
/// the shared zero page if it holds only zeros; a write then takes a copy again, copy-on-write. Every page
/// must be anonymous memory of this task (`MAP`ped, the stack or the heap), else [`Error::NotMapped`].
pub fn mergeable(addr: *const u8, len: usize) -> Result<(), Error> {
    // SAFETY: MERGEABLE neither reads nor writes the memory, nor changes what a read of it returns: a
    // merged page holds the same bytes, and a write to it is resolved by the kernel before it happens.
    unsafe { syscall::call(Syscall::Mergeable, [addr as u64, len as u64, 0, 0, 0, 0]) }.map(drop)
}

/// The kernel's memory counters for the machine and this task. A kernel older than this library fills
/// only a prefix: `size` says how many bytes, and the fields past it read as zeros.
pub fn memstats() -> Result<MemStats, Error> {
    // Zeroed first: a kernel that knows fewer fields than this library leaves the rest untouched.
    let mut stats = MemStats::default();
    let args = [&raw mut stats as u64, MemStats::SIZE as u64, 0, 0, 0, 0];
    // SAFETY: MEMSTATS writes at most MemStats::SIZE bytes into `stats`, a local of ours; every bit
    // pattern is a valid MemStats (all fields are u64).
    unsafe { syscall::call(Syscall::MemStats, args)? };
    Ok(stats)
}
