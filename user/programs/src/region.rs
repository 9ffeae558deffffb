//! A run of `MAP`ped pages that programs fill with a recognisable pattern and check, word by word.
//!
//! The copy-on-write programs must tell whose data a page holds after a fork. Each writer fills pages
//! with its own `seed`, and every 8-byte word gets a value that says who wrote it and where:
//! `seed << 40 | page << 9 | word`, so `0x0000_0200_0000_0603` is word 3 of page 3 written with seed 2. A
//! page swapped for another, a copy made from the wrong frame or a stale frame all show. Seed 0 stands
//! for fresh memory: every word zero.
//!
//! The pages are only ever touched with volatile reads and writes through raw pointers, never through a
//! Rust reference, so nothing the compiler assumed is broken when the kernel copies a frame under us,
//! and every access really reaches memory (and really faults, which is the point).

use core::fmt;
use core::ops::Range;

use cowpi_user::abi::layout::PAGE_SIZE;
use cowpi_user::{Error, Prot, memory};

use crate::checks::Checks;

/// 8-byte words in a page.
pub const WORDS_PER_PAGE: usize = PAGE_SIZE as usize / 8;

/// Pages of anonymous read-write memory, mapped for the rest of the task (never unmapped).
pub struct Region {
    start: *mut u64,
    pages: usize,
}

/// The first word that did not hold what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Difference {
    pub page: usize,
    pub word: usize,
    pub found: u64,
    pub expected: u64,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (page, word, found, expected) = (self.page, self.word, self.found, self.expected);
        write!(f, "page {page} word {word} holds {found:#018x}, expected {expected:#018x}")
    }
}

impl Region {
    /// Maps `pages` pages of zero-filled read-write memory.
    pub fn map(pages: usize) -> Result<Region, Error> {
        let len = pages.checked_mul(PAGE_SIZE as usize).ok_or(Error::InvalidArgument)?;
        let start = memory::map(len, Prot::READ_WRITE)?;
        Ok(Region { start: start.cast(), pages })
    }

    pub fn pages(&self) -> usize {
        self.pages
    }

    /// The address of the first byte, for system calls that should write into the region.
    pub fn address(&self) -> *mut u8 {
        self.start.cast()
    }

    /// What word `word` of page `page` holds once written with `seed` (0 for fresh memory).
    pub const fn pattern(seed: u64, page: usize, word: usize) -> u64 {
        if seed == 0 { 0 } else { seed << 40 | (page as u64) << 9 | word as u64 }
    }

    /// Reads one word.
    ///
    /// # Panics
    ///
    /// If the word is outside the region.
    pub fn read(&self, page: usize, word: usize) -> u64 {
        // SAFETY: `at` checks the word is inside the region, which stays mapped and readable; the access is
        // volatile and no reference to the region exists.
        unsafe { self.at(page, word).read_volatile() }
    }

    /// Writes one word.
    ///
    /// # Panics
    ///
    /// If the word is outside the region.
    pub fn write(&self, page: usize, word: usize, value: u64) {
        // SAFETY: as for `read`; the region is writable.
        unsafe { self.at(page, word).write_volatile(value) }
    }

    /// Fills every word of `pages` with the pattern of `seed`.
    pub fn fill(&self, pages: Range<usize>, seed: u64) {
        for page in pages {
            for word in 0..WORDS_PER_PAGE {
                self.write(page, word, Region::pattern(seed, page, word));
            }
        }
    }

    /// The first word of `pages` that does not hold the pattern of `seed`, if any.
    pub fn first_difference(&self, pages: Range<usize>, seed: u64) -> Option<Difference> {
        pages
            .into_iter()
            .find_map(|page| self.page_difference(page, |word| Region::pattern(seed, page, word)))
    }

    /// The first word of page `page` that does not hold `expected(word)`, if any. One bounds check for the
    /// whole page, then a plain loop of volatile reads: for programs that check many pages many times.
    ///
    /// # Panics
    ///
    /// If the page is outside the region.
    pub fn page_difference(&self, page: usize, mut expected: impl FnMut(usize) -> u64) -> Option<Difference> {
        let first = self.at(page, 0);
        (0..WORDS_PER_PAGE).find_map(|word| {
            // SAFETY: `at` checked that the page is inside the region, so all its words are, and the region
            // stays mapped and readable; the access is volatile and no reference to the region exists.
            let found = unsafe { first.add(word).read_volatile() };
            let expected = expected(word);
            (found != expected).then_some(Difference { page, word, found, expected })
        })
    }

    /// Checks that `pages` hold the pattern of `seed`.
    pub fn check_holds(&self, checks: &mut Checks, what: &str, pages: Range<usize>, seed: u64) {
        match self.first_difference(pages, seed) {
            None => checks.that(what, true),
            Some(difference) => checks.check(what, false, format_args!("{difference}")),
        }
    }

    /// A pointer to word `word` of page `page`.
    fn at(&self, page: usize, word: usize) -> *mut u64 {
        assert!(page < self.pages && word < WORDS_PER_PAGE, "page {page} word {word} is outside the region");
        self.start.wrapping_add(page * WORDS_PER_PAGE + word)
    }
}
