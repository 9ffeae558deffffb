//! The round-robin scheduler: a run queue, sleeping by timer ticks, and `wait` for children.
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
use core::sync::atomic::{AtomicPtr, Ordering};

use spin::MutexGuard;

use super::context::{Context, switch_context};
use super::space::{self, SharedSpace};
use super::{KernelEntry, Pid, State, Task, kernel_task_main};
use crate::arch::mmu::tlb;
use crate::arch::{cpu, time};
use cowpi_mm::AsidAllocator;

use crate::bench::probe::{self, Probe};
use crate::memory::address_space::{AddressSpace, PageCounts};
use crate::sync::IrqSafeLock;

/// Length of a timer tick.
pub const TICK_MS: u64 = 1;
/// Ticks a task may run while others wait.
pub const TIME_SLICE_TICKS: u64 = 10;

/// Room in the run queue, allocated once at start: more than the task limit plus the kernel's own tasks,
/// so it never grows. A `VecDeque` keeps what it grew to, and heap still taken after a test is what the
/// memory audit reports as a leak.
const READY_QUEUE_CAPACITY: usize = 2 * super::user::MAX_TASKS;

struct Scheduler {
    tasks: BTreeMap<Pid, Box<Task>>,
    ready: VecDeque<Pid>,
    current: Pid,
    next_pid: u32,
    ticks: u64,
    /// Ticks the current task has run since it was switched in.
    slice_used: u64,
    /// The system counter when the current task was switched in: processor time is charged at each switch
    /// from the counter, exact to a counter tick, where sampling at timer ticks would miss every task
    /// that runs less than a tick at a time (the page-merging scanner, a task that mostly sleeps).
    switched_in_at: u64,
    /// Sleeping tasks by wake-up tick, so a tick looks only at the ones due, not at every task.
    sleepers: BTreeSet<(u64, Pid)>,
    asids: AsidAllocator,
    /// Slots reserved by [`reserve_slot`] whose task is not in `tasks` yet; they count against the limit.
    reserved: usize,
    /// The most tasks that existed at once since the last [`take_peak_task_count`].
    peak_tasks: usize,
    /// A detached task that has exited, out of the table, on whose kernel stack the last switch away
    /// from it was made: the task switched to frees it ([`free_departed`]).
    departed: Option<Box<Task>>,
}

static SCHEDULER: IrqSafeLock<Option<Scheduler>> = IrqSafeLock::new(None);

/// The running task's address space (null for a kernel task), set at every switch: what the running
/// task's faults and system calls reach without the scheduler lock (see
/// [`with_current_address_space`]). One core: one running task.
static CURRENT_SPACE: AtomicPtr<SharedSpace> = AtomicPtr::new(core::ptr::null_mut());

/// Installs `space` (the running task's, from now on) in `TTBR0_EL1` and in [`CURRENT_SPACE`], giving it
/// a current-generation ASID. The space's own lock is not taken: its holder may be the task switched away
/// from in the middle of a fork.
fn activate(space: Option<&Arc<SharedSpace>>, asids: &mut AsidAllocator) {
    match space {
        Some(space) => {
            CURRENT_SPACE.store(Arc::as_ptr(space).cast_mut(), Ordering::Relaxed);
            tlb::activate(space.root, space.asid.assign(asids));
        }
        None => {
            CURRENT_SPACE.store(core::ptr::null_mut(), Ordering::Relaxed);
            tlb::activate_none();
        }
    }
}

fn with<R>(f: impl FnOnce(&mut Scheduler) -> R) -> R {
    SCHEDULER.lock(|s| f(s.as_mut().expect("scheduler used before task::scheduler::init")))
}

/// Makes the calling thread (the boot core's) the idle task.
pub fn init() {
    SCHEDULER.lock(|s| {
        let mut tasks = BTreeMap::new();
        tasks.insert(Pid(0), Box::new(Task::idle()));
        *s = Some(Scheduler {
            tasks,
            ready: VecDeque::with_capacity(READY_QUEUE_CAPACITY),
            current: Pid(0),
            next_pid: 1,
            ticks: 0,
            slice_used: 0,
            switched_in_at: time::ticks(),
            sleepers: BTreeSet::new(),
            asids: tlb::asid_allocator(),
            reserved: 0,
            peak_tasks: 1,
            departed: None,
        });
    });
}

impl Scheduler {
    fn current_task(&mut self) -> &mut Task {
        let current = self.current;
        self.tasks.get_mut(&current).expect("the current task is in the task table")
    }

    /// Chooses the next task and returns the two contexts to switch between, or None to stay.
    fn pick_next(&mut self) -> Option<(*mut Context, *const Context)> {
        let current = self.current;
        if !self.current_task().stack_intact() {
            panic!("task {current} ({}) overflowed its kernel stack", self.current_task().name);
        }
        if self.current_task().state == State::Running {
            if current == Pid(0) {
                if self.ready.is_empty() {
                    return None;
                }
                self.current_task().state = State::Ready;
            } else {
                self.current_task().state = State::Ready;
                self.ready.push_back(current);
            }
        }
        let next = self.ready.pop_front().unwrap_or(Pid(0));
        self.slice_used = 0;
        self.tasks.get_mut(&next).expect("a ready task is in the task table").state = State::Running;
        if next == current {
            return None;
        }
        let now = time::ticks();
        self.current_task().cpu_ticks += now.wrapping_sub(self.switched_in_at);
        self.switched_in_at = now;
        self.current = next;
        activate(self.tasks[&next].address_space.as_ref(), &mut self.asids);
        let leaving = &self.tasks[&current];
        let from: *mut Context = if matches!(leaving.state, State::Exited(_)) && leaving.parent.is_none() {
            // Nobody will collect it: out of the table now, freed once this switch is off its stack. The
            // box keeps the task where it is, so `from` stays valid.
            let mut task = self.tasks.remove(&current).expect("current task");
            let from: *mut Context = &mut task.context;
            // The task switched to last time freed the one before (`free_departed`); there is none.
            drop(self.departed.replace(task));
            from
        } else {
            &mut self.tasks.get_mut(&current).expect("current task").context
        };
        let to: *const Context = &self.tasks[&next].context;
        Some((from, to))
    }

    fn insert(&mut self, task: Box<Task>) {
        let pid = task.pid;
        self.tasks.insert(pid, task);
        self.ready.push_back(pid);
        self.peak_tasks = self.peak_tasks.max(self.tasks.len());
    }

    fn make_ready(&mut self, pid: Pid) {
        if let Some(task) = self.tasks.get_mut(&pid) {
            task.state = State::Ready;
            self.ready.push_back(pid);
        }
    }
}

/// Switches to the next ready task, if there is one; returns when this task is scheduled again.
pub fn schedule() {
    let saved = cpu::mask_irqs();
    if let Some((from, to)) = with(|s| s.pick_next()) {
        // SAFETY: both contexts belong to boxed tasks; neither is freed while switched out or running (an
        // exited task is freed by `wait`, or by `free_departed`, after it has switched away for the last
        // time).
        unsafe { switch_context(from, to) };
        free_departed();
    }
    cpu::restore_irqs(saved);
}

/// Frees the detached task that exited in the switch that just brought this task in, if there was one:
/// called, with IRQs masked, by every task right after a switch to it (here, and in a new task's first
/// code), when the switch is off the departed task's kernel stack.
pub(super) fn free_departed() {
    // Dropped outside the lock: it frees a kernel stack.
    drop(with(|s| s.departed.take()));
}

/// Gives up the processor to the next ready task.
pub fn yield_now() {
    schedule();
}

/// The running task's pid.
pub fn current_pid() -> Pid {
    with(|s| s.current)
}

/// Timer ticks taken since the scheduler started: each is one interrupt handled, so a stretch with
/// interrupts masked too long shows as ticks missing against the counter.
pub fn tick_count() -> u64 {
    with(|s| s.ticks)
}

/// Processor time `task` has used, in counter ticks, including its current run if it is the `current`
/// task, switched in at counter value `since`.
fn cpu_ticks_of(task: &Task, current: Pid, since: u64) -> u64 {
    let running = if task.pid == current { time::ticks().wrapping_sub(since) } else { 0 };
    task.cpu_ticks + running
}

/// Processor time task `pid` has used so far, in system counter ticks (including its current run), or
/// `None` if there is no such task.
pub fn cpu_ticks(pid: Pid) -> Option<u64> {
    with(|s| {
        let (current, since) = (s.current, s.switched_in_at);
        s.tasks.get(&pid).map(|t| cpu_ticks_of(t, current, since))
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
        (pid, Some(s.current))
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
        Ok(TaskSlot { pid, parent: s.current })
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
    let current = CURRENT_SPACE.load(Ordering::Relaxed);
    // SAFETY: `CURRENT_SPACE` points at the running task's space, which its task holds (an `Arc` in the
    // task table) until the task itself gives it up, in `replace_current_address_space` or `exit`, which
    // repoint `CURRENT_SPACE` first. The caller is that task, busy here, so the space outlives `f`, even
    // if the task is switched out and back while it waits for the lock or runs `f`.
    let shared = unsafe { current.as_ref() }?;
    Some(shared.space.lock(f))
}

/// Gives the running task a new address space and name (`EXEC`) and returns the old space, which the
/// caller hands to [`space::release`]: it is no longer in `TTBR0_EL1`.
pub fn replace_current_address_space(space: AddressSpace, name: &str) -> Option<Arc<SharedSpace>> {
    let shared = SharedSpace::new(space);
    with(|s| {
        let current = s.current;
        let task = s.tasks.get_mut(&current).expect("the current task is in the task table");
        task.name = String::from(name);
        let old = task.address_space.replace(shared);
        activate(task.address_space.as_ref(), &mut s.asids);
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
    let saved = cpu::mask_irqs();
    with(|s| {
        let until_tick = wake_tick(s.ticks, milliseconds);
        s.current_task().state = State::Sleeping { until_tick };
        let me = s.current;
        s.sleepers.insert((until_tick, me));
    });
    schedule();
    cpu::restore_irqs(saved);
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
        let me = s.current;
        let parent = s.current_task().parent;
        s.current_task().state = State::Exited(status);
        let adopter = adopter(&s.tasks, parent);
        // Children that have exited already and are detached now: nobody can collect them any more.
        let mut unclaimed_pids = Vec::new();
        for child in s.tasks.values_mut().filter(|t| t.parent == Some(me)) {
            child.parent = adopter;
            if adopter.is_none() && matches!(child.state, State::Exited(_)) {
                unclaimed_pids.push(child.pid);
            }
        }
        // Waking the parent for this task's end also lets it find the children it adopted that ended.
        if let Some(parent) = parent
            && s.tasks.get(&parent).is_some_and(|p| p.state == State::Waiting)
        {
            s.make_ready(parent);
        }
        unclaimed_pids.iter().filter_map(|pid| s.tasks.remove(pid)).collect::<Vec<_>>()
    });
    // Freed outside the lock, on this task's stack: they switched away for good when they exited.
    drop(unclaimed);
    schedule();
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
    loop {
        let saved = cpu::mask_irqs();
        let found = with(|s| {
            let me = s.current;
            let is_mine = |t: &Task| t.parent == Some(me) && pid.is_none_or(|p| p == t.pid);
            if !s.tasks.values().any(|t| is_mine(t)) {
                return Err(WaitError::NoChild);
            }
            let exited =
                s.tasks.values().find(|t| is_mine(t) && matches!(t.state, State::Exited(_))).map(|t| t.pid);
            match exited {
                Some(child) => {
                    let task = s.tasks.remove(&child).expect("exited child");
                    let State::Exited(status) = task.state else { unreachable!() };
                    Ok(Some((child, status, task)))
                }
                None => {
                    s.current_task().state = State::Waiting;
                    Ok(None)
                }
            }
        });
        match found {
            Err(error) => {
                cpu::restore_irqs(saved);
                return Err(error);
            }
            Ok(Some((child, status, task))) => {
                cpu::restore_irqs(saved);
                drop(task); // Frees its kernel stack, outside the scheduler lock.
                probe::hit(Probe::WaitReturned);
                return Ok((child, status));
            }
            Ok(None) => {
                schedule();
                cpu::restore_irqs(saved);
            }
        }
    }
}

/// Called by the timer interrupt: counts the tick, wakes sleepers, and says whether the running task
/// should give way.
pub fn tick() -> bool {
    with(|s| {
        s.ticks += 1;
        s.slice_used += 1;
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
        !s.ready.is_empty() && (s.current == Pid(0) || s.slice_used >= TIME_SLICE_TICKS)
    })
}

/// A task as `ps` shows it.
pub struct TaskSummary {
    pub pid: Pid,
    pub parent: Option<Pid>,
    pub name: String,
    pub state: State,
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

/// Every task as `ps` shows it. The page counts are read after the scheduler lock is let go, each under
/// its space's lock (waiting for a space in the middle of a fork).
pub fn tasks_snapshot() -> Vec<TaskSummary> {
    let tasks: Vec<(TaskSummary, Option<Arc<SharedSpace>>)> = with(|s| {
        let (current, since) = (s.current, s.switched_in_at);
        s.tasks
            .values()
            .map(|t| {
                let summary = TaskSummary {
                    pid: t.pid,
                    parent: t.parent,
                    name: t.name.clone(),
                    state: t.state,
                    cpu_ticks: cpu_ticks_of(t, current, since),
                    pages: None,
                };
                (summary, t.address_space.clone())
            })
            .collect()
    });
    tasks
        .into_iter()
        .map(|(mut summary, shared)| {
            summary.pages = shared.map(|shared| shared.space.lock(|space| space.page_counts()));
            summary
        })
        .collect()
}
