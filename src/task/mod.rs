//! Tasks: threads of execution, each with its own kernel stack, scheduled round-robin and preempted by the
//! timer interrupt.
//!
//! Each core's original thread becomes its idle task (pid 0 on every core), which runs only when nothing
//! else can and then waits in WFI. Kernel tasks run a closure in the kernel's address space (the shell is one;
//! the page-merging scanner is another). User tasks add an address space (`space`) and EL0 registers.

mod context;
pub mod scheduler;
pub mod space;
pub mod user;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use core::mem::MaybeUninit;

use context::Context;

use crate::memory::address_space::AddressSpace;
pub use scheduler::{current_pid, exit, sleep, spawn_kernel, tasks_snapshot, wait, yield_now};
use space::SharedSpace;

/// A task's identifier. 0 is every core's idle task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pid(pub u32);

impl core::fmt::Display for Pid {
    /// The number, padded as the format asks (`ps` lines its columns up).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// On the run queue.
    Ready,
    Running,
    /// Off the run queue until this tick.
    Sleeping {
        until_tick: u64,
    },
    /// Off the run queue until a child exits.
    Waiting,
    /// Finished with this status; kept until its parent collects it with `wait`.
    Exited(i64),
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Ready => "ready",
            State::Running => "running",
            State::Sleeping { .. } => "sleeping",
            State::Waiting => "waiting",
            State::Exited(_) => "exited",
        }
    }
}

/// Bytes of kernel stack per task.
pub const KERNEL_STACK_BYTES: usize = 32 * 1024;

/// Written at the bottom of every kernel stack and checked at every switch away from the task: a stack
/// that grew past its end is reported as the kernel bug it is, before it corrupts its neighbours.
const STACK_CANARY: u128 = 0xC0DE_57AC_CA4A_A7ED_C0DE_57AC_CA4A_A7ED;
const STACK_CANARY_WORDS: usize = 4;

pub struct Task {
    pub pid: Pid,
    pub name: String,
    pub state: State,
    pub parent: Option<Pid>,
    /// Processor time used, in system counter ticks, charged at every switch away from the task.
    pub cpu_ticks: u64,
    /// The core the task runs on or last ran on; None until it first runs.
    pub core: Option<u8>,
    context: Context,
    /// A user task's address space, behind its own lock (`space`); None for kernel tasks, and for a user
    /// task once its exit has taken the space out to tear it down.
    address_space: Option<Arc<SharedSpace>>,
    /// Runs a program at EL0: it was given an address space ([`Task::new_user`]). Stays true through
    /// its exit, whose teardown takes the space out (with interrupts on) before the task is `Exited`.
    user: bool,
    /// None for an idle task, which runs on its core's boot stack. Only owned here: `context` points into it.
    /// Never zeroed: only the task's own code reads it, after writing it, except the canary at its
    /// bottom, written here (zeroing 32 KiB was the largest part of what `FORK` spent on a new task).
    _kernel_stack: Option<Box<[MaybeUninit<u128>]>>,
}

impl Task {
    pub(crate) fn new_kernel(
        pid: Pid,
        name: String,
        parent: Option<Pid>,
        entry: extern "C" fn(usize) -> !,
        argument: usize,
    ) -> Task {
        // u128 elements: the stack is 16-byte aligned, as the AAPCS64 requires of SP.
        let mut stack = Box::new_uninit_slice(KERNEL_STACK_BYTES / 16);
        stack[..STACK_CANARY_WORDS].fill(MaybeUninit::new(STACK_CANARY));
        let top = stack.as_ptr() as u64 + KERNEL_STACK_BYTES as u64;
        Task {
            pid,
            name,
            state: State::Ready,
            parent,
            cpu_ticks: 0,
            core: None,
            context: Context::new_task(top, entry, argument),
            address_space: None,
            user: false,
            _kernel_stack: Some(stack),
        }
    }

    /// A task that runs a program at EL0 in `space`, entering the kernel first at `entry`.
    pub(crate) fn new_user(
        pid: Pid,
        name: String,
        parent: Option<Pid>,
        entry: extern "C" fn(usize) -> !,
        argument: usize,
        space: AddressSpace,
    ) -> Task {
        Task {
            address_space: Some(SharedSpace::new(space)),
            user: true,
            ..Task::new_kernel(pid, name, parent, entry, argument)
        }
    }

    /// A user task that has not exited: one that can collect its children, and adopt its children's.
    pub(crate) fn is_live_user_task(&self) -> bool {
        self.user && !matches!(self.state, State::Exited(_))
    }

    /// Whether the kernel stack's canary is intact (an idle task's boot stack has none).
    pub fn stack_intact(&self) -> bool {
        self._kernel_stack.as_ref().is_none_or(|stack| {
            stack[..STACK_CANARY_WORDS].iter().all(|word| {
                // SAFETY: the canary words were initialised in `new_kernel`; an overflow may have
                // overwritten them, but only with initialised values (stores of the task's code).
                unsafe { word.assume_init() == STACK_CANARY }
            })
        })
    }

    /// The idle task of the calling core: the thread it booted on, running now.
    fn idle() -> Task {
        Task {
            pid: Pid(0),
            name: String::from("idle"),
            state: State::Running,
            parent: None,
            cpu_ticks: 0,
            core: Some(crate::arch::cpu::core_id()),
            context: Context::default(),
            address_space: None,
            user: false,
            _kernel_stack: None,
        }
    }
}

/// A closure run as a kernel task; its result is the task's exit status.
type KernelEntry = Box<dyn FnOnce() -> i64 + Send>;

/// The entry function of every kernel task: runs the boxed closure and exits with its result.
extern "C" fn kernel_task_main(argument: usize) -> ! {
    // SAFETY: `spawn_kernel` passes a pointer from `Box::into_raw` of a `KernelEntry`, used exactly once.
    let entry = unsafe { Box::from_raw(argument as *mut KernelEntry) };
    exit(entry())
}

/// Called by `task_trampoline` when a new task first runs: it finishes the switch that started it, as
/// `scheduler::schedule` does for a task switched back in, then unmasks IRQs (the switch was made with
/// them masked, and a new task starts with them on).
#[unsafe(no_mangle)]
extern "C" fn task_started() {
    scheduler::free_departed();
    crate::arch::cpu::unmask_irqs();
}
