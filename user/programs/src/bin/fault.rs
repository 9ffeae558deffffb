//! `fault <kind>`: commits one illegal act, which the kernel must answer by killing the task (and nothing
//! else: the kernel and every other task go on).
//!
//! Each kind names the signal the kernel should report through the parent's `WAIT`: `-11` (segmentation
//! fault) for a forbidden memory access, `-4` (illegal instruction) for `udf`. The program prints what it
//! is about to do and what it expects; if it survives the act it says so and exits with 1. With no or an
//! unknown kind it prints the list and exits with 2.
//!
//! The illegal accesses are written in assembly. In Rust, reading a null pointer is undefined behaviour
//! that the compiler may assume never happens and optimise away; the test needs the CPU to do it.
#![no_std]
#![no_main]

use core::arch::asm;
use core::hint::black_box;
use core::sync::atomic::AtomicU32;

use cowpi_user::abi::layout::{IMAGE_AREA, KERNEL_SPACE_START, PAGE_SIZE};
use cowpi_user::abi::{ExitStatus, Signal};
use cowpi_user::{Prot, entry, memory, println};

entry!(main);

/// One illegal act.
struct Fault {
    kind: &'static str,
    does: &'static str,
    expect: Signal,
    commit: fn(),
}

const FAULTS: [Fault; 12] = [
    segv("null", "reads address 0", null),
    segv("kernel-read", "reads the kernel's image", kernel_read),
    segv("kernel-write", "writes the kernel's image", kernel_write),
    segv("kernel-exec", "jumps into the kernel's image", kernel_exec),
    segv("text-write", "writes its own code", text_write),
    segv("data-exec", "jumps into its own data", data_exec),
    Fault {
        kind: "undefined",
        does: "executes an undefined instruction",
        expect: Signal::IllegalInstruction,
        commit: undefined,
    },
    segv("unmapped", "reads where nothing is mapped", unmapped),
    segv("no-access", "reads a page mapped with no access", no_access),
    segv("hidden", "reads a page it wrote, then made no-access with PROTECT", hidden),
    segv("readonly-write", "writes a page it made read-only", readonly_write),
    segv("stack-overflow", "recurses past the end of its stack", stack_overflow),
];

/// A fault the kernel must answer with a segmentation fault: every forbidden memory access.
const fn segv(kind: &'static str, does: &'static str, commit: fn()) -> Fault {
    Fault { kind, does, expect: Signal::SegmentationFault, commit }
}

fn main(args: &str) -> i32 {
    let kind = args.split_whitespace().next().unwrap_or("");
    let Some(fault) = FAULTS.iter().find(|fault| fault.kind == kind) else {
        println!("usage: fault <kind>, one of:");
        for fault in &FAULTS {
            println!("  {:16} {}", fault.kind, fault.does);
        }
        return 2;
    };
    let status = ExitStatus::Killed(fault.expect);
    println!("fault: {kind}: {}; expect to be {status}, status {}", fault.does, status.to_raw());
    (fault.commit)();
    println!("fault: FAILED: survived {kind}");
    1
}

/// Where linker.ld places the kernel image: mapped, but for EL1 only.
const KERNEL_IMAGE: u64 = KERNEL_SPACE_START + 0x8_0000;

fn null() {
    load(0);
}

fn kernel_read() {
    load(KERNEL_IMAGE);
}

fn kernel_write() {
    store(KERNEL_IMAGE);
}

fn kernel_exec() {
    call(KERNEL_IMAGE);
}

fn text_write() {
    store((text_write as fn()) as usize as u64);
}

/// An AArch64 `ret` instruction, in `.data` (an atomic is mutable, so it cannot go in read-only memory).
/// Were it executed, the jump would simply return.
static RET_IN_DATA: AtomicU32 = AtomicU32::new(0xd65f_03c0);

fn data_exec() {
    call(RET_IN_DATA.as_ptr() as u64);
}

fn undefined() {
    // SAFETY: `udf` only raises an exception.
    unsafe { asm!("udf #0", options(nomem, nostack)) };
}

fn unmapped() {
    // The gap between the image area and the map area is never mapped.
    load(IMAGE_AREA.end);
}

fn no_access() {
    let page = memory::map(PAGE_SIZE as usize, Prot::NONE).expect("MAP with no access");
    load(page as u64);
}

fn hidden() {
    let page = memory::map(PAGE_SIZE as usize, Prot::READ_WRITE).expect("MAP");
    store(page as u64);
    // SAFETY: no reference into the page exists, only the raw address.
    unsafe { memory::protect(page, PAGE_SIZE as usize, Prot::NONE) }.expect("PROTECT");
    // The page keeps its frame, but EL0 may not touch it: a permission fault, not a missing page.
    load(page as u64);
}

fn readonly_write() {
    let page = memory::map(PAGE_SIZE as usize, Prot::READ_WRITE).expect("MAP");
    store(page as u64);
    // SAFETY: no reference into the page exists, only the raw address.
    unsafe { memory::protect(page, PAGE_SIZE as usize, Prot::READ) }.expect("PROTECT");
    store(page as u64);
}

fn stack_overflow() {
    recurse(0);
}

/// Uses half a kilobyte of stack per call, forever. `black_box` keeps the compiler from shrinking the
/// frames or turning the recursion into a loop.
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 64]);
    if black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_add(frame[0])
}

/// Reads 8 bytes at `addr`.
fn load(addr: u64) -> u64 {
    let value;
    // SAFETY: a load changes no memory; if `addr` is not readable the kernel ends the task right here.
    unsafe {
        asm!("ldr {value}, [{addr}]", addr = in(reg) addr, value = out(reg) value, options(nostack, readonly))
    };
    value
}

/// Writes 8 zero bytes at `addr`.
fn store(addr: u64) {
    // SAFETY: the kernel must stop this store. Were it allowed, it would clear 8 bytes of the kernel (the
    // very bug this program looks for) or of this task's own memory, after which `main` only reports the
    // survival and exits.
    unsafe { asm!("str xzr, [{addr}]", addr = in(reg) addr, options(nostack)) };
}

/// Calls `addr` as a function taking and returning nothing.
fn call(addr: u64) {
    // SAFETY: the kernel must stop this jump. Were it allowed into our data it would run the lone `ret`
    // there and come back; into the kernel, the bug this program looks for.
    unsafe { asm!("blr {addr}", addr = in(reg) addr, clobber_abi("C"), options(nostack)) };
}
