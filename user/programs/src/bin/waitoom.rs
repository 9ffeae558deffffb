//! `waitoom`: `WAIT` when the page for the child's status needs a frame and none is free. A kernel test
//! runs it and takes every free frame while it waits (see `tests/kernel/exhaustion.rs`).
//!
//! The status buffer is a page written before the forks, so it is shared copy-on-write with a child that
//! keeps it shared (the *holder*): the kernel must copy it before it can store a status there. This task
//! forks the *ended* child (it exits with [`ENDED_CODE`] at once) and the holder, touches its own stack so
//! that it needs no frame itself, and waits until `MEMSTATS` shows no free frame. Then `WAIT` for the ended
//! child must fail with `OutOfMemory` and reap no one; once frames are free again, `WAIT` must return the
//! ended child with its status. (A kernel that reaped first and only then found no frame for the status
//! lost it: the second `WAIT` answered `NoChild`.)
//!
//! Exit status: 0 if both held, 1 otherwise.
#![no_std]
#![no_main]

use cowpi_programs::region::Region;
use cowpi_programs::{stack, stats};
use cowpi_user::abi::Syscall;
use cowpi_user::task::{self, Fork};
use cowpi_user::{Error, ExitStatus, entry, println, syscall};

entry!(main);

/// The ended child's exit code.
const ENDED_CODE: u8 = 42;
/// How often the tasks look at the free frames.
const POLL_MS: u64 = 1;

fn main(_args: &str) -> i32 {
    let Ok(status_page) = Region::map(1) else {
        println!("waitoom: FAILED: MAP a page");
        return 1;
    };
    status_page.write(0, 0, 0);
    let ended = match task::fork() {
        Ok(Fork::Child) => task::exit(i32::from(ENDED_CODE)),
        Ok(Fork::Parent { child }) => child,
        Err(error) => {
            println!("waitoom: FAILED: FORK: {error}");
            return 1;
        }
    };
    match task::fork() {
        Ok(Fork::Child) => {
            // The holder: keeps the status page shared until the shortage is over.
            stack::prefault();
            wait_for_frames(|free| free == 0);
            wait_for_frames(|free| free > 0);
            task::exit(0)
        }
        Ok(Fork::Parent { .. }) => {}
        Err(error) => {
            println!("waitoom: FAILED: FORK: {error}");
            return 1;
        }
    }
    stack::prefault();
    let (during, after) = through_the_shortage(ended, &status_page);
    let mut failed = false;
    if during != Err(Error::OutOfMemory) {
        println!("waitoom: FAILED: WAIT with no frame for the status page gave {during:?}, not OutOfMemory");
        failed = true;
    }
    if after != Ok((ended, ExitStatus::Exited(ENDED_CODE))) {
        println!("waitoom: FAILED: WAIT once frames were free again gave {after:?}: the status was lost");
        failed = true;
    }
    // The holder.
    let holder = task::wait(None);
    if !matches!(holder, Ok((_, ExitStatus::Exited(0)))) {
        println!("waitoom: FAILED: the holder ended {holder:?}");
        failed = true;
    }
    if !failed {
        println!("waitoom: WAIT failed with OutOfMemory and reaped no one; the status came later");
    }
    i32::from(failed)
}

/// Waits for the shortage, calls `WAIT` for `ended` during it and again after it; returns both results.
/// A function of its own, called after `stack::prefault`, so that everything it writes lies in the stack
/// pages touched already: the caller's frame may still share its page with the holder.
#[inline(never)]
fn through_the_shortage(
    ended: u64,
    status_page: &Region,
) -> (Result<u64, Error>, Result<(u64, ExitStatus), Error>) {
    wait_for_frames(|free| free == 0);
    let during = wait_raw(ended, status_page.address());
    wait_for_frames(|free| free > 0);
    (during, task::wait(Some(ended)))
}

/// `WAIT(child, status_ptr)` with the status going to `status` (the first word of a page).
fn wait_raw(child: u64, status: *mut u8) -> Result<u64, Error> {
    // SAFETY: WAIT writes 8 bytes at `status`, the start of a mapped page of ours that no Rust reference
    // points into (the region is only touched with volatile accesses).
    unsafe { syscall::call(Syscall::Wait, [child, status as u64, 0, 0, 0, 0]) }
}

/// Sleeps until `MEMSTATS`'s free frames satisfy `condition`.
fn wait_for_frames(condition: impl Fn(u64) -> bool) {
    while !condition(stats::now().frames_free) {
        task::sleep(POLL_MS);
    }
}
