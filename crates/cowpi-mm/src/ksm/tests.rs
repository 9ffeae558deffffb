use proptest::prelude::*;

use super::*;

type Key = (u32, u64);

#[test]
fn a_page_is_volatile_until_it_keeps_its_checksum() {
    let mut book = KsmBook::<Key>::new();
    assert_eq!(book.observe((1, 7), Checksum(10)), Observation::Volatile);
    assert_eq!(book.observe((1, 7), Checksum(10)), Observation::Unchanged);
    assert_eq!(book.observe((1, 7), Checksum(11)), Observation::Volatile);
    assert_eq!(book.observe((1, 7), Checksum(11)), Observation::Unchanged);
    assert_eq!(book.counters().pages_scanned, 4);
}

#[test]
fn the_unstable_set_pairs_pages_and_is_rebuilt_every_pass() {
    let mut book = KsmBook::<Key>::new();
    book.add_unstable((1, 1), Frame::from_number(100), Checksum(5));
    assert_eq!(book.merge_unstable(Checksum(6), |_, _| true), None);
    assert_eq!(book.merge_unstable(Checksum(5), |_, _| true), Some(((1, 1), Frame::from_number(100))));
    assert_eq!(book.merge_unstable(Checksum(5), |_, _| true), None);
    book.add_unstable((1, 2), Frame::from_number(101), Checksum(5));
    book.add_unstable((1, 3), Frame::from_number(102), Checksum(9));
    book.end_pass(|_| true);
    assert_eq!(book.counters().pages_unshared, 2);
    assert_eq!(book.merge_unstable(Checksum(5), |_, _| true), None, "the unstable set survived a pass");
}

#[test]
fn stable_frames_stay_until_pruned() {
    let mut book = KsmBook::<Key>::new();
    book.add_stable(Frame::from_number(1), Checksum(3));
    book.add_stable(Frame::from_number(2), Checksum(3));
    book.end_pass(|_| true);
    assert_eq!(book.stable_candidates(Checksum(3)), [Frame::from_number(1), Frame::from_number(2)]);
    let dropped = book.prune_stable(|frame| frame.number() == 2);
    assert_eq!(dropped, [Frame::from_number(1)]);
    assert_eq!(book.stable_frames().count(), 1);
    assert_eq!(book.prune_stable(|_| false), [Frame::from_number(2)]);
    assert!(book.stable_candidates(Checksum(3)).is_empty());
}

#[test]
fn equal_checksums_only_propose_candidates() {
    // Every page has the same checksum: the book proposes every earlier page, in page order, and the
    // caller's comparison decides.
    let mut book = KsmBook::<Key>::new();
    for page in 0..4 {
        book.observe((1, page), Checksum(0));
        assert_eq!(book.observe((1, page), Checksum(0)), Observation::Unchanged);
        book.add_unstable((1, page), Frame::from_number(page), Checksum(0));
    }
    let mut proposed = Vec::new();
    let refused = book.merge_unstable(Checksum(0), |(_, page), _| {
        proposed.push(page);
        false
    });
    assert_eq!(refused, None);
    assert_eq!(proposed, [0, 1, 2, 3]);
}

#[test]
fn a_page_meets_the_identical_one_behind_others_with_its_checksum() {
    // Pages 1 and 3 are alike, page 2 differs, all with one checksum: page 3 must reach page 1 past page 2
    // (taking only the latest page would end the search at page 2, and they would never merge).
    let mut book = KsmBook::<Key>::new();
    book.add_unstable((1, 1), Frame::from_number(101), Checksum(0));
    book.add_unstable((1, 2), Frame::from_number(102), Checksum(0));
    let merged = book.merge_unstable(Checksum(0), |_, frame| frame == Frame::from_number(101));
    assert_eq!(merged, Some(((1, 1), Frame::from_number(101))));
    let left = book.merge_unstable(Checksum(0), |_, _| true);
    assert_eq!(left, Some(((1, 2), Frame::from_number(102))), "the refused page left the unstable set");
    assert_eq!(book.merge_unstable(Checksum(0), |_, _| true), None, "the merged page stayed");
}

#[test]
fn sharing_counts_only_stable_frames_still_mapped() {
    let mut book = KsmBook::<Key>::new();
    book.add_stable(Frame::from_number(1), Checksum(1));
    book.add_stable(Frame::from_number(2), Checksum(2));
    book.add_stable(Frame::from_number(3), Checksum(3));
    // Frame 1: three mappings and the scanner's hold; frame 2: one mapping; frame 3: only the scanner.
    let refcount = |frame: Frame| match frame.number() {
        1 => 4,
        2 => 2,
        _ => 1,
    };
    assert_eq!(book.sharing(refcount), Sharing { pages_shared: 2, pages_sharing: 2 });
}

#[test]
fn forgotten_pages_start_over_as_volatile() {
    let mut book = KsmBook::<Key>::new();
    book.observe((1, 1), Checksum(1));
    book.observe((2, 1), Checksum(1));
    book.end_pass(|(task, _)| task != 2);
    assert_eq!(book.counters().pages_volatile, 2);
    assert_eq!(book.observe((1, 1), Checksum(1)), Observation::Unchanged);
    assert_eq!(
        book.observe((2, 1), Checksum(1)),
        Observation::Volatile,
        "an exited task's page was remembered"
    );
    assert_eq!(book.counters().full_scans, 1);
}

#[test]
fn tracked_counts_remembered_pages_and_stable_frames() {
    let mut book = KsmBook::<Key>::new();
    assert_eq!(book.tracked(), 0);
    book.observe((1, 1), Checksum(1));
    book.observe((1, 2), Checksum(1));
    book.observe((1, 1), Checksum(1));
    assert!(book.knows((1, 2)) && !book.knows((2, 2)));
    book.add_stable(Frame::from_number(9), Checksum(1));
    assert_eq!(book.tracked(), 3);
    // Pages of a task that is gone are forgotten at the end of the pass.
    book.end_pass(|(pid, page)| pid == 1 && page == 1);
    assert_eq!(book.tracked(), 2);
    book.prune_stable(|_| false);
    assert_eq!(book.tracked(), 1);
}

#[test]
fn pages_not_visited_in_a_pass_are_forgotten() {
    let mut book = KsmBook::<Key>::new();
    book.observe((1, 1), Checksum(1));
    book.observe((1, 2), Checksum(1));
    book.end_pass(|_| true);
    // Page 2 is not visited in the second pass (unmapped, say).
    assert_eq!(book.observe((1, 1), Checksum(1)), Observation::Unchanged);
    book.end_pass(|_| true);
    assert!(book.knows((1, 1)) && !book.knows((1, 2)));
    assert_eq!(book.tracked(), 1);
    assert_eq!(book.observe((1, 2), Checksum(1)), Observation::Volatile, "a forgotten page is new again");
}

#[test]
fn merges_and_zero_page_merges_are_counted_apart_and_across_passes() {
    let mut book = KsmBook::<Key>::new();
    book.note_merge();
    book.note_zero_page_merge();
    book.end_pass(|_| true);
    book.note_merge();
    let counters = book.counters();
    assert_eq!((counters.merges, counters.zero_pages_merged), (2, 1));
}

/// One pass of `observations` (page, checksum) with unstable pages added for every other one, then the
/// pass's end: all at once (`budget` None) or in steps of `budget` entries.
fn run_pass(book: &mut KsmBook<Key>, observations: &[(Key, u64)], dead_task: u32, budget: Option<usize>) {
    for (i, &(key, sum)) in observations.iter().enumerate() {
        if book.observe(key, Checksum(sum)) == Observation::Unchanged && i % 2 == 0 {
            book.add_unstable(key, Frame::from_number(i as u64), Checksum(sum));
        }
    }
    let alive = |(task, _): Key| task != dead_task;
    match budget {
        None => book.end_pass(alive),
        Some(budget) => {
            book.begin_end_of_pass();
            let mut steps = 0;
            while !book.end_pass_step(budget, alive) {
                assert!(book.ending_pass());
                steps += 1;
                // At most 36 pages remembered and 20 unstable: one entry a step ends it within 56.
                assert!(steps <= 56, "the end of a pass never ended");
            }
        }
    }
    assert!(!book.ending_pass());
}

proptest! {
    /// Ending a pass in steps of any size leaves the book as ending it at once does: the same pages
    /// remembered (those visited in the pass whose task lives), the same counters, the unstable set empty.
    #[test]
    fn a_pass_ended_in_steps_ends_as_one_ended_at_once(
        passes in proptest::collection::vec(
            (proptest::collection::vec(((0u32..3, 0u64..12), 0u64..3), 0..40), 0u32..4),
            1..5,
        ),
        budget in 1usize..6,
    ) {
        let mut at_once = KsmBook::<Key>::new();
        let mut stepped = KsmBook::<Key>::new();
        for (observations, dead_task) in &passes {
            run_pass(&mut at_once, observations, *dead_task, None);
            run_pass(&mut stepped, observations, *dead_task, Some(budget));
            prop_assert_eq!(stepped.counters(), at_once.counters());
            prop_assert_eq!(stepped.tracked(), at_once.tracked());
            for task in 0..3 {
                for page in 0..12 {
                    prop_assert_eq!(stepped.knows((task, page)), at_once.knows((task, page)));
                }
            }
            prop_assert_eq!(stepped.merge_unstable(Checksum(0), |_, _| true), None);
        }
    }
}
