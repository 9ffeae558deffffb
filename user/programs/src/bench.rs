//! What the benchmark programs (`benchfault`, `benchfork`, `benchmem`, `benchksm`) share: mapped pages
//! touched one byte at a time, the benchmark lines, `MEMSTATS` checks, and how a failure is reported.
//!
//! The benchmarks time themselves with [`time::ticks`] around the measured code only and print one
//! `bench-sample:` or `bench-count:` line per repetition ([`sample`], [`count`]; the format is
//! `cowpi_console::bench`, which the host parses). They are not tests: no figure passes or fails. But a
//! figure is worth nothing if the kernel did not do what it claims to measure, so each program checks
//! the `MEMSTATS` counters around its measurements and, when something is off (a system call failed, a
//! counter moved by the wrong amount, data changed), returns a [`Failure`]; [`finish`] prints it as an
//! `error:` line and turns it into exit status 1.

extern crate alloc;

use alloc::string::String;
use core::fmt;

use cowpi_console::bench::{CountLine, SampleLine, Value};
use cowpi_user::abi::layout::PAGE_SIZE;
use cowpi_user::{Error, ExitStatus, MemStats, Prot, memory, println, task, time};

/// Bytes in a page, as a `usize` for pointer arithmetic.
pub const PAGE_BYTES: usize = PAGE_SIZE as usize;

/// Pages in a MiB.
pub const PAGES_PER_MIB: usize = 256;

/// Why a benchmark's figures cannot be trusted; printed as `error: <why>` by [`finish`].
#[derive(Debug)]
pub struct Failure(String);

impl Failure {
    pub fn new(why: fmt::Arguments) -> Failure {
        Failure(alloc::fmt::format(why))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The exit status of a benchmark that ran to `outcome`: 0, or 1 after printing the `error:` line.
pub fn finish(outcome: Result<(), Failure>) -> i32 {
    match outcome {
        Ok(()) => 0,
        Err(failure) => {
            println!("error: {failure}");
            1
        }
    }
}

/// Reports arguments the program cannot use and returns exit status 2.
pub fn bad_arguments(args: &str, usage: &str) -> i32 {
    println!("error: bad arguments {args:?}");
    println!("{usage}");
    2
}

/// Prints one repetition of a timed figure: `ticks` counter ticks for `ops` operations.
pub fn sample(figure: &str, labels: &[(&str, Value<'_>)], ticks: u64, ops: u64) {
    println!("{}", SampleLine { figure, labels, ticks, ops });
}

/// Prints one repetition of a counted figure.
pub fn count(figure: &str, labels: &[(&str, Value<'_>)], value: u64, unit: &str) {
    println!("{}", CountLine { figure, labels, value, unit });
}

/// The `MEMSTATS` counters now, from a kernel that fills at least `size` bytes of them (one of the
/// `MemStats` sizes): an older kernel leaves the later fields zero, which would read as "nothing happened".
pub fn memstats(size: usize) -> Result<MemStats, Failure> {
    let stats = memory::memstats().map_err(|error| Failure::new(format_args!("MEMSTATS: {error}")))?;
    if stats.size < size as u64 {
        return Err(Failure::new(format_args!(
            "MEMSTATS filled {} bytes, this benchmark needs {size}: the kernel is too old",
            stats.size
        )));
    }
    Ok(stats)
}

/// Frames in use on the whole machine.
pub fn frames_used(stats: &MemStats) -> u64 {
    stats.frames_total.saturating_sub(stats.frames_free)
}

/// Checks that a counter grew by `expected`, or by at most `slack` more: the program's own stack and the
/// `MEMSTATS` buffer may fault once or twice around the measured work, but less than that means the
/// work did not do what its figure claims.
pub fn check_growth(
    what: &str,
    counter: &str,
    before: u64,
    after: u64,
    expected: u64,
    slack: u64,
) -> Result<(), Failure> {
    let grown = after.wrapping_sub(before);
    if after < before || !(expected..=expected + slack).contains(&grown) {
        return Err(Failure::new(format_args!(
            "{what}: {counter} went from {before} to {after}, expected it to grow by {expected} \
             (at most {slack} more)"
        )));
    }
    Ok(())
}

/// Waits for `child` and checks that it exited with 0.
pub fn reap(what: &str, child: u64) -> Result<(), Failure> {
    match task::wait(Some(child)) {
        Ok((pid, ExitStatus::Exited(0))) if pid == child => Ok(()),
        other => {
            Err(Failure::new(format_args!("{what}: child {child} ended with {other:?}, expected exit 0")))
        }
    }
}

/// `milliseconds` in counter ticks.
pub fn ms_to_ticks(milliseconds: u64) -> u64 {
    (u128::from(milliseconds) * u128::from(time::frequency()) / 1000) as u64
}

/// Sleeps until the counter reaches `deadline`. `SLEEP` takes milliseconds, so this sleeps in rounded-up
/// steps and checks the counter after each, rather than trusting one conversion.
pub fn sleep_until(deadline: u64) {
    let per_ms = ms_to_ticks(1).max(1);
    loop {
        let now = time::ticks();
        if now >= deadline {
            return;
        }
        task::sleep((deadline - now).div_ceil(per_ms));
    }
}

/// Pages of anonymous read-write memory, mapped until [`Pages::unmap`] (or the task's end).
///
/// The pages are only ever touched with volatile reads and writes through raw pointers, never through a
/// Rust reference: every access in a timed loop really reaches memory and really faults, which is what
/// is measured, and nothing the compiler assumed breaks when the kernel swaps a frame underneath.
pub struct Pages {
    start: *mut u8,
    pages: usize,
}

impl Pages {
    /// Maps `pages` pages; the kernel gives them frames only when they are touched.
    pub fn map(pages: usize) -> Result<Pages, Failure> {
        let mapped = pages
            .checked_mul(PAGE_BYTES)
            .ok_or(Error::InvalidArgument)
            .and_then(|bytes| memory::map(bytes, Prot::READ_WRITE));
        match mapped {
            Ok(start) => Ok(Pages { start, pages }),
            Err(error) => Err(Failure::new(format_args!("MAP of {pages} pages: {error}"))),
        }
    }

    pub fn pages(&self) -> usize {
        self.pages
    }

    pub fn address(&self) -> *const u8 {
        self.start
    }

    /// The size of the mapping in bytes.
    pub fn bytes(&self) -> usize {
        self.pages * PAGE_BYTES
    }

    /// Reads the first byte of every page, in order: the loop the fault benchmarks time.
    pub fn read_every_page(&self) {
        for page in 0..self.pages {
            // SAFETY: the byte is inside the mapping, which stays mapped and readable while `self` lives;
            // no reference into it exists.
            unsafe { self.start.add(page * PAGE_BYTES).read_volatile() };
        }
    }

    /// Writes `value` into the first byte of every page, in order: the loop the fault benchmarks time.
    pub fn write_every_page(&self, value: u8) {
        for page in 0..self.pages {
            // SAFETY: as in `read_every_page`; the mapping is writable.
            unsafe { self.start.add(page * PAGE_BYTES).write_volatile(value) };
        }
    }

    /// Writes `value` into byte `offset` of page `page`.
    ///
    /// # Panics
    ///
    /// If the byte is outside the mapping.
    pub fn write_byte(&self, page: usize, offset: usize, value: u8) {
        // SAFETY: `at` checks the byte is inside the mapping; see `write_every_page`.
        unsafe { self.at(page, offset).write_volatile(value) }
    }

    /// Reads word `word` (8 bytes) of page `page`.
    ///
    /// # Panics
    ///
    /// If the word is outside the mapping.
    pub fn read_word(&self, page: usize, word: usize) -> u64 {
        // SAFETY: `at` checks the word is inside the mapping, and pages are 8-byte aligned; see
        // `read_every_page`.
        unsafe { self.at(page, word * 8).cast::<u64>().read_volatile() }
    }

    /// Writes `value` into word `word` of page `page`.
    ///
    /// # Panics
    ///
    /// If the word is outside the mapping.
    pub fn write_word(&self, page: usize, word: usize, value: u64) {
        // SAFETY: as in `read_word`; the mapping is writable.
        unsafe { self.at(page, word * 8).cast::<u64>().write_volatile(value) }
    }

    /// Gives the pages back to the kernel.
    pub fn unmap(self) -> Result<(), Failure> {
        // SAFETY: `self` is consumed and no reference into the pages was ever made, so nothing can touch
        // them afterwards.
        unsafe { memory::unmap(self.start, self.bytes()) }
            .map_err(|error| Failure::new(format_args!("UNMAP of {} pages: {error}", self.pages)))
    }

    /// A pointer to byte `offset` of page `page`, checked to be inside the mapping (a word at an offset that
    /// is a multiple of 8 then fits too).
    fn at(&self, page: usize, offset: usize) -> *mut u8 {
        assert!(page < self.pages && offset < PAGE_BYTES, "page {page} byte {offset} is outside the mapping");
        self.start.wrapping_add(page * PAGE_BYTES + offset)
    }
}
