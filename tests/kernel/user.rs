//! User tasks through the whole kernel: loading, system calls, faults, isolation, preemption, and memory
//! that always comes back. The programs are the embedded ones in `user/programs`.

use alloc::vec::Vec;

use cowpi_abi::{ExitStatus, Signal};

use super::programs::{run, start};
use crate::memory::{frames, heap};
use crate::task::{self, Pid, scheduler};
use crate::{check, check_eq, check_ok, kernel_test};

kernel_test! {
    fn a_program_runs_and_exits_with_its_status() -> TestResult {
        check_eq!(run("hello", "from a kernel test")?, Some(ExitStatus::Exited(0)));
        check_eq!(run("fault", "")?, Some(ExitStatus::Exited(2)));
        Ok(())
    }
}

kernel_test! {
    /// `syscalls` checks 73 bad and good calls from EL0 (bad numbers, null, kernel, unmapped and
    /// overflowing pointers...) and exits with the number of failures.
    fn bad_syscall_numbers_and_pointers_get_errors() -> TestResult {
        check_eq!(run("syscalls", "")?, Some(ExitStatus::Exited(0)));
        Ok(())
    }
}

kernel_test! {
    fn map_protect_unmap_and_memstats_work() -> TestResult {
        check_eq!(run("memory", "")?, Some(ExitStatus::Exited(0)));
        Ok(())
    }
}

kernel_test! {
    /// Every kind of illegal access kills just the task that made it, with the right signal, and the
    /// kernel (this test) goes on; the audit afterwards shows all their memory came back.
    fn every_illegal_fault_kills_only_the_faulting_task() -> TestResult {
        let cases = [
            ("null", Signal::SegmentationFault),
            ("unmapped", Signal::SegmentationFault),
            ("kernel-read", Signal::SegmentationFault),
            ("kernel-write", Signal::SegmentationFault),
            ("kernel-exec", Signal::SegmentationFault),
            ("text-write", Signal::SegmentationFault),
            ("readonly-write", Signal::SegmentationFault),
            ("data-exec", Signal::SegmentationFault),
            ("no-access", Signal::SegmentationFault),
            ("hidden", Signal::SegmentationFault),
            ("stack-overflow", Signal::SegmentationFault),
            ("undefined", Signal::IllegalInstruction),
        ];
        let free_before = frames::counters().free;
        for (kind, signal) in cases {
            check_eq!((kind, run("fault", kind)?), (kind, Some(ExitStatus::Killed(signal))));
        }
        check_eq!(frames::counters().free, free_before);
        Ok(())
    }
}

kernel_test! {
    /// A task killed for a fault gives back all the kernel heap it used, as one that exits does: the kill
    /// report used to hold the task's name across the exit, which never returns (8 bytes lost per kill).
    fn a_task_killed_for_a_fault_leaves_no_heap_behind() -> TestResult {
        let heap_before = heap::stats().requested;
        for kind in ["null", "undefined", "readonly-write", "null", "undefined"] {
            check!(matches!(run("fault", kind)?, Some(ExitStatus::Killed(_))), "fault {kind} was not killed");
            check_eq!((kind, heap::stats().requested), (kind, heap_before));
        }
        check_eq!(run("oom", "")?, Some(ExitStatus::Killed(Signal::Killed)));
        check_eq!(heap::stats().requested, heap_before);
        Ok(())
    }
}

kernel_test! {
    /// Two tasks fill their memory with different bytes while they take turns; each finds only its own.
    fn address_spaces_are_isolated() -> TestResult {
        let pids: Vec<Pid> = [("pattern", "0x11"), ("pattern", "0x33"), ("pattern", "0xEE")]
            .iter()
            .map(|(name, args)| start(name, args))
            .collect::<Result<_, _>>()?;
        for pid in pids {
            let (_, status) = check_ok!(task::wait(Some(pid)));
            check_eq!(ExitStatus::from_raw(status), Some(ExitStatus::Exited(0)));
        }
        Ok(())
    }
}

kernel_test! {
    /// Two user tasks that never yield both make progress: sampled while both run, each has used
    /// processor time, which only timer preemption can give them.
    fn two_busy_user_tasks_both_make_progress() -> TestResult {
        let a = start("spin", "6 3000000")?;
        let b = start("spin", "6 3000000")?;
        let mut both_ran = false;
        for _ in 0..400 {
            task::sleep(5);
            let tasks = task::tasks_snapshot();
            let ms_of = |pid| tasks.iter().find(|t| t.pid == pid).map(|t| (t.cpu_time().as_millis(), t.state));
            if let (Some((ta, sa)), Some((tb, sb))) = (ms_of(a), ms_of(b))
                && ta > 2
                && tb > 2
                && !matches!(sa, task::State::Exited(_))
                && !matches!(sb, task::State::Exited(_))
            {
                both_ran = true;
                break;
            }
        }
        for pid in [a, b] {
            let (_, status) = check_ok!(task::wait(Some(pid)));
            check_eq!(ExitStatus::from_raw(status), Some(ExitStatus::Exited(0)));
        }
        check!(both_ran, "the two spin tasks never both ran before one finished");
        Ok(())
    }
}

kernel_test! {
    /// 200 spawn/exit cycles leave the free-frame count where it started: no frame and no table leaks.
    fn two_hundred_spawn_exit_cycles_leak_nothing() -> TestResult {
        // One run first, so that lazily grown kernel structures (the task table) are at their size.
        check_eq!(run("fault", "")?, Some(ExitStatus::Exited(2)));
        let before = frames::counters();
        for _ in 0..200 {
            check_eq!(run("fault", "")?, Some(ExitStatus::Exited(2)));
        }
        let after = frames::counters();
        check_eq!(after.free, before.free);
        check!(after.allocations >= before.allocations + 200 * 4, "the cycles allocated too little to prove anything");
        Ok(())
    }
}

kernel_test! {
    /// More tasks than there are 8-bit ASIDs: the generation rolls over (and the TLB is flushed), and a
    /// task that lives through the rollovers still sees only its own memory.
    fn asid_rollover_with_more_tasks_than_asids_stays_correct() -> TestResult {
        let generation_before = scheduler::asid_generation();
        // About 1000 pauses of 0-10 ms: it outlives the 300 short tasks below.
        let survivor = start("pattern", "0x5C 1000")?;
        for _ in 0..300 {
            check_eq!(run("fault", "")?, Some(ExitStatus::Exited(2)));
        }
        let alive = task::tasks_snapshot().iter().any(|t| t.pid == survivor && !matches!(t.state, task::State::Exited(_)));
        check!(alive, "the long-lived task ended before the rollover: the test proves nothing");
        let (_, status) = check_ok!(task::wait(Some(survivor)));
        check_eq!(ExitStatus::from_raw(status), Some(ExitStatus::Exited(0)));
        check!(scheduler::asid_generation() > generation_before, "300 tasks did not roll the ASIDs over");
        Ok(())
    }
}
