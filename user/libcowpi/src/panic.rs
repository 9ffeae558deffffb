//! What a panic does in a cowpi program: print where and why, then exit with status 101.
//!
//! There is no unwinding (`panic = "abort"`): the task simply ends, and its parent's `WAIT` sees
//! [`PANIC_EXIT_CODE`], the code Rust's `std` uses too, so a panic is told apart from an ordinary failure.

use core::panic::PanicInfo;

use cowpi_abi::Syscall;
use cowpi_abi::status::PANIC_EXIT_CODE;

use crate::{println, syscall, task};

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    // The raw call rather than `task::getpid`, which panics on failure: a panic in here would recurse.
    // SAFETY: GETPID takes no pointer.
    let pid = unsafe { syscall::raw(Syscall::GetPid.number(), [0; 6]) };
    // Prints e.g. "pid 3 panicked at src/bin/memory.rs:40:5:\nthe message".
    println!("pid {pid} {info}");
    task::exit(i32::from(PANIC_EXIT_CODE))
}
