//! The layout of a user address space: where the image, anonymous memory and the stack go.
//!
//! User space is the lower half of a 39-bit address space, translated through `TTBR0_EL1`; the kernel owns
//! the upper half. Each kind of memory has its own area with unmapped gaps between them, so a pointer that
//! runs off the end of one area faults instead of landing in another.
//!
//! ```text
//! 0x80_0000_0000  USER_VA_LIMIT      everything from here up is the kernel's: EL0 always faults
//!                                    one page never mapped, above the stack
//! 0x7F_FFFF_F000  STACK_TOP          the argument string, then the stack growing down (256 KiB)
//! 0x7F_FFFB_F000  STACK_AREA.start
//!                                    never mapped: a stack overflow faults here
//! 0x70_0000_0000  MAP_AREA.end
//!                                    MAP places anonymous memory here (384 GiB)
//! 0x10_0000_0000  MAP_AREA.start
//!                                    never mapped
//! 0x00_4000_0000  IMAGE_AREA.end
//!                                    the ELF's segments; programs are linked at IMAGE_BASE, 0x40_0000
//! 0x00_0000_1000  USER_START         (IMAGE_AREA.start)
//!                                    page 0, never mapped: a null pointer faults
//! ```
//!
//! All constants are `u64`: they describe the user program's address space, whatever the width of the
//! machine that reads them.

use core::ops::Range;

use crate::request::MAX_ARGS_LEN;

/// The page size and granule of every mapping: 4 KiB.
pub const PAGE_SIZE: u64 = 4096;

/// The first address past user space: 2^39, the size of the `TTBR0_EL1` half.
pub const USER_VA_LIMIT: u64 = 1 << 39;

/// The lowest address a task can ever have mapped. Page 0 stays unmapped so that null pointers fault.
pub const USER_START: u64 = PAGE_SIZE;

/// Where cowpi's programs are linked (`user/link.ld`): 4 MiB, the usual spot for static executables.
pub const IMAGE_BASE: u64 = 0x40_0000;

/// Where the loadable segments of an ELF image must lie, pages included.
pub const IMAGE_AREA: Range<u64> = USER_START..0x4000_0000;

/// Where `MAP` places anonymous memory: its hint is honoured only inside this area.
pub const MAP_AREA: Range<u64> = 0x10_0000_0000..0x70_0000_0000;

/// The address just above a new task's stack. The page from here to [`USER_VA_LIMIT`] is never mapped.
pub const STACK_TOP: u64 = USER_VA_LIMIT - PAGE_SIZE;

/// The size of a task's stack: 256 KiB, ample for the formatting machinery and modest recursion.
pub const STACK_SIZE: u64 = 256 * 1024;

/// A task's stack. Below it, down to [`MAP_AREA`], nothing is mapped: an overflow faults.
pub const STACK_AREA: Range<u64> = STACK_TOP - STACK_SIZE..STACK_TOP;

/// The first address of the kernel's half (`TTBR1_EL1`, 39 bits). Any access from EL0 up here faults.
pub const KERNEL_SPACE_START: u64 = 0xFFFF_FF80_0000_0000;

/// The alignment the AArch64 procedure-call standard requires of `sp` at a function's entry.
pub const STACK_ALIGN: u64 = 16;

// The picture above, checked by the compiler.
const _: () = {
    assert!(IMAGE_AREA.start <= IMAGE_BASE && IMAGE_BASE < IMAGE_AREA.end);
    assert!(IMAGE_AREA.end < MAP_AREA.start && MAP_AREA.end < STACK_AREA.start);
    assert!(STACK_AREA.end < USER_VA_LIMIT);
    assert!(is_page_aligned(IMAGE_AREA.start) && is_page_aligned(IMAGE_AREA.end));
    assert!(is_page_aligned(MAP_AREA.start) && is_page_aligned(MAP_AREA.end));
    assert!(is_page_aligned(STACK_AREA.start) && is_page_aligned(STACK_AREA.end));
    assert!(MAX_ARGS_LEN as u64 + STACK_ALIGN < STACK_SIZE / 2);
};

pub const fn is_page_aligned(addr: u64) -> bool {
    addr.is_multiple_of(PAGE_SIZE)
}

/// The start of the page holding `addr`.
pub const fn page_align_down(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

/// The start of the first page at or above `addr`, or `None` past the top of the 64-bit space.
pub const fn page_align_up(addr: u64) -> Option<u64> {
    match addr.checked_add(PAGE_SIZE - 1) {
        Some(bumped) => Some(page_align_down(bumped)),
        None => None,
    }
}

/// Whether the `len` bytes from `start` lie in user space (an empty range always does: nothing in it is
/// touched).
pub const fn is_user_range(start: u64, len: u64) -> bool {
    if len == 0 {
        return true;
    }
    match start.checked_add(len) {
        Some(end) => end <= USER_VA_LIMIT,
        None => false,
    }
}

/// Where a new task's argument string and stack pointer go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitialStack {
    /// Where the kernel copies the argument string: it ends exactly at [`STACK_TOP`]. Passed in `x0`.
    pub args: u64,
    /// The task's first `sp`: the highest [`STACK_ALIGN`]-aligned address at or below `args`.
    pub sp: u64,
}

/// The initial stack of a task whose argument string is `args_len` bytes long, or `None` if that exceeds
/// [`MAX_ARGS_LEN`] (which `SPAWN` refuses).
pub const fn initial_stack(args_len: u64) -> Option<InitialStack> {
    if args_len > MAX_ARGS_LEN as u64 {
        return None;
    }
    let args = STACK_TOP - args_len;
    Some(InitialStack { args, sp: args & !(STACK_ALIGN - 1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_numbers() {
        assert_eq!(USER_VA_LIMIT, 0x80_0000_0000);
        assert_eq!(STACK_TOP, 0x7F_FFFF_F000);
        assert_eq!(STACK_AREA.start, 0x7F_FFFB_F000);
        assert_eq!(IMAGE_BASE, 4 << 20);
        // The kernel half begins where a 39-bit TTBR1 range does: the top 25 bits all set.
        assert_eq!(KERNEL_SPACE_START, !(USER_VA_LIMIT - 1));
    }

    #[test]
    fn page_rounding() {
        assert_eq!(page_align_down(0x1fff), 0x1000);
        assert_eq!(page_align_down(0x2000), 0x2000);
        assert_eq!(page_align_up(0x1001), Some(0x2000));
        assert_eq!(page_align_up(0x1000), Some(0x1000));
        assert_eq!(page_align_up(0), Some(0));
        assert_eq!(page_align_up(u64::MAX - 4095), Some(u64::MAX - 4095));
        assert_eq!(page_align_up(u64::MAX - 4094), None);
    }

    #[test]
    fn user_ranges_end_at_the_limit() {
        assert!(is_user_range(0, 1));
        assert!(is_user_range(USER_VA_LIMIT - 8, 8));
        assert!(!is_user_range(USER_VA_LIMIT - 8, 9));
        assert!(!is_user_range(USER_VA_LIMIT, 1));
        assert!(!is_user_range(KERNEL_SPACE_START, 8));
        assert!(!is_user_range(0x1000, u64::MAX));
        assert!(is_user_range(KERNEL_SPACE_START, 0), "an empty range touches nothing");
    }

    #[test]
    fn the_initial_stack_is_aligned_below_the_arguments() {
        let empty = initial_stack(0).unwrap();
        assert_eq!(empty, InitialStack { args: STACK_TOP, sp: STACK_TOP });
        let five = initial_stack(5).unwrap();
        assert_eq!(five.args, STACK_TOP - 5);
        assert_eq!(five.sp, STACK_TOP - 16);
        for len in 0..=MAX_ARGS_LEN as u64 {
            let stack = initial_stack(len).unwrap();
            assert_eq!(stack.args + len, STACK_TOP);
            assert_eq!(stack.sp % STACK_ALIGN, 0);
            assert!(stack.sp <= stack.args && stack.args - stack.sp < STACK_ALIGN);
            assert!(STACK_AREA.start < stack.sp && stack.sp <= STACK_AREA.end, "sp is the top of a stack");
        }
        assert_eq!(initial_stack(MAX_ARGS_LEN as u64 + 1), None);
    }
}
