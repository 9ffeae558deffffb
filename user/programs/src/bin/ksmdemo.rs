//! `ksmdemo`: page merging (KSM), watched from outside, for people learning how it works.
//!
//! It starts four `ksmfill` children: three fill 256 pages each with the same bytes (every page alike,
//! and alike in all three), one fills 64 pages that are all different. Each marks its pages `MERGEABLE`
//! and holds them for 1.5 s. Meanwhile `ksmdemo` prints, every 200 ms, how many frames the children use
//! and the kernel's page-merging counters from `MEMSTATS`: if merging is on (the shell's `ksm on`; a
//! program cannot switch it on), the kernel's merging task folds the 768 alike pages into one frame in the
//! background and the frames in use fall from about 832 to about 65. Then it waits for the children and
//! sums up. Exits with 0, or 1 if a child could not be started or failed its checks.
#![no_std]
#![no_main]

use cowpi_programs::stats;
use cowpi_user::{ExitStatus, entry, println, task};

entry!(main);

/// The children: program arguments, and how many pages each fills.
const CHILDREN: [(&str, u64); 4] =
    [("same 256 1500", 256), ("same 256 1500", 256), ("same 256 1500", 256), ("unique 64 1500", 64)];

/// How often the counters are printed, and how many times, while the children hold their pages.
const TICK_MS: u64 = 200;
const TICKS: u64 = 7;

fn main(_args: &str) -> i32 {
    println!("ksmdemo: page merging (KSM), step by step. 'frames' are 4 KiB of physical memory.");
    println!(
        "ksmdemo: Three children fill 256 pages each with the same bytes (every page alike, in all three); a \
         fourth fills 64 pages that are all different. Each marks its pages MERGEABLE and holds them 1.5 s."
    );
    println!(
        "ksmdemo: The kernel's merging task scans marked pages in the background. A page that has not \
         changed since its last scan and is identical to another is mapped to one read-only, copy-on-write \
         frame shared by both, and its own frame goes back to the free list. A later write gets a copy again."
    );
    println!(
        "ksmdemo: If the ksm counters below stay at 0, merging is off: type `ksm on` at the shell and run \
         ksmdemo again (a program cannot switch it on)."
    );
    let before = stats::now();
    stats::show_ksm("ksmdemo", "before", &before);

    let mut pids = [0; CHILDREN.len()];
    for (pid, (args, _)) in pids.iter_mut().zip(CHILDREN) {
        match task::spawn("ksmfill", args) {
            Ok(child) => *pid = child,
            Err(error) => {
                println!("ksmdemo: FAILED: SPAWN ksmfill {args}: {error}");
                return 1;
            }
        }
    }
    let unmerged: u64 = CHILDREN.iter().map(|(_, pages)| pages).sum();
    println!(
        "ksmdemo: Without merging the children need {unmerged} frames for their pages, plus a few each for \
         page tables and stacks. With it, the 768 alike pages need 1."
    );

    let (mut peak, mut lowest_after_peak, mut most_sharing) = (0, 0, 0);
    let mut last = before;
    for tick in 1..=TICKS {
        task::sleep(TICK_MS);
        let now = stats::now();
        let in_use = stats::frames_taken(&before, &now);
        if in_use >= peak {
            (peak, lowest_after_peak) = (in_use, in_use);
        } else {
            lowest_after_peak = lowest_after_peak.min(in_use);
        }
        println!(
            "ksmdemo: {} ms: {in_use} frames in use by the children; ksm: {} pages shared, {} sharing, {} \
             full scans, {} zero pages merged",
            tick * TICK_MS,
            now.ksm_pages_shared,
            now.ksm_pages_sharing,
            now.ksm_full_scans,
            now.ksm_zero_pages_merged,
        );
        if now.ksm_pages_sharing > last.ksm_pages_sharing {
            println!(
                "ksmdemo:   merged {} more pages: their frames are free again",
                now.ksm_pages_sharing - last.ksm_pages_sharing
            );
        }
        most_sharing = most_sharing.max(now.ksm_pages_sharing);
        last = now;
    }

    let mut failed = false;
    for pid in pids {
        let status = task::wait(Some(pid));
        if status != Ok((pid, ExitStatus::Exited(0))) {
            println!("ksmdemo: FAILED: ksmfill {pid} ended with {status:?}");
            failed = true;
        }
    }
    let after = stats::now();
    stats::show_ksm("ksmdemo", "after the children exited", &after);

    println!("ksmdemo:");
    if after.ksm_full_scans == before.ksm_full_scans && last.ksm_pages_sharing == 0 {
        println!(
            "ksmdemo: The merging task finished no scan and merged nothing: merging is off. Type `ksm on` \
             and run ksmdemo again."
        );
    } else {
        println!(
            "ksmdemo: The children's memory peaked at {peak} frames (when we looked: merging may have begun \
             before) and fell to {lowest_after_peak}. At most {most_sharing} pages shared a merged frame \
             with another: that many frames saved. Every child still found its data intact (see its ok \
             lines): merging changes which frame holds a page, never what the page holds."
        );
    }
    println!(
        "ksmdemo: The children have exited and their frames are free again: {} free (before: {}); a merged \
         frame no task maps any more is given back on the scanner's next pass.",
        after.frames_free, before.frames_free
    );
    if failed { 1 } else { 0 }
}
