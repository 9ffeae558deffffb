//! `oomrace <racers> [forkers=<n>] [report=kills]`: many tasks reserve more than the machine's memory and
//! race to touch it; the kernel must kill some of them for want of frames and leave every survivor's data,
//! and a bystander's, exactly as written.
//!
//! `MAP` takes no frame until a page is touched, so every task can reserve more than all of RAM. Here:
//!
//! 1. The parent fills a few pages (the *shared* pages) that every task inherits at its fork, copy-on-write,
//!    and that nobody writes again: killing a task must drop its references to them and nothing more.
//! 2. It forks a **bystander**, which writes pages of its own before the storm, touches nothing new
//!    during it (it sleeps, reading `MEMSTATS`), and once every other task is gone checks its pages and the
//!    shared ones word for word.
//! 3. It forks `<racers>` **racers**. Each maps more pages than the machine has frames and writes its own
//!    pattern (`Region::pattern`, a seed per racer, so every word says whose and which it is) into every
//!    eighth word of page after page, yielding every few pages so that the racers interleave, up to a
//!    quota: one and a half times the free frames, shared out, but at most three quarters of them, so that
//!    each quota fits alone and all of them together cannot. A racer that reaches its quota checks every
//!    page it wrote, every byte (the words it did not write must still be zeros), and the shared pages,
//!    and exits with 0; one that finds a difference exits with [`CORRUPT`].
//! 4. The first `forkers` racers also fork a **checker** halfway through, when memory is already scarce:
//!    fork under pressure (its page tables need frames) may fail with `OutOfMemory`, which is allowed. The
//!    checker reads the pages it inherited, rewrites some (copy-on-write copies, which need frames too),
//!    and checks that it sees its own writes and its parent's pages; its parent checks that it does not
//!    see the checker's writes. A racer's status folds in its checker's ([`CHECKER_KILLED`],
//!    [`CHECKER_SAW_CORRUPTION`]); a checker whose parent was killed is adopted by this program and
//!    collected here.
//!
//! The parent collects everyone, counts exits and kills (status `-9`, "killed by the kernel (no memory
//! left for it)"), prints a summary with the figures, and checks (an `ok` or `FAILED` line each) that
//! every task ended as it should, at least one was killed, at least one racer survived, exactly as many
//! kills as `MEMSTATS`'s `oom_kills` grew by, and its own shared pages are intact. It exits with 0
//! when all of that holds, 1 otherwise. With `report=kills` it exits instead with the number of kills it
//! saw (at least 1) when everything holds and with 255 otherwise, so that a kernel test can compare that
//! number with the kernel's own count. 2 means bad arguments.
#![no_std]
#![no_main]

use core::ops::Range;

use cowpi_programs::checks::Checks;
use cowpi_programs::region::{Difference, Region, WORDS_PER_PAGE};
use cowpi_programs::{args, stack, stats};
use cowpi_user::abi::Signal;
use cowpi_user::task::{self, Fork};
use cowpi_user::{Error, ExitStatus, MemStats, entry, println, time};

entry!(main);

const USAGE: &str = "usage: oomrace <racers, 2 to 32> [forkers=<n>] [report=kills]";

/// Pages every task inherits from the parent and nobody rewrites.
const SHARED_PAGES: usize = 64;
const SHARED_SEED: u64 = 0x5A;
/// The bystander's own pages, written before the storm.
const BYSTANDER_PAGES: usize = 256;
const BYSTANDER_SEED: u64 = 0xB5;
/// Racer `i` writes with seed `RACER_SEED + i`; its checker with `CHECKER_SEED + i`.
const RACER_SEED: u64 = 0x100;
const CHECKER_SEED: u64 = 0x200;
/// A racer writes every `STRIDE`-th word of a page (one per 64-byte cache line, starting at a word that
/// depends on its seed) and checks all of them, the others included, which must still read as zeros:
/// eight times fewer stores than filling the page (the race writes more than all of RAM), and a frame
/// that was not zeroed (another racer's words lie elsewhere in the page) or was copied only in part still
/// shows.
const STRIDE: usize = 8;
/// A racer yields after this many pages, so that the racers' writes interleave.
const YIELD_EVERY: usize = 32;
/// The most inherited pages a checker rewrites.
const CHECKER_REWRITES: usize = 512;
/// How often the bystander looks whether the storm is over.
const BYSTANDER_POLL_MS: u64 = 5;

/// A racer's (and a checker's) exit codes besides 0.
const CHECKER_KILLED: u8 = 1;
const CORRUPT: u8 = 2;
const CHECKER_SAW_CORRUPTION: u8 = 3;
const MAP_FAILED: u8 = 4;
const CHECKER_ODD: u8 = 5;
/// The bystander's exit code when its pages changed (else 0).
const BYSTANDER_CORRUPT: u8 = 2;

struct Options {
    racers: usize,
    forkers: usize,
    report_kills: bool,
}

impl Options {
    fn parse(text: &str) -> Option<Options> {
        let racers = args::number(text, 0, 4).ok()? as usize;
        let mut options = Options { racers, forkers: 1, report_kills: false };
        for word in text.split_whitespace().skip(1) {
            if let Some(count) = word.strip_prefix("forkers=") {
                options.forkers = count.parse().ok()?;
            } else if word == "report=kills" {
                options.report_kills = true;
            } else {
                return None;
            }
        }
        (2..=32).contains(&options.racers).then_some(options)
    }
}

/// What the parent learnt from every status it collected.
#[derive(Default)]
struct Tally {
    survivors: usize,
    kills: usize,
    checkers_ok: usize,
    failures: usize,
}

fn main(text: &str) -> i32 {
    let Some(options) = Options::parse(text) else {
        println!("{USAGE}");
        return 2;
    };
    let started = time::ticks();
    let shared = match Region::map(SHARED_PAGES) {
        Ok(region) => region,
        Err(error) => {
            println!("oomrace: FAILED: MAP {SHARED_PAGES} pages: {error}");
            return failure(&options);
        }
    };
    shared.fill(0..SHARED_PAGES, SHARED_SEED);
    let before = stats::now();
    let quota = quota(before.frames_free as usize, options.racers);
    let reserved = before.frames_total as usize + 1;
    println!(
        "oomrace: {} racers ({} forking a checker halfway), {} free frames: each reserves {reserved} pages \
         and writes {quota}, {} in all",
        options.racers,
        options.forkers.min(options.racers),
        before.frames_free,
        quota * options.racers
    );
    let bystander = match task::fork() {
        Ok(Fork::Child) => bystander(&shared, before.tasks + 1),
        Ok(Fork::Parent { child }) => child,
        Err(error) => {
            println!("oomrace: FAILED: FORK the bystander: {error}");
            return failure(&options);
        }
    };
    let mut racers = [0_u64; 32];
    for index in 0..options.racers {
        let fork_at = (index < options.forkers).then_some(quota / 2);
        match task::fork() {
            Ok(Fork::Child) => racer(index, &shared, reserved, quota, fork_at),
            Ok(Fork::Parent { child }) => racers[index] = child,
            Err(error) => {
                println!("oomrace: FAILED: FORK racer {index} before the storm: {error}");
                return failure(&options);
            }
        }
    }
    stack::prefault();
    let tally = collect(&racers[..options.racers], bystander);
    let after = stats::now();
    report(&options, &tally, &shared, quota, &before, &after, started)
}

/// Each racer's quota: one and a half times the free frames, shared out, but at most three quarters of
/// them, so that each fits alone and together they cannot.
fn quota(free: usize, racers: usize) -> usize {
    (free * 3 / 2 / racers).min(free * 3 / 4)
}

/// The bystander: writes its pages, then waits, touching nothing new, until it and the parent are the
/// only tasks of the program left (`tasks_alone` tasks on the machine), and checks its pages and the
/// shared ones.
fn bystander(shared: &Region, tasks_alone: u64) -> ! {
    let Ok(own) = Region::map(BYSTANDER_PAGES) else {
        println!("oomrace: FAILED: the bystander could not MAP {BYSTANDER_PAGES} pages");
        task::exit(i32::from(MAP_FAILED))
    };
    own.fill(0..BYSTANDER_PAGES, BYSTANDER_SEED);
    stack::prefault();
    let kills_before = stats::now().oom_kills;
    let mut seen_more = false;
    loop {
        task::sleep(BYSTANDER_POLL_MS);
        let tasks = stats::now().tasks;
        seen_more |= tasks > tasks_alone;
        if seen_more && tasks <= tasks_alone {
            break;
        }
    }
    let kills = stats::now().oom_kills - kills_before;
    let own_difference = own.first_difference(0..BYSTANDER_PAGES, BYSTANDER_SEED);
    let shared_difference = shared.first_difference(0..SHARED_PAGES, SHARED_SEED);
    match (own_difference, shared_difference) {
        (None, None) => {
            println!(
                "oomrace: bystander: my {BYSTANDER_PAGES} pages and the {SHARED_PAGES} shared ones are intact \
                 after a storm of {kills} out-of-memory kills"
            );
            task::exit(0)
        }
        (Some(difference), _) => println!("oomrace: FAILED: the bystander's own pages: {difference}"),
        (None, Some(difference)) => {
            println!("oomrace: FAILED: the shared pages, seen by the bystander: {difference}")
        }
    }
    task::exit(i32::from(BYSTANDER_CORRUPT))
}

/// A racer: reserves `reserved` pages, writes `quota` of them (forking a checker after `fork_at`), checks
/// them all and exits; or is killed on the way.
fn racer(index: usize, shared: &Region, reserved: usize, quota: usize, fork_at: Option<usize>) -> ! {
    let seed = RACER_SEED + index as u64;
    let region = match Region::map(reserved) {
        Ok(region) => region,
        Err(error) => {
            println!("oomrace: FAILED: racer {index}: MAP {reserved} pages: {error}");
            task::exit(i32::from(MAP_FAILED))
        }
    };
    let mut checker = None;
    for page in 0..quota {
        write_sparse(&region, page..page + 1, seed);
        if page % YIELD_EVERY == YIELD_EVERY - 1 {
            task::yield_now();
        }
        if fork_at == Some(page + 1) {
            checker = fork_checker(index, &region, page + 1, seed);
        }
    }
    if let Some(difference) = sparse_difference(&region, 0..quota, seed) {
        println!("oomrace: FAILED: racer {index}: its own pages: {difference}");
        task::exit(i32::from(CORRUPT))
    }
    if let Some(difference) = shared.first_difference(0..SHARED_PAGES, SHARED_SEED) {
        println!("oomrace: FAILED: racer {index}: the shared pages: {difference}");
        task::exit(i32::from(CORRUPT))
    }
    let code = match checker.map(|pid| task::wait(Some(pid))) {
        None => 0,
        Some(Ok((_, ExitStatus::Exited(0)))) => 0,
        Some(Ok((_, ExitStatus::Killed(Signal::Killed)))) => CHECKER_KILLED,
        Some(Ok((_, ExitStatus::Exited(CHECKER_SAW_CORRUPTION)))) => CHECKER_SAW_CORRUPTION,
        Some(other) => {
            println!("oomrace: FAILED: racer {index}: its checker: {other:?}");
            CHECKER_ODD
        }
    };
    task::exit(i32::from(code))
}

/// Forks the checker of racer `index`, which inherits `written` pages of `region`; returns its pid, or
/// None if the fork failed for want of memory (allowed under pressure). In the child, never returns.
fn fork_checker(index: usize, region: &Region, written: usize, seed: u64) -> Option<u64> {
    match task::fork() {
        Ok(Fork::Parent { child }) => Some(child),
        Ok(Fork::Child) => checker(index, region, written, seed),
        Err(Error::OutOfMemory) => {
            println!("oomrace: racer {index}: FORK under pressure: out of memory (allowed)");
            None
        }
        Err(error) => {
            println!("oomrace: FAILED: racer {index}: FORK under pressure: {error}");
            task::exit(i32::from(CHECKER_ODD))
        }
    }
}

/// A checker: checks the `written` pages inherited from racer `index`, rewrites the first few with its
/// own seed (copy-on-write copies), and checks that it sees exactly its writes and the racer's pages.
fn checker(index: usize, region: &Region, written: usize, racer_seed: u64) -> ! {
    let own_seed = CHECKER_SEED + index as u64;
    let rewritten = written.min(CHECKER_REWRITES);
    let inherited = sparse_difference(region, 0..written, racer_seed);
    write_sparse(region, 0..rewritten, own_seed);
    let difference = inherited
        .or_else(|| sparse_difference(region, 0..rewritten, own_seed))
        .or_else(|| sparse_difference(region, rewritten..written, racer_seed));
    match difference {
        None => task::exit(0),
        Some(difference) => {
            println!("oomrace: FAILED: checker of racer {index}: {difference}");
            task::exit(i32::from(CHECKER_SAW_CORRUPTION))
        }
    }
}

/// What word `word` of page `page` of a racer's region holds once written with `seed` by
/// [`write_sparse`].
fn sparse_pattern(seed: u64, page: usize, word: usize) -> u64 {
    if word % STRIDE == first_word(seed) { Region::pattern(seed, page, word) } else { 0 }
}

/// The first word of each page that [`write_sparse`] writes with `seed`.
fn first_word(seed: u64) -> usize {
    (seed % STRIDE as u64) as usize
}

/// Writes every `STRIDE`-th word of `pages` with the pattern of `seed`.
fn write_sparse(region: &Region, pages: Range<usize>, seed: u64) {
    for page in pages {
        for word in (first_word(seed)..WORDS_PER_PAGE).step_by(STRIDE) {
            region.write(page, word, Region::pattern(seed, page, word));
        }
    }
}

/// The first word of `pages`, any word, that does not hold what [`write_sparse`] left there.
fn sparse_difference(region: &Region, pages: Range<usize>, seed: u64) -> Option<Difference> {
    pages.into_iter().find_map(|page| region.page_difference(page, |word| sparse_pattern(seed, page, word)))
}

/// Waits for every child, adopted checkers included, and tallies how each ended.
fn collect(racers: &[u64], bystander: u64) -> Tally {
    let mut tally = Tally::default();
    loop {
        let (pid, status) = match task::wait(None) {
            Ok(ended) => ended,
            Err(Error::NoChild) => return tally,
            Err(error) => {
                println!("oomrace: FAILED: WAIT: {error}");
                tally.failures += 1;
                return tally;
            }
        };
        let who = if pid == bystander {
            "the bystander"
        } else if racers.contains(&pid) {
            "a racer"
        } else {
            "an adopted checker"
        };
        match (who, status) {
            (_, ExitStatus::Killed(Signal::Killed)) => tally.kills += 1,
            ("the bystander", ExitStatus::Exited(0)) => {}
            ("a racer", ExitStatus::Exited(0)) => tally.survivors += 1,
            ("a racer", ExitStatus::Exited(CHECKER_KILLED)) => {
                tally.survivors += 1;
                tally.kills += 1;
            }
            ("an adopted checker", ExitStatus::Exited(0)) => tally.checkers_ok += 1,
            _ => {
                println!("oomrace: FAILED: {who} (task {pid}) {status}");
                tally.failures += 1;
            }
        }
    }
}

/// Prints the summary and returns the exit code.
fn report(
    options: &Options,
    tally: &Tally,
    shared: &Region,
    quota: usize,
    before: &MemStats,
    after: &MemStats,
    started: u64,
) -> i32 {
    let counted = (after.oom_kills - before.oom_kills) as usize;
    let ms = time::ticks_to_ns(time::ticks() - started) / 1_000_000;
    let checked = tally.survivors * quota;
    println!(
        "oomrace: {} racers: {} out-of-memory kills (the kernel counted {counted}), {} survivors; the \
         survivors wrote and checked {checked} pages ({} MiB) word for word; {} pages written in all \
         (zero-fill faults); {} adopted checkers exited intact; {} frames free before, {} after; {ms} ms",
        options.racers,
        tally.kills,
        tally.survivors,
        checked / 256,
        after.zero_fill_faults - before.zero_fill_faults,
        tally.checkers_ok,
        before.frames_free,
        after.frames_free
    );
    let mut checks = Checks::new("oomrace");
    checks.that("every task ended as it should (see above)", tally.failures == 0);
    checks.that("at least one task was killed for memory", tally.kills >= 1);
    checks.that("at least one racer survived", tally.survivors >= 1);
    checks.that("the kernel counted exactly the kills the parent saw", counted == tally.kills);
    shared.check_holds(
        &mut checks,
        "the shared pages are intact in the parent",
        0..SHARED_PAGES,
        SHARED_SEED,
    );
    let failed = checks.finish() != 0;
    match (failed, options.report_kills) {
        (true, _) => failure(options),
        (false, false) => 0,
        (false, true) => tally.kills.min(254) as i32,
    }
}

/// The exit code of a failed run.
fn failure(options: &Options) -> i32 {
    if options.report_kills { 255 } else { 1 }
}
