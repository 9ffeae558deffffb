//! User tasks: loading a program into a fresh address space, and the first return to EL0.
//!
//! A user task is a task like any other, with an address space (installed in `TTBR0_EL1` whenever it runs)
//! and a first kernel function that drops to EL0 at the program's entry point. From then on it re-enters
//! the kernel only through exceptions: system calls, faults and interrupts.

use alloc::boxed::Box;

use cowpi_abi::{Error, ExitStatus, ForkMode, Signal, layout};

use super::scheduler;
use super::{Pid, Task};
use crate::arch::esr::{AccessKind, Cause, ExceptionClass, FaultStatus, Refusal, Syndrome};
use crate::arch::exception::ExceptionFrame;
use crate::bench::probe::{self, Probe};
use cowpi_mm::regions::Access;

use crate::memory::address_space::{self, AddressSpace, FaultError};
use crate::memory::counters::Counter;
use crate::programs::Program;

/// The most tasks that may exist at once, kernel tasks and exited tasks not yet collected included: at
/// this count `SPAWN` and `FORK` fail with `TooManyTasks`, so a fork bomb meets a clear error, not a hang
/// or an exhausted heap (each task has a 32 KiB kernel stack).
pub const MAX_TASKS: usize = 100;

/// `SPAWN`s and `FORK`s refused with `TooManyTasks` since boot.
pub static TASKS_REFUSED: Counter = Counter::new();

/// A place for one more user task, or `TooManyTasks` (counted).
fn reserve_task_slot() -> Result<scheduler::TaskSlot, Error> {
    scheduler::reserve_slot(MAX_TASKS).map_err(|scheduler::TaskLimitReached| {
        TASKS_REFUSED.add();
        Error::TooManyTasks
    })
}

/// Where a new user task starts at EL0.
struct UserStart {
    pc: u64,
    sp: u64,
    args: u64,
    args_len: u64,
}

impl UserStart {
    /// Sets the registers a program starts with: entry point, stack, arguments in x0 and x1, and
    /// SPSR_EL1 = EL0t (M = 0), AArch64, every interrupt unmasked.
    fn fill(&self, frame: &mut ExceptionFrame) {
        frame.elr = self.pc;
        frame.spsr = 0;
        frame.sp_el0 = self.sp;
        frame.x[0] = self.args;
        frame.x[1] = self.args_len;
    }
}

/// Starts `program` as a child of the running task with the argument string `args`.
pub fn spawn(program: &Program, args: &[u8]) -> Result<Pid, Error> {
    spawn_image(program.name, program.elf, args)
}

/// Starts the ELF image `elf` (an embedded program's, or one received by the shell's `upload`) as a
/// child of the running task called `name`. The image is copied into the task's own frames, so the caller
/// may drop it as soon as this returns.
pub fn spawn_image(name: &str, elf: &[u8], args: &[u8]) -> Result<Pid, Error> {
    let slot = reserve_task_slot()?;
    let (space, start) = load(name, elf, args)?;
    let argument = Box::into_raw(Box::new(start)) as usize;
    Ok(slot.fill(|pid, parent| {
        Task::new_user(pid, alloc::string::String::from(name), parent, user_task_main, argument, space)
    }))
}

/// A fresh address space holding the program `name` with image `elf`, its stack and its argument string,
/// and where it starts.
fn load(name: &str, elf: &[u8], args: &[u8]) -> Result<(AddressSpace, UserStart), Error> {
    let plan = cowpi_loader::plan(elf).map_err(|error| {
        log::warn!("{name}: not a program cowpi can run: {error}");
        Error::BadExecutable
    })?;
    let stack = layout::initial_stack(args.len() as u64).ok_or(Error::InvalidArgument)?;
    let mut space = address_space::new()?;
    for segment in plan.segments() {
        address_space::load_segment(&mut space, segment, elf)?;
    }
    space.map_stack()?;
    space.write_user(stack.args, args)?;
    Ok((space, UserStart { pc: plan.entry(), sp: stack.sp, args: stack.args, args_len: args.len() as u64 }))
}

/// `EXEC`: replaces the running task's program. On success the task's registers in `frame` are those of
/// the new program's entry, so the system call "returns" into it; the old address space is gone. On
/// failure nothing changed.
pub fn exec(program: &Program, args: &[u8], frame: &mut ExceptionFrame) -> Result<(), Error> {
    let (space, start) = load(program.name, program.elf, args)?;
    if let Some(old) = scheduler::replace_current_address_space(space, program.name) {
        super::space::release(old);
    }
    *frame = ExceptionFrame::zeroed();
    start.fill(frame);
    Ok(())
}

/// `FORK`: a child whose address space shares every page with the running task's, copy-on-write (or, for
/// the benchmarks' baseline, holds copies of them made now), and whose registers are the caller's with
/// x0 = 0. Returns the child's pid.
pub fn fork(frame: &ExceptionFrame, mode: ForkMode) -> Result<Pid, Error> {
    probe::hit(Probe::ForkEntered);
    let slot = reserve_task_slot()?;
    let space = with_current_space(|space| address_space::fork(space, mode, Some(frame.sp_el0)))?;
    probe::hit(Probe::SpaceForked);
    let mut child_frame = Box::new(frame.clone());
    child_frame.x[0] = 0;
    let argument = Box::into_raw(child_frame) as usize;
    let name = scheduler::current_name();
    let pid = slot.fill(|pid, parent| Task::new_user(pid, name, parent, fork_child_main, argument, space));
    probe::hit(Probe::ChildCreated);
    Ok(pid)
}

/// The first kernel code of a forked child: returns to EL0 with the parent's registers at the fork.
extern "C" fn fork_child_main(argument: usize) -> ! {
    probe::hit(Probe::ChildRunning);
    // SAFETY: `fork` passes a pointer from `Box::into_raw` of an `ExceptionFrame`, used exactly once.
    let boxed = unsafe { Box::from_raw(argument as *mut ExceptionFrame) };
    // On this stack: the restore pops it and leaves SP_EL1 where the task's exceptions will land.
    let frame = (*boxed).clone();
    drop(boxed);
    // SAFETY: the frame lies on this task's kernel stack, fully initialised; nothing above it is needed.
    unsafe { crate::arch::exception::return_to_user(&frame) }
}

/// Runs `f` on the running task's address space; `BadAddress` for a kernel task, which has none.
pub fn with_current_space<R>(f: impl FnOnce(&mut AddressSpace) -> Result<R, Error>) -> Result<R, Error> {
    scheduler::with_current_address_space(f).unwrap_or(Err(Error::BadAddress))
}

/// The first kernel code of a user task: builds the EL0 register state on its kernel stack and returns
/// to it as if from an exception. The scheduler has already installed the task's address space.
extern "C" fn user_task_main(argument: usize) -> ! {
    // SAFETY: `spawn` passes a pointer from `Box::into_raw` of a `UserStart`, used exactly once.
    let start = unsafe { Box::from_raw(argument as *mut UserStart) };
    let mut frame = ExceptionFrame::zeroed();
    start.fill(&mut frame);
    drop(start);
    // SAFETY: the frame is fully initialised and lies on this task's kernel stack, which the restore code
    // pops before ERET; what lies above it on the stack is never returned to.
    unsafe { crate::arch::exception::return_to_user(&frame) }
}

/// Handles a synchronous exception from EL0 that is not a system call: resolves a page fault the task
/// may take (a first touch, a write to a shared page) and returns to retry the instruction, or ends the
/// task.
pub fn handle_fault(frame: &ExceptionFrame, syndrome: Syndrome) {
    // Only these two can be the kernel's to resolve: a page not in the tables yet, or one write-protected
    // because it is shared; any other fault ends the task.
    if let Some(abort) = syndrome.abort()
        && matches!(abort.status, FaultStatus::Translation { .. } | FaultStatus::Permission { .. })
    {
        let access = match abort.access {
            AccessKind::Read => Access::Read,
            AccessKind::Write => Access::Write,
            AccessKind::Execute => Access::Execute,
        };
        let resolved = scheduler::with_current_address_space(|space| space.resolve_fault(frame.far, access));
        match resolved {
            Some(Ok(_)) => return,
            Some(Err(FaultError::OutOfMemory)) => kill_out_of_memory(frame, syndrome, abort.access),
            _ => {}
        }
    }
    kill_for_fault(frame, syndrome)
}

/// Ends the running task because its page fault (an `access`) needed a frame and none was free, with a
/// one-line report in the form of [`kill_for_fault`]'s: `task 5 (oomrace) killed: out of memory: write to
/// 0x1000003000 (pc 0x400123; data abort from a lower exception level (EC 0x24): translation fault at
/// level 3, on a write)`. The kernel and every other task go on.
fn kill_out_of_memory(frame: &ExceptionFrame, syndrome: Syndrome, access: AccessKind) -> ! {
    crate::memory::counters::OOM_KILLS.add();
    let act = match access {
        AccessKind::Read => "read of",
        AccessKind::Write => "write to",
        AccessKind::Execute => "jump to",
    };
    report_kill(format_args!("out of memory: {act} {:#x}", frame.far), frame, syndrome);
    scheduler::exit(ExitStatus::Killed(Signal::Killed).to_raw())
}

/// Ends the running task with a one-line report: the signal, what the task did in plain words (an
/// undefined instruction with its instruction word), where, and the decoded syndrome, as in `task 6
/// (fault) killed: illegal instruction: undefined instruction 0x00000000 at 0x4001f0 (pc 0x4001f0;
/// unknown reason (EC 0x00))`.
pub fn kill_for_fault(frame: &ExceptionFrame, syndrome: Syndrome) -> ! {
    let class = syndrome.class();
    let signal = match class {
        ExceptionClass::InstructionAbortLowerEl
        | ExceptionClass::InstructionAbortSameEl
        | ExceptionClass::DataAbortLowerEl
        | ExceptionClass::DataAbortSameEl => Signal::SegmentationFault,
        ExceptionClass::PcAlignment | ExceptionClass::SpAlignment => Signal::BusError,
        ExceptionClass::Brk => Signal::Breakpoint,
        _ => Signal::IllegalInstruction,
    };
    let cause = cause_of(frame, syndrome);
    // An abort's FAR holds the address refused; for anything else the instruction itself is the place.
    let address = if class.is_abort() { frame.far } else { frame.elr };
    report_kill(format_args!("{}: {cause} at {address:#x}", signal.description()), frame, syndrome);
    scheduler::exit(ExitStatus::Killed(signal).to_raw())
}

/// What the running task did, in plain words: the syndrome's account ([`Syndrome::cause`]), with an
/// undefined instruction's word, and the reason an access was refused taken from what the kernel knows
/// better than the MMU. The fault handler
/// kills a task by its regions, not by its tables: a page in memory mapped with no access is refused
/// though nothing may be in the tables yet (a translation fault), and an address in the kernel's half
/// is the kernel's, whatever the fault status says.
fn cause_of(frame: &ExceptionFrame, syndrome: Syndrome) -> Cause {
    match syndrome.cause() {
        Cause::UndefinedInstruction { .. } => Cause::UndefinedInstruction { word: instruction_at(frame.elr) },
        Cause::Access { access, refusal: Refusal::Unmapped | Refusal::NotPermitted } => {
            let refusal = if frame.far >= layout::KERNEL_SPACE_START {
                Refusal::KernelMemory
            } else if with_current_space(|space| Ok(space.in_a_region(frame.far))) == Ok(true) {
                Refusal::NotPermitted
            } else {
                Refusal::Unmapped
            };
            Cause::Access { access, refusal }
        }
        cause => cause,
    }
}

/// The instruction word at `pc` in the running task, if the task may read it.
fn instruction_at(pc: u64) -> Option<u32> {
    let word = with_current_space(|space| space.read_user(pc, 4)).ok()?;
    Some(u32::from_le_bytes(word.get(..4)?.try_into().ok()?))
}

/// Prints `task <pid> (<name>) killed: <what> (pc <pc>; <syndrome>)`. Everything it allocates is freed
/// before it returns: the caller goes on to `scheduler::exit`, which never returns, so anything still held
/// then would be lost to the heap.
fn report_kill(what: core::fmt::Arguments, frame: &ExceptionFrame, syndrome: Syndrome) {
    let pid = scheduler::current_pid();
    let name = scheduler::current_name();
    crate::println!("task {pid} ({name}) killed: {what} (pc {:#x}; {syndrome})", frame.elr);
}
