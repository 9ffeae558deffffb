//! The round-robin scheduler: one run queue for every core, sleeping by timer ticks, and `wait` for
//! children.
//!
//! # Several cores
//!
//! Every core that has entered the scheduler ([`enter`]) runs tasks from the same queue, under the same
//! lock; each has its own idle task (its boot thread), its own time slice and its own running task
//! ([`CoreSlot`]). A core that makes a task ready while another core idles sends that core an IPI, so
//! the task starts at once rather than at the idle core's next tick. The boot core's tick keeps the
//! time (sleeps end by its ticks); every core's own tick ends its own time slices.
//!
//! The lock is let go before the actual switch, so a task switched out on one core can be picked by
//! another before its registers are saved. `switch_context` hands it over: it clears a context's on-CPU
//! word once the registers are saved and waits for the incoming one's to be clear (see `context.s`). For
//! the same reason a task never changes its own state to "not running" (sleeping, waiting, exited) and
//! then lets go of the lock before it is switched out: whoever woke it meanwhile would queue it while it
//! still runs, and the switch would queue it again. The state change and the choice of the next task are
//! one hold of the lock ([`switch_away`]). And no task's kernel stack is freed while its on-CPU word is
//! set: an exited child reaped by a parent on another core may still be leaving its stack.
//!
//! The task limit is kept here, under the scheduler lock: a user task first reserves a [`TaskSlot`]
//! (refused once tasks and reservations reach the limit), builds its address space, then fills the slot.
//! Checking the count first and inserting the task later would let two spawns (or forks) both pass
//! the check if one is preempted in between, while it loads its program or allocates its kernel stack.
//!
//! A task that exits before its children leaves them to its own parent if that is a user task (which
//! collects them with `wait`, as it does its own), else detaches them. Nobody collects a detached task,
//! so none is kept once it has exited: children that had already exited are freed by the exiting parent,
//! and a detached task that exits leaves the task table at its last switch and is freed by the next task
//! to run, as soon as that switch is off its kernel stack ([`free_departed`], Linux's
//! `finish_task_switch`). `ps` never lists an exited detached task, and its kernel stack and heap come
//! back at once.
//!
//! A user task's address space is not under the scheduler lock but under its own (`task::space`): the
//! task table holds a handle to it, and the switch installs it from what lies beside that lock (root
//! table, ASID), so a task preempted in the middle of a fork does not stop the switch, and nothing that
//! grows with memory runs under the scheduler lock.
//!
//! Every switch goes through [`schedule`], with IRQs masked: the lock is dropped before the actual switch
//! (the next task may need it at once), but the pointers to both contexts stay valid because tasks are
//! boxed and a running or switched-out task is never freed. The timer interrupt calls [`tick`], and
//! preempts the running task when its time slice is used up and another task is ready.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::MutexGuard;

use super::context::{Context, switch_context};
use super::space::{self, SharedSpace};
use super::{KernelEntry, Pid, State, Task, kernel_task_main};
use crate::arch::cpu::{self, CORE_COUNT};
use crate::arch::mmu::tlb;
use crate::arch::time;
use cowpi_mm::AsidAllocator;

use crate::bench::probe::{self, Probe};
use crate::memory::address_space::{AddressSpace, PageCounts};
use crate::sync::{HoldTimes, IrqSafeLock};

/// Length of a timer tick.
pub const TICK_MS: u64 = 1;
/// Ticks a task may run while others wait.
pub const TIME_SLICE_TICKS: u64 = 10;

/// Room in the run queue, allocated once at start: more than the task limit plus the kernel's own tasks,
/// so it never grows. A `VecDeque` keeps what it grew to, and heap still taken after a test is what the
/// memory audit reports as a leak.
const READY_QUEUE_CAPACITY: usize = 2 * super::user::MAX_TASKS;

/// What a core runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Running {
    /// Its own idle task.
    Idle,
    Task(Pid),
}

/// One core's part of the scheduler.
struct CoreSlot {
    running: Running,
    /// The core's idle task: the thread the core booted on, which runs when nothing is ready. Not in the
    /// task table (every core has one, all of them "pid 0").
    idle: Box<Task>,
    /// Ticks the running task has run since it was switched in.
    slice_used: u64,
    /// The system counter when the running task was switched in: processor time is charged at each
    /// switch from the counter, exact to a counter tick, where sampling at timer ticks would miss every
    /// task that runs less than a tick at a time (the page-merging scanner, a task that mostly sleeps).
    switched_in_at: u64,
    /// A detached task that has exited, out of the table, on whose kernel stack this core's last switch
    /// away from it was made: the task switched to frees it ([`free_departed`]).
    departed: Option<Box<Task>>,
}

struct Scheduler {
    tasks: BTreeMap<Pid, Box<Task>>,
    ready: VecDeque<Pid>,
    /// The cores that have entered the scheduler, by core number.
    cores: [Option<CoreSlot>; CORE_COUNT],
    next_pid: u32,
    /// The boot core's ticks: the time sleeps are measured in.
    ticks: u64,
    /// Sleeping tasks by wake-up tick, so a tick looks only at the ones due, not at every task.
    sleepers: BTreeSet<(u64, Pid)>,
    asids: AsidAllocator,
    /// Slots reserved by [`reserve_slot`] whose task is not in `tasks` yet; they count against the limit.
    reserved: usize,
    /// The most tasks that existed at once since the last [`take_peak_task_count`].
    peak_tasks: usize,
}

static SCHEDULER: IrqSafeLock<Option<Scheduler>> = IrqSafeLock::with_hold_times(None, &HOLD_TIMES);

/// How long the scheduler lock is held (the `locks` benchmark).
pub static HOLD_TIMES: HoldTimes = HoldTimes::new();

/// Installs `space` (the running task's, from now on) in `TTBR0_EL1` and, as the running task's space
/// pointer, in `TPIDR_EL1` ([`cpu::set_current_space_word`]), giving it a current-generation ASID. The
/// space's own lock is not taken: its holder may be the task switched away from in the middle of a fork.
/// `TPIDR_EL1` is per core and set at every switch, so a task reading it reads its own space, whichever
/// core it has moved to.
fn activate(space: Option<&Arc<SharedSpace>>, asids: &mut AsidAllocator) {
    let core = this_core();
    match space {
        Some(space) => {
            cpu::set_current_space_word(Arc::as_ptr(space) as u64);
            tlb::activate(space.root, space.asid.assign(asids, core));
        }
        None => {
            cpu::set_current_space_word(0);
            asids.leave(core);
            tlb::activate_none();
        }
    }
}

fn with<R>(f: impl FnOnce(&mut Scheduler) -> R) -> R {
    SCHEDULER.lock(|s| f(s.as_mut().expect("scheduler used before task::scheduler::init")))
}

/// This core's number, for code under the scheduler lock (IRQs masked: the caller cannot move).
fn this_core() -> usize {
    cpu::core_id() as usize
}

/// Starts the scheduler with the calling thread (the boot core's) as core 0's idle task.
pub fn init() {
    SCHEDULER.lock(|s| {
        *s = Some(Scheduler {
            tasks: BTreeMap::new(),
            ready: VecDeque::with_capacity(READY_QUEUE_CAPACITY),
            cores: [const { None }; CORE_COUNT],
            next_pid: 1,
            ticks: 0,
            sleepers: BTreeSet::new(),
            asids: tlb::asid_allocator(),
            reserved: 0,
            peak_tasks: 0,
        });
    });
    enter();
}

/// Makes the calling thread this core's idle task: from now on the core runs tasks from the queue.
/// Called once per core, with IRQs masked, before its timer tick starts.
pub fn enter() {
    with(|s| {
        let core = this_core();
        assert!(s.cores[core].is_none(), "core {core} entered the scheduler twice");
        s.cores[core] = Some(CoreSlot {
            running: Running::Idle,
            idle: Box::new(Task::idle()),
            slice_used: 0,
            switched_in_at: time::ticks(),
            departed: None,
        });
    });
}

impl Scheduler {
    fn slot(&mut self, core: usize) -> &mut CoreSlot {
        self.cores[core].as_mut().expect("a core that entered the scheduler")
    }

    fn task_mut(&mut self, core: usize, running: Running) -> &mut Task {
        match running {
            Running::Idle => &mut self.slot(core).idle,
            Running::Task(pid) => self.tasks.get_mut(&pid).expect("a running task is in the task table"),
        }
    }

    /// The task this core runs.
    fn current_task(&mut self) -> &mut Task {
        let core = this_core();
        let running = self.slot(core).running;
        self.task_mut(core, running)
    }

    fn current_pid(&mut self) -> Pid {
        match self.slot(this_core()).running {
            Running::Idle => Pid(0),
            Running::Task(pid) => pid,
        }
    }

    /// Chooses this core's next task and returns the two contexts to switch between, or None to stay.
    fn pick_next(&mut self) -> Option<(*mut Context, *const Context)> {
        let core = this_core();
        let running = self.slot(core).running;
        let nothing_ready = self.ready.is_empty();
        let current = self.task_mut(core, running);
        if !current.stack_intact() {
            panic!("task {} ({}) overflowed its kernel stack", current.pid, current.name);
        }
        if current.state == State::Running {
            match running {
                Running::Idle if nothing_ready => return None,
                Running::Idle => current.state = State::Ready,
                Running::Task(pid) => {
                    current.state = State::Ready;
                    self.ready.push_back(pid);
                }
            }
        }
        let next = self.ready.pop_front().map_or(Running::Idle, Running::Task);
        self.slot(core).slice_used = 0;
        let next_task = self.task_mut(core, next);
        next_task.state = State::Running;
        next_task.core = Some(core as u8);
        if next == running {
            return None;
        }
        let now = time::ticks();
        let slot = self.slot(core);
        let run = now.wrapping_sub(slot.switched_in_at);
        slot.switched_in_at = now;
        slot.running = next;
        self.task_mut(core, running).cpu_ticks += run;
        let space = self.task_mut(core, next).address_space.clone();
        activate(space.as_ref(), &mut self.asids);
        let from: *mut Context = match running {
            Running::Task(pid) if self.tasks[&pid].is_departing() => {
                // Nobody will collect it: out of the table now, freed once this switch is off its stack.
                // The box keeps the task where it is, so `from` stays valid.
                let mut task = self.tasks.remove(&pid).expect("current task");
                let from: *mut Context = &mut task.context;
                // The task switched to last time freed the one before (`free_departed`); there is none.
                drop(self.slot(core).departed.replace(task));
                from
            }
            _ => &mut self.task_mut(core, running).context,
        };
        let to: *const Context = &self.task_mut(core, next).context;
        Some((from, to))
    }

    fn insert(&mut self, task: Box<Task>) {
        let pid = task.pid;
        self.tasks.insert(pid, task);
        self.ready.push_back(pid);
        self.peak_tasks = self.peak_tasks.max(self.tasks.len());
        self.kick_idle_core();
    }

    fn make_ready(&mut self, pid: Pid) {
        if let Some(task) = self.tasks.get_mut(&pid) {
            task.state = State::Ready;
            self.ready.push_back(pid);
            self.kick_idle_core();
        }
    }

    /// Sends an IPI to another core that idles, if one does, so that it takes the task just queued.
    fn kick_idle_core(&self) {
        let me = this_core();
        let idle = (0..CORE_COUNT).find(|&core| {
            core != me && self.cores[core].as_ref().is_some_and(|c| c.running == Running::Idle)
        });
        if let Some(core) = idle {
            crate::smp::send_ipi(core);
        }
    }
}

impl Task {
    /// An exited task nobody will collect: it leaves the table at its last switch.
    fn is_departing(&self) -> bool {
        matches!(self.state, State::Exited(_)) && self.parent.is_none()
    }
}

/// Frees a task taken out of the table, once its registers are off every core: an exited child may
/// still be in the middle of its last switch on another core, on the stack about to be freed.
fn free_task(task: Box<Task>) {
    while task.context.is_on_cpu() {
        cpu::spin_wait_hint();
    }
    drop(task);
}

/// Switches this core to the next ready task, if there is one; returns when this task is scheduled
/// again.
pub fn schedule() {
    switch_away(|_| {});
}

/// Runs `change` on the scheduler (with this core's task current) and switches to the next ready task in
/// the same hold of the lock: the way a task stops running (sleeps, waits, exits). Returns when this task
/// is scheduled again.
fn switch_away(change: impl FnOnce(&mut Scheduler)) {
    let saved = cpu::mask_irqs();
    let switch = with(|s| {
        change(s);
        s.pick_next()
    });
    if let Some((from, to)) = switch {
        // SAFETY: both contexts belong to boxed tasks; neither is freed while switched out or running (an
        // exited task is freed by `wait`, or by `free_departed`, after it has switched away for the last
        // time, and `free_task` waits for its on-CPU word).
        unsafe { switch_context(from, to) };
        free_departed();
    }
    cpu::restore_irqs(saved);
}

/// Frees the detached task that exited in the switch that just brought this task in on this core, if
/// there was one: called, with IRQs masked, by every task right after a switch to it (here, and in a
/// new task's first code), when the switch is off the departed task's kernel stack.
pub(super) fn free_departed() {
    // Dropped outside the lock: it frees a kernel stack.
    if let Some(task) = with(|s| s.slot(this_core()).departed.take()) {
        free_task(task);
    }
}

/// Gives up the processor to the next ready task.
pub fn yield_now() {
    schedule();
}

/// The running task's pid (0 for an idle task).
pub fn current_pid() -> Pid {
    with(|s| s.current_pid())
}

/// The boot core's timer ticks since the scheduler started: each is one interrupt handled, so a stretch
/// with interrupts masked too long shows as ticks missing against the counter.
pub fn tick_count() -> u64 {
    with(|s| s.ticks)
}

/// When each core switched in the task it runs, and which that is: what [`cpu_ticks_of`] needs.
type RunningSince = [Option<(Pid, u64)>; CORE_COUNT];

fn running_since(s: &Scheduler) -> RunningSince {
    core::array::from_fn(|core| {
        let slot = s.cores[core].as_ref()?;
        match slot.running {
            Running::Task(pid) => Some((pid, slot.switched_in_at)),
            Running::Idle => None,
        }
    })
}

/// Processor time `task` has used, in counter ticks, including its current run if a core runs it.
fn cpu_ticks_of(task: &Task, running: &RunningSince) -> u64 {
    let now = time::ticks();
    let current = running.iter().flatten().find(|(pid, _)| *pid == task.pid);
    task.cpu_ticks + current.map_or(0, |(_, since)| now.wrapping_sub(*since))
}

/// Processor time task `pid` has used so far, in system counter ticks (including its current run), or
/// `None` if there is no such task.
pub fn cpu_ticks(pid: Pid) -> Option<u64> {
    with(|s| {
        let running = running_since(s);
        s.tasks.get(&pid).map(|t| cpu_ticks_of(t, &running))
    })
}

/// Starts a kernel task running `entry`; its result becomes the exit status. Kernel tasks are not
/// counted against the task limit: the kernel decides how many it starts.
pub fn spawn_kernel(name: &str, entry: impl FnOnce() -> i64 + Send + 'static) -> Pid {
    let boxed: Box<KernelEntry> = Box::new(Box::new(entry));
    let argument = Box::into_raw(boxed) as usize;
    spawn(|pid, parent| Task::new_kernel(pid, String::from(name), parent, kernel_task_main, argument))
}

/// Adds the task `make(pid, parent)` builds, as a child of the running task, and makes it ready. No limit:
/// for kernel tasks; user tasks go through [`reserve_slot`].
pub fn spawn(make: impl FnOnce(Pid, Option<Pid>) -> Task) -> Pid {
    let (pid, parent) = with(|s| {
        let pid = Pid(s.next_pid);
        s.next_pid += 1;
        (pid, Some(s.current_pid()))
    });
    // Built outside the lock: it allocates a kernel stack.
    let task = Box::new(make(pid, parent));
    with(|s| s.insert(task));
    pid
}

/// The task limit was reached: as many tasks exist (or are being made) as `reserve_slot` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskLimitReached;

/// A place for one more task, reserved against the limit; [`TaskSlot::fill`] puts the task in it, and
/// dropping it unfilled gives the place back.
pub struct TaskSlot {
    pid: Pid,
    parent: Pid,
}

/// Reserves a place for a child of the running task, if fewer than `limit` tasks exist or are reserved.
pub fn reserve_slot(limit: usize) -> Result<TaskSlot, TaskLimitReached> {
    with(|s| {
        if s.tasks.len() + s.reserved >= limit {
            return Err(TaskLimitReached);
        }
        s.reserved += 1;
        let pid = Pid(s.next_pid);
        s.next_pid += 1;
        Ok(TaskSlot { pid, parent: s.current_pid() })
    })
}

impl TaskSlot {
    /// Adds the task `make(pid, parent)` builds in this slot and makes it ready.
    pub fn fill(self, make: impl FnOnce(Pid, Option<Pid>) -> Task) -> Pid {
        let (pid, parent) = (self.pid, self.parent);
        // Built outside the lock: it allocates a kernel stack.
        let task = Box::new(make(pid, Some(parent)));
        // The reservation becomes the task: `drop` must not give it back as well.
        core::mem::forget(self);
        with(|s| {
            s.reserved -= 1;
            s.insert(task);
        });
        pid
    }
}

impl Drop for TaskSlot {
    fn drop(&mut self) {
        with(|s| s.reserved -= 1);
    }
}

/// The most tasks that existed at once since the previous call (or boot); the count starts again from
/// the tasks that exist now. For the tests of the task limit.
pub fn take_peak_task_count() -> usize {
    with(|s| core::mem::replace(&mut s.peak_tasks, s.tasks.len()))
}

/// The ASID allocator's generation: it grows each time the ASIDs run out and are handed out afresh.
pub fn asid_generation() -> u64 {
    with(|s| s.asids.generation().number())
}

/// The running task's name.
pub fn current_name() -> String {
    with(|s| s.current_task().name.clone())
}

/// How many tasks exist (the idle task and exited ones not yet collected included): what the task limit
/// bounds.
pub fn task_count() -> usize {
    with(|s| s.tasks.len())
}

/// Runs `f` on the running task's address space, if it has one, under the space's lock (waiting for
/// it if `ps`, the audit or a test holds it) and not the scheduler's: interrupts stay as the caller has
/// them, on for system calls, so a fork or a range call of any size leaves the timer running.
pub fn with_current_address_space<R>(f: impl FnOnce(&mut AddressSpace) -> R) -> Option<R> {
    let current = cpu::current_space_word() as *const SharedSpace;
    // SAFETY: `TPIDR_EL1` holds the running task's space (`activate`, at every switch to it on whichever
    // core), which its task holds (an `Arc` in the task table) until the task itself gives it up, in
    // `replace_current_address_space` or `exit`, which repoint it first. The caller is that task, busy
    // here, so the space outlives `f`, even if the task is switched out and back, or moves to another
    // core, while it waits for the lock or runs `f`.
    let shared = unsafe { current.as_ref() }?;
    Some(shared.space.lock(f))
}

/// Gives the running task a new address space and name (`EXEC`) and returns the old space, which the
/// caller hands to [`space::release`]: it is no longer in `TTBR0_EL1`.
pub fn replace_current_address_space(space: AddressSpace, name: &str) -> Option<Arc<SharedSpace>> {
    let shared = SharedSpace::new(space);
    with(|s| {
        let task = s.current_task();
        task.name = String::from(name);
        let old = task.address_space.replace(shared.clone());
        activate(Some(&shared), &mut s.asids);
        old
    })
}

/// Task `pid`'s address space, if it has one: a handle that keeps it alive (its task's exit waits for
/// the handle to go, see [`space::release`]).
pub fn address_space_of(pid: Pid) -> Option<Arc<SharedSpace>> {
    with(|s| s.tasks.get(&pid)?.address_space.clone())
}

/// Handles on every task's address space, by pid in order, taken under the scheduler lock and used after
/// it: no address-space lock is taken while holding it (the lock order in `sync`).
fn address_spaces() -> Vec<(Pid, Arc<SharedSpace>)> {
    with(|s| s.tasks.values().filter_map(|t| Some((t.pid, t.address_space.clone()?))).collect())
}

/// The address spaces of all tasks, by pid, for page merging: each held if it was free, or busy (its
/// lock held by a task that was preempted in the middle of a change to it).
pub struct TaskSpaces<'a> {
    held: Vec<(Pid, Option<MutexGuard<'a, AddressSpace>>)>,
}

impl TaskSpaces<'_> {
    /// Pids of the tasks that have an address space, busy ones included, in order.
    pub fn pids(&self) -> Vec<Pid> {
        self.held.iter().map(|&(pid, _)| pid).collect()
    }

    /// Task `pid`'s address space; None if it has none, or if it is busy.
    pub fn space(&mut self, pid: Pid) -> Option<&mut AddressSpace> {
        let at = self.held.binary_search_by_key(&pid, |&(pid, _)| pid).ok()?;
        self.held[at].1.as_deref_mut()
    }

    /// Whether task `pid` has an address space that someone else holds now.
    pub fn is_busy(&self, pid: Pid) -> bool {
        self.held.binary_search_by_key(&pid, |&(pid, _)| pid).is_ok_and(|at| self.held[at].1.is_none())
    }
}

/// Runs `f` with every task's address space at hand that is not busy, without waiting for any: for page
/// merging, which holds its own [`IrqSafeLock`] meanwhile.
pub fn with_task_spaces<R>(f: impl FnOnce(&mut TaskSpaces) -> R) -> R {
    let shared = address_spaces();
    f(&mut TaskSpaces { held: shared.iter().map(|(pid, s)| (*pid, s.space.try_hold())).collect() })
}

/// Runs `f` on every task's address space in turn, each under its own lock (the memory audit counts
/// their holds). Waits for a busy one, so it must not be called under an [`IrqSafeLock`].
pub fn for_each_address_space(mut f: impl FnMut(&mut AddressSpace)) {
    for (_, shared) in address_spaces() {
        shared.space.lock(&mut f);
    }
}

/// Sleeps for at least `milliseconds`; other tasks run meanwhile.
pub fn sleep(milliseconds: u64) {
    switch_away(|s| {
        let until_tick = wake_tick(s.ticks, milliseconds);
        s.current_task().state = State::Sleeping { until_tick };
        let me = s.current_pid();
        s.sleepers.insert((until_tick, me));
    });
}

/// The tick a sleep of `milliseconds` that starts during tick `now` ends at. The current tick is partly
/// over: one more makes the sleep at least `milliseconds` long. A task may ask for `u64::MAX` ms
/// (`SLEEP` takes any value): that saturates to never, where plain addition overflowed (a kernel panic in
/// a debug build, an instant wake-up in a release one).
fn wake_tick(now: u64, milliseconds: u64) -> u64 {
    now.saturating_add(milliseconds.div_ceil(TICK_MS).max(1)).saturating_add(1)
}

crate::kernel_test! {
    fn a_sleep_ends_after_its_last_whole_tick_or_never() -> TestResult {
        crate::check_eq!(wake_tick(10, 0), 12);
        crate::check_eq!(wake_tick(10, 1), 12);
        crate::check_eq!(wake_tick(10, 5), 16);
        crate::check_eq!(wake_tick(10, u64::MAX), u64::MAX);
        crate::check_eq!(wake_tick(u64::MAX - 1, 1), u64::MAX);
        Ok(())
    }
}

/// Who takes over the children of a task whose parent is `parent`: the parent, if it is a user task that
/// has not exited (a kernel task collects none). One exiting too is still the adopter until it has
/// exited, even while its teardown has taken its address space out: its own exit hands them on.
fn adopter(tasks: &BTreeMap<Pid, Box<Task>>, parent: Option<Pid>) -> Option<Pid> {
    parent.filter(|p| tasks.get(p).is_some_and(|t| t.is_live_user_task()))
}

crate::kernel_test! {
    /// A user parent tearing down its address space (its exit took the space out, interrupts on) is
    /// still the adopter of its children's children; an exited one and a kernel task are not. (The
    /// adopter was "the parent has an address space", which let a child exiting during that teardown
    /// detach its own children.)
    fn a_parent_tearing_down_its_space_still_adopts() -> TestResult {
        extern "C" fn never(_: usize) -> ! {
            unreachable!("a task built for a test is never run")
        }
        let space = crate::check_ok!(crate::memory::address_space::new());
        let mut user = Task::new_user(Pid(9001), String::from("u"), None, never, 0, space);
        let kernel = Task::new_kernel(Pid(9002), String::from("k"), None, never, 0);
        let mut tasks = BTreeMap::new();
        tasks.insert(Pid(9002), Box::new(kernel));
        crate::check_eq!(adopter(&tasks, Some(Pid(9002))), None);
        crate::check_eq!(adopter(&tasks, None), None);
        drop(user.address_space.take());
        tasks.insert(Pid(9001), Box::new(user));
        crate::check_eq!(adopter(&tasks, Some(Pid(9001))), Some(Pid(9001)));
        if let Some(task) = tasks.get_mut(&Pid(9001)) {
            task.state = State::Exited(0);
        }
        crate::check_eq!(adopter(&tasks, Some(Pid(9001))), None);
        Ok(())
    }
}

/// Ends the running task with `status`. Its parent, if waiting, wakes up.
pub fn exit(status: i64) -> ! {
    probe::hit(Probe::ExitEntered);
    // Tear the address space down first, on this task's kernel stack, with TTBR0_EL1 off its tables, and
    // with interrupts on: teardown costs what the task mapped, and the machine must not go deaf for it
    // (a task killed by a fault comes here with them masked). Once taken out of the task, no one finds
    // the space any more: a switch away and back meanwhile installs no tables (`pick_next`), and page
    // merging and `ps` no longer see it. `release` waits for a handle they took before to go.
    cpu::unmask_irqs();
    let space = with(|s| {
        let space = s.current_task().address_space.take();
        activate(None, &mut s.asids);
        space
    });
    if let Some(space) = space {
        space::release(space);
    }
    probe::hit(Probe::SpaceTornDown);
    cpu::mask_irqs();
    let unclaimed = with(|s| {
        let me = s.current_pid();
        let parent = s.current_task().parent;
        let adopter = adopter(&s.tasks, parent);
        // Children that have exited already and are detached now: nobody can collect them any more.
        let mut unclaimed_pids = Vec::new();
        for child in s.tasks.values_mut().filter(|t| t.parent == Some(me)) {
            child.parent = adopter;
            if adopter.is_none() && matches!(child.state, State::Exited(_)) {
                unclaimed_pids.push(child.pid);
            }
        }
        unclaimed_pids.iter().filter_map(|pid| s.tasks.remove(pid)).collect::<Vec<_>>()
    });
    // Freed outside the lock, on this task's stack: they switched away for good when they exited.
    unclaimed.into_iter().for_each(free_task);
    switch_away(|s| {
        s.current_task().state = State::Exited(status);
        // Waking the parent for this task's end also lets it find the children it adopted that ended.
        if let Some(parent) = s.current_task().parent
            && s.tasks.get(&parent).is_some_and(|p| p.state == State::Waiting)
        {
            s.make_ready(parent);
        }
    });
    unreachable!("an exited task was scheduled again");
}

/// Why `wait` returned no status.
#[derive(Debug, PartialEq, Eq)]
pub enum WaitError {
    /// The pid is not a child of the caller (or, for any child, it has none).
    NoChild,
}

/// Waits until the child `pid` (or any child, with None) has exited, frees it and returns its pid and
/// exit status.
pub fn wait(pid: Option<Pid>) -> Result<(Pid, i64), WaitError> {
    enum Found {
        Exited(Pid, i64, Box<Task>),
        /// None has exited: the caller waits (switched out in the same hold of the lock).
        Waiting(Option<(*mut Context, *const Context)>),
    }
    loop {
        let saved = cpu::mask_irqs();
        let found = with(|s| {
            let me = s.current_pid();
            let is_mine = |t: &Task| t.parent == Some(me) && pid.is_none_or(|p| p == t.pid);
            if !s.tasks.values().any(|t| is_mine(t)) {
                return Err(WaitError::NoChild);
            }
            let exited =
                s.tasks.values().find(|t| is_mine(t) && matches!(t.state, State::Exited(_))).map(|t| t.pid);
            Ok(match exited {
                Some(child) => {
                    let task = s.tasks.remove(&child).expect("exited child");
                    let State::Exited(status) = task.state else { unreachable!() };
                    Found::Exited(child, status, task)
                }
                None => {
                    s.current_task().state = State::Waiting;
                    Found::Waiting(s.pick_next())
                }
            })
        });
        match found {
            Err(error) => {
                cpu::restore_irqs(saved);
                return Err(error);
            }
            Ok(Found::Exited(child, status, task)) => {
                cpu::restore_irqs(saved);
                free_task(task); // Frees its kernel stack, outside the scheduler lock.
                probe::hit(Probe::WaitReturned);
                return Ok((child, status));
            }
            Ok(Found::Waiting(switch)) => {
                if let Some((from, to)) = switch {
                    // SAFETY: as in `switch_away`.
                    unsafe { switch_context(from, to) };
                    free_departed();
                }
                cpu::restore_irqs(saved);
            }
        }
    }
}

/// Called by the timer interrupt of each core: counts the tick (the boot core's keep the time and wake
/// sleepers), and says whether the core's running task should give way.
pub fn tick() -> bool {
    with(|s| {
        let core = this_core();
        if core == 0 {
            s.ticks += 1;
            let now = s.ticks;
            while let Some(&(until_tick, pid)) = s.sleepers.first() {
                if until_tick > now {
                    break;
                }
                s.sleepers.pop_first();
                if s.tasks.get(&pid).is_some_and(|t| matches!(t.state, State::Sleeping { .. })) {
                    s.make_ready(pid);
                }
            }
        }
        let Some(slot) = s.cores[core].as_mut() else { return false };
        slot.slice_used += 1;
        !s.ready.is_empty() && (slot.running == Running::Idle || slot.slice_used >= TIME_SLICE_TICKS)
    })
}

/// Called by an IPI: whether this core idles while a task is ready (another core queued it and kicked
/// this one, [`Scheduler::kick_idle_core`]).
pub fn ipi() -> bool {
    with(|s| {
        let idle = s.cores[this_core()].as_ref().is_some_and(|slot| slot.running == Running::Idle);
        idle && !s.ready.is_empty()
    })
}

/// A task as `ps` shows it.
pub struct TaskSummary {
    pub pid: Pid,
    pub parent: Option<Pid>,
    pub name: String,
    pub state: State,
    /// The core the task runs on, or last ran on; None if it never ran.
    pub core: Option<u8>,
    /// Processor time used, in system counter ticks.
    pub cpu_ticks: u64,
    /// A user task's pages.
    pub pages: Option<PageCounts>,
}

impl TaskSummary {
    /// Processor time used.
    pub fn cpu_time(&self) -> core::time::Duration {
        time::ticks_to_duration(self.cpu_ticks)
    }
}

/// Every task as `ps` shows it, each core's idle task first. The page counts are read after the
/// scheduler lock is let go, each under its space's lock (waiting for a space in the middle of a fork).
pub fn tasks_snapshot() -> Vec<TaskSummary> {
    let tasks: Vec<(TaskSummary, Option<Arc<SharedSpace>>)> = with(|s| {
        let running = running_since(s);
        let now = time::ticks();
        let idle = s.cores.iter().flatten().map(|slot| {
            let since = (slot.running == Running::Idle).then_some(slot.switched_in_at);
            let mut summary = summary_of(&slot.idle, 0);
            summary.cpu_ticks = slot.idle.cpu_ticks + since.map_or(0, |since| now.wrapping_sub(since));
            (summary, None)
        });
        let tasks =
            s.tasks.values().map(|t| (summary_of(t, cpu_ticks_of(t, &running)), t.address_space.clone()));
        idle.chain(tasks).collect()
    });
    tasks
        .into_iter()
        .map(|(mut summary, shared)| {
            summary.pages = shared.map(|shared| shared.space.lock(|space| space.page_counts()));
            summary
        })
        .collect()
}

fn summary_of(task: &Task, cpu_ticks: u64) -> TaskSummary {
    TaskSummary {
        pid: task.pid,
        parent: task.parent,
        name: task.name.clone(),
        state: task.state,
        core: task.core,
        cpu_ticks,
        pages: None,
    }
}
