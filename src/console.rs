//! The serial console: `print!`/`println!`, the `log` back-end, and the panic path's own writer.
//!
//! The UART is shared behind a spin lock taken through a closure (`with_uart`), so no caller can keep it
//! locked by accident. The lock needs atomics, so it exists only once the MMU and caches are on; the panic
//! and exception paths bypass it entirely (`panic_writer`), because they may run while it is held, or
//! before it exists.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};

use spin::Once;

use crate::arch::time;
use crate::board::pl011_uart::Pl011Uart;
use crate::sync::IrqSafeLock;

static UART: Once<IrqSafeLock<Pl011Uart>> = Once::new();
/// The console UART's address, for the lock-free panic writer; 0 until the board is known. A relaxed
/// atomic store/load is a plain store/load, fine before the MMU is on.
static UART_BASE: AtomicUsize = AtomicUsize::new(0);

/// Records the UART's address for the panic path. Safe before the MMU is on.
pub fn set_early_uart(base: usize) {
    UART_BASE.store(base, Ordering::Relaxed);
}

/// Puts the initialised UART behind the console lock and installs the logger. Needs the MMU on.
pub fn init(uart: Pl011Uart) {
    UART.call_once(|| IrqSafeLock::new(uart));
    // A second call finds the logger already set; that is fine.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
}

/// Runs `f` with the console UART locked. Output before `init` is dropped.
pub fn with_uart<R>(f: impl FnOnce(&mut Pl011Uart) -> R) -> Option<R> {
    UART.get().map(|uart| uart.lock(f))
}

/// Waits until everything written so far has left the UART.
pub fn flush() {
    with_uart(|uart| uart.flush());
}

/// Writes text, turning `\n` into `\r\n` for terminals.
struct NewlineTranslator<'a>(&'a Pl011Uart);

impl Write for NewlineTranslator<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                self.0.write_byte(b'\r');
            }
            self.0.write_byte(byte);
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    with_uart(|uart| {
        let _ = NewlineTranslator(uart).write_fmt(args);
    });
}

/// A console writer that takes no lock: for the panic and exception reports, which must get out even if
/// the console lock is held by the code that failed. Interleaving with other output is the lesser evil.
pub struct PanicWriter(Option<Pl011Uart>);

pub fn panic_writer() -> PanicWriter {
    match UART_BASE.load(Ordering::Relaxed) {
        0 => PanicWriter(None),
        // SAFETY: the address was recorded from the board table; writing bytes to the UART data register
        // is harmless even while another instance is in use.
        base => PanicWriter(Some(unsafe { Pl011Uart::new(base) })),
    }
}

impl Write for PanicWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        match &self.0 {
            Some(uart) => NewlineTranslator(uart).write_str(s),
            None => Ok(()),
        }
    }
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::_print(format_args!($($arg)*)));
}

#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::console::_print(format_args!("{}\n", format_args!($($arg)*))));
}

struct KernelLogger;

static LOGGER: KernelLogger = KernelLogger;

impl log::Log for KernelLogger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let uptime = time::uptime();
        crate::println!(
            "[{:>5}.{:06}] {:<5} {}",
            uptime.as_secs(),
            uptime.subsec_micros(),
            record.level(),
            record.args()
        );
    }

    fn flush(&self) {}
}
