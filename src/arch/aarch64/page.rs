//! Copying and zeroing whole 4 KiB pages: the inner loops of every copy-on-write fault, first write and
//! eager fork.
//!
//! The generic `memcpy` and `memset` the compiler calls are built for any length and alignment on a
//! strict-alignment target, and move 8 bytes at a time. A page is 4 KiB-aligned and exactly 4 KiB long, so
//! it can be moved in 64-byte strides through the SIMD registers (`LDP`/`STP` of Q registers, as Linux's
//! `copy_page` does) and zeroed a cache block at a time with `DC ZVA` (as Linux's `clear_page` does):
//! about a sixth of the instructions for the copy and a thirtieth for the zeroing. Both need the MMU and
//! caches on (`DC ZVA` faults on Device memory), which holds for every frame the frame table hands out.

use core::arch::asm;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Bytes in a page.
const PAGE_BYTES: usize = 4096;

/// Bytes one `DC ZVA` zeroes, or 0 if it is not allowed (`DCZID_EL0.DZP`); `usize::MAX` until read.
static ZVA_BLOCK: AtomicUsize = AtomicUsize::new(usize::MAX);

fn zva_block_bytes() -> usize {
    let cached = ZVA_BLOCK.load(Ordering::Relaxed);
    if cached != usize::MAX {
        return cached;
    }
    let dczid: u64;
    // SAFETY: reading DCZID_EL0 has no side effect (aarch64-cpu has no accessor for it).
    unsafe { asm!("mrs {}, dczid_el0", out(reg) dczid, options(nomem, nostack, preserves_flags)) };
    // DZP (bit 4) forbids DC ZVA; BS (bits 3:0) is log2 of the block size in 4-byte words.
    let block = if dczid & (1 << 4) != 0 { 0 } else { 4usize << (dczid & 0xF) };
    ZVA_BLOCK.store(block, Ordering::Relaxed);
    block
}

/// Fills the page at `page` with zeros.
///
/// # Safety
///
/// `page` must be 4 KiB-aligned, point at 4 KiB of Normal cacheable memory the caller may write (a held
/// frame in the linear map), and nothing else may use those bytes meanwhile.
pub unsafe fn zero_page(page: *mut u8) {
    let block = zva_block_bytes();
    if block == 0 || block > PAGE_BYTES || !PAGE_BYTES.is_multiple_of(block) {
        // SAFETY: the caller's guarantees cover the whole page.
        unsafe { core::ptr::write_bytes(page, 0, PAGE_BYTES) };
        return;
    }
    for offset in (0..PAGE_BYTES).step_by(block) {
        // SAFETY: each block lies within the page the caller lets us write; DC ZVA writes exactly one
        // aligned block of zeros (the page is aligned to 4 KiB, so to the block size too).
        unsafe { asm!("dc zva, {}", in(reg) page.add(offset), options(nostack, preserves_flags)) };
    }
}

/// Copies the page at `source` to the page at `target`.
///
/// # Safety
///
/// Both must be 4 KiB-aligned pages of Normal memory, `source` readable and `target` writable by the
/// caller, not overlapping, and nothing may write `source` or use `target` meanwhile.
pub unsafe fn copy_page(target: *mut u8, source: *const u8) {
    // SAFETY: 64 strides of 64 bytes cover exactly the two pages the caller vouches for; the SIMD registers
    // used are declared clobbered (the kernel saves a task's SIMD state on every exception entry).
    unsafe {
        asm!(
            "2:",
            "ldp q0, q1, [{src}], #32",
            "ldp q2, q3, [{src}], #32",
            "stp q0, q1, [{dst}], #32",
            "stp q2, q3, [{dst}], #32",
            "subs {left}, {left}, #64",
            "b.ne 2b",
            src = inout(reg) source => _,
            dst = inout(reg) target => _,
            left = inout(reg) PAGE_BYTES => _,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _,
            options(nostack),
        );
    }
}
