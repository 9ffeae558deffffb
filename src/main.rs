//! cowpi: a Rust unikernel for 64-bit Raspberry Pi whose memory manager is built around copy-on-write.
//!
//! Boot order (see `kernel_init`): the board is recognised from the CPU, the UART and the firmware's
//! mailbox are used with the MMU still off and no locks, then the boot identity map turns the MMU and
//! caches on, and only then do locks, the heap, the frame table and the shell start.
#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod board;
mod console;
mod ktest;
mod memory;
mod panic;
mod shell;

/// The kernel test suites of `tests/kernel/`, compiled into the kernel so that `test run` can reach them.
#[path = "../tests/kernel/mod.rs"]
mod suite;

use arch::{cpu, mmu, time};
use board::{BoardInfo, gpio::Gpio, pl011_uart::Pl011Uart};

/// Brings the kernel up on the boot core and enters the shell. Runs with the MMU off until
/// `mmu::enable_identity_map`: nothing before it may take a lock or use `Once`.
fn kernel_init(firmware_argument: u64) -> ! {
    time::record_boot();
    let cpu_id = cpu::CpuId::read();
    // Without a board entry there is no known UART to complain on: stop quietly (QEMU's -d int shows it).
    let Some(spec) = board::spec_for_cpu_part(cpu_id.part) else { cpu::halt() };

    // SAFETY: the addresses come from the board table for this CPU; the MMU is off, so every access is to
    // Device memory.
    let (gpio, uart) =
        unsafe { (Gpio::new(spec.gpio as usize, spec.gpio_pull), Pl011Uart::new(spec.uart0 as usize)) };
    gpio.map_pl011_uart();
    uart.init();
    console::set_early_uart(spec.uart0 as usize);

    let info = match BoardInfo::probe(spec, cpu_id, firmware_argument) {
        Ok(info) => info,
        Err(error) => panic!("asking the firmware about the board: {error}"),
    };
    // SAFETY: first and only call, on the boot core, MMU off; the map covers the kernel (in the first RAM
    // range), its stack and every device range of the board.
    unsafe { mmu::enable_identity_map(&info.ram, spec.device_ranges) };

    // From here on the MMU and caches are on: locks and atomics work.
    console::init(uart);
    let info = board::set_info(info);
    println!();
    println!("cowpi {} on {} ({})", env!("CARGO_PKG_VERSION"), info.revision.model(), info.spec.name);
    log::info!(
        "{} at EL{}, {} MiB of RAM usable, timer {} Hz",
        info.spec.cpu,
        cpu::exception_level(),
        info.usable_ram_bytes() >> 20,
        time::frequency()
    );
    memory::init(&info.ram);
    shell::run()
}
