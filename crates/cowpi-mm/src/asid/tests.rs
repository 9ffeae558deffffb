//! Tests of the ASID allocator: first use, keeping an ASID, rollover on one core and on several
//! (reservations, one local flush per core), a property test with more tasks than ASIDs that checks no
//! two tasks of the current generation ever share one, and a model of several cores and their TLBs that
//! checks no core can ever translate through another space's entries.

extern crate std;

use std::collections::{BTreeMap, BTreeSet};
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;

/// Switches core 0 to `task` (an index into `tasks`), which keeps its new tag.
fn switch(allocator: &mut AsidAllocator, tasks: &mut [Option<TaggedAsid>], task: usize) -> Assignment {
    let assignment = allocator.assign(0, tasks[task]);
    tasks[task] = Some(assignment.tagged());
    assignment
}

#[test]
fn new_tasks_get_ascending_asids_without_flushes() {
    let mut allocator = AsidAllocator::new(AsidBits::Eight, 1);
    assert_eq!(allocator.capacity(), 255);
    for expected in 1..=5 {
        let assignment = allocator.assign(0, None);
        assert_eq!(assignment.asid, Asid::new(expected));
        assert_eq!(assignment.generation.number(), 1);
        assert!(!assignment.flush_local);
    }
    assert_eq!(allocator.given_count(), 5);
}

#[test]
fn a_task_keeps_its_asid_while_the_generation_is_current() {
    let mut allocator = AsidAllocator::new(AsidBits::Eight, 1);
    let first = allocator.assign(0, None);
    let _other = allocator.assign(0, None);
    let again = allocator.assign(0, Some(first.tagged()));
    assert_eq!(again, first);
    assert_eq!(allocator.given_count(), 2);
}

#[test]
fn running_out_rolls_over_once_and_asks_for_a_flush() {
    let mut allocator = AsidAllocator::new(AsidBits::Eight, 1);
    let mut tasks = vec![None; 256];
    for task in 0..255 {
        assert!(!switch(&mut allocator, &mut tasks, task).flush_local);
    }
    // The 256th task finds nothing free: new generation, flush, and it takes ASID 1.
    let rollover = switch(&mut allocator, &mut tasks, 255);
    assert!(rollover.flush_local);
    assert_eq!((rollover.asid, rollover.generation.number()), (Asid::new(1), 2));
    // Task 0 had ASID 1 in generation 1: taken now, so it gets the next free one, without another flush.
    let task0 = switch(&mut allocator, &mut tasks, 0);
    assert_eq!((task0.asid, task0.generation.number(), task0.flush_local), (Asid::new(2), 2, false));
    // Task 9 had ASID 10, still free in generation 2: it keeps the number.
    let task9 = switch(&mut allocator, &mut tasks, 9);
    assert_eq!((task9.asid, task9.flush_local), (Asid::new(10), false));
    // Allocation goes on from the lowest free ASID, skipping the one task 9 took back.
    let asids: Vec<u16> =
        (1..=8).map(|task| switch(&mut allocator, &mut tasks, task).asid.as_u16()).collect();
    assert_eq!(asids, [3, 4, 5, 6, 7, 8, 9, 11]);
}

#[test]
fn a_stale_task_that_triggers_the_rollover_keeps_its_number() {
    let mut allocator = AsidAllocator::new(AsidBits::Eight, 1);
    let mut tasks = vec![None; 256];
    for task in 0..=255 {
        let _ = switch(&mut allocator, &mut tasks, task); // generation 1: 1..=255, then task 255 rolls over
    }
    assert_eq!(allocator.generation().number(), 2);
    // Fill generation 2 with every task but task 50, whose generation-1 ASID 51 someone else takes.
    for task in (0..255).filter(|&task| task != 50) {
        if allocator.given_count() == allocator.capacity() {
            break;
        }
        assert!(!switch(&mut allocator, &mut tasks, task).flush_local);
    }
    assert_eq!(allocator.given_count(), allocator.capacity());
    assert_eq!(tasks[50].unwrap().generation.number(), 1);
    // Task 50 forces generation 3, where everything is free again: it gets its old number back.
    let rollover = switch(&mut allocator, &mut tasks, 50);
    assert_eq!((rollover.asid, rollover.generation.number(), rollover.flush_local), (Asid::new(51), 3, true));
}

#[test]
fn sixteen_bit_asids_last_65535_tasks() {
    let mut allocator = AsidAllocator::new(AsidBits::Sixteen, 1);
    assert_eq!(allocator.capacity(), 65535);
    for expected in 1..=65535u16 {
        let assignment = allocator.assign(0, None);
        assert_eq!((assignment.asid.as_u16(), assignment.flush_local), (expected, false));
    }
    let rollover = allocator.assign(0, None);
    assert_eq!((rollover.asid, rollover.generation.number(), rollover.flush_local), (Asid::new(1), 2, true));
}

#[test]
fn asid_width_from_the_id_register() {
    assert_eq!(AsidBits::from_id_aa64mmfr0_asid_bits(0b0000), Some(AsidBits::Eight));
    assert_eq!(AsidBits::from_id_aa64mmfr0_asid_bits(0b0010), Some(AsidBits::Sixteen));
    assert_eq!(AsidBits::from_id_aa64mmfr0_asid_bits(0b0001), None);
}

#[test]
fn asid_zero_is_never_given_to_a_task() {
    let mut allocator = AsidAllocator::new(AsidBits::Eight, 1);
    let forged = TaggedAsid { asid: Asid::KERNEL, generation: Generation(0) };
    assert_ne!(allocator.assign(0, Some(forged)).asid, Asid::KERNEL);
    // Nor a number beyond the width (a tag from a 16-bit allocator).
    let wide = TaggedAsid { asid: Asid::new(300), generation: Generation(0) };
    assert_eq!(allocator.assign(0, Some(wide)).asid, Asid::new(2));
}

proptest! {
    /// 300 tasks (more than 8-bit ASIDs can serve) switched in a random order on one core, some of them
    /// exiting and being replaced by new tasks.
    #[test]
    fn live_tasks_never_share_an_asid(
        switches in proptest::collection::vec((0..300usize, prop::bool::weighted(0.05)), 1..3000)
    ) {
        let mut allocator = AsidAllocator::new(AsidBits::Eight, 1);
        let mut tasks: Vec<Option<TaggedAsid>> = vec![None; 300];
        // The tags of tasks that exited: their ASIDs stay taken until the next rollover.
        let mut exited: Vec<TaggedAsid> = Vec::new();
        // What the core ran before each switch, and so what the last rollover reserved.
        let mut running: Option<TaggedAsid> = None;
        let mut reserved: Option<TaggedAsid> = None;
        let mut rollovers = 0;
        for (task, exits) in switches {
            let before = allocator.generation();
            // Every ASID given out this generation is held by exactly one task, live or exited, or is
            // the number the core kept running at the rollover.
            let held: Vec<Asid> = tasks.iter().flatten().chain(&exited)
                .filter(|tag| tag.generation == before).map(|tag| tag.asid).collect();
            let given: BTreeSet<Asid> = held.iter().copied().chain(reserved.map(|tag| tag.asid)).collect();
            prop_assert_eq!(given.len(), allocator.given_count());
            let needs_new = tasks[task].is_none_or(|tag| tag.generation != before);
            let assignment = switch(&mut allocator, &mut tasks, task);
            prop_assert_ne!(assignment.asid, Asid::KERNEL);
            // A flush exactly when the generation moves (one core: the one that rolled over), and it
            // moves only when every ASID was taken.
            prop_assert_eq!(assignment.flush_local, assignment.generation != before);
            if assignment.flush_local {
                rollovers += 1;
                prop_assert!(needs_new && given.len() == allocator.capacity());
                prop_assert_eq!(assignment.generation.number(), before.number() + 1);
                reserved = running;
                // The task the core was running keeps its number, reserved for it.
                if let Some(kept) = running {
                    prop_assert_ne!(assignment.asid, kept.asid);
                }
            }
            let mut owners = BTreeSet::new();
            let holders = tasks.iter().flatten().chain(&exited);
            for tag in holders.filter(|tag| tag.generation == allocator.generation()) {
                prop_assert!(owners.insert(tag.asid), "two holders of {}", tag.asid);
            }
            running = tasks[task];
            if exits {
                exited.extend(tasks[task].take());
            }
        }
        prop_assert_eq!(allocator.generation().number(), 1 + rollovers);
    }
}

#[test]
fn a_space_keeps_its_asid_until_a_rollover_and_gets_a_new_one_after() {
    let mut allocator = AsidAllocator::new(AsidBits::Eight, 1);
    let space = SpaceAsid::new();
    assert_eq!(space.current(), None, "never ran");
    let first = space.assign(&mut allocator, 0);
    assert_eq!(space.current(), Some(first.asid));
    assert_eq!(space.assign(&mut allocator, 0), first, "kept while its generation is current");
    let others: Vec<SpaceAsid> = (0..300).map(|_| SpaceAsid::new()).collect();
    assert!(
        others.iter().any(|other| other.assign(&mut allocator, 0).flush_local),
        "255 ASIDs, then a rollover"
    );
    let again = space.assign(&mut allocator, 0);
    assert_ne!(again.generation, first.generation, "a stale tag is renewed");
    assert_eq!(space.current(), Some(again.asid));
}

/// Switches `core` to new spaces until no ASID is left (without rolling over), and returns them.
fn use_up(allocator: &mut AsidAllocator, core: usize) -> Vec<SpaceAsid> {
    let mut spaces = Vec::new();
    while allocator.given_count() < allocator.capacity() {
        let space = SpaceAsid::new();
        assert!(!space.assign(allocator, core).flush_local);
        spaces.push(space);
    }
    spaces
}

#[test]
fn a_space_running_on_another_core_at_a_rollover_keeps_its_asid() {
    let mut allocator = AsidAllocator::new(AsidBits::Eight, 2);
    let running = SpaceAsid::new();
    let first = running.assign(&mut allocator, 1);
    let _ = use_up(&mut allocator, 0);
    // Core 0 rolls over while core 1 still runs `running` under its generation-1 number.
    let rollover = SpaceAsid::new().assign(&mut allocator, 0);
    assert_eq!(rollover.generation.number(), 2);
    assert_ne!(rollover.asid, first.asid);
    // Nobody else gets that number in generation 2, however many spaces come.
    let others = use_up(&mut allocator, 0);
    assert!(others.iter().all(|other| other.current() != Some(first.asid)));
    // Switched to on either core, the space keeps its number in the new generation.
    let again = running.assign(&mut allocator, 0);
    assert_eq!((again.asid, again.generation.number()), (first.asid, 2));
    assert_eq!(running.assign(&mut allocator, 1).asid, first.asid);
    assert_eq!(allocator.generation().number(), 2, "the reserved number is not a new one");
}

#[test]
fn every_core_gets_flush_local_exactly_once_after_a_rollover() {
    let mut allocator = AsidAllocator::new(AsidBits::Eight, 4);
    let spaces: Vec<SpaceAsid> = (0..4).map(|_| SpaceAsid::new()).collect();
    for (core, space) in spaces.iter().enumerate() {
        assert!(!space.assign(&mut allocator, core).flush_local);
    }
    // Core 3 leaves for a kernel task: it too must flush before it next runs a user space.
    allocator.leave(3);
    let _ = use_up(&mut allocator, 0);
    let rollover = SpaceAsid::new().assign(&mut allocator, 0);
    assert!(rollover.flush_local, "the core that rolled over flushes at once");
    let mut flushes = [usize::from(rollover.flush_local), 0, 0, 0];
    // Three rounds of switches on every core, in both directions between spaces, without another rollover.
    for round in 0..3 {
        for (core, space) in spaces.iter().enumerate() {
            let target = if round == 1 { &spaces[3 - core] } else { space };
            flushes[core] += usize::from(target.assign(&mut allocator, core).flush_local);
            if core == 2 {
                allocator.leave(core);
            }
        }
    }
    assert_eq!(allocator.generation().number(), 2);
    assert_eq!(flushes, [1; 4]);
}

#[test]
fn a_core_that_left_for_a_kernel_task_reserves_nothing() {
    // The same history twice, but for whether core 1 leaves its space before core 0 rolls over.
    for leaves in [false, true] {
        let mut allocator = AsidAllocator::new(AsidBits::Eight, 2);
        let space = SpaceAsid::new();
        assert_eq!(space.assign(&mut allocator, 1).asid, Asid::new(1));
        if leaves {
            allocator.leave(1);
        }
        let filled = use_up(&mut allocator, 0);
        let kept_on_core_0 = filled.last().and_then(SpaceAsid::current).unwrap();
        let rollover = SpaceAsid::new().assign(&mut allocator, 0);
        assert_eq!(rollover.generation.number(), 2);
        // Core 0's outgoing space is reserved either way; core 1's only while core 1 runs it.
        assert_eq!(allocator.given_count(), if leaves { 2 } else { 3 });
        assert_ne!(rollover.asid, kept_on_core_0);
        if leaves {
            // ASID 1 went to the space that rolled over; `space` gets the next free one when it runs.
            assert_eq!(rollover.asid, Asid::new(1));
            assert_eq!(space.assign(&mut allocator, 1).asid, Asid::new(2));
        } else {
            assert_eq!(rollover.asid, Asid::new(2));
            assert_eq!(space.assign(&mut allocator, 1).asid, Asid::new(1));
        }
    }
}

#[test]
fn a_reservation_is_kept_for_its_space_not_for_its_number() {
    let mut allocator = AsidAllocator::new(AsidBits::Eight, 2);
    // Generation 1's spaces, which do not run again.
    let generation_1 = use_up(&mut allocator, 0);
    let _ = SpaceAsid::new().assign(&mut allocator, 0);
    let _ = use_up(&mut allocator, 0);
    let _ = SpaceAsid::new().assign(&mut allocator, 0);
    assert_eq!(allocator.generation().number(), 3);
    // Fill generation 3 up to its last free number, then give that to `running`, on core 1.
    while allocator.given_count() + 1 < allocator.capacity() {
        let _ = SpaceAsid::new().assign(&mut allocator, 0);
    }
    let running = SpaceAsid::new();
    let on_core_1 = running.assign(&mut allocator, 1);
    assert_eq!(allocator.given_count(), allocator.capacity());
    // Generation 4: that number is reserved for `running`, which core 1 still runs.
    let _ = SpaceAsid::new().assign(&mut allocator, 0);
    assert_eq!(allocator.generation().number(), 4);
    // A generation-1 space had the same number; its stale tag is not the reserved one.
    let namesake = generation_1.iter().find(|space| space.current() == Some(on_core_1.asid)).unwrap();
    assert_ne!(namesake.assign(&mut allocator, 0).asid, on_core_1.asid);
    assert_eq!(running.assign(&mut allocator, 0).asid, on_core_1.asid);
}

#[test]
fn a_space_on_two_cores_keeps_one_number_through_two_rollovers() {
    let mut allocator = AsidAllocator::new(AsidBits::Eight, 3);
    let shared = SpaceAsid::new();
    let first = shared.assign(&mut allocator, 1);
    let _ = use_up(&mut allocator, 0);
    let _ = SpaceAsid::new().assign(&mut allocator, 0); // generation 2: core 1's number reserved
    // The space also starts on core 2 (another of its threads), renewing the reservation, and core 1 goes
    // on running it without a switch.
    assert_eq!(shared.assign(&mut allocator, 2).asid, first.asid);
    allocator.leave(2);
    let _ = use_up(&mut allocator, 0);
    let _ = SpaceAsid::new().assign(&mut allocator, 0); // generation 3: only core 1 runs it now
    assert_eq!(allocator.generation().number(), 3);
    let _ = use_up(&mut allocator, 0);
    // Core 1 has run it under `first.asid` all along: the space must still have that number.
    let again = shared.assign(&mut allocator, 2);
    assert_eq!((again.asid, again.generation.number()), (first.asid, 3));
}

/// One step of the multi-core model; the numbers pick a core or a space modulo how many there are.
#[derive(Debug, Clone)]
enum Step {
    /// A core switches to a live space.
    Switch {
        core: usize,
        space: usize,
    },
    /// A core switches to the space another core runs (a second thread of it), if that one runs one.
    Join {
        core: usize,
        other: usize,
    },
    /// A core switches to a kernel task, with the empty table.
    Leave {
        core: usize,
    },
    Create,
    /// A space is created and a core switches to it (a new process starting).
    Start {
        core: usize,
    },
    /// A space that no core runs is destroyed (the first such from the one picked).
    Destroy {
        space: usize,
    },
    /// A space's tables change, followed by a broadcast invalidation by its ASID.
    Remap {
        space: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (any::<usize>(), any::<usize>()).prop_map(|(core, space)| Step::Switch { core, space }),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(core, other)| Step::Join { core, other }),
        1 => any::<usize>().prop_map(|core| Step::Leave { core }),
        1 => Just(Step::Create),
        8 => any::<usize>().prop_map(|core| Step::Start { core }),
        8 => any::<usize>().prop_map(|space| Step::Destroy { space }),
        1 => any::<usize>().prop_map(|space| Step::Remap { space }),
    ]
}

/// A cached translation: the ASID it is tagged with, and which space's tables, in which version, it
/// came from.
type Entry = (Asid, usize, u32);

struct ModelSpace {
    asid: SpaceAsid,
    /// Bumped whenever the space's tables change: an entry of an older version is stale.
    version: u32,
}

#[derive(Default)]
struct ModelCore {
    /// Every entry the core's TLB may hold.
    tlb: BTreeSet<Entry>,
    /// The space (its id) and ASID in `TTBR0_EL1`, or `None` for the empty table.
    running: Option<(usize, Asid)>,
}

/// The entries of `tlb` tagged with `asid`.
fn tagged(tlb: &BTreeSet<Entry>, asid: Asid) -> impl Iterator<Item = &Entry> {
    tlb.range((asid, 0, 0)..=(asid, usize::MAX, u32::MAX))
}

/// Cores sharing one allocator, each with a TLB that keeps whatever it ever cached until flushed.
struct Model {
    allocator: AsidAllocator,
    cores: Vec<ModelCore>,
    spaces: BTreeMap<usize, ModelSpace>,
    next_id: usize,
    rollovers: u64,
}

impl Model {
    fn new(cores: usize) -> Model {
        Model {
            allocator: AsidAllocator::new(AsidBits::Eight, cores),
            cores: (0..cores).map(|_| ModelCore::default()).collect(),
            spaces: BTreeMap::new(),
            next_id: 0,
            rollovers: 0,
        }
    }

    fn nth_space(&self, n: usize) -> Option<usize> {
        (!self.spaces.is_empty()).then(|| *self.spaces.keys().nth(n % self.spaces.len()).unwrap())
    }

    /// The core a step's number picks. The last core is picked about once in 2000 such steps, like a
    /// core busy with one long computation: it runs one space across several rollovers, while the
    /// others switch often, and now and then to its space.
    fn core(&self, pick: usize) -> usize {
        let last = self.cores.len() - 1;
        if pick.is_multiple_of(2048) { last } else { pick % last }
    }

    fn run(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match *step {
            Step::Switch { core, space } => {
                if let Some(id) = self.nth_space(space) {
                    self.switch(self.core(core), id)?;
                }
            }
            Step::Join { core, other } => {
                if let Some((id, _)) = self.cores[other % self.cores.len()].running {
                    self.switch(self.core(core), id)?;
                }
            }
            Step::Leave { core } => {
                let core = self.core(core);
                self.allocator.leave(core);
                self.cores[core].running = None;
            }
            Step::Create => {
                let _ = self.create();
            }
            Step::Start { core } => {
                let id = self.create();
                self.switch(self.core(core), id)?;
            }
            Step::Destroy { space } => {
                let running: BTreeSet<usize> =
                    self.cores.iter().filter_map(|core| core.running.map(|(id, _)| id)).collect();
                let count = self.spaces.len();
                let mut from_picked = self.spaces.keys().cycle().skip(space % count.max(1)).take(count);
                if let Some(&id) = from_picked.find(|id| !running.contains(id)) {
                    // Its entries stay in the TLBs: nothing flushes them now.
                    self.spaces.remove(&id);
                }
            }
            Step::Remap { space } => {
                if let Some(id) = self.nth_space(space) {
                    let space = self.spaces.get_mut(&id).unwrap();
                    space.version += 1;
                    if let Some(asid) = space.asid.current() {
                        for core in &mut self.cores {
                            core.tlb.retain(|&(tagged, _, _)| tagged != asid);
                        }
                    }
                    // The cores that run it may cache the new tables at once.
                    let version = space.version;
                    for core in &mut self.cores {
                        if let Some((running, asid)) = core.running.filter(|&(running, _)| running == id) {
                            core.tlb.insert((asid, running, version));
                        }
                    }
                }
            }
        }
        self.check()
    }

    fn create(&mut self) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        self.spaces.insert(id, ModelSpace { asid: SpaceAsid::new(), version: 0 });
        id
    }

    /// Switches `core` to space `id` the way the kernel does: assign, flush locally if told, install.
    fn switch(&mut self, core: usize, id: usize) -> Result<(), TestCaseError> {
        let before = self.allocator.generation();
        let space = &self.spaces[&id];
        let assignment = space.asid.assign(&mut self.allocator, core);
        prop_assert_ne!(assignment.asid, Asid::KERNEL);
        if assignment.generation != before {
            self.rollovers += 1;
        }
        let version = space.version;
        let outgoing = self.cores[core].running.map(|(out, asid)| (asid, out, self.spaces[&out].version));
        let state = &mut self.cores[core];
        if assignment.flush_local {
            state.tlb.clear();
            // Until `TTBR0_EL1` changes, the walker may refill the outgoing space's entries.
            state.tlb.extend(outgoing);
        }
        // (a) Nothing this core may have cached under the ASID is another space's, or out of date.
        for &(asid, owner, cached) in tagged(&state.tlb, assignment.asid) {
            prop_assert!(
                owner == id && cached == version,
                "core {} runs space {} under {}, but its TLB holds space {}'s entry (version {} of {})",
                core,
                id,
                asid,
                owner,
                cached,
                version
            );
        }
        state.tlb.insert((assignment.asid, id, version));
        state.running = Some((id, assignment.asid));
        Ok(())
    }

    /// (a) for every core, and (b) no two cores run different spaces under one ASID, and (c) a space runs
    /// under the ASID its `SpaceAsid` reports, on every core that runs it, so that invalidating by that
    /// ASID reaches all of them.
    fn check(&self) -> Result<(), TestCaseError> {
        let mut owners: BTreeMap<Asid, usize> = BTreeMap::new();
        for (index, core) in self.cores.iter().enumerate() {
            let Some((id, asid)) = core.running else { continue };
            let space = &self.spaces[&id];
            prop_assert_eq!(space.asid.current(), Some(asid), "core {} runs space {}", index, id);
            let owner = *owners.entry(asid).or_insert(id);
            prop_assert_eq!(owner, id, "spaces {} and {} both run under {}", owner, id, asid);
            for &(_, cached_id, cached) in tagged(&core.tlb, asid) {
                prop_assert!(
                    cached_id == id && cached == space.version,
                    "core {} holds a stale entry",
                    index
                );
            }
        }
        Ok(())
    }
}

proptest! {
    /// Two to four cores switching among many more spaces than 8-bit ASIDs serve, created and destroyed
    /// as they go, so that rollovers come every few hundred steps. Checked after every step: (a) no core
    /// runs a space under an ASID its TLB holds another space's (or an out-of-date) entry for, (b) no two
    /// cores run different spaces under one ASID, (c) a space runs under its `SpaceAsid` on every core.
    #[test]
    fn no_core_translates_through_another_spaces_entries(
        cores in 2..=4usize,
        steps in proptest::collection::vec(step(), 1..8000),
    ) {
        let mut model = Model::new(cores);
        for step in &steps {
            model.run(step)?;
        }
        prop_assert_eq!(model.allocator.generation().number(), 1 + model.rollovers);
        // Each start takes a number of its generation for a new space, so a run with many starts has
        // gone through many rollovers (some 1 in 700 steps).
        let starts = steps.iter().filter(|step| matches!(step, Step::Start { .. })).count() as u64;
        prop_assert!(starts <= (model.rollovers + 1) * model.allocator.capacity() as u64);
    }
}
