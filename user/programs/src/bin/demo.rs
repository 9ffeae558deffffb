//! `demo`: copy-on-write, step by step, for people learning how it works.
//!
//! It maps a megabyte, reads it, writes it, forks, lets the child write a little, and writes again once
//! the child is gone, printing the kernel's counters (`MEMSTATS`) after each step with a sentence on what
//! happened and why. Each step says how many frames (4 KiB of physical memory each) it took or gave
//! back. Exits with 0, or 1 if a system call failed.
#![no_std]
#![no_main]

use cowpi_programs::region::Region;
use cowpi_programs::stats;
use cowpi_user::task::{self, Fork};
use cowpi_user::{ExitStatus, MemStats, entry, println};

entry!(main);

/// The megabyte the demo plays with, and how much of it the child writes.
const PAGES: usize = 256;
const CHILD_PAGES: usize = 16;

fn main(_args: &str) -> i32 {
    println!("demo: copy-on-write, step by step. 'frames' are 4 KiB of physical memory.");
    let mut last = stats::now();
    stats::show("demo", "at the start", &last);

    let Ok(region) = Region::map(PAGES) else {
        println!("demo: FAILED: MAP {PAGES} pages");
        return 1;
    };
    step(
        &mut last,
        "1. MAP 1 MiB",
        "MAP only reserves addresses: no frame is taken until a page is touched.",
    );

    let zeros = region.first_difference(0..PAGES, 0).is_none();
    step(
        &mut last,
        "2. read every page",
        "Memory never written reads as zeros, so every page maps the one shared zero page: still no frames.",
    );
    if !zeros {
        println!("demo: FAILED: fresh memory did not read as zeros");
        return 1;
    }

    region.fill(0..PAGES, 1);
    step(
        &mut last,
        "3. write every page",
        "A write to the zero page gets a frame of its own, filled with zeros first: 256 frames taken.",
    );

    let child = match task::fork() {
        Ok(Fork::Child) => {
            // Let the parent print its step first.
            task::sleep(50);
            let mut mine = stats::now();
            region.fill(0..CHILD_PAGES, 2);
            step(
                &mut mine,
                "5. (child) write 16 pages",
                "Each write faults on a read-only shared page; the kernel copies just that page: 16 copies.",
            );
            task::exit(0)
        }
        Ok(Fork::Parent { child }) => child,
        Err(error) => {
            println!("demo: FAILED: FORK: {error}");
            return 1;
        }
    };
    step(
        &mut last,
        "4. FORK",
        "The child maps the parent's frames, read-only in both: none of the megabyte is copied, only page \
         tables are made (a copy here is a stack page the parent wrote since).",
    );
    let status = task::wait(Some(child));
    last = stats::now();
    if status != Ok((child, ExitStatus::Exited(0))) {
        println!("demo: FAILED: the child ended with {status:?}");
        return 1;
    }
    println!("demo: the child has exited; its 16 copies and its page tables are free again.");

    region.fill(0..PAGES, 3);
    step(
        &mut last,
        "6. the parent writes every page again",
        "Its pages are still read-only, but no one else holds their frames now: each fault just makes the \
         page writable again (a reuse), copying nothing and taking no frame.",
    );
    println!("demo: done");
    0
}

/// Prints what step `title` did, `why`, and the counters now, with the frames taken since `last`, which
/// becomes now.
fn step(last: &mut MemStats, title: &str, why: &str) {
    let now = stats::now();
    let taken = last.frames_free as i64 - now.frames_free as i64;
    println!("demo:");
    println!("demo: {title}: {why}");
    println!(
        "demo: frames taken: {taken}; copy-on-write copies: +{}, reuses: +{}; zero-fill faults: +{}",
        now.cow_copies.saturating_sub(last.cow_copies),
        now.cow_reuses.saturating_sub(last.cow_reuses),
        now.zero_fill_faults.saturating_sub(last.zero_fill_faults),
    );
    stats::show("demo", "now", &now);
    *last = now;
}
