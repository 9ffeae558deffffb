//! The kernel's reads and writes of user memory: system-call buffers, `WAIT`'s status, a program's
//! file bytes and arguments.
//!
//! The kernel never writes through the task's own mappings: it finds each page's frame in the tables and
//! reaches its bytes through the memory ([`PageMemory::page_bytes`]: the linear map in the kernel). A
//! write into user memory first resolves every page exactly as a write by the task would
//! ([`AddressSpace::prepare_user_write`]), so the kernel never writes into a frame (or through a level-3
//! table) another task still sees, and can no longer run out of frames once it has begun writing.

use alloc::vec::Vec;

use super::{AddressSpace, FaultError, PageMemory};
use crate::addr::{PAGE_SIZE, VirtAddr};
use crate::regions::Access;
use crate::translation::TlbMaintenance;
use cowpi_abi::Error;

impl<M: PageMemory, T: TlbMaintenance> AddressSpace<M, T> {
    /// Copies `bytes` to `address`, through the page tables (the pages must be mapped; their permissions
    /// are not checked: this is the kernel loading the task, into frames it just gave it).
    pub fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), Error> {
        let mut done = 0;
        while done < bytes.len() {
            let at = address.checked_add(done as u64).ok_or(Error::BadAddress)?;
            let (frame, _) = self.tables.translate(VirtAddr::new(at)).ok_or(Error::BadAddress)?;
            let offset = (at % PAGE_SIZE as u64) as usize;
            let chunk = (PAGE_SIZE - offset).min(bytes.len() - done);
            let page = self.tables.memory_mut().page_bytes(frame);
            page[offset..offset + chunk].copy_from_slice(&bytes[done..done + chunk]);
            done += chunk;
        }
        Ok(())
    }

    /// Reads `len` bytes the task may read at `address`, or `BadAddress`. A page never touched reads as
    /// zeros without being mapped.
    pub fn read_user(&mut self, address: u64, len: usize) -> Result<Vec<u8>, Error> {
        self.check_user_readable(address, len)?;
        let mut out = Vec::with_capacity(len);
        let mut done = 0;
        while done < len {
            let at = address + done as u64;
            let offset = (at % PAGE_SIZE as u64) as usize;
            let chunk = (PAGE_SIZE - offset).min(len - done);
            match self.tables.translate(VirtAddr::new(at)) {
                Some((frame, _)) => {
                    out.extend_from_slice(&self.tables.memory_mut().page_bytes(frame)[offset..offset + chunk])
                }
                None => out.resize(out.len() + chunk, 0),
            }
            done += chunk;
        }
        Ok(out)
    }

    /// Checks that the task may read `len` bytes at `address` (by its regions: untouched pages read as
    /// zeros).
    pub fn check_user_readable(&self, address: u64, len: usize) -> Result<(), Error> {
        self.regions.check_user_buffer(VirtAddr::new(address), len, false).map_err(|_| Error::BadAddress)
    }

    /// Checks that the task may write `len` bytes at `address` (by its regions: copy-on-write and untouched
    /// pages are writable too).
    pub fn check_user_writable(&self, address: u64, len: usize) -> Result<(), Error> {
        self.regions.check_user_buffer(VirtAddr::new(address), len, true).map_err(|_| Error::BadAddress)
    }

    /// Makes every page of `[address, address + len)` writable in place exactly as a write by the task
    /// would (a shared table or frame is copied first, an untouched page gets a frame), so that the kernel
    /// can then write there without needing a frame: `BadAddress` if the task may not write there,
    /// `OutOfMemory` if a page needs a frame and none is free (the pages before it stay resolved, as
    /// the task's own writes would have left them).
    pub fn prepare_user_write(&mut self, address: u64, len: usize) -> Result<(), Error> {
        self.check_user_writable(address, len)?;
        let mut page_address = address & !(PAGE_SIZE as u64 - 1);
        while page_address < address + len as u64 {
            self.resolve_fault(page_address.max(address), Access::Write).map_err(|error| match error {
                FaultError::OutOfMemory => Error::OutOfMemory,
                FaultError::Illegal => Error::BadAddress,
            })?;
            page_address += PAGE_SIZE as u64;
        }
        Ok(())
    }

    /// Writes `bytes` where the task may write them, or an error (and nothing written). Each page is
    /// first made writable exactly as a write by the task would ([`AddressSpace::prepare_user_write`]).
    pub fn write_user(&mut self, address: u64, bytes: &[u8]) -> Result<(), Error> {
        self.prepare_user_write(address, bytes.len())?;
        self.write(address, bytes)
    }
}
