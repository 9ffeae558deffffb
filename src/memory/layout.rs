//! Where the kernel image and its boot stack lie, from the symbols `linker.ld` defines. The kernel runs in
//! the upper half, so the symbols are kernel-virtual addresses.

use core::ops::Range;

use cowpi_mm::PhysAddr;

use crate::arch::mmu::virt_to_phys;

unsafe extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
    static __boot_stack_bottom: u8;
    static __boot_stack_top: u8;
}

fn symbol_address(symbol: *const u8) -> u64 {
    symbol as u64
}

/// The kernel image in physical memory, page-aligned: text, rodata, data and BSS.
pub fn kernel_image() -> Range<PhysAddr> {
    PhysAddr::new(virt_to_phys(symbol_address(&raw const __kernel_start)))
        ..PhysAddr::new(virt_to_phys(symbol_address(&raw const __kernel_end)))
}

/// The boot core's stack (it grows down from the kernel's load address), kernel-virtual.
pub fn boot_stack() -> Range<u64> {
    symbol_address(&raw const __boot_stack_bottom)..symbol_address(&raw const __boot_stack_top)
}

/// Whether a frame record at `address` can be read while walking the stack.
pub fn is_boot_stack(address: u64) -> bool {
    let stack = boot_stack();
    address >= stack.start && address + 16 <= stack.end
}
