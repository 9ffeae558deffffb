//! User tasks: loading a program into a fresh address space, and the first return to EL0.
//!
//! A user task is a task like any other, with an address space (installed in `TTBR0_EL1` whenever it runs)
//! and a first kernel function that drops to EL0 at the program's entry point. From then on it re-enters
//! the kernel only through exceptions: system calls, faults and interrupts.

use alloc::boxed::Box;

use cowpi_abi::{Error, ExitStatus, Signal, layout};

use super::scheduler;
use super::{Pid, Task};
use crate::arch::esr::Syndrome;
use crate::arch::exception::ExceptionFrame;
use crate::memory::address_space::AddressSpace;
use crate::programs::Program;

/// The most tasks that may exist at once (a fork bomb meets this limit, not a hang).
pub const MAX_TASKS: usize = 64;

/// Where a new user task starts at EL0.
struct UserStart {
    pc: u64,
    sp: u64,
    args: u64,
    args_len: u64,
}

/// Starts `program` as a child of the running task with the argument string `args`.
pub fn spawn(program: &Program, args: &[u8]) -> Result<Pid, Error> {
    if scheduler::task_count() >= MAX_TASKS {
        return Err(Error::TooManyTasks);
    }
    let plan = cowpi_loader::plan(program.elf).map_err(|error| {
        log::warn!("{}: not a program cowpi can run: {error}", program.name);
        Error::BadExecutable
    })?;
    let stack = layout::initial_stack(args.len() as u64).ok_or(Error::InvalidArgument)?;
    let mut space = AddressSpace::new()?;
    for segment in plan.segments() {
        space.load_segment(segment, program.elf)?;
    }
    space.map_stack()?;
    space.write(stack.args, args)?;
    let start =
        Box::new(UserStart { pc: plan.entry(), sp: stack.sp, args: stack.args, args_len: args.len() as u64 });
    let argument = Box::into_raw(start) as usize;
    Ok(scheduler::spawn(|pid, parent| {
        let mut task = Task::new_kernel(
            pid,
            alloc::string::String::from(program.name),
            parent,
            user_task_main,
            argument,
        );
        task.address_space = Some(space);
        task
    }))
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
    frame.elr = start.pc;
    // SPSR_EL1: EL0t (M = 0), AArch64, every interrupt unmasked.
    frame.spsr = 0;
    frame.sp_el0 = start.sp;
    frame.x[0] = start.args;
    frame.x[1] = start.args_len;
    drop(start);
    // SAFETY: the frame is fully initialised and lies on this task's kernel stack, which the restore code
    // pops before ERET; what lies above it on the stack is never returned to.
    unsafe { crate::arch::exception::return_to_user(&frame) }
}

/// Ends the running user task for an exception it cannot recover from, with a one-line report: task,
/// program, what it did, where.
pub fn kill_for_fault(frame: &ExceptionFrame, syndrome: Syndrome) -> ! {
    let signal = match syndrome.class() {
        0x20 | 0x21 | 0x24 | 0x25 => Signal::SegmentationFault,
        0x22 | 0x26 => Signal::BusError,
        0x3C => Signal::Breakpoint,
        _ => Signal::IllegalInstruction,
    };
    let pid = scheduler::current_pid();
    let name = scheduler::current_name();
    let address = if syndrome.is_abort() { frame.far } else { frame.elr };
    crate::println!(
        "task {pid} ({name}) killed: {}: {syndrome} at {address:#x} (pc {:#x})",
        signal.description(),
        frame.elr
    );
    scheduler::exit(ExitStatus::Killed(signal).to_raw())
}
