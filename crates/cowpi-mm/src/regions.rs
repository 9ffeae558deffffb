//! The regions of a task's address space: which ranges exist, what each allows, and what backs it.
//!
//! The translation tables say what is mapped *now*; the region list says what *may* be. cowpi maps lazily
//! (a fresh anonymous page is the shared zero page until written, a forked page is copy-on-write), so
//! most page faults are legal and the fault handler needs this list to tell them from bad accesses: a
//! fault is legal exactly when it falls in a region that allows the access
//! ([`Regions::check_access`]). System calls use the same list to check the buffers a task passes
//! ([`Regions::check_user_buffer`]) before the kernel touches them.
//!
//! Regions are page-aligned, non-empty, inside user space and never overlap. Removing or re-protecting
//! part of a region splits it, as `munmap` and `mprotect` do. Neighbours with equal rights are not merged
//! back together: a region list stays small, and keeping the pieces keeps the behaviour easy to predict.
//!
//! A task has at most [`Regions::LIMIT`] regions, as Linux has `vm.max_map_count`: the list lives on the
//! kernel heap, and without a bound one task mapping single pages, or splitting a region page by page,
//! would exhaust it and bring the whole kernel down. An operation that would pass the limit (a split
//! counts) is refused with [`RegionError::TooMany`] and changes nothing.
//!
//! Whether the page-merging scanner may look at a region's pages (`MERGEABLE`, Linux's
//! `MADV_MERGEABLE`) is a property of the region too: it splits with the region, goes with it when it is
//! removed, and is inherited by a fork with the rest of the list.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use crate::Prot;
use crate::addr::{PAGE_SIZE, Page, VirtAddr};
use crate::translation::PageFlags;

/// What backs a region's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegionKind {
    /// Loaded from the program image.
    Image,
    /// A task's stack.
    Stack,
    /// Anonymous memory (`mmap` without a file, the heap): zero-filled on first use.
    Anonymous,
}

/// A kind of access, as a page fault or a system call makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    Write,
    Execute,
}

impl Access {
    fn allowed_by(self, prot: Prot) -> bool {
        match self {
            Access::Read => prot.is_readable(),
            Access::Write => prot.is_writable(),
            Access::Execute => prot.is_executable(),
        }
    }
}

/// A page-aligned range of user space with the rights a task has there and what backs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region {
    start: VirtAddr,
    len: usize,
    prot: Prot,
    kind: RegionKind,
    /// Marked for the page-merging scanner ([`Regions::set_mergeable`]).
    mergeable: bool,
}

/// Why a region operation refused. Nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionError {
    /// A start or length that is not a multiple of the page size.
    Unaligned,
    /// A region of no pages.
    Empty,
    /// A range that does not lie wholly in user space.
    OutsideUserSpace,
    /// Rights that cannot be mapped: writable and executable (W^X), or write or execute without read.
    UnsupportedProt(Prot),
    /// The new region would overlap this existing one.
    Overlaps(Region),
    /// [`Regions::protect`] over a range with a hole: nothing is mapped at `addr`.
    NotMapped { addr: VirtAddr },
    /// [`Regions::set_mergeable`] over a range that is not all anonymous memory: `addr` is not.
    NotAnonymous { addr: VirtAddr },
    /// The operation would leave more than [`Regions::LIMIT`] regions.
    TooMany,
}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionError::Unaligned => f.write_str("region not page-aligned"),
            RegionError::Empty => f.write_str("empty region"),
            RegionError::OutsideUserSpace => f.write_str("region outside user space"),
            RegionError::UnsupportedProt(prot) => write!(f, "unsupported protection {prot}"),
            RegionError::Overlaps(region) => write!(f, "overlaps {region}"),
            RegionError::NotMapped { addr } => write!(f, "nothing mapped at {addr}"),
            RegionError::NotAnonymous { addr } => write!(f, "{addr} is not anonymous memory"),
            RegionError::TooMany => write!(f, "more than {} regions", Regions::LIMIT),
        }
    }
}

/// A bad access: what a page fault or a system call's buffer check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The address is not in user space.
    NotUserAddress(VirtAddr),
    /// No region covers the address.
    Unmapped(VirtAddr),
    /// The region covering the address does not allow the access.
    AccessDenied { addr: VirtAddr, access: Access },
    /// A buffer's start plus its length overflows the address space.
    LengthOverflow,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::NotUserAddress(addr) => write!(f, "{addr} is not a user address"),
            Fault::Unmapped(addr) => write!(f, "nothing mapped at {addr}"),
            Fault::AccessDenied { addr, access } => write!(f, "{access:?} access to {addr} not allowed"),
            Fault::LengthOverflow => f.write_str("buffer length overflows the address space"),
        }
    }
}

impl Region {
    /// The region of `len` bytes at `start`: page-aligned, non-empty, inside user space, and with rights
    /// that can be mapped (or none, for a guard region).
    pub fn new(start: VirtAddr, len: usize, prot: Prot, kind: RegionKind) -> Result<Region, RegionError> {
        if !start.is_page_aligned() || !len.is_multiple_of(PAGE_SIZE) {
            return Err(RegionError::Unaligned);
        }
        if len == 0 {
            return Err(RegionError::Empty);
        }
        check_user_range(start, len)?;
        check_prot(prot)?;
        Ok(Region { start, len, prot, kind, mergeable: false })
    }

    pub fn start(&self) -> VirtAddr {
        self.start
    }

    /// The size in bytes: a whole number of pages, at least one.
    #[expect(clippy::len_without_is_empty, reason = "a region is never empty")]
    pub fn len(&self) -> usize {
        self.len
    }

    /// The first address past the region (at most [`VirtAddr::USER_END`]).
    pub fn end(&self) -> VirtAddr {
        // Cannot overflow: `new` checked that the region ends inside user space.
        VirtAddr::new(self.start.as_u64() + self.len as u64)
    }

    pub fn prot(&self) -> Prot {
        self.prot
    }

    pub fn kind(&self) -> RegionKind {
        self.kind
    }

    /// Whether the page-merging scanner may look at this region's pages.
    pub fn is_mergeable(&self) -> bool {
        self.mergeable
    }

    pub fn contains(&self, addr: VirtAddr) -> bool {
        self.start <= addr && addr < self.end()
    }

    pub fn pages(&self) -> Range<Page> {
        Page::containing(self.start)..Page::containing(self.end())
    }

    /// The part of the region from `from` to `to`, which must lie inside it, on page boundaries.
    fn part(&self, from: VirtAddr, to: VirtAddr) -> Region {
        // Lossless: both lie inside the region, so the difference is below its length.
        Region { start: from, len: (to.as_u64() - from.as_u64()) as usize, ..*self }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{} {} {:?}", self.start, self.end(), self.prot, self.kind)
    }
}

fn check_prot(prot: Prot) -> Result<(), RegionError> {
    // Every protection a page can have, no access included.
    if PageFlags::user(prot).is_ok() { Ok(()) } else { Err(RegionError::UnsupportedProt(prot)) }
}

/// `start .. start + len` lies wholly in user space.
fn check_user_range(start: VirtAddr, len: usize) -> Result<(), RegionError> {
    match start.checked_add(len) {
        Some(end) if start.is_user() && end <= VirtAddr::USER_END => Ok(()),
        _ => Err(RegionError::OutsideUserSpace),
    }
}

/// A page-aligned range of user space for [`Regions::remove`] and [`Regions::protect`].
fn check_range(range: &Range<VirtAddr>) -> Result<(), RegionError> {
    if !range.start.is_page_aligned() || !range.end.is_page_aligned() {
        return Err(RegionError::Unaligned);
    }
    if range.end < range.start || !range.start.is_user() || range.end > VirtAddr::USER_END {
        return Err(RegionError::OutsideUserSpace);
    }
    Ok(())
}

/// The regions of one address space, in address order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Regions {
    /// Keyed by start address.
    by_start: BTreeMap<VirtAddr, Region>,
}

impl Regions {
    /// The most regions one address space may have: the ABI's `MAX_REGIONS`. Each costs about 60 bytes
    /// of kernel heap; 100 tasks at the limit take about 6 MiB of the 16 MiB heap.
    pub const LIMIT: usize = cowpi_abi::request::MAX_REGIONS;

    pub fn new() -> Regions {
        Regions::default()
    }

    pub fn len(&self) -> usize {
        self.by_start.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_start.is_empty()
    }

    /// The regions in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Region> {
        self.by_start.values()
    }

    /// Adds a region where there is none yet.
    pub fn insert(&mut self, region: Region) -> Result<(), RegionError> {
        // The one starting at or below the new one's start, and the first one above it.
        let below = self.by_start.range(..=region.start).next_back().map(|(_, region)| region);
        let above = self.by_start.range(region.start..).next().map(|(_, region)| region);
        let overlapping = below
            .filter(|below| below.end() > region.start)
            .or(above.filter(|above| above.start < region.end()));
        if let Some(existing) = overlapping {
            return Err(RegionError::Overlaps(*existing));
        }
        if self.len() >= Self::LIMIT {
            return Err(RegionError::TooMany);
        }
        self.by_start.insert(region.start, region);
        Ok(())
    }

    /// The region containing `addr`.
    pub fn find(&self, addr: VirtAddr) -> Option<&Region> {
        let (_, region) = self.by_start.range(..=addr).next_back()?;
        region.contains(addr).then_some(region)
    }

    /// Removes every part of every region inside `range` (splitting regions it cuts) and returns the
    /// removed parts, in address order, so that the caller can unmap their pages. Holes in the range are
    /// fine, as with `munmap`.
    pub fn remove(&mut self, range: Range<VirtAddr>) -> Result<Vec<Region>, RegionError> {
        check_range(&range)?;
        if range.is_empty() {
            return Ok(Vec::new());
        }
        // The part split off at the start goes, the one at the end stays: removing the middle of one region
        // leaves one more than before.
        let starting_inside = self.by_start.range(range.start..range.end).count();
        if self.len() + usize::from(self.cuts(range.end)) > Self::LIMIT + starting_inside {
            return Err(RegionError::TooMany);
        }
        self.split_at(range.start);
        self.split_at(range.end);
        let starts: Vec<VirtAddr> =
            self.by_start.range(range.start..range.end).map(|(&start, _)| start).collect();
        Ok(starts.into_iter().filter_map(|start| self.by_start.remove(&start)).collect())
    }

    /// Gives every page of `range` the rights `prot` (splitting regions it cuts), as `mprotect` does.
    /// The whole range must be covered by regions.
    pub fn protect(&mut self, range: Range<VirtAddr>, prot: Prot) -> Result<(), RegionError> {
        check_range(&range)?;
        check_prot(prot)?;
        if let Some(hole) = self.first_hole(range.clone()) {
            return Err(RegionError::NotMapped { addr: hole });
        }
        self.change(range, |region| region.prot = prot)
    }

    /// Marks every page of `range` for the page-merging scanner (splitting regions it cuts), as
    /// `madvise(MADV_MERGEABLE)` does. The whole range must be anonymous memory: `MAP`ped or stack, not
    /// the program image.
    pub fn set_mergeable(&mut self, range: Range<VirtAddr>) -> Result<(), RegionError> {
        check_range(&range)?;
        let mut cursor = range.start;
        while cursor < range.end {
            cursor = match self.find(cursor) {
                Some(region) if region.kind != RegionKind::Image => region.end(),
                Some(_) => return Err(RegionError::NotAnonymous { addr: cursor }),
                None => return Err(RegionError::NotMapped { addr: cursor }),
            };
        }
        self.change(range, |region| region.mergeable = true)
    }

    /// Whether regions cover every page of `range`.
    pub fn covers(&self, range: Range<VirtAddr>) -> bool {
        self.first_hole(range).is_none()
    }

    /// Applies `edit` to every region in `range`, which regions cover, splitting those it cuts; refused,
    /// with nothing changed, if the splits would pass the limit.
    fn change(
        &mut self,
        range: Range<VirtAddr>,
        mut edit: impl FnMut(&mut Region),
    ) -> Result<(), RegionError> {
        if range.is_empty() {
            return Ok(());
        }
        if self.len() + self.splits_for(&range) > Self::LIMIT {
            return Err(RegionError::TooMany);
        }
        self.split_at(range.start);
        self.split_at(range.end);
        for (_, region) in self.by_start.range_mut(range.start..range.end) {
            edit(region);
        }
        Ok(())
    }

    /// How many regions splitting at both ends of `range` adds.
    fn splits_for(&self, range: &Range<VirtAddr>) -> usize {
        usize::from(self.cuts(range.start)) + usize::from(self.cuts(range.end))
    }

    /// Whether a region strictly contains `addr` (not at its start): splitting there adds one region.
    fn cuts(&self, addr: VirtAddr) -> bool {
        self.find(addr).is_some_and(|region| region.start != addr)
    }

    /// The lowest address in `within` where `len` bytes (rounded up to whole pages) of user space are free
    /// of regions: where to put a mapping the task gave no address for. `None` if nothing fits (or `len`
    /// is 0).
    pub fn find_free(&self, len: usize, within: Range<VirtAddr>) -> Option<VirtAddr> {
        // `usize as u64` is lossless on every target Rust supports.
        let len = (len as u64).checked_next_multiple_of(PAGE_SIZE as u64)?;
        let low = within.start.align_up()?;
        let high = within.end.align_down().min(VirtAddr::USER_END);
        if len == 0 || low >= high {
            return None;
        }
        let fits_before = |candidate: VirtAddr, limit: VirtAddr| {
            candidate.as_u64().checked_add(len).is_some_and(|end| end <= limit.as_u64())
        };
        let mut candidate = low;
        // Regions that could be in the way: the one containing `low`, if any, and all above it.
        let first = self.find(low).map_or(low, |region| region.start);
        for region in self.by_start.range(first..high).map(|(_, region)| region) {
            if fits_before(candidate, region.start.min(high)) {
                return Some(candidate);
            }
            candidate = candidate.max(region.end());
        }
        fits_before(candidate, high).then_some(candidate)
    }

    /// Whether a task may `access` `addr`: the region that allows it, or the fault. What the page-fault
    /// handler asks first: a fault in a region that allows the access is legal (a page not mapped yet, or
    /// a copy-on-write write), anything else is the task's error.
    pub fn check_access(&self, addr: VirtAddr, access: Access) -> Result<&Region, Fault> {
        if !addr.is_user() {
            return Err(Fault::NotUserAddress(addr));
        }
        let region = self.find(addr).ok_or(Fault::Unmapped(addr))?;
        if !access.allowed_by(region.prot) {
            return Err(Fault::AccessDenied { addr, access });
        }
        Ok(region)
    }

    /// Whether the `len` bytes at `start` lie in user space, covered completely by regions that allow the
    /// kernel to read them (or write them, if `needs_write`) on the task's behalf. An empty buffer is
    /// always fine. The fault names the first byte that is not.
    ///
    /// Pages need not be mapped yet: the kernel's user-copy code takes the same faults the task would,
    /// and the fault handler resolves them.
    pub fn check_user_buffer(&self, start: VirtAddr, len: usize, needs_write: bool) -> Result<(), Fault> {
        if len == 0 {
            return Ok(());
        }
        if !start.is_user() {
            return Err(Fault::NotUserAddress(start));
        }
        let end = start.checked_add(len).ok_or(Fault::LengthOverflow)?;
        let access = if needs_write { Access::Write } else { Access::Read };
        let mut cursor = start;
        while cursor < end {
            cursor = self.check_access(cursor, access)?.end();
        }
        Ok(())
    }

    /// Splits the region that strictly contains `addr` (not at its start) into two at `addr`.
    fn split_at(&mut self, addr: VirtAddr) {
        let Some(&region) = self.find(addr) else { return };
        if region.start == addr {
            return;
        }
        self.by_start.insert(region.start, region.part(region.start, addr));
        self.by_start.insert(addr, region.part(addr, region.end()));
    }

    /// The first address in `range` that no region covers.
    fn first_hole(&self, range: Range<VirtAddr>) -> Option<VirtAddr> {
        let mut cursor = range.start;
        while cursor < range.end {
            cursor = match self.find(cursor) {
                Some(region) => region.end(),
                None => return Some(cursor),
            };
        }
        None
    }
}

#[cfg(test)]
mod tests;
