//! `syscalls`: calls the kernel with wrong arguments on purpose and checks that each call fails with the
//! error the ABI documents (`cowpi_abi::Request`), and that valid calls still work.
//!
//! The kernel must never trust a register: a bad number, a null or kernel pointer, a buffer that runs off
//! the end of a mapping or past the top of user space, a length that overflows. Each check prints an `ok`
//! or `FAILED` line; the exit status is the number of failures. It needs the program `hello` to be
//! embedded (for `WAIT`), and runs it once.
#![no_std]
#![no_main]

use cowpi_programs::checks::Checks;
use cowpi_user::abi::layout::{IMAGE_AREA, KERNEL_SPACE_START, MAP_AREA, PAGE_SIZE, USER_VA_LIMIT};
use cowpi_user::abi::request::{ANY_CHILD, MAX_ARGS_LEN, MAX_PROGRAM_NAME_LEN};
use cowpi_user::abi::{Error, MemStats, Prot, Syscall};
use cowpi_user::{entry, memory};

entry!(main);

const WRITE: u64 = Syscall::Write.number();
const MAP: u64 = Syscall::Map.number();
const UNMAP: u64 = Syscall::Unmap.number();
const PROTECT: u64 = Syscall::Protect.number();
const SPAWN: u64 = Syscall::Spawn.number();
const WAIT: u64 = Syscall::Wait.number();
const MEMSTATS: u64 = Syscall::MemStats.number();

const PAGE: u64 = PAGE_SIZE;
const RW: u64 = Prot::READ_WRITE.bits();
/// An address the kernel has mapped, for itself only (see `fault`).
const KERNEL_IMAGE: u64 = KERNEL_SPACE_START + 0x8_0000;
/// Never mapped: the gap between the image area and the map area.
const UNMAPPED: u64 = IMAGE_AREA.end;

/// Makes a system call with up to six arguments and returns the raw result.
fn sys(number: u64, args: &[u64]) -> u64 {
    // SAFETY: every pointer this program passes is either one the kernel must refuse, or a buffer of its
    // own that the call may read or write (a message, a status, a MemStats) and that no reference is
    // held into while the kernel writes; UNMAP and PROTECT only touch mappings made here for that purpose.
    unsafe { cowpi_programs::sys(number, args) }
}

fn main(_args: &str) -> i32 {
    let mut checks = Checks::new("syscalls");
    numbers(&mut checks);
    write(&mut checks);
    simple_calls(&mut checks);
    map(&mut checks);
    unmap_and_protect(&mut checks);
    spawn(&mut checks);
    wait(&mut checks);
    memstats(&mut checks);
    checks.finish()
}

fn numbers(checks: &mut Checks) {
    checks.fails_with("number 0 is no call", sys(0, &[]), Error::NoSuchSyscall);
    checks.fails_with(
        "the first number after the last call is no call",
        sys(Syscall::ALL.len() as u64 + 1, &[]),
        Error::NoSuchSyscall,
    );
    checks.fails_with("number 2^64-1 is no call", sys(u64::MAX, &[]), Error::NoSuchSyscall);
}

/// A page of our own followed by a page that is not mapped, so buffers can run off the end of a mapping.
fn page_before_a_hole(checks: &mut Checks) -> u64 {
    let two_pages = checks.succeeds("MAP two pages", sys(MAP, &[0, 2 * PAGE, RW])).unwrap_or(UNMAPPED);
    checks.returns("UNMAP the second of them", sys(UNMAP, &[two_pages + PAGE, PAGE]), Ok(0));
    two_pages
}

fn write(checks: &mut Checks) {
    let message = b"syscalls: this line is one raw WRITE\n";
    let (text, len) = (message.as_ptr() as u64, message.len() as u64);
    checks.returns("WRITE to the console returns the length", sys(WRITE, &[1, text, len]), Ok(len));
    checks.returns("WRITE of 0 bytes from null", sys(WRITE, &[1, 0, 0]), Ok(0));
    checks.fails_with("WRITE to fd 2", sys(WRITE, &[2, text, len]), Error::BadFileDescriptor);
    checks.fails_with("WRITE to fd 0", sys(WRITE, &[0, text, len]), Error::BadFileDescriptor);
    checks.fails_with("WRITE from null", sys(WRITE, &[1, 0, 8]), Error::BadAddress);
    checks.fails_with("WRITE from the kernel's image", sys(WRITE, &[1, KERNEL_IMAGE, 8]), Error::BadAddress);
    let top = USER_VA_LIMIT - 4;
    checks.fails_with("WRITE past the top of user space", sys(WRITE, &[1, top, 8]), Error::BadAddress);
    checks.fails_with(
        "WRITE with a length that overflows",
        sys(WRITE, &[1, text, u64::MAX]),
        Error::BadAddress,
    );
    checks.fails_with("WRITE from unmapped memory", sys(WRITE, &[1, UNMAPPED, 8]), Error::BadAddress);
    let page = page_before_a_hole(checks);
    let straddle = page + PAGE - 4;
    checks.fails_with("WRITE running off a mapping", sys(WRITE, &[1, straddle, 8]), Error::BadAddress);
    let guard = checks.succeeds("MAP a page with no access", sys(MAP, &[0, PAGE, 0])).unwrap_or(UNMAPPED);
    checks.fails_with("WRITE from a page with no access", sys(WRITE, &[1, guard, 8]), Error::BadAddress);
}

fn simple_calls(checks: &mut Checks) {
    let pid = checks.succeeds("GETPID", sys(Syscall::GetPid.number(), &[]));
    checks.that("GETPID returns at least 1", pid.is_some_and(|pid| pid >= 1));
    checks.returns("YIELD", sys(Syscall::Yield.number(), &[]), Ok(0));
    checks.returns("SLEEP 0 ms", sys(Syscall::Sleep.number(), &[0]), Ok(0));
    checks.returns("SLEEP 5 ms", sys(Syscall::Sleep.number(), &[5]), Ok(0));
}

fn map(checks: &mut Checks) {
    checks.fails_with("MAP 0 bytes", sys(MAP, &[0, 0, RW]), Error::InvalidArgument);
    checks.fails_with("MAP more than user space", sys(MAP, &[0, u64::MAX, RW]), Error::InvalidArgument);
    checks.fails_with("MAP with unknown protection bits", sys(MAP, &[0, PAGE, 8]), Error::InvalidArgument);
    checks.fails_with("MAP writable and executable", sys(MAP, &[0, PAGE, 6]), Error::PermissionDenied);
    let unaligned = MAP_AREA.start + 1;
    checks.fails_with("MAP with an unaligned hint", sys(MAP, &[unaligned, PAGE, RW]), Error::InvalidArgument);
    let addr = checks.succeeds("MAP one byte", sys(MAP, &[0, 1, RW]));
    let in_map_area = addr.is_some_and(|addr| MAP_AREA.contains(&addr) && addr.is_multiple_of(PAGE));
    checks.that("MAP returns a page in the map area", in_map_area);
}

fn unmap_and_protect(checks: &mut Checks) {
    let page = page_before_a_hole(checks);
    checks.fails_with("UNMAP an unaligned address", sys(UNMAP, &[page + 1, PAGE]), Error::InvalidArgument);
    checks.fails_with("UNMAP 0 bytes", sys(UNMAP, &[page, 0]), Error::InvalidArgument);
    checks.fails_with("UNMAP a length that overflows", sys(UNMAP, &[page, u64::MAX]), Error::InvalidArgument);
    checks.fails_with("UNMAP the kernel's image", sys(UNMAP, &[KERNEL_SPACE_START, PAGE]), Error::BadAddress);
    let top = USER_VA_LIMIT - PAGE;
    checks.fails_with("UNMAP past the top of user space", sys(UNMAP, &[top, 2 * PAGE]), Error::BadAddress);
    checks.fails_with("UNMAP unmapped memory", sys(UNMAP, &[UNMAPPED, PAGE]), Error::NotMapped);
    checks.fails_with("UNMAP running off a mapping", sys(UNMAP, &[page, 2 * PAGE]), Error::NotMapped);
    checks.fails_with("PROTECT unmapped memory", sys(PROTECT, &[UNMAPPED, PAGE, 1]), Error::NotMapped);
    checks.fails_with("PROTECT running off a mapping", sys(PROTECT, &[page, 2 * PAGE, 1]), Error::NotMapped);
    checks.fails_with(
        "PROTECT writable and executable",
        sys(PROTECT, &[page, PAGE, 6]),
        Error::PermissionDenied,
    );
    checks.fails_with("PROTECT with unknown bits", sys(PROTECT, &[page, PAGE, 0x10]), Error::InvalidArgument);
    checks.returns("PROTECT read-only", sys(PROTECT, &[page, PAGE, 1]), Ok(0));
    checks.returns("UNMAP it", sys(UNMAP, &[page, PAGE]), Ok(0));
    checks.fails_with("UNMAP it again", sys(UNMAP, &[page, PAGE]), Error::NotMapped);
}

fn spawn(checks: &mut Checks) {
    let name = b"no-such-program";
    let (text, len) = (name.as_ptr() as u64, name.len() as u64);
    checks.fails_with("SPAWN an unknown program", sys(SPAWN, &[text, len, 0, 0]), Error::NoSuchProgram);
    checks.fails_with("SPAWN with a null name", sys(SPAWN, &[0, 5, 0, 0]), Error::BadAddress);
    checks.fails_with(
        "SPAWN with the name in the kernel",
        sys(SPAWN, &[KERNEL_IMAGE, 5, 0, 0]),
        Error::BadAddress,
    );
    let long_name = MAX_PROGRAM_NAME_LEN as u64 + 1;
    checks.fails_with(
        "SPAWN with a name over the limit",
        sys(SPAWN, &[text, long_name, 0, 0]),
        Error::InvalidArgument,
    );
    // A readable buffer longer than the limit, so that only its length is wrong.
    let long_args = MAX_ARGS_LEN as u64 + 1;
    let buffer =
        checks.succeeds("MAP a buffer for long arguments", sys(MAP, &[0, long_args, RW])).unwrap_or(0);
    let args = [text, len, buffer, long_args];
    checks.fails_with("SPAWN with arguments over the limit", sys(SPAWN, &args), Error::InvalidArgument);
}

fn wait(checks: &mut Checks) {
    let any = ANY_CHILD as u64;
    checks.fails_with("WAIT with no children", sys(WAIT, &[any, 0]), Error::NoChild);
    checks.fails_with("WAIT for pid 0", sys(WAIT, &[0, 0]), Error::InvalidArgument);
    checks.fails_with("WAIT for pid -2", sys(WAIT, &[-2_i64 as u64, 0]), Error::InvalidArgument);
    let me = sys(Syscall::GetPid.number(), &[]);
    checks.fails_with("WAIT for itself", sys(WAIT, &[me, 0]), Error::NoChild);

    let name = b"hello";
    let args = b"from syscalls";
    let spawn = [name.as_ptr() as u64, name.len() as u64, args.as_ptr() as u64, args.len() as u64];
    let Some(child) = checks.succeeds("SPAWN hello", sys(SPAWN, &spawn)) else { return };
    // The status pointer is checked before waiting, and a refused WAIT reaps no one.
    let status_in_kernel = [child, KERNEL_IMAGE];
    checks.fails_with(
        "WAIT storing the status in the kernel",
        sys(WAIT, &status_in_kernel),
        Error::BadAddress,
    );
    checks.fails_with("WAIT storing the status at null+8", sys(WAIT, &[child, 8]), Error::BadAddress);
    let mut status: i64 = -1;
    let reaped = sys(WAIT, &[child, &raw mut status as u64]);
    checks.returns("WAIT for hello returns its pid", reaped, Ok(child));
    checks.that("hello exited with 0", status == 0);
    checks.fails_with("WAIT for it again", sys(WAIT, &[child, 0]), Error::NoChild);
}

fn memstats(checks: &mut Checks) {
    let size = MemStats::SIZE as u64;
    // Three words more than the kernel fills, to see that it stops at its own size.
    let mut stats = [0_u64; MemStats::SIZE / 8 + 3];
    let buffer = stats.as_mut_ptr() as u64;
    checks.fails_with("MEMSTATS into 4 bytes", sys(MEMSTATS, &[buffer, 4]), Error::InvalidArgument);
    checks.fails_with("MEMSTATS into null", sys(MEMSTATS, &[0, size]), Error::BadAddress);
    checks.fails_with("MEMSTATS into the kernel", sys(MEMSTATS, &[KERNEL_IMAGE, size]), Error::BadAddress);
    let page = checks.succeeds("MAP a page to make read-only", sys(MAP, &[0, PAGE, RW])).unwrap_or(UNMAPPED);
    checks.returns("PROTECT it read-only", sys(PROTECT, &[page, PAGE, 1]), Ok(0));
    checks.fails_with("MEMSTATS into read-only memory", sys(MEMSTATS, &[page, size]), Error::BadAddress);
    let larger = size_of_val(&stats) as u64;
    checks.returns(
        "MEMSTATS into a larger buffer fills its own size",
        sys(MEMSTATS, &[buffer, larger]),
        Ok(size),
    );
    checks.that("MEMSTATS stores its size first", stats[0] == size);
    let past = &stats[MemStats::SIZE / 8..];
    checks.that("MEMSTATS leaves bytes past its size alone", past.iter().all(|&word| word == 0));
    checks.returns("MEMSTATS into 16 bytes fills 16", sys(MEMSTATS, &[buffer, 16]), Ok(16));
    checks.that("a short MEMSTATS says so in its size", stats[0] == 16);

    let stats = memory::memstats();
    let consistent = stats.is_ok_and(|s| s.resident_pages == s.shared_pages + s.private_pages);
    checks.that("resident pages are shared plus private", consistent);
}
