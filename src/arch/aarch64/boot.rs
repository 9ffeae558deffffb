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

/// The first Rust code a secondary core runs, from `boot.s`'s `secondary_start`, in the upper half with
/// the MMU and caches on, IRQs masked and the stack `arch::smp::release` gave it.
///
/// # Safety
///
/// Called once per secondary core, by `boot.s`, after the boot core released it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _secondary_start_rust(core: u64) -> ! {
    crate::smp::secondary_main(core as usize)
}
