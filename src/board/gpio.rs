//! GPIO: just enough to hand pins 14 and 15 to the PL011 UART.
//!
//! The function select registers are the same on the BCM2837 and the BCM2711, but the pull-up/down
//! control is not: the BCM2837 needs the GPPUD/GPPUDCLK0 clocking sequence, the BCM2711 has a plain
//! two-bits-per-pin register (GPIO_PUP_PDN_CNTRL_REG0).

use tock_registers::interfaces::{ReadWriteable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

use super::GpioPull;
use super::mmio::MmioBlock;

register_bitfields! {u32,
    GPFSEL1 [
        /// Pin 15: ALT0 is the PL011's RXD.
        FSEL15 OFFSET(15) NUMBITS(3) [Input = 0b000, Output = 0b001, Alt0 = 0b100],
        /// Pin 14: ALT0 is the PL011's TXD.
        FSEL14 OFFSET(12) NUMBITS(3) [Input = 0b000, Output = 0b001, Alt0 = 0b100]
    ],
    GPPUDCLK0 [
        PUDCLK15 OFFSET(15) NUMBITS(1) [NoEffect = 0, AssertClock = 1],
        PUDCLK14 OFFSET(14) NUMBITS(1) [NoEffect = 0, AssertClock = 1]
    ],
    GPIO_PUP_PDN_CNTRL_REG0 [
        GPIO_PUP_PDN_CNTRL15 OFFSET(30) NUMBITS(2) [NoResistor = 0b00, PullUp = 0b01],
        GPIO_PUP_PDN_CNTRL14 OFFSET(28) NUMBITS(2) [NoResistor = 0b00, PullUp = 0b01]
    ]
}

register_structs! {
    Registers {
        (0x00 => _reserved1),
        (0x04 => gpfsel1: ReadWrite<u32, GPFSEL1::Register>),
        (0x08 => _reserved2),
        (0x94 => gppud: ReadWrite<u32>),
        (0x98 => gppudclk0: ReadWrite<u32, GPPUDCLK0::Register>),
        (0x9C => _reserved3),
        (0xE4 => gpio_pup_pdn_cntrl_reg0: ReadWrite<u32, GPIO_PUP_PDN_CNTRL_REG0::Register>),
        (0xE8 => @END),
    }
}

pub struct Gpio {
    registers: MmioBlock<Registers>,
    pull: GpioPull,
}

impl Gpio {
    /// # Safety
    ///
    /// `base` must be the board's GPIO block, mapped as Device memory (or the MMU off).
    pub const unsafe fn new(base: usize, pull: GpioPull) -> Gpio {
        // SAFETY: forwarded from the caller.
        Gpio { registers: unsafe { MmioBlock::new(base) }, pull }
    }

    /// Routes GPIO 14 (TXD) and 15 (RXD) to the PL011, with their pull resistors off (the USB-serial
    /// adapter drives the line).
    pub fn map_pl011_uart(&self) {
        let r = &self.registers;
        r.gpfsel1.modify(GPFSEL1::FSEL14::Alt0 + GPFSEL1::FSEL15::Alt0);
        match self.pull {
            GpioPull::Gppud => {
                // BCM2837 ARM Peripherals, p. 101: set the control, wait 150 cycles, clock it into the
                // pins, wait 150 cycles, then remove both.
                const SETUP_CYCLES: usize = 150;
                r.gppud.set(0);
                spin_cycles(SETUP_CYCLES);
                r.gppudclk0.write(GPPUDCLK0::PUDCLK14::AssertClock + GPPUDCLK0::PUDCLK15::AssertClock);
                spin_cycles(SETUP_CYCLES);
                r.gppud.set(0);
                r.gppudclk0.set(0);
            }
            GpioPull::PupPdn => r.gpio_pup_pdn_cntrl_reg0.modify(
                GPIO_PUP_PDN_CNTRL_REG0::GPIO_PUP_PDN_CNTRL14::NoResistor
                    + GPIO_PUP_PDN_CNTRL_REG0::GPIO_PUP_PDN_CNTRL15::NoResistor,
            ),
        }
    }
}

fn spin_cycles(cycles: usize) {
    for _ in 0..cycles {
        aarch64_cpu::asm::nop();
    }
}
