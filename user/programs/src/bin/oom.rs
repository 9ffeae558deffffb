//! `oom`: runs the machine out of memory, on purpose: the kernel must kill it, and only it.
//!
//! `MAP` takes no frame until a page is touched, so a task can map more than the machine has. This one
//! maps twice the machine's frames and writes a word to every page, each write taking a frame, printing
//! its progress every 64 MiB, until a page fault finds no free frame and the kernel kills the task
//! (killed, signal 9; `MEMSTATS`'s `oom_kills` counts it). It never exits normally: if it writes every
//! page and is still alive, it says FAILED and exits with 1; if `MAP` refuses the memory, with 2.
#![no_std]
#![no_main]

use cowpi_programs::region::Region;
use cowpi_programs::stats;
use cowpi_user::{entry, println};

entry!(main);

/// Pages between two progress lines: 64 MiB.
const PROGRESS: usize = 16384;

fn main(_args: &str) -> i32 {
    let start = stats::now();
    let pages = start.frames_total as usize * 2;
    let (machine, wanted) = (start.frames_total / 256, pages / 256);
    println!(
        "oom: the machine has {machine} MiB; mapping {wanted} MiB and writing all of it: expect to be killed"
    );
    let region = match Region::map(pages) {
        Ok(region) => region,
        Err(error) => {
            println!(
                "oom: FAILED: MAP {wanted} MiB: {error} (the kernel must let a task map more than it has)"
            );
            return 2;
        }
    };
    for page in 0..pages {
        if page % PROGRESS == 0 && page > 0 {
            println!("oom: wrote {} MiB, {} frames free", page / 256, stats::now().frames_free);
        }
        region.write(page, 0, page as u64 + 1);
    }
    println!("oom: FAILED: wrote all {wanted} MiB of a {machine} MiB machine and was not killed");
    1
}
