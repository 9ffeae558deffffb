//! Kernel same-page merging (KSM): the bookkeeping, without the hardware.
//!
//! The kernel's scanner visits the mergeable pages of every task, one full pass after another, and asks
//! this book what each page is: *volatile* if its checksum changed since the page's previous visit (it is
//! being written: merging it would only be undone), else a candidate. A candidate meets the others through
//! two structures, as in Linux's `mm/ksm.c`:
//!
//! - the **stable** set: frames already merged (read-only, shared copy-on-write), by checksum; they stay
//!   until no mapping uses them;
//! - the **unstable** set: unchanged, not yet merged pages seen in this pass, by checksum; it is rebuilt
//!   every pass, because its pages may change at any time.
//!
//! A checksum match is never proof: the kernel compares the full 4 KiB before it merges anything. The
//! book only says which frames to compare with; it never touches memory, so the host tests drive it with
//! any checksums they like, including all-equal ones (`tests/ksm_model.rs` drives it the way the kernel's
//! scanner does, against a model of tasks whose pages change).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::ops::Bound;

use crate::addr::Frame;

/// A page's checksum (XXH3-64 in the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Checksum(pub u64);

/// What the scanner should do with a page it just checksummed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// First seen, or changed since its last visit: leave it alone this pass.
    Volatile,
    /// Unchanged since its last visit: look for a page to merge with.
    Unchanged,
}

/// Counters of the last completed pass and of all time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KsmCounters {
    pub full_scans: u64,
    pub pages_scanned: u64,
    /// Volatile pages seen in the last completed pass.
    pub pages_volatile: u64,
    /// Pages left in the unstable set at the end of the last completed pass.
    pub pages_unshared: u64,
    pub zero_pages_merged: u64,
    /// Pages moved onto another page's identical frame, their own frame given back (zero pages not
    /// included: they count in `zero_pages_merged`).
    pub merges: u64,
}

/// The scanner's memory between visits. `K` names a page (the kernel uses task id and page number).
pub struct KsmBook<K> {
    /// Each page's checksum at its last visit, and the pass of that visit (the count of full scans then).
    previous: BTreeMap<K, (Checksum, u64)>,
    /// Stable frames by checksum, as one flat set like the unstable one.
    stable: BTreeSet<(Checksum, Frame)>,
    /// Keyed by checksum and page, with `None` below every page, so that the pages of one checksum are
    /// found with one range lookup. One flat map: a list per checksum would cost an allocation per page,
    /// and the kernel heap pays for every page the scanner remembers.
    unstable: BTreeMap<(Checksum, Option<K>), Frame>,
    /// Volatile pages seen so far in the current pass.
    volatile_this_pass: u64,
    counters: KsmCounters,
    /// The end of a pass under way, done in steps ([`KsmBook::end_pass_step`]); `None` while pages are
    /// visited.
    ending: Option<PassEnd<K>>,
}

/// How far the end of a pass has come: what the last pass's counters will say, and the last remembered
/// page checked so far.
#[derive(Debug, Clone, Copy)]
struct PassEnd<K> {
    unshared: u64,
    volatile: u64,
    checked_up_to: Option<K>,
}

impl<K: Ord + Copy> Default for KsmBook<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord + Copy> KsmBook<K> {
    pub const fn new() -> KsmBook<K> {
        KsmBook {
            previous: BTreeMap::new(),
            stable: BTreeSet::new(),
            unstable: BTreeMap::new(),
            volatile_this_pass: 0,
            ending: None,
            counters: KsmCounters {
                full_scans: 0,
                pages_scanned: 0,
                pages_volatile: 0,
                pages_unshared: 0,
                zero_pages_merged: 0,
                merges: 0,
            },
        }
    }

    /// Records the page's checksum at this visit and says whether it changed since the last one.
    pub fn observe(&mut self, key: K, checksum: Checksum) -> Observation {
        self.counters.pages_scanned += 1;
        match self.previous.insert(key, (checksum, self.counters.full_scans)) {
            Some((before, _)) if before == checksum => Observation::Unchanged,
            _ => {
                self.volatile_this_pass += 1;
                Observation::Volatile
            }
        }
    }

    /// Stable frames whose contents had this checksum, to compare with, in order.
    pub fn stable_candidates(&self, checksum: Checksum) -> Vec<Frame> {
        let first = (checksum, Frame::from_number(0));
        self.stable
            .range(first..)
            .take_while(|&&(found, _)| found == checksum)
            .map(|&(_, frame)| frame)
            .collect()
    }

    /// Offers the pages of this pass with this checksum to `merge`, in page order, until it merges with
    /// one; that page leaves the unstable set and is returned. A checksum match says nothing about the
    /// bytes, so every page with the checksum gets its turn: when checksums collide, the identical page may
    /// be any of them, not only the first one seen.
    pub fn merge_unstable(
        &mut self,
        checksum: Checksum,
        mut merge: impl FnMut(K, Frame) -> bool,
    ) -> Option<(K, Frame)> {
        let (key, frame) = self
            .unstable
            .range((checksum, None)..)
            .take_while(|&(&(found, _), _)| found == checksum)
            .find_map(|(&(_, key), &frame)| key.filter(|&key| merge(key, frame)).map(|key| (key, frame)))?;
        self.unstable.remove(&(checksum, Some(key)));
        Some((key, frame))
    }

    pub fn add_unstable(&mut self, key: K, frame: Frame, checksum: Checksum) {
        self.unstable.insert((checksum, Some(key)), frame);
    }

    /// A frame that now backs merged pages.
    pub fn add_stable(&mut self, frame: Frame, checksum: Checksum) {
        self.stable.insert((checksum, frame));
    }

    /// Every stable frame.
    pub fn stable_frames(&self) -> impl Iterator<Item = Frame> + '_ {
        self.stable.iter().map(|&(_, frame)| frame)
    }

    /// Drops the stable frames `keep` refuses (no mapping uses them any more); returns them so the caller
    /// can release its hold.
    pub fn prune_stable(&mut self, mut keep: impl FnMut(Frame) -> bool) -> Vec<Frame> {
        let mut dropped = Vec::new();
        self.stable.retain(|&(_, frame)| {
            let kept = keep(frame);
            if !kept {
                dropped.push(frame);
            }
            kept
        });
        if self.stable.is_empty() {
            // An emptied B-tree keeps its root node: hand it back (see `end_pass`).
            self.stable = BTreeSet::new();
        }
        dropped
    }

    pub fn note_zero_page_merge(&mut self) {
        self.counters.zero_pages_merged += 1;
    }

    /// A page now maps a stable frame instead of its own, which was given back.
    pub fn note_merge(&mut self) {
        self.counters.merges += 1;
    }

    /// Ends a full pass: the unstable set starts again empty, and pages not visited in this pass (unmapped,
    /// merged, no longer writable) or that `alive` no longer knows (their task is gone) are forgotten, so
    /// that what the book remembers follows what is mapped now. A forgotten page that comes back is
    /// volatile at its first visit, as a new one is.
    pub fn end_pass(&mut self, mut alive: impl FnMut(K) -> bool) {
        self.begin_end_of_pass();
        while !self.end_pass_step(usize::MAX, &mut alive) {}
    }

    /// Starts the end of the pass, which [`KsmBook::end_pass_step`] then does a bounded piece at a time:
    /// what [`KsmBook::end_pass`] does costs time in proportion to the pages remembered, and the kernel
    /// does it with interrupts masked. No page is visited until the end is done.
    pub fn begin_end_of_pass(&mut self) {
        if self.ending.is_none() {
            let unshared = self.unstable.len() as u64;
            self.ending = Some(PassEnd { unshared, volatile: self.volatile_this_pass, checked_up_to: None });
        }
    }

    /// Whether the end of a pass is under way ([`KsmBook::begin_end_of_pass`]).
    pub fn ending_pass(&self) -> bool {
        self.ending.is_some()
    }

    /// Does up to `budget` entries of the end of the pass begun by [`KsmBook::begin_end_of_pass`]
    /// (unstable pages dropped, remembered pages checked); true once the pass has ended, as
    /// [`KsmBook::end_pass`] ends it. `alive` is asked about each remembered page as in `end_pass`.
    pub fn end_pass_step(&mut self, budget: usize, mut alive: impl FnMut(K) -> bool) -> bool {
        let Some(ending) = self.ending else { return true };
        let mut left = budget;
        while left > 0 && self.unstable.pop_first().is_some() {
            left -= 1;
        }
        if !self.unstable.is_empty() {
            return false;
        }
        // Emptied B-trees keep their root node: hand it back (see below).
        self.unstable = BTreeMap::new();
        let pass = self.counters.full_scans;
        let from = ending.checked_up_to.map_or(Bound::Unbounded, Bound::Excluded);
        let mut checked = 0;
        let mut last = None;
        let mut stale = Vec::new();
        for (&key, &(_, visited)) in self.previous.range((from, Bound::Unbounded)).take(left) {
            checked += 1;
            last = Some(key);
            if visited != pass || !alive(key) {
                stale.push(key);
            }
        }
        self.ending = Some(PassEnd { checked_up_to: last.or(ending.checked_up_to), ..ending });
        for key in &stale {
            self.previous.remove(key);
        }
        if checked == left {
            return false;
        }
        self.counters.full_scans += 1;
        self.counters.pages_unshared = ending.unshared;
        self.counters.pages_volatile = ending.volatile;
        self.volatile_this_pass = 0;
        self.ending = None;
        if self.previous.is_empty() {
            // An emptied B-tree keeps its root node. A book that remembers nothing holds no memory, so
            // that once the pages it knew are gone, the kernel heap is back where it was: the kernel's
            // audit after every test checks exactly that.
            self.previous = BTreeMap::new();
        }
        true
    }

    pub fn counters(&self) -> KsmCounters {
        self.counters
    }

    /// Whether the book remembers `key` from an earlier visit.
    pub fn knows(&self, key: K) -> bool {
        self.previous.contains_key(&key)
    }

    /// Pages and frames the book holds an entry for: every page it remembers, and every stable frame.
    /// What its memory grows with: the kernel caps it (see the kernel's `ksm::MAX_TRACKED_PAGES`).
    pub fn tracked(&self) -> usize {
        self.previous.len() + self.stable.len()
    }

    /// What merging saves now, given each frame's reference count (the scanner's hold included).
    ///
    /// A stable frame whose last mapping went away stays in the set until the pass ends; it is counted
    /// by neither figure, since it shares nothing.
    pub fn sharing(&self, mut refcount: impl FnMut(Frame) -> u32) -> Sharing {
        let mut sharing = Sharing::default();
        for frame in self.stable_frames() {
            let mappings = u64::from(refcount(frame).saturating_sub(1));
            if mappings > 0 {
                sharing.pages_shared += 1;
                sharing.pages_sharing += mappings - 1;
            }
        }
        sharing
    }
}

/// What merging saves, as Linux's `pages_shared` and `pages_sharing` say it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sharing {
    /// Stable frames in use: mapped at least once.
    pub pages_shared: u64,
    /// Mappings of those frames beyond one each: the frames merging saves.
    pub pages_sharing: u64,
}

#[cfg(test)]
mod tests;
