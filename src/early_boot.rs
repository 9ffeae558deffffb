//! The first stage of the kernel, run at its physical load address with the MMU off.
//!
//! The kernel is linked for the upper half (see `arch::mmu`), but the firmware starts it at its physical
//! address with the MMU and caches off. Code here must therefore be position-independent in practice:
//! statics are reached PC-relative, which works at either address, but a pointer *stored* in static data
//! (a string slice in a static, a vtable, so any `dyn` call or formatting) holds an upper-half address that
//! leads nowhere yet. And real hardware cannot do atomic read-modify-write until the MMU and data cache are
//! on, so no lock or `Once` either. It does the least that must come first: recognise the board, start the
//! UART, ask the firmware about RAM, build the boot map and turn the MMU on; then `boot.s` jumps to the
//! upper half and `kernel_init` takes over with what is left here in [`take_findings`].

use crate::arch::mmu::boot_map::{self, KernelImage};
use crate::arch::{cpu, time};
use crate::board::{self, BoardInfo, gpio::Gpio, pl011_uart::Pl011Uart};

/// What early boot found, for `kernel_init`. Pointer-free by construction (see `BoardInfo`).
static mut FINDINGS: Option<BoardInfo> = None;

unsafe extern "C" {
    static __boot_stack_bottom: u8;
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __kernel_end: u8;
}

/// Physical address of a linker symbol: PC-relative, and the code runs at its physical address.
fn physical(symbol: *const u8) -> u64 {
    symbol as u64
}

/// Called by `boot.s` on the boot core, at the physical address, with a stack and zeroed BSS.
///
/// # Safety
///
/// Only `boot.s` may call it, once, before anything else that depends on the MMU.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn early_boot(firmware_argument: u64) {
    time::record_boot();
    let cpu_id = cpu::CpuId::read();
    // Without a board entry there is no known UART to complain on: stop (QEMU's `-d int` shows where).
    let Some(board_index) = board::index_for_cpu_part(cpu_id.part) else { cpu::halt() };
    let spec = &board::BOARDS[board_index];

    // SAFETY: the addresses come from the board table for this CPU; with the MMU off they are physical.
    let (gpio, uart) =
        unsafe { (Gpio::new(spec.gpio as usize, spec.gpio_pull), Pl011Uart::new(spec.uart0 as usize)) };
    gpio.map_pl011_uart();
    uart.init();

    let Ok(findings) = BoardInfo::probe(board_index, cpu_id, firmware_argument) else {
        // No formatting before the MMU is on: a plain byte string is reached PC-relative.
        uart.write_bytes(b"\r\ncowpi: the firmware's mailbox did not answer; stopped\r\n");
        cpu::halt()
    };

    let image = KernelImage {
        stack: physical(&raw const __boot_stack_bottom)..physical(&raw const __kernel_start),
        text: physical(&raw const __kernel_start)..physical(&raw const __text_end),
        rodata: physical(&raw const __text_end)..physical(&raw const __rodata_end),
        data: physical(&raw const __rodata_end)..physical(&raw const __kernel_end),
    };
    // SAFETY: once, on the boot core, MMU off, BSS zeroed; the RAM ranges come from the firmware and hold
    // the image (loaded at 0x80000, in the first block of RAM) and its stack.
    unsafe { boot_map::build_and_enable(&findings.ram, spec.device_ranges(), &image) };
    // SAFETY: nothing else runs yet; `take_findings` reads it only after this returns.
    unsafe { FINDINGS = Some(findings) };
}

/// What early boot found. Called once by `kernel_init`, in the upper half.
pub fn take_findings() -> BoardInfo {
    // SAFETY: written once by `early_boot` before the jump to the upper half; read once, here, on the same
    // core with nothing else running.
    unsafe { core::ptr::replace(&raw mut FINDINGS, None) }.expect("early_boot left no findings")
}
