//! `pattern <byte>`: checks that a task's memory is its own. Run several at once with different bytes.
//!
//! It fills two pages with `<byte>`: one in its data segment, which starts out as `0x5A` from the program
//! image (so every instance of `pattern` begins with the same content, a natural candidate for sharing
//! copy-on-write), and one of anonymous memory from `MAP`. Then it yields and sleeps a few times, so other
//! tasks, perhaps other `pattern`s writing other bytes, run in between, and checks after each pause that
//! both pages still hold its own byte. Exits with 0 if they always did, 1 if not, 2 for a bad argument.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU8, Ordering};

use cowpi_programs::args;
use cowpi_user::abi::layout::PAGE_SIZE;
use cowpi_user::{Prot, entry, memory, println, task};

entry!(main);

const PAGE: usize = PAGE_SIZE as usize;

/// What the data page holds in the image.
const INITIAL: u8 = 0x5A;

/// A page of initialised data. Atomics make it writable through a shared reference without `unsafe`;
/// their initial value places it in `.data` (stored in the image) rather than `.bss`.
#[repr(align(4096))]
struct DataPage([AtomicU8; PAGE]);

static DATA_PAGE: DataPage = DataPage([const { AtomicU8::new(INITIAL) }; PAGE]);

fn main(args: &str) -> i32 {
    let (value, pauses) = match (args::number(args, 0, u64::MAX), args::number(args, 1, 8)) {
        (Ok(value), Ok(pauses)) if value <= 0xff && value != u64::from(INITIAL) => (value as u8, pauses),
        _ => {
            println!("usage: pattern <byte> [pauses=8], a byte from 0 to 255 other than {INITIAL:#x}");
            return 2;
        }
    };
    let pid = task::getpid();

    // Another instance's writes must not show through: this task starts from the image.
    if let Some(offset) = first_difference(&DATA_PAGE.0, INITIAL) {
        println!(
            "pattern {pid}: FAILED: data page differs from the image at offset {offset} before any write"
        );
        return 1;
    }
    let anonymous = match memory::map(PAGE, Prot::READ_WRITE) {
        Ok(addr) => addr,
        Err(error) => {
            println!("pattern {pid}: FAILED: MAP: {error}");
            return 1;
        }
    };
    // SAFETY: MAP returned a fresh, readable and writable page that nothing else refers to; it stays
    // mapped for the rest of the task. `AtomicU8` has the size and alignment of `u8`.
    let anonymous: &[AtomicU8] = unsafe { core::slice::from_raw_parts(anonymous.cast::<AtomicU8>(), PAGE) };
    for page in [&DATA_PAGE.0[..], anonymous] {
        page.iter().for_each(|byte| byte.store(value, Ordering::Relaxed));
    }
    println!("pattern {pid}: filled two pages with {value:#04x}");

    for pause in 1..=pauses {
        if pause % 2 == 0 {
            task::sleep(10)
        } else {
            task::yield_now()
        }
        for (name, page) in [("data", &DATA_PAGE.0[..]), ("anonymous", anonymous)] {
            if let Some(offset) = first_difference(page, value) {
                let found = page[offset].load(Ordering::Relaxed);
                println!(
                    "pattern {pid}: FAILED: {name} page holds {found:#04x} at offset {offset}, pause {pause}"
                );
                return 1;
            }
        }
    }
    println!("pattern {pid}: intact");
    0
}

/// The offset of the first byte of `page` that is not `value`.
fn first_difference(page: &[AtomicU8], value: u8) -> Option<usize> {
    page.iter().position(|byte| byte.load(Ordering::Relaxed) != value)
}
