//! Running out: of frames, with many tasks racing for more than the machine has (`oomrace`), and of
//! tasks, with a fork bomb (`forkbomb`) and places reserved for tasks being made; and what
//! becomes of the children of a task that ends first (`orphans`). The programs check what they can see;
//! these tests add what only the kernel can: its own counts (kills, tasks refused, the most tasks at
//! once), every frame and every task slot back afterwards, and a kernel that still starts programs.

use alloc::format;
use alloc::vec::Vec;

use cowpi_abi::ExitStatus;

use super::programs::{finish, run, start};
use crate::arch::time;
use crate::memory::address_space::{self, FaultError};
use crate::memory::{counters, frames, heap};
use crate::task::{self, scheduler, user::MAX_TASKS, user::TASKS_REFUSED};
use crate::{check, check_eq, check_ok, kernel_test};
use cowpi_mm::Frame;

/// Free frames left for the race: the test holds all the others (a [`Ballast`]), so that the race takes
/// the same few seconds on every board: each frame a racer takes costs a page fault, about 45 µs in QEMU
/// on a busy host, and racing for all of raspi4b's 1984 MiB takes over half a minute. The racers still
/// reserve more than the machine's whole RAM, and still run the frame table dry.
const RACE_FRAMES: usize = 32768;

/// Frames the test holds, unused, so that fewer are left for user tasks; given back when dropped.
struct Ballast(Vec<Frame>);

impl Ballast {
    /// Takes free frames until `left` are free (or none left to take).
    fn leaving_free(left: usize) -> Ballast {
        let mut held = Vec::new();
        while frames::counters().free > left {
            let wanted = (frames::counters().free - left).min(BALLAST_BATCH);
            // In batches: the frame table's lock masks interrupts while it is held.
            let batch =
                frames::with_table(|table| (0..wanted).map_while(|_| table.alloc().ok()).collect::<Vec<_>>());
            if batch.is_empty() {
                break;
            }
            held.extend(batch);
        }
        Ballast(held)
    }
}

/// Frames taken with one hold of the frame table's lock.
const BALLAST_BATCH: usize = 4096;

impl Drop for Ballast {
    fn drop(&mut self) {
        for frame in self.0.drain(..) {
            let _ = frames::release(frame);
        }
    }
}

/// What must be as it was after a storm: every frame free again, no task left behind, and the kernel
/// still able to start a program.
fn everything_is_back(free_before: usize, tasks_before: usize) -> crate::ktest::TestResult {
    check_eq!(frames::counters().free, free_before);
    check_eq!(scheduler::task_count(), tasks_before);
    check_eq!(run("hello", "after the storm")?, Some(ExitStatus::Exited(0)));
    Ok(())
}

kernel_test! {
    /// Four racers each reserve more than all of RAM and race to write a quota of pages, their quotas
    /// one and a half times the free frames together (`RACE_FRAMES`, the test holds the rest); two fork a checker halfway, under pressure; a bystander holds its
    /// pages through it all. The kernel kills some racers for memory, and `oomrace` checks every page of
    /// every survivor, of the bystander and of the checkers, and reports how many kills it saw: exactly
    /// as many as the kernel counted. Every frame comes back, and the kernel still runs programs.
    fn racing_for_more_than_ram_kills_some_and_spares_the_data_of_the_rest() -> TestResult {
        let free_before = frames::counters().free;
        let tasks_before = scheduler::task_count();
        let kills_before = counters::OOM_KILLS.get();
        let ballast = Ballast::leaving_free(RACE_FRAMES);
        let status = run("oomrace", "4 forkers=2 report=kills")?;
        drop(ballast);
        let kills_seen = match status {
            Some(ExitStatus::Exited(kills)) if (1..255).contains(&kills) => u64::from(kills),
            other => return Err(crate::ktest::TestFailure {
                message: format!("oomrace ended {other:?}: it reports its kills (1 to 254) when all held"),
                file: file!(),
                line: line!(),
            }),
        };
        check_eq!(counters::OOM_KILLS.get() - kills_before, kills_seen);
        everything_is_back(free_before, tasks_before)
    }
}

kernel_test! {
    /// A fork bomb meets the task limit: at its height exactly `MAX_TASKS` tasks exist (those alive
    /// before included, never one more), `FORK` answers `TooManyTasks`, and the whole tree winds down:
    /// `forkbomb` exits with 0, every task slot and every frame comes back.
    fn a_fork_bomb_meets_the_task_limit_and_winds_down() -> TestResult {
        let free_before = frames::counters().free;
        let tasks_before = scheduler::task_count();
        let refused_before = TASKS_REFUSED.get();
        scheduler::take_peak_task_count();
        check_eq!(run("forkbomb", "")?, Some(ExitStatus::Exited(0)));
        check_eq!(scheduler::take_peak_task_count(), MAX_TASKS);
        let refused = TASKS_REFUSED.get() - refused_before;
        check!(refused >= 1, "no fork was refused");
        everything_is_back(free_before, tasks_before)
    }
}

kernel_test! {
    /// A place reserved for a task being made (a fork copying its address space, a spawn loading its
    /// program) counts against the limit until the task is in or the place given back: with one place
    /// left, a second reservation is refused, so two forks or spawns both past the check can never both
    /// add a task. Dropping a reservation gives its place back.
    fn a_reserved_task_slot_counts_against_the_limit() -> TestResult {
        let tasks_before = scheduler::task_count();
        let limit = tasks_before + 1;
        let slot = scheduler::reserve_slot(limit);
        check!(slot.is_ok(), "the last place was refused");
        check_eq!(scheduler::reserve_slot(limit).err(), Some(scheduler::TaskLimitReached));
        drop(slot);
        let again = scheduler::reserve_slot(limit);
        check!(again.is_ok(), "the place given back was refused");
        drop(again);
        check_eq!(scheduler::task_count(), tasks_before);
        Ok(())
    }
}

kernel_test! {
    /// A user task collects the children of a child that ended before them: `WAIT` for any child
    /// returns the adopted grandchild with its status, then `NoChild`.
    fn a_user_task_adopts_the_children_of_its_child() -> TestResult {
        let tasks_before = scheduler::task_count();
        check_eq!(run("orphans", "adopt")?, Some(ExitStatus::Exited(0)));
        check_eq!(scheduler::task_count(), tasks_before);
        Ok(())
    }
}

kernel_test! {
    /// The child of a task started by the kernel, left behind when that task ends, is freed as soon as it
    /// exits: nobody can collect it, so it leaves the task table at its last switch and the next task to
    /// run frees its kernel stack. Watched without freeing anything itself (`ps`'s snapshot, the heap
    /// counter): the orphan used to stay listed as exited, holding its 32 KiB stack, until some other
    /// task was reaped.
    fn an_orphan_of_a_kernel_started_task_is_freed_when_it_exits() -> TestResult {
        let tasks_before = task::tasks_snapshot().len();
        let heap_before = heap::stats().requested;
        let parent = start("orphans", "detach")?;
        check_eq!(finish(parent)?, Some(ExitStatus::Exited(0)));
        let orphan = task::tasks_snapshot().iter().find(|t| t.parent.is_none() && t.name == "orphans").map(|t| t.pid);
        let orphan = check_ok!(orphan.ok_or("no orphan: it ended before its parent"));
        // It sleeps 50 ms; once it has ended, it must be gone from the table at once.
        let deadline = time::ticks() + time::frequency();
        let alive = || task::tasks_snapshot().iter().any(|t| t.pid == orphan && t.state.name() != "exited");
        while alive() && time::ticks() < deadline {
            task::sleep(5);
        }
        let listed = task::tasks_snapshot().iter().find(|t| t.pid == orphan).map(|t| t.state.name());
        check_eq!(listed, None);
        check_eq!(task::tasks_snapshot().len(), tasks_before);
        check_eq!(heap::stats().requested, heap_before);
        Ok(())
    }
}

kernel_test! {
    /// `WAIT` whose status page needs a frame (shared copy-on-write with a sibling) when none is free fails
    /// with `OutOfMemory` before it reaps the child, so the status is not lost: `waitoom` gets it once
    /// frames are free again. The test takes every free frame while `waitoom` waits for the shortage.
    fn wait_with_no_frame_for_the_status_keeps_the_child() -> TestResult {
        let free_before = frames::counters().free;
        let parent = start("waitoom", "")?;
        // The shortage starts once the parent and the holder sleep, their stacks touched.
        let family = || -> Vec<(task::Pid, &'static str)> {
            let tasks = task::tasks_snapshot();
            let mine = tasks.iter().filter(|t| t.pid == parent || t.parent == Some(parent));
            mine.map(|t| (t.pid, t.state.name())).collect()
        };
        // Once seen asleep, a task is past its stack's touching (it sleeps only in its polls). Yielding,
        // not sleeping, so that this loop does not wake in step with their 1 ms polls and always find
        // them just woken.
        let mut seen_asleep = Vec::new();
        let deadline = time::ticks() + 5 * time::frequency();
        while seen_asleep.len() < 2 && time::ticks() < deadline {
            for (pid, state) in family() {
                if state == "sleeping" && !seen_asleep.contains(&pid) {
                    seen_asleep.push(pid);
                }
            }
            task::yield_now();
        }
        check!(seen_asleep.len() == 2, "waitoom and its holder never both slept waiting for the shortage: {:?}", family());
        let ballast = Ballast::leaving_free(0);
        task::sleep(300);
        drop(ballast);
        check_eq!(finish(parent)?, Some(ExitStatus::Exited(0)));
        check_eq!(frames::counters().free, free_before);
        Ok(())
    }
}

kernel_test! {
    /// No frame for the copy of a shared level-3 table: the write that needed it fails with
    /// `OutOfMemory` (the fault handler then kills only the writer), and so do `PROTECT` and `UNMAP` in
    /// the table, and nothing changed: both address spaces still share the table, map the same frames
    /// and read the same bytes. Once frames are back, the same write copies the table and stays in the
    /// writer, and tearing both down gives every frame back.
    fn no_frame_for_a_shared_tables_copy_changes_nothing() -> TestResult {
        const PAGES: u64 = 600;
        let free_before = frames::counters().free;
        let mut parent = check_ok!(address_space::new());
        let start = check_ok!(parent.map_anonymous(None, PAGES, cowpi_mm::Prot::READ_WRITE));
        for index in 0..PAGES {
            check_ok!(parent.write_user(start + index * 4096, &[(index % 251) as u8 + 1]));
        }
        let mut child = check_ok!(address_space::fork(&mut parent, cowpi_abi::ForkMode::CopyOnWrite, None));
        let first = cowpi_mm::Page::containing(cowpi_mm::VirtAddr::new(start));
        check!(child.in_shared_table(first) && parent.in_shared_table(first), "the fork shared no table");
        let before = (parent.page_counts(), child.page_counts());
        let free_at_fork = frames::counters().free;

        let ballast = Ballast::leaving_free(0);
        check_eq!(child.resolve_fault(start, cowpi_mm::Access::Write), Err(FaultError::OutOfMemory));
        check_eq!(child.protect(start, 1, cowpi_mm::Prot::READ), Err(cowpi_abi::Error::OutOfMemory));
        check_eq!(child.unmap(start, 1), Err(cowpi_abi::Error::OutOfMemory));
        check_eq!(parent.write_user(start, &[0xEE]), Err(cowpi_abi::Error::OutOfMemory));
        drop(ballast);

        check_eq!(frames::counters().free, free_at_fork);
        check_eq!((parent.page_counts(), child.page_counts()), before);
        check!(child.in_shared_table(first) && parent.in_shared_table(first), "a failed copy unshared");
        for index in 0..PAGES {
            let address = start + index * 4096;
            check_eq!(check_ok!(child.read_user(address, 1)), [(index % 251) as u8 + 1]);
            check_eq!(check_ok!(parent.read_user(address, 1)), [(index % 251) as u8 + 1]);
        }
        check_ok!(child.write_user(start, &[0xCC]));
        check!(!child.in_shared_table(first), "the write did not give the child its own table");
        check_eq!(check_ok!(parent.read_user(start, 1)), [1]);
        check_eq!(check_ok!(child.read_user(start, 1)), [0xCC]);
        drop(child);
        drop(parent);
        check_eq!(frames::counters().free, free_before);
        Ok(())
    }
}
