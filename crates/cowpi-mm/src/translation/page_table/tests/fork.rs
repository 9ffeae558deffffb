//! Tests of fork: what the child maps and with which flags, exactly which parent pages are invalidated,
//! failures midway that leave both sides consistent and leak nothing, and a property test that forks a
//! random address space and then resolves random writes on either side with [`crate::cow`], against a
//! model of physical memory in which a write in one space must never show in the other.

use std::collections::HashMap;
use std::format;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::cow::{WriteFault, decide_write_fault};
use crate::frame_table::FrameError;

/// The child's tables are numbered from here, apart from the parent's.
const CHILD_FIRST_TABLE: u64 = 0x200;

const COW: PageFlags = PageFlags::USER_READ_WRITE.copy_on_write();
const ZERO_PAGE: PageFlags = PageFlags { zero_page: true, ..PageFlags::USER_READ_ONLY };
const MERGED: PageFlags = PageFlags { ksm_merged: true, ..PageFlags::USER_READ_ONLY };
/// A zero page that page merging made: the child gets both marks, so the kernel counts it there too.
const KSM_ZERO: PageFlags = PageFlags { ksm_merged: true, ..ZERO_PAGE };

/// A fresh child that never ran (no ASID), allowed `allocations` table frames (its root included).
fn child_with_limit(allocations: Option<usize>) -> (Tables, Log) {
    let log = Log::default();
    let memory = HostMemory {
        tables: HashMap::new(),
        next_number: CHILD_FIRST_TABLE,
        allocations_left: allocations,
        reads: 0,
        log: log.clone(),
    };
    let child = Tables::new(memory, RecordingTlb { log: log.clone(), asid: None }).unwrap();
    log.borrow_mut().clear();
    (child, log)
}

fn invalidated_pages(events: &[Event]) -> Vec<Page> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Invalidate(_, page) => Some(*page),
            _ => None,
        })
        .collect()
}

fn descriptor(flags: PageFlags, frame_number: u64) -> u64 {
    flags.to_descriptor(frame(frame_number)).unwrap()
}

#[test]
fn fork_shares_every_frame_and_makes_writable_pages_cow_in_both() {
    let (mut parent, parent_log) = tables();
    let before = [
        (page_at(0, 0, 0), frame(0x80000), PageFlags::USER_READ_WRITE),
        (page_at(0, 0, 1), frame(0x80001), PageFlags::USER_READ_ONLY),
        (page_at(0, 0, 2), frame(0x80002), PageFlags::USER_READ_EXECUTE),
        (page_at(0, 1, 0), frame(0x80003), COW),
        (page_at(1, 0, 0), frame(0x70000), ZERO_PAGE),
        (page_at(1, 0, 1), frame(0x80004), MERGED),
        (page_at(1, 0, 2), frame(0x70000), KSM_ZERO),
        (page_at(511, 511, 511), frame(0x80005), PageFlags::USER_READ_WRITE),
    ];
    for (page, frame, flags) in before {
        parent.map(page, frame, flags).unwrap();
    }
    take(&parent_log);
    let (mut child, child_log) = child_with_limit(None);
    let mut shared = Vec::new();
    let counts = parent.share_into(&mut child, |frame, flags| {
        shared.push((frame, flags));
        Ok::<(), ()>(())
    });
    assert_eq!(counts, Ok(ForkCounts { pages_shared: 8, pages_made_cow: 2, tables_shared: 0 }));
    // Only the two writable pages changed in the parent: in place (same frame, AP=0b11 and the COW bit),
    // then one invalidation of the whole ASID for both; no break, no table allocated or freed.
    assert_eq!(
        take(&parent_log),
        [
            write(table(2), 0, descriptor(COW, 0x80000)),
            write(table(7), 511, descriptor(COW, 0x80005)),
            Event::InvalidateAsid(ASID),
        ]
    );
    let after: Vec<_> = before
        .iter()
        .map(|&(page, frame, flags)| {
            (page, frame, if flags.writable { flags.copy_on_write() } else { flags })
        })
        .collect();
    assert_eq!(mappings(&mut parent), after);
    assert_eq!(mappings(&mut child), after);
    // One reference per child mapping, in address order, each told the child mapping's flags.
    assert_eq!(shared, after.iter().map(|&(_, frame, flags)| (frame, flags)).collect::<Vec<_>>());
    assert_eq!(child.table_frames(), parent.table_frames());
    // The child never ran: nothing of it can be in a TLB.
    assert!(invalidated_pages(&take(&child_log)).is_empty());
}

#[test]
fn a_fork_of_a_fork_changes_nothing_in_the_parent() {
    let (mut parent, parent_log) = tables();
    parent.map(page(1), frame(0x80000), PageFlags::USER_READ_WRITE).unwrap();
    let (mut child, _) = child_with_limit(None);
    parent.share_into(&mut child, |_, _| Ok::<(), ()>(())).unwrap();
    take(&parent_log);
    let (mut grandchild, _) = child_with_limit(None);
    let counts = parent.share_into(&mut grandchild, |_, _| Ok::<(), ()>(())).unwrap();
    assert_eq!(counts, ForkCounts { pages_shared: 1, pages_made_cow: 0, tables_shared: 0 });
    assert!(take(&parent_log).is_empty());
    assert_eq!(mappings(&mut grandchild), [(page(1), frame(0x80000), COW)]);
}

#[test]
fn running_out_of_table_frames_midway_leaves_both_sides_consistent() {
    let (mut parent, parent_log) = tables();
    let pages = [page_at(0, 0, 0), page_at(1, 0, 0), page_at(2, 0, 0)];
    for (number, page) in pages.into_iter().enumerate() {
        parent.map(page, frame(0x80000 + number as u64), PageFlags::USER_READ_WRITE).unwrap();
    }
    take(&parent_log);
    // The root and the two tables of the first page; the second page needs two more.
    let (mut child, _) = child_with_limit(Some(3));
    let mut references = Vec::new();
    let result = parent.share_into(&mut child, |frame, _| {
        references.push(frame);
        Ok::<(), ()>(())
    });
    let error = result.unwrap_err();
    assert_eq!(error, ForkError::ChildMap { page: pages[1], error: MapError::OutOfFrames });
    assert!(error.is_out_of_frames());
    // The parent keeps every mapping on its frame; the page downgraded before the failure stays COW, the
    // rest are untouched (the child's tables are allocated before a parent table is touched), and the
    // downgrade is invalidated before fork returns.
    assert_eq!(
        mappings(&mut parent),
        [
            (pages[0], frame(0x80000), COW),
            (pages[1], frame(0x80001), PageFlags::USER_READ_WRITE),
            (pages[2], frame(0x80002), PageFlags::USER_READ_WRITE),
        ]
    );
    assert_eq!(
        take(&parent_log),
        [write(table(2), 0, descriptor(COW, 0x80000)), Event::InvalidateAsid(ASID)]
    );
    // Destroying the child drops exactly the references it was given and frees every table it had.
    let mut released = Vec::new();
    let (memory, _tlb) = child.destroy(|_, frame, _| released.push(frame));
    assert_eq!(released, references);
    assert_eq!(released, [frame(0x80000)]);
    assert!(memory.tables.is_empty());
}

#[test]
fn a_refused_reference_unmaps_that_page_from_the_child() {
    let (mut parent, _) = tables();
    parent.map(page_at(0, 0, 0), frame(0x80000), PageFlags::USER_READ_ONLY).unwrap();
    parent.map(page_at(3, 0, 0), frame(0x80001), PageFlags::USER_READ_ONLY).unwrap();
    let (mut child, _) = child_with_limit(None);
    let mut references = Vec::new();
    let result = parent.share_into(&mut child, |frame, _| {
        if frame == self::frame(0x80001) {
            return Err("refcount at its limit");
        }
        references.push(frame);
        Ok(())
    });
    assert_eq!(
        result,
        Err(ForkError::Share {
            page: page_at(3, 0, 0),
            frame: frame(0x80001),
            error: "refcount at its limit"
        })
    );
    // The refused page is gone from the child; the tables made for it stay, empty, until the child is
    // destroyed (what a failed fork does next).
    assert_eq!(mappings(&mut child), [(page_at(0, 0, 0), frame(0x80000), PageFlags::USER_READ_ONLY)]);
    assert_eq!(child.table_frames(), 5);
    let mut released = Vec::new();
    let (memory, _tlb) = child.destroy(|_, frame, _| released.push(frame));
    assert_eq!(released, references);
    assert!(memory.tables.is_empty());
}

#[test]
fn fork_refuses_a_child_that_maps_something() {
    let (mut parent, parent_log) = tables();
    parent.map(page(1), frame(0x80000), PageFlags::USER_READ_WRITE).unwrap();
    take(&parent_log);
    let (mut child, _) = child_with_limit(None);
    child.map(page(2), frame(0x80001), PageFlags::USER_READ_ONLY).unwrap();
    let result = parent.share_into(&mut child, |_, _| -> Result<(), ()> { panic!("nothing may be shared") });
    assert_eq!(result, Err(ForkError::ChildNotEmpty));
    assert!(take(&parent_log).is_empty());
    assert_eq!(mappings(&mut parent), [(page(1), frame(0x80000), PageFlags::USER_READ_WRITE)]);
}

#[test]
fn fork_refuses_device_memory_before_touching_it() {
    let (mut parent, parent_log) = tables();
    let device = PageFlags { memory: MemoryType::Device, ..PageFlags::USER_READ_WRITE };
    parent.map(page(1), frame(0x80000), PageFlags::USER_READ_ONLY).unwrap();
    parent.map(page(2), frame(0x3f000), device).unwrap();
    take(&parent_log);
    let (mut child, _) = child_with_limit(None);
    let result = parent.share_into(&mut child, |_, _| Ok::<(), ()>(()));
    assert_eq!(result, Err(ForkError::DeviceMemory(page(2))));
    assert!(take(&parent_log).is_empty());
    assert_eq!(parent.translate(page(2).start_address()), Some((frame(0x3f000), device)));
    // The table is looked through for device memory before any of it is shared: the child maps nothing.
    assert_eq!(mappings(&mut child), []);
}

#[test]
fn fork_errors_print() {
    let error: ForkError<FrameError> =
        ForkError::Share { page: page(1), frame: frame(2), error: FrameError::RefcountOverflow(frame(2)) };
    assert_eq!(
        format!("{error}"),
        "fork could not share frame 0x2 (0x2000) (at page 0x1 (0x1000)): frame 0x2 (0x2000) has too many holders"
    );
    let error: ForkError<FrameError> = ForkError::ChildMap { page: page(1), error: MapError::OutOfFrames };
    assert_eq!(
        format!("{error}"),
        "fork could not map page 0x1 (0x1000): out of frames for translation tables"
    );
}

// --- the property test ------------------------------------------------------------------------------

/// The shared zero frame. Its stamp is 0 and must stay 0.
const ZERO_FRAME: u64 = 0x70000;
/// Merged frames: one per merge group.
const FIRST_MERGED_FRAME: u64 = 0x60000;
/// Frames for private pages and for copies are handed out upwards from here.
const FIRST_DATA_FRAME: u64 = 0x80000;

/// What a parent page starts as.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Private(PageFlags),
    /// Copy-on-write from an earlier fork whose other side has gone: one holder.
    LoneCow,
    ZeroPage,
    /// Merged with the other pages of its group.
    Merged(u64),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::Private(PageFlags::USER_READ_WRITE)),
        1 => Just(Kind::Private(PageFlags::USER_READ_ONLY)),
        1 => Just(Kind::Private(PageFlags::USER_READ_EXECUTE)),
        1 => Just(Kind::Private(PageFlags::USER_NO_ACCESS)),
        1 => Just(Kind::LoneCow),
        1 => Just(Kind::ZeroPage),
        1 => (0..3u64).prop_map(Kind::Merged),
    ]
}

/// Physical memory as the test sees it: each data frame's contents, reduced to one stamp, and its
/// holders, as the kernel's frame table would count them.
struct PhysicalMemory {
    stamps: HashMap<Frame, u64>,
    refcounts: HashMap<Frame, u32>,
    next_frame: u64,
}

impl PhysicalMemory {
    fn new() -> PhysicalMemory {
        let zero = frame(ZERO_FRAME);
        // The kernel keeps a reference to the zero frame of its own.
        PhysicalMemory {
            stamps: HashMap::from([(zero, 0)]),
            refcounts: HashMap::from([(zero, 1)]),
            next_frame: FIRST_DATA_FRAME,
        }
    }

    fn alloc(&mut self, stamp: u64) -> Frame {
        let new = frame(self.next_frame);
        self.next_frame += 1;
        self.stamps.insert(new, stamp);
        self.refcounts.insert(new, 1);
        new
    }

    fn share(&mut self, frame: Frame) {
        *self.refcounts.entry(frame).or_insert(0) += 1;
    }

    fn release(&mut self, frame: Frame) {
        let refcount = self.refcounts.get_mut(&frame).expect("release of a free frame");
        *refcount -= 1;
        if *refcount == 0 {
            self.refcounts.remove(&frame);
            self.stamps.remove(&frame);
        }
    }

    fn refcount(&self, frame: Frame) -> u32 {
        self.refcounts.get(&frame).copied().unwrap_or(0)
    }
}

/// A task writes `value` to `page`, the kernel resolving the write fault first if there is one, as the
/// fault handler will. Returns whether the write happened (it does not if it was denied).
fn write_page(
    space: &mut Tables,
    memory: &mut PhysicalMemory,
    page: Page,
    value: u64,
) -> Result<bool, TestCaseError> {
    let (old_frame, flags) = space.translate(page.start_address()).unwrap();
    let target = if flags.writable {
        old_frame
    } else {
        match decide_write_fault(flags, memory.refcount(old_frame)) {
            Ok(WriteFault::Reuse { flags: resolved }) => {
                prop_assert_eq!(space.protect(page, resolved), Ok(flags));
                old_frame
            }
            Ok(WriteFault::Copy { flags: resolved }) => {
                let copy = memory.alloc(memory.stamps[&old_frame]);
                prop_assert_eq!(space.replace(page, copy, resolved), Ok((old_frame, flags)));
                memory.release(old_frame);
                copy
            }
            Ok(WriteFault::ZeroFill { flags: resolved }) => {
                prop_assert_eq!(old_frame, frame(ZERO_FRAME));
                let zeroed = memory.alloc(0);
                prop_assert_eq!(space.replace(page, zeroed, resolved), Ok((old_frame, flags)));
                memory.release(old_frame);
                zeroed
            }
            Ok(WriteFault::Denied) => {
                prop_assert!(!flags.logically_writable(), "{:?} denied", flags);
                return Ok(false);
            }
            Err(error) => {
                prop_assert!(false, "{:?} with refcount {}: {}", flags, memory.refcount(old_frame), error);
                unreachable!()
            }
        }
    };
    memory.stamps.insert(target, value);
    Ok(true)
}

/// Every page of both spaces reads what was last written to it in that space; every frame's refcount is
/// its number of mappings (plus the kernel's own on the zero frame); and no frame is writable through a
/// mapping while any other mapping holds it.
fn check_memory(
    spaces: &mut [Tables; 2],
    expected: &[BTreeMap<Page, u64>; 2],
    memory: &PhysicalMemory,
) -> Result<(), TestCaseError> {
    let mut holders: HashMap<Frame, u32> = HashMap::from([(frame(ZERO_FRAME), 1)]);
    let mut writable = Vec::new();
    for (space, expected) in spaces.iter_mut().zip(expected) {
        let found = mappings(space);
        prop_assert_eq!(found.len(), expected.len());
        for ((page, frame, flags), (&expected_page, &stamp)) in found.into_iter().zip(expected) {
            prop_assert_eq!(page, expected_page);
            prop_assert_eq!(memory.stamps.get(&frame), Some(&stamp), "{} in {}", page, frame);
            *holders.entry(frame).or_insert(0) += 1;
            if flags.writable {
                writable.push(frame);
            }
        }
    }
    prop_assert_eq!(&holders, &memory.refcounts);
    for frame in writable {
        prop_assert_eq!(holders[&frame], 1, "{} is writable and shared", frame);
    }
    prop_assert_eq!(memory.stamps[&frame(ZERO_FRAME)], 0);
    Ok(())
}

proptest! {
    #[test]
    fn after_fork_a_write_in_one_space_never_shows_in_the_other(
        layout in proptest::collection::btree_map(interesting_page(), kind(), 1..40),
        writes in proptest::collection::vec((any::<bool>(), any::<prop::sample::Index>()), 0..60),
    ) {
        let mut memory = PhysicalMemory::new();
        let (mut parent, parent_log) = tables();
        let mut parent_expected = BTreeMap::new();
        let mut writable_before = Vec::new();
        for (&page, &kind) in &layout {
            let (frame, flags) = match kind {
                Kind::Private(flags) => (memory.alloc(page.number()), flags),
                Kind::LoneCow => (memory.alloc(page.number()), COW),
                Kind::ZeroPage => (frame(ZERO_FRAME), ZERO_PAGE),
                Kind::Merged(group) => {
                    let merged = frame(FIRST_MERGED_FRAME + group);
                    memory.stamps.insert(merged, 0x5eed_0000 + group);
                    (merged, MERGED)
                }
            };
            if !matches!(kind, Kind::Private(_) | Kind::LoneCow) {
                memory.share(frame);
            }
            if flags.writable {
                writable_before.push(page);
            }
            parent.map(page, frame, flags).unwrap();
            parent_expected.insert(page, memory.stamps[&frame]);
        }
        take(&parent_log);

        let (mut child, child_log) = child_with_limit(None);
        let counts = parent.share_into(&mut child, |frame, _| {
            memory.share(frame);
            Ok::<(), ()>(())
        });
        prop_assert_eq!(counts, Ok(ForkCounts { pages_shared: layout.len(), pages_made_cow: writable_before.len(), tables_shared: 0 }));
        // The parent's TLB was invalidated once, ASID-wide, if it lost write access anywhere; the child's
        // never.
        let parent_events = take(&parent_log);
        let asid_flushes = parent_events.iter().filter(|event| matches!(event, Event::InvalidateAsid(_))).count();
        prop_assert_eq!(asid_flushes, usize::from(!writable_before.is_empty()));
        prop_assert!(invalidated_pages(&parent_events).is_empty());
        prop_assert!(invalidated_pages(&take(&child_log)).is_empty());
        let parent_mappings = mappings(&mut parent);
        prop_assert_eq!(&mappings(&mut child), &parent_mappings);
        prop_assert!(parent_mappings.iter().all(|(_, _, flags)| !flags.writable));

        let pages: Vec<Page> = layout.keys().copied().collect();
        let mut spaces = [parent, child];
        let mut expected = [parent_expected.clone(), parent_expected];
        check_memory(&mut spaces, &expected, &memory)?;
        for (step, (in_child, index)) in writes.into_iter().enumerate() {
            let side = usize::from(in_child);
            let page = pages[index.index(pages.len())];
            // A value no page held before, so that a leak cannot hide behind equal contents.
            let value = 0xc0de_0000_0000 + step as u64;
            if write_page(&mut spaces[side], &mut memory, page, value)? {
                expected[side].insert(page, value);
            }
            check_memory(&mut spaces, &expected, &memory)?;
        }

        // Tearing both down gives every reference back and frees every table.
        let [parent, child] = spaces;
        for space in [parent, child] {
            let (tables, _tlb) = space.destroy(|_, frame, _| memory.release(frame));
            prop_assert!(tables.tables.is_empty());
        }
        prop_assert_eq!(memory.refcounts, HashMap::from([(frame(ZERO_FRAME), 1)]));
    }
}
