//! The other cores: started at boot, each taking its own timer tick and IPIs (see `src/smp.rs`).

use core::sync::atomic::AtomicU8;
use core::time::Duration;

use crate::arch::cpu::CORE_COUNT;
use crate::smp::{self, CoreState};
use crate::task::sleep;
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
