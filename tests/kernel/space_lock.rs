//! The per-address-space lock (`task::space`, `sync::TaskLock`): a fork, a teardown or a range call holds
//! only its own space's lock, with interrupts on, so the machine goes on while it works; whoever else
//! needs that space (`ps`, the audit, page merging) waits for it or, under a lock that may not wait, leaves
//! it for later.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use alloc::sync::Arc;

use cowpi_abi::ExitStatus;

use super::programs::{finish, start};
use crate::bench::probe;
use crate::memory::{frames, ksm};
use crate::task::space::SharedSpace;
use crate::task::{self, scheduler};
use crate::{check, check_eq, check_ok, kernel_test};

kernel_test! {
    /// While a 128 MiB eager fork copies, the timer preempts it and other tasks run; `ps` meanwhile waits
    /// for the forking space and then shows it. When the fork ran under the scheduler lock with interrupts
    /// masked, no other task could ever see it in progress.
    fn other_tasks_run_while_a_large_fork_copies() -> TestResult {
        let free_before = frames::counters().free;
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicU64::new(0));
        let listed_pages = Arc::new(AtomicU64::new(0));
        probe::arm();
        let watcher = {
            let (stop, seen, listed_pages) = (stop.clone(), seen.clone(), listed_pages.clone());
            task::spawn_kernel("fork-watcher", move || {
                while !stop.load(Ordering::Relaxed) {
                    if probe::fork_in_progress() && seen.fetch_add(1, Ordering::Relaxed) == 0 {
                        // Waits for the forking task's space, which its fork holds.
                        let resident = task::tasks_snapshot()
                            .iter()
                            .filter_map(|t| t.pages)
                            .map(|pages| pages.resident)
                            .max()
                            .unwrap_or(0);
                        listed_pages.store(resident, Ordering::Relaxed);
                    }
                    task::yield_now();
                }
                0
            })
        };
        let forker = start("forktest", "eager 32768")?;
        let status = finish(forker);
        stop.store(true, Ordering::Relaxed);
        let watched = task::wait(Some(watcher));
        probe::disarm();
        check_eq!(status?, Some(ExitStatus::Exited(0)));
        check_eq!(watched.map(|(_, status)| status), Ok(0));
        let seen = seen.load(Ordering::Relaxed);
        crate::println!("space_lock: another task ran {seen} times during the fork");
        check!(seen > 0, "no other task ran while the fork copied 128 MiB");
        let listed = listed_pages.load(Ordering::Relaxed);
        check!(listed >= 32768, "ps during the fork showed {listed} resident pages, not the parent's 32768");
        check_eq!(frames::counters().free, free_before);
        Ok(())
    }
}

/// Starts a kernel task that holds `space`'s lock across a sleep of `ms`; returns it once it holds it,
/// with the flag it sets just before letting go.
fn hold_while_sleeping(space: &Arc<SharedSpace>, ms: u64) -> (task::Pid, Arc<AtomicBool>) {
    let (holding, releasing) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let holder = {
        let (space, holding, releasing) = (space.clone(), holding.clone(), releasing.clone());
        task::spawn_kernel("space-holder", move || {
            space.space.lock(|_| {
                holding.store(true, Ordering::Relaxed);
                task::sleep(ms);
                releasing.store(true, Ordering::Relaxed);
            });
            0
        })
    };
    while !holding.load(Ordering::Relaxed) {
        task::yield_now();
    }
    (holder, releasing)
}

kernel_test! {
    /// A task may hold an address space's lock across a sleep: `ps` and page merging wait for it (page
    /// merging without holding its own lock, so `ksm status` answers meanwhile), and the space's own task
    /// goes on afterwards and exits with every frame back.
    fn a_space_held_across_a_sleep_is_waited_for() -> TestResult {
        let free_before = frames::counters().free;
        // It holds its pages for 300 ms, longer than the test holds its space.
        let owner = start("ksmfill", "same 16 300")?;
        let space = check_ok!(scheduler::address_space_of(owner).ok_or("ksmfill has no address space"));

        let (holder, releasing) = hold_while_sleeping(&space, 30);
        let summaries = task::tasks_snapshot();
        check!(releasing.load(Ordering::Relaxed), "ps returned while the space was held");
        check!(summaries.iter().any(|t| t.pid == owner && t.pages.is_some()), "ps lost the held space");
        check_eq!(task::wait(Some(holder)).map(|(_, status)| status), Ok(0));

        let (holder, releasing) = hold_while_sleeping(&space, 30);
        drop(space);
        let busy_before = ksm::status().busy_spaces_met;
        let saved = ksm::tunables();
        ksm::set_tunables(|t| t.all = true);
        let status_asked = Arc::new(AtomicBool::new(false));
        let asker = {
            let status_asked = status_asked.clone();
            task::spawn_kernel("ksm-status", move || {
                let _ = ksm::status();
                status_asked.store(true, Ordering::Relaxed);
                0
            })
        };
        ksm::scan(64);
        ksm::set_tunables(|t| *t = saved);
        check!(releasing.load(Ordering::Relaxed), "page merging scanned a space that was held");
        check!(ksm::status().busy_spaces_met > busy_before, "page merging did not count the busy space");
        check!(status_asked.load(Ordering::Relaxed), "ksm status waited for the held space");
        check_eq!(task::wait(Some(asker)).map(|(_, status)| status), Ok(0));
        check_eq!(task::wait(Some(holder)).map(|(_, status)| status), Ok(0));
        check_eq!(finish(owner)?, Some(ExitStatus::Exited(0)));
        // A pass that ends without the task lets the book forget the pages it saw.
        ksm::scan_full_passes(1);
        check_eq!(frames::counters().free, free_before);
        Ok(())
    }
}
