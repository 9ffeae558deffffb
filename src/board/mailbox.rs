//! The VideoCore mailbox property interface: asking the firmware about the board.
//!
//! The ARM writes a property buffer (a list of tags) to RAM, posts its address on channel 8 of mailbox 0,
//! and the VideoCore answers in the same buffer. The VideoCore reads and writes RAM directly, so the buffer
//! is cleaned from and invalidated in the data cache around the call. No lock is used: the kernel asks its
//! questions once, at boot, before the MMU is on, and keeps the answers (see `board::BoardInfo`).
//! Reference: the raspberrypi/firmware wiki, "Mailbox property interface".

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, WriteOnly};

use super::mmio::MmioBlock;
use crate::arch::cache;

register_bitfields! {u32,
    STATUS [
        FULL OFFSET(31) NUMBITS(1) [],
        EMPTY OFFSET(30) NUMBITS(1) []
    ]
}

register_structs! {
    Registers {
        (0x00 => read: ReadOnly<u32>),
        (0x04 => _reserved1),
        (0x18 => status: ReadOnly<u32, STATUS::Register>),
        (0x1C => _reserved2),
        (0x20 => write: WriteOnly<u32>),
        (0x24 => @END),
    }
}

/// Channel 8: property tags, ARM to VideoCore.
const CHANNEL_PROPERTY: u32 = 8;
const REQUEST: u32 = 0;
const RESPONSE_SUCCESS: u32 = 0x8000_0000;
/// Set in a tag's request/response word when the firmware has answered that tag.
const TAG_RESPONSE: u32 = 0x8000_0000;
const END_TAG: u32 = 0;
/// Polls of the status register before giving up on the firmware.
const POLL_LIMIT: u32 = 10_000_000;

pub const TAG_GET_BOARD_REVISION: u32 = 0x0001_0002;
pub const TAG_GET_BOARD_SERIAL: u32 = 0x0001_0004;
pub const TAG_GET_ARM_MEMORY: u32 = 0x0001_0005;

/// Why a property call failed.
#[derive(Debug, Clone, Copy)]
pub enum MailboxError {
    /// The mailbox stayed full or empty for too long.
    Timeout,
    /// The firmware did not accept the buffer or did not answer the tag.
    Rejected { tag: u32, code: u32 },
}

impl core::fmt::Display for MailboxError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MailboxError::Timeout => f.write_str("the mailbox did not answer in time"),
            MailboxError::Rejected { tag, code } => {
                write!(f, "the firmware rejected tag {tag:#010x} (response code {code:#010x})")
            }
        }
    }
}

/// A property buffer with room for one tag of up to 8 value words. 16-byte alignment: the low 4 bits of
/// the address carry the channel.
#[repr(C, align(64))]
struct PropertyBuffer([u32; 16]);

pub struct Mailbox {
    registers: MmioBlock<Registers>,
}

impl Mailbox {
    /// # Safety
    ///
    /// `base` must be the board's mailbox 0, mapped as Device memory (or the MMU off).
    pub const unsafe fn new(base: usize) -> Mailbox {
        // SAFETY: forwarded from the caller.
        Mailbox { registers: unsafe { MmioBlock::new(base) } }
    }

    /// Sends one tag with `N` value words (the request) and returns the firmware's `N` response words.
    pub fn property<const N: usize>(&self, tag: u32, request: [u32; N]) -> Result<[u32; N], MailboxError> {
        const HEADER: usize = 5;
        // Checked at compile time: a run-time panic could not be reported before the MMU is on.
        const { assert!(HEADER + N < 16, "property buffer too small") };
        let mut buffer = PropertyBuffer([0; 16]);
        let words = &mut buffer.0;
        words[0] = ((HEADER + N + 1) * 4) as u32;
        words[1] = REQUEST;
        words[2] = tag;
        words[3] = (N * 4) as u32;
        words[4] = 0;
        words[HEADER..HEADER + N].copy_from_slice(&request);
        words[HEADER + N] = END_TAG;

        let address = words.as_ptr() as usize;
        let length = core::mem::size_of::<PropertyBuffer>();
        cache::clean_and_invalidate(address, length);
        self.wait_while(STATUS::FULL)?;
        self.registers.write.set((address as u32 & !0xF) | CHANNEL_PROPERTY);
        loop {
            self.wait_while(STATUS::EMPTY)?;
            if self.registers.read.get() & 0xF == CHANNEL_PROPERTY {
                break;
            }
        }
        cache::clean_and_invalidate(address, length);

        // SAFETY: the buffer is a live local; volatile because the firmware, not this code, wrote it.
        let read = |i: usize| unsafe { core::ptr::read_volatile(words.as_ptr().add(i)) };
        let code = read(1);
        let tag_code = read(4);
        if code != RESPONSE_SUCCESS || tag_code & TAG_RESPONSE == 0 {
            return Err(MailboxError::Rejected { tag, code });
        }
        Ok(core::array::from_fn(|i| read(HEADER + i)))
    }

    fn wait_while(
        &self,
        flag: tock_registers::fields::Field<u32, STATUS::Register>,
    ) -> Result<(), MailboxError> {
        for _ in 0..POLL_LIMIT {
            if !self.registers.status.is_set(flag) {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(MailboxError::Timeout)
    }
}
