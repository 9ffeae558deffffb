//! Data-cache maintenance by virtual address.
//!
//! Needed wherever something other than the CPU reads or writes memory the CPU caches: the VideoCore reads
//! the mailbox property buffer straight from RAM and writes its answer there.

use core::arch::asm;

use aarch64_cpu::asm::barrier;

/// Smallest data-cache line size of the caches the core has, from `CTR_EL0.DminLine`.
fn data_cache_line_bytes() -> usize {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects and is allowed at EL1.
    unsafe { asm!("mrs {}, CTR_EL0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    4 << ((ctr >> 16) & 0xF)
}

/// Cleans and invalidates `[start, start + len)` to the point of coherency (`DC CIVAC`), then waits for it
/// to finish: dirty lines reach RAM and later reads go to RAM.
pub fn clean_and_invalidate(start: usize, len: usize) {
    let line = data_cache_line_bytes();
    let mut address = start & !(line - 1);
    while address < start + len {
        // SAFETY: DC CIVAC on a mapped address only affects the cache, not the memory's contents.
        unsafe { asm!("dc civac, {}", in(reg) address, options(nostack, preserves_flags)) };
        address += line;
    }
    barrier::dsb(barrier::SY);
}
