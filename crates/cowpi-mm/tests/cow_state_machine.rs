//! The copy-on-write state machine against a model that knows nothing of sharing.
//!
//! Random sequences of reads, writes, protection changes, unmaps, page merges, forks in all three of the
//! kernel's modes and exits run over several address spaces at once, with the real pieces:
//! `AddressSpaceTables` (fork by `share_tables_into_except`, `share_pages_into`, or an eager copy through
//! `decide_eager_copy`; teardown by `destroy_releasing`), one `FrameTable` counting the holders of data
//! frames and table frames alike, as the kernel's does, and the kernel's decisions (`decide_write_fault`,
//! `decide_protect`) resolved the way the kernel resolves them: a write into a shared level-3 table makes
//! the table private first (`make_private`: a copy, or write access back for its last holder), then
//! reuses, copies or zero-fills the page. Physical memory is a map from frame to the value its page
//! holds. Frames are few, so running out (for a page, a table, a table's copy) is part of the game: the
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

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

use cowpi_mm::{
    AddressSpaceTables, Asid, EagerCopy, Frame, FrameTable, OutOfFrames, Page, PageFlags, Prot, Release,
    ShareRefused, TableMemory, TableVisit, TlbMaintenance, WriteFault, decide_eager_copy, decide_protect,
    decide_write_fault, storage_words,
};
use proptest::prelude::*;

/// Frames the frame table manages, tables and data together: few, so that running out is common.
const FRAMES: usize = 40;
/// Pages each task may touch: three in one level-3 table, three in the next, one in another level-2
/// table's range.
const PAGES: [u64; 7] = [0, 1, 2, 511, 512, 513, 1 << 18];
const MAX_TASKS: usize = 6;
/// Written values come from a small set, so that identical pages (for merging) are common.
const VALUES: u64 = 4;

/// Physical memory: the frame table, the translation tables in the frames it hands out, and the value
/// each data frame's page holds.
struct World {
    frames: FrameTable<'static>,
    tables: HashMap<Frame, Box<[u64; 512]>>,
    values: HashMap<Frame, u64>,
}

type Shared = Rc<RefCell<World>>;

impl World {
    fn release(&mut self, frame: Frame) {
        if self.frames.release(frame).expect("a held frame") == Release::Freed {
            self.values.remove(&frame);
            self.tables.remove(&frame);
        }
    }
}

/// Table memory in the world's frames, sharing tables and counting holders as the kernel does.
struct WorldTables(Shared);

impl TableMemory for WorldTables {
    fn alloc_table(&mut self) -> Result<Frame, OutOfFrames> {
        let mut world = self.0.borrow_mut();
        let frame = world.frames.alloc()?;
        world.tables.insert(frame, Box::new([0; 512]));
        Ok(frame)
    }

    fn free_table(&mut self, frame: Frame) {
        assert!(self.0.borrow().tables.contains_key(&frame), "{frame} freed but not a table");
        self.0.borrow_mut().release(frame);
    }

    fn share_table(&mut self, table: Frame) -> Result<(), ShareRefused> {
        self.0.borrow_mut().frames.share(table).map(drop).map_err(|_| ShareRefused)
    }

    fn table_holders(&mut self, table: Frame) -> usize {
        self.0.borrow().frames.refcount(table).expect("a managed frame") as usize
    }

    fn share_frame(&mut self, frame: Frame, _: PageFlags) -> Result<(), ShareRefused> {
        self.0.borrow_mut().frames.share(frame).map(drop).map_err(|_| ShareRefused)
    }

    fn release_frame(&mut self, frame: Frame, _: PageFlags) {
        self.0.borrow_mut().release(frame);
    }

    fn entries(&mut self, table: Frame) -> &mut [u64; 512] {
        let mut world = self.0.borrow_mut();
        let entries: *mut [u64; 512] =
            &mut **world.tables.get_mut(&table).unwrap_or_else(|| panic!("{table} is not a live table"));
        // SAFETY: the table is boxed, so it stays where it is while the map changes, and it is freed only
        // through `free_table` or the release of its last holder, never while the tables code holds this
        // reference (one thread, and the tables code holds one table's entries at a time).
        unsafe { &mut *entries }
    }
}

struct NoTlb;

impl TlbMaintenance for NoTlb {
    fn invalidate_page(&mut self, _: Asid, _: Page) {}
    fn invalidate_asid(&mut self, _: Asid) {}
    fn publish_tables(&mut self) {}
}

type Tables = AddressSpaceTables<WorldTables, NoTlb>;

/// The kernel's three `FORK` modes.
#[derive(Debug, Clone, Copy)]
enum ForkMode {
    Tables,
    Pages,
    Eager,
}

struct Task {
    tables: Tables,
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
    /// The shared zero frame, held by the machine itself besides its mappings.
    zero: Frame,
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
        3 => (task(), prop_oneof![Just(ForkMode::Tables), Just(ForkMode::Pages), Just(ForkMode::Eager)])
            .prop_map(|(task, mode)| Step::Fork { task, mode }),
        1 => task().prop_map(|task| Step::Exit { task }),
    ]
}

/// A write fault could not be resolved: no frame for a page, a table, or a table's copy.
#[derive(Debug)]
struct OutOfMemory;

impl Machine {
    fn new() -> Machine {
        let storage = Box::leak(vec![0u32; storage_words(FRAMES)].into_boxed_slice());
        let first = Frame::from_number(0x1000);
        let mut frames = FrameTable::new(first, FRAMES, storage).unwrap();
        frames.add_free_range(first..first + FRAMES).unwrap();
        let zero = frames.alloc().unwrap();
        let world = Rc::new(RefCell::new(World { frames, tables: HashMap::new(), values: HashMap::new() }));
        world.borrow_mut().values.insert(zero, 0);
        let mut machine = Machine { world, zero, tasks: Vec::new() };
        let mut tables = machine.new_tables().unwrap();
        tables.set_asid(Asid::new(1));
        machine.tasks.push(Some(Task { tables, model: BTreeMap::new(), prot: BTreeMap::new() }));
        machine
    }

    fn new_tables(&self) -> Result<Tables, OutOfFrames> {
        Tables::new(WorldTables(self.world.clone()), NoTlb)
    }

    fn alloc(&self, value: u64) -> Result<Frame, OutOfMemory> {
        let mut world = self.world.borrow_mut();
        let frame = world.frames.alloc().map_err(|_| OutOfMemory)?;
        world.values.insert(frame, value);
        Ok(frame)
    }

    fn release(&self, frame: Frame) {
        self.world.borrow_mut().release(frame);
    }

    fn refcount(&self, frame: Frame) -> u32 {
        self.world.borrow().frames.refcount(frame).expect("a managed frame")
    }

    fn value(&self, frame: Frame) -> u64 {
        self.world.borrow().values[&frame]
    }

    fn set_value(&self, frame: Frame, value: u64) {
        self.world.borrow_mut().values.insert(frame, value);
    }

    /// Runs `f` on task `index` (if it is alive) with the machine at hand too.
    fn with_task<R>(&mut self, index: usize, f: impl FnOnce(&Machine, &mut Task) -> R) -> Option<R> {
        let mut task = self.tasks[index].take()?;
        let result = f(self, &mut task);
        self.tasks[index] = Some(task);
        Some(result)
    }

    /// A program's read of a page: an unmapped one is mapped to the zero frame, as the kernel's
    /// zero-page read fault does. A page with no access is not read (the task would be killed).
    fn read(&mut self, index: usize, number: u64) {
        self.with_task(index, |machine, task| {
            let page = Page::from_number(number);
            if task.prot(number) == Prot::NONE || task.tables.lookup(page).is_some() {
                return;
            }
            let flags = PageFlags::user(task.prot(number)).unwrap();
            let zero_flags = PageFlags { writable: false, zero_page: true, executable: false, ..flags };
            machine.world.borrow_mut().frames.share(machine.zero).unwrap();
            match task.tables.map(page, machine.zero, zero_flags) {
                Ok(()) => {
                    task.model.insert(number, 0);
                }
                // No frame for a table: the task is killed in the kernel; here the read does not happen.
                Err(_) => machine.release(machine.zero),
            }
        });
    }

    /// A program's write, resolved as the kernel's fault handler does; nothing changes if no frame is
    /// left (the kernel kills the task).
    fn write(&mut self, index: usize, number: u64, value: u64) {
        self.with_task(index, |machine, task| {
            if task.prot(number) != Prot::READ_WRITE {
                return;
            }
            if machine.resolve_write(task, Page::from_number(number), value).is_ok() {
                task.model.insert(number, value);
            }
        });
    }

    fn resolve_write(&self, task: &mut Task, page: Page, value: u64) -> Result<(), OutOfMemory> {
        let tables = &mut task.tables;
        let Some(leaf) = tables.lookup(page) else {
            let frame = self.alloc(value)?;
            return tables.map(page, frame, PageFlags::USER_READ_WRITE).map_err(|_| {
                self.release(frame);
                OutOfMemory
            });
        };
        let leaf = if leaf.shared_table {
            tables.make_private(page).map_err(|_| OutOfMemory)?;
            tables.lookup(page).expect("still mapped")
        } else {
            leaf
        };
        if leaf.flags.writable {
            self.set_value(leaf.frame, value);
            return Ok(());
        }
        match decide_write_fault(leaf.flags, self.refcount(leaf.frame)).unwrap() {
            WriteFault::Reuse { flags } => {
                tables.protect_leaf(page, &leaf, flags).unwrap();
                self.set_value(leaf.frame, value);
            }
            WriteFault::Copy { flags } | WriteFault::ZeroFill { flags } => {
                // A copy takes the old contents and a zero fill zeros; the write overwrites them either way.
                let fresh = self.alloc(value)?;
                tables.replace_leaf(page, &leaf, fresh, flags).unwrap();
                self.release(leaf.frame);
            }
            WriteFault::Denied => panic!("a write the rights allow was denied at {page}"),
        }
        Ok(())
    }

    /// `PROTECT` of one page, as the kernel does it: the table made private first (which may find no
    /// frame: then nothing changes), then the rights change, the frame and its value stay.
    fn protect(&mut self, index: usize, number: u64, prot: Prot) {
        self.with_task(index, |machine, task| {
            let page = Page::from_number(number);
            if task.tables.make_range_private(page..page + 1).is_err() {
                return;
            }
            task.prot.insert(number, prot);
            if let Some((frame, old)) = task.tables.translate(page.start_address()) {
                let wanted = PageFlags::user(prot).unwrap();
                let flags = decide_protect(old, wanted, machine.refcount(frame));
                task.tables.protect(page, flags).unwrap();
            }
        });
    }

    /// `UNMAP` of one page (and `MAP` of it again at once, so the task may touch it later): the table made
    /// private first, then the page's frame let go.
    fn unmap(&mut self, index: usize, number: u64) {
        self.with_task(index, |machine, task| {
            let page = Page::from_number(number);
            if task.tables.make_range_private(page..page + 1).is_err() {
                return;
            }
            if let Some((frame, _)) = task.tables.unmap(page).unwrap() {
                machine.release(frame);
            }
            task.model.remove(&number);
            task.prot.remove(&number);
        });
    }

    /// A page the merger may take: writable, private, in a table of its own (the kernel's `candidate`).
    fn candidate(&self, task: &mut Task, page: Page) -> Option<(Frame, PageFlags)> {
        let leaf = task.tables.lookup(page)?;
        let private = self.refcount(leaf.frame) == 1 && !leaf.shared_table;
        (leaf.flags.writable && !leaf.flags.executable && private).then_some((leaf.frame, leaf.flags))
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
        let (page, other_page) = (Page::from_number(number), Page::from_number(other_number));
        let Some(mut other) = self.tasks[other_index].take() else { return };
        let Some((other_frame, other_flags)) = self.candidate(&mut other, other_page) else {
            self.tasks[other_index] = Some(other);
            return;
        };
        let same_task = index == other_index;
        let mut task = if same_task { None } else { self.tasks[index].take() };
        let ours = match task.as_mut() {
            Some(task) => self.candidate(task, page),
            None if same_task => self.candidate(&mut other, page),
            None => None,
        };
        if let Some((frame, flags)) = ours
            && self.value(frame) == self.value(other_frame)
        {
            other.tables.protect(other_page, merged(other_flags)).unwrap();
            self.world.borrow_mut().frames.share(other_frame).unwrap();
            let tables = task.as_mut().map_or(&mut other.tables, |task| &mut task.tables);
            tables.replace(page, other_frame, merged(flags)).unwrap();
            self.release(frame);
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
        let Ok(mut child) = self.new_tables() else { return };
        let Some(mut parent) = self.tasks[index].take() else {
            child.destroy_releasing();
            return;
        };
        let forked = match mode {
            ForkMode::Tables => {
                // The kernel forks its stack's table page by page; here some page's, by task.
                let hot = Page::from_number(PAGES[index % PAGES.len()]);
                parent.tables.share_tables_into_except(&mut child, Some(hot)).map(drop).map_err(drop)
            }
            ForkMode::Pages => parent.tables.share_pages_into(&mut child).map(drop).map_err(drop),
            ForkMode::Eager => self.eager_copy(&mut parent, &mut child),
        };
        let (model, prot) = (parent.model.clone(), parent.prot.clone());
        self.tasks[index] = Some(parent);
        if forked.is_err() {
            // What the half-built child holds, it gives back.
            child.destroy_releasing();
            return;
        }
        child.set_asid(Asid::new(1));
        let task = Some(Task { tables: child, model, prot });
        match self.tasks.iter().position(Option::is_none) {
            Some(slot) => self.tasks[slot] = task,
            None => self.tasks.push(task),
        }
    }

    /// The kernel's eager fork: a copy of every page the child could write, the rest shared.
    fn eager_copy(&self, parent: &mut Task, child: &mut Tables) -> Result<(), ()> {
        let mut mappings = Vec::new();
        parent.tables.for_each_mapping(|page, frame, flags| mappings.push((page, frame, flags)));
        for (page, frame, flags) in mappings {
            let rights = parent.prot(page.number());
            let (child_frame, child_flags) = match decide_eager_copy(flags, rights).unwrap() {
                EagerCopy::Share { flags } => {
                    self.world.borrow_mut().frames.share(frame).map_err(drop)?;
                    (frame, flags)
                }
                EagerCopy::Copy { flags } => (self.alloc(self.value(frame)).map_err(drop)?, flags),
            };
            if child.map(page, child_frame, child_flags).is_err() {
                self.release(child_frame);
                return Err(());
            }
        }
        Ok(())
    }

    fn exit(&mut self, index: usize) {
        if let Some(task) = self.tasks[index].take() {
            task.tables.destroy_releasing();
        }
    }

    /// Every invariant of the module documentation.
    fn check(&mut self) -> Result<(), TestCaseError> {
        // Holders as the audit counts them: data frames by the tables mapping them (each table once),
        // level-3 tables by the level-2 entries pointing at them, other tables once each.
        let mut holders: HashMap<Frame, u32> = HashMap::from([(self.zero, 1)]);
        let mut seen_tables = HashSet::new();
        let mut writable_now = Vec::new();
        let mut protection_lapses = Vec::new();
        for (index, task) in self.tasks.iter_mut().enumerate() {
            let Some(task) = task else { continue };
            for number in PAGES {
                let page = Page::from_number(number);
                let prot = task.prot(number);
                match (task.tables.lookup(page), task.model.get(&number)) {
                    (None, None) => {}
                    (Some(leaf), Some(&value)) => {
                        let found = self.world.borrow().values[&leaf.frame];
                        prop_assert_eq!(found, value, "task {} page {}", index, number);
                        prop_assert_eq!(
                            leaf.flags.no_access,
                            prot == Prot::NONE,
                            "task {} page {}",
                            index,
                            number
                        );
                        prop_assert!(
                            !leaf.flags.writable || prot == Prot::READ_WRITE,
                            "task {index} page {number}"
                        );
                    }
                    (seen, wanted) => {
                        prop_assert!(false, "task {index} page {number}: maps {seen:?}, model {wanted:?}")
                    }
                }
            }
            let mut tables_here = Vec::new();
            task.tables.for_each_table(
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
            task.tables.for_each_table(
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
            task.tables.for_each_table_frame(|frame| {
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
        prop_assert_eq!(world.frames.refcount(self.zero), Some(1));
        prop_assert!(world.tables.is_empty());
        prop_assert_eq!(world.values.len(), 1);
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
    for mode in [ForkMode::Tables, ForkMode::Pages, ForkMode::Eager] {
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
                if machine.tasks[task].as_ref().is_some_and(|t| t.model[&page] != value) {
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
