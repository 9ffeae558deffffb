//! The other three cores: started at boot, each with its own stack, generic-timer tick and IPIs.
//!
//! # How a core comes up
//!
//! The firmware (and QEMU, which models it) holds cores 1-3 in a spin table at 0xE0/0xE8/0xF0. `boot.s`
//! moves them at once into the kernel's own park loop, where each arms its own wake-up (an IPI: mailbox 0
//! of the BCM2836 local controller on a Pi 3, SGI 0 of the GIC-400 on a Pi 4) and waits in `WFI`, with its
//! MMU and caches off. Once the boot core has its memory manager and scheduler, [`start_secondary_cores`]
//! gives each parked core a stack and the boot core's translation settings, writes its entry point into
//! its slot, cleans both to the point of coherency and sends it an IPI (`arch::smp`). The core drops to
//! EL1, turns on its MMU with the kernel's tables, jumps to the upper half and reports in
//! ([`secondary_main`]); a core that has not reported within [`START_TIMEOUT`] is given up (it stops if
//! it wakes later), reported, and the kernel runs on the others.
//!
//! # What cores 1-3 do
//!
//! The same as the boot core: each enters the scheduler with its boot thread as its idle task and runs
//! tasks from the one run queue (`task::scheduler`), preempted by its own generic-timer tick; an IPI
//! from a core that queued a task wakes it from its idle `WFI`. Each counts its ticks and IPIs
//! ([`CoreStatus`], shown by `info`).

use alloc::boxed::Box;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use core::time::Duration;

use crate::arch::cpu::{self, CORE_COUNT};
use crate::arch::{mmu, time};
use crate::board;

/// How long the boot core waits for a released core to report in. Starting takes well under a
/// millisecond; the margin is for QEMU, whose host may be busy with other guests.
pub const START_TIMEOUT: Duration = Duration::from_secs(1);

/// Bytes of stack a secondary core runs its idle loop and interrupt handlers on.
const STACK_BYTES: usize = crate::task::KERNEL_STACK_BYTES;

/// Where a core is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CoreState {
    /// In the park loop, never started.
    Parked = 0,
    /// Released, not reported in yet.
    Starting = 1,
    /// Running the kernel.
    Online = 2,
    /// Released but did not report in within [`START_TIMEOUT`]: the kernel runs without it.
    Failed = 3,
}

impl CoreState {
    fn from_u8(value: u8) -> CoreState {
        match value {
            1 => CoreState::Starting,
            2 => CoreState::Online,
            3 => CoreState::Failed,
            _ => CoreState::Parked,
        }
    }
}

/// One core's state and counts, written by the core itself (and by the boot core while starting it).
struct Core {
    state: AtomicU8,
    ticks: AtomicU64,
    ipis: AtomicU64,
}

static CORES: [Core; CORE_COUNT] = [const {
    Core { state: AtomicU8::new(CoreState::Parked as u8), ticks: AtomicU64::new(0), ipis: AtomicU64::new(0) }
}; CORE_COUNT];

/// A core as `info` shows it.
#[derive(Debug, Clone, Copy)]
pub struct CoreStatus {
    pub core: usize,
    pub state: CoreState,
    /// Timer interrupts this core has taken.
    pub ticks: u64,
    /// IPIs this core has taken.
    pub ipis: u64,
}

/// Every core's state and counts.
pub fn status() -> [CoreStatus; CORE_COUNT] {
    core::array::from_fn(|core| {
        let c = &CORES[core];
        CoreStatus {
            core,
            state: CoreState::from_u8(c.state.load(Ordering::Acquire)),
            ticks: c.ticks.load(Ordering::Relaxed),
            ipis: c.ipis.load(Ordering::Relaxed),
        }
    })
}

/// How many cores run the kernel.
pub fn online_count() -> usize {
    status().iter().filter(|c| c.state == CoreState::Online).count()
}

/// Counts a timer interrupt taken by the calling core `core`.
pub fn count_tick(core: usize) {
    CORES[core].ticks.fetch_add(1, Ordering::Relaxed);
}

/// Counts an IPI taken by the calling core `core`.
pub fn count_ipi(core: usize) {
    CORES[core].ipis.fetch_add(1, Ordering::Relaxed);
}

/// Sends `core` an IPI.
pub fn send_ipi(core: usize) {
    board::interrupt::send_ipi(board::info().spec().interrupt_controller, core);
}

/// Starts cores 1-3, one after the other, each with its own stack, and waits for each to report in (or
/// for [`START_TIMEOUT`]). Called once on the boot core, IRQs masked, after the memory manager is up.
pub fn start_secondary_cores() {
    let controller = board::info().spec().interrupt_controller;
    CORES[0].state.store(CoreState::Online as u8, Ordering::Release);
    board::interrupt::route_ipis(controller, 0);
    for (core, this) in CORES.iter().enumerate().skip(1) {
        // The core's for good: leaked, so that it outlives even a core given up that starts later.
        let stack: &'static mut [MaybeUninit<u128>] = Box::leak(Box::new_uninit_slice(STACK_BYTES / 16));
        let stack_top = stack.as_ptr() as u64 + STACK_BYTES as u64;
        this.state.store(CoreState::Starting as u8, Ordering::Release);
        // SAFETY: `core` is parked and released only here, once; the stack is its own for good; the
        // kernel's tables are final (the linear map is never changed after boot).
        unsafe { crate::arch::smp::release(core, stack_top) };
        board::interrupt::send_ipi(controller, core);
        if await_report(&this.state, START_TIMEOUT) == CoreState::Failed {
            log::warn!("core {core} did not start within {START_TIMEOUT:?}: the kernel runs without it");
        }
    }
    log::info!("{} of {CORE_COUNT} cores online", online_count());
}

/// Waits for a released core to move `state` on from [`CoreState::Starting`], for at most `timeout`,
/// then gives it up: `state` becomes [`CoreState::Failed`] unless the core reports in at that very
/// moment (both sides change it by compare-and-swap, so exactly one of them wins). Returns the outcome.
pub fn await_report(state: &AtomicU8, timeout: Duration) -> CoreState {
    let started = time::ticks();
    let timeout = (timeout.as_nanos() * time::frequency() as u128 / 1_000_000_000) as u64;
    loop {
        let now = CoreState::from_u8(state.load(Ordering::Acquire));
        if now != CoreState::Starting {
            return now;
        }
        if time::ticks().wrapping_sub(started) > timeout {
            let given_up = state.compare_exchange(
                CoreState::Starting as u8,
                CoreState::Failed as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if given_up.is_ok() {
                return CoreState::Failed;
            }
        }
        cpu::spin_wait_hint();
    }
}

/// A released core's report: [`CoreState::Starting`] becomes [`CoreState::Online`], unless the boot core
/// has given it up. Returns whether the core may run.
pub fn report_in(state: &AtomicU8) -> bool {
    state
        .compare_exchange(
            CoreState::Starting as u8,
            CoreState::Online as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok()
}

/// Where a started core's Rust begins (from `arch::boot`), with IRQs masked: it reports in, routes its
/// own timer, starts its tick and waits for interrupts.
pub fn secondary_main(core: usize) -> ! {
    mmu::drop_identity_map_on_this_core();
    time::allow_el0_counter_reads();
    if !report_in(&CORES[core].state) {
        // Given up by the boot core: the kernel runs without this core.
        cpu::halt();
    }
    crate::task::scheduler::enter();
    crate::interrupt::start_timer_tick();
    cpu::unmask_irqs();
    // This thread is now the core's idle task: it runs only when no task is ready.
    loop {
        aarch64_cpu::asm::wfi();
    }
}
