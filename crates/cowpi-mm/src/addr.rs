//! Typed addresses and page numbers: physical ([`PhysAddr`], [`Frame`]) and virtual ([`VirtAddr`], [`Page`]).
//!
//! A memory manager juggles byte addresses, frame numbers, page numbers, indices and sizes, all of them
//! integers; mixing them up is the classic bug (an address used as a frame number points 4096 times too
//! far, a virtual address handed to the frame table frees someone else's memory). These types make the
//! compiler tell them apart, and do the rounding in one tested place.
//!
//! Virtual addresses follow cowpi's translation regime (see [`crate::translation`]): 39 bits each way, so
//! user space (`TTBR0_EL1`) is `0 .. 2^39` and the kernel (`TTBR1_EL1`) is `0xFFFF_FF80_0000_0000 ..
//! 2^64`; anything in between faults in hardware. Like [`PhysAddr`], a [`VirtAddr`] holds any `u64` (a
//! system call's pointer argument is whatever the task passed); whether it lies in either half is asked
//! with [`VirtAddr::is_user`] and [`VirtAddr::is_kernel`].
//!
//! All of them print in hexadecimal, the way addresses appear in datasheets, memory maps and debuggers.

use core::fmt;
use core::ops::{Add, Range};

use crate::translation::Level;

/// log2 of [`PAGE_SIZE`]: a physical address shifted right by this is its frame number.
pub const PAGE_SHIFT: u32 = 12;

/// The size of a page and of a physical frame: 4 KiB, the translation granule cowpi configures.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;

/// The bits of an address that select a byte within its page.
const PAGE_OFFSET_MASK: u64 = PAGE_SIZE as u64 - 1;

/// A physical (bus-side, untranslated) byte address.
///
/// Any `u64` is accepted: what exists at an address is the memory map's business, not this type's.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PhysAddr(u64);

impl PhysAddr {
    pub const fn new(addr: u64) -> PhysAddr {
        PhysAddr(addr)
    }

    pub const fn as_u64(self) -> u64 {
        self.0
    }

    pub const fn is_page_aligned(self) -> bool {
        self.page_offset() == 0
    }

    /// The byte offset of this address within its page.
    pub const fn page_offset(self) -> usize {
        // Lossless: the offset is below PAGE_SIZE, which is a usize.
        (self.0 & PAGE_OFFSET_MASK) as usize
    }

    /// The start of the page containing this address.
    pub const fn align_down(self) -> PhysAddr {
        PhysAddr(self.0 & !PAGE_OFFSET_MASK)
    }

    /// The start of the first page at or above this address, or `None` if that page would begin past the
    /// top of the 64-bit address space.
    pub const fn align_up(self) -> Option<PhysAddr> {
        match self.0.checked_add(PAGE_OFFSET_MASK) {
            Some(bumped) => Some(PhysAddr(bumped & !PAGE_OFFSET_MASK)),
            None => None,
        }
    }

    /// This address plus `offset` bytes, or `None` if that overflows 64 bits.
    pub const fn checked_add(self, offset: usize) -> Option<PhysAddr> {
        // `usize as u64` is lossless on every target Rust supports (usize is at most 64 bits).
        match self.0.checked_add(offset as u64) {
            Some(addr) => Some(PhysAddr(addr)),
            None => None,
        }
    }
}

impl fmt::Display for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Debug for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhysAddr({:#x})", self.0)
    }
}

/// A physical frame: the 4 KiB of physical memory starting at `number * PAGE_SIZE`.
///
/// The number is at most [`Frame::MAX_NUMBER`], so a frame's start address always fits in 64 bits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Frame(u64);

impl Frame {
    /// The number of the frame containing the highest 64-bit address.
    pub const MAX_NUMBER: u64 = u64::MAX >> PAGE_SHIFT;

    /// The frame with this number.
    ///
    /// # Panics
    ///
    /// If `number` exceeds [`Frame::MAX_NUMBER`]: such a frame would start beyond the 64-bit address space.
    pub const fn from_number(number: u64) -> Frame {
        assert!(number <= Frame::MAX_NUMBER, "frame number beyond the 64-bit address space");
        Frame(number)
    }

    pub const fn number(self) -> u64 {
        self.0
    }

    /// The frame that `addr` falls in.
    pub const fn containing(addr: PhysAddr) -> Frame {
        Frame(addr.as_u64() >> PAGE_SHIFT)
    }

    /// The frame starting exactly at `addr`, or `None` if `addr` is not page-aligned (an entry in a page
    /// table or a memory map that is not aligned is corrupt, so this does not round).
    pub const fn from_start_address(addr: PhysAddr) -> Option<Frame> {
        if addr.is_page_aligned() { Some(Frame::containing(addr)) } else { None }
    }

    pub const fn start_address(self) -> PhysAddr {
        PhysAddr(self.0 << PAGE_SHIFT)
    }

    /// The frame `count` frames above this one, or `None` past [`Frame::MAX_NUMBER`].
    pub const fn checked_add(self, count: usize) -> Option<Frame> {
        // `usize as u64` is lossless on every target Rust supports.
        match self.0.checked_add(count as u64) {
            Some(number) if number <= Frame::MAX_NUMBER => Some(Frame(number)),
            _ => None,
        }
    }

    /// The frames lying wholly inside the byte range `[start, end)`.
    ///
    /// A memory map describes RAM in bytes, and its regions need not begin or end on a page boundary; a
    /// partial page at either end cannot be handed out, so the start rounds up and the end rounds down. An
    /// empty range (`start..start`) comes back when no whole frame fits.
    pub const fn range_inside(start: PhysAddr, end: PhysAddr) -> Range<Frame> {
        let Some(first_whole) = start.align_up() else {
            // `start` is in the last page of the address space: nothing whole lies above it.
            let last = Frame::containing(start);
            return last..last;
        };
        let first = Frame::containing(first_whole);
        let end = Frame::containing(end);
        if end.0 > first.0 { first..end } else { first..first }
    }
}

impl Add<usize> for Frame {
    type Output = Frame;

    /// # Panics
    ///
    /// Past [`Frame::MAX_NUMBER`], whatever the build profile: a wrapped frame number would silently alias
    /// low memory.
    fn add(self, count: usize) -> Frame {
        match self.checked_add(count) {
            Some(frame) => frame,
            None => panic!("frame number overflow"),
        }
    }
}

impl fmt::Display for Frame {
    /// Both the number and the start address: tables index by number, memory maps and debuggers show
    /// addresses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "frame {:#x} ({})", self.0, self.start_address())
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Frame({:#x})", self.0)
    }
}

/// The number of virtual address bits each half of the address space has: `T0SZ = T1SZ = 64 - 39 = 25`.
pub const VA_BITS: u32 = 39;

/// A virtual byte address, in user space, in kernel space or in the hole between them.
///
/// Any `u64` is accepted, so that a pointer a task passes can be represented before it is checked.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VirtAddr(u64);

impl VirtAddr {
    /// The first address past user space: `TTBR0_EL1` translates `[0, USER_END)`.
    pub const USER_END: VirtAddr = VirtAddr(1 << VA_BITS);

    /// The first kernel address: `TTBR1_EL1` translates `[KERNEL_START, 2^64)`.
    pub const KERNEL_START: VirtAddr = VirtAddr(!((1 << VA_BITS) - 1));

    pub const fn new(addr: u64) -> VirtAddr {
        VirtAddr(addr)
    }

    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// In user space, translated through `TTBR0_EL1`.
    pub const fn is_user(self) -> bool {
        self.0 < Self::USER_END.0
    }

    /// In kernel space, translated through `TTBR1_EL1`.
    pub const fn is_kernel(self) -> bool {
        self.0 >= Self::KERNEL_START.0
    }

    pub const fn is_page_aligned(self) -> bool {
        self.page_offset() == 0
    }

    /// The byte offset of this address within its page.
    pub const fn page_offset(self) -> usize {
        // Lossless: the offset is below PAGE_SIZE, which is a usize.
        (self.0 & PAGE_OFFSET_MASK) as usize
    }

    /// The start of the page containing this address.
    pub const fn align_down(self) -> VirtAddr {
        VirtAddr(self.0 & !PAGE_OFFSET_MASK)
    }

    /// The start of the first page at or above this address, or `None` past the top of the address space.
    pub const fn align_up(self) -> Option<VirtAddr> {
        match self.0.checked_add(PAGE_OFFSET_MASK) {
            Some(bumped) => Some(VirtAddr(bumped & !PAGE_OFFSET_MASK)),
            None => None,
        }
    }

    /// This address plus `offset` bytes, or `None` if that overflows 64 bits.
    ///
    /// Crossing from user space into the hole is not an overflow: a buffer check asks
    /// [`VirtAddr::is_user`] of the end it gets back (and [`VirtAddr::USER_END`] itself is a valid end).
    pub const fn checked_add(self, offset: usize) -> Option<VirtAddr> {
        // `usize as u64` is lossless on every target Rust supports.
        match self.0.checked_add(offset as u64) {
            Some(addr) => Some(VirtAddr(addr)),
            None => None,
        }
    }

    /// The index of the descriptor that translates this address in a translation table at `level`: the
    /// 9 address bits that level resolves (bits `[38:30]` at level 1, `[29:21]` at level 2, `[20:12]` at
    /// level 3).
    pub const fn table_index(self, level: Level) -> usize {
        // Lossless: the mask keeps 9 bits.
        ((self.0 >> level.address_shift()) & (Level::ENTRIES as u64 - 1)) as usize
    }
}

impl fmt::Display for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Debug for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VirtAddr({:#x})", self.0)
    }
}

/// A virtual page: the 4 KiB of virtual address space starting at `number * PAGE_SIZE`.
///
/// The unit of mapping: a page is mapped to a frame, or not at all. The number is at most
/// [`Page::MAX_NUMBER`], so a page's start address always fits in 64 bits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Page(u64);

impl Page {
    /// The number of the page containing the highest 64-bit address.
    pub const MAX_NUMBER: u64 = u64::MAX >> PAGE_SHIFT;

    /// The page with this number.
    ///
    /// # Panics
    ///
    /// If `number` exceeds [`Page::MAX_NUMBER`].
    pub const fn from_number(number: u64) -> Page {
        assert!(number <= Page::MAX_NUMBER, "page number beyond the 64-bit address space");
        Page(number)
    }

    pub const fn number(self) -> u64 {
        self.0
    }

    /// The page that `addr` falls in.
    pub const fn containing(addr: VirtAddr) -> Page {
        Page(addr.as_u64() >> PAGE_SHIFT)
    }

    /// The page starting exactly at `addr`, or `None` if `addr` is not page-aligned.
    pub const fn from_start_address(addr: VirtAddr) -> Option<Page> {
        if addr.is_page_aligned() { Some(Page::containing(addr)) } else { None }
    }

    pub const fn start_address(self) -> VirtAddr {
        VirtAddr(self.0 << PAGE_SHIFT)
    }

    /// In user space (every byte of a page is on the same side, as both boundaries are page-aligned).
    pub const fn is_user(self) -> bool {
        self.start_address().is_user()
    }

    /// The page `count` pages above this one, or `None` past [`Page::MAX_NUMBER`].
    pub const fn checked_add(self, count: usize) -> Option<Page> {
        // `usize as u64` is lossless on every target Rust supports.
        match self.0.checked_add(count as u64) {
            Some(number) if number <= Page::MAX_NUMBER => Some(Page(number)),
            _ => None,
        }
    }

    /// See [`VirtAddr::table_index`].
    pub const fn table_index(self, level: Level) -> usize {
        self.start_address().table_index(level)
    }

    /// The pages touched by the `len` bytes starting at `start` (a partial page at either end counts), or
    /// `None` if the range would run past the top of the address space. Empty for `len == 0`.
    pub const fn range_covering(start: VirtAddr, len: usize) -> Option<Range<Page>> {
        let first = Page::containing(start);
        if len == 0 {
            return Some(first..first);
        }
        let Some(end) = start.checked_add(len) else { return None };
        let Some(end) = end.align_up() else {
            // The range runs into the last page of the address space: it ends at the very top, 2^64, which
            // no page number below Page::MAX_NUMBER + 1 can name.
            return None;
        };
        Some(first..Page::containing(end))
    }
}

impl Add<usize> for Page {
    type Output = Page;

    /// # Panics
    ///
    /// Past [`Page::MAX_NUMBER`], whatever the build profile.
    fn add(self, count: usize) -> Page {
        match self.checked_add(count) {
            Some(page) => page,
            None => panic!("page number overflow"),
        }
    }
}

impl fmt::Display for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "page {:#x} ({})", self.0, self.start_address())
    }
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Page({:#x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::format;

    #[test]
    fn page_size_matches_shift() {
        assert_eq!(PAGE_SIZE, 4096);
        assert_eq!(1usize << PAGE_SHIFT, PAGE_SIZE);
    }

    #[test]
    fn alignment_queries() {
        assert!(PhysAddr::new(0).is_page_aligned());
        assert!(PhysAddr::new(0x8_0000).is_page_aligned());
        assert!(!PhysAddr::new(0x8_0001).is_page_aligned());
        assert!(!PhysAddr::new(0x8_0fff).is_page_aligned());
        assert_eq!(PhysAddr::new(0x8_0abc).page_offset(), 0xabc);
    }

    #[test]
    fn align_down_rounds_to_page_start() {
        assert_eq!(PhysAddr::new(0x8_0fff).align_down(), PhysAddr::new(0x8_0000));
        assert_eq!(PhysAddr::new(0x8_1000).align_down(), PhysAddr::new(0x8_1000));
        assert_eq!(PhysAddr::new(u64::MAX).align_down(), PhysAddr::new(0xffff_ffff_ffff_f000));
    }

    #[test]
    fn align_up_rounds_to_next_page_start() {
        assert_eq!(PhysAddr::new(0x8_0001).align_up(), Some(PhysAddr::new(0x8_1000)));
        assert_eq!(PhysAddr::new(0x8_1000).align_up(), Some(PhysAddr::new(0x8_1000)));
        assert_eq!(PhysAddr::new(0).align_up(), Some(PhysAddr::new(0)));
        assert_eq!(
            PhysAddr::new(0xffff_ffff_ffff_f000).align_up(),
            Some(PhysAddr::new(0xffff_ffff_ffff_f000))
        );
    }

    #[test]
    fn align_up_in_last_page_overflows() {
        assert_eq!(PhysAddr::new(0xffff_ffff_ffff_f001).align_up(), None);
        assert_eq!(PhysAddr::new(u64::MAX).align_up(), None);
    }

    #[test]
    fn checked_add_detects_overflow() {
        assert_eq!(PhysAddr::new(0x1000).checked_add(PAGE_SIZE), Some(PhysAddr::new(0x2000)));
        assert_eq!(PhysAddr::new(u64::MAX - 1).checked_add(1), Some(PhysAddr::new(u64::MAX)));
        assert_eq!(PhysAddr::new(u64::MAX).checked_add(1), None);
    }

    #[test]
    fn frame_and_address_round_trip() {
        let frame = Frame::containing(PhysAddr::new(0x8_0123));
        assert_eq!(frame.number(), 0x80);
        assert_eq!(frame.start_address(), PhysAddr::new(0x8_0000));
        assert_eq!(Frame::containing(frame.start_address()), frame);
        assert_eq!(Frame::from_number(0x80), frame);
    }

    #[test]
    fn highest_frame_starts_in_address_space() {
        let top = Frame::containing(PhysAddr::new(u64::MAX));
        assert_eq!(top.number(), Frame::MAX_NUMBER);
        assert_eq!(top.start_address(), PhysAddr::new(0xffff_ffff_ffff_f000));
    }

    #[test]
    #[should_panic(expected = "frame number beyond")]
    fn from_number_rejects_unaddressable_frame() {
        Frame::from_number(Frame::MAX_NUMBER + 1);
    }

    #[test]
    fn from_start_address_requires_alignment() {
        assert_eq!(Frame::from_start_address(PhysAddr::new(0x3000)), Some(Frame::from_number(3)));
        assert_eq!(Frame::from_start_address(PhysAddr::new(0x3008)), None);
    }

    #[test]
    fn frame_offsets() {
        let frame = Frame::from_number(10);
        assert_eq!(frame + 5, Frame::from_number(15));
        assert_eq!(frame.checked_add(0), Some(frame));
        assert_eq!(
            Frame::from_number(Frame::MAX_NUMBER - 1).checked_add(1),
            Some(Frame::from_number(Frame::MAX_NUMBER))
        );
        assert_eq!(Frame::from_number(Frame::MAX_NUMBER).checked_add(1), None);
        assert_eq!(Frame::from_number(1).checked_add(usize::MAX), None);
    }

    #[test]
    #[should_panic(expected = "frame number overflow")]
    fn frame_add_panics_past_the_top() {
        let _ = Frame::from_number(Frame::MAX_NUMBER) + 1;
    }

    #[test]
    fn range_inside_drops_partial_pages() {
        let frames = Frame::range_inside(PhysAddr::new(0x1001), PhysAddr::new(0x5fff));
        assert_eq!(frames, Frame::from_number(2)..Frame::from_number(5));
        let exact = Frame::range_inside(PhysAddr::new(0x1000), PhysAddr::new(0x5000));
        assert_eq!(exact, Frame::from_number(1)..Frame::from_number(5));
    }

    #[test]
    fn range_inside_is_empty_without_a_whole_frame() {
        assert!(Frame::range_inside(PhysAddr::new(0x1001), PhysAddr::new(0x1fff)).is_empty());
        assert!(Frame::range_inside(PhysAddr::new(0x1001), PhysAddr::new(0x2fff)).is_empty());
        assert!(Frame::range_inside(PhysAddr::new(0x5000), PhysAddr::new(0x1000)).is_empty());
        assert!(Frame::range_inside(PhysAddr::new(u64::MAX - 5), PhysAddr::new(u64::MAX)).is_empty());
    }

    #[test]
    fn ordering_follows_numbers() {
        assert!(PhysAddr::new(0x1000) < PhysAddr::new(0x2000));
        assert!(Frame::from_number(1) < Frame::from_number(2));
    }

    #[test]
    fn display_is_hex() {
        assert_eq!(format!("{}", PhysAddr::new(0x8_0000)), "0x80000");
        assert_eq!(format!("{:?}", PhysAddr::new(0x8_0000)), "PhysAddr(0x80000)");
        assert_eq!(format!("{}", Frame::from_number(0x80)), "frame 0x80 (0x80000)");
        assert_eq!(format!("{:?}", Frame::from_number(0x80)), "Frame(0x80)");
    }

    #[test]
    fn user_and_kernel_halves() {
        assert!(VirtAddr::new(0).is_user());
        assert!(VirtAddr::new((1 << 39) - 1).is_user());
        assert!(!VirtAddr::USER_END.is_user() && !VirtAddr::USER_END.is_kernel());
        assert_eq!(VirtAddr::KERNEL_START, VirtAddr::new(0xffff_ff80_0000_0000));
        assert!(VirtAddr::KERNEL_START.is_kernel() && !VirtAddr::KERNEL_START.is_user());
        assert!(!VirtAddr::new(0xffff_ff7f_ffff_ffff).is_kernel());
        assert!(VirtAddr::new(u64::MAX).is_kernel());
    }

    #[test]
    fn virtual_alignment_and_offsets() {
        let va = VirtAddr::new(0x4_0abc);
        assert_eq!(va.page_offset(), 0xabc);
        assert!(!va.is_page_aligned());
        assert_eq!(va.align_down(), VirtAddr::new(0x4_0000));
        assert_eq!(va.align_up(), Some(VirtAddr::new(0x4_1000)));
        assert_eq!(VirtAddr::new(u64::MAX).align_up(), None);
        assert_eq!(va.checked_add(0x544), Some(VirtAddr::new(0x4_1000)));
        assert_eq!(VirtAddr::new(u64::MAX).checked_add(1), None);
        // Leaving user space is not an overflow; the caller asks is_user.
        assert_eq!(VirtAddr::new((1 << 39) - 1).checked_add(1), Some(VirtAddr::USER_END));
    }

    #[test]
    fn pages_mirror_frames() {
        let page = Page::containing(VirtAddr::new(0x4_0abc));
        assert_eq!(page.number(), 0x40);
        assert_eq!(page.start_address(), VirtAddr::new(0x4_0000));
        assert_eq!(Page::from_start_address(VirtAddr::new(0x4_0000)), Some(page));
        assert_eq!(Page::from_start_address(VirtAddr::new(0x4_0001)), None);
        assert_eq!(page + 2, Page::from_number(0x42));
        assert_eq!(Page::from_number(Page::MAX_NUMBER).checked_add(1), None);
        assert!(page.is_user());
        assert!(!Page::containing(VirtAddr::USER_END).is_user());
        assert!(Page::containing(VirtAddr::new((1 << 39) - 1)).is_user());
        assert_eq!(Page::containing(VirtAddr::new(u64::MAX)).number(), Page::MAX_NUMBER);
    }

    #[test]
    #[should_panic(expected = "page number beyond")]
    fn page_from_number_rejects_unaddressable_page() {
        Page::from_number(Page::MAX_NUMBER + 1);
    }

    #[test]
    #[should_panic(expected = "page number overflow")]
    fn page_add_panics_past_the_top() {
        let _ = Page::from_number(Page::MAX_NUMBER) + 1;
    }

    #[test]
    fn table_indices_of_pages() {
        let page = Page::from_number((3 << 18) | (4 << 9) | 5);
        assert_eq!(
            [page.table_index(Level::One), page.table_index(Level::Two), page.table_index(Level::Three)],
            [3, 4, 5]
        );
    }

    #[test]
    fn range_covering_rounds_outwards() {
        let page = Page::from_number;
        assert_eq!(Page::range_covering(VirtAddr::new(0x1fff), 2), Some(page(1)..page(3)));
        assert_eq!(Page::range_covering(VirtAddr::new(0x1000), 0x1000), Some(page(1)..page(2)));
        assert_eq!(Page::range_covering(VirtAddr::new(0x1800), 0), Some(page(1)..page(1)));
        assert_eq!(Page::range_covering(VirtAddr::new(u64::MAX), 1), None);
        assert_eq!(Page::range_covering(VirtAddr::new(0x1000), usize::MAX), None);
    }

    #[test]
    fn virtual_display_is_hex() {
        assert_eq!(format!("{}", VirtAddr::new(0x8_0000)), "0x80000");
        assert_eq!(format!("{:?}", VirtAddr::new(0x8_0000)), "VirtAddr(0x80000)");
        assert_eq!(format!("{}", Page::from_number(0x80)), "page 0x80 (0x80000)");
        assert_eq!(format!("{:?}", Page::from_number(0x80)), "Page(0x80)");
    }
}
