//! The system-call ABI of cowpi: everything a user program and the kernel must agree on, in one place.
//!
//! The kernel and the user library (`user/libcowpi`) both depend on this crate, so a system-call number, an
//! error number or a layout constant cannot mean one thing on one side and another on the other. It is
//! `no_std` with no dependencies and holds no hardware code, so the rules are tested on the host.
//!
//! # Making a system call
//!
//! A task executes `svc #0` with the call's number in `x8` and its arguments in `x0`-`x5` (unused argument
//! registers are ignored). The kernel returns to the next instruction with the result in `x0`; **every other
//! register is preserved**. Read as an `i64`, a result `>= 0` is success (a count, an address, a pid) and a
//! negative result is `-(error number)`, see [`Error`] and [`result`].
//!
//! | nr | call | arguments (`x0`..) | result | see |
//! |---:|---|---|---|---|
//! | 1 | `WRITE` | `fd, ptr, len` | bytes written (all of them) | fd 1 is the console |
//! | 2 | `EXIT` | `code` | never returns | status = `code & 0xff` |
//! | 3 | `GETPID` | | the caller's pid (>= 1) | |
//! | 4 | `YIELD` | | 0 | lets other tasks run |
//! | 5 | `SLEEP` | `milliseconds` | 0 | at least that long |
//! | 6 | `SPAWN` | `name_ptr, name_len, args_ptr, args_len` | the child's pid | runs an embedded program |
//! | 7 | `WAIT` | `pid` or `-1` (any child), `status_ptr` or 0 | the reaped child's pid | writes an `i64` status |
//! | 8 | `MAP` | `hint` or 0, `len`, `prot` | the address | zero-filled anonymous memory |
//! | 9 | `UNMAP` | `addr, len` | 0 | |
//! | 10 | `PROTECT` | `addr, len, prot` | 0 | no access (0) keeps the pages and their contents |
//! | 11 | `MEMSTATS` | `ptr, size` | bytes written | fills a [`MemStats`] |
//! | 12 | `FORK` | | the child's pid; 0 in the child | copy-on-write: no page copied |
//! | 13 | `EXEC` | `name_ptr, name_len, args_ptr, args_len` | never returns on success | replaces the program |
//! | 14 | `MERGEABLE` | `addr, len` | 0 | anonymous pages may be merged (KSM) |
//!
//! Number 0 is deliberately no call: a task that forgets to set `x8` gets [`Error::NoSuchSyscall`].
//! [`request::Request::decode`] checks every argument that can be checked without looking at a task (the
//! rules of each call are documented on its [`request::Request`] variant), so the kernel starts from typed,
//! range-checked values; what needs the task's state (is this page mapped? is that pid my child?) is the
//! kernel's part.
//!
//! # Errors
//!
//! [`Error`] has stable numbers 1 to 11: `InvalidArgument`, `BadAddress` (a pointer argument is not user
//! memory the call may use), `NoSuchSyscall`, `OutOfMemory`, `NoSuchProgram`, `NoChild`, `TooManyTasks`,
//! `BadExecutable`, `PermissionDenied` (W^X), `BadFileDescriptor`, `NotMapped`.
//!
//! # Starting a program
//!
//! The kernel enters a program at its ELF entry point `_start(args_ptr: *const u8, args_len: usize)` at
//! EL0: `x0`/`x1` hold the argument string that `SPAWN` passed (UTF-8 if the parent's library sent it, not
//! NUL-terminated, copied to the top of the stack), `sp` is 16-byte aligned just below that copy (see
//! [`layout::initial_stack`]), and every other general-purpose register is zero. `_start` must never
//! return; it ends with `EXIT`. `EXEC` starts its program the same way, in the calling task.
//!
//! # Fork
//!
//! `FORK` duplicates the calling task without copying its memory: both tasks map the same frames, and
//! every private writable page becomes copy-on-write, read-only in both until one writes it and gets a copy
//! of its own (or, if it is the frame's last holder by then, simply gets it back writable). The child
//! returns from the same `svc` with `x0` = 0, every other register equal to the parent's. [`MemStats`]
//! counts the faults, copies and reuses, so a program can watch it happen.
//!
//! # Page merging
//!
//! `MERGEABLE` opts a range of the caller's anonymous memory into page merging, like Linux's
//! `madvise(MADV_MERGEABLE)`: when merging is on, a kernel task scans such pages in the background, maps
//! identical ones (of any tasks) to a single read-only copy-on-write frame and pages of zeros to the shared
//! zero page. A write to a merged page takes a copy of its own through the ordinary copy-on-write fault,
//! so a program sees its data unchanged; only [`MemStats`]' `ksm_*` counters and the free frames show it.
//!
//! # Exit status
//!
//! `WAIT` reports a child's [`ExitStatus`] as an `i64`: `0..=255` for a task that called `EXIT`, and
//! `-(signal number)` for a task the kernel killed (see [`Signal`]), so the two never collide. The user
//! library exits with [`status::PANIC_EXIT_CODE`] (101, as Rust's `std` does) when a program panics.
//!
//! # The user address space
//!
//! 39-bit virtual addresses, like the kernel's half ([`layout`] has the numbers and the picture): page 0 is
//! never mapped; ELF images live in the image area (programs are linked at [`layout::IMAGE_BASE`], 4 MiB);
//! `MAP` places memory in the map area; the 256 KiB stack ends one page below the top of user space. Every
//! address at or above [`layout::USER_VA_LIMIT`] belongs to the kernel and faults at EL0.
#![no_std]

pub mod error;
pub mod layout;
pub mod memstats;
pub mod prot;
pub mod request;
pub mod result;
pub mod status;
pub mod syscall;

pub use error::Error;
pub use memstats::MemStats;
pub use prot::Prot;
pub use request::{ForkMode, PageRange, Request, UserBuffer, WaitTarget};
pub use status::{ExitStatus, Signal};
pub use syscall::Syscall;
