//! Entering the kernel: `svc #0` with the call number in `x8`, arguments in `x0`-`x5`, result in `x0`.
//!
//! [`raw`] is the only place a program traps into the kernel. Everything else in this library is a safe
//! wrapper that passes pointers to its own, valid memory.

use core::arch::asm;

use cowpi_abi::{Error, Syscall, result};

/// Makes system call `number` with `args` and returns `x0` as the kernel left it.
///
/// The kernel preserves every register but `x0` (the ABI promises it), so only `x0` is an output. The
/// asm is not marked `nomem`: the kernel may read or write memory through pointer arguments.
///
/// # Safety
///
/// The kernel acts on the arguments as the ABI describes: it reads buffers named by pointers, writes
/// through `WAIT`'s and `MEMSTATS`'s pointers, and `UNMAP` and `PROTECT` take memory away or make it
/// read-only. The caller must make sure no Rust reference is invalidated by that. Pointers the kernel will
/// refuse (it checks every one) are harmless.
#[inline(always)]
pub unsafe fn raw(number: u64, args: [u64; 6]) -> u64 {
    let result;
    // SAFETY: `svc #0` traps to the kernel, which returns to the next instruction with every register but
    // x0 intact; the stack is not touched. What the call does to memory is the caller's contract above.
    unsafe {
        asm!(
            "svc #0",
            inlateout("x0") args[0] => result,
            in("x1") args[1],
            in("x2") args[2],
            in("x3") args[3],
            in("x4") args[4],
            in("x5") args[5],
            in("x8") number,
            options(nostack),
        );
    }
    result
}

/// Makes `call` with `args` and decodes the result.
///
/// # Safety
///
/// As for [`raw`].
///
/// # Panics
///
/// If the kernel returns a negative value that names no [`Error`]: the kernel and this library disagree
/// about the ABI, and going on would only hide it.
pub unsafe fn call(call: Syscall, args: [u64; 6]) -> Result<u64, Error> {
    // SAFETY: passed on to the caller.
    let returned = unsafe { raw(call.number(), args) };
    match result::decode(returned) {
        Some(outcome) => outcome,
        None => panic!("{call} returned {returned:#x}, which is neither a value nor an error"),
    }
}
