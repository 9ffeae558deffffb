//! cowpi: a Rust unikernel for 64-bit Raspberry Pi whose memory manager is built around copy-on-write.
//!
//! Boot order: `boot.s` (one core, EL1, stack, BSS), then `early_boot` at the physical address with the
//! MMU off and no locks (board, UART, firmware mailbox, boot map, MMU on), then `kernel_init` in the upper
//! half: console lock and logger, heap, frame table, scheduler, shell, the other cores (`smp`).
#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod bench;
mod board;
mod console;
mod early_boot;
mod interrupt;
mod ktest;
mod memory;
mod panic;
mod programs;
mod shell;
mod smp;
mod sync;
mod syscall;
mod task;

/// The kernel test suites of `tests/kernel/`, compiled into the kernel so that `test run` can reach them.
#[path = "../tests/kernel/mod.rs"]
mod suite;

use arch::{cpu, mmu, time};
use board::pl011_uart::Pl011Uart;

/// Brings the kernel up on the boot core, in the upper half, and enters the shell. `early_boot` has
/// already turned the MMU on and left its findings.
fn kernel_init(_firmware_argument: u64) -> ! {
    mmu::drop_identity_map();
    let info = board::set_info(early_boot::take_findings());
    let spec = info.spec();
    let uart_address = board::mmio(spec.uart0);
    console::set_early_uart(uart_address);
    // SAFETY: the board's PL011, initialised by early_boot, mapped as Device memory in the linear map.
    console::init(unsafe { Pl011Uart::new(uart_address) });
    println!();
    println!("cowpi {} on {} ({})", env!("CARGO_PKG_VERSION"), info.revision.model(), spec.name);
    log::info!(
        "{} at EL{}, {} MiB of RAM usable, timer {} Hz",
        spec.cpu,
        cpu::exception_level(),
        info.usable_ram_bytes() >> 20,
        time::frequency()
    );
    memory::init(&info.ram);
    time::allow_el0_counter_reads();

    task::scheduler::init();
    // Before the boot core's tick starts (the wait for each core must not count as a late tick), and
    // before the first tasks, so that the shell's ready line comes with every core running.
    smp::start_secondary_cores();
    task::spawn_kernel("shell", || shell::run());
    memory::ksm::start_scanner();
    interrupt::start_timer_tick();
    cpu::unmask_irqs();
    // This thread is now the idle task: it runs only when no other task is ready.
    loop {
        aarch64_cpu::asm::wfi();
    }
}
