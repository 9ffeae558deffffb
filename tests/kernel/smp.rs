//! The other cores: started at boot, each taking its own timer tick and IPIs (see `src/smp.rs`), and
//! address spaces kept apart while tasks come and go on all of them.

use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::AtomicU8;
use core::time::Duration;

use cowpi_abi::ExitStatus;

use super::programs::{finish, run, start};
use crate::arch::cpu::CORE_COUNT;
use crate::memory::frames;
use crate::smp::{self, CoreState};
use crate::task::{self, Pid, scheduler, sleep};
use crate::{check, check_eq, kernel_test};

kernel_test! {
    /// QEMU models all four cores of both boards, and each starts: none may be left behind.
    fn every_core_is_online() -> TestResult {
        for status in smp::status() {
            check!(status.state == CoreState::Online, "core {} is {:?}", status.core, status.state);
        }
        check_eq!(smp::online_count(), CORE_COUNT);
        Ok(())
    }
}

kernel_test! {
    /// Each core's own generic timer interrupts it, at the scheduler's tick rate.
    fn each_core_takes_its_own_timer_tick() -> TestResult {
        let before = smp::status();
        sleep(30);
        let after = smp::status();
        for core in 0..CORE_COUNT {
            let taken = after[core].ticks - before[core].ticks;
            // 30 ms at 1 ms a tick; QEMU without icount may run a core late, never that late.
            check!(taken >= 10, "core {core} took {taken} timer ticks in 30 ms");
        }
        Ok(())
    }
}

kernel_test! {
    /// An IPI reaches every core, the sender's own included (the scheduler sends its own as well, to wake
    /// idle cores, so a core may take more).
    fn an_ipi_reaches_every_core() -> TestResult {
        for core in 0..CORE_COUNT {
            let before = smp::status()[core].ipis;
            smp::send_ipi(core);
            let mut waited = 0;
            while smp::status()[core].ipis == before && waited < 1000 {
                sleep(1);
                waited += 1;
            }
            let taken = smp::status()[core].ipis - before;
            check!(taken >= 1, "core {core} took no IPI within {waited} ms of one sent");
        }
        Ok(())
    }
}

kernel_test! {
    /// A core that does not report in is given up after the timeout, and one that reports in after that
    /// is refused (it stops instead of running); one that reports in first is online.
    fn a_core_that_does_not_report_in_is_given_up() -> TestResult {
        let silent = AtomicU8::new(CoreState::Starting as u8);
        check_eq!(smp::await_report(&silent, Duration::from_millis(5)), CoreState::Failed);
        check!(!smp::report_in(&silent), "a core given up was let in");
        let prompt = AtomicU8::new(CoreState::Starting as u8);
        check!(smp::report_in(&prompt));
        check_eq!(smp::await_report(&prompt, Duration::from_millis(5)), CoreState::Online);
        Ok(())
    }
}

kernel_test! {
    /// An ASID-rollover storm across cores: four kernel tasks (one per core) each start and collect 100
    /// short user tasks at once, 400 address spaces for 255 ASIDs, while four long-lived tasks that check
    /// their own memory between pauses run on whichever core is free. The generation rolls over with
    /// spaces running on other cores (they keep their ASIDs; each core flushes its own TLB), every task
    /// still sees only its own memory, and every frame comes back. QEMU flushes a core's whole TLB
    /// whenever the ASID in its `TTBR0_EL1` changes, so it never shows a stale entry of a recycled ASID
    /// (this test passes with an allocator that reserves nothing): what proves the scheme is the model of
    /// four cores' TLBs in `cowpi_mm::asid`'s host tests.
    fn an_asid_rollover_storm_across_cores_keeps_every_space_apart() -> TestResult {
        let generation_before = scheduler::asid_generation();
        let free_before = frames::counters().free;
        let mut survivors = Vec::new();
        for byte in [0x11, 0x22, 0x33, 0x44] {
            // About 1000 pauses of 0-10 ms: they outlive the storm.
            survivors.push(start("pattern", &format!("{byte:#x} 1000"))?);
        }
        let workers: Vec<Pid> = (0..CORE_COUNT)
            .map(|_| {
                task::spawn_kernel("asidstorm", || {
                    for _ in 0..100 {
                        if !matches!(run("fault", ""), Ok(Some(ExitStatus::Exited(2)))) {
                            return 1;
                        }
                    }
                    0
                })
            })
            .collect();
        for worker in workers {
            check_eq!(task::wait(Some(worker)), Ok((worker, 0)));
        }
        let alive = task::tasks_snapshot()
            .iter()
            .filter(|t| survivors.contains(&t.pid) && !matches!(t.state, task::State::Exited(_)))
            .count();
        check!(alive == survivors.len(), "only {alive} of the long-lived tasks outlived the storm: it proves nothing");
        for survivor in survivors {
            check_eq!(finish(survivor)?, Some(ExitStatus::Exited(0)));
        }
        check!(scheduler::asid_generation() > generation_before, "400 spaces did not roll the ASIDs over");
        check_eq!(frames::counters().free, free_before);
        Ok(())
    }
}
