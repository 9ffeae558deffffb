//! Board support: which Raspberry Pi this is, what it has, and its devices.
//!
//! One kernel image runs on every supported board. The CPU's `MIDR_EL1` part number picks the board's
//! entry in the table compiled from `boards/*/board.toml` (peripheral base, GPIO pull mechanism,
//! interrupt controller) before any device is touched; then the firmware's mailbox answers the rest
//! (board revision, RAM, serial number). Nothing about the board is a constant in the code.

pub mod gpio;
pub mod interrupt;
pub mod mailbox;
pub mod mmio;
pub mod pl011_uart;
pub mod power;
pub mod revision;

use core::ops::Range;

use spin::Once;

use crate::arch::cpu::CpuId;
use crate::arch::mmu;
use mailbox::{Mailbox, MailboxError};
use revision::BoardRevision;

/// How the SoC's GPIO block sets pull-up/down resistors.
#[derive(Debug, Clone, Copy)]
pub enum GpioPull {
    /// BCM2835-BCM2837: the GPPUD + GPPUDCLK0 sequence.
    Gppud,
    /// BCM2711: GPIO_PUP_PDN_CNTRL registers.
    PupPdn,
}

/// The interrupt controller and where it is.
#[derive(Debug, Clone, Copy)]
pub enum InterruptController {
    /// The BCM2836 per-core local controller (Pi 3).
    Bcm2836Local { base: u64 },
    /// An Arm GIC-400 (GICv2) distributor and CPU interface (Pi 4).
    Gic400 { gicd: u64, gicc: u64 },
}

/// What `boards/<name>/board.toml` says about a board.
#[derive(Debug)]
pub struct BoardSpec {
    pub name: &'static str,
    /// The model `board.toml` names; the firmware's revision code says which exact one it is.
    pub model: &'static str,
    pub soc: &'static str,
    pub cpu: &'static str,
    pub midr_part: u16,
    /// Physical ranges `[start, end)` to map as Device memory: the first `device_range_count` entries.
    /// Inline, so early boot can read it before the MMU is on.
    pub device_ranges: [(u64, u64); 4],
    pub device_range_count: usize,
    pub peripheral_base: u64,
    pub gpio: u64,
    pub gpio_pull: GpioPull,
    pub uart0: u64,
    pub mailbox: u64,
    pub power_management: u64,
    pub interrupt_controller: InterruptController,
}

impl BoardSpec {
    /// The board's device ranges.
    pub fn device_ranges(&self) -> &[(u64, u64)] {
        &self.device_ranges[..self.device_range_count.min(self.device_ranges.len())]
    }
}

include!(concat!(env!("OUT_DIR"), "/boards.rs"));

/// The index in [`BOARDS`] of the board whose cores have `MIDR_EL1.PartNum` = `part`.
pub fn index_for_cpu_part(part: u16) -> Option<usize> {
    BOARDS.iter().position(|b| b.midr_part == part)
}

/// The kernel-virtual address of a device register block (MMIO lies in the kernel's linear map).
pub fn mmio(physical: u64) -> usize {
    mmu::phys_to_virt(physical) as usize
}

/// What the kernel found out about the board it runs on, at boot.
///
/// Holds no pointers: `early_boot` fills it in at the kernel's physical address, and the kernel reads it
/// after moving to the upper half, where a pointer taken before would lead nowhere.
#[derive(Debug, Clone)]
pub struct BoardInfo {
    /// The board's entry in [`BOARDS`].
    pub board_index: usize,
    pub cpu: CpuId,
    pub revision: BoardRevision,
    pub serial_number: u64,
    /// The memory the firmware gives the ARM cores in the first GiB (`GET_ARM_MEMORY`).
    pub arm_memory: Range<u64>,
    /// All RAM the kernel may use, in ascending order, within the boot map's reach.
    pub ram: [Range<u64>; 2],
    /// The firmware's boot argument (x0): a device-tree address on a real Pi 4, ATAGs under QEMU.
    pub firmware_argument: u64,
}

const GIB: u64 = 1 << 30;

impl BoardInfo {
    /// Asks the firmware. Runs before the MMU is on: no locks, no atomics beyond plain loads and stores,
    /// no pointers kept.
    pub fn probe(board_index: usize, cpu: CpuId, firmware_argument: u64) -> Result<BoardInfo, MailboxError> {
        let spec = &BOARDS[board_index];
        // SAFETY: the spec's mailbox address is the board's mailbox 0; the MMU is off.
        let mailbox = unsafe { Mailbox::new(spec.mailbox as usize) };
        let [raw_revision] = mailbox.property(mailbox::TAG_GET_BOARD_REVISION, [0])?;
        let [serial_low, serial_high] = mailbox.property(mailbox::TAG_GET_BOARD_SERIAL, [0, 0])?;
        let [arm_base, arm_size] = mailbox.property(mailbox::TAG_GET_ARM_MEMORY, [0, 0])?;
        let revision = BoardRevision::decode(raw_revision);
        let arm_memory = arm_base as u64..arm_base as u64 + arm_size as u64;
        Ok(BoardInfo {
            board_index,
            cpu,
            revision,
            serial_number: (serial_high as u64) << 32 | serial_low as u64,
            ram: usable_ram(&arm_memory, revision.memory_bytes(), spec.device_ranges()),
            arm_memory,
            firmware_argument,
        })
    }

    /// The board's table entry.
    pub fn spec(&self) -> &'static BoardSpec {
        &BOARDS[self.board_index]
    }

    /// Bytes of RAM the kernel may use.
    pub fn usable_ram_bytes(&self) -> u64 {
        self.ram.iter().map(|r| r.end - r.start).sum()
    }
}

/// RAM the ARM may use: the firmware's ARM block in the first GiB (the VideoCore keeps the rest of that
/// GiB), plus, on boards with more than 1 GiB, the memory from 1 GiB up to the first device range or the
/// end of the boot map. Memory above 4 GiB (8 GiB Pi 4) is left out until the kernel maps it.
fn usable_ram(arm_memory: &Range<u64>, total: Option<u64>, devices: &[(u64, u64)]) -> [Range<u64>; 2] {
    let total = total.unwrap_or(arm_memory.end);
    let high_end = devices
        .iter()
        .map(|&(start, _)| start)
        .filter(|&start| start >= GIB)
        .fold(total.min(mmu::LINEAR_MAP_LIMIT), u64::min);
    let high = if high_end > GIB { GIB..high_end } else { 0..0 };
    [arm_memory.clone(), high]
}

static INFO: Once<BoardInfo> = Once::new();

/// Keeps the boot-time findings. Called once the MMU is on (`Once` needs atomics).
pub fn set_info(info: BoardInfo) -> &'static BoardInfo {
    INFO.call_once(|| info)
}

/// The board the kernel runs on.
pub fn info() -> &'static BoardInfo {
    INFO.get().expect("board::info() before board::set_info()")
}
