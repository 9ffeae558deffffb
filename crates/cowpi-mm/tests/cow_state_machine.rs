//! The copy-on-write state machine against a model that knows nothing of sharing.
//!
//! Random sequences of writes, protection changes, forks and exits run over several address spaces at
//! once, with the real pieces: `AddressSpaceTables` (fork by `share_into`), `FrameTable` for reference
//! counts, `decide_write_fault` for every write to a read-only page, resolved the way the kernel resolves
//! it (reuse in place, or copy and replace), and `decide_protect` for every `PROTECT` of a mapped page.
//! Physical memory is a map from frame to the value its page holds. The model is what a program sees:
//! each task its own map from page to value and from page to rights, a fork a plain clone; a write where
//! the rights forbid it does not happen (the kernel would kill the task), and changing the rights, even
//! to none, never changes a value.
//!
//! After every step: every task reads exactly its model's values (a write never shows in another task,
//! an untouched page is unmapped, a page with no access keeps its frame and value), every mapping allows
//! no more than its rights (no access exactly when it has none), every frame's reference count is the
//! number of mappings of it, and no writable mapping points at a shared frame. When every task has
//! exited, every frame is free again.

use std::collections::{BTreeMap, HashMap};

use cowpi_mm::{
    Frame, FrameTable, Page, PageFlags, Prot, Release, WriteFault, decide_protect, decide_write_fault,
};
use proptest::prelude::*;

mod common;

use common::{AddressSpaces, Tables, data_frames};

/// Data frames the frame table manages: few, so that running out is part of the game.
const DATA_FRAMES: usize = 24;
/// Pages each task may touch (spread over two level-3 tables).
const PAGES: [u64; 6] = [0, 1, 2, 511, 512, 513];
const MAX_TASKS: usize = 6;

struct Task {
    tables: Tables,
    /// What the program has written: page number to value.
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
    frames: FrameTable<'static>,
    /// The value each allocated data frame's page holds.
    memory: HashMap<Frame, u64>,
    tasks: Vec<Option<Task>>,
    spaces: AddressSpaces,
}

#[derive(Debug, Clone)]
enum Step {
    Write { task: usize, page: usize, value: u64 },
    Protect { task: usize, page: usize, prot: Prot },
    Fork { task: usize },
    Exit { task: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..MAX_TASKS, 0..PAGES.len(), any::<u64>())
            .prop_map(|(task, page, value)| Step::Write { task, page, value }),
        3 => (0..MAX_TASKS, 0..PAGES.len(), prop_oneof![
            2 => Just(Prot::NONE),
            1 => Just(Prot::READ),
            3 => Just(Prot::READ_WRITE),
        ])
            .prop_map(|(task, page, prot)| Step::Protect { task, page, prot }),
        2 => (0..MAX_TASKS).prop_map(|task| Step::Fork { task }),
        1 => (0..MAX_TASKS).prop_map(|task| Step::Exit { task }),
    ]
}

impl Machine {
    fn new() -> Machine {
        let frames = data_frames(DATA_FRAMES);
        let mut machine =
            Machine { frames, memory: HashMap::new(), tasks: Vec::new(), spaces: AddressSpaces::default() };
        let first_task = machine.spaces.create();
        machine.tasks.push(Some(Task { tables: first_task, model: BTreeMap::new(), prot: BTreeMap::new() }));
        machine
    }

    fn alloc(&mut self, value: u64) -> Option<Frame> {
        let frame = self.frames.alloc().ok()?;
        self.memory.insert(frame, value);
        Some(frame)
    }

    fn release(&mut self, frame: Frame) {
        if self.frames.release(frame).unwrap() == Release::Freed {
            self.memory.remove(&frame);
        }
    }

    /// A program's write, resolved as the fault handler would; `false` if no frame was left (the kernel
    /// would kill the task; here the write simply does not happen).
    fn write(&mut self, index: usize, page_number: u64, value: u64) -> bool {
        let page = Page::from_number(page_number);
        let Some(mut task) = self.tasks[index].take() else { return true };
        if task.prot(page_number) != Prot::READ_WRITE {
            // The region check refuses it: the kernel kills the task, and nothing is written.
            self.tasks[index] = Some(task);
            return true;
        }
        let done = match task.tables.translate(page.start_address()) {
            None => match self.alloc(value) {
                Some(frame) => {
                    task.tables.map(page, frame, PageFlags::USER_READ_WRITE).unwrap();
                    true
                }
                None => false,
            },
            Some((frame, flags)) if flags.writable => {
                self.memory.insert(frame, value);
                true
            }
            Some((frame, flags)) => {
                let holders = self.frames.refcount(frame).unwrap();
                match decide_write_fault(flags, holders).unwrap() {
                    WriteFault::Reuse { flags } => {
                        task.tables.protect(page, flags).unwrap();
                        self.memory.insert(frame, value);
                        true
                    }
                    WriteFault::Copy { flags } => match self.alloc(self.memory[&frame]) {
                        Some(copy) => {
                            task.tables.replace(page, copy, flags).unwrap();
                            self.release(frame);
                            self.memory.insert(copy, value);
                            true
                        }
                        None => false,
                    },
                    other => panic!("a private page written as {other:?}"),
                }
            }
        };
        if done {
            task.model.insert(page_number, value);
        }
        self.tasks[index] = Some(task);
        done
    }

    /// `PROTECT` of one page, as the kernel does it: the rights change, the frame and its value stay.
    fn protect(&mut self, index: usize, page_number: u64, prot: Prot) {
        let page = Page::from_number(page_number);
        let Some(task) = self.tasks[index].as_mut() else { return };
        task.prot.insert(page_number, prot);
        if let Some((frame, old)) = task.tables.translate(page.start_address()) {
            let wanted = PageFlags::user(prot).unwrap();
            let flags = decide_protect(old, wanted, self.frames.refcount(frame).unwrap());
            task.tables.protect(page, flags).unwrap();
        }
    }

    fn fork(&mut self, index: usize) {
        if self.tasks.iter().flatten().count() >= MAX_TASKS {
            return;
        }
        let mut child = self.spaces.create();
        let Some(mut parent) = self.tasks[index].take() else { return };
        let frames = &mut self.frames;
        parent.tables.share_into(&mut child, |frame, _| frames.share(frame).map(drop)).unwrap();
        let (model, prot) = (parent.model.clone(), parent.prot.clone());
        self.tasks[index] = Some(parent);
        let slot = self.tasks.iter().position(Option::is_none);
        let task = Some(Task { tables: child, model, prot });
        match slot {
            Some(slot) => self.tasks[slot] = task,
            None => self.tasks.push(task),
        }
    }

    fn exit(&mut self, index: usize) {
        let Some(task) = self.tasks[index].take() else { return };
        let mut held = Vec::new();
        task.tables.destroy(|_, frame, _| held.push(frame));
        for frame in held {
            self.release(frame);
        }
    }

    /// Every invariant of the module documentation.
    fn check(&mut self) -> Result<(), TestCaseError> {
        let mut mappings: HashMap<Frame, u32> = HashMap::new();
        let mut writable = Vec::new();
        for (index, task) in self.tasks.iter_mut().enumerate() {
            let Some(task) = task else { continue };
            for number in PAGES {
                let seen = task.tables.translate(Page::from_number(number).start_address());
                let prot = task.prot(number);
                match (seen, task.model.get(&number)) {
                    (None, None) => {}
                    (Some((frame, flags)), Some(&value)) => {
                        prop_assert_eq!(self.memory[&frame], value, "task {} page {}", index, number);
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
                        prop_assert!(false, "task {index} page {number}: mapped {seen:?}, wrote {wanted:?}")
                    }
                }
            }
            task.tables.for_each_mapping(|_, frame, flags| {
                *mappings.entry(frame).or_default() += 1;
                if flags.writable {
                    writable.push(frame);
                }
            });
        }
        for (&frame, &count) in &mappings {
            prop_assert_eq!(self.frames.refcount(frame), Some(count), "refcount of {}", frame);
        }
        prop_assert_eq!(self.frames.counters().used, mappings.len());
        for frame in writable {
            prop_assert_eq!(mappings[&frame], 1, "{} is writable but shared", frame);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_write_is_lost_or_seen_elsewhere_and_every_frame_is_counted(
        steps in proptest::collection::vec(step(), 1..80)
    ) {
        let mut machine = Machine::new();
        for step in steps {
            match step {
                Step::Write { task, page, value } => {
                    let task = task % machine.tasks.len();
                    machine.write(task, PAGES[page], value);
                }
                Step::Protect { task, page, prot } => {
                    let task = task % machine.tasks.len();
                    machine.protect(task, PAGES[page], prot);
                }
                Step::Fork { task } => machine.fork(task % machine.tasks.len()),
                Step::Exit { task } => machine.exit(task % machine.tasks.len()),
            }
            machine.check()?;
        }
        for index in 0..machine.tasks.len() {
            machine.exit(index);
        }
        let counters = machine.frames.counters();
        prop_assert_eq!((counters.used, counters.free), (0, DATA_FRAMES));
        prop_assert!(machine.memory.is_empty());
    }
}

/// Running out of frames midway leaves everything counted: the write that found no frame changes
/// nothing, and later exits still give every frame back.
#[test]
fn exhausting_the_frames_loses_nothing() {
    let mut machine = Machine::new();
    for (i, &page) in PAGES.iter().enumerate() {
        assert!(machine.write(0, page, i as u64));
    }
    for _ in 0..5 {
        machine.fork(0);
    }
    let mut refused = 0;
    for task in 0..machine.tasks.len() {
        for &page in &PAGES {
            if !machine.write(task, page, 1000 + task as u64) {
                refused += 1;
            }
        }
    }
    machine.check().unwrap();
    assert!(refused > 0, "24 frames should not be enough for 6 private copies of 6 pages");
    for task in 0..machine.tasks.len() {
        machine.exit(task);
    }
    assert_eq!(machine.frames.counters().free, DATA_FRAMES);
}
