//! The user library of cowpi: what a program running at EL0 needs to talk to the kernel.
//!
//! A cowpi program is a `no_std`, `no_main` Rust binary. This library gives it:
//!
//! - [`syscall`]: the one instruction that enters the kernel (`svc #0`), and the typed call around it;
//! - [`console`]: [`print!`] and [`println!`] on the console (file descriptor 1);
//! - [`task`]: [`exit`](task::exit), pid, yielding, sleeping, spawning, [`fork`](task::fork),
//!   [`exec`](task::exec) and waiting for children;
//! - [`time`]: the system counter, read without a system call, for programs that time themselves;
//! - [`memory`]: anonymous memory (`MAP`, `UNMAP`, `PROTECT`), opting it into page merging (`MERGEABLE`)
//!   and the kernel's memory counters;
//! - [`entry!`]: the `_start` the kernel jumps to, which calls the program's `main(args: &str) -> i32` and
//!   exits with what it returns;
//! - a panic handler that prints the message and exits with [`PANIC_EXIT_CODE`](abi::status::PANIC_EXIT_CODE)
//!   (101), and a global allocator on top of `MAP`, so `alloc`'s `Vec`, `Box` and `String` work.
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//!
//! cowpi_user::entry!(main);
//!
//! fn main(args: &str) -> i32 {
//!     cowpi_user::println!("hello, {args}");
//!     0
//! }
//! ```
//!
//! The ABI itself (numbers, errors, layout) is [`cowpi_abi`], re-exported as [`abi`].
#![no_std]

extern crate alloc;

pub mod console;
pub mod entry;
mod heap;
pub mod memory;
mod panic;
pub mod syscall;
pub mod task;
pub mod time;

pub use cowpi_abi as abi;
pub use cowpi_abi::{Error, ExitStatus, MemStats, Prot};
