//! The hand-over from the assembly entry point (`boot.s`) to Rust.
//!
//! `boot.s` leaves the boot core at EL1 with a stack, a zeroed BSS, FP/SIMD enabled and the exception
//! vectors installed; the MMU and caches are still off, so no code reached from here may use atomic
//! read-modify-write instructions (spin locks, `Once`) until `kernel_init` has turned them on.

core::arch::global_asm!(include_str!("boot.s"));
core::arch::global_asm!(include_str!("exception.s"));

/// The first Rust code to run.
///
/// # Safety
///
/// Called exactly once, by `boot.s`, on the boot core, in the state described in the module documentation.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".text._start_rust")]
pub unsafe extern "C" fn _start_rust(firmware_argument: u64) -> ! {
    crate::kernel_init(firmware_argument)
}
