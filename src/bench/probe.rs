//! Probes on the path of one fork+exit+wait: the system counter read at named points, so that the
//! `forkprofile` benchmark can say where the round trip's instructions go (under QEMU's `-icount` the
//! counter counts instructions). The points are in `task::user::fork`, `fork_child_main`,
//! `scheduler::exit` and `scheduler::wait`; disarmed, each costs a load and a branch.
//!
//! A probe stores its time; the last one of a round trip ([`Probe::WaitReturned`]) adds each phase (the
//! time from one probe to the next) to its sum if every probe before it was hit, in order, since the
//! round trip began, and starts over. A wait that ends anything but such a round trip (the benchmark's own,
//! for its program) finds the probes unset and adds nothing.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cowpi_console::bench::FORK_PHASES;

use crate::arch::time;

/// The points, in the order a round trip passes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `FORK` has begun (`task::user::fork`).
    ForkEntered,
    /// The child's address space exists: a task slot reserved and the parent's space forked.
    SpaceForked,
    /// The child is a task, ready to run: kernel stack, registers, a place in the task table.
    ChildCreated,
    /// The child runs its first kernel code (`fork_child_main`), the parent waiting.
    ChildRunning,
    /// The child has called `EXIT` (`scheduler::exit`).
    ExitEntered,
    /// The child's address space is torn down.
    SpaceTornDown,
    /// The parent's `WAIT` has collected the child and freed it.
    WaitReturned,
}

const PROBES: usize = 7;

/// The phases between consecutive probes are `cowpi_console::bench::FORK_PHASES`, in this order.
const _: () = assert!(FORK_PHASES.len() == PROBES - 1);

static ARMED: AtomicBool = AtomicBool::new(false);
/// When each probe was last hit in the current round trip; 0 for not yet.
static HIT_AT: [AtomicU64; PROBES] = [const { AtomicU64::new(0) }; PROBES];
/// Each phase's ticks over the complete round trips, and how many there were.
static PHASE_TICKS: [AtomicU64; PROBES - 1] = [const { AtomicU64::new(0) }; PROBES - 1];
static ROUND_TRIPS: AtomicU64 = AtomicU64::new(0);

/// Marks the point `probe` of a round trip, if the probes are armed.
#[inline]
pub fn hit(probe: Probe) {
    if !ARMED.load(Ordering::Relaxed) {
        return;
    }
    let now = time::ticks();
    let index = probe as usize;
    HIT_AT[index].store(now, Ordering::Relaxed);
    if probe == Probe::WaitReturned {
        let times: [u64; PROBES] = core::array::from_fn(|i| HIT_AT[i].load(Ordering::Relaxed));
        if times[0] != 0 && times.windows(2).all(|pair| pair[0] <= pair[1]) {
            for (phase, pair) in times.windows(2).enumerate() {
                PHASE_TICKS[phase].fetch_add(pair[1] - pair[0], Ordering::Relaxed);
            }
            ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
        }
        HIT_AT.iter().for_each(|at| at.store(0, Ordering::Relaxed));
    } else if probe == Probe::ForkEntered {
        HIT_AT[index + 1..].iter().for_each(|at| at.store(0, Ordering::Relaxed));
    }
}

/// Clears every sum and starts recording.
pub fn arm() {
    HIT_AT.iter().chain(&PHASE_TICKS).for_each(|v| v.store(0, Ordering::Relaxed));
    ROUND_TRIPS.store(0, Ordering::Relaxed);
    ARMED.store(true, Ordering::Relaxed);
}

/// Stops recording; each phase's ticks summed over the complete round trips, and how many there were.
pub fn disarm() -> ([u64; PROBES - 1], u64) {
    ARMED.store(false, Ordering::Relaxed);
    (core::array::from_fn(|i| PHASE_TICKS[i].load(Ordering::Relaxed)), ROUND_TRIPS.load(Ordering::Relaxed))
}

/// Whether a `FORK` is between [`Probe::ForkEntered`] and [`Probe::SpaceForked`] now, as the armed probes
/// saw it: for the test that another task runs while a large fork copies.
pub fn fork_in_progress() -> bool {
    HIT_AT[Probe::ForkEntered as usize].load(Ordering::Relaxed) != 0
        && HIT_AT[Probe::SpaceForked as usize].load(Ordering::Relaxed) == 0
}
