//! `sysfuzz <seed> <calls> [trace=<call>]`: a seeded, reproducible system-call fuzzer.
//!
//! The generator of `cowpi_programs::rng`, seeded with `seed`, picks `calls` system calls: mostly the 14
//! real ones, some numbers no call has, with arguments drawn from pools of interesting values (0, 1, -1,
//! kernel addresses, the edges of user space, page-aligned and unaligned addresses in the fuzzer's own
//! regions, ranges that run off a region's end, read-only and copy-on-write pages, huge lengths, unknown
//! protection bits). The same seed makes the same calls.
//!
//! The fuzzer keeps a model of its regions (a few pages at fixed places near the top of the map area, each
//! page mapped or not, with its protection and a shadow copy of its bytes) and predicts each result: every
//! error the ABI's pure checks (`Request::decode`) give must come back exactly; `UNMAP`, `PROTECT`,
//! `MERGEABLE`, `MEMSTATS`, `WRITE`, `WAIT` and `GETPID` are predicted from the model too. The bytes of every
//! readable page must match the shadow (checked one page per call, all pages every 1024 calls and at the
//! end), so a failed call that changed memory, or a copy-on-write leak between parent and forked child, is
//! caught.
//!
//! It never hurts itself: no `EXIT` (but in forked children), no successful `EXEC` (bad names and pointers
//! only), `UNMAP`/`PROTECT`/`MERGEABLE` only on its regions or on memory that is never mapped (page 0, the
//! gaps between the areas, kernel addresses), no non-empty console `WRITE`, `SLEEP` of 0-2 ms, `SPAWN`
//! of `hello` or of bad names, `WAIT` that can block only on its own live children. A forked child checks
//! its inherited pages, writes into them (copying them), checks again and exits with 0.
//!
//! Prints a line every 10 000 calls and ends with `sysfuzz: <calls> calls, seed <seed>, <n> errors
//! returned, <k> forks: ok` and status 0; on the first broken invariant it prints `sysfuzz: FAILED ...
//! (seed S, call #i)` and exits with 1 (2 for bad arguments). With `trace=<call>` it prints every system
//! call from call number `<call>` on, with its result.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use cowpi_programs::args;
use cowpi_programs::rng::Rng;
use cowpi_user::abi::layout::{
    IMAGE_BASE, KERNEL_SPACE_START, MAP_AREA, PAGE_SIZE, STACK_AREA, STACK_TOP, USER_VA_LIMIT,
};
use cowpi_user::abi::request::{Request, WaitTarget};
use cowpi_user::abi::{ForkMode, Prot, Syscall, result};
use cowpi_user::{Error, ExitStatus, MemStats, entry, println, syscall, task};

entry!(main);

/// Regions ("slots") the fuzzer owns, each in a window of its own with a never-mapped gap after it.
const SLOTS: usize = 6;
/// Pages a slot may have mapped: the first `MAXP` pages of its window. The rest of the window is never
/// mapped (a `MAP` the kernel places there is unmapped again at once).
const MAXP: usize = 8;
const WINDOW: u64 = 1 << 20;
/// Far from where the heap's chunks go (the kernel places memory without a hint low in the map area).
const BASE: u64 = MAP_AREA.end - 0x1000_0000;
const PAGE: usize = PAGE_SIZE as usize;

/// Live children at most (forked plus spawned).
const MAX_CHILDREN: usize = 4;
/// Size of the scratch buffer `MEMSTATS` and `WAIT` may write into.
const SCRATCH: usize = 512;

const PROT_R: u64 = Prot::READ.bits();
const PROT_W: u64 = Prot::WRITE.bits();

/// Names that are no program (`SPAWN` and `EXEC` must answer `NoSuchProgram`), and one over the limit.
const BAD_NAMES: [&[u8]; 7] =
    [b"", b"nosuch", b"hell", b"helloo", b"HELLO", b"x", b"a-name-that-is-longer-than-32-bytes"];

/// Memory that is never mapped in any task: page 0 and the gaps between the areas.
const GAPS: [(u64, u64); 4] = [
    (0, IMAGE_BASE),
    (0x4000_0000, MAP_AREA.start),
    (MAP_AREA.end, STACK_AREA.start),
    (STACK_TOP, USER_VA_LIMIT),
];

fn main(args: &str) -> i32 {
    let (Ok(seed), Ok(calls)) = (args::number(args, 0, 1), args::number(args, 1, 10_000)) else {
        println!("usage: sysfuzz <seed> <calls> [trace=<call>]");
        return 2;
    };
    let mut fuzz = Fuzz::new(seed);
    fuzz.trace_from = args
        .split_whitespace()
        .skip(2)
        .find_map(|word| word.strip_prefix("trace=")?.parse().ok())
        .unwrap_or(u64::MAX);
    fuzz.run(calls);
    0
}

#[derive(Clone, Copy)]
struct PageState {
    mapped: bool,
    prot: u64,
}

/// Whether a buffer can be read and written, as far as the model knows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Access {
    /// Every byte readable (and, if `true`, writable).
    Ok { writable: bool },
    /// Some byte not readable (and so not writable either).
    Bad,
    /// Readable, some byte not writable.
    ReadOnly,
    /// The model cannot tell.
    Unknown,
}

struct Fuzz {
    seed: u64,
    /// From this call number on, every system call is printed with its result (`trace=<n>`).
    trace_from: u64,
    rng: Rng,
    pages: [[PageState; MAXP]; SLOTS],
    shadow: Vec<u8>,
    scratch: Vec<u8>,
    children: Vec<u64>,
    pid: u64,
    in_child: bool,
    call: u64,
    errors: u64,
    forks: u64,
}

fn page_addr(slot: usize, page: usize) -> u64 {
    BASE + slot as u64 * WINDOW + (page * PAGE) as u64
}

/// The slot whose window holds `addr`, and the offset in it.
fn window_of(addr: u64) -> Option<(usize, u64)> {
    let offset = addr.checked_sub(BASE)?;
    let slot = (offset / WINDOW) as usize;
    (slot < SLOTS).then_some((slot, offset % WINDOW))
}

/// The pages `[offset, offset + len)` of a slot's window cover, if they lie within its first `MAXP`.
fn slot_pages(offset: u64, len: u64) -> Option<Range<usize>> {
    let end = offset.checked_add(len).filter(|&end| end <= (MAXP * PAGE) as u64)?;
    Some((offset / PAGE_SIZE) as usize..end.div_ceil(PAGE_SIZE) as usize)
}

fn in_gap(addr: u64) -> bool {
    GAPS.iter().any(|&(start, end)| (start..end).contains(&addr))
}

impl Fuzz {
    fn new(seed: u64) -> Fuzz {
        Fuzz {
            seed,
            trace_from: u64::MAX,
            rng: Rng::new(seed),
            pages: [[PageState { mapped: false, prot: 0 }; MAXP]; SLOTS],
            shadow: vec![0; SLOTS * MAXP * PAGE],
            scratch: vec![0; SCRATCH],
            children: Vec::new(),
            pid: task::getpid(),
            in_child: false,
            call: 0,
            errors: 0,
            forks: 0,
        }
    }

    fn fail(&self, what: fmt::Arguments) -> ! {
        let who = if self.in_child { "sysfuzz child" } else { "sysfuzz" };
        println!("{who}: FAILED {what} (seed {}, call #{})", self.seed, self.call);
        task::exit(1)
    }

    fn run(&mut self, calls: u64) {
        for slot in 0..SLOTS {
            self.refill(slot);
        }
        while self.call < calls {
            self.call += 1;
            self.maintain();
            self.fuzz_one();
            self.verify_random_page();
            if self.call.is_multiple_of(1024) {
                self.verify_all();
            }
            if self.call.is_multiple_of(10_000) {
                println!("sysfuzz: {} calls, {} errors, {} forks", self.call, self.errors, self.forks);
            }
        }
        self.call += 1;
        while let Some(&child) = self.children.first() {
            self.reap(child);
        }
        self.verify_all();
        for slot in 0..SLOTS {
            self.unmap_slot(slot);
        }
        if let Err(error) = cowpi_user::memory::memstats() {
            self.fail(format_args!("MEMSTATS at the end: {error}"));
        }
        println!(
            "sysfuzz: {} calls, seed {}, {} errors returned, {} forks: ok",
            calls, self.seed, self.errors, self.forks
        );
    }

    /// Makes the call, checks the result register decodes.
    fn raw(&self, number: u64, args: [u64; 6]) -> Result<u64, Error> {
        // SAFETY: every call the fuzzer makes is chosen so that the kernel either refuses it or acts only on
        // the fuzzer's own regions (whose bytes nothing holds a reference to: they are read and written by
        // raw pointer), its scratch buffer (written only by the kernel between uses), or memory that is
        // never mapped. No EXEC can succeed and no EXIT is made but on purpose.
        let returned = unsafe { syscall::raw(number, args) };
        if self.call >= self.trace_from {
            println!("#{} {number} {:x?} -> {:#x}", self.call, &args[..4], returned);
        }
        match result::decode(returned) {
            Some(outcome) => outcome,
            None => {
                self.fail(format_args!("call {number} {args:x?} returned {returned:#x}, no error number"))
            }
        }
    }

    fn expect_ok(&self, call: Syscall, args: [u64; 6]) -> u64 {
        match self.raw(call.number(), args) {
            Ok(value) => value,
            Err(error) => self.fail(format_args!("{call} {args:x?}: {error}, expected success")),
        }
    }

    // ---- the model -------------------------------------------------------------------------------------

    fn shadow_page(&mut self, slot: usize, page: usize) -> &mut [u8] {
        let start = (slot * MAXP + page) * PAGE;
        &mut self.shadow[start..start + PAGE]
    }

    fn readable(&self, slot: usize, page: usize) -> bool {
        let state = self.pages[slot][page];
        state.mapped && state.prot & PROT_R != 0
    }

    fn writable(&self, slot: usize, page: usize) -> bool {
        let state = self.pages[slot][page];
        state.mapped && state.prot & PROT_W != 0 && state.prot & PROT_R != 0
    }

    fn access(&self, ptr: u64, len: u64) -> Access {
        if len == 0 {
            return Access::Ok { writable: true };
        }
        let Some(end) = ptr.checked_add(len) else { return Access::Unknown };
        let scratch = self.scratch.as_ptr() as u64;
        if ptr >= scratch && end <= scratch + SCRATCH as u64 {
            return Access::Ok { writable: true };
        }
        if in_gap(ptr) {
            return Access::Bad;
        }
        let Some((slot, offset)) = window_of(ptr) else { return Access::Unknown };
        let Some(mut pages) = slot_pages(offset, len) else { return Access::Bad };
        if !pages.clone().all(|page| self.readable(slot, page)) {
            return Access::Bad;
        }
        if pages.all(|page| self.writable(slot, page)) {
            Access::Ok { writable: true }
        } else {
            Access::ReadOnly
        }
    }

    /// Whether every page of `[start, end)` is mapped in the model (`None`: the model cannot tell).
    fn all_mapped(&self, start: u64, end: u64) -> Option<bool> {
        if in_gap(start) {
            return Some(false);
        }
        let (slot, offset) = window_of(start)?;
        let Some(mut pages) = slot_pages(offset, end - start) else { return Some(false) };
        Some(pages.all(|page| self.pages[slot][page].mapped))
    }

    /// After the kernel wrote `len` bytes at `ptr`, takes them into the shadow.
    fn absorb(&mut self, ptr: u64, len: u64) {
        let Some((slot, offset)) = window_of(ptr) else { return };
        for i in 0..len {
            let off = (offset + i) as usize;
            // SAFETY: the kernel just wrote these bytes, so they are mapped and readable.
            let byte = unsafe { core::ptr::read_volatile((ptr + i) as *const u8) };
            self.shadow_page(slot, off / PAGE)[off % PAGE] = byte;
        }
    }

    fn verify_page(&self, slot: usize, page: usize) {
        if !self.readable(slot, page) {
            return;
        }
        let start = (slot * MAXP + page) * PAGE;
        let expected = &self.shadow[start..start + PAGE];
        // SAFETY: the page is mapped and readable (the model says so; if it is wrong, the task faults and
        // the test sees it), and no reference to it exists.
        let actual = unsafe { core::slice::from_raw_parts(page_addr(slot, page) as *const u8, PAGE) };
        if actual != expected {
            let at = (0..PAGE).find(|&i| actual[i] != expected[i]).unwrap_or(0);
            self.fail(format_args!(
                "slot {slot} page {page} ({:#x}) byte {at} is {:#x}, expected {:#x}",
                page_addr(slot, page),
                actual[at],
                expected[at]
            ));
        }
    }

    fn verify_all(&self) {
        for slot in 0..SLOTS {
            for page in 0..MAXP {
                self.verify_page(slot, page);
            }
        }
    }

    fn verify_random_page(&mut self) {
        let (slot, page) = self.random_page();
        self.verify_page(slot, page);
    }

    /// A page of a slot, mapped or not.
    fn random_page(&mut self) -> (usize, usize) {
        (self.rng.below(SLOTS as u64) as usize, self.rng.below(MAXP as u64) as usize)
    }

    /// Unmaps `page` of `slot`, which the model has mapped.
    fn unmap_page(&mut self, slot: usize, page: usize) {
        self.expect_ok(Syscall::Unmap, [page_addr(slot, page), PAGE_SIZE, 0, 0, 0, 0]);
        self.pages[slot][page].mapped = false;
    }

    /// Unmaps whatever the model has mapped of `slot`.
    fn unmap_slot(&mut self, slot: usize) {
        for page in 0..MAXP {
            if self.pages[slot][page].mapped {
                self.unmap_page(slot, page);
            }
        }
    }

    /// Writes `len` random bytes into a writable page, and the shadow.
    fn scribble(&mut self, slot: usize, page: usize, len: usize) {
        if !self.writable(slot, page) {
            return;
        }
        let at = self.rng.below((PAGE - len + 1) as u64) as usize;
        for i in 0..len {
            let byte = self.rng.next_u64() as u8;
            let addr = page_addr(slot, page) + (at + i) as u64;
            // SAFETY: the page is mapped read-write and nothing refers to it.
            unsafe { core::ptr::write_volatile(addr as *mut u8, byte) };
            self.shadow_page(slot, page)[at + i] = byte;
        }
    }

    /// Maps the slot's pages afresh at its window (after unmapping what is left), fills them, and makes some
    /// read-only.
    fn refill(&mut self, slot: usize) {
        self.unmap_slot(slot);
        let pages = 1 + self.rng.below(MAXP as u64) as usize;
        let hint = page_addr(slot, 0);
        let addr = self.expect_ok(Syscall::Map, [hint, (pages * PAGE) as u64, PROT_R | PROT_W, 0, 0, 0]);
        if addr != hint {
            self.fail(format_args!("MAP at free hint {hint:#x} gave {addr:#x}"));
        }
        for page in 0..pages {
            self.pages[slot][page] = PageState { mapped: true, prot: PROT_R | PROT_W };
            self.shadow_page(slot, page).fill(0);
            self.verify_page(slot, page);
            let len = self.rng.pick(&[1, 64, 512, PAGE]);
            self.scribble(slot, page, len);
        }
        for page in 0..pages {
            if self.rng.one_in(4) {
                self.expect_ok(Syscall::Protect, [page_addr(slot, page), PAGE_SIZE, PROT_R, 0, 0, 0]);
                self.pages[slot][page].prot = PROT_R;
            }
        }
        if pages > 1 && self.rng.one_in(3) {
            let page = self.rng.below(pages as u64) as usize;
            self.unmap_page(slot, page);
        }
    }

    /// Between calls: now and then refill an empty slot, scribble into a page.
    fn maintain(&mut self) {
        if self.rng.one_in(64) {
            let slot = self.rng.below(SLOTS as u64) as usize;
            if !self.pages[slot].iter().any(|page| page.mapped) || self.rng.one_in(8) {
                self.refill(slot);
            }
        }
        if self.rng.one_in(4) {
            let (slot, page) = self.random_page();
            let len = self.rng.pick(&[1, 8, 64]);
            self.scribble(slot, page, len);
        }
    }

    // ---- argument pools --------------------------------------------------------------------------------

    /// An address: edges, kernel addresses, never-mapped gaps, the regions (aligned, unaligned, straddling
    /// an end), and with `scratch` the scratch buffer. Never an address of the image, stack or heap.
    fn addr(&mut self, scratch: bool) -> u64 {
        let slot = self.rng.below(SLOTS as u64) as usize;
        let page = self.rng.below(MAXP as u64 + 1) as usize;
        match self.rng.below(if scratch { 10 } else { 9 }) {
            0 => self.rng.pick(&[0, 1, u64::MAX, u64::MAX - PAGE_SIZE + 1, 8, 0xFFF]),
            1 => {
                let base = self.rng.pick(&[
                    KERNEL_SPACE_START,
                    0xFFFF_FFFF_FFFF_F000,
                    0xFFFF_0000_0000_0000,
                    0x0000_8000_0000_0000,
                    0x8000_0000_0000_0000,
                    USER_VA_LIMIT,
                    1 << 48,
                ]);
                base.wrapping_add(self.rng.pick(&[0, 0, PAGE_SIZE, 1, 0x8_0000]))
            }
            2 => self.rng.pick(&[USER_VA_LIMIT - 1, USER_VA_LIMIT - PAGE_SIZE, USER_VA_LIMIT - 8, STACK_TOP]),
            3 => {
                let (start, end) = self.rng.pick(&GAPS);
                self.rng.pick(&[start, end - PAGE_SIZE, end - 1, start + 8])
            }
            4 | 5 => page_addr(slot, page),
            6 => page_addr(slot, page) + 1 + self.rng.below(PAGE_SIZE - 1),
            7 => page_addr(slot, page + 1) - 1 - self.rng.below(16),
            8 => USER_VA_LIMIT + self.rng.below(u64::MAX - USER_VA_LIMIT),
            _ => self.scratch.as_ptr() as u64 + self.rng.below(64),
        }
    }

    fn len(&mut self) -> u64 {
        match self.rng.below(4) {
            0 => self.rng.pick(&[0, 1, 7, 8, 9, 32, 33, 64, 1024, 1025]),
            1 => self.rng.pick(&[PAGE_SIZE - 1, PAGE_SIZE, PAGE_SIZE + 1, 2 * PAGE_SIZE]),
            2 => (1 + self.rng.below(MAXP as u64 + 2)) * PAGE_SIZE,
            _ => {
                let random = self.rng.next_u64();
                self.rng.pick(&[
                    1 << 30,
                    1 << 38,
                    USER_VA_LIMIT - PAGE_SIZE,
                    USER_VA_LIMIT,
                    USER_VA_LIMIT + 1,
                    u64::MAX,
                    u64::MAX - PAGE_SIZE + 2,
                    i64::MAX as u64,
                    random,
                ])
            }
        }
    }

    fn prot(&mut self) -> u64 {
        match self.rng.below(3) {
            0 => self.rng.below(8),
            1 => self.rng.pick(&[PROT_R, PROT_R | PROT_W, PROT_R, 0]),
            _ => self.rng.pick(&[8, 0x10, 0xFF, u64::MAX, 1 << 32 | 1, 6, 7]),
        }
    }

    // ---- the calls -------------------------------------------------------------------------------------

    fn fuzz_one(&mut self) {
        let number = if self.rng.one_in(12) {
            let random = self.rng.next_u64();
            self.rng.pick(&[0, 15, 16, 255, 1 << 32 | 1, i64::MAX as u64, u64::MAX, random])
        } else {
            1 + self.rng.below(14)
        };
        let mut args = [0u64; 6];
        for arg in &mut args[3..] {
            *arg = self.rng.next_u64();
        }
        match Syscall::from_number(number) {
            None => {
                for arg in &mut args {
                    *arg = self.rng.next_u64();
                }
                let outcome = self.raw(number, args);
                self.expect(number, args, outcome, Err(Error::NoSuchSyscall));
            }
            // Replaced by a call that cannot end the fuzzer: GETPID with junk arguments.
            Some(Syscall::Exit) | Some(Syscall::GetPid) => {
                args[0] = self.rng.next_u64();
                let outcome = self.raw(Syscall::GetPid.number(), args);
                self.expect(number, args, outcome, Ok(self.pid));
            }
            Some(Syscall::Yield) => {
                let outcome = self.raw(number, args);
                self.expect(number, args, outcome, Ok(0));
            }
            Some(Syscall::Sleep) => {
                args[0] = self.rng.below(3);
                let outcome = self.raw(number, args);
                self.expect(number, args, outcome, Ok(0));
            }
            Some(Syscall::Write) => self.write(args),
            Some(Syscall::MemStats) => self.memstats(args),
            Some(Syscall::Wait) => self.wait(args),
            Some(Syscall::Map) => self.map(args),
            Some(call @ (Syscall::Unmap | Syscall::Protect | Syscall::Mergeable)) => self.range(call, args),
            Some(call @ (Syscall::Spawn | Syscall::Exec)) => self.program(call, args),
            Some(Syscall::Fork) => self.fork(args),
        }
    }

    /// Checks `outcome` against `expected` and counts errors.
    fn expect(
        &mut self,
        number: u64,
        args: [u64; 6],
        outcome: Result<u64, Error>,
        expected: Result<u64, Error>,
    ) {
        if outcome.is_err() {
            self.errors += 1;
        }
        if outcome != expected {
            self.fail(format_args!(
                "call {number} {:x?} returned {outcome:?}, expected {expected:?}",
                &args[..4]
            ));
        }
    }

    fn write(&mut self, mut args: [u64; 6]) {
        let number = Syscall::Write.number();
        args[0] = if self.rng.one_in(6) { self.rng.pick(&[0, 2, 3, u64::MAX, 1 << 32 | 1]) } else { 1 };
        args[1] = self.addr(true);
        args[2] = self.len();
        // Nothing readable reaches the console: a buffer that may be readable gets length 0.
        if args[0] == 1 && !matches!(self.access(args[1], args[2]), Access::Bad) {
            args[2] = 0;
        }
        let expected = match Request::decode(number, args) {
            Err(error) => Err(error),
            Ok(_) if args[2] == 0 => Ok(0),
            Ok(_) => Err(Error::BadAddress),
        };
        let outcome = self.raw(number, args);
        self.expect(number, args, outcome, expected);
    }

    fn memstats(&mut self, mut args: [u64; 6]) {
        let number = Syscall::MemStats.number();
        args[0] = self.addr(true);
        args[1] = if self.rng.one_in(2) {
            self.rng.pick(&[0, 1, 7, 8, 9, 16, MemStats::SIZE as u64, MemStats::SIZE as u64 + 1])
        } else {
            self.len()
        };
        let written = args[1].min(MemStats::SIZE as u64);
        let expected = match Request::decode(number, args) {
            Err(error) => Some(Err(error)),
            Ok(_) => match self.access(args[0], written) {
                Access::Ok { writable: true } => Some(Ok(written)),
                Access::Ok { writable: false } | Access::Bad | Access::ReadOnly => {
                    Some(Err(Error::BadAddress))
                }
                Access::Unknown => None,
            },
        };
        let outcome = self.raw(number, args);
        match expected {
            Some(expected) => self.expect(number, args, outcome, expected),
            None => self.fail(format_args!("MEMSTATS {:x?}: the model cannot tell", &args[..2])),
        }
        if outcome.is_ok() {
            self.absorb(args[0], written);
        }
    }

    fn wait(&mut self, mut args: [u64; 6]) {
        let number = Syscall::Wait.number();
        let random = self.rng.next_u64();
        let child = if self.children.is_empty() { 0 } else { self.rng.pick(&self.children) };
        args[0] = match self.rng.below(4) {
            0 if child != 0 => child,
            0 | 1 => self.rng.pick(&[u64::MAX, 0, -2i64 as u64, i64::MIN as u64, 1, self.pid]),
            2 => self.pid + self.rng.below(8),
            _ => self.rng.pick(&[1 << 40, i64::MAX as u64, random, 0x7FFF_FFFF]),
        };
        args[1] = if self.rng.one_in(3) { 0 } else { self.addr(true) };
        let request = Request::decode(number, args);
        let target = match request {
            Ok(Request::Wait { target, .. }) => target,
            Ok(_) => unreachable!(),
            Err(error) => {
                let outcome = self.raw(number, args);
                return self.expect(number, args, outcome, Err(error));
            }
        };
        let has_target = match target {
            WaitTarget::AnyChild => !self.children.is_empty(),
            WaitTarget::Child(pid) => self.children.contains(&pid),
        };
        let status_ok = args[1] == 0 || matches!(self.access(args[1], 8), Access::Ok { writable: true });
        let outcome = self.raw(number, args);
        if outcome.is_err() {
            self.errors += 1;
        }
        let acceptable = match outcome {
            Ok(pid) => has_target && status_ok && self.children.contains(&pid),
            Err(Error::NoChild) => !has_target,
            Err(Error::BadAddress) => !status_ok,
            Err(_) => false,
        };
        if !acceptable {
            self.fail(format_args!(
                "WAIT {:x?} returned {outcome:?} (children {:?}, status buffer usable: {status_ok})",
                &args[..2],
                self.children
            ));
        }
        if let Ok(pid) = outcome {
            self.children.retain(|&c| c != pid);
            if args[1] != 0 {
                // SAFETY: the kernel just stored the status there.
                let raw = unsafe { core::ptr::read_unaligned(args[1] as *const i64) };
                if ExitStatus::from_raw(raw) != Some(ExitStatus::Exited(0)) {
                    self.fail(format_args!("child {pid} ended with status {raw}"));
                }
                self.absorb(args[1], 8);
            }
        }
    }

    fn reap(&mut self, child: u64) {
        match task::wait(Some(child)) {
            Ok((pid, ExitStatus::Exited(0))) if pid == child => self.children.retain(|&c| c != pid),
            other => self.fail(format_args!("reaping child {child}: {other:?}")),
        }
    }

    fn map(&mut self, mut args: [u64; 6]) {
        let number = Syscall::Map.number();
        args[0] = if self.rng.one_in(3) { 0 } else { self.addr(false) };
        args[1] = self.len();
        args[2] = self.prot();
        let request = Request::decode(number, args);
        let outcome = self.raw(number, args);
        let Ok(Request::Map { pages, .. }) = request else {
            let Err(error) = request else { unreachable!() };
            return self.expect(number, args, outcome, Err(error));
        };
        let addr = match outcome {
            Err(Error::OutOfMemory) => {
                self.errors += 1;
                return;
            }
            Err(error) => self.fail(format_args!("MAP {:x?}: {error}", &args[..3])),
            Ok(addr) => addr,
        };
        let end = addr + pages * PAGE_SIZE;
        if !addr.is_multiple_of(PAGE_SIZE) || addr < MAP_AREA.start || end > MAP_AREA.end {
            self.fail(format_args!("MAP {:x?} gave {addr:#x}, outside the map area", &args[..3]));
        }
        // MAP never replaces: nothing the model has mapped may be inside.
        for slot in 0..SLOTS {
            for page in 0..MAXP {
                let at = page_addr(slot, page);
                if self.pages[slot][page].mapped && (addr..end).contains(&at) {
                    self.fail(format_args!("MAP {:x?} gave {addr:#x}, over mapped page {at:#x}", &args[..3]));
                }
            }
        }
        let hint = args[0];
        let adopt =
            window_of(addr).and_then(|(slot, offset)| Some((slot, slot_pages(offset, pages * PAGE_SIZE)?)));
        if hint != 0 && window_of(hint).is_some() && self.all_unmapped_in_slot(hint, pages) && addr != hint {
            self.fail(format_args!("MAP {:x?}: hint free, but got {addr:#x}", &args[..3]));
        }
        match adopt {
            Some((slot, adopted)) => {
                for page in adopted {
                    self.pages[slot][page] = PageState { mapped: true, prot: args[2] };
                    self.shadow_page(slot, page).fill(0);
                    self.verify_page(slot, page);
                }
            }
            None => {
                self.expect_ok(Syscall::Unmap, [addr, pages * PAGE_SIZE, 0, 0, 0, 0]);
            }
        }
    }

    /// Whether `pages` pages from `hint` lie in a slot's first pages, all unmapped in the model.
    fn all_unmapped_in_slot(&self, hint: u64, pages: u64) -> bool {
        let Some((slot, offset)) = window_of(hint) else { return false };
        let Some(mut pages) = slot_pages(offset, pages * PAGE_SIZE) else { return false };
        pages.all(|page| !self.pages[slot][page].mapped)
    }

    fn range(&mut self, call: Syscall, mut args: [u64; 6]) {
        let number = call.number();
        args[0] = self.addr(false);
        args[1] = self.len();
        args[2] = self.prot();
        let request = Request::decode(number, args);
        let outcome = self.raw(number, args);
        let range = match request {
            Err(error) => return self.expect(number, args, outcome, Err(error)),
            Ok(Request::Unmap { range } | Request::Protect { range, .. } | Request::Mergeable { range }) => {
                range
            }
            Ok(_) => unreachable!(),
        };
        let expected = match self.all_mapped(range.start(), range.end()) {
            Some(true) => Ok(0),
            Some(false) => Err(Error::NotMapped),
            None => self.fail(format_args!("{call} {:x?}: the model cannot tell", &args[..3])),
        };
        self.expect(number, args, outcome, expected);
        if outcome.is_ok() {
            // Only a range the model saw all mapped succeeds: within a slot's first pages.
            let (slot, offset) = window_of(range.start()).unwrap_or((0, 0));
            for page in slot_pages(offset, range.end() - range.start()).unwrap_or(0..0) {
                match call {
                    Syscall::Unmap => self.pages[slot][page].mapped = false,
                    // Even taking all access away keeps the bytes: made accessible again, the page reads
                    // what it held, so the shadow stays as it is.
                    Syscall::Protect => self.pages[slot][page].prot = args[2],
                    _ => {}
                }
            }
        }
    }

    fn program(&mut self, call: Syscall, mut args: [u64; 6]) {
        let number = call.number();
        let hello = call == Syscall::Spawn && self.children.len() < MAX_CHILDREN && self.rng.one_in(40);
        if hello {
            let words: &[u8] = b"from sysfuzz";
            args[0] = b"hello".as_ptr() as u64;
            args[1] = 5;
            args[2] = words.as_ptr() as u64;
            args[3] = if self.rng.one_in(2) { 0 } else { words.len() as u64 };
        } else {
            if self.rng.one_in(2) {
                let name = self.rng.pick(&BAD_NAMES);
                args[0] = name.as_ptr() as u64;
                args[1] = name.len() as u64;
            } else {
                args[0] = self.addr(false);
                let len = self.len();
                args[1] = self.rng.pick(&[0, 1, 5, 6, 32, 33, len]);
            }
            args[2] = self.addr(false);
            let len = self.len();
            args[3] = self.rng.pick(&[0, 1, 16, 1024, 1025, len]);
        }
        let request = Request::decode(number, args);
        let outcome = self.raw(number, args);
        if let Err(error) = request {
            return self.expect(number, args, outcome, Err(error));
        }
        match outcome {
            Ok(pid) if hello => self.children.push(pid),
            Err(Error::TooManyTasks | Error::OutOfMemory) if hello => self.errors += 1,
            Err(Error::BadAddress | Error::NoSuchProgram) if !hello => self.errors += 1,
            other => self.fail(format_args!("{call} {:x?} (hello: {hello}) returned {other:?}", &args[..4])),
        }
    }

    fn fork(&mut self, mut args: [u64; 6]) {
        let number = Syscall::Fork.number();
        let random = self.rng.next_u64();
        args[0] = match self.rng.below(8) {
            0 => ForkMode::EAGER_COPY,
            1 => self.rng.pick(&[3, 4, u64::MAX, 1 << 32, random]),
            2 => ForkMode::COPY_ON_WRITE_PAGES,
            _ => ForkMode::COPY_ON_WRITE,
        };
        if self.children.len() >= MAX_CHILDREN && ForkMode::from_flags(args[0]).is_some() {
            args[0] = 3;
        }
        let request = Request::decode(number, args);
        let outcome = self.raw(number, args);
        if let Err(error) = request {
            return self.expect(number, args, outcome, Err(error));
        }
        match outcome {
            Ok(0) => self.child(),
            Ok(pid) => {
                self.forks += 1;
                self.children.push(pid);
            }
            Err(Error::TooManyTasks | Error::OutOfMemory) => self.errors += 1,
            Err(error) => self.fail(format_args!("FORK {:#x}: {error}", args[0])),
        }
    }

    /// A forked child: checks what it inherited, writes into it (copying the shared pages), calls a few
    /// harmless things, checks again and exits with 0.
    fn child(&mut self) -> ! {
        self.in_child = true;
        self.children.clear();
        self.pid = task::getpid();
        self.rng = Rng::new(self.rng.next_u64() ^ self.pid);
        self.verify_all();
        for _ in 0..16 {
            let (slot, page) = self.random_page();
            self.scribble(slot, page, 64);
            match self.rng.below(4) {
                0 => {
                    let pid = self.expect_ok(Syscall::GetPid, [0; 6]);
                    if pid != self.pid {
                        self.fail(format_args!("GETPID gave {pid}, not {}", self.pid));
                    }
                }
                1 => {
                    let ms = self.rng.below(3);
                    let _ = self.expect_ok(Syscall::Sleep, [ms, 0, 0, 0, 0, 0]);
                }
                2 => {
                    let _ = self.expect_ok(Syscall::Yield, [0; 6]);
                }
                _ => {
                    let args = [self.scratch.as_ptr() as u64, MemStats::SIZE as u64, 0, 0, 0, 0];
                    let _ = self.expect_ok(Syscall::MemStats, args);
                }
            }
        }
        self.verify_all();
        task::exit(0)
    }
}
