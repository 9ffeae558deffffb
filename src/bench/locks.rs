//! How long the kernel's busiest locks are held: the frame table's and the scheduler's (short locks that
//! mask interrupts) and the address spaces' (held by a task, interrupts on, for as long as the work its
//! memory needs). Their holds are recorded ([`crate::sync::HoldTimes`]) while programs fork, fault and
//! exit one after another: `forktest isolation` (fork, copy-on-write writes on both sides), `zeropage`
//! (zero-page reads and first writes) and `forktest children` (eight children of a 16 MiB task).
//!
//! The programs run one at a time, but a forked child runs on another core beside its parent, and under
//! QEMU's `-icount` the cores run in turn: a hold that spans another core's turn counts that turn too.
//! So the mean hold is the figure to read; the longest is an upper bound.

use cowpi_console::bench::{SampleLine, Scale, Value};

use super::programs::run_program;
use crate::sync::{self, HoldTimes};
use crate::{memory, println, task};

/// The longest hold of a lock in one repetition (`ops` 1).
const LOCK_HOLD_LONGEST: &str = "lock.hold_longest";
/// Every hold of a lock in one repetition (`ticks` their sum, `ops` their number): the mean hold.
const LOCK_HOLD: &str = "lock.hold";

pub fn run(reps: u32, scale: Scale) -> Result<(), alloc::string::String> {
    let (isolation, zeropage, children) = match scale {
        Scale::Quick => ("isolation 16", "1 16", "children 2 1"),
        Scale::Full => ("isolation 512", "64 512", "children 8 16"),
    };
    let locks: [(&str, &HoldTimes); 3] = [
        ("frame_table", &memory::frames::HOLD_TIMES),
        ("scheduler", &task::scheduler::HOLD_TIMES),
        ("address_space", &task::space::HOLD_TIMES),
    ];
    for _ in 0..reps {
        for (_, holds) in &locks {
            holds.take();
        }
        sync::record_hold_times(true);
        let outcome = run_program("forktest", isolation)
            .and_then(|()| run_program("zeropage", zeropage))
            .and_then(|()| run_program("forktest", children));
        sync::record_hold_times(false);
        outcome?;
        for (name, holds) in locks {
            let (longest, total, count) = holds.take();
            let labels = [("lock", Value::from(name))];
            println!("{}", SampleLine { figure: LOCK_HOLD_LONGEST, labels: &labels, ticks: longest, ops: 1 });
            println!(
                "{}",
                SampleLine { figure: LOCK_HOLD, labels: &labels, ticks: total, ops: count.max(1) }
            );
        }
    }
    Ok(())
}
