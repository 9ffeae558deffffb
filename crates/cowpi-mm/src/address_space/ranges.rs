//! Ranges of an address space: `MAP`, `UNMAP`, `PROTECT`, `MERGEABLE`, and the regions a program is
//! loaded into.
//!
//! Every page a task can touch is listed in its [`crate::Regions`], so a fault or a system-call pointer
//! outside them is an error, not a guess. A range call first checks the whole range against the
//! regions, then makes the level-3 tables covering it private (the only step that can run out of frames,
//! and one no task can see), then changes regions and mappings: so a refusal changes nothing.

use super::{AddressSpace, PageMemory, call_error, out_of_memory};
use crate::Prot;
use crate::addr::{PAGE_SIZE, Page, VirtAddr};
use crate::cow::decide_protect;
use crate::regions::{Region, RegionError, RegionKind};
use crate::translation::{PageFlags, TlbMaintenance};
use cowpi_abi::{Error, layout};

/// The system-call error for a region operation the ABI's checks let through: a hole is `NotMapped`, and
/// the region limit, like running out of frames, `OutOfMemory` (Linux's `ENOMEM` at `vm.max_map_count`).
fn region_error(error: RegionError) -> Error {
    match error {
        RegionError::NotMapped { .. } | RegionError::NotAnonymous { .. } => Error::NotMapped,
        RegionError::TooMany => Error::OutOfMemory,
        _ => Error::InvalidArgument,
    }
}

impl<M: PageMemory, T: TlbMaintenance> AddressSpace<M, T> {
    /// Adds the region `[start, start + pages)` with `prot`. Program images get their frames now (the
    /// loader copies the file into them); stacks and anonymous memory get none: each page is mapped on
    /// its first touch, to the shared zero page for a read and to a fresh frame for a write
    /// ([`AddressSpace::resolve_fault`]). On failure nothing stays mapped.
    pub fn add_region(
        &mut self,
        start: VirtAddr,
        pages: usize,
        prot: Prot,
        kind: RegionKind,
    ) -> Result<(), Error> {
        let region = Region::new(start, pages * PAGE_SIZE, prot, kind).map_err(region_error)?;
        self.regions.insert(region).map_err(region_error)?;
        if kind != RegionKind::Image {
            return Ok(());
        }
        let first = Page::containing(start);
        if let Err(error) = self.populate_image(first, pages, prot) {
            self.release_pages(first, pages);
            let end = start.checked_add(pages * PAGE_SIZE).expect("a region ends in the address space");
            self.regions.remove(start..end).expect("the region was just inserted");
            return Err(error);
        }
        Ok(())
    }

    /// Gives each page of a program segment a fresh zeroed frame.
    fn populate_image(&mut self, first: Page, pages: usize, prot: Prot) -> Result<(), Error> {
        let flags = PageFlags::user(prot).map_err(|_| Error::PermissionDenied)?;
        for index in 0..pages {
            let frame = self.tables.memory_mut().alloc_zeroed().map_err(out_of_memory)?;
            if self.tables.map(first + index, frame, flags).is_err() {
                self.tables.memory_mut().release_frame(frame, flags);
                return Err(Error::OutOfMemory);
            }
        }
        Ok(())
    }

    /// The stack region ([`layout::STACK_AREA`]), read-write, each page mapped on its first touch.
    pub fn map_stack(&mut self) -> Result<(), Error> {
        let pages = (layout::STACK_SIZE / PAGE_SIZE as u64) as usize;
        self.add_region(VirtAddr::new(layout::STACK_AREA.start), pages, Prot::READ_WRITE, RegionKind::Stack)
    }

    /// Anonymous memory for `MAP`: at `hint` if that range of the map area is free, else anywhere free.
    pub fn map_anonymous(&mut self, hint: Option<u64>, pages: u64, prot: Prot) -> Result<u64, Error> {
        let pages = usize::try_from(pages).map_err(|_| Error::InvalidArgument)?;
        let len = pages.checked_mul(PAGE_SIZE).ok_or(Error::InvalidArgument)?;
        let area = VirtAddr::new(layout::MAP_AREA.start)..VirtAddr::new(layout::MAP_AREA.end);
        let hinted = hint.map(VirtAddr::new).filter(|&start| {
            start >= area.start
                && start.checked_add(len).is_some_and(|end| end <= area.end)
                && self.regions.find_free(len, start..area.end) == Some(start)
        });
        let start = hinted.or_else(|| self.regions.find_free(len, area)).ok_or(Error::OutOfMemory)?;
        self.add_region(start, pages, prot, RegionKind::Anonymous)?;
        Ok(start.as_u64())
    }

    /// Whether `address` lies in one of the task's regions, whatever its rights (for the fault report).
    pub fn in_a_region(&self, address: u64) -> bool {
        self.regions.find(VirtAddr::new(address)).is_some()
    }

    /// Whether every page of `[start, start + pages)` lies in a region (mapped, possibly with no access).
    fn all_mapped(&self, start: u64, pages: u64) -> bool {
        self.regions.covers(VirtAddr::new(start)..VirtAddr::new(start + pages * PAGE_SIZE as u64))
    }

    /// `UNMAP`: every page must be mapped, else nothing changes.
    pub fn unmap(&mut self, start: u64, pages: u64) -> Result<(), Error> {
        if !self.all_mapped(start, pages) {
            return Err(Error::NotMapped);
        }
        let end = VirtAddr::new(start + pages * PAGE_SIZE as u64);
        let first = Page::containing(VirtAddr::new(start));
        // Only this step can run out of frames, and it changes nothing any task can see.
        self.tables.make_range_private(first..first + pages as usize).map_err(call_error)?;
        self.regions.remove(VirtAddr::new(start)..end).map_err(region_error)?;
        self.release_pages(first, pages as usize);
        Ok(())
    }

    /// `PROTECT`: every page must be mapped, else nothing changes. Taking all access away keeps the
    /// pages' frames, contents and sharing (as POSIX `mprotect` with `PROT_NONE` does): made accessible
    /// again, they read what they held.
    pub fn protect(&mut self, start: u64, pages: u64, prot: Prot) -> Result<(), Error> {
        let end = VirtAddr::new(start + pages * PAGE_SIZE as u64);
        if !self.all_mapped(start, pages) {
            return Err(Error::NotMapped);
        }
        let first = Page::containing(VirtAddr::new(start));
        // Only this step can run out of frames, and it changes nothing any task can see.
        self.tables.make_range_private(first..first + pages as usize).map_err(call_error)?;
        self.regions.protect(VirtAddr::new(start)..end, prot).map_err(region_error)?;
        self.reprotect(first, pages as usize, prot)
    }

    /// `MERGEABLE`: marks anonymous memory as a candidate for page merging. Every page must lie in an
    /// anonymous region. The mark belongs to the regions ([`crate::Regions::set_mergeable`]), so it goes
    /// with them on `UNMAP` and marking a range again costs nothing.
    pub fn mark_mergeable(&mut self, start: u64, pages: u64) -> Result<(), Error> {
        let end = VirtAddr::new(start + pages * PAGE_SIZE as u64);
        self.regions.set_mergeable(VirtAddr::new(start)..end).map_err(region_error)
    }

    /// Sets `prot` on the mapped pages of `[first, first + pages)`, each keeping its frame and contents;
    /// with no access, every EL0 access to them faults until they are given rights again. A page whose
    /// frame is shared stays read-only in hardware ([`decide_protect`]): a marked one keeps its mark,
    /// through no access too, an unmarked one (read-only at a fork) becomes copy-on-write, so that its
    /// next write takes a copy rather than showing in the other holders.
    fn reprotect(&mut self, first: Page, pages: usize, prot: Prot) -> Result<(), Error> {
        let wanted = PageFlags::user(prot).map_err(|_| Error::PermissionDenied)?;
        let mut pages = first..first + pages;
        while let Some((page, frame, old)) = self.tables.next_mapping(pages.clone()) {
            let holders = self.tables.memory_mut().frame_holders(frame);
            let flags = decide_protect(old, wanted, holders);
            self.tables.protect(page, flags).map_err(call_error)?;
            pages.start = page + 1;
        }
        Ok(())
    }

    /// Unmaps `count` pages from `first` and drops their frames. The tables covering them are private
    /// (`make_range_private` came first, or the pages are new), so unmapping needs no frame.
    fn release_pages(&mut self, first: Page, count: usize) {
        let mut pages = first..first + count;
        while let Some((page, ..)) = self.tables.next_mapping(pages.clone()) {
            match self.tables.unmap(page) {
                Ok(Some((frame, flags))) => self.tables.memory_mut().release_frame(frame, flags),
                Ok(None) => {}
                Err(error) => panic!("kernel bug: unmapping {page} from a private table: {error}"),
            }
            pages.start = page + 1;
        }
    }
}
