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

    // Version 2 (104 bytes): copy-on-write and the shared zero page. The first five are counted since boot
    // for the whole machine; `zero_page_mappings` is a current count, `zero_pages` the calling task's.
    /// Write faults on a copy-on-write page (one whose frame `FORK` left shared), machine-wide. Each ends
    /// in a copy or a reuse, unless the task is killed for want of a frame: `cow_copies + cow_reuses <=
    /// cow_faults`.
    pub cow_faults: u64,
    /// Copy-on-write faults that copied the page into a new frame, because another page still held the old.
    pub cow_copies: u64,
    /// Copy-on-write faults that found the faulting page the frame's last holder (the others had written
    /// or gone) and simply made it writable again, copying nothing.
    pub cow_reuses: u64,
    /// Faults that gave a page a fresh zeroed frame, copying nothing: the first write to anonymous memory
    /// never touched, or a write to a page that maps the zero page. (A read of untouched memory takes no
    /// frame: it maps the zero page, and shows in `zero_page_mappings` instead.)
    pub zero_fill_faults: u64,
    /// Pages, in all tasks, that map the shared zero page right now: one frame of zeros standing in for
    /// memory that has been read but never written.
    pub zero_page_mappings: u64,
    /// Tasks the kernel killed because a page fault needed a frame and none was free.
    pub oom_kills: u64,
    /// Pages of the calling task that map the shared zero page (counted in `resident_pages` and
    /// `shared_pages` too, but they hold no frame of the task's own).
    pub zero_pages: u64,

    // Version 3 (136 bytes): page merging (KSM), machine-wide. The first two are current counts, the last
    // two counted since boot. Merging needs no frame: `frames_free` grows by one for each page merged.
    /// Frames the merging task has made shared right now: each holds the data of several identical
    /// mergeable pages (of one task or of many), mapped read-only and copy-on-write in all of them.
    pub ksm_pages_shared: u64,
    /// Mappings of those frames beyond the first of each, right now: how many frames merging saves. A frame
    /// that three pages map counts 1 in `ksm_pages_shared` and 2 here.
    pub ksm_pages_sharing: u64,
    /// Complete passes of the merging task over every mergeable page of every task.
    pub ksm_full_scans: u64,
    /// Mergeable pages that held only zeros and that the merging task mapped to the shared zero page,
    /// giving their frames back (they then count in `zero_page_mappings`, not in the two above, and in
    /// `ksm_zero_pages` for as long as they stay).
    pub ksm_zero_pages_merged: u64,

    // Version 4 (144 bytes): what merging costs.
    /// Processor time the merging task has used since boot, in nanoseconds (counted from the system
    /// counter at every task switch, so exact to a counter tick). Its share of a stretch of time is its
    /// share of the processor, since cowpi runs tasks on one core.
    pub ksm_scanner_ns: u64,

    // Version 5 (184 bytes): page merging's events, machine-wide, counted since boot, and tasks, so that a
    // program can see the task limit coming (a fork bomb meets it).
    /// Pages the merging task moved onto another page's identical frame, giving their own frame back: each
    /// one saves a frame. (The first two pages of a new merged frame count one: one of them keeps its
    /// frame. Zero pages count in `ksm_zero_pages_merged` instead.)
    pub ksm_merges: u64,
    /// Write faults on merged pages: each gives the writer a private copy again (or, for the last page
    /// still mapping the frame, the frame itself). Counted in `cow_faults` too. A write to a zero page the
    /// merging task made is not one: it is a zero-fill fault, and takes the page out of `ksm_zero_pages`.
    pub ksm_unmerges: u64,
    /// Tasks that exist right now: kernel tasks (the shell, the merging task) and every user task, those
    /// that have exited but whose parent has not yet collected them included (each core's idle task is
    /// not counted). This is what `task_limit` bounds.
    pub tasks: u64,
    /// The most tasks that may exist at once: at that count `SPAWN` and `FORK` fail with `TooManyTasks`.
    pub task_limit: u64,
    /// `SPAWN`s and `FORK`s refused with `TooManyTasks` since boot, machine-wide.
    pub tasks_refused: u64,

    // Version 6 (192 bytes): page merging's zero pages now, machine-wide.
    /// Pages, in all tasks, that map the shared zero page right now because the merging task put them
    /// there (Linux's `ksm_zero_pages`): what `ksm_zero_pages_merged` did, less what has gone since. A
    /// task's write to one (a zero-fill fault), `UNMAP`, `PROTECT` with no access, and the task's exit or
    /// `EXEC` each take one away; a `FORK` (copy-on-write or eager) adds the child's copy of each, which is
    /// such a page too. Zero pages mapped by a read fault are not counted. Counted in `zero_page_mappings`.
    pub ksm_zero_pages: u64,
    // Version 7 (216 bytes): level-3 tables shared by `FORK` (mode 0), machine-wide, counted since boot.
    /// Level-3 tables (2 MiB of address space each) that forks shared with the child instead of copying
    /// them: each one a table's worth of pages forked without touching a page entry.
    pub tables_shared: u64,
    /// Write faults into a shared table that gave the writer its own copy of the table, because other
    /// tasks still held it (the page itself is then resolved as any copy-on-write page is).
    pub table_copies: u64,
    /// Write faults into a shared table whose other holders had gone: the table was given write access
    /// back, copying nothing.
    pub table_reuses: u64,
}

impl MemStats {
    /// The size of this version of the structure, in bytes.
    pub const SIZE: usize = size_of::<MemStats>();

    /// The smallest buffer `MEMSTATS` accepts: room for the `size` field.
    pub const MIN_SIZE: usize = size_of::<u64>();

    /// The size of the first version, up to `private_pages`: what programs built before copy-on-write ask
    /// for. A `size` of at most this means none of the copy-on-write fields were filled.
    pub const V1_SIZE: usize = offset_of!(MemStats, cow_faults);

    /// The size of the second version, up to `zero_pages`: what programs built before page merging ask
    /// for. A `size` of at most this means none of the `ksm_*` fields were filled.
    pub const V2_SIZE: usize = offset_of!(MemStats, ksm_pages_shared);

    /// The size of the third version, up to `ksm_zero_pages_merged`: what programs built before the
    /// scanner's processor time was counted ask for.
    pub const V3_SIZE: usize = offset_of!(MemStats, ksm_scanner_ns);

    /// The size of the fourth version, up to `ksm_scanner_ns`: what programs built before merges,
    /// unmerges and tasks were counted ask for.
    pub const V4_SIZE: usize = offset_of!(MemStats, ksm_merges);

    /// The size of the fifth version, up to `tasks_refused`: what programs built before the merging
    /// task's zero pages were counted as they are now ask for.
    pub const V5_SIZE: usize = offset_of!(MemStats, ksm_zero_pages);

    /// The size of the sixth version, up to `ksm_zero_pages`: what programs built before forks shared
    /// page tables ask for.
    pub const V6_SIZE: usize = offset_of!(MemStats, tables_shared);

    /// The fields in memory order, as the kernel copies them out.
    const fn fields(&self) -> [u64; MemStats::SIZE / 8] {
        [
            self.size,
            self.frames_total,
            self.frames_free,
            self.resident_pages,
            self.shared_pages,
            self.private_pages,
            self.cow_faults,
            self.cow_copies,
            self.cow_reuses,
            self.zero_fill_faults,
            self.zero_page_mappings,
            self.oom_kills,
            self.zero_pages,
            self.ksm_pages_shared,
            self.ksm_pages_sharing,
            self.ksm_full_scans,
            self.ksm_zero_pages_merged,
            self.ksm_scanner_ns,
            self.ksm_merges,
            self.ksm_unmerges,
            self.tasks,
            self.task_limit,
            self.tasks_refused,
            self.ksm_zero_pages,
            self.tables_shared,
            self.table_copies,
            self.table_reuses,
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
    assert!(MemStats::SIZE == 27 * 8);
    assert!(MemStats::V6_SIZE == 24 * 8);
    assert!(MemStats::V5_SIZE == 23 * 8);
    assert!(MemStats::V4_SIZE == 18 * 8);
    assert!(MemStats::V3_SIZE == 17 * 8);
    assert!(MemStats::V1_SIZE == 6 * 8);
    assert!(MemStats::V2_SIZE == 13 * 8);
    assert!(offset_of!(MemStats, size) == 0);
    assert!(offset_of!(MemStats, frames_total) == 8);
    assert!(offset_of!(MemStats, frames_free) == 16);
    assert!(offset_of!(MemStats, resident_pages) == 24);
    assert!(offset_of!(MemStats, shared_pages) == 32);
    assert!(offset_of!(MemStats, private_pages) == 40);
    assert!(offset_of!(MemStats, cow_faults) == 48);
    assert!(offset_of!(MemStats, cow_copies) == 56);
    assert!(offset_of!(MemStats, cow_reuses) == 64);
    assert!(offset_of!(MemStats, zero_fill_faults) == 72);
    assert!(offset_of!(MemStats, zero_page_mappings) == 80);
    assert!(offset_of!(MemStats, oom_kills) == 88);
    assert!(offset_of!(MemStats, zero_pages) == 96);
    assert!(offset_of!(MemStats, ksm_pages_shared) == 104);
    assert!(offset_of!(MemStats, ksm_pages_sharing) == 112);
    assert!(offset_of!(MemStats, ksm_full_scans) == 120);
    assert!(offset_of!(MemStats, ksm_zero_pages_merged) == 128);
    assert!(offset_of!(MemStats, ksm_scanner_ns) == 136);
    assert!(offset_of!(MemStats, ksm_merges) == 144);
    assert!(offset_of!(MemStats, ksm_unmerges) == 152);
    assert!(offset_of!(MemStats, tasks) == 160);
    assert!(offset_of!(MemStats, task_limit) == 168);
    assert!(offset_of!(MemStats, tasks_refused) == 176);
    assert!(offset_of!(MemStats, ksm_zero_pages) == 184);
    assert!(offset_of!(MemStats, tables_shared) == 192);
    assert!(offset_of!(MemStats, table_copies) == 200);
    assert!(offset_of!(MemStats, table_reuses) == 208);
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
            cow_faults: 30,
            cow_copies: 20,
            cow_reuses: 9,
            zero_fill_faults: 500,
            zero_page_mappings: 64,
            oom_kills: 1,
            zero_pages: 2,
            ksm_pages_shared: 40,
            ksm_pages_sharing: 600,
            ksm_full_scans: 12,
            ksm_zero_pages_merged: 256,
            ksm_scanner_ns: 999,
            ksm_merges: 77,
            ksm_unmerges: 33,
            tasks: 5,
            task_limit: 100,
            tasks_refused: 17,
            ksm_zero_pages: 200,
            tables_shared: 8,
            table_copies: 6,
            table_reuses: 2,
        }
    }

    fn field(bytes: &[u8], index: usize) -> u64 {
        u64::from_le_bytes(bytes[index * 8..index * 8 + 8].try_into().unwrap())
    }

    #[test]
    fn a_full_buffer_gets_every_field() {
        let (bytes, filled) = sample().to_bytes(MemStats::SIZE);
        assert_eq!(filled, 216);
        let expected = [
            216, 0x1111, 0x2222, 7, 3, 4, 30, 20, 9, 500, 64, 1, 2, 40, 600, 12, 256, 999, 77, 33, 5, 100,
            17, 200, 8, 6, 2,
        ];
        for (index, value) in expected.into_iter().enumerate() {
            assert_eq!(field(&bytes, index), value, "field {index}");
        }
    }

    #[test]
    fn a_program_from_before_copy_on_write_gets_the_first_version() {
        let (bytes, filled) = sample().to_bytes(MemStats::V1_SIZE);
        assert_eq!(filled, 48);
        assert_eq!(field(&bytes, 0), 48);
        assert_eq!(field(&bytes, 5), 4);
    }

    #[test]
    fn a_program_from_before_page_merging_gets_the_second_version() {
        let (bytes, filled) = sample().to_bytes(MemStats::V2_SIZE);
        assert_eq!(filled, 104);
        assert_eq!(field(&bytes, 0), 104);
        assert_eq!(field(&bytes, 12), 2);
    }

    #[test]
    fn a_program_from_before_the_scanner_time_gets_the_third_version() {
        let (bytes, filled) = sample().to_bytes(MemStats::V3_SIZE);
        assert_eq!(filled, 136);
        assert_eq!(field(&bytes, 0), 136);
        assert_eq!(field(&bytes, 16), 256);
    }

    #[test]
    fn a_program_from_before_the_fifth_version_gets_the_fourth() {
        let (bytes, filled) = sample().to_bytes(MemStats::V4_SIZE);
        assert_eq!(filled, 144);
        assert_eq!(field(&bytes, 0), 144);
        assert_eq!(field(&bytes, 17), 999);
    }

    #[test]
    fn a_program_from_before_the_sixth_version_gets_the_fifth() {
        let (bytes, filled) = sample().to_bytes(MemStats::V5_SIZE);
        assert_eq!(filled, 184);
        assert_eq!(field(&bytes, 0), 184);
        assert_eq!(field(&bytes, 22), 17);
    }

    #[test]
    fn a_program_from_before_shared_tables_gets_the_sixth_version() {
        let (bytes, filled) = sample().to_bytes(MemStats::V6_SIZE);
        assert_eq!(filled, 192);
        assert_eq!(field(&bytes, 0), 192);
        assert_eq!(field(&bytes, 23), 200);
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
