//! `forkstress <seed> <cycles> [pages=32] [live=4] [writes=12] [sleep_ms=30]`: fork/write/exit cycles
//! while the kernel merges pages (KSM), every task checking that its memory holds exactly what it wrote.
//!
//! Copy-on-write after a fork and page merging both map one frame into several places and rely on the
//! write fault to split them again at the right moment. A lost write (a task's page goes back to old
//! bytes) or a foreign one (another task's write shows in it) would mean a frame shared when it should
//! not be, a copy made from the wrong frame, or a merge of pages that were not the same. This program
//! makes those moments as frequent as it can and checks every byte after each of them.
//!
//! The parent maps `pages` pages, fills each with one of four page patterns (one of them all zeros, for
//! the merges onto the zero page), so most pages have identical twins, and marks them `MERGEABLE`. Then
//! it runs `cycles` cycles, keeping up to `live` children alive: each cycle it forks a child, then writes
//! `writes` random pages (they stay private while it waits for a child, so the scanner merges them and
//! later children inherit them merged). The child checks every page against what it inherited, writes
//! `writes` pages, sleeps until the scanner has made two more full passes (at most `sleep_ms` ms) so it
//! can merge them, checks again, writes `writes` more (three in four to the pages it wrote first, merged
//! by then), checks again and exits. Whenever a child ends the parent checks its status and all of its
//! own memory.
//!
//! A write either fills a whole page with a pattern (so pages keep becoming identical and merged again)
//! or stamps one word with a value no other task writes: `0xA5` in the top byte, the writer's task number
//! (the cycle that forked it; 0 for the parent) in bits 32 to 55 and the writer's write count below. A
//! stamp seen where it does not belong names the task that wrote it. Each task keeps its model of every
//! page (pattern and stamp) and compares the whole page, word by word, with it.
//!
//! Every choice comes from the seeded generator `cowpi_programs::rng` (each child's from a seed the parent
//! drew), so a seed always makes the same writes; only the scanner's timing varies. A mismatch prints
//! `forkstress: FAILED: <task> <when>: page P word W holds F, expected E (...)` and the seed. The run ends
//! with a summary line: cycles, children, pages and words checked, writes, and what the kernel counted
//! meanwhile (`MEMSTATS` before and after: merges, unmerges, zero pages merged, full scans, COW faults).
//!
//! Exit status: 0 when every check passed; 1 if the parent's own memory was wrong; 3 if a child failed
//! (its own code is printed: 10 wrong at its start, 11 after its sleep, 12 at its end, 101 a panic);
//! 4 if a system call the run needs failed; 2 for bad arguments.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use cowpi_programs::region::{Difference, Region, WORDS_PER_PAGE};
use cowpi_programs::rng::Rng;
use cowpi_programs::{args, stats};
use cowpi_user::abi::layout::PAGE_SIZE;
use cowpi_user::task::{self, Fork};
use cowpi_user::{ExitStatus, MemStats, entry, memory, println, time};

entry!(main);

const USAGE: &str = "usage: forkstress <seed> <cycles> [pages=32] [live=4] [writes=12] [sleep_ms=30]";

/// Page patterns: pattern 0 is all zeros, the others a tag, their number and the word's index.
const PATTERNS: u64 = 4;
const PATTERN_TAG: u64 = 0x5A;
const STAMP_TAG: u64 = 0xA5;
/// Task numbers fit the 24 bits a stamp has for them.
const MAX_CYCLES: u64 = (1 << 24) - 1;

/// The parent's exit codes.
const PARENT_MEMORY_WRONG: i32 = 1;
const BAD_ARGUMENTS: i32 = 2;
const CHILD_FAILED: i32 = 3;
const SYSTEM_CALL_FAILED: i32 = 4;

/// What the run is told to do.
#[derive(Debug, Clone, Copy)]
struct Config {
    seed: u64,
    cycles: u64,
    pages: usize,
    live: usize,
    writes: usize,
    sleep_ms: u64,
}

impl Config {
    fn parse(args: &str) -> Option<Config> {
        if args.split_whitespace().count() < 2 {
            return None;
        }
        let (Ok(seed), Ok(cycles)) = (args::number(args, 0, 0), args::number(args, 1, 0)) else {
            return None;
        };
        if !(1..=MAX_CYCLES).contains(&cycles) {
            return None;
        }
        let mut config = Config { seed, cycles, pages: 32, live: 4, writes: 12, sleep_ms: 30 };
        for option in args.split_whitespace().skip(2) {
            let (name, value) = option.split_once('=')?;
            let value: u64 = value.parse().ok()?;
            match name {
                "pages" if (1..=4096).contains(&value) => config.pages = value as usize,
                "live" if (1..=64).contains(&value) => config.live = value as usize,
                "writes" if value <= 4096 => config.writes = value as usize,
                "sleep_ms" if value <= 1000 => config.sleep_ms = value,
                _ => return None,
            }
        }
        Some(config)
    }
}

/// When a task checked its memory: the child's stages have exit codes of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    ChildStart,
    ChildAfterSleep,
    ChildEnd,
    ParentAfterWait { cycle: u64 },
    ParentEnd,
}

impl Stage {
    fn exit_code(self) -> i32 {
        match self {
            Stage::ChildStart => 10,
            Stage::ChildAfterSleep => 11,
            Stage::ChildEnd => 12,
            Stage::ParentAfterWait { .. } | Stage::ParentEnd => PARENT_MEMORY_WRONG,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::ChildStart => f.write_str("at its start (what it inherited)"),
            Stage::ChildAfterSleep => f.write_str("after its first writes and its sleep"),
            Stage::ChildEnd => f.write_str("at its end"),
            Stage::ParentAfterWait { cycle } => write!(f, "after a wait in cycle {cycle}"),
            Stage::ParentEnd => f.write_str("at the end"),
        }
    }
}

/// What a word holds, decoded for a failure message.
struct Described(u64);

impl fmt::Display for Described {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.0;
        let (tag, middle, low) = (value >> 56, (value >> 32) & 0xff_ffff, value & 0xffff_ffff);
        if value == 0 {
            f.write_str("zero")
        } else if tag == PATTERN_TAG && middle < PATTERNS && low < WORDS_PER_PAGE as u64 {
            write!(f, "pattern {middle} word {low}")
        } else if tag == STAMP_TAG {
            write!(f, "stamp of task {middle}, its write {low}")
        } else {
            f.write_str("written by no task")
        }
    }
}

/// A word that did not hold what its task wrote.
struct Mismatch {
    /// The task number: the cycle that forked it, 0 for the parent.
    task: u64,
    stage: Stage,
    page: usize,
    word: usize,
    found: u64,
    expected: u64,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Mismatch { task, stage, page, word, found, expected } = *self;
        write!(
            f,
            "task {task} {stage}: page {page} word {word} holds {found:#018x} ({}), expected {expected:#018x} ({})",
            Described(found),
            Described(expected)
        )
    }
}

/// Word `word` of a page filled with pattern `pattern`: the same in every page and every task, so pages
/// of one pattern can merge.
fn pattern_word(pattern: u8, word: usize) -> u64 {
    if pattern == 0 { 0 } else { PATTERN_TAG << 56 | u64::from(pattern) << 32 | word as u64 }
}

/// What one page should hold: a pattern, with at most one word stamped.
#[derive(Debug, Clone, Copy)]
struct PageModel {
    pattern: u8,
    stamp: Option<(usize, u64)>,
}

impl PageModel {
    fn word(&self, word: usize) -> u64 {
        match self.stamp {
            Some((stamped, value)) if stamped == word => value,
            _ => pattern_word(self.pattern, word),
        }
    }
}

/// One task's view of the region: its model, its generator and what it has done.
struct Task<'a> {
    /// The cycle that forked it, 0 for the parent.
    number: u64,
    region: &'a Region,
    model: Vec<PageModel>,
    rng: Rng,
    writes: u64,
    pages_checked: u64,
}

impl Task<'_> {
    fn below(&mut self, n: usize) -> usize {
        self.rng.below(n as u64) as usize
    }

    fn random_pattern(&mut self) -> u8 {
        self.rng.below(PATTERNS) as u8
    }

    /// Fills `page` with `pattern`, in memory and in the model.
    fn fill(&mut self, page: usize, pattern: u8) {
        self.model[page] = PageModel { pattern, stamp: None };
        for word in 0..WORDS_PER_PAGE {
            self.region.write(page, word, pattern_word(pattern, word));
        }
    }

    /// Makes one random write to `page`, in memory and in the model.
    fn write(&mut self, page: usize) {
        self.writes += 1;
        // Three writes in five fill the page, so pages keep becoming identical to others.
        if self.rng.below(5) < 3 {
            let pattern = self.random_pattern();
            self.fill(page, pattern);
        } else {
            let word = self.below(WORDS_PER_PAGE);
            let model = &mut self.model[page];
            let value = STAMP_TAG << 56 | self.number << 32 | (self.writes & 0xffff_ffff);
            if let Some((old, _)) = model.stamp.take() {
                self.region.write(page, old, pattern_word(model.pattern, old));
            }
            model.stamp = Some((word, value));
            self.region.write(page, word, value);
        }
    }

    /// Writes `count` random pages; returns them.
    fn write_random(&mut self, count: usize) -> Vec<usize> {
        let pages = self.region.pages();
        let written: Vec<usize> = (0..count).map(|_| self.below(pages)).collect();
        for &page in &written {
            self.write(page);
        }
        written
    }

    /// Compares every page with the model, word by word.
    fn check(&mut self, stage: Stage) -> Result<(), Mismatch> {
        for (page, model) in self.model.iter().enumerate() {
            if let Some(Difference { page, word, found, expected }) =
                self.region.page_difference(page, |word| model.word(word))
            {
                return Err(Mismatch { task: self.number, stage, page, word, found, expected });
            }
        }
        self.pages_checked += self.model.len() as u64;
        Ok(())
    }
}

fn main(args: &str) -> i32 {
    let Some(config) = Config::parse(args) else {
        println!("{USAGE}");
        return BAD_ARGUMENTS;
    };
    let before = stats::now();
    if before.size < MemStats::SIZE as u64 {
        println!(
            "forkstress: FAILED: MEMSTATS filled {} bytes, not {}: no merge counters",
            before.size,
            MemStats::SIZE
        );
        return SYSTEM_CALL_FAILED;
    }
    let region = match Region::map(config.pages) {
        Ok(region) => region,
        Err(error) => {
            println!("forkstress: FAILED: MAP of {} pages: {error}", config.pages);
            return SYSTEM_CALL_FAILED;
        }
    };
    let mut parent = Task {
        number: 0,
        region: &region,
        model: vec![PageModel { pattern: 0, stamp: None }; config.pages],
        rng: Rng::new(config.seed),
        writes: 0,
        pages_checked: 0,
    };
    for page in 0..config.pages {
        let pattern = parent.random_pattern();
        parent.fill(page, pattern);
    }
    if let Err(error) = memory::mergeable(region.address(), config.pages * PAGE_SIZE as usize) {
        println!("forkstress: FAILED: MERGEABLE: {error}");
        return SYSTEM_CALL_FAILED;
    }
    let started = time::ticks();
    let mut run = Run { config, children: 0, live: 0, failure: 0 };
    run.cycles(&mut parent);
    let after = stats::now();
    let elapsed_ms = time::ticks_to_ns(time::ticks() - started) / 1_000_000;
    run.summary(&parent, &before, &after, elapsed_ms);
    run.failure
}

/// The parent's side of the run.
struct Run {
    config: Config,
    /// Children that ended with status 0: each checked every page three times and wrote twice `writes`
    /// pages.
    children: u64,
    live: usize,
    /// The exit code: 0 until something fails.
    failure: i32,
}

impl Run {
    fn cycles(&mut self, parent: &mut Task) {
        for cycle in 1..=self.config.cycles {
            while self.live >= self.config.live && self.failure == 0 {
                self.reap(parent, Stage::ParentAfterWait { cycle });
            }
            if self.failure != 0 {
                break;
            }
            let child_seed = parent.rng.next_u64();
            match task::fork() {
                Ok(Fork::Child) => child(cycle, child_seed, parent, self.config),
                Ok(Fork::Parent { .. }) => self.live += 1,
                Err(error) => {
                    println!(
                        "forkstress: FAILED: FORK in cycle {cycle}: {error} (seed {})",
                        self.config.seed
                    );
                    self.failure = SYSTEM_CALL_FAILED;
                }
            }
            // After the fork, not before: the pages written now stay private until the next fork, while
            // the parent waits for a child, long enough for the scanner to merge them; the next children
            // inherit them merged, and their writes and the parent's unmerge them.
            parent.write_random(self.config.writes);
        }
        while self.live > 0 {
            self.reap(parent, Stage::ParentEnd);
        }
        if self.failure == 0
            && let Err(mismatch) = parent.check(Stage::ParentEnd)
        {
            self.fail_memory(&mismatch);
        }
    }

    /// Waits for any child, checks how it ended, then checks the parent's own memory.
    fn reap(&mut self, parent: &mut Task, stage: Stage) {
        let (pid, status) = match task::wait(None) {
            Ok(ended) => ended,
            Err(error) => {
                println!("forkstress: FAILED: WAIT with {} children alive: {error}", self.live);
                self.live = 0;
                self.failure = SYSTEM_CALL_FAILED;
                return;
            }
        };
        self.live -= 1;
        if status == ExitStatus::Exited(0) {
            self.children += 1;
        } else {
            println!("forkstress: FAILED: child pid {pid} ended with {status} (seed {})", self.config.seed);
            if self.failure == 0 {
                self.failure = CHILD_FAILED;
            }
        }
        if self.failure == 0
            && let Err(mismatch) = parent.check(stage)
        {
            self.fail_memory(&mismatch);
        }
    }

    fn fail_memory(&mut self, mismatch: &Mismatch) {
        println!("forkstress: FAILED: {mismatch} (seed {})", self.config.seed);
        self.failure = PARENT_MEMORY_WRONG;
    }

    fn summary(&self, parent: &Task, before: &MemStats, after: &MemStats, elapsed_ms: u64) {
        let Config { seed, cycles, pages, live, writes, .. } = self.config;
        let delta = |field: fn(&MemStats) -> u64| field(after).saturating_sub(field(before));
        let pages_checked = parent.pages_checked + self.children * 3 * pages as u64;
        let child_writes = self.children * 2 * writes as u64;
        println!(
            "forkstress: seed {seed}: {cycles} cycles, {} children ok (at most {live} alive), {pages} pages each; \
             {pages_checked} pages ({} words) checked, {} writes; kernel meanwhile: {} merges, {} unmerges, \
             {} zero pages merged, {} full scans, {} cow faults ({} copies, {} reuses); {elapsed_ms} ms: {}",
            self.children,
            pages_checked * WORDS_PER_PAGE as u64,
            parent.writes + child_writes,
            delta(|s| s.ksm_merges),
            delta(|s| s.ksm_unmerges),
            delta(|s| s.ksm_zero_pages_merged),
            delta(|s| s.ksm_full_scans),
            delta(|s| s.cow_faults),
            delta(|s| s.cow_copies),
            delta(|s| s.cow_reuses),
            if self.failure == 0 { "ok" } else { "FAILED" }
        );
    }
}

/// The child's side of a cycle: never returns. `me` is the child's copy of the parent's task.
fn child(cycle: u64, seed: u64, me: &mut Task, config: Config) -> ! {
    me.number = cycle;
    me.rng = Rng::new(seed);
    me.writes = 0;
    me.pages_checked = 0;
    match child_cycle(me, config) {
        Ok(()) => task::exit(0),
        Err(mismatch) => {
            println!("forkstress: FAILED: {mismatch} (seed {}, pid {})", config.seed, task::getpid());
            task::exit(mismatch.stage.exit_code())
        }
    }
}

fn child_cycle(me: &mut Task, config: Config) -> Result<(), Mismatch> {
    me.check(Stage::ChildStart)?;
    let first = me.write_random(config.writes);
    wait_for_scans(config.sleep_ms);
    me.check(Stage::ChildAfterSleep)?;
    // Mostly the pages written first: private since, so the scanner may have merged them meanwhile.
    for (index, &written) in first.iter().enumerate() {
        let page = if index % 4 < 3 { written } else { me.below(config.pages) };
        me.write(page);
    }
    task::yield_now();
    me.check(Stage::ChildEnd)
}

/// How often a sleeping child looks at the scanner's progress. Every look costs a wake-up and a system
/// call, each a context switch; in QEMU those cost a good deal of host time.
const POLL_MS: u64 = 3;

/// Sleeps until the scanner has finished two more full passes (a page is merged at its second unchanged
/// visit at the earliest), or for `most_ms` ms if it does not get that far (it may be off).
fn wait_for_scans(most_ms: u64) {
    let target = stats::now().ksm_full_scans + 2;
    let mut slept = 0;
    while slept < most_ms {
        task::sleep(POLL_MS);
        slept += POLL_MS;
        if stats::now().ksm_full_scans >= target {
            return;
        }
    }
}
