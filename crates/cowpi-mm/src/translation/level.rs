//! The lookup levels of cowpi's translation regime, and how much address space each one resolves.
//!
//! With a 4 KiB granule every table holds 512 descriptors and resolves 9 bits of the virtual address. A
//! 39-bit address space needs three levels (Arm ARM D8.2, "Translation table walk"); the walk starts at
//! level 1 because `T0SZ = 25` puts the top of the address at bit 38. Level 0 exists in the architecture
//! (for 48-bit spaces) but never in cowpi, so it has no variant here.

use crate::addr::PAGE_SHIFT;

/// A lookup level of a stage-1 walk with a 4 KiB granule and 39-bit addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// The root table (the one `TTBRn_EL1` points at): 1 GiB per descriptor.
    One,
    /// 2 MiB per descriptor.
    Two,
    /// The last level: each descriptor maps one 4 KiB page.
    Three,
}

impl Level {
    /// Descriptors in one translation table: a 4 KiB table of 8-byte descriptors.
    pub const ENTRIES: usize = 512;

    /// The levels in walk order.
    pub const WALK: [Level; 3] = [Level::One, Level::Two, Level::Three];

    /// The lowest virtual-address bit this level's index takes (the index is the 9 bits from here up).
    pub const fn address_shift(self) -> u32 {
        match self {
            Level::One => PAGE_SHIFT + 18,
            Level::Two => PAGE_SHIFT + 9,
            Level::Three => PAGE_SHIFT,
        }
    }

    /// The bytes of virtual address space one descriptor at this level covers.
    pub const fn coverage(self) -> u64 {
        1 << self.address_shift()
    }

    /// The level a table descriptor at this level points to; `None` at the last level.
    pub const fn next(self) -> Option<Level> {
        match self {
            Level::One => Some(Level::Two),
            Level::Two => Some(Level::Three),
            Level::Three => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{VA_BITS, VirtAddr};

    #[test]
    fn three_levels_cover_the_39_bit_space() {
        assert_eq!(Level::One.coverage(), 1 << 30);
        assert_eq!(Level::Two.coverage(), 2 << 20);
        assert_eq!(Level::Three.coverage(), 4096);
        assert_eq!(Level::One.coverage() * Level::ENTRIES as u64, 1 << VA_BITS);
        assert_eq!(Level::One.next(), Some(Level::Two));
        assert_eq!(Level::Two.next(), Some(Level::Three));
        assert_eq!(Level::Three.next(), None);
    }

    #[test]
    fn indices_take_nine_bits_each() {
        let va = VirtAddr::new((5 << 30) | (7 << 21) | (9 << 12) | 0x123);
        assert_eq!(va.table_index(Level::One), 5);
        assert_eq!(va.table_index(Level::Two), 7);
        assert_eq!(va.table_index(Level::Three), 9);
        let top = VirtAddr::new(VirtAddr::USER_END.as_u64() - 1);
        assert_eq!(
            [top.table_index(Level::One), top.table_index(Level::Two), top.table_index(Level::Three)],
            [511, 511, 511]
        );
        // The kernel half walks its own tables with the same indices: the bits above 38 select TTBR1.
        assert_eq!(VirtAddr::KERNEL_START.table_index(Level::One), 0);
    }
}
