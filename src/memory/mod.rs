//! Physical memory: the kernel heap and the frame table, set up from the RAM the board reports.
//!
//! Boot-time layout of RAM (identity-mapped):
//!
//! ```text
//! 0x0 .. 0x10000            firmware: spin table, ATAGs or device tree            (reserved)
//! 0x10000 .. 0x80000        boot stack, growing down                              (reserved)
//! 0x80000 .. kernel end     kernel image: text, rodata, data, BSS                 (reserved)
//! .. + HEAP_BYTES           kernel heap (buddy allocator)                         (reserved)
//! .. + table storage        frame table: 12 bytes per frame of the span           (reserved)
//! .. end of each RAM range  frames managed by the frame table
//! ```

pub mod address_space;
pub mod audit;
pub mod counters;
pub mod frames;
pub mod heap;
pub mod ksm;
pub mod layout;
pub mod user_access;
pub mod zero_page;

use core::ops::Range;

use cowpi_mm::{Frame, FrameTable, PAGE_SIZE, PhysAddr, frame_table};

use crate::arch::mmu::phys_to_virt;

/// Size of the kernel heap.
pub const HEAP_BYTES: u64 = 16 << 20;

/// Where the kernel reaches the contents of a frame: its page in the linear map.
pub fn frame_pointer(frame: Frame) -> *mut u8 {
    phys_to_virt(frame.start_address().as_u64()) as *mut u8
}

/// What `init` set aside (physical addresses), for `info` and the tests.
#[derive(Debug, Clone)]
pub struct MemoryLayout {
    pub kernel: Range<u64>,
    pub heap: Range<u64>,
    pub frame_table: Range<u64>,
}

static LAYOUT: spin::Once<MemoryLayout> = spin::Once::new();

pub fn layout() -> &'static MemoryLayout {
    LAYOUT.get().expect("memory::layout() before memory::init()")
}

/// Sets up the heap and the frame table over `ram` (ascending, non-overlapping, in the boot map).
/// Called once, with the MMU on.
pub fn init(ram: &[Range<u64>]) {
    let kernel = layout::kernel_image();
    let kernel_end = kernel.end.align_up().expect("kernel end overflows").as_u64();
    let first_ram = &ram[0];
    assert!(first_ram.contains(&kernel_end), "the kernel image is not in the first RAM range");

    let heap = kernel_end..kernel_end + HEAP_BYTES;
    // SAFETY: the region lies in RAM past the kernel image, is identity-mapped read-write, and nothing
    // else is placed there (the frame table below starts after it).
    unsafe { heap::init(phys_to_virt(heap.start) as usize, HEAP_BYTES as usize) };

    let span_start = Frame::containing(PhysAddr::new(first_ram.start));
    let span_end = ram.iter().filter(|r| !r.is_empty()).map(|r| r.end).max().unwrap_or(first_ram.end);
    let span_end = Frame::containing(PhysAddr::new(span_end));
    let frame_count = (span_end.number() - span_start.number()) as usize;
    let words = frame_table::storage_words(frame_count);
    let storage_start = heap.end;
    let storage_end = PhysAddr::new(storage_start + (words * 4) as u64)
        .align_up()
        .expect("frame table storage overflows")
        .as_u64();
    assert!(storage_end < first_ram.end, "RAM too small for the kernel heap and the frame table");
    // SAFETY: the storage lies in RAM after the heap, identity-mapped read-write, and is used by nothing
    // else for the kernel's lifetime; `u32` needs 4-byte alignment and the start is page-aligned.
    let storage = unsafe { core::slice::from_raw_parts_mut(phys_to_virt(storage_start) as *mut u32, words) };
    let mut table = FrameTable::new(span_start, frame_count, storage).expect("frame table storage size");
    let reserved_end = storage_end;
    for range in ram.iter().filter(|r| !r.is_empty()) {
        let start = range.start.max(reserved_end);
        if start >= range.end {
            continue;
        }
        let frames = Frame::range_inside(PhysAddr::new(start), PhysAddr::new(range.end));
        table.add_free_range(frames).expect("RAM ranges overlap");
    }
    frames::install(table);
    zero_page::init();
    LAYOUT.call_once(|| MemoryLayout {
        kernel: kernel.start.as_u64()..kernel.end.as_u64(),
        heap,
        frame_table: storage_start..storage_end,
    });
    let managed = frames::counters().total;
    log::info!(
        "memory: {managed} frames ({} MiB) managed, heap {} MiB, frame table {} KiB",
        (managed * PAGE_SIZE) >> 20,
        HEAP_BYTES >> 20,
        (storage_end - storage_start) >> 10
    );
}
