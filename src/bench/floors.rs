//! The physical floors: what copying and zeroing a 4 KiB frame cost in the kernel with nothing around
//! them, and what hashing one costs (page merging hashes every page it scans).
//!
//! A copy-on-write fault has to copy a page and a first write has to zero one; set against these floors
//! (and against the bare exception round trip `benchfault` measures), a fault's cost shows how much the
//! memory manager adds. The copies and fills use exactly the code the fault paths use
//! (`frames::alloc_copy_of`, `frames::alloc_zeroed`: `copy_nonoverlapping` and `write_bytes`). Interrupts
//! are masked while measuring a few pages at a time, so a timer tick never lands in a sample.

use alloc::string::String;
use alloc::vec::Vec;
use core::hint::black_box;

use cowpi_console::bench::{SampleLine, Scale, Value};
use cowpi_mm::{Frame, PAGE_SIZE};

use crate::arch::{cpu, page, time};
use crate::memory::{frame_pointer, frames};
use crate::println;

/// Frames each side of a measurement uses in turn, so a sample touches 256 KiB rather than one page.
const FRAMES: usize = 64;

pub fn run(reps: u32, scale: Scale) -> Result<(), String> {
    let pages: u64 = match scale {
        Scale::Quick => 64,
        Scale::Full => 1024,
    };
    let source = Frames::alloc()?;
    let target = Frames::alloc()?;
    source.fill_with_noise();
    for _ in 0..reps {
        let ticks = measure(pages, |i| {
            // SAFETY: two distinct frames held by this benchmark, in the linear map.
            unsafe { page::copy_page(target.pointer(i), source.pointer(i)) }
        });
        sample("floor.memcpy_4k", &[], ticks, pages);
        let ticks = measure(pages, |i| {
            // SAFETY: a frame held by this benchmark, in the linear map.
            unsafe { page::zero_page(target.pointer(i)) }
        });
        sample("floor.zero_4k", &[], ticks, pages);
        let ticks = measure(pages, |i| {
            black_box(xxhash_rust::xxh3::xxh3_64(source.bytes(i)));
        });
        sample("hash.throughput", &[("algo", Value::from("xxh3_64"))], ticks, pages);
        let ticks = measure(pages, |i| {
            black_box(xxhash_rust::xxh64::xxh64(source.bytes(i), 0));
        });
        sample("hash.throughput", &[("algo", Value::from("xxh64"))], ticks, pages);
        let ticks = measure(pages, |i| {
            // SAFETY: as for floor.memcpy_4k.
            unsafe { page::copy_page(target.pointer(i), source.pointer(i)) }
        });
        sample("hash.throughput", &[("algo", Value::from("memcpy"))], ticks, pages);
        let ticks = measure(pages, |i| {
            // SAFETY: as for floor.memcpy_4k.
            unsafe { core::ptr::copy_nonoverlapping(source.pointer(i), target.pointer(i), PAGE_SIZE) }
        });
        sample("hash.throughput", &[("algo", Value::from("memcpy_generic"))], ticks, pages);
    }
    Ok(())
}

fn sample(figure: &str, labels: &[(&str, Value<'_>)], ticks: u64, ops: u64) {
    println!("{}", SampleLine { figure, labels, ticks, ops });
}

/// Pages measured under one masking of interrupts: a handful, so that no tick lands in a sample and yet
/// no stretch with interrupts masked is longer than four hashes (about 52 µs at 13 000 instructions a
/// page), as the benchmarks' own tick-lateness figure demands of the kernel.
const PAGES_PER_SAMPLE: u64 = 4;

/// Counter ticks `op` takes for `count` pages, the page index going round the frames.
fn measure(count: u64, mut op: impl FnMut(usize)) -> u64 {
    let mut ticks = 0;
    for first in (0..count).step_by(PAGES_PER_SAMPLE as usize) {
        let saved = cpu::mask_irqs();
        let start = time::ticks();
        for i in first..count.min(first + PAGES_PER_SAMPLE) {
            op(i as usize % FRAMES);
        }
        ticks += time::ticks() - start;
        cpu::restore_irqs(saved);
    }
    ticks
}

/// Frames held for the benchmark's length, handed back when dropped.
struct Frames(Vec<Frame>);

impl Frames {
    fn alloc() -> Result<Frames, String> {
        let mut held = Frames(Vec::with_capacity(FRAMES));
        for _ in 0..FRAMES {
            held.0.push(frames::alloc_zeroed().map_err(|_| String::from("out of frames"))?);
        }
        Ok(held)
    }

    fn pointer(&self, index: usize) -> *mut u8 {
        frame_pointer(self.0[index])
    }

    fn bytes(&self, index: usize) -> &[u8] {
        // SAFETY: a frame held by `self` for as long as the slice lives, in the linear map; nothing writes
        // the source frames while they are hashed.
        unsafe { core::slice::from_raw_parts(self.pointer(index), PAGE_SIZE) }
    }

    /// Fills every frame with a pattern that is not all zeros, so the hash and copy see real data.
    fn fill_with_noise(&self) {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for index in 0..FRAMES {
            // SAFETY: as in `bytes`, and nothing else reads the frame while it is filled.
            let words =
                unsafe { core::slice::from_raw_parts_mut(self.pointer(index).cast::<u64>(), PAGE_SIZE / 8) };
            for word in words {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *word = state;
            }
        }
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        for &frame in &self.0 {
            frames::drop_holder(frame);
        }
    }
}
