//! Kernel tasks and the preemptive round-robin scheduler.

use core::sync::atomic::{AtomicU64, Ordering};

use alloc::sync::Arc;

use crate::arch::cpu::CORE_COUNT;
use crate::arch::time;
use crate::task::{self, scheduler::WaitError};
use crate::{check, check_eq, kernel_test};

kernel_test! {
    fn a_kernel_task_runs_and_its_status_is_collected() -> TestResult {
        let child = task::spawn_kernel("exit-42", || 42);
        check_eq!(task::wait(Some(child)), Ok((child, 42)));
        check_eq!(task::wait(Some(child)), Err(WaitError::NoChild));
        Ok(())
    }
}

kernel_test! {
    /// Two tasks that never yield both make progress, and take turns: the timer preempts them.
    fn two_busy_tasks_both_make_progress() -> TestResult {
        const RUN_MS: u64 = 200;
        let counters = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        // How often each task saw the other's counter move while it was itself busy: only preemption
        // (not the tasks' own ordering) makes this non-zero for both.
        let overtaken = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let mut pids = [task::Pid(0); 2];
        for me in 0..2 {
            let (counters, overtaken) = (counters.clone(), overtaken.clone());
            pids[me] = task::spawn_kernel("busy", move || {
                let other = 1 - me;
                let end = time::ticks() + RUN_MS * time::frequency() / 1000;
                let mut last_seen = counters[other].load(Ordering::Relaxed);
                while time::ticks() < end {
                    counters[me].fetch_add(1, Ordering::Relaxed);
                    let seen = counters[other].load(Ordering::Relaxed);
                    if seen != last_seen {
                        overtaken[me].fetch_add(1, Ordering::Relaxed);
                        last_seen = seen;
                    }
                }
                0
            });
        }
        for pid in pids {
            check_eq!(task::wait(Some(pid)).map(|(_, status)| status), Ok(0));
        }
        for me in 0..2 {
            check!(counters[me].load(Ordering::Relaxed) > 0, "task {me} never ran");
            check!(overtaken[me].load(Ordering::Relaxed) >= 2, "task {me} was never preempted by the other");
        }
        Ok(())
    }
}

kernel_test! {
    /// Sleeping tasks do not spin: while one sleeps, a busy task gets (nearly) all the processor.
    fn sleep_lasts_at_least_its_time_and_frees_the_processor() -> TestResult {
        let start = time::ticks();
        let sleeper = task::spawn_kernel("sleeper", || {
            task::sleep(50);
            // The processor time it used, in ms: a sleep that spun would have used about 50; starting and
            // ending the task cost a few (QEMU without icount runs at the host's pace).
            let me = task::current_pid();
            task::tasks_snapshot().iter().find(|t| t.pid == me).map_or(-1, |t| t.cpu_time().as_millis() as i64)
        });
        let used_ms = task::wait(Some(sleeper)).map(|(_, status)| status);
        let elapsed_ms = (time::ticks() - start) * 1000 / time::frequency();
        check!(elapsed_ms >= 50, "slept only {elapsed_ms} ms");
        check!(matches!(used_ms, Ok(0..=10)), "the sleeper used {used_ms:?} ms of processor time");
        Ok(())
    }
}

kernel_test! {
    fn yielding_tasks_alternate() -> TestResult {
        let turns = Arc::new(AtomicU64::new(0));
        let mut pids = [task::Pid(0); 2];
        for slot in &mut pids {
            let turns = turns.clone();
            *slot = task::spawn_kernel("yielder", move || {
                for _ in 0..10 {
                    turns.fetch_add(1, Ordering::Relaxed);
                    task::yield_now();
                }
                i64::from(task::current_pid().0)
            });
        }
        for pid in pids {
            check_eq!(task::wait(Some(pid)), Ok((pid, i64::from(pid.0))));
        }
        check_eq!(turns.load(Ordering::Relaxed), 20);
        Ok(())
    }
}

kernel_test! {
    /// Four tasks that never yield use all four cores: while they run, no core idles for more than a
    /// fifth of the time (with tasks on one core, the other three would idle throughout).
    fn four_busy_tasks_use_four_cores() -> TestResult {
        const RUN_MS: u64 = 300;
        let idle_ticks = || -> [u64; CORE_COUNT] {
            let mut idle = [0; CORE_COUNT];
            for t in task::tasks_snapshot().iter().filter(|t| t.pid == task::Pid(0)) {
                if let Some(core) = t.core {
                    idle[core as usize] = t.cpu_ticks;
                }
            }
            idle
        };
        let before = idle_ticks();
        let start = time::ticks();
        let pids: alloc::vec::Vec<task::Pid> = (0..CORE_COUNT)
            .map(|_| {
                task::spawn_kernel("busy", move || {
                    let end = time::ticks() + RUN_MS * time::frequency() / 1000;
                    while time::ticks() < end {
                        core::hint::spin_loop();
                    }
                    0
                })
            })
            .collect();
        for pid in pids {
            check_eq!(task::wait(Some(pid)), Ok((pid, 0)));
        }
        let elapsed = time::ticks() - start;
        let after = idle_ticks();
        for core in 0..CORE_COUNT {
            let idle = after[core] - before[core];
            check!(
                idle * 5 < elapsed,
                "core {core} idled {} ms of the {} ms four busy tasks ran",
                time::ticks_to_duration(idle).as_millis(),
                time::ticks_to_duration(elapsed).as_millis()
            );
        }
        Ok(())
    }
}
