//! The generic timer.

use core::time::Duration;

use crate::arch::time;
use crate::{check, kernel_test};

kernel_test! {
    fn the_counter_runs_at_its_frequency() -> TestResult {
        check!(time::frequency() >= 1_000_000, "CNTFRQ_EL0 is {}", time::frequency());
        let start = time::ticks();
        time::spin_for(Duration::from_millis(10));
        let elapsed = time::ticks_to_duration(time::ticks() - start);
        check!(elapsed >= Duration::from_millis(10), "spin_for(10 ms) took {elapsed:?}");
        check!(time::uptime() > Duration::ZERO);
        Ok(())
    }
}
