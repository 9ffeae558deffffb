//! The physical frame table: who owns each frame of RAM, and how many holders it has.
//!
//! Copy-on-write makes "allocated" too coarse: after a fork, one frame is mapped by two address spaces and
//! must be freed only when the last of them lets go; a write fault copies only if the frame still has more
//! than one holder. The shared zero page and merging of identical pages work the same way. So each frame
//! carries a reference count, and the table hands frames out and takes them back by that count:
//! [`FrameTable::alloc`] gives a frame its first holder, [`FrameTable::share`] adds one and
//! [`FrameTable::release`] drops one, freeing the frame when none remain.
//!
//! The table covers one contiguous span of frame numbers, typically all of RAM from the lowest to the
//! highest address. Every frame in the span starts *reserved* (never handed out: holes in the memory map,
//! the kernel image, the table's own storage, firmware areas) until [`FrameTable::add_free_range`] gives it
//! to the allocator; a frame never becomes reserved again.
//!
//! The table allocates nothing itself: the kernel carves [`storage_words`] words out of RAM at boot (host
//! tests use a `Vec`). Free frames sit on a stack, so allocating and freeing are O(1), and the counters the
//! kernel prints are kept up to date as frames change hands. Because a wrong count is a silent disaster
//! (freeing a frame that is still mapped lets one address space read another's data), [`FrameTable::audit`]
//! re-derives everything from scratch, and [`FrameTable::audit_holds`] compares the counts with the holders
//! the kernel actually finds in its page tables.

mod audit;
#[cfg(test)]
mod tests;

use core::fmt;
use core::ops::Range;

use crate::addr::Frame;

pub use audit::{AuditReport, Counter, ExpectedHolds, Violation};

/// The refcount word of a managed frame that no one holds; it is on the free stack.
const FREE: u32 = 0;
/// The refcount word of a frame that is in the span but not managed by the allocator.
const RESERVED: u32 = u32::MAX;

/// Words of storage per frame: its refcount word, a slot of the free stack, and the free frame's position
/// on that stack (see [`FrameTable`]).
const WORDS_PER_FRAME: usize = 3;

/// How many `u32` words of storage [`FrameTable::new`] needs for `frame_count` frames (12 bytes per
/// 4 KiB frame, about 0.3% of RAM).
///
/// Exact for every `frame_count` up to [`FrameTable::MAX_FRAMES`], the most a table can hold.
pub const fn storage_words(frame_count: usize) -> usize {
    frame_count.saturating_mul(WORDS_PER_FRAME)
}

/// What is known about one frame number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameState {
    /// Not in the table's span.
    Outside,
    /// In the span but never given to the allocator.
    Reserved,
    /// On the free stack, waiting to be allocated.
    Free,
    /// Allocated, with this many holders (at least 1).
    Used(u32),
}

impl FrameState {
    fn of_word(word: u32) -> FrameState {
        match word {
            FREE => FrameState::Free,
            RESERVED => FrameState::Reserved,
            holders => FrameState::Used(holders),
        }
    }
}

impl fmt::Display for FrameState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameState::Outside => f.write_str("outside the table"),
            FrameState::Reserved => f.write_str("reserved"),
            FrameState::Free => f.write_str("free"),
            FrameState::Used(holders) => write!(f, "refcount {holders}"),
        }
    }
}

/// What became of a frame that lost a holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a freed frame may need its mappings or caches cleaned up"]
pub enum Release {
    /// That was the last holder: the frame is free again.
    Freed,
    /// This many holders remain. When it is 1, the remaining holder has the frame to itself, so a
    /// copy-on-write fault can make its mapping writable instead of copying.
    StillHeld(u32),
}

/// An operation named a frame it may not apply to. Nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The frame is not in the table's span.
    OutsideSpan(Frame),
    /// The frame is in the span but not managed by the allocator.
    Reserved(Frame),
    /// The frame is free: sharing it means using it after it was freed, releasing it is a double free.
    NotAllocated(Frame),
    /// The frame already has [`FrameTable::MAX_REFCOUNT`] holders.
    RefcountOverflow(Frame),
    /// [`FrameTable::add_free_range`] was given a frame that is already free or in use.
    AlreadyManaged(Frame),
    /// [`FrameTable::add_free_range`] was given a range that ends before it starts.
    ReversedRange { start: Frame, end: Frame },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::OutsideSpan(frame) => write!(f, "{frame} is outside the frame table"),
            FrameError::Reserved(frame) => write!(f, "{frame} is reserved"),
            FrameError::NotAllocated(frame) => write!(f, "{frame} is not allocated"),
            FrameError::RefcountOverflow(frame) => write!(f, "{frame} has too many holders"),
            FrameError::AlreadyManaged(frame) => write!(f, "{frame} is already managed"),
            FrameError::ReversedRange { start, end } => {
                write!(f, "reversed frame range: starts at {start}, ends at {end}")
            }
        }
    }
}

/// Every managed frame is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfFrames;

impl fmt::Display for OutOfFrames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("out of physical frames")
    }
}

/// [`FrameTable::new`] (or [`ExpectedHolds::for_table`]) cannot build a table as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableError {
    /// The storage holds fewer words than [`storage_words`] asks for.
    StorageTooSmall { needed: usize, provided: usize },
    /// More frames than [`FrameTable::MAX_FRAMES`].
    TooManyFrames { frame_count: usize },
    /// The span would end beyond [`Frame::MAX_NUMBER`].
    SpanBeyondAddressSpace,
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::StorageTooSmall { needed, provided } => {
                write!(f, "frame table storage too small: {provided} words, {needed} needed")
            }
            TableError::TooManyFrames { frame_count } => {
                write!(f, "{frame_count} frames exceed the frame table's limit of {}", FrameTable::MAX_FRAMES)
            }
            TableError::SpanBeyondAddressSpace => {
                f.write_str("frame table span ends beyond the address space")
            }
        }
    }
}

/// The frame table's statistics, read in O(1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameCounters {
    /// Frames managed by the allocator: `free + used`.
    pub total: usize,
    pub free: usize,
    /// Frames with at least one holder.
    pub used: usize,
    /// Frames with more than one holder.
    pub shared: usize,
    /// Frames in the span that the allocator does not manage.
    pub reserved: usize,
    /// The sum of all refcounts: how many frames the holders would need if nothing were shared.
    pub references: u64,
    /// Successful [`FrameTable::alloc`] calls since the table was created.
    pub allocations: u64,
    /// Frames freed by [`FrameTable::release`] since the table was created.
    pub frees: u64,
}

impl FrameCounters {
    /// The frames that sharing saves: the holders would need `references` frames without it, and use
    /// `used`.
    pub fn frames_saved_by_sharing(&self) -> u64 {
        // `used` is a usize no larger than u32::MAX frames, so the conversion is lossless.
        self.references.saturating_sub(self.used as u64)
    }
}

impl fmt::Display for FrameCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frames: {} managed ({} free, {} used, {} shared, {} saved by sharing), {} reserved; \
             {} allocations, {} frees",
            self.total,
            self.free,
            self.used,
            self.shared,
            self.frames_saved_by_sharing(),
            self.reserved,
            self.allocations,
            self.frees
        )
    }
}

/// Reference counts and the free list for the frames `[first, first + frame_count)`.
///
/// The storage holds three arrays of `frame_count` words, each indexed by a frame's offset from the first
/// frame of the span (its *index*):
///
/// - `refcounts`: 0 for a free frame, `u32::MAX` for a reserved one, otherwise the number of holders, so a frame's whole
///   state is one word and a double free is caught in O(1);
/// - `free_stack`: the indices of the free frames, the next one to allocate on top;
/// - `stack_positions`: where each free frame sits on `free_stack`. Allocation never needs it; it lets
///   [`FrameTable::audit`] prove that no frame is on the stack twice (which would hand one frame to two
///   owners) in one pass and without scratch memory.
pub struct FrameTable<'s> {
    first: Frame,
    refcounts: &'s mut [u32],
    free_stack: &'s mut [u32],
    stack_positions: &'s mut [u32],
    /// `free_stack[..free_len]` is live.
    free_len: usize,
    // The counters are maintained as frames change state so that reading them is O(1); `audit` recounts.
    managed: usize,
    used: usize,
    shared: usize,
    references: u64,
    allocations: u64,
    frees: u64,
}

impl<'s> FrameTable<'s> {
    /// The most frames a table can cover: frame indices are stored in `u32` words (16 TiB of 4 KiB frames).
    pub const MAX_FRAMES: usize = u32::MAX as usize;

    /// The most holders a frame can have; `u32::MAX` itself marks reserved frames.
    pub const MAX_REFCOUNT: u32 = RESERVED - 1;

    /// A table over the `frame_count` frames starting at `first`, all of them reserved.
    ///
    /// `storage` must hold at least [`storage_words`]`(frame_count)` words; its contents do not matter (it
    /// may be uninitialised RAM that has merely been zeroed or not at all) and any words beyond that are
    /// left alone.
    pub fn new(
        first: Frame,
        frame_count: usize,
        storage: &'s mut [u32],
    ) -> Result<FrameTable<'s>, TableError> {
        if frame_count > Self::MAX_FRAMES {
            return Err(TableError::TooManyFrames { frame_count });
        }
        // The span's end must itself be a frame, so that `span()` can return it.
        if first.checked_add(frame_count).is_none() {
            return Err(TableError::SpanBeyondAddressSpace);
        }
        let needed = storage_words(frame_count);
        let provided = storage.len();
        let Some(storage) = storage.get_mut(..needed) else {
            return Err(TableError::StorageTooSmall { needed, provided });
        };
        let (refcounts, rest) = storage.split_at_mut(frame_count);
        let (free_stack, stack_positions) = rest.split_at_mut(frame_count);
        refcounts.fill(RESERVED);
        Ok(FrameTable {
            first,
            refcounts,
            free_stack,
            stack_positions,
            free_len: 0,
            managed: 0,
            used: 0,
            shared: 0,
            references: 0,
            allocations: 0,
            frees: 0,
        })
    }

    /// The frames the table covers, managed or not.
    pub fn span(&self) -> Range<Frame> {
        self.first..self.first + self.frame_count()
    }

    pub fn frame_count(&self) -> usize {
        self.refcounts.len()
    }

    /// Hands the reserved frames in `frames` to the allocator. Frames added in one call are allocated
    /// lowest first.
    ///
    /// Fails, changing nothing, if any frame is outside the span or already managed.
    pub fn add_free_range(&mut self, frames: Range<Frame>) -> Result<(), FrameError> {
        let Range { start, end } = frames;
        if end < start {
            return Err(FrameError::ReversedRange { start, end });
        }
        if start == end {
            return Ok(());
        }
        let start_index = self.index_of(start).ok_or(FrameError::OutsideSpan(start))?;
        // Lossless: the span holds at most u32::MAX frames and `end` is above `start`.
        let len = (end.number() - start.number()) as usize;
        let end_index = start_index + len;
        if end_index > self.frame_count() {
            return Err(FrameError::OutsideSpan(self.span().end));
        }
        if let Some(offset) = self.refcounts[start_index..end_index].iter().position(|&word| word != RESERVED)
        {
            return Err(FrameError::AlreadyManaged(start + offset));
        }
        // Pushed highest first, so that the lowest frame is on top and allocation runs upwards.
        for index in (start_index..end_index).rev() {
            self.refcounts[index] = FREE;
            self.push_free(index);
        }
        self.managed += len;
        Ok(())
    }

    /// Takes a free frame and gives it its first holder. Its contents are whatever was left in it: the
    /// caller zeroes it if it must not leak data.
    pub fn alloc(&mut self) -> Result<Frame, OutOfFrames> {
        let top = self.free_len.checked_sub(1).ok_or(OutOfFrames)?;
        let index = self.free_stack[top] as usize;
        self.free_len = top;
        self.refcounts[index] = 1;
        self.used += 1;
        self.references += 1;
        self.allocations += 1;
        Ok(self.frame_at(index))
    }

    /// Adds a holder to an allocated frame and returns its new refcount.
    pub fn share(&mut self, frame: Frame) -> Result<u32, FrameError> {
        let index = self.managed_index(frame)?;
        let holders = match self.refcounts[index] {
            FREE => return Err(FrameError::NotAllocated(frame)),
            Self::MAX_REFCOUNT => return Err(FrameError::RefcountOverflow(frame)),
            holders => holders + 1,
        };
        self.refcounts[index] = holders;
        if holders == 2 {
            self.shared += 1;
        }
        self.references += 1;
        Ok(holders)
    }

    /// Adds a holder to each of `frames` (a frame may come more than once), or to none: on the first
    /// refusal the holders added so far are dropped again and its error returned. What sharing a whole
    /// level-3 table costs: one call, under one lock in the kernel.
    pub fn share_all(&mut self, frames: impl Iterator<Item = Frame> + Clone) -> Result<(), FrameError> {
        // The common case in one tight loop, the counters added up once at the end (this is what fork and
        // the copy of a shared table pay per page); any frame `share` would refuse goes to it for the error.
        let first = self.first.number();
        let (mut added, mut newly_shared) = (0, 0);
        let mut refused = None;
        for frame in frames.clone() {
            let slot = usize::try_from(frame.number().wrapping_sub(first))
                .ok()
                .and_then(|i| self.refcounts.get_mut(i));
            match slot {
                Some(holders) if !matches!(*holders, FREE | RESERVED | Self::MAX_REFCOUNT) => {
                    *holders += 1;
                    newly_shared += usize::from(*holders == 2);
                    added += 1;
                }
                _ => {
                    refused = Some(frame);
                    break;
                }
            }
        }
        self.shared += newly_shared;
        self.references += added as u64;
        let Some(frame) = refused else { return Ok(()) };
        let error = self.share(frame).expect_err("a frame the loop refused");
        for added in frames.take(added) {
            // The frame holds the holder just added: it cannot be freed here.
            let _still_held = self.release(added).expect("a holder added a moment ago");
        }
        Err(error)
    }

    /// Drops one holder of each of `frames` (a frame may come more than once), freeing those whose last
    /// holder it was; how many were freed. What tearing down a level-3 table costs: one call, under one
    /// lock in the kernel. A frame that cannot be released (free, reserved, outside the table) stops it
    /// there with that error, the frames before it released: the caller's bookkeeping is wrong.
    pub fn release_all(&mut self, frames: impl Iterator<Item = Frame>) -> Result<usize, FrameError> {
        let mut freed = 0;
        for frame in frames {
            if self.release(frame)? == Release::Freed {
                freed += 1;
            }
        }
        Ok(freed)
    }

    /// Drops one holder of an allocated frame, freeing the frame if it was the last.
    ///
    /// Releasing a free frame is a double free: [`FrameError::NotAllocated`], and the table is unchanged.
    pub fn release(&mut self, frame: Frame) -> Result<Release, FrameError> {
        let index = self.managed_index(frame)?;
        let holders = match self.refcounts[index] {
            FREE => return Err(FrameError::NotAllocated(frame)),
            holders => holders - 1,
        };
        self.refcounts[index] = holders;
        self.references -= 1;
        match holders {
            0 => {
                self.push_free(index);
                self.used -= 1;
                self.frees += 1;
                Ok(Release::Freed)
            }
            1 => {
                self.shared -= 1;
                Ok(Release::StillHeld(1))
            }
            _ => Ok(Release::StillHeld(holders)),
        }
    }

    /// Drops one holder of `frame` unless it is the last: `Ok(true)` if another holder remains (this one is
    /// gone), `Ok(false)` if the caller is the only holder (nothing changed). One decision under whatever
    /// lock guards the table: two holders leaving a shared level-3 table at once on two cores must not both
    /// see the other and both just drop their holder, leaving the table's frames held by no one.
    pub fn release_unless_last(&mut self, frame: Frame) -> Result<bool, FrameError> {
        let index = self.managed_index(frame)?;
        match self.refcounts[index] {
            FREE => Err(FrameError::NotAllocated(frame)),
            1 => Ok(false),
            _ => self.release(frame).map(|_| true),
        }
    }

    /// The number of holders of a managed frame (0 if free), or `None` for a reserved or outside frame.
    pub fn refcount(&self, frame: Frame) -> Option<u32> {
        match self.state(frame) {
            FrameState::Free => Some(0),
            FrameState::Used(holders) => Some(holders),
            FrameState::Reserved | FrameState::Outside => None,
        }
    }

    pub fn state(&self, frame: Frame) -> FrameState {
        match self.index_of(frame) {
            Some(index) => FrameState::of_word(self.refcounts[index]),
            None => FrameState::Outside,
        }
    }

    pub fn counters(&self) -> FrameCounters {
        FrameCounters {
            total: self.managed,
            free: self.free_len,
            used: self.used,
            shared: self.shared,
            reserved: self.frame_count() - self.managed,
            references: self.references,
            allocations: self.allocations,
            frees: self.frees,
        }
    }

    fn push_free(&mut self, index: usize) {
        // Both fit in u32: indices and stack positions are below `frame_count` <= MAX_FRAMES.
        self.free_stack[self.free_len] = index as u32;
        self.stack_positions[index] = self.free_len as u32;
        self.free_len += 1;
    }

    /// The frame's offset from the start of the span, if it is in the span.
    fn index_of(&self, frame: Frame) -> Option<usize> {
        let offset = frame.number().checked_sub(self.first.number())?;
        let index = usize::try_from(offset).ok()?;
        (index < self.frame_count()).then_some(index)
    }

    /// The frame's index, if the allocator manages it (free or used).
    fn managed_index(&self, frame: Frame) -> Result<usize, FrameError> {
        let index = self.index_of(frame).ok_or(FrameError::OutsideSpan(frame))?;
        if self.refcounts[index] == RESERVED {
            return Err(FrameError::Reserved(frame));
        }
        Ok(index)
    }

    fn frame_at(&self, index: usize) -> Frame {
        self.first + index
    }
}

impl fmt::Debug for FrameTable<'_> {
    /// The span and the counters: the per-frame arrays are far too long to print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameTable").field("span", &self.span()).field("counters", &self.counters()).finish()
    }
}
