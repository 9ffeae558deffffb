//! The memory counters `MEMSTATS` reports: the whole machine's frames and the calling task's pages.
//!
//! The structure grows as the memory manager does (copy-on-write faults, zero-page hits, merged pages...),
//! so it is versioned by size, like many OS interfaces: the caller passes the size of the structure it
//! knows; the kernel writes the first `min(caller's size, kernel's size)` bytes, stores in `size` how many
//! that was, and returns the same number. An old program on a new kernel gets the fields it knows; a new
//! program on an old kernel sees a smaller `size` and knows the later fields were not filled (it should
//! zero them first). Every field is a `u64`, so the layout has no padding and is the same on every side.

use core::mem::{offset_of, size_of};

/// Memory counters. `#[repr(C)]`, fields in a fixed order: new fields are only ever appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct MemStats {
    /// How many bytes of this structure the kernel filled (always at least this field).
    pub size: u64,
    /// Physical frames the kernel manages.
    pub frames_total: u64,
    /// Of those, frames no one holds.
    pub frames_free: u64,
    /// Pages of the calling task that are mapped to a frame (including the shared zero page, once it
    /// exists). Always `shared_pages + private_pages`.
    pub resident_pages: u64,
    /// Resident pages whose frame is also mapped elsewhere (another task, another page, the zero page).
    pub shared_pages: u64,
    /// Resident pages whose frame only this page maps.
    pub private_pages: u64,
}

impl MemStats {
    /// The size of this version of the structure, in bytes.
    pub const SIZE: usize = size_of::<MemStats>();

    /// The smallest buffer `MEMSTATS` accepts: room for the `size` field.
    pub const MIN_SIZE: usize = size_of::<u64>();

    /// The fields in memory order, as the kernel copies them out.
    const fn fields(&self) -> [u64; MemStats::SIZE / 8] {
        [
            self.size,
            self.frames_total,
            self.frames_free,
            self.resident_pages,
            self.shared_pages,
            self.private_pages,
        ]
    }

    /// The first `min(len, SIZE)` bytes of the structure as the task will see them, with `size` set to that
    /// count: what the kernel copies to the task's buffer of `len` bytes. Little-endian, like AArch64.
    pub fn to_bytes(&self, len: usize) -> ([u8; MemStats::SIZE], usize) {
        let filled = len.min(MemStats::SIZE);
        let stats = MemStats { size: filled as u64, ..*self };
        let mut bytes = [0; MemStats::SIZE];
        for (chunk, field) in bytes.chunks_exact_mut(8).zip(stats.fields()) {
            chunk.copy_from_slice(&field.to_le_bytes());
        }
        (bytes, filled)
    }
}

// `to_bytes` relies on the fields being consecutive u64s with no padding, in declaration order.
const _: () = {
    assert!(MemStats::SIZE == 6 * 8);
    assert!(offset_of!(MemStats, size) == 0);
    assert!(offset_of!(MemStats, frames_total) == 8);
    assert!(offset_of!(MemStats, frames_free) == 16);
    assert!(offset_of!(MemStats, resident_pages) == 24);
    assert!(offset_of!(MemStats, shared_pages) == 32);
    assert!(offset_of!(MemStats, private_pages) == 40);
};

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MemStats {
        MemStats {
            size: 0,
            frames_total: 0x1111,
            frames_free: 0x2222,
            resident_pages: 7,
            shared_pages: 3,
            private_pages: 4,
        }
    }

    fn field(bytes: &[u8], index: usize) -> u64 {
        u64::from_le_bytes(bytes[index * 8..index * 8 + 8].try_into().unwrap())
    }

    #[test]
    fn a_full_buffer_gets_every_field() {
        let (bytes, filled) = sample().to_bytes(MemStats::SIZE);
        assert_eq!(filled, 48);
        assert_eq!(field(&bytes, 0), 48);
        assert_eq!(field(&bytes, 1), 0x1111);
        assert_eq!(field(&bytes, 2), 0x2222);
        assert_eq!(field(&bytes, 3), 7);
        assert_eq!(field(&bytes, 4), 3);
        assert_eq!(field(&bytes, 5), 4);
    }

    #[test]
    fn a_larger_buffer_from_a_newer_program_gets_what_this_version_knows() {
        let (_, filled) = sample().to_bytes(4096);
        assert_eq!(filled, MemStats::SIZE);
    }

    #[test]
    fn an_older_program_gets_a_prefix_that_says_its_size() {
        let (bytes, filled) = sample().to_bytes(24);
        assert_eq!(filled, 24);
        assert_eq!(field(&bytes, 0), 24);
        assert_eq!(field(&bytes, 2), 0x2222);
    }
}
