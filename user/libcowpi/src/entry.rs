//! The program's entry point: from the kernel's `_start(args_ptr, args_len)` to `main(args: &str) -> i32`.
//!
//! The kernel starts a task at its ELF entry point with the argument string's address in `x0` and length in
//! `x1`, and `sp` 16-byte aligned: exactly a call of an `extern "C" fn(*const u8, usize)`, so `_start` can
//! be plain Rust with no assembly. The ELF loader has already zeroed `.bss` and copied `.data`, and a
//! static executable needs no relocation, so there is nothing to set up before `main`.

use crate::task;

/// Defines `_start` for a program whose main function is `$main: fn(&str) -> i32`; the task exits with
/// the value `main` returns.
///
/// ```ignore
/// cowpi_user::entry!(main);
///
/// fn main(args: &str) -> i32 { 0 }
/// ```
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        /// Where the kernel starts this program (see `cowpi_abi`'s entry contract).
        ///
        /// # Safety
        ///
        /// Only the kernel may call it, with the argument string as the entry contract describes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn _start(args_ptr: *const u8, args_len: usize) -> ! {
            // SAFETY: passed on from the caller, the kernel.
            unsafe { $crate::entry::start($main, args_ptr, args_len) }
        }
    };
}

/// The body of every `_start`: turns the arguments into a `&str`, runs `main` and exits.
///
/// # Safety
///
/// `args_ptr` must point to `args_len` bytes that stay unchanged for the rest of the task: the argument
/// string the kernel placed above the initial stack.
#[doc(hidden)]
pub unsafe fn start(main: fn(&str) -> i32, args_ptr: *const u8, args_len: usize) -> ! {
    let args = if args_len == 0 {
        ""
    } else {
        // SAFETY: the caller's promise: the kernel copied `args_len` bytes to `args_ptr` at the top of the
        // stack, above the initial `sp`, where no stack frame reaches and nothing else writes.
        let bytes = unsafe { core::slice::from_raw_parts(args_ptr, args_len) };
        core::str::from_utf8(bytes).expect("the argument string is not UTF-8")
    };
    task::exit(main(args))
}
