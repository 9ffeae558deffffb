//! Tests of the frame table: each operation and error, layouts like real boards', corruption that the audit
//! must catch, and a property test that replays random operations against a simple model.

extern crate std;

use std::collections::{BTreeMap, BTreeSet};
use std::format;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::addr::PhysAddr;

fn frame(number: u64) -> Frame {
    Frame::from_number(number)
}

fn frames(start: u64, end: u64) -> Range<Frame> {
    frame(start)..frame(end)
}

/// Storage filled with garbage, to show that `new` does not rely on its contents. Leaked, so that the table
/// can be returned from helpers; a test process's leaks do not matter.
fn garbage_storage(words: usize) -> &'static mut [u32] {
    vec![0xdead_beef; words].leak()
}

/// A table over frames `[first, first + count)`, all reserved.
fn reserved_table(first: u64, count: usize) -> FrameTable<'static> {
    FrameTable::new(frame(first), count, garbage_storage(storage_words(count))).unwrap()
}

/// A table over frames `[first, first + count)`, all free.
fn free_table(first: u64, count: usize) -> FrameTable<'static> {
    let mut table = reserved_table(first, count);
    table.add_free_range(table.span()).unwrap();
    table
}

fn assert_clean(table: &FrameTable<'_>) {
    let report = table.audit();
    assert!(report.is_clean(), "{report}");
}

fn violations(report: &AuditReport) -> Vec<Violation> {
    report.violations().copied().collect()
}

/// Deliberate corruption of the table's private state, for proving that the audit notices it.
impl FrameTable<'_> {
    fn corrupt_refcount(&mut self, frame: Frame, word: u32) {
        let index = self.index_of(frame).unwrap();
        self.refcounts[index] = word;
    }

    fn corrupt_free_stack_entry(&mut self, position: usize, index: u32) {
        self.free_stack[position] = index;
    }

    fn corrupt_stack_position(&mut self, frame: Frame, position: u32) {
        let index = self.index_of(frame).unwrap();
        self.stack_positions[index] = position;
    }
}

// --- construction -------------------------------------------------------------------------------------

#[test]
fn new_table_is_all_reserved() {
    let table = reserved_table(0x80, 16);
    assert_eq!(table.span(), frames(0x80, 0x90));
    assert_eq!(table.frame_count(), 16);
    for number in 0x80..0x90 {
        assert_eq!(table.state(frame(number)), FrameState::Reserved);
        assert_eq!(table.refcount(frame(number)), None);
    }
    assert_eq!(table.counters(), FrameCounters { reserved: 16, ..FrameCounters::default() });
    assert_clean(&table);
}

#[test]
fn frames_beyond_the_span_are_outside() {
    let table = free_table(0x80, 16);
    assert_eq!(table.state(frame(0x7f)), FrameState::Outside);
    assert_eq!(table.state(frame(0x90)), FrameState::Outside);
    assert_eq!(table.state(frame(0)), FrameState::Outside);
    assert_eq!(table.state(frame(Frame::MAX_NUMBER)), FrameState::Outside);
    assert_eq!(table.refcount(frame(0x90)), None);
    assert_eq!(table.state(frame(0x80)), FrameState::Free);
    assert_eq!(table.state(frame(0x8f)), FrameState::Free);
}

#[test]
fn new_needs_storage_words() {
    let mut storage = vec![0; storage_words(10) - 1];
    assert_eq!(
        FrameTable::new(frame(0), 10, &mut storage).unwrap_err(),
        TableError::StorageTooSmall { needed: 30, provided: 29 }
    );
    storage.push(0);
    assert!(FrameTable::new(frame(0), 10, &mut storage).is_ok());
}

#[test]
fn new_leaves_extra_storage_alone() {
    let mut storage = vec![7; storage_words(4) + 3];
    let mut table = FrameTable::new(frame(0), 4, &mut storage).unwrap();
    table.add_free_range(table.span()).unwrap();
    assert_eq!(storage[storage_words(4)..], [7, 7, 7]);
}

#[test]
fn new_rejects_impossible_spans() {
    assert_eq!(
        FrameTable::new(frame(0), FrameTable::MAX_FRAMES + 1, &mut []).unwrap_err(),
        TableError::TooManyFrames { frame_count: FrameTable::MAX_FRAMES + 1 }
    );
    assert_eq!(
        FrameTable::new(frame(Frame::MAX_NUMBER - 1), 2, &mut [0; 6]).unwrap_err(),
        TableError::SpanBeyondAddressSpace
    );
    assert!(FrameTable::new(frame(Frame::MAX_NUMBER - 1), 1, &mut [0; 3]).is_ok());
}

#[test]
fn empty_table_works() {
    let mut table = FrameTable::new(frame(5), 0, &mut []).unwrap();
    assert_eq!(table.alloc(), Err(OutOfFrames));
    assert_eq!(table.state(frame(5)), FrameState::Outside);
    assert_eq!(table.counters(), FrameCounters::default());
    assert_clean(&table);
}

// --- add_free_range -----------------------------------------------------------------------------------

#[test]
fn added_frames_become_free_and_allocate_lowest_first() {
    let mut table = reserved_table(0x80, 16);
    table.add_free_range(frames(0x84, 0x88)).unwrap();
    assert_eq!(table.state(frame(0x83)), FrameState::Reserved);
    assert_eq!(table.state(frame(0x84)), FrameState::Free);
    assert_eq!(table.refcount(frame(0x87)), Some(0));
    assert_eq!(table.state(frame(0x88)), FrameState::Reserved);
    let counters = table.counters();
    assert_eq!((counters.total, counters.free, counters.reserved), (4, 4, 12));
    let allocated: Vec<u64> = (0..4).map(|_| table.alloc().unwrap().number()).collect();
    assert_eq!(allocated, [0x84, 0x85, 0x86, 0x87]);
    assert_clean(&table);
}

#[test]
fn empty_range_adds_nothing() {
    let mut table = reserved_table(0x80, 16);
    table.add_free_range(frames(0x84, 0x84)).unwrap();
    // An empty range is fine even outside the span: nothing is named.
    table.add_free_range(frames(0x1000, 0x1000)).unwrap();
    assert_eq!(table.counters().total, 0);
}

#[test]
fn add_free_range_rejects_frames_outside_the_span() {
    let mut table = reserved_table(0x80, 16);
    assert_eq!(table.add_free_range(frames(0x7f, 0x82)), Err(FrameError::OutsideSpan(frame(0x7f))));
    assert_eq!(table.add_free_range(frames(0x8e, 0x91)), Err(FrameError::OutsideSpan(frame(0x90))));
    assert_eq!(table.add_free_range(frames(0x100, 0x101)), Err(FrameError::OutsideSpan(frame(0x100))));
    assert_eq!(table.state(frame(0x8e)), FrameState::Reserved, "a failed call must change nothing");
    assert_eq!(table.counters().total, 0);
    table.add_free_range(frames(0x8e, 0x90)).unwrap();
}

#[test]
fn add_free_range_rejects_managed_frames_and_changes_nothing() {
    let mut table = reserved_table(0x80, 16);
    table.add_free_range(frames(0x84, 0x88)).unwrap();
    let used = table.alloc().unwrap();
    let before = table.counters();
    assert_eq!(table.add_free_range(frames(0x80, 0x85)), Err(FrameError::AlreadyManaged(used)));
    assert_eq!(table.add_free_range(frames(0x86, 0x8a)), Err(FrameError::AlreadyManaged(frame(0x86))));
    assert_eq!(table.counters(), before);
    assert_eq!(table.state(frame(0x80)), FrameState::Reserved);
    assert_eq!(table.state(frame(0x89)), FrameState::Reserved);
    assert_clean(&table);
}

#[test]
fn add_free_range_rejects_reversed_range() {
    let mut table = reserved_table(0x80, 16);
    assert_eq!(
        table.add_free_range(frames(0x88, 0x84)),
        Err(FrameError::ReversedRange { start: frame(0x88), end: frame(0x84) })
    );
}

// --- alloc --------------------------------------------------------------------------------------------

#[test]
fn alloc_gives_one_holder() {
    let mut table = free_table(0x80, 4);
    let allocated = table.alloc().unwrap();
    assert_eq!(table.state(allocated), FrameState::Used(1));
    assert_eq!(table.refcount(allocated), Some(1));
    let counters = table.counters();
    assert_eq!((counters.free, counters.used, counters.references, counters.allocations), (3, 1, 1, 1));
    assert_clean(&table);
}

#[test]
fn alloc_reuses_the_most_recently_freed_frame() {
    let mut table = free_table(0x80, 4);
    let first = table.alloc().unwrap();
    let second = table.alloc().unwrap();
    assert_ne!(first, second);
    assert_eq!(table.release(first), Ok(Release::Freed));
    assert_eq!(table.alloc(), Ok(first));
}

#[test]
fn exhaustion_then_recovery() {
    let mut table = free_table(0x80, 8);
    let mut allocated: Vec<Frame> = (0..8).map(|_| table.alloc().unwrap()).collect();
    assert_eq!(table.alloc(), Err(OutOfFrames));
    assert_eq!(table.alloc(), Err(OutOfFrames), "a failed alloc must not disturb the table");
    assert_eq!(table.counters().allocations, 8);
    allocated.sort();
    allocated.dedup();
    assert_eq!(allocated.len(), 8, "no frame may be handed out twice");
    assert_clean(&table);

    for &frame in &allocated[2..5] {
        assert_eq!(table.release(frame), Ok(Release::Freed));
    }
    let mut again: Vec<Frame> = (0..3).map(|_| table.alloc().unwrap()).collect();
    again.sort();
    assert_eq!(again, allocated[2..5]);
    assert_eq!(table.alloc(), Err(OutOfFrames));
    let counters = table.counters();
    assert_eq!((counters.allocations, counters.frees, counters.used, counters.free), (11, 3, 8, 0));
    assert_clean(&table);
}

// --- share and release --------------------------------------------------------------------------------

#[test]
fn share_counts_holders() {
    let mut table = free_table(0x80, 4);
    let page = table.alloc().unwrap();
    assert_eq!(table.share(page), Ok(2));
    assert_eq!(table.share(page), Ok(3));
    assert_eq!(table.state(page), FrameState::Used(3));
    let counters = table.counters();
    assert_eq!(
        (counters.used, counters.shared, counters.references),
        (1, 1, 3),
        "one shared frame, counted once"
    );
    assert_eq!(counters.frames_saved_by_sharing(), 2);
    assert_clean(&table);
}

#[test]
fn release_drops_holders_until_freed() {
    let mut table = free_table(0x80, 4);
    let page = table.alloc().unwrap();
    table.share(page).unwrap();
    table.share(page).unwrap();
    assert_eq!(table.release(page), Ok(Release::StillHeld(2)));
    assert_eq!(table.counters().shared, 1);
    assert_eq!(table.release(page), Ok(Release::StillHeld(1)));
    assert_eq!(table.counters().shared, 0, "a frame with one holder is no longer shared");
    assert_clean(&table);
    assert_eq!(table.release(page), Ok(Release::Freed));
    assert_eq!(table.state(page), FrameState::Free);
    let counters = table.counters();
    assert_eq!((counters.free, counters.used, counters.references, counters.frees), (4, 0, 0, 1));
    assert_clean(&table);
}

#[test]
fn double_free_is_reported_and_changes_nothing() {
    let mut table = free_table(0x80, 4);
    let page = table.alloc().unwrap();
    assert_eq!(table.release(page), Ok(Release::Freed));
    let before = table.counters();
    assert_eq!(table.release(page), Err(FrameError::NotAllocated(page)));
    assert_eq!(table.counters(), before);
    assert_clean(&table);
    // Had the double free pushed the frame again, it would now come out of alloc twice.
    let mut allocated: Vec<Frame> = (0..4).map(|_| table.alloc().unwrap()).collect();
    allocated.sort();
    allocated.dedup();
    assert_eq!(allocated.len(), 4);
    assert_eq!(table.alloc(), Err(OutOfFrames));
}

#[test]
fn sharing_a_free_frame_is_an_error() {
    let mut table = free_table(0x80, 4);
    assert_eq!(table.share(frame(0x81)), Err(FrameError::NotAllocated(frame(0x81))));
    assert_eq!(table.state(frame(0x81)), FrameState::Free);
    assert_clean(&table);
}

#[test]
fn share_all_adds_a_holder_to_each_or_to_none() {
    let mut table = free_table(0x80, 4);
    let [a, b] = [table.alloc().unwrap(), table.alloc().unwrap()];
    // A frame twice (two pages of one table map it) gains two holders.
    table.share_all([a, b, a].into_iter()).unwrap();
    assert_eq!((table.refcount(a), table.refcount(b)), (Some(3), Some(2)));
    let before = table.counters();
    // A free frame in the middle: the holders added before it are dropped again.
    let free = frame(0x83);
    assert_eq!(table.share_all([a, b, free, a].into_iter()), Err(FrameError::NotAllocated(free)));
    assert_eq!((table.refcount(a), table.refcount(b)), (Some(3), Some(2)));
    assert_eq!(table.counters(), before);
    assert_clean(&table);
}

#[test]
fn share_all_refuses_reserved_and_outside_frames_with_their_errors_and_changes_nothing() {
    let mut table = reserved_table(0x80, 4);
    table.add_free_range(frames(0x80, 0x82)).unwrap();
    let [a, b] = [table.alloc().unwrap(), table.alloc().unwrap()];
    table.share(b).unwrap();
    let before = table.counters();
    for (bad, error) in [
        (frame(0x83), FrameError::Reserved(frame(0x83))),
        (frame(0x84), FrameError::OutsideSpan(frame(0x84))),
        (frame(0x7f), FrameError::OutsideSpan(frame(0x7f))),
    ] {
        assert_eq!(table.share_all([a, b, a, bad, b].into_iter()), Err(error));
        assert_eq!((table.refcount(a), table.refcount(b)), (Some(1), Some(2)));
        assert_eq!(table.counters(), before);
    }
    // The shared count follows the frames that reached two holders, once each.
    table.share_all([a, a, b].into_iter()).unwrap();
    assert_eq!(table.counters().shared, before.shared + 1);
    assert_eq!(table.counters().references, before.references + 3);
}

#[test]
fn release_all_drops_a_holder_of_each_and_counts_what_it_freed() {
    let mut table = free_table(0x80, 4);
    let [a, b, c] = [table.alloc().unwrap(), table.alloc().unwrap(), table.alloc().unwrap()];
    table.share_all([a, a, b].into_iter()).unwrap();
    // a: 3 holders, b: 2, c: 1. Two of a's go, one of b's and c's only one: c alone is freed.
    assert_eq!(table.release_all([a, b, a, c].into_iter()), Ok(1));
    assert_eq!([a, b, c].map(|f| table.refcount(f)), [Some(1), Some(1), Some(0)]);
    // A frame freed a moment ago is a double release: the error names it, the frames before it went.
    assert_eq!(table.release_all([b, c, a].into_iter()), Err(FrameError::NotAllocated(c)));
    assert_eq!([a, b].map(|f| table.refcount(f)), [Some(1), Some(0)]);
    assert_eq!(table.release_all([a].into_iter()), Ok(1));
    assert_eq!(table.counters().used, 0);
    assert_clean(&table);
}

#[test]
fn reserved_and_outside_frames_cannot_be_shared_or_released() {
    let mut table = reserved_table(0x80, 4);
    table.add_free_range(frames(0x80, 0x82)).unwrap();
    for result in [table.share(frame(0x83)).map(drop), table.release(frame(0x83)).map(drop)] {
        assert_eq!(result, Err(FrameError::Reserved(frame(0x83))));
    }
    for result in [table.share(frame(0x84)).map(drop), table.release(frame(0x7f)).map(drop)] {
        assert!(matches!(result, Err(FrameError::OutsideSpan(_))), "{result:?}");
    }
    assert_eq!(table.counters().references, 0);
    assert_clean(&table);
}

#[test]
fn share_stops_at_the_refcount_limit() {
    let mut table = free_table(0x80, 4);
    let page = table.alloc().unwrap();
    // Four billion shares would take too long: jump close to the limit.
    table.corrupt_refcount(page, FrameTable::MAX_REFCOUNT - 1);
    assert_eq!(table.share(page), Ok(FrameTable::MAX_REFCOUNT));
    assert_eq!(table.share(page), Err(FrameError::RefcountOverflow(page)));
    assert_eq!(
        table.state(page),
        FrameState::Used(FrameTable::MAX_REFCOUNT),
        "not turned into a reserved frame"
    );
    assert_eq!(table.release(page), Ok(Release::StillHeld(FrameTable::MAX_REFCOUNT - 1)));
}

// --- layouts like real boards -------------------------------------------------------------------------

/// A 2 GiB Raspberry Pi 4: the ARM sees RAM at [0, 0x3b40_0000) and [0x4000_0000, 0x8000_0000), with the
/// GPU's memory in between; the kernel image sits at 0x8_0000. One table spans it all, hole included.
#[test]
fn raspberry_pi_4_memory_with_a_hole() {
    let ram = [(0x0, 0x3b40_0000), (0x4000_0000, 0x8000_0000)];
    let kernel = (0x8_0000, 0x20_0000);
    let end = Frame::containing(PhysAddr::new(0x8000_0000));
    let span_frames = end.number() as usize;
    let mut table =
        FrameTable::new(frame(0), span_frames, garbage_storage(storage_words(span_frames))).unwrap();
    let low = Frame::range_inside(PhysAddr::new(ram[0].0), PhysAddr::new(ram[0].1));
    let kernel_frames = Frame::range_inside(PhysAddr::new(kernel.0), PhysAddr::new(kernel.1));
    table.add_free_range(low.start..kernel_frames.start).unwrap();
    table.add_free_range(kernel_frames.end..low.end).unwrap();
    let high = Frame::range_inside(PhysAddr::new(ram[1].0), PhysAddr::new(ram[1].1));
    table.add_free_range(high.clone()).unwrap();

    let hole = low.end..high.start;
    assert_eq!(table.state(hole.start), FrameState::Reserved);
    assert_eq!(table.state(frame(hole.end.number() - 1)), FrameState::Reserved);
    assert_eq!(table.state(kernel_frames.start), FrameState::Reserved);
    let hole_len = (hole.end.number() - hole.start.number()) as usize;
    let kernel_len = (kernel_frames.end.number() - kernel_frames.start.number()) as usize;
    let managed = span_frames - hole_len - kernel_len;
    let counters = table.counters();
    assert_eq!((counters.total, counters.free, counters.reserved), (managed, managed, hole_len + kernel_len));
    assert_clean(&table);

    let mut allocated = 0;
    while let Ok(page) = table.alloc() {
        assert!(!hole.contains(&page) && !kernel_frames.contains(&page), "allocated reserved {page}");
        allocated += 1;
    }
    assert_eq!(allocated, managed);
    assert_eq!(table.release(hole.start), Err(FrameError::Reserved(hole.start)));
    assert_clean(&table);
}

/// A memory region that starts in the middle of a page: only its whole frames go into the table, and the
/// partial frame below them is outside the span.
#[test]
fn span_of_a_region_with_a_partial_first_page() {
    let ram = Frame::range_inside(PhysAddr::new(0x1000_0800), PhysAddr::new(0x1001_0000));
    assert_eq!(ram, frames(0x10001, 0x10010));
    let mut table = FrameTable::new(ram.start, 15, garbage_storage(storage_words(15))).unwrap();
    table.add_free_range(ram.clone()).unwrap();
    assert_eq!(table.counters().total, 15);
    assert_eq!(table.add_free_range(frames(0x10000, 0x10001)), Err(FrameError::OutsideSpan(frame(0x10000))));
}

// --- audit --------------------------------------------------------------------------------------------

/// A table with free, used and shared frames and a reserved hole: somewhere for corruption to hide.
fn busy_table() -> FrameTable<'static> {
    let mut table = reserved_table(0x80, 16);
    // The range added last is allocated first: this way 0x80, 0x81 and 0x82 are allocated below.
    table.add_free_range(frames(0x8a, 0x90)).unwrap();
    table.add_free_range(frames(0x80, 0x86)).unwrap();
    let a = table.alloc().unwrap();
    let b = table.alloc().unwrap();
    table.alloc().unwrap();
    table.share(a).unwrap();
    assert_eq!(table.release(b), Ok(Release::Freed));
    table
}

#[test]
fn busy_table_audits_clean() {
    let table = busy_table();
    let report = table.audit();
    assert!(report.is_clean());
    assert_eq!(report.violation_count(), 0);
    assert_eq!(report.violations().count(), 0);
    assert_eq!(report.to_string(), "frame table audit: clean");
}

#[test]
fn audit_detects_a_used_frame_on_the_free_stack() {
    let mut table = busy_table();
    let top = table.free_len - 1;
    let used = frame(0x80);
    assert_eq!(table.state(used), FrameState::Used(2));
    table.corrupt_free_stack_entry(top, 0);
    let found = violations(&table.audit());
    assert!(
        found.contains(&Violation::FreeStackEntryNotFree {
            position: top,
            frame: used,
            state: FrameState::Used(2)
        }),
        "{found:?}"
    );
}

#[test]
fn audit_detects_a_free_stack_entry_outside_the_span() {
    let mut table = busy_table();
    table.corrupt_free_stack_entry(0, 16);
    let found = violations(&table.audit());
    assert!(found.contains(&Violation::FreeStackEntryOutsideSpan { position: 0, index: 16 }), "{found:?}");
}

#[test]
fn audit_detects_a_frame_on_the_free_stack_twice() {
    let mut table = busy_table();
    // The frame that was at entry 1 still has refcount 0, so the counts alone look right: only the
    // duplicate shows that it has fallen off the stack.
    let duplicated = table.free_stack[0];
    table.corrupt_free_stack_entry(1, duplicated);
    let report = table.audit();
    assert_eq!(
        violations(&report),
        [Violation::FreeStackDuplicate {
            frame: frame(0x80) + duplicated as usize,
            position: 1,
            other_position: 0
        }]
    );
}

#[test]
fn audit_detects_a_wrong_stack_position() {
    let mut table = busy_table();
    let index = table.free_stack[2];
    let free_frame = frame(0x80) + index as usize;
    table.corrupt_stack_position(free_frame, 5000);
    assert_eq!(
        violations(&table.audit()),
        [Violation::StackPositionMismatch { frame: free_frame, position: 2, recorded: 5000 }]
    );
}

#[test]
fn audit_detects_a_corrupt_refcount() {
    let mut table = busy_table();
    table.corrupt_refcount(frame(0x80), 3);
    let found = violations(&table.audit());
    assert_eq!(
        found,
        [Violation::CounterMismatch { counter: Counter::References, recorded: 3, recounted: 4 }]
    );
}

#[test]
fn audit_detects_a_free_frame_marked_used() {
    let mut table = busy_table();
    let free_frame = frame(0x80) + table.free_stack[0] as usize;
    table.corrupt_refcount(free_frame, 1);
    let found = violations(&table.audit());
    let expected = [
        Violation::FreeStackEntryNotFree { position: 0, frame: free_frame, state: FrameState::Used(1) },
        Violation::CounterMismatch { counter: Counter::Free, recorded: 10, recounted: 9 },
        Violation::CounterMismatch { counter: Counter::Used, recorded: 2, recounted: 3 },
        Violation::CounterMismatch { counter: Counter::References, recorded: 3, recounted: 4 },
        Violation::CounterMismatch { counter: Counter::AllocationsMinusFrees, recorded: 2, recounted: 3 },
    ];
    assert_eq!(found, expected);
}

#[test]
fn audit_detects_a_reserved_frame_made_free_behind_its_back() {
    let mut table = busy_table();
    table.corrupt_refcount(frame(0x87), FREE);
    let found = violations(&table.audit());
    assert_eq!(
        found,
        [
            Violation::CounterMismatch { counter: Counter::Total, recorded: 12, recounted: 13 },
            Violation::CounterMismatch { counter: Counter::Free, recorded: 10, recounted: 11 },
        ]
    );
}

#[test]
fn audit_detects_each_corrupt_counter() {
    type Corruption = fn(&mut FrameTable<'static>);
    let corruptions: [(Counter, Corruption); 6] = [
        (Counter::Total, |t| t.managed += 1),
        (Counter::Free, |t| t.free_len -= 1),
        (Counter::Used, |t| t.used += 1),
        (Counter::Shared, |t| t.shared -= 1),
        (Counter::References, |t| t.references += 7),
        (Counter::AllocationsMinusFrees, |t| t.frees += 1),
    ];
    for (counter, corrupt) in corruptions {
        let mut table = busy_table();
        corrupt(&mut table);
        let found = violations(&table.audit());
        assert!(
            found.iter().any(|v| matches!(v, Violation::CounterMismatch { counter: c, .. } if *c == counter)),
            "{counter}: {found:?}"
        );
    }
}

#[test]
fn audit_survives_a_free_length_beyond_the_stack() {
    let mut table = busy_table();
    table.free_len = 1000;
    let report = table.audit();
    // The stale and garbage entries above the real top are reported too, but the length is the culprit.
    let free_mismatch = Violation::CounterMismatch { counter: Counter::Free, recorded: 1000, recounted: 10 };
    assert!(report.violations().any(|v| *v == free_mismatch), "{report}");
}

#[test]
fn audit_report_keeps_the_first_violations_and_counts_all() {
    let mut table = free_table(0, 20);
    for position in 0..20 {
        table.corrupt_free_stack_entry(position, 100 + position as u32);
    }
    let report = table.audit();
    assert_eq!(report.violation_count(), 20);
    let kept = violations(&report);
    assert_eq!(kept.len(), AuditReport::KEPT);
    assert_eq!(kept[0], Violation::FreeStackEntryOutsideSpan { position: 0, index: 100 });
    let text = report.to_string();
    assert!(
        text.starts_with("frame table audit: 20 violations\n  free stack entry 0 is index 100"),
        "{text}"
    );
    assert!(text.ends_with("\n  ... and 12 more"), "{text}");
}

#[test]
fn violations_print_the_frame_and_both_numbers() {
    let mismatch = Violation::HoldersMismatch { frame: frame(0x80), state: FrameState::Used(2), holders: 1 };
    assert_eq!(mismatch.to_string(), "frame 0x80 (0x80000): refcount 2, holders found: 1");
    let counter = Violation::CounterMismatch { counter: Counter::Used, recorded: 5, recounted: 4 };
    assert_eq!(counter.to_string(), "counter `used` is 5 but the table holds 4");
    let duplicate = Violation::FreeStackDuplicate { frame: frame(0x81), position: 3, other_position: 1 };
    assert_eq!(duplicate.to_string(), "frame 0x81 (0x81000): on the free stack twice (entries 1 and 3)");
}

// --- audit_holds --------------------------------------------------------------------------------------

#[test]
fn audit_holds_accepts_matching_holders() {
    let table = busy_table();
    let mut scratch = vec![0xffff_ffff; table.frame_count()];
    let mut expected = ExpectedHolds::for_table(&table, &mut scratch).unwrap();
    // busy_table: 0x80 has two holders, 0x82 one; 0x81 was freed.
    for number in [0x80, 0x82, 0x80] {
        expected.hold(frame(number));
    }
    assert!(table.audit_holds(&expected).is_clean());
}

#[test]
fn audit_holds_reports_every_disagreeing_frame() {
    let table = busy_table();
    let mut scratch = vec![0; table.frame_count()];
    let mut expected = ExpectedHolds::for_table(&table, &mut scratch).unwrap();
    // 0x80 (refcount 2) held once: an unaccounted reference. 0x82 (refcount 1) not held at all: a leak.
    // 0x81 is free but held: a use after free. 0x87 is reserved but held.
    for number in [0x80, 0x81, 0x87] {
        expected.hold(frame(number));
    }
    let report = table.audit_holds(&expected);
    assert_eq!(
        violations(&report),
        [
            Violation::HoldersMismatch { frame: frame(0x80), state: FrameState::Used(2), holders: 1 },
            Violation::HoldersMismatch { frame: frame(0x81), state: FrameState::Free, holders: 1 },
            Violation::HoldersMismatch { frame: frame(0x82), state: FrameState::Used(1), holders: 0 },
            Violation::HoldersMismatch { frame: frame(0x87), state: FrameState::Reserved, holders: 1 },
        ]
    );
}

#[test]
fn audit_holds_reports_holds_outside_the_span() {
    let table = busy_table();
    let mut scratch = vec![0; table.frame_count()];
    let mut expected = ExpectedHolds::for_table(&table, &mut scratch).unwrap();
    for number in [0x80, 0x82, 0x80, 0x90, 0x7f, 0x90] {
        expected.hold(frame(number));
    }
    assert_eq!(
        violations(&table.audit_holds(&expected)),
        [Violation::HeldOutsideSpan { frame: frame(0x90), holders: 3 }]
    );
}

#[test]
#[should_panic(expected = "another table")]
fn audit_holds_refuses_another_tables_expectation() {
    let table = busy_table();
    let other = reserved_table(0x88, 16);
    let mut scratch = vec![0; other.frame_count()];
    let expected = ExpectedHolds::for_table(&other, &mut scratch).unwrap();
    let _ = table.audit_holds(&expected);
}

#[test]
fn expected_holds_needs_a_word_per_frame() {
    let table = busy_table();
    let mut scratch = vec![0; 15];
    assert_eq!(
        ExpectedHolds::for_table(&table, &mut scratch).err(),
        Some(TableError::StorageTooSmall { needed: 16, provided: 15 })
    );
}

// --- printing -----------------------------------------------------------------------------------------

#[test]
fn counters_print_every_number() {
    let table = busy_table();
    assert_eq!(
        table.counters().to_string(),
        "frames: 12 managed (10 free, 2 used, 1 shared, 1 saved by sharing), 4 reserved; 3 allocations, 1 frees"
    );
}

#[test]
fn errors_name_the_frame() {
    assert_eq!(FrameError::NotAllocated(frame(0x80)).to_string(), "frame 0x80 (0x80000) is not allocated");
    assert_eq!(OutOfFrames.to_string(), "out of physical frames");
    assert_eq!(FrameState::Used(3).to_string(), "refcount 3");
    let debug = format!("{:?}", busy_table());
    assert!(debug.starts_with("FrameTable { span: Frame(0x80)..Frame(0x90), counters: "), "{debug}");
}

// --- property test against a model --------------------------------------------------------------------

/// The table's span in the property test: two free ranges around a reserved hole, with reserved frames at
/// both ends too, so that random frame numbers hit every state.
const MODEL_FIRST: u64 = 100;
const MODEL_COUNT: usize = 24;
const MODEL_FREE_RANGES: [(u64, u64); 2] = [(102, 110), (114, 122)];

#[derive(Debug, Clone)]
enum Op {
    Alloc,
    /// Frame numbers are drawn from slightly beyond the span, so every error path is exercised.
    Share(u64),
    Release(u64),
    AddFreeRange(u64, u64),
}

fn op() -> impl Strategy<Value = Op> {
    let frame_number = (MODEL_FIRST - 2)..(MODEL_FIRST + MODEL_COUNT as u64 + 2);
    prop_oneof![
        3 => Just(Op::Alloc),
        3 => frame_number.clone().prop_map(Op::Share),
        4 => frame_number.clone().prop_map(Op::Release),
        1 => (frame_number.clone(), frame_number).prop_map(|(start, end)| Op::AddFreeRange(start, end)),
    ]
}

/// What the table should contain, kept the obvious way.
struct Model {
    free: BTreeSet<Frame>,
    holders: BTreeMap<Frame, u32>,
    allocations: u64,
    frees: u64,
}

impl Model {
    fn state(&self, frame: Frame) -> FrameState {
        let span = frame.number() >= MODEL_FIRST && frame.number() < MODEL_FIRST + MODEL_COUNT as u64;
        if !span {
            FrameState::Outside
        } else if self.free.contains(&frame) {
            FrameState::Free
        } else if let Some(&holders) = self.holders.get(&frame) {
            FrameState::Used(holders)
        } else {
            FrameState::Reserved
        }
    }

    /// The error an operation on `frame` must fail with, if any: the same for share and release.
    fn refusal(&self, frame: Frame) -> Option<FrameError> {
        match self.state(frame) {
            FrameState::Outside => Some(FrameError::OutsideSpan(frame)),
            FrameState::Reserved => Some(FrameError::Reserved(frame)),
            FrameState::Free => Some(FrameError::NotAllocated(frame)),
            FrameState::Used(_) => None,
        }
    }

    fn counters(&self) -> FrameCounters {
        let used = self.holders.len();
        FrameCounters {
            total: self.free.len() + used,
            free: self.free.len(),
            used,
            shared: self.holders.values().filter(|&&holders| holders > 1).count(),
            reserved: MODEL_COUNT - self.free.len() - used,
            references: self.holders.values().map(|&holders| u64::from(holders)).sum(),
            allocations: self.allocations,
            frees: self.frees,
        }
    }

    fn apply(&mut self, table: &mut FrameTable<'_>, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Alloc => match table.alloc() {
                Ok(page) => {
                    prop_assert!(self.free.remove(&page), "allocated {page}, which was not free");
                    self.holders.insert(page, 1);
                    self.allocations += 1;
                }
                Err(OutOfFrames) => {
                    prop_assert!(self.free.is_empty(), "out of frames with frames free")
                }
            },
            Op::Share(number) => {
                let page = frame(number);
                let result = table.share(page);
                match self.refusal(page) {
                    Some(error) => prop_assert_eq!(result, Err(error)),
                    None => {
                        let holders = self.holders.get_mut(&page).unwrap();
                        *holders += 1;
                        prop_assert_eq!(result, Ok(*holders));
                    }
                }
            }
            Op::Release(number) => {
                let page = frame(number);
                let result = table.release(page);
                match self.refusal(page) {
                    Some(error) => prop_assert_eq!(result, Err(error)),
                    None => {
                        let holders = self.holders.get_mut(&page).unwrap();
                        *holders -= 1;
                        if *holders == 0 {
                            self.holders.remove(&page);
                            self.free.insert(page);
                            self.frees += 1;
                            prop_assert_eq!(result, Ok(Release::Freed));
                        } else {
                            prop_assert_eq!(result, Ok(Release::StillHeld(*holders)));
                        }
                    }
                }
            }
            Op::AddFreeRange(start, end) => {
                let result = table.add_free_range(frames(start, end));
                let range = start..end;
                let outside = range.clone().map(frame).find(|&f| self.state(f) == FrameState::Outside);
                let managed = range.clone().map(frame).find(|&f| self.state(f) != FrameState::Reserved);
                if end < start {
                    prop_assert!(matches!(result, Err(FrameError::ReversedRange { .. })), "{:?}", result);
                } else if let Some(first_outside) = outside {
                    prop_assert!(matches!(result, Err(FrameError::OutsideSpan(_))), "{:?}", result);
                    prop_assert!(self.state(first_outside) == FrameState::Outside);
                } else if let Some(first_managed) = managed {
                    prop_assert_eq!(result, Err(FrameError::AlreadyManaged(first_managed)));
                } else {
                    prop_assert_eq!(result, Ok(()));
                    self.free.extend(range.map(frame));
                }
            }
        }
        Ok(())
    }

    fn check(&self, table: &FrameTable<'_>) -> Result<(), TestCaseError> {
        for number in (MODEL_FIRST - 2)..(MODEL_FIRST + MODEL_COUNT as u64 + 2) {
            let page = frame(number);
            prop_assert_eq!(table.state(page), self.state(page), "state of {}", page);
        }
        prop_assert_eq!(table.counters(), self.counters());
        let report = table.audit();
        prop_assert!(report.is_clean(), "{}", report);

        let mut scratch = vec![0; MODEL_COUNT];
        let mut expected = ExpectedHolds::for_table(table, &mut scratch).unwrap();
        for (&page, &holders) in &self.holders {
            for _ in 0..holders {
                expected.hold(page);
            }
        }
        let report = table.audit_holds(&expected);
        prop_assert!(report.is_clean(), "{}", report);
        Ok(())
    }
}

proptest! {
    #[test]
    fn random_operations_match_the_model(ops in proptest::collection::vec(op(), 0..300)) {
        let mut table = reserved_table(MODEL_FIRST, MODEL_COUNT);
        let mut model = Model { free: BTreeSet::new(), holders: BTreeMap::new(), allocations: 0, frees: 0 };
        for (start, end) in MODEL_FREE_RANGES {
            table.add_free_range(frames(start, end)).unwrap();
            model.free.extend((start..end).map(frame));
        }
        model.check(&table)?;
        for op in &ops {
            model.apply(&mut table, op)?;
            model.check(&table)?;
        }
    }
}
