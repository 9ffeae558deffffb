//! The PL011 UART (UART0), cowpi's serial console, with `embedded-io` `Read` and `Write`.
//!
//! Register layout from the ARM PrimeCell UART (PL011) Technical Reference Manual, r1p5. The UART clock is
//! 48 MHz on both boards (config.txt sets `init_uart_clock=48000000`), so 115200 baud is an integer
//! divisor of 26 and a fractional divisor of 3 (48 MHz / (16 * 115200) = 26.0417; 0.0417 * 64 = 2.67,
//! rounded to 3). QEMU ignores the divisors.

use core::convert::Infallible;

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

use super::mmio::MmioBlock;

register_bitfields! {u32,
    /// Flag register.
    FR [
        /// Transmit FIFO empty.
        TXFE OFFSET(7) NUMBITS(1) [],
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// Busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    IBRD [BAUD_DIVINT OFFSET(0) NUMBITS(16) []],
    FBRD [BAUD_DIVFRAC OFFSET(0) NUMBITS(6) []],
    /// Line control register.
    LCR_H [
        WLEN OFFSET(5) NUMBITS(2) [FiveBit = 0b00, SixBit = 0b01, SevenBit = 0b10, EightBit = 0b11],
        /// FIFOs enabled: 16 bytes of slack each way.
        FEN OFFSET(4) NUMBITS(1) [FifosDisabled = 0, FifosEnabled = 1]
    ],
    /// Control register.
    CR [
        RXE OFFSET(9) NUMBITS(1) [Disabled = 0, Enabled = 1],
        TXE OFFSET(8) NUMBITS(1) [Disabled = 0, Enabled = 1],
        UARTEN OFFSET(0) NUMBITS(1) [Disabled = 0, Enabled = 1]
    ],
    /// Interrupt clear register.
    ICR [ALL OFFSET(0) NUMBITS(11) []]
}

register_structs! {
    Registers {
        (0x00 => dr: ReadWrite<u32>),
        (0x04 => _reserved1),
        (0x18 => fr: ReadOnly<u32, FR::Register>),
        (0x1C => _reserved2),
        (0x24 => ibrd: WriteOnly<u32, IBRD::Register>),
        (0x28 => fbrd: WriteOnly<u32, FBRD::Register>),
        (0x2C => lcr_h: WriteOnly<u32, LCR_H::Register>),
        (0x30 => cr: WriteOnly<u32, CR::Register>),
        (0x34 => _reserved3),
        (0x44 => icr: WriteOnly<u32, ICR::Register>),
        (0x48 => @END),
    }
}

/// The UART's reference clock, set by `init_uart_clock` in config.txt.
pub const UART_CLOCK_HZ: u32 = 48_000_000;
/// The console's line speed.
pub const BAUD_RATE: u32 = 115_200;

pub struct Pl011Uart {
    registers: MmioBlock<Registers>,
}

impl Pl011Uart {
    /// # Safety
    ///
    /// `base` must be the board's PL011, mapped as Device memory (or the MMU off). Several instances may
    /// exist (the panic path makes its own); each byte written goes out whole.
    pub const unsafe fn new(base: usize) -> Pl011Uart {
        // SAFETY: forwarded from the caller.
        Pl011Uart { registers: unsafe { MmioBlock::new(base) } }
    }

    /// Sets 115200 baud, 8N1, FIFOs on. The GPIO pins must already be routed to the UART.
    pub fn init(&self) {
        let r = &self.registers;
        // Let what the firmware was sending drain, then disable before changing the line settings
        // (PL011 TRM 3.3.8: the control register must not change while the UART is enabled).
        self.flush();
        r.cr.set(0);
        r.icr.write(ICR::ALL::SET);
        let divisor_x64 = (UART_CLOCK_HZ * 4 + BAUD_RATE / 2) / BAUD_RATE;
        r.ibrd.write(IBRD::BAUD_DIVINT.val(divisor_x64 / 64));
        r.fbrd.write(FBRD::BAUD_DIVFRAC.val(divisor_x64 % 64));
        r.lcr_h.write(LCR_H::WLEN::EightBit + LCR_H::FEN::FifosEnabled);
        r.cr.write(CR::UARTEN::Enabled + CR::TXE::Enabled + CR::RXE::Enabled);
    }

    /// Sends one byte, waiting for room in the transmit FIFO.
    pub fn write_byte(&self, byte: u8) {
        while self.registers.fr.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.registers.dr.set(byte as u32);
    }

    /// Sends bytes as they are (no newline translation).
    pub fn write_bytes(&self, bytes: &[u8]) {
        bytes.iter().for_each(|&b| self.write_byte(b));
    }

    /// Waits until every queued byte has left the UART.
    pub fn flush(&self) {
        while self.registers.fr.is_set(FR::BUSY) {
            core::hint::spin_loop();
        }
    }

    /// A received byte, if one is waiting.
    pub fn try_read_byte(&self) -> Option<u8> {
        if self.registers.fr.is_set(FR::RXFE) { None } else { Some(self.registers.dr.get() as u8) }
    }
}

impl embedded_io::ErrorType for Pl011Uart {
    type Error = Infallible;
}

impl embedded_io::Write for Pl011Uart {
    /// Writes the whole buffer (waiting for FIFO room), so never `Ok(0)` for a non-empty one.
    fn write(&mut self, buffer: &[u8]) -> Result<usize, Infallible> {
        buffer.iter().for_each(|&b| self.write_byte(b));
        Ok(buffer.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Pl011Uart::flush(self);
        Ok(())
    }
}

impl embedded_io::Read for Pl011Uart {
    /// Waits for at least one byte, then returns what the receive FIFO holds, up to `buffer.len()`.
    fn read(&mut self, buffer: &mut [u8]) -> Result<usize, Infallible> {
        if buffer.is_empty() {
            return Ok(0);
        }
        let mut count = 0;
        while count == 0 {
            while count < buffer.len() {
                match self.try_read_byte() {
                    Some(byte) => {
                        buffer[count] = byte;
                        count += 1;
                    }
                    None => break,
                }
            }
        }
        Ok(count)
    }
}

impl embedded_io::ReadReady for Pl011Uart {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(!self.registers.fr.is_set(FR::RXFE))
    }
}
