//! Kernel same-page merging: a kernel task that finds identical pages and keeps one copy of each.
//!
//! Every `sleep_ms` the scanner task checksums up to `pages_to_scan` pages (XXH3-64: the fastest of the
//! xxHash family on 64-bit machines, with NEON on AArch64, and a checksum only has to tell pages apart
//! quickly, not resist attacks) of the tasks that asked for it (`MERGEABLE`), or of every task in `ksm mode
//! all`. The bookkeeping (volatile pages, the stable and unstable sets) is `cowpi_mm::ksm::KsmBook`,
//! host-tested; this file does the memory work, all of it under the page-merging lock with each address
//! space it touches held (a space whose lock a preempted task holds is waited for with no lock held, see
//! [`scan`]):
//!
//! - only private, writable pages are candidates (a frame with other holders is shared already, or in
//!   use by the kernel; a page `PROTECT`ed to no access is not writable, and a merged one keeps its mark
//!   while hidden);
//! - before comparing, the candidate is write-protected (mapped read-only with the COW bit, its TLB entry
//!   invalidated), and after the full 4 KiB byte comparison the kernel checks that the mapping still
//!   holds the same frame, read-only: nothing can have written between the compare and the switch;
//! - a merge maps the page read-only with the KSM-merged bit onto the kept frame (break-before-make) and
//!   frees the duplicate; a page of zeros goes onto the shared zero page instead, with the zero-page and
//!   the KSM-merged bits both, so that it stays told apart from a zero page a read fault mapped;
//! - the scanner holds one reference on every stable frame, and lets go of it once no mapping uses it;
//! - a write to a merged page takes the ordinary copy-on-write fault: the writer gets a private copy.
//!
//! The scanner's memory is bounded whatever tasks do, since it lives on the kernel heap, which user memory
//! can outgrow many times over: a pass walks the tasks with a cursor (task, page) rather than a list of
//! every candidate page, and the book remembers at most [`MAX_TRACKED_PAGES`] pages and stable frames.
//! Pages past that are left alone (`pages_untracked` counts them) until a task exits or unmaps and makes
//! room. Without the bound, one task marking 800 MiB mergeable exhausted the 16 MiB heap: a kernel panic.
//! Once the book remembers nothing (its tasks gone and a pass ended), it holds no heap at all, so the
//! audit after each test finds the heap where it was.
//!
//! Zero pages are counted twice over, as in Linux: `zero_pages_merged`, every merge onto the zero page
//! since boot, and [`zero_pages`], the mappings of every address space that are such zero pages now
//! (Linux's `ksm_zero_pages`). The second goes up with each merge onto the zero page and with each copy
//! of such a mapping that a fork (copy-on-write or eager) gives the child, which is as much a KSM zero page
//! as its parent's (Linux's `ksm_fork` counts it the same way), and down whenever such a mapping goes: the
//! write that gives it a frame of its own (the zero-fill fault), `UNMAP`, and the teardown of an address
//! space at exit, `EXEC` or a failed fork. `PROTECT` keeps both marks, to no access and back
//! (`cowpi_mm::decide_protect`), so the page stays counted while the task cannot touch it.
//!
//! It is a running count, not a walk of every task's page tables where it is read: `MEMSTATS`, which the
//! benchmark programs call in their loops, would then cost time in proportion to all the memory mapped.
//! A running count can drift if some path forgets it, so the memory audit after every kernel test walks
//! every address space and checks the count against the mappings carrying both marks: a missed increment
//! or decrement fails the test that caused it. The count changes where the mappings do, in
//! `AddressSpace` (see [`mapping_added`]), by their flags alone.

use core::sync::atomic::{AtomicU64, Ordering};

use cowpi_mm::ksm::{Checksum, KsmBook, KsmCounters, Observation};
use cowpi_mm::{Frame, PAGE_SIZE, Page, PageFlags};

use super::address_space::{AddressSpace, CandidateSearch};
use super::{frame_pointer, frames, zero_page};
use crate::sync::IrqSafeLock;
use crate::task::scheduler::{self, TaskSpaces};
use crate::task::{self, Pid};

/// What a page is called across scans: its task and page number.
type PageKey = (u32, u64);

/// The tunables `ksm set` changes.
#[derive(Debug, Clone, Copy)]
pub struct Tunables {
    pub run: bool,
    pub sleep_ms: u64,
    pub pages_to_scan: usize,
    /// Scan every task's anonymous memory, not only what `MERGEABLE` marked.
    pub all: bool,
    /// Testing only: every page gets the same checksum, so only the byte comparison tells them apart.
    pub constant_checksum: bool,
}

/// The most pages and stable frames the book remembers. Each costs about 200 bytes of kernel heap at the
/// peak of a pass (its remembered checksum and its unstable entry, with the B-tree nodes around them;
/// `ksm::the_scanner_remembers_no_more_pages_than_its_limit` measures it), so the book stays under about
/// 6.5 MiB of the 16 MiB heap. 32 768 pages are 128 MiB of mergeable memory, twice the benchmarks'.
pub const MAX_TRACKED_PAGES: usize = 32_768;

struct Ksm {
    tunables: Tunables,
    book: KsmBook<PageKey>,
    /// Where the pass under way goes on: the task and the page to search from. `None` between passes.
    cursor: Option<(Pid, Page)>,
    /// Candidate pages left alone since boot because the book was full.
    pages_untracked: u64,
    /// The limit on the book: [`MAX_TRACKED_PAGES`], lower in tests.
    max_tracked: usize,
    /// The most pages visited under one hold of the locks since boot: how long the scanner kept
    /// interrupts masked, in the unit its cost comes in (a checksum and a compare per page).
    longest_hold: usize,
    /// Groups of pages that found the next address space busy since boot, and waited for it ([`scan`]).
    busy_spaces_met: u64,
}

static KSM: IrqSafeLock<Ksm> = IrqSafeLock::new(Ksm {
    tunables: Tunables { run: false, sleep_ms: 20, pages_to_scan: 100, all: false, constant_checksum: false },
    book: KsmBook::new(),
    cursor: None,
    pages_untracked: 0,
    max_tracked: MAX_TRACKED_PAGES,
    longest_hold: 0,
    busy_spaces_met: 0,
});

pub fn tunables() -> Tunables {
    KSM.lock(|k| k.tunables)
}

pub fn set_tunables(f: impl FnOnce(&mut Tunables)) {
    KSM.lock(|k| f(&mut k.tunables));
}

/// Mappings, in all address spaces, of the zero page that page merging made (both marks): see the module
/// documentation. An atomic rather than a field under the KSM lock, since it changes on the fault path and
/// at every unmap, which must not take that lock.
static ZERO_PAGES: AtomicU64 = AtomicU64::new(0);

/// An address space now maps a page with `flags`: counted if it is a zero page page merging made. Called
/// by `AddressSpace` wherever a mapping appears (a merge onto the zero page, each page a fork copies).
pub fn mapping_added(flags: PageFlags) {
    if flags.is_ksm_zero_page() {
        ZERO_PAGES.fetch_add(1, Ordering::Relaxed);
    }
}

/// `count` new mappings of zero pages that merging made (a fork's copies of them, a table at a time).
pub fn zero_pages_added(count: u64) {
    if count > 0 {
        ZERO_PAGES.fetch_add(count, Ordering::Relaxed);
    }
}

/// `count` mappings of zero pages that merging made are gone (a table of them torn down at once).
pub fn zero_pages_removed(count: u64) {
    if count > 0 {
        ZERO_PAGES.fetch_sub(count, Ordering::Relaxed);
    }
}

/// An address space no longer maps a page it had mapped with `flags` (written, unmapped, torn down).
pub fn mapping_removed(flags: PageFlags) {
    if flags.is_ksm_zero_page() {
        ZERO_PAGES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Pages that map the zero page now because page merging put them there (or a fork copied such a page).
pub fn zero_pages() -> u64 {
    ZERO_PAGES.load(Ordering::Relaxed)
}

/// The counters `ksm status` shows, besides the tunables.
pub struct Status {
    pub counters: KsmCounters,
    /// Mappings of the zero page that merging made, now ([`zero_pages`]).
    pub zero_pages: u64,
    /// Stable frames in use.
    pub pages_shared: u64,
    /// Mappings of stable frames beyond one per frame: pages saved.
    pub pages_sharing: u64,
    /// Pages and stable frames the book remembers, and the most it may.
    pub tracked: usize,
    pub max_tracked: usize,
    /// Candidate pages left alone since boot because the book was full.
    pub pages_untracked: u64,
    /// The most pages visited under one hold of the locks since boot (at most [`PAGES_PER_HOLD`]).
    pub longest_hold: usize,
    /// Groups of pages that found the next address space busy since boot, and waited for it.
    pub busy_spaces_met: u64,
}

pub fn status() -> Status {
    KSM.lock(|k| {
        let sharing = k.book.sharing(frames::refcount);
        Status {
            counters: k.book.counters(),
            zero_pages: zero_pages(),
            pages_shared: sharing.pages_shared,
            pages_sharing: sharing.pages_sharing,
            tracked: k.book.tracked(),
            max_tracked: k.max_tracked,
            pages_untracked: k.pages_untracked,
            longest_hold: k.longest_hold,
            busy_spaces_met: k.busy_spaces_met,
        }
    })
}

/// Sets the limit on the book (tests only: a small one is quick to reach), or back to
/// [`MAX_TRACKED_PAGES`] with `None`.
pub fn set_max_tracked(limit: Option<usize>) {
    KSM.lock(|k| k.max_tracked = limit.unwrap_or(MAX_TRACKED_PAGES));
}

/// The frames the scanner holds a reference on (the stable ones), for the memory audit.
pub fn for_each_held_frame(mut f: impl FnMut(Frame)) {
    KSM.lock(|k| k.book.stable_frames().for_each(&mut f));
}

/// The scanner task's pid, once started.
static SCANNER: spin::Once<Pid> = spin::Once::new();

/// Processor time the scanner task has used since boot, in nanoseconds (0 before it starts).
pub fn scanner_cpu_ns() -> u64 {
    let ticks = SCANNER.get().and_then(|&pid| scheduler::cpu_ticks(pid)).unwrap_or(0);
    crate::arch::time::ticks_to_duration(ticks).as_nanos() as u64
}

/// Starts the scanner task. It sleeps `sleep_ms` between batches and scans only while `run` is set.
pub fn start_scanner() {
    let pid = task::spawn_kernel("ksmd", || {
        loop {
            let Tunables { run, sleep_ms, pages_to_scan, .. } = tunables();
            if run {
                scan(pages_to_scan);
            }
            task::sleep(sleep_ms.max(1));
        }
    });
    SCANNER.call_once(|| pid);
}

/// Runs `passes` full passes now, in the calling task (`ksm scan`, and the tests).
pub fn scan_full_passes(passes: u64) {
    let target = KSM.lock(|k| k.book.counters().full_scans) + passes;
    while KSM.lock(|k| k.book.counters().full_scans) < target {
        scan(256);
    }
}

fn frame_bytes(frame: Frame) -> &'static [u8] {
    // SAFETY: callers pass frames held by a mapping of a space they hold locked, or by the scanner, so the
    // frame stays allocated while read; it lies in the linear map.
    unsafe { core::slice::from_raw_parts(frame_pointer(frame), PAGE_SIZE) }
}

fn checksum(frame: Frame, constant: bool) -> Checksum {
    if constant { Checksum(0) } else { Checksum(xxhash_rust::xxh3::xxh3_64(frame_bytes(frame))) }
}

/// A page the scanner may merge: mapped, private (one holder, in a level-3 table of its task's own),
/// writable.
fn candidate(spaces: &mut TaskSpaces, pid: Pid, page: Page) -> Option<(Frame, PageFlags)> {
    let space = spaces.space(pid)?;
    let (frame, flags) = space.translate_page(page)?;
    let private = frames::refcount(frame) == 1 && !space.in_shared_table(page);
    (flags.writable && !flags.executable && private).then_some((frame, flags))
}

/// Changes a mapping's flags on the same frame, keeping [`zero_pages`] right. False if nothing is
/// mapped there.
fn set_flags(space: &mut AddressSpace, page: Page, flags: PageFlags) -> bool {
    let Some(old) = space.set_page_flags(page, flags) else { return false };
    mapping_removed(old);
    mapping_added(flags);
    true
}

/// Maps `page` to `frame` instead, keeping [`zero_pages`] right; the caller moves the references.
fn replace(space: &mut AddressSpace, page: Page, frame: Frame, flags: PageFlags) -> bool {
    let Some(old) = space.replace_page(page, frame, flags) else { return false };
    mapping_removed(old);
    mapping_added(flags);
    true
}

fn merged_flags(flags: PageFlags) -> PageFlags {
    PageFlags { writable: false, cow: false, zero_page: false, ksm_merged: true, ..flags }
}

/// Pages visited per hold of the locks. The scan holds the page-merging lock, so interrupts are masked
/// while it works; hashing and comparing a page costs tens of thousands of instructions (a hash of
/// about 13 000, byte-wise compares of 4 KiB against the candidates), so a batch of `pages_to_scan`
/// pages under one hold (100 000 at the maximum rate) would hold off the timer and the serial line for a
/// good part of a second. Four pages held them off for up to 264 µs (`cargo run --release -- bench`, the
/// `ksm` benchmark's tick lateness); one keeps a hold under 100 µs.
pub const PAGES_PER_HOLD: usize = 1;

/// How a group of pages ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupEnd {
    /// The budget was spent; the pass goes on.
    BudgetSpent,
    /// The pass ended (every task's pages seen).
    PassEnded,
    /// The next space in the pass is busy: a task holds its lock, preempted in the middle of a change
    /// to it (a fork, a teardown, a range call). The cursor stays on it.
    Busy(Pid),
}

/// Scans up to `budget` pages, continuing the current pass or starting a new one, and stops early when a
/// pass ends. Between small groups of pages it lets go of the locks, so interrupts are taken and the
/// scanner can be preempted like any task. A space found busy is waited for with no lock held (its
/// holder hands it over when done) and the group is tried again; the wait counts as the group's pages,
/// so a space that stays busy costs the budget, not an endless loop. Public for the tests, which stop in
/// the middle of a pass.
pub fn scan(budget: usize) {
    let mut left = budget;
    while left > 0 {
        let group = left.min(PAGES_PER_HOLD);
        match scan_group(group) {
            GroupEnd::BudgetSpent => {}
            GroupEnd::PassEnded => return,
            GroupEnd::Busy(pid) => {
                if let Some(space) = scheduler::address_space_of(pid) {
                    space.space.lock(|_| {});
                }
            }
        }
        left -= group;
    }
}

/// Scans up to `budget` pages under one hold of the locks (a search that finds no candidate among many
/// mappings counts as a page). Address spaces are only tried, never waited for (the lock order in `sync`).
fn scan_group(budget: usize) -> GroupEnd {
    KSM.lock(|k| {
        scheduler::with_task_spaces(|spaces| {
            if k.book.ending_pass() {
                return end_pass_step(k, spaces);
            }
            let mut visited = 0;
            for _ in 0..budget {
                let (pid, from) = match k.cursor {
                    Some(cursor) => cursor,
                    None => match spaces.pids().first() {
                        Some(&first) => (first, Page::from_number(0)),
                        None => return begin_end_of_pass(k),
                    },
                };
                if spaces.is_busy(pid) {
                    k.cursor = Some((pid, from));
                    k.busy_spaces_met += 1;
                    return GroupEnd::Busy(pid);
                }
                let search = match spaces.space(pid) {
                    Some(space) => space.next_merge_candidate(from, k.tunables.all),
                    None => CandidateSearch::End,
                };
                k.cursor = match search {
                    CandidateSearch::Found(page) => {
                        visit(k, spaces, pid, page);
                        visited += 1;
                        k.longest_hold = k.longest_hold.max(visited);
                        Some((pid, page + 1))
                    }
                    CandidateSearch::GoOn(page) => Some((pid, page)),
                    CandidateSearch::End => match spaces.pids().into_iter().find(|&next| next > pid) {
                        Some(next) => Some((next, Page::from_number(0))),
                        None => return begin_end_of_pass(k),
                    },
                };
            }
            GroupEnd::BudgetSpent
        })
    })
}

/// Entries of the book the end of a pass goes through under one hold of the locks: forgetting what a
/// pass did not see costs time in proportion to the pages remembered (16 384 of them kept interrupts
/// masked for 6.4 ms, `cargo run --release -- bench`), so it is done a bounded piece per hold, like
/// the visits. 256 entries a hold still masked them for 216 µs; 64 keep it near a page visit's cost.
const END_OF_PASS_ENTRIES_PER_HOLD: usize = 64;

/// Every task's pages were seen: the pass ends, a piece per hold from the next group on.
fn begin_end_of_pass(k: &mut Ksm) -> GroupEnd {
    k.cursor = None;
    k.book.begin_end_of_pass();
    GroupEnd::BudgetSpent
}

/// One piece of the end of the pass (see [`END_OF_PASS_ENTRIES_PER_HOLD`]); the last lets go of the
/// stable frames no mapping uses any more.
fn end_pass_step(k: &mut Ksm, spaces: &mut TaskSpaces) -> GroupEnd {
    let alive = spaces.pids();
    if !k.book.end_pass_step(END_OF_PASS_ENTRIES_PER_HOLD, |(pid, _)| alive.binary_search(&Pid(pid)).is_ok())
    {
        return GroupEnd::BudgetSpent;
    }
    // A stable frame only the scanner still holds is no longer shared by anyone: let it go.
    for frame in k.book.prune_stable(|frame| frames::refcount(frame) > 1) {
        frames::drop_holder(frame);
    }
    GroupEnd::PassEnded
}

fn visit(k: &mut Ksm, spaces: &mut TaskSpaces, pid: Pid, page: Page) {
    let Some((frame, flags)) = candidate(spaces, pid, page) else { return };
    let key = (pid.0, page.number());
    if !k.book.knows(key) && k.book.tracked() >= k.max_tracked {
        k.pages_untracked += 1;
        return;
    }
    let sum = checksum(frame, k.tunables.constant_checksum);
    if k.book.observe(key, sum) == Observation::Volatile {
        return;
    }
    let Some(space) = spaces.space(pid) else { return };
    // Write-protect first: from here on a write by the task faults (and is resolved as a COW reuse,
    // changing the mapping), so an unchanged mapping after the comparison proves the bytes compared are
    // the bytes merged.
    if !set_flags(space, page, flags.copy_on_write()) {
        return;
    }
    let unchanged = |space: &mut AddressSpace| {
        space.translate_page(page).is_some_and(|(f, now)| f == frame && !now.writable)
    };

    if frame_bytes(frame).iter().all(|&b| b == 0) {
        let zero = zero_page::frame();
        if unchanged(space) && frames::share(zero).is_ok() {
            // Both marks: a zero page merging made, counted in `zero_pages` (by `replace`).
            let zero_flags =
                PageFlags { writable: false, cow: false, zero_page: true, ksm_merged: true, ..flags };
            if replace(space, page, zero, zero_flags) {
                frames::drop_holder(frame);
                k.book.note_zero_page_merge();
                return;
            }
            frames::drop_holder(zero);
        }
        set_flags(space, page, flags);
        return;
    }

    for stable in k.book.stable_candidates(sum) {
        if frame_bytes(frame) == frame_bytes(stable) && unchanged(space) && frames::share(stable).is_ok() {
            if replace(space, page, stable, merged_flags(flags)) {
                frames::drop_holder(frame);
                k.book.note_merge();
                return;
            }
            frames::drop_holder(stable);
        }
    }

    // Every page of this pass with the checksum gets its turn: with colliding checksums the identical one
    // may lie behind others.
    let ours = (pid, page, frame, flags);
    let merged = k.book.merge_unstable(sum, |(other_pid, other_number), other_frame| {
        (other_pid, other_number) != key
            && merge_pair(spaces, ours, (Pid(other_pid), Page::from_number(other_number), other_frame))
    });
    match merged {
        Some((_, other_frame)) => {
            k.book.add_stable(other_frame, sum);
            k.book.note_merge();
        }
        None => {
            k.book.add_unstable(key, frame, sum);
            restore(spaces, pid, page, frame, flags);
        }
    }
}

/// Gives a write-protected candidate its write permission back, if it still maps the same frame.
fn restore(spaces: &mut TaskSpaces, pid: Pid, page: Page, frame: Frame, flags: PageFlags) {
    if let Some(space) = spaces.space(pid)
        && space.translate_page(page).is_some_and(|(f, now)| f == frame && now.cow)
    {
        set_flags(space, page, flags);
    }
}

/// Merges the (write-protected) page `ours` with `theirs` from the unstable set, whose frame becomes the
/// stable one. False if the other page changed or the bytes differ; then nothing was merged.
fn merge_pair(
    spaces: &mut TaskSpaces,
    (pid, page, frame, _flags): (Pid, Page, Frame, PageFlags),
    (other_pid, other_page, other_frame): (Pid, Page, Frame),
) -> bool {
    let Some((current, other_flags)) = candidate(spaces, other_pid, other_page) else { return false };
    if current != other_frame || frame_bytes(frame) != frame_bytes(other_frame) {
        return false;
    }
    // The other page becomes read-only and merged on its own frame; the scanner takes its hold.
    let Some(other_space) = spaces.space(other_pid) else { return false };
    if !set_flags(other_space, other_page, merged_flags(other_flags)) || frames::share(other_frame).is_err() {
        return false;
    }
    // Compare again now that neither page can change, then move ours onto the other frame.
    let Some(space) = spaces.space(pid) else { return false };
    let still_ours = space.translate_page(page).is_some_and(|(f, now)| f == frame && !now.writable);
    if still_ours && frame_bytes(frame) == frame_bytes(other_frame) && frames::share(other_frame).is_ok() {
        if let Some((_, flags)) = space.translate_page(page)
            && replace(space, page, other_frame, merged_flags(flags))
        {
            frames::drop_holder(frame);
            return true;
        }
        frames::drop_holder(other_frame);
    }
    // Undo: the other page is writable again and the scanner lets go.
    if let Some(other_space) = spaces.space(other_pid) {
        set_flags(other_space, other_page, other_flags);
    }
    frames::drop_holder(other_frame);
    false
}
