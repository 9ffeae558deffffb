//! `limits`: system calls at the kernel's limits, the ones a hostile or careless program reaches first.
//!
//! - **Huge ranges.** `MAP` is lazy, so a task can reserve 192 GiB with one call. `PROTECT`, `MERGEABLE`,
//!   `WRITE`, `FORK` and `UNMAP` over all of it must cost what is mapped (three pages here), not what was
//!   reserved: stepping through 50 million pages with the address space locked stalled the whole kernel
//!   for minutes. `WRITE` prints at most `MAX_WRITE_LEN` bytes per call and says how many.
//! - **The region limit.** Mapping single pages until the kernel refuses must end with `OutOfMemory` at
//!   `MAX_REGIONS` regions, not with the kernel heap exhausted; at the limit, an `UNMAP`, `PROTECT` or
//!   `MERGEABLE` that would split a region is refused the same way and changes nothing, and what needs
//!   no new region still works.
//!
//! Each check prints an `ok` or `FAILED` line; the exit status is the number of failures. The kernel
//! test that runs it checks that every frame and all the kernel heap it used come back.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use cowpi_programs::checks::Checks;
use cowpi_user::abi::layout::{MAP_AREA, PAGE_SIZE};
use cowpi_user::abi::request::{MAX_REGIONS, MAX_WRITE_LEN};
use cowpi_user::abi::{Error, Prot, Syscall, result};
use cowpi_user::{ExitStatus, entry, println, task, time};

entry!(main);

const MAP: u64 = Syscall::Map.number();
const UNMAP: u64 = Syscall::Unmap.number();
const PROTECT: u64 = Syscall::Protect.number();
const MERGEABLE: u64 = Syscall::Mergeable.number();
const WRITE: u64 = Syscall::Write.number();

const PAGE: u64 = PAGE_SIZE;
const R: u64 = Prot::READ.bits();
const RW: u64 = Prot::READ_WRITE.bits();

/// The huge region: the upper half of the map area, 192 GiB, where nothing else goes (memory mapped
/// without a hint is placed low in the map area).
const HUGE_LEN: u64 = (MAP_AREA.end - MAP_AREA.start) / 2;
const HUGE: u64 = MAP_AREA.end - HUGE_LEN;

/// Where the single-page regions go: every other page from here, so that no two touch.
const SMALL: u64 = MAP_AREA.start + (MAP_AREA.end - MAP_AREA.start) / 4;

fn sys(number: u64, args: &[u64]) -> u64 {
    // SAFETY: the calls map, protect, mark and unmap only memory this program maps for the purpose, and
    // WRITE only reads it; no reference is held into that memory across a call.
    unsafe { cowpi_programs::sys(number, args) }
}

fn main(_args: &str) -> i32 {
    let mut checks = Checks::new("limits");
    huge_ranges(&mut checks);
    region_limit(&mut checks);
    checks.finish()
}

/// Pages of the huge region the program touches: its first, one in the middle, its last.
fn touched() -> [u64; 3] {
    [HUGE, HUGE + (HUGE_LEN / 2 / PAGE) * PAGE, HUGE + HUGE_LEN - PAGE]
}

fn word(address: u64) -> *mut u64 {
    address as *mut u64
}

fn huge_ranges(checks: &mut Checks) {
    let started = time::ticks();
    let gib = HUGE_LEN >> 30;
    let mapped = sys(MAP, &[HUGE, HUGE_LEN, RW]);
    checks.returns("MAP 192 GiB at a hint", mapped, Ok(HUGE));
    if result::decode(mapped) != Some(Ok(HUGE)) {
        return;
    }
    for (index, page) in touched().into_iter().enumerate() {
        // SAFETY: the page lies in the region just mapped read-write; nothing else refers to it.
        unsafe { word(page).write_volatile(index as u64 + 1) };
    }
    checks.returns("PROTECT all of it read-only", sys(PROTECT, &[HUGE, HUGE_LEN, R]), Ok(0));
    // SAFETY: mapped and readable; the values were written above.
    let kept = touched()
        .into_iter()
        .enumerate()
        .all(|(i, page)| unsafe { word(page).read_volatile() } == i as u64 + 1);
    checks.that("the touched pages kept their words through PROTECT", kept);
    checks.returns("PROTECT all of it read-write again", sys(PROTECT, &[HUGE, HUGE_LEN, RW]), Ok(0));
    let marks = (0..1000).filter(|_| sys(MERGEABLE, &[HUGE, HUGE_LEN]) == 0).count();
    checks.that("MERGEABLE over all of it, 1 000 times: each returns 0", marks == 1000);

    // Text for the first MAX_WRITE_LEN bytes of the region (zeros follow): lines of dots, the first saying
    // what they are.
    let line = b"limits: the first MAX_WRITE_LEN bytes of a 192 GiB WRITE, in lines of 128 ";
    // SAFETY: the first page is mapped read-write and MAX_WRITE_LEN bytes fit in it.
    let first = unsafe { core::slice::from_raw_parts_mut(HUGE as *mut u8, MAX_WRITE_LEN) };
    first.fill(b'.');
    first[..line.len()].copy_from_slice(line);
    first.chunks_mut(128).for_each(|chunk| chunk[127] = b'\n');
    let written = sys(WRITE, &[1, HUGE, HUGE_LEN]);
    checks.returns("WRITE of 192 GiB prints MAX_WRITE_LEN bytes", written, Ok(MAX_WRITE_LEN as u64));
    checks.fails_with(
        "WRITE of 192 GiB plus a page past the region is BadAddress",
        sys(WRITE, &[1, HUGE, HUGE_LEN + PAGE]),
        Error::BadAddress,
    );
    // SAFETY: restores the word the fill overwrote; the page is mapped read-write.
    unsafe { word(HUGE).write_volatile(1) };

    match task::fork() {
        Ok(task::Fork::Child) => {
            // SAFETY: the child has the parent's mappings, copy-on-write.
            let seen: Vec<u64> =
                touched().into_iter().map(|page| unsafe { word(page).read_volatile() }).collect();
            // SAFETY: as above; the write takes this child's own copy.
            unsafe { word(touched()[1]).write_volatile(99) };
            task::exit(if seen == [1, 2, 3] { 0 } else { 1 });
        }
        Ok(task::Fork::Parent { child }) => {
            let status = task::wait(Some(child)).map(|(_, status)| status);
            checks.that(
                "a fork of the 192 GiB task: the child saw its three words",
                status == Ok(ExitStatus::Exited(0)),
            );
            // SAFETY: mapped and readable in the parent.
            let own = unsafe { word(touched()[1]).read_volatile() };
            checks.that("the child's write did not show in the parent", own == 2);
        }
        Err(error) => checks.check("FORK of the 192 GiB task", false, format_args!("{error}")),
    }
    checks.returns("UNMAP all 192 GiB", sys(UNMAP, &[HUGE, HUGE_LEN]), Ok(0));
    let ms = time::ticks_to_ns(time::ticks() - started) / 1_000_000;
    println!(
        "limits: {gib} GiB mapped, protected twice, marked 1 000 times, written, forked, unmapped: {ms} ms"
    );
}

fn region_limit(checks: &mut Checks) {
    // Single pages, apart, until the kernel refuses.
    let mut mapped = Vec::new();
    let refusal = loop {
        let hint = SMALL + 2 * PAGE * mapped.len() as u64;
        match result::decode(sys(MAP, &[hint, PAGE, RW])) {
            Some(Ok(address)) if mapped.len() <= MAX_REGIONS => mapped.push(address),
            Some(Ok(_)) => break Ok(()),
            Some(Err(error)) => break Err(error),
            None => break Ok(()),
        }
    };
    println!("limits: {} single-page regions mapped before the kernel refused", mapped.len());
    checks.that("mapping single pages ends with OutOfMemory", refusal == Err(Error::OutOfMemory));
    // The program's image, stack and heap hold the rest of the regions.
    let others = MAX_REGIONS - mapped.len();
    checks.that(
        "the refusal comes at MAX_REGIONS regions (1 to 16 not MAP'd here)",
        (1..=16).contains(&others),
    );

    // Make room for one three-page region, then fill the last place with it.
    let freed = mapped.pop().unwrap_or(SMALL);
    checks.returns("UNMAP one of them", sys(UNMAP, &[freed, PAGE]), Ok(0));
    let three = HUGE;
    checks.returns("MAP three pages in its place", sys(MAP, &[three, 3 * PAGE, RW]), Ok(three));
    // SAFETY: just mapped read-write.
    unsafe { word(three + PAGE).write_volatile(7) };
    let middle = [three + PAGE, PAGE];
    checks.fails_with(
        "at the limit, PROTECT of a middle page",
        sys(PROTECT, &[middle[0], middle[1], R]),
        Error::OutOfMemory,
    );
    checks.fails_with(
        "at the limit, MERGEABLE of a middle page",
        sys(MERGEABLE, &[middle[0], middle[1]]),
        Error::OutOfMemory,
    );
    checks.fails_with(
        "at the limit, UNMAP of a middle page",
        sys(UNMAP, &[middle[0], middle[1]]),
        Error::OutOfMemory,
    );
    // SAFETY: still mapped read-write, if the refusals changed nothing.
    unsafe { word(three + PAGE).write_volatile(8) };
    // SAFETY: as above.
    checks.that(
        "the refusals changed nothing: the middle page is still writable",
        unsafe { word(three + PAGE).read_volatile() } == 8,
    );
    checks.returns("at the limit, PROTECT of a whole region", sys(PROTECT, &[three, 3 * PAGE, R]), Ok(0));
    checks.returns("at the limit, UNMAP of a last page", sys(UNMAP, &[three + 2 * PAGE, PAGE]), Ok(0));

    let unmapped = mapped.iter().filter(|&&address| sys(UNMAP, &[address, PAGE]) == 0).count();
    checks.that("every single-page region unmaps", unmapped == mapped.len());
    checks.returns("UNMAP the rest of the three", sys(UNMAP, &[three, 2 * PAGE]), Ok(0));
    checks.returns("below the limit, MAP works again", sys(MAP, &[three, PAGE, RW]), Ok(three));
    checks.returns("and UNMAP", sys(UNMAP, &[three, PAGE]), Ok(0));
}
