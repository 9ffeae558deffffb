//! Tests of the ASID allocator: first use, keeping an ASID, rollover, and a property test with more tasks
//! than ASIDs that checks no two tasks of the current generation ever share one.

extern crate std;

use std::collections::BTreeSet;
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;

/// Switches to `task` (an index into `tasks`), which keeps its new tag.
fn switch(allocator: &mut AsidAllocator, tasks: &mut [Option<TaggedAsid>], task: usize) -> Assignment {
    let assignment = allocator.assign(tasks[task]);
    tasks[task] = Some(assignment.tagged());
    assignment
}

#[test]
fn new_tasks_get_ascending_asids_without_flushes() {
    let mut allocator = AsidAllocator::new(AsidBits::Eight);
    assert_eq!(allocator.capacity(), 255);
    for expected in 1..=5 {
        let assignment = allocator.assign(None);
        assert_eq!(assignment.asid, Asid::new(expected));
        assert_eq!(assignment.generation.number(), 1);
        assert!(!assignment.flush_all);
    }
    assert_eq!(allocator.given_count(), 5);
}

#[test]
fn a_task_keeps_its_asid_while_the_generation_is_current() {
    let mut allocator = AsidAllocator::new(AsidBits::Eight);
    let first = allocator.assign(None);
    let _other = allocator.assign(None);
    let again = allocator.assign(Some(first.tagged()));
    assert_eq!(again, first);
    assert_eq!(allocator.given_count(), 2);
}

#[test]
fn running_out_rolls_over_once_and_asks_for_a_flush() {
    let mut allocator = AsidAllocator::new(AsidBits::Eight);
    let mut tasks = vec![None; 256];
    for task in 0..255 {
        assert!(!switch(&mut allocator, &mut tasks, task).flush_all);
    }
    // The 256th task finds nothing free: new generation, flush, and it takes ASID 1.
    let rollover = switch(&mut allocator, &mut tasks, 255);
    assert!(rollover.flush_all);
    assert_eq!((rollover.asid, rollover.generation.number()), (Asid::new(1), 2));
    // Task 0 had ASID 1 in generation 1: taken now, so it gets the next free one, without another flush.
    let task0 = switch(&mut allocator, &mut tasks, 0);
    assert_eq!((task0.asid, task0.generation.number(), task0.flush_all), (Asid::new(2), 2, false));
    // Task 9 had ASID 10, still free in generation 2: it keeps the number.
    let task9 = switch(&mut allocator, &mut tasks, 9);
    assert_eq!((task9.asid, task9.flush_all), (Asid::new(10), false));
    // Allocation goes on from the lowest free ASID, skipping the one task 9 took back.
    let asids: Vec<u16> =
        (1..=8).map(|task| switch(&mut allocator, &mut tasks, task).asid.as_u16()).collect();
    assert_eq!(asids, [3, 4, 5, 6, 7, 8, 9, 11]);
}

#[test]
fn a_stale_task_that_triggers_the_rollover_keeps_its_number() {
    let mut allocator = AsidAllocator::new(AsidBits::Eight);
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
        assert!(!switch(&mut allocator, &mut tasks, task).flush_all);
    }
    assert_eq!(allocator.given_count(), allocator.capacity());
    assert_eq!(tasks[50].unwrap().generation.number(), 1);
    // Task 50 forces generation 3, where everything is free again: it gets its old number back.
    let rollover = switch(&mut allocator, &mut tasks, 50);
    assert_eq!((rollover.asid, rollover.generation.number(), rollover.flush_all), (Asid::new(51), 3, true));
}

#[test]
fn sixteen_bit_asids_last_65535_tasks() {
    let mut allocator = AsidAllocator::new(AsidBits::Sixteen);
    assert_eq!(allocator.capacity(), 65535);
    for expected in 1..=65535u16 {
        let assignment = allocator.assign(None);
        assert_eq!((assignment.asid.as_u16(), assignment.flush_all), (expected, false));
    }
    let rollover = allocator.assign(None);
    assert_eq!((rollover.asid, rollover.generation.number(), rollover.flush_all), (Asid::new(1), 2, true));
}

#[test]
fn asid_width_from_the_id_register() {
    assert_eq!(AsidBits::from_id_aa64mmfr0_asid_bits(0b0000), Some(AsidBits::Eight));
    assert_eq!(AsidBits::from_id_aa64mmfr0_asid_bits(0b0010), Some(AsidBits::Sixteen));
    assert_eq!(AsidBits::from_id_aa64mmfr0_asid_bits(0b0001), None);
}

#[test]
fn asid_zero_is_never_given_to_a_task() {
    let mut allocator = AsidAllocator::new(AsidBits::Eight);
    let forged = TaggedAsid { asid: Asid::KERNEL, generation: Generation(0) };
    assert_ne!(allocator.assign(Some(forged)).asid, Asid::KERNEL);
    // Nor a number beyond the width (a tag from a 16-bit allocator).
    let wide = TaggedAsid { asid: Asid::new(300), generation: Generation(0) };
    assert_eq!(allocator.assign(Some(wide)).asid, Asid::new(2));
}

proptest! {
    /// 300 tasks (more than 8-bit ASIDs can serve) switched in a random order, some of them exiting and
    /// being replaced by new tasks.
    #[test]
    fn live_tasks_never_share_an_asid(
        switches in proptest::collection::vec((0..300usize, prop::bool::weighted(0.05)), 1..3000)
    ) {
        let mut allocator = AsidAllocator::new(AsidBits::Eight);
        let mut tasks: Vec<Option<TaggedAsid>> = vec![None; 300];
        // The tags of tasks that exited: their ASIDs stay taken until the next rollover.
        let mut exited: Vec<TaggedAsid> = Vec::new();
        let mut rollovers = 0;
        for (task, exits) in switches {
            let before = allocator.generation();
            // Every ASID given out this generation is held by exactly one task, live or exited.
            let held = tasks.iter().flatten().chain(&exited).filter(|tag| tag.generation == before).count();
            prop_assert_eq!(held, allocator.given_count());
            let needs_new = tasks[task].is_none_or(|tag| tag.generation != before);
            let assignment = switch(&mut allocator, &mut tasks, task);
            prop_assert_ne!(assignment.asid, Asid::KERNEL);
            // A flush exactly when the generation moves, and it moves only when every ASID was taken.
            prop_assert_eq!(assignment.flush_all, assignment.generation != before);
            if assignment.flush_all {
                rollovers += 1;
                prop_assert!(needs_new && held == allocator.capacity());
                prop_assert_eq!(assignment.generation.number(), before.number() + 1);
            }
            let mut owners = BTreeSet::new();
            let holders = tasks.iter().flatten().chain(&exited);
            for tag in holders.filter(|tag| tag.generation == allocator.generation()) {
                prop_assert!(owners.insert(tag.asid), "two holders of {}", tag.asid);
            }
            if exits {
                exited.extend(tasks[task].take());
            }
        }
        prop_assert_eq!(allocator.generation().number(), 1 + rollovers);
    }
}

#[test]
fn a_space_keeps_its_asid_until_a_rollover_and_gets_a_new_one_after() {
    let mut allocator = AsidAllocator::new(AsidBits::Eight);
    let space = SpaceAsid::new();
    assert_eq!(space.current(), None, "never ran");
    let first = space.assign(&mut allocator);
    assert_eq!(space.current(), Some(first.asid));
    assert_eq!(space.assign(&mut allocator), first, "kept while its generation is current");
    let others: Vec<SpaceAsid> = (0..300).map(|_| SpaceAsid::new()).collect();
    assert!(others.iter().any(|other| other.assign(&mut allocator).flush_all), "255 ASIDs, then a rollover");
    let again = space.assign(&mut allocator);
    assert_ne!(again.generation, first.generation, "a stale tag is renewed");
    assert_eq!(space.current(), Some(again.asid));
}
