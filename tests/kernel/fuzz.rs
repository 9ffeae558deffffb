//! The system-call fuzzer: `sysfuzz <seed> <calls>` makes seeded, reproducible random system calls with
//! hostile arguments and checks every result against the ABI and its model of its own memory (see
//! `user/programs/src/bin/sysfuzz.rs`). Here the kernel adds what only it can see: every frame comes back,
//! and (after every test) the memory audit passes. A failure names its seed and call number; rerun
//! `sysfuzz <seed> <calls> trace=<call>` from the shell to see every call from there on.
//!
//! The last two tests are short runs kept as the regression tests of two more bugs the fuzzer found; the
//! long runs meet the same calls, but a named test says at once which promise broke.

use cowpi_abi::ExitStatus;

use super::programs::{finish, start};
use crate::memory::frames;
use crate::{check_eq, kernel_test};

/// Runs `sysfuzz args` to its end: it must exit with 0 and give back every frame it took.
fn fuzz(args: &str) -> crate::ktest::TestResult {
    let free_before = frames::counters().free;
    let status = finish(start("sysfuzz", args)?)?;
    check_eq!((args, status), (args, Some(ExitStatus::Exited(0))));
    check_eq!(frames::counters().free, free_before);
    Ok(())
}

kernel_test! {
    /// 70 000 calls from seed 1: every call returns what the ABI says, no failed call changes memory,
    /// forked children see their parent's data and keep their own writes, nothing leaks.
    ///
    /// The regression test of the first bug the fuzzer found: the fork at call 65671 shared a page
    /// read-only by protection without marking it copy-on-write, the parent's `PROTECT` (call 65695) made
    /// it writable in place, and the parent's next write showed in the child (`cowpi_mm::decide_protect`).
    #[slow("about 20 s in QEMU on an idle host with the forked children on other cores, and QEMU's broadcast TLB invalidations stop every core")]
    fn syscalls_from_a_fixed_seed_never_hurt_the_kernel() -> TestResult {
        fuzz("1 70000")
    }
}

kernel_test! {
    /// Other seeds, fewer calls each: other call sequences, the same promises.
    #[slow("several seeds of 20 000 calls: like the fixed seed, at QEMU's pace with four cores")]
    fn syscalls_from_other_seeds_never_hurt_the_kernel() -> TestResult {
        for args in ["2 20000", "12648430 20000", "18446744073709551615 20000"] {
            fuzz(args)?;
        }
        Ok(())
    }
}

kernel_test! {
    /// `MAP` and `PROTECT` answer every protection as `Prot::check` says: write-only and execute-only are
    /// refused up front with `InvalidArgument` (they used to fail late, as `InvalidArgument` from `MAP` and
    /// `NotMapped` from `PROTECT`; seed 1 meets the first at call 266).
    fn map_and_protect_take_every_protection_the_abi_accepts() -> TestResult {
        fuzz("1 2000")
    }
}

kernel_test! {
    /// An eager-copy fork of a task with executable anonymous memory (MAP or PROTECT with READ|EXEC)
    /// shares the executable pages, as it shares program text (the kernel used to panic: "eager fork ...
    /// would make a page with bad flags: page both writable and executable").
    fn eager_fork_of_executable_anonymous_memory() -> TestResult {
        fuzz("12648430 2000")
    }
}
