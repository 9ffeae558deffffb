//! Tests of an address space's tables on host memory: the exact descriptors and the exact order of
//! stores, barriers and invalidations for each operation (break-before-make above all), table allocation
//! and freeing across level boundaries, refusals that change nothing, and a property test against a
//! `BTreeMap` model of the mappings. Fork has its own file, [`fork`].

extern crate std;

use std::boxed::Box;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::format;
use std::rc::Rc;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::translation::MemoryType;

mod fork;
mod share;

/// Something the tables did to memory or the TLB, in the order it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Alloc(Frame),
    Free(Frame),
    Write { table: Frame, index: usize, descriptor: u64 },
    Invalidate(Asid, Page),
    InvalidateAsid(Asid),
    Publish,
}

type Log = Rc<RefCell<Vec<Event>>>;

/// Tables in a `HashMap`, with an optional limit on allocations, logging every change.
struct HostMemory {
    tables: HashMap<Frame, Box<[u64; Level::ENTRIES]>>,
    next_number: u64,
    /// Allocations that may still succeed; `None` for no limit.
    allocations_left: Option<usize>,
    /// Table reads (`entries`): what walks cost.
    reads: usize,
    log: Log,
}

impl TableMemory for HostMemory {
    fn alloc_table(&mut self) -> Result<Frame, OutOfFrames> {
        if let Some(left) = &mut self.allocations_left {
            *left = left.checked_sub(1).ok_or(OutOfFrames)?;
        }
        let frame = Frame::from_number(self.next_number);
        self.next_number += 1;
        self.tables.insert(frame, Box::new([0; Level::ENTRIES]));
        self.log.borrow_mut().push(Event::Alloc(frame));
        Ok(frame)
    }

    fn free_table(&mut self, frame: Frame) {
        assert!(self.tables.remove(&frame).is_some(), "{frame} freed but not a live table");
        self.log.borrow_mut().push(Event::Free(frame));
    }

    fn entries(&mut self, table: Frame) -> &mut [u64; Level::ENTRIES] {
        self.reads += 1;
        self.tables.get_mut(&table).unwrap_or_else(|| panic!("{table} is not a live table"))
    }

    fn write_entry(&mut self, table: Frame, index: usize, descriptor: u64) {
        self.log.borrow_mut().push(Event::Write { table, index, descriptor });
        self.entries(table)[index] = descriptor;
    }
}

/// Records invalidations tagged with the ASID it holds, and none while it holds none (the space never
/// ran), as the kernel's does.
struct RecordingTlb {
    log: Log,
    asid: Option<Asid>,
}

impl TlbMaintenance for RecordingTlb {
    fn invalidate_page(&mut self, page: Page) {
        if let Some(asid) = self.asid {
            self.log.borrow_mut().push(Event::Invalidate(asid, page));
        }
    }

    fn invalidate_asid(&mut self) {
        if let Some(asid) = self.asid {
            self.log.borrow_mut().push(Event::InvalidateAsid(asid));
        }
    }

    fn publish_tables(&mut self) {
        self.log.borrow_mut().push(Event::Publish);
    }
}

type Tables = AddressSpaceTables<HostMemory, RecordingTlb>;

const ASID: Asid = Asid::new(7);
/// Table frames are numbered from here; data frames are chosen well away from them.
const FIRST_TABLE: u64 = 0x100;

fn tables_with_limit(allocations: Option<usize>) -> (Tables, Log) {
    let log = Log::default();
    let memory = HostMemory {
        tables: HashMap::new(),
        next_number: FIRST_TABLE,
        allocations_left: allocations,
        reads: 0,
        log: log.clone(),
    };
    let tables = Tables::new(memory, RecordingTlb { log: log.clone(), asid: Some(ASID) }).unwrap();
    log.borrow_mut().clear();
    (tables, log)
}

fn tables() -> (Tables, Log) {
    tables_with_limit(None)
}

/// The events logged since the last call.
fn take(log: &Log) -> Vec<Event> {
    log.borrow_mut().drain(..).collect()
}

fn page(number: u64) -> Page {
    Page::from_number(number)
}

/// The page with these table indices.
fn page_at(index1: u64, index2: u64, index3: u64) -> Page {
    page((index1 << 18) | (index2 << 9) | index3)
}

fn frame(number: u64) -> Frame {
    Frame::from_number(number)
}

fn table(number: u64) -> Frame {
    frame(FIRST_TABLE + number)
}

fn write(table: Frame, index: usize, descriptor: u64) -> Event {
    Event::Write { table, index, descriptor }
}

fn table_descriptor(next: Frame) -> u64 {
    (1 << 59) | (next.number() << 12) | 0b11
}

fn live_tables(tables: &Tables) -> BTreeSet<Frame> {
    tables.memory().tables.keys().copied().collect()
}

fn mappings(tables: &mut Tables) -> Vec<(Page, Frame, PageFlags)> {
    let mut found = Vec::new();
    tables.for_each_mapping(|page, frame, flags| found.push((page, frame, flags)));
    found
}

#[test]
fn a_new_address_space_is_one_empty_root() {
    let (mut tables, log) = tables();
    assert_eq!(tables.root(), table(0));
    assert_eq!(tables.table_frames(), 1);
    assert_eq!(live_tables(&tables), BTreeSet::from([table(0)]));
    assert_eq!(tables.translate(VirtAddr::new(0)), None);
    assert!(mappings(&mut tables).is_empty());
    assert!(take(&log).is_empty());
}

#[test]
fn first_map_allocates_publishes_then_links_top_down() {
    let (mut tables, log) = tables();
    tables.map(page(0), frame(0x80000), PageFlags::USER_READ_WRITE).unwrap();
    assert_eq!(
        take(&log),
        [
            Event::Alloc(table(1)),
            Event::Alloc(table(2)),
            // The zeroed tables are visible before anything links them.
            Event::Publish,
            write(table(0), 0, table_descriptor(table(1))),
            write(table(1), 0, table_descriptor(table(2))),
            // VALID|PAGE, AttrIndx 0, AP=0b01, Inner Shareable, AF, nG, frame 0x80000, PXN, UXN.
            write(table(2), 0, 0x0060_0000_8000_0f43),
            Event::Publish,
        ]
    );
    assert_eq!(tables.table_frames(), 3);
    assert_eq!(tables.translate(VirtAddr::new(0xabc)), Some((frame(0x80000), PageFlags::USER_READ_WRITE)));
}

#[test]
fn mapping_next_to_a_mapping_reuses_its_tables() {
    let (mut tables, log) = tables();
    tables.map(page(0), frame(0x80000), PageFlags::USER_READ_WRITE).unwrap();
    take(&log);
    tables.map(page(511), frame(0x80001), PageFlags::USER_READ_EXECUTE).unwrap();
    // AP=0b11, UXN clear.
    assert_eq!(take(&log), [write(table(2), 511, 0x0020_0000_8000_1fc3), Event::Publish]);
    assert_eq!(tables.table_frames(), 3);
}

#[test]
fn mappings_across_level_boundaries() {
    let (mut tables, _log) = tables();
    let cases = [
        // (page, table frames after mapping it)
        (page_at(0, 0, 511), 3),
        (page_at(0, 1, 0), 4), // next 2 MiB: a new level-3 table
        (page_at(0, 511, 511), 5),
        (page_at(1, 0, 0), 7),       // next 1 GiB: new level-2 and level-3 tables
        (page_at(511, 511, 511), 9), // the last user page
    ];
    for (number, (page, expected_tables)) in cases.into_iter().enumerate() {
        tables.map(page, frame(0x80000 + number as u64), PageFlags::USER_READ_ONLY).unwrap();
        assert_eq!(tables.table_frames(), expected_tables, "{page}");
    }
    assert_eq!(live_tables(&tables).len(), 9);
    for (number, (page, _)) in cases.into_iter().enumerate() {
        let last_byte = page.start_address().checked_add(4095).unwrap();
        assert_eq!(
            tables.translate(last_byte),
            Some((frame(0x80000 + number as u64), PageFlags::USER_READ_ONLY))
        );
    }
    // Neighbours of the mapped pages are not mapped.
    assert_eq!(tables.translate(page_at(0, 1, 1).start_address()), None);
    assert_eq!(tables.translate(page_at(2, 0, 0).start_address()), None);
    let found: Vec<Page> = mappings(&mut tables).into_iter().map(|(page, _, _)| page).collect();
    assert_eq!(found, cases.map(|(page, _)| page));
    assert_eq!(VirtAddr::USER_END, page_at(511, 511, 511).start_address().checked_add(4096).unwrap());
}

#[test]
fn refusals_change_nothing() {
    let (mut tables, log) = tables();
    tables.map(page(5), frame(0x80000), PageFlags::USER_READ_ONLY).unwrap();
    take(&log);
    let kernel = Page::containing(VirtAddr::KERNEL_START);
    let past_user = Page::containing(VirtAddr::USER_END);
    let wx = PageFlags { executable: true, ..PageFlags::USER_READ_WRITE };
    let global = PageFlags { global: true, ..PageFlags::USER_READ_ONLY };
    let cases = [
        (tables.map(page(5), frame(0x80001), PageFlags::USER_READ_ONLY), MapError::AlreadyMapped(page(5))),
        (tables.map(kernel, frame(0x80001), PageFlags::USER_READ_ONLY), MapError::NotUserPage(kernel)),
        (tables.map(past_user, frame(0x80001), PageFlags::USER_READ_ONLY), MapError::NotUserPage(past_user)),
        (tables.map(page(6), frame(0x80001), PageFlags::KERNEL_READ_WRITE), MapError::KernelOnlyFlags),
        (tables.map(page(6), frame(0x80001), wx), MapError::Flags(FlagsError::WriteAndExecute)),
        (tables.map(page(6), frame(0x80001), global), MapError::Flags(FlagsError::GlobalUserPage)),
        (tables.protect(page(5), wx).map(|_| ()), MapError::Flags(FlagsError::WriteAndExecute)),
        (tables.protect(page(6), PageFlags::USER_READ_ONLY).map(|_| ()), MapError::NotMapped(page(6))),
        (tables.protect(kernel, PageFlags::USER_READ_ONLY).map(|_| ()), MapError::NotUserPage(kernel)),
        (tables.replace(page(5), frame(1), wx).map(|_| ()), MapError::Flags(FlagsError::WriteAndExecute)),
        (
            tables.replace(page(6), frame(1), PageFlags::USER_READ_ONLY).map(|_| ()),
            MapError::NotMapped(page(6)),
        ),
        // A neighbour whose level-3 table exists but whose entry is empty.
        (
            tables.replace(page(4), frame(1), PageFlags::USER_READ_ONLY).map(|_| ()),
            MapError::NotMapped(page(4)),
        ),
    ];
    for (index, (result, error)) in cases.into_iter().enumerate() {
        assert_eq!(result, Err(error), "case {index}");
    }
    assert_eq!(tables.unmap(kernel).unwrap(), None);
    assert_eq!(tables.unmap(page(6)).unwrap(), None);
    assert_eq!(tables.translate(VirtAddr::KERNEL_START), None);
    assert!(take(&log).is_empty());
    assert_eq!(tables.table_frames(), 3);
    assert_eq!(tables.translate(VirtAddr::new(0x5000)), Some((frame(0x80000), PageFlags::USER_READ_ONLY)));
}

#[test]
fn unmap_returns_the_mapping_and_frees_emptied_tables_after_the_invalidation() {
    let (mut tables, log) = tables();
    let page = page_at(3, 4, 5);
    tables.map(page, frame(0x80000), PageFlags::USER_READ_WRITE).unwrap();
    take(&log);
    assert_eq!(tables.unmap(page).unwrap(), Some((frame(0x80000), PageFlags::USER_READ_WRITE)));
    assert_eq!(
        take(&log),
        [
            write(table(2), 5, INVALID),
            write(table(1), 4, INVALID),
            write(table(0), 3, INVALID),
            // One VAE1 invalidation evicts the page and the cached walk through both tables...
            Event::Invalidate(ASID, page),
            // ...and only then may the tables be reused.
            Event::Free(table(2)),
            Event::Free(table(1)),
        ]
    );
    assert_eq!(tables.table_frames(), 1);
    assert_eq!(live_tables(&tables), BTreeSet::from([table(0)]));
    assert_eq!(tables.unmap(page).unwrap(), None);
}

#[test]
fn unmap_keeps_tables_that_still_map_something() {
    let (mut tables, log) = tables();
    tables.map(page_at(0, 0, 0), frame(0x80000), PageFlags::USER_READ_ONLY).unwrap();
    tables.map(page_at(0, 0, 1), frame(0x80001), PageFlags::USER_READ_ONLY).unwrap();
    tables.map(page_at(0, 1, 0), frame(0x80002), PageFlags::USER_READ_ONLY).unwrap();
    take(&log);
    // The level-3 table still maps page 1.
    tables.unmap(page_at(0, 0, 0)).unwrap();
    assert_eq!(take(&log), [write(table(2), 0, INVALID), Event::Invalidate(ASID, page_at(0, 0, 0))]);
    // The level-3 table is empty, the level-2 one still leads to page (0, 1, 0).
    tables.unmap(page_at(0, 0, 1)).unwrap();
    assert_eq!(
        take(&log),
        [
            write(table(2), 1, INVALID),
            write(table(1), 0, INVALID),
            Event::Invalidate(ASID, page_at(0, 0, 1)),
            Event::Free(table(2)),
        ]
    );
    assert_eq!(tables.table_frames(), 3);
}

#[test]
fn tables_that_never_ran_need_no_invalidation() {
    let log = Log::default();
    let memory = HostMemory {
        tables: HashMap::new(),
        next_number: 0,
        allocations_left: None,
        reads: 0,
        log: log.clone(),
    };
    let mut tables = Tables::new(memory, RecordingTlb { log: log.clone(), asid: None }).unwrap();
    tables.map(page(1), frame(0x80000), PageFlags::USER_READ_WRITE).unwrap();
    tables.protect(page(1), PageFlags::USER_READ_WRITE.copy_on_write()).unwrap();
    tables.replace(page(1), frame(0x80001), PageFlags::USER_READ_WRITE).unwrap();
    tables.unmap(page(1)).unwrap();
    assert!(!log.borrow().iter().any(|event| matches!(event, Event::Invalidate(..))));
}

#[test]
fn replace_breaks_before_it_makes() {
    let (mut tables, log) = tables();
    let page = page_at(0, 2, 9);
    let cow = PageFlags::USER_READ_WRITE.copy_on_write();
    tables.map(page, frame(0x80000), cow).unwrap();
    take(&log);
    // The copy-on-write fault: a private copy in frame 0x90000, writable.
    let old = tables.replace(page, frame(0x90000), cow.resolve_write_fault()).unwrap();
    assert_eq!(old, (frame(0x80000), cow));
    assert_eq!(
        take(&log),
        [
            write(table(2), 9, INVALID),
            Event::Invalidate(ASID, page),
            write(table(2), 9, 0x0060_0000_9000_0f43),
            Event::Publish,
        ]
    );
    assert_eq!(tables.translate(page.start_address()), Some((frame(0x90000), PageFlags::USER_READ_WRITE)));
}

#[test]
fn protect_and_replace_of_a_looked_up_leaf_do_what_the_walking_forms_do() {
    let run = |use_leaf: bool| {
        let (mut t, log) = tables();
        t.tlb_mut().asid = Some(Asid::new(3));
        t.map(page(7), frame(0x80000), PageFlags::USER_READ_WRITE).unwrap();
        take(&log);
        let leaf = t.lookup(page(7)).unwrap();
        let read_only = PageFlags::USER_READ_ONLY;
        let old =
            if use_leaf { t.protect_leaf(page(7), &leaf, read_only) } else { t.protect(page(7), read_only) };
        let protected = take(&log);
        let leaf = t.lookup(page(7)).unwrap();
        let writable = PageFlags::USER_READ_WRITE;
        let replaced = if use_leaf {
            t.replace_leaf(page(7), &leaf, frame(0x80001), writable)
        } else {
            t.replace(page(7), frame(0x80001), writable)
        };
        (old, protected, replaced, take(&log), mappings(&mut t))
    };
    let (old, protected, replaced, events, after) = run(true);
    assert_eq!(
        (old, replaced),
        (Ok(PageFlags::USER_READ_WRITE), Ok((frame(0x80000), PageFlags::USER_READ_ONLY)))
    );
    assert!(!protected.is_empty() && !events.is_empty());
    assert_eq!((old, protected, replaced, events, after), run(false));
}

#[test]
fn mapping_a_vacant_entry_does_what_map_does_with_fewer_reads() {
    // Into an empty space (every table created), next to a mapping (its table reused), and refusals.
    let run = |use_entry: bool| {
        let (mut t, log) = tables();
        t.tlb_mut().asid = Some(Asid::new(3));
        let mut results = Vec::new();
        let mut reads = Vec::new();
        for (number, page) in [page_at(1, 2, 3), page_at(1, 2, 4), page_at(1, 3, 0)].into_iter().enumerate() {
            let before = t.memory().reads;
            let frame = frame(0x80000 + number as u64);
            let result = if use_entry {
                match t.entry(page) {
                    PageEntry::Vacant(vacant) => vacant.map(frame, PageFlags::USER_READ_WRITE),
                    PageEntry::Mapped(leaf) => panic!("{page} is vacant, not {leaf:?}"),
                }
            } else {
                assert_eq!(t.lookup(page), None, "{page} is vacant");
                t.map(page, frame, PageFlags::USER_READ_WRITE)
            };
            results.push(result);
            reads.push(t.memory().reads - before);
        }
        // A mapped page is found with what lookup says of it.
        let leaf = match t.entry(page_at(1, 2, 3)) {
            PageEntry::Mapped(leaf) => Some(leaf),
            PageEntry::Vacant(_) => None,
        };
        assert_eq!(leaf, t.lookup(page_at(1, 2, 3)));
        // A kernel page is refused, as map refuses it.
        let kernel = Page::containing(VirtAddr::new(0xFFFF_0000_0000_0000));
        let refused = match t.entry(kernel) {
            PageEntry::Vacant(vacant) => vacant.map(frame(0x80009), PageFlags::USER_READ_WRITE),
            PageEntry::Mapped(_) => Ok(()),
        };
        assert_eq!(refused, Err(MapError::NotUserPage(kernel)));
        Ok::<_, MapError>((results, take(&log), mappings(&mut t), reads))
    };
    let (results, events, after, entry_reads) = run(true).unwrap();
    let (walking_results, walking_events, walking_after, walking_reads) = run(false).unwrap();
    assert_eq!((results, events, after), (walking_results, walking_events, walking_after));
    // Each mapping read the tables once fewer times than a lookup and a map: one walk, not two.
    assert!(entry_reads.iter().zip(&walking_reads).all(|(e, w)| e < w), "{entry_reads:?} {walking_reads:?}");
}

#[test]
fn protect_changes_permissions_in_place_then_invalidates() {
    let (mut tables, log) = tables();
    tables.map(page(3), frame(0x80000), PageFlags::USER_READ_WRITE).unwrap();
    take(&log);
    // Fork makes a writable page copy-on-write: AP=0b11 and the COW bit, same frame.
    let cow = PageFlags::USER_READ_WRITE.copy_on_write();
    assert_eq!(tables.protect(page(3), cow), Ok(PageFlags::USER_READ_WRITE));
    assert_eq!(take(&log), [write(table(2), 3, 0x00e0_0000_8000_0fc3), Event::Invalidate(ASID, page(3))]);
    // The last holder's write fault reuses the frame: back to AP=0b01, still in place.
    assert_eq!(tables.protect(page(3), cow.resolve_write_fault()), Ok(cow));
    assert_eq!(take(&log), [write(table(2), 3, 0x0060_0000_8000_0f43), Event::Invalidate(ASID, page(3))]);
    // No change, nothing to do.
    assert_eq!(tables.protect(page(3), PageFlags::USER_READ_WRITE), Ok(PageFlags::USER_READ_WRITE));
    assert!(take(&log).is_empty());
}

#[test]
fn protect_to_no_access_keeps_the_frame_and_invalidates() {
    let (mut tables, log) = tables();
    tables.map(page(3), frame(0x80000), PageFlags::USER_READ_WRITE).unwrap();
    take(&log);
    // A permission change on the same frame and memory type: in place, no break-before-make, but the old
    // EL0-writable TLB entry must go before the task runs again.
    assert_eq!(tables.protect(page(3), PageFlags::USER_NO_ACCESS), Ok(PageFlags::USER_READ_WRITE));
    assert_eq!(take(&log), [write(table(2), 3, 0x0460_0000_8000_0f83), Event::Invalidate(ASID, page(3))]);
    assert_eq!(tables.translate(VirtAddr::new(0x3000)), Some((frame(0x80000), PageFlags::USER_NO_ACCESS)));
    assert_eq!(tables.protect(page(3), PageFlags::USER_READ_WRITE), Ok(PageFlags::USER_NO_ACCESS));
    assert_eq!(take(&log), [write(table(2), 3, 0x0060_0000_8000_0f43), Event::Invalidate(ASID, page(3))]);
}

#[test]
fn protect_breaks_before_making_a_new_memory_type() {
    let (mut tables, log) = tables();
    tables.map(page(3), frame(0x80000), PageFlags::USER_READ_WRITE).unwrap();
    take(&log);
    let device = PageFlags { memory: MemoryType::Device, ..PageFlags::USER_READ_WRITE };
    tables.protect(page(3), device).unwrap();
    assert_eq!(
        take(&log),
        [
            write(table(2), 3, INVALID),
            Event::Invalidate(ASID, page(3)),
            write(table(2), 3, 0x0060_0000_8000_0f47),
            Event::Publish,
        ]
    );
}

#[test]
fn running_out_of_frames_leaves_no_table_behind() {
    // Room for the root and one more table, but a first mapping needs two.
    let (mut tables, log) = tables_with_limit(Some(2));
    assert_eq!(tables.map(page(0), frame(0x80000), PageFlags::USER_READ_ONLY), Err(MapError::OutOfFrames));
    assert_eq!(take(&log), [Event::Alloc(table(1)), Event::Free(table(1))]);
    assert_eq!(live_tables(&tables), BTreeSet::from([table(0)]));
    assert_eq!(tables.table_frames(), 1);
    tables.memory_mut().allocations_left = Some(0);
    assert_eq!(tables.map(page(0), frame(0x80000), PageFlags::USER_READ_ONLY), Err(MapError::OutOfFrames));
    assert!(take(&log).is_empty());
    let (memory, tlb) = (
        HostMemory {
            tables: HashMap::new(),
            next_number: 0,
            allocations_left: Some(0),
            reads: 0,
            log: Log::default(),
        },
        RecordingTlb { log: Log::default(), asid: None },
    );
    assert_eq!(Tables::new(memory, tlb).err(), Some(OutOfFrames));
}

#[test]
fn table_frames_are_listed_children_first() {
    let (mut tables, _log) = tables();
    tables.map(page_at(0, 0, 0), frame(0x80000), PageFlags::USER_READ_ONLY).unwrap();
    tables.map(page_at(1, 0, 0), frame(0x80001), PageFlags::USER_READ_ONLY).unwrap();
    let mut found = Vec::new();
    tables.for_each_table_frame(|frame| found.push(frame));
    assert_eq!(found, [table(2), table(1), table(4), table(3), table(0)]);
    assert_eq!(found.iter().copied().collect::<BTreeSet<_>>(), live_tables(&tables));
}

#[test]
fn destroy_hands_back_every_mapping_and_frees_every_table() {
    let (mut tables, log) = tables();
    let pages = [page_at(0, 0, 0), page_at(0, 0, 7), page_at(0, 3, 0), page_at(200, 0, 1)];
    for (number, page) in pages.into_iter().enumerate() {
        tables.map(page, frame(0x80000 + number as u64), PageFlags::USER_READ_ONLY).unwrap();
    }
    take(&log);
    let mut released = Vec::new();
    let (memory, _tlb) = tables.destroy(|page, frame, _| released.push((page, frame)));
    assert_eq!(
        released,
        [
            (pages[0], frame(0x80000)),
            (pages[1], frame(0x80001)),
            (pages[2], frame(0x80002)),
            (pages[3], frame(0x80003)),
        ]
    );
    assert!(memory.tables.is_empty());
    let events = take(&log);
    assert_eq!(events.len(), 6);
    assert!(events.iter().all(|event| matches!(event, Event::Free(_))), "{events:?}");
}

#[test]
fn ttbr0_holds_the_root_and_the_asid() {
    let (tables, _log) = tables();
    assert_eq!(ttbr0_el1(tables.root(), ASID), (7 << 48) | (FIRST_TABLE << 12));
}

#[test]
#[should_panic(expected = "corrupt translation table")]
fn a_block_in_user_tables_is_corruption() {
    let (mut tables, _log) = tables();
    let root = tables.root();
    tables.memory_mut().entries(root)[0] = 0x4000_0701;
    tables.translate(VirtAddr::new(0));
}

#[test]
fn errors_print() {
    assert_eq!(format!("{}", MapError::NotMapped(page(1))), "page 0x1 (0x1000) is not mapped");
    assert_eq!(
        format!("{}", MapError::Flags(FlagsError::WriteAndExecute)),
        "page both writable and executable (W^X)"
    );
}

/// An operation of the property test.
#[derive(Debug, Clone)]
enum Op {
    Map(Page, u64, PageFlags),
    Unmap(Page),
    Protect(Page, PageFlags),
    Replace(Page, u64, PageFlags),
}

/// Pages around table boundaries: the first and last of level-1, level-2 and level-3 tables.
fn interesting_page() -> impl Strategy<Value = Page> {
    let index = || prop_oneof![Just(0u64), Just(1), Just(511), 0..512u64];
    (prop_oneof![Just(0u64), Just(1), Just(511)], index(), index())
        .prop_map(|(index1, index2, index3)| page_at(index1, index2, index3))
}

fn user_flags() -> impl Strategy<Value = PageFlags> {
    prop_oneof![
        Just(PageFlags::USER_READ_ONLY),
        Just(PageFlags::USER_READ_WRITE),
        Just(PageFlags::USER_READ_EXECUTE),
        Just(PageFlags::USER_READ_WRITE.copy_on_write()),
        Just(PageFlags { zero_page: true, ..PageFlags::USER_READ_ONLY }),
        Just(PageFlags { memory: MemoryType::Device, ..PageFlags::USER_READ_WRITE }),
        Just(PageFlags::USER_NO_ACCESS),
        Just(PageFlags { cow: true, ..PageFlags::USER_NO_ACCESS }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (interesting_page(), 0x80000..0x80010u64, user_flags()).prop_map(|(p, f, fl)| Op::Map(p, f, fl)),
        2 => interesting_page().prop_map(Op::Unmap),
        1 => (interesting_page(), user_flags()).prop_map(|(p, fl)| Op::Protect(p, fl)),
        1 => (interesting_page(), 0x80000..0x80010u64, user_flags()).prop_map(|(p, f, fl)| Op::Replace(p, f, fl)),
    ]
}

/// The tables an address space with these mappings needs: the root, one level-2 table per 1 GiB and one
/// level-3 table per 2 MiB that holds a mapping.
fn tables_needed(model: &BTreeMap<Page, (Frame, PageFlags)>) -> usize {
    let gigabytes: BTreeSet<u64> = model.keys().map(|page| page.number() >> 18).collect();
    let megabytes: BTreeSet<u64> = model.keys().map(|page| page.number() >> 9).collect();
    1 + gigabytes.len() + megabytes.len()
}

proptest! {
    #[test]
    fn random_operations_match_a_map_of_pages(ops in proptest::collection::vec(op(), 0..200)) {
        let (mut tables, log) = tables();
        let mut model: BTreeMap<Page, (Frame, PageFlags)> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Map(page, number, flags) => {
                    let expected = if model.contains_key(&page) { Err(MapError::AlreadyMapped(page)) } else { Ok(()) };
                    prop_assert_eq!(tables.map(page, frame(number), flags), expected);
                    model.entry(page).or_insert((frame(number), flags));
                }
                Op::Unmap(page) => {
                    let expected = model.remove(&page);
                    prop_assert_eq!(tables.unmap(page).unwrap(), expected);
                    if expected.is_some() {
                        // The TLB was told before any table was freed.
                        let events = take(&log);
                        let invalidation = events.iter().position(|event| *event == Event::Invalidate(ASID, page));
                        let first_free = events.iter().position(|event| matches!(event, Event::Free(_)));
                        prop_assert!(invalidation.is_some());
                        prop_assert!(first_free.is_none_or(|free| Some(free) > invalidation));
                    }
                }
                Op::Protect(page, flags) => match model.get_mut(&page) {
                    Some(mapping) => {
                        prop_assert_eq!(tables.protect(page, flags), Ok(mapping.1));
                        mapping.1 = flags;
                    }
                    None => prop_assert_eq!(tables.protect(page, flags), Err(MapError::NotMapped(page))),
                },
                Op::Replace(page, number, flags) => match model.get_mut(&page) {
                    Some(mapping) => {
                        let events_before = log.borrow().len();
                        prop_assert_eq!(tables.replace(page, frame(number), flags), Ok(*mapping));
                        *mapping = (frame(number), flags);
                        // Break, invalidate, make.
                        let events = log.borrow()[events_before..].to_vec();
                        prop_assert_eq!(events.len(), 4);
                        let broken = matches!(events[0], Event::Write { descriptor: INVALID, .. });
                        prop_assert!(broken, "{:?}", events);
                        prop_assert_eq!(events[1], Event::Invalidate(ASID, page));
                        let made = matches!(events[2], Event::Write { descriptor, .. } if descriptor != INVALID);
                        prop_assert!(made, "{:?}", events);
                    }
                    None => {
                        let result = tables.replace(page, frame(number), flags);
                        prop_assert_eq!(result, Err(MapError::NotMapped(page)));
                    }
                },
            }
            take(&log);
            prop_assert_eq!(tables.table_frames(), tables_needed(&model));
            prop_assert_eq!(tables.memory().tables.len(), tables_needed(&model));
        }
        let found = mappings(&mut tables);
        let expected: Vec<_> = model.iter().map(|(&page, &(frame, flags))| (page, frame, flags)).collect();
        prop_assert_eq!(&found, &expected);
        for (&page, &mapping) in &model {
            prop_assert_eq!(tables.translate(page.start_address()), Some(mapping));
        }
        // Unmap half, destroy the rest: every mapping comes back exactly once, and no table is left.
        let mut released = Vec::new();
        for (index, &page) in model.keys().enumerate() {
            if index % 2 == 0 {
                let (frame, flags) = tables.unmap(page).unwrap().unwrap();
                released.push((page, frame, flags));
            }
        }
        let (memory, _tlb) = tables.destroy(|page, frame, flags| released.push((page, frame, flags)));
        released.sort_by_key(|&(page, _, _)| page);
        prop_assert_eq!(released, expected);
        prop_assert!(memory.tables.is_empty());
    }

    /// Unmapping everything, in any order, leaves only the root.
    #[test]
    fn unmapping_everything_leaves_only_the_root(
        pages in proptest::collection::btree_set(interesting_page(), 1..40),
        seed in any::<u64>(),
    ) {
        let (mut tables, _log) = tables();
        for &page in &pages {
            tables.map(page, frame(0x80000), PageFlags::USER_READ_ONLY).unwrap();
        }
        let mut order: Vec<Page> = pages.into_iter().collect();
        // A cheap shuffle driven by the seed.
        let len = order.len();
        for index in 0..len {
            order.swap(index, (seed.rotate_left(index as u32) as usize) % len);
        }
        for page in order {
            prop_assert!(tables.unmap(page).unwrap().is_some());
        }
        prop_assert_eq!(tables.table_frames(), 1);
        prop_assert_eq!(live_tables(&tables), BTreeSet::from([tables.root()]));
    }

    /// `next_mapping` finds exactly the first mapped page of any range.
    #[test]
    fn next_mapping_finds_the_first_mapped_page_of_a_range(
        pages in proptest::collection::btree_set(interesting_page(), 0..40),
        bounds in (interesting_page(), interesting_page()),
    ) {
        let (mut tables, _log) = tables();
        for (number, &page) in pages.iter().enumerate() {
            tables.map(page, frame(0x80000 + number as u64), PageFlags::USER_READ_ONLY).unwrap();
        }
        let range = bounds.0.min(bounds.1)..bounds.0.max(bounds.1);
        let expected = pages.range(range.clone()).next().map(|&page| {
            let number = pages.range(..page).count() as u64;
            (page, frame(0x80000 + number), PageFlags::USER_READ_ONLY)
        });
        prop_assert_eq!(tables.next_mapping(range), expected);
        // Stepping through every mapping of all user space finds each once, in order.
        let mut found = Vec::new();
        let mut at = page(0);
        while let Some((page, _, _)) = tables.next_mapping(at..Page::containing(VirtAddr::USER_END)) {
            found.push(page);
            at = page + 1;
        }
        prop_assert_eq!(found, pages.into_iter().collect::<Vec<_>>());
    }
}

/// Stepping through a huge, almost empty range costs table reads in proportion to the tables, not the
/// pages: all of user space (2^27 pages) with three pages mapped takes about 3 600 reads of one descriptor
/// each (one per level-1 entry, two per level-2 entry of the two level-2 tables), a page at a time 2^27
/// walks.
#[test]
fn next_mapping_skips_missing_tables_whole() {
    let (mut tables, _log) = tables();
    let mapped = [page_at(0, 0, 5), page_at(64, 3, 511), page_at(511, 511, 0)];
    for page in mapped {
        tables.map(page, frame(0x80000), PageFlags::USER_READ_WRITE).unwrap();
    }
    tables.memory_mut().reads = 0;
    let mut found = Vec::new();
    let mut at = page(0);
    while let Some((page, _, _)) = tables.next_mapping(at..Page::containing(VirtAddr::USER_END)) {
        found.push(page);
        at = page + 1;
    }
    assert_eq!(found, mapped);
    let reads = tables.memory().reads;
    assert!(reads < 8 * Level::ENTRIES, "{reads} table reads to step through 3 mappings");
}
