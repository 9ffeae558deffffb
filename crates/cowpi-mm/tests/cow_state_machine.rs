//! The copy-on-write state machine against a model that knows nothing of sharing.
//!
//! Random sequences of reads, writes, protection changes, unmaps, page merges, forks in all three of the
//! kernel's modes and exits run over several address spaces at once, through the engine the kernel runs,
//! `cowpi_mm::AddressSpace`: a read or write is resolved by `resolve_fault` (through `write_user`, as
//! the kernel's writes into user memory are), `PROTECT`, `UNMAP` and `MAP` are the range calls, a fork is
//! `fork` in the mode drawn (the shared-table one with a "hot" table, as the kernel forks its stack's),
//! an exit drops the space; merges use the calls the kernel's page merger uses. One frame table counts
//! the holders of data frames and table frames alike, as the kernel's does, and pages hold real bytes.
//! Frames are few, so running out (for a page, a table, a table's copy) is part of the game: the
//! operation that found no frame changes nothing, as the kernel's out-of-memory path promises.
//!
//! The model is what a program sees: each task its own map from page to value and from page to rights,
//! a fork a plain clone; a write where the rights forbid it does not happen (the kernel would kill the
//! task), changing the rights, even to none, never changes a value, an unmapped page is gone, and a merge
//! changes no value.
//!
//! After every step, the memory audit's rules: every task reads exactly its model's values; every mapping
//! allows no more than its rights; every data frame's count is the number of level-3 tables mapping it
//! (a shared table counts once, however many address spaces reach it), plus the machine's hold on the
//! zero frame; every level-3 table's count is the number of level-2 entries pointing at it, and every
//! other table's is 1; the frame table's used frames are exactly those; a table with several holders is
//! write-protected in each of them; and whatever can be written now, without a fault, is held once. When
//! every task has exited, every frame but the zero frame is free again.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use common::{NoTlb, Shared, Space, World, WorldMemory};
use cowpi_abi::{Error, ForkMode, layout};
use cowpi_mm::{
    Access, AddressSpace, FaultError, Frame, PAGE_SIZE, Page, PageFlags, PageOutcome, Prot, TableVisit,
    VirtAddr,
};
use proptest::prelude::*;

/// Frames the frame table manages, tables and data together: few, so that running out is common.
const FRAMES: usize = 40;
/// Pages each task may touch, numbered from the start of the map area: three in one level-3 table, three
/// in the next, one in another level-2 table's range.
const PAGES: [u64; 7] = [0, 1, 2, 511, 512, 513, 1 << 18];
const MAX_TASKS: usize = 6;
/// Written values come from a small set, so that identical pages (for merging) are common.
const VALUES: u64 = 4;

/// The user address of page `number` of the map area.
fn address(number: u64) -> u64 {
    layout::MAP_AREA.start + number * PAGE_SIZE as u64
}

fn page(number: u64) -> Page {
    Page::containing(VirtAddr::new(address(number)))
}

struct Task {
    space: Space,
    /// What the program reads: page number to value (0 for a page only read).
    model: BTreeMap<u64, u64>,
    /// The rights `PROTECT` gave each page: read-write if absent.
    prot: BTreeMap<u64, Prot>,
}

impl Task {
    fn prot(&self, page_number: u64) -> Prot {
        self.prot.get(&page_number).copied().unwrap_or(Prot::READ_WRITE)
    }
}

struct Machine {
    world: Shared,
    tasks: Vec<Option<Task>>,
}

#[derive(Debug, Clone)]
enum Step {
    Read { task: usize, page: usize },
    Write { task: usize, page: usize, value: u64 },
    Protect { task: usize, page: usize, prot: Prot },
    Unmap { task: usize, page: usize },
    Merge { task: usize, page: usize, other: usize, other_page: usize },
    Fork { task: usize, mode: ForkMode },
    Exit { task: usize },
}

fn step() -> impl Strategy<Value = Step> {
    let task = || 0..MAX_TASKS;
    let page = || 0..PAGES.len();
    let mode =
        prop_oneof![Just(ForkMode::CopyOnWrite), Just(ForkMode::CopyOnWritePages), Just(ForkMode::EagerCopy)];
    prop_oneof![
        2 => (task(), page()).prop_map(|(task, page)| Step::Read { task, page }),
        6 => (task(), page(), 0..VALUES).prop_map(|(task, page, value)| Step::Write { task, page, value }),
        2 => (task(), page(), prop_oneof![
            2 => Just(Prot::NONE),
            1 => Just(Prot::READ),
            3 => Just(Prot::READ_WRITE),
        ])
            .prop_map(|(task, page, prot)| Step::Protect { task, page, prot }),
        1 => (task(), page()).prop_map(|(task, page)| Step::Unmap { task, page }),
        2 => (task(), page(), task(), page())
            .prop_map(|(task, page, other, other_page)| Step::Merge { task, page, other, other_page }),
        3 => (task(), mode).prop_map(|(task, mode)| Step::Fork { task, mode }),
        1 => task().prop_map(|task| Step::Exit { task }),
    ]
}

impl Machine {
    fn new() -> Machine {
        let world = World::new(FRAMES);
        let mut space = AddressSpace::new(WorldMemory(world.clone()), NoTlb).unwrap();
        let pages = PAGES.iter().max().unwrap() + 1;
        space.map_anonymous(Some(address(0)), pages, Prot::READ_WRITE).unwrap();
        let task = Task { space, model: BTreeMap::new(), prot: BTreeMap::new() };
        Machine { world, tasks: vec![Some(task)] }
    }

    fn refcount(&self, frame: Frame) -> u32 {
        self.world.borrow().frames.refcount(frame).expect("a managed frame")
    }

    fn value(&self, frame: Frame) -> u64 {
        self.world.borrow().value(frame)
    }

    fn task(&mut self, index: usize) -> Option<&mut Task> {
        self.tasks[index].as_mut()
    }

    /// A program's read of a page, as the fault handler resolves it: an unmapped one is mapped to the
    /// zero frame. A page with no access is not read (the task would be killed), nor one no frame is
    /// left for (a table's): the task would be killed.
    fn read(&mut self, index: usize, number: u64) {
        let Some(task) = self.task(index) else { return };
        if task.prot(number) == Prot::NONE {
            return;
        }
        match task.space.resolve_fault(address(number), Access::Read) {
            Ok(outcome) if outcome.page == PageOutcome::ZeroPageMapped => {
                task.model.insert(number, 0);
            }
            Ok(_) | Err(FaultError::OutOfMemory) => {}
            Err(FaultError::Illegal) => panic!("a read the rights allow was refused at page {number}"),
        }
    }

    /// A program's write, as the kernel's writes into user memory make it: the page resolved as the
    /// task's own write would (the table made private, the frame copied, reused or filled), then the
    /// bytes stored; nothing changes if no frame is left (the kernel kills the task).
    fn write(&mut self, index: usize, number: u64, value: u64) {
        let Some(task) = self.task(index) else { return };
        if task.prot(number) != Prot::READ_WRITE {
            return;
        }
        match task.space.write_user(address(number), &value.to_le_bytes()) {
            Ok(()) => {
                task.model.insert(number, value);
            }
            Err(Error::OutOfMemory) => {}
            Err(error) => panic!("a write the rights allow failed at page {number}: {error:?}"),
        }
    }

    /// `PROTECT` of one page: refused for want of a frame (a shared table's copy), it changes nothing.
    fn protect(&mut self, index: usize, number: u64, prot: Prot) {
        let Some(task) = self.task(index) else { return };
        match task.space.protect(address(number), 1, prot) {
            Ok(()) => {
                task.prot.insert(number, prot);
            }
            Err(Error::OutOfMemory) => {}
            Err(error) => panic!("PROTECT of page {number}: {error:?}"),
        }
    }

    /// `UNMAP` of one page, then `MAP` of it again at once, so the task may touch it later (untouched).
    fn unmap(&mut self, index: usize, number: u64) {
        let Some(task) = self.task(index) else { return };
        match task.space.unmap(address(number), 1) {
            Ok(()) => {}
            Err(Error::OutOfMemory) => return,
            Err(error) => panic!("UNMAP of page {number}: {error:?}"),
        }
        let mapped = task.space.map_anonymous(Some(address(number)), 1, Prot::READ_WRITE);
        assert_eq!(mapped, Ok(address(number)), "MAP again at page {number}");
        task.model.remove(&number);
        task.prot.remove(&number);
    }

    /// A page the merger may take: writable, private, in a table of its own (the kernel's `candidate`).
    fn candidate(&self, space: &mut Space, page: Page) -> Option<(Frame, PageFlags)> {
        let (frame, flags) = space.translate_page(page)?;
        let private = self.refcount(frame) == 1 && !space.in_shared_table(page);
        (flags.writable && !flags.executable && private).then_some((frame, flags))
    }

    /// The page merger: two identical private pages (in one task or two) come to share one frame,
    /// read-only and marked merged, as the kernel's `merge_pair` leaves them.
    fn merge(&mut self, index: usize, number: u64, other_index: usize, other_number: u64) {
        if (index, number) == (other_index, other_number) {
            return;
        }
        let merged = |flags: PageFlags| PageFlags {
            writable: false,
            cow: false,
            zero_page: false,
            ksm_merged: true,
            ..flags
        };
        let (page, other_page) = (self::page(number), self::page(other_number));
        let Some(mut other) = self.tasks[other_index].take() else { return };
        let Some((other_frame, other_flags)) = self.candidate(&mut other.space, other_page) else {
            self.tasks[other_index] = Some(other);
            return;
        };
        let same_task = index == other_index;
        let mut task = if same_task { None } else { self.tasks[index].take() };
        let ours = match task.as_mut() {
            Some(task) => self.candidate(&mut task.space, page),
            None if same_task => self.candidate(&mut other.space, page),
            None => None,
        };
        if let Some((frame, flags)) = ours
            && self.value(frame) == self.value(other_frame)
        {
            other.space.set_page_flags(other_page, merged(other_flags)).unwrap();
            self.world.borrow_mut().frames.share(other_frame).unwrap();
            let space = task.as_mut().map_or(&mut other.space, |task| &mut task.space);
            space.replace_page(page, other_frame, merged(flags)).unwrap();
            self.world.borrow_mut().release(frame);
        }
        self.tasks[other_index] = Some(other);
        if let Some(task) = task {
            self.tasks[index] = Some(task);
        }
    }

    fn fork(&mut self, index: usize, mode: ForkMode) {
        if self.tasks.iter().flatten().count() >= MAX_TASKS {
            return;
        }
        let memory = WorldMemory(self.world.clone());
        let Some(parent) = self.tasks[index].as_mut() else { return };
        // The kernel forks its stack's table page by page; here some page's, by task: the stack pointer
        // just above it.
        let hot = address(PAGES[index % PAGES.len()]) + PAGE_SIZE as u64;
        let child = match parent.space.fork(mode, Some(hot), memory, NoTlb) {
            Ok(forked) => forked.child,
            Err(Error::OutOfMemory) => return,
            Err(error) => panic!("fork: {error:?}"),
        };
        let task = Some(Task { space: child, model: parent.model.clone(), prot: parent.prot.clone() });
        match self.tasks.iter().position(Option::is_none) {
            Some(slot) => self.tasks[slot] = task,
            None => self.tasks.push(task),
        }
    }

    fn exit(&mut self, index: usize) {
        self.tasks[index] = None;
    }

    /// Every invariant of the module documentation.
    fn check(&mut self) -> Result<(), TestCaseError> {
        // Holders as the audit counts them: data frames by the tables mapping them (each table once),
        // level-3 tables by the level-2 entries pointing at them, other tables once each.
        let zero = self.world.borrow().zero;
        let mut holders: HashMap<Frame, u32> = HashMap::from([(zero, 1)]);
        let mut seen_tables = HashSet::new();
        let mut writable_now = Vec::new();
        let mut protection_lapses = Vec::new();
        for (index, task) in self.tasks.iter_mut().enumerate() {
            let Some(task) = task else { continue };
            for number in PAGES {
                let prot = task.prot(number);
                match (task.space.translate_page(page(number)), task.model.get(&number)) {
                    (None, None) => {}
                    (Some((frame, flags)), Some(&value)) => {
                        let found = self.world.borrow().value(frame);
                        prop_assert_eq!(found, value, "task {} page {}", index, number);
                        prop_assert_eq!(
                            flags.no_access,
                            prot == Prot::NONE,
                            "task {} page {}",
                            index,
                            number
                        );
                        prop_assert!(
                            !flags.writable || prot == Prot::READ_WRITE,
                            "task {index} page {number}"
                        );
                    }
                    (seen, wanted) => {
                        prop_assert!(false, "task {index} page {number}: maps {seen:?}, model {wanted:?}")
                    }
                }
            }
            let counts = task.space.page_counts();
            prop_assert_eq!(counts.resident, task.model.len() as u64, "task {} resident pages", index);
            let mut tables_here = Vec::new();
            task.space.for_each_table(
                |visit: TableVisit| {
                    tables_here.push(visit);
                    seen_tables.insert(visit.table)
                },
                |_, frame, _| *holders.entry(frame).or_default() += 1,
            );
            for visit in &tables_here {
                *holders.entry(visit.table).or_default() += 1;
                if visit.holders > 1 && !visit.write_protected {
                    protection_lapses.push((index, visit.table));
                }
            }
            let shared: HashSet<Frame> =
                tables_here.iter().filter(|v| v.write_protected).map(|v| v.table).collect();
            let mut level3 = HashSet::new();
            task.space.for_each_table(
                |visit| {
                    level3.insert(visit.table);
                    !shared.contains(&visit.table)
                },
                |page, frame, flags| {
                    if flags.writable {
                        writable_now.push((index, page, frame));
                    }
                },
            );
            task.space.for_each_table_frame(|frame| {
                if !level3.contains(&frame) {
                    *holders.entry(frame).or_default() += 1;
                }
            });
        }
        prop_assert!(protection_lapses.is_empty(), "shared tables writable through {protection_lapses:?}");
        let world = self.world.borrow();
        for (&frame, &count) in &holders {
            prop_assert_eq!(world.frames.refcount(frame), Some(count), "holders of {}", frame);
        }
        prop_assert_eq!(world.frames.counters().used, holders.len());
        for (index, page, frame) in writable_now {
            prop_assert_eq!(
                holders[&frame],
                1,
                "task {} writes {} in {} without a fault, shared",
                index,
                page,
                frame
            );
        }
        Ok(())
    }

    fn exit_all(&mut self) -> Result<(), TestCaseError> {
        for index in 0..self.tasks.len() {
            self.exit(index);
        }
        let world = self.world.borrow();
        prop_assert_eq!(world.frames.counters().used, 1, "only the zero frame is left");
        prop_assert_eq!(world.frames.refcount(world.zero), Some(1));
        prop_assert!(world.tables.is_empty());
        prop_assert_eq!(world.pages.len(), 1);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_write_is_lost_or_seen_elsewhere_and_every_frame_is_counted(
        steps in proptest::collection::vec(step(), 1..100)
    ) {
        let mut machine = Machine::new();
        for step in steps {
            let alive = machine.tasks.len();
            match step {
                Step::Read { task, page } => machine.read(task % alive, PAGES[page]),
                Step::Write { task, page, value } => machine.write(task % alive, PAGES[page], value),
                Step::Protect { task, page, prot } => machine.protect(task % alive, PAGES[page], prot),
                Step::Unmap { task, page } => machine.unmap(task % alive, PAGES[page]),
                Step::Merge { task, page, other, other_page } => {
                    machine.merge(task % alive, PAGES[page], other % alive, PAGES[other_page]);
                }
                Step::Fork { task, mode } => machine.fork(task % alive, mode),
                Step::Exit { task } => machine.exit(task % alive),
            }
            machine.check()?;
        }
        machine.exit_all()?;
    }
}

/// Running out of frames midway, in each fork mode, leaves everything counted: the fork or write that
/// found no frame changes nothing, and later exits still give every frame back.
#[test]
fn exhausting_the_frames_loses_nothing_in_any_fork_mode() {
    for mode in [ForkMode::CopyOnWrite, ForkMode::CopyOnWritePages, ForkMode::EagerCopy] {
        let mut machine = Machine::new();
        for (i, &page) in PAGES.iter().enumerate() {
            machine.write(0, page, i as u64);
        }
        let mut refused = 0;
        for _ in 0..5 {
            let before = machine.tasks.iter().flatten().count();
            machine.fork(0, mode);
            if machine.tasks.iter().flatten().count() == before {
                refused += 1;
            }
            machine.check().unwrap();
        }
        for task in 0..machine.tasks.len() {
            for &page in &PAGES {
                let value = 100 + task as u64;
                machine.write(task, page, value);
                if machine.tasks[task].as_ref().is_some_and(|t| t.model.get(&page) != Some(&value)) {
                    refused += 1;
                }
                machine.check().unwrap();
            }
        }
        let tasks = machine.tasks.iter().flatten().count();
        assert!(tasks > 1, "{mode:?}: no fork went through");
        assert!(refused > 0, "{mode:?}: {FRAMES} frames were enough for {tasks} tasks' private copies");
        machine.exit_all().unwrap();
    }
}
