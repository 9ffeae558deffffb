//! The calling task and its children: exit, pid, yielding, sleeping, spawning, forking, replacing the
//! program, and waiting.

use core::arch::asm;

use cowpi_abi::request::ANY_CHILD;
use cowpi_abi::{Error, ExitStatus, ForkMode, Syscall};

use crate::syscall;

/// Ends the task with `code`; the parent's `WAIT` sees `code & 0xff` (so -1 reads back as 255).
pub fn exit(code: i32) -> ! {
    // Sign-extended on purpose: the kernel keeps the low 8 bits, as POSIX does.
    let args = [code as i64 as u64, 0, 0, 0, 0, 0];
    // SAFETY: EXIT takes no pointer.
    unsafe { syscall::raw(Syscall::Exit.number(), args) };
    // EXIT never returns. Should a broken kernel come back anyway, stop loudly rather than run on: the
    // kernel kills a task that executes `udf` for an illegal instruction.
    // SAFETY: `udf` only raises an exception.
    unsafe { asm!("udf #0", options(noreturn, nomem, nostack)) }
}

/// The task's process id, at least 1.
pub fn getpid() -> u64 {
    // SAFETY: GETPID takes no pointer.
    unsafe { syscall::call(Syscall::GetPid, [0; 6]) }.expect("GETPID cannot fail")
}

/// Lets other tasks run before this one goes on.
pub fn yield_now() {
    // SAFETY: YIELD takes no pointer.
    unsafe { syscall::call(Syscall::Yield, [0; 6]) }.expect("YIELD cannot fail");
}

/// Sleeps for at least `milliseconds`.
pub fn sleep(milliseconds: u64) {
    // SAFETY: SLEEP takes no pointer.
    unsafe { syscall::call(Syscall::Sleep, [milliseconds, 0, 0, 0, 0, 0]) }.expect("SLEEP cannot fail");
}

/// Starts the embedded program `name` as a child with argument string `args`; returns its pid.
pub fn spawn(name: &str, args: &str) -> Result<u64, Error> {
    let (name_ptr, name_len) = (name.as_ptr() as u64, name.len() as u64);
    let (args_ptr, args_len) = (args.as_ptr() as u64, args.len() as u64);
    // SAFETY: SPAWN only reads the two strings, live slices of ours.
    unsafe { syscall::call(Syscall::Spawn, [name_ptr, name_len, args_ptr, args_len, 0, 0]) }
}

/// Which side of a [`fork`] this task is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fork {
    /// The new task: a copy-on-write duplicate of the caller, returning from the same call.
    Child,
    /// The original task; the new one has this pid.
    Parent { child: u64 },
}

/// Duplicates this task: afterwards two tasks return from this call, the parent with
/// [`Fork::Parent`] and the child with [`Fork::Child`]. No memory is copied at the fork: both map the same
/// frames, copy-on-write, until one of them writes. A child should end with [`exit`] rather than return
/// from `main` through code meant for the parent.
pub fn fork() -> Result<Fork, Error> {
    fork_with(ForkMode::CopyOnWrite)
}

/// [`fork`] in the given mode: [`ForkMode::EagerCopy`] copies every page the child could write at the
/// fork, the way Unix forked before copy-on-write. Only the benchmarks want that, as the baseline that
/// shows what copy-on-write saves.
pub fn fork_with(mode: ForkMode) -> Result<Fork, Error> {
    // SAFETY: FORK takes no pointer and leaves this task's memory as it was. The child gets a copy of every
    // page (shared until written, or copied at once), so the references live in this task are valid in the
    // child too: it has one thread, no locks another thread could hold, and nothing outside its memory
    // that a copy would duplicate (the console is the kernel's).
    let pid = unsafe { syscall::call(Syscall::Fork, [mode.flags(), 0, 0, 0, 0, 0])? };
    Ok(if pid == 0 { Fork::Child } else { Fork::Parent { child: pid } })
}

/// Replaces this task's program with the embedded program `name`, started with argument string `args`;
/// the pid, the parent and the children stay. Returns only if that failed (an unknown name is
/// [`Error::NoSuchProgram`]), and then this task goes on exactly as it was.
pub fn exec(name: &str, args: &str) -> Error {
    let (name_ptr, name_len) = (name.as_ptr() as u64, name.len() as u64);
    let (args_ptr, args_len) = (args.as_ptr() as u64, args.len() as u64);
    // SAFETY: EXEC only reads the two strings, live slices of ours. If it succeeds, nothing of this
    // program is left to hold a reference; if it fails, nothing has changed.
    match unsafe { syscall::call(Syscall::Exec, [name_ptr, name_len, args_ptr, args_len, 0, 0]) } {
        Err(error) => error,
        Ok(value) => panic!("EXEC returned {value:#x}: it must not return on success"),
    }
}

/// Waits for child `pid` to end (any child if `None`) and returns its pid and how it ended.
pub fn wait(pid: Option<u64>) -> Result<(u64, ExitStatus), Error> {
    let target = pid.unwrap_or(ANY_CHILD as u64);
    let mut status: i64 = 0;
    let status_ptr = &raw mut status as u64;
    // SAFETY: WAIT writes 8 bytes to `status`, a local of ours that nothing else refers to.
    let child = unsafe { syscall::call(Syscall::Wait, [target, status_ptr, 0, 0, 0, 0])? };
    match ExitStatus::from_raw(status) {
        Some(status) => Ok((child, status)),
        None => panic!("WAIT stored {status}, which is no exit status"),
    }
}
