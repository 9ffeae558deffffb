//! `ksmfill <kind> <pages> <hold_ms> [write]`: fills pages for the kernel's page-merging task (KSM) to
//! find, holds them, and checks that merging never changed a byte.
//!
//! It maps `<pages>` pages read-write and fills them according to `<kind>`:
//!
//! - `same`: byte `i` of every page is `i * 7` (mod 256), in every page and in every task that runs
//!   `ksmfill same`: all of them can share one frame.
//! - `unique`: every 8-byte word says which task, page and word it is (the pattern of `Region`, with the
//!   pid as seed): no two pages anywhere are alike, so nothing can merge.
//! - `zero`: writes zeros into every page. The writes give each page a frame of its own (a zero-fill
//!   fault); the merging task should later find them all zeros and map them to the shared zero page.
//! - `volatile-same`: the `same` pattern with the same counter: at any moment all its pages are alike,
//!   so only their changing keeps them from being merged.
//! - `volatile`: the `unique` pattern with a counter in bits 32 to 39 of every word, rewritten with the
//!   next count every 5 ms while it holds: the pages never stay the same long enough to be merged.
//!
//! Then it marks the pages `MERGEABLE`, prints `ksmfill <pid>: filled <pages> <kind> pages`, and holds
//! them for `<hold_ms>` ms, sleeping in steps of 5 ms. With `write`, halfway through it writes 0xAB into
//! byte 0 of page 0 (if that page was merged, the write faults and the kernel gives it a copy of its own)
//! and checks that page 0 changed in exactly that byte and every other page did not change. At the end it
//! checks that every page holds exactly what it wrote, and prints the `MEMSTATS` page-merging counters.
//! Each check prints an `ok` or `FAILED` line; the exit status is the number of failures, 2 for bad
//! arguments.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use core::ops::Range;

use cowpi_programs::checks::Checks;
use cowpi_programs::region::{Difference, Region, WORDS_PER_PAGE};
use cowpi_programs::{args, stats};
use cowpi_user::abi::layout::PAGE_SIZE;
use cowpi_user::{entry, memory, println, task};

entry!(main);

const USAGE: &str = "usage: ksmfill same|unique|zero|volatile|volatile-same <pages> <hold_ms> [write]";

/// How long each sleep of the hold is, and how often `volatile` rewrites its pages.
const STEP_MS: u64 = 5;

/// What `write` puts into byte 0 of page 0.
const WRITTEN_BYTE: u8 = 0xAB;

/// What the pages are filled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Same,
    Unique,
    Zero,
    Volatile,
    VolatileSame,
}

impl Kind {
    fn parse(word: &str) -> Option<Kind> {
        match word {
            "same" => Some(Kind::Same),
            "unique" => Some(Kind::Unique),
            "zero" => Some(Kind::Zero),
            "volatile" => Some(Kind::Volatile),
            "volatile-same" => Some(Kind::VolatileSame),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Same => "same",
            Kind::Unique => "unique",
            Kind::Zero => "zero",
            Kind::Volatile => "volatile",
            Kind::VolatileSame => "volatile-same",
        }
    }
}

/// Everything that decides what a word of the pages should hold right now.
struct Content {
    kind: Kind,
    pid: u64,
    /// How many times `volatile` has filled its pages (1 after the first fill).
    round: u64,
    /// Whether byte 0 of page 0 has been overwritten with [`WRITTEN_BYTE`].
    written: bool,
}

impl Content {
    /// What word `word` of page `page` holds.
    fn word(&self, page: usize, word: usize) -> u64 {
        let value = match self.kind {
            Kind::Same => same_pattern(word),
            Kind::Unique => Region::pattern(self.pid, page, word),
            Kind::Zero => 0,
            Kind::Volatile => Region::pattern(self.pid, page, word) | (self.round & 0xff) << 32,
            Kind::VolatileSame => same_pattern(word) ^ (self.round & 0xff) << 32,
        };
        if self.written && page == 0 && word == 0 {
            // Little-endian: byte 0 of the page is the low byte of word 0.
            value & !0xff | u64::from(WRITTEN_BYTE)
        } else {
            value
        }
    }

    /// Writes every word of the region.
    fn fill(&self, region: &Region) {
        for page in 0..region.pages() {
            for word in 0..WORDS_PER_PAGE {
                region.write(page, word, self.word(page, word));
            }
        }
    }

    /// The first word of `pages` that does not hold what it should, if any.
    fn first_difference(&self, region: &Region, pages: Range<usize>) -> Option<Difference> {
        for page in pages {
            for word in 0..WORDS_PER_PAGE {
                let (found, expected) = (region.read(page, word), self.word(page, word));
                if found != expected {
                    return Some(Difference { page, word, found, expected });
                }
            }
        }
        None
    }

    /// Checks that `pages` hold what they should.
    fn check(&self, checks: &mut Checks, what: &str, region: &Region, pages: Range<usize>) {
        match self.first_difference(region, pages) {
            None => checks.that(what, true),
            Some(difference) => checks.check(what, false, format_args!("{difference}")),
        }
    }
}

/// Word `word` of a `same` page: bytes `8 * word` to `8 * word + 7`, byte `i` holding `i * 7` (mod 256).
fn same_pattern(word: usize) -> u64 {
    u64::from_le_bytes(core::array::from_fn(|k| ((8 * word + k) * 7) as u8))
}

fn main(args: &str) -> i32 {
    let mut words = args.split_whitespace();
    let kind = words.next().and_then(Kind::parse);
    let write = match words.nth(2) {
        None => false,
        Some("write") => true,
        Some(_) => {
            println!("{USAGE}");
            return 2;
        }
    };
    let (kind, pages, hold_ms) = match (kind, args::number(args, 1, 0), args::number(args, 2, u64::MAX)) {
        (Some(kind), Ok(pages @ 1..), Ok(hold_ms)) if hold_ms != u64::MAX => (kind, pages as usize, hold_ms),
        _ => {
            println!("{USAGE}");
            return 2;
        }
    };
    let pid = task::getpid();
    // The checks' lines name the task, so those of several ksmfills at once can be told apart.
    let name: &'static str = Box::leak(format!("ksmfill {pid}").into_boxed_str());
    let mut checks = Checks::new(name);
    stats::has_ksm_counters(&mut checks);

    let region = match Region::map(pages) {
        Ok(region) => region,
        Err(error) => {
            checks.check("MAP", false, format_args!("{pages} pages: {error}"));
            return checks.finish();
        }
    };
    let mut content = Content { kind, pid, round: 1, written: false };
    content.fill(&region);
    match memory::mergeable(region.address(), pages * PAGE_SIZE as usize) {
        Ok(()) => checks.that("MERGEABLE on every page", true),
        Err(error) => checks.check("MERGEABLE on every page", false, format_args!("{error}")),
    }
    println!("{name}: filled {pages} {} pages", kind.name());

    let steps = hold_ms.div_ceil(STEP_MS);
    for step in 0..steps {
        if write && step == steps / 2 {
            write_page_zero(name, &mut checks, &region, &mut content);
        }
        task::sleep(STEP_MS);
        if matches!(kind, Kind::Volatile | Kind::VolatileSame) {
            content.round += 1;
            content.fill(&region);
        }
    }
    if write && steps == 0 {
        write_page_zero(name, &mut checks, &region, &mut content);
    }

    content.check(&mut checks, "every page holds exactly what was written", &region, 0..pages);
    let now = stats::now();
    stats::show_ksm(name, "at the end", &now);
    println!(
        "{name}: at the end: this task: {} pages resident = {} shared + {} private; {} map the zero page",
        now.resident_pages, now.shared_pages, now.private_pages, now.zero_pages
    );
    checks.finish()
}

/// Writes [`WRITTEN_BYTE`] into byte 0 of page 0 (by rewriting word 0 with its low byte changed) and checks
/// that this changed nothing else.
fn write_page_zero(name: &str, checks: &mut Checks, region: &Region, content: &mut Content) {
    content.written = true;
    region.write(0, 0, content.word(0, 0));
    println!("{name}: wrote {WRITTEN_BYTE:#04x} into byte 0 of page 0");
    content.check(checks, "after the write, page 0 differs in byte 0 only", region, 0..1);
    content.check(checks, "after the write, every other page is unchanged", region, 1..region.pages());
}
