//! The kernel's access to the running task's memory, for system calls.
//!
//! Every user pointer is checked against the task's regions and then followed through its page tables
//! in software, reaching the bytes through the kernel's linear map. The kernel never dereferences a user
//! address itself, so a bad pointer is an error returned to the task, never a kernel fault, and a write
//! goes only where the task could have written (copy-on-write will hook in here).

use alloc::vec::Vec;

use cowpi_abi::Error;

use crate::task::user::with_current_space;

/// The `len` bytes at `address`, if the task may read them all.
pub fn read(address: u64, len: u64) -> Result<Vec<u8>, Error> {
    let len = usize::try_from(len).map_err(|_| Error::BadAddress)?;
    with_current_space(|space| space.read_user(address, len))
}

/// Whether the task may read all `len` bytes at `address`.
pub fn check_readable(address: u64, len: u64) -> Result<(), Error> {
    let len = usize::try_from(len).map_err(|_| Error::BadAddress)?;
    with_current_space(|space| space.check_user_readable(address, len))
}

/// Makes the `len` bytes at `address` ready for a later [`write`] that cannot fail for want of a frame:
/// `BadAddress` if the task may not write them all, `OutOfMemory` if a page needs a frame and none is free.
pub fn prepare_write(address: u64, len: u64) -> Result<(), Error> {
    let len = usize::try_from(len).map_err(|_| Error::BadAddress)?;
    with_current_space(|space| space.prepare_user_write(address, len))
}

/// Writes `bytes` at `address` if the task may write them all; otherwise writes nothing.
pub fn write(address: u64, bytes: &[u8]) -> Result<(), Error> {
    with_current_space(|space| space.write_user(address, bytes))
}
