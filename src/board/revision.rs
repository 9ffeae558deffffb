//! Decoding the firmware's board revision code (mailbox tag 0x0001_0002).
//!
//! New-style codes (bit 23 set) pack the model, SoC, memory size and revision into bit fields; see the
//! Raspberry Pi documentation, "Raspberry Pi revision codes". QEMU reports 0xa02082 for raspi3b and
//! 0xb03115 for raspi4b.

/// A decoded revision code.
#[derive(Debug, Clone, Copy)]
pub struct BoardRevision {
    pub raw: u32,
}

impl BoardRevision {
    pub fn decode(raw: u32) -> BoardRevision {
        BoardRevision { raw }
    }

    fn new_style(self) -> bool {
        self.raw & (1 << 23) != 0
    }

    /// The board's total RAM (bits 20-22: 256 MiB << n), for new-style codes.
    pub fn memory_bytes(self) -> Option<u64> {
        self.new_style().then(|| (256u64 << 20) << ((self.raw >> 20) & 0x7))
    }

    /// The model name, for the models cowpi knows.
    pub fn model(self) -> &'static str {
        if !self.new_style() {
            return "unknown (old-style revision code)";
        }
        match (self.raw >> 4) & 0xFF {
            0x08 => "Raspberry Pi 3 Model B",
            0x0D => "Raspberry Pi 3 Model B+",
            0x0E => "Raspberry Pi 3 Model A+",
            0x0A => "Raspberry Pi Compute Module 3",
            0x10 => "Raspberry Pi Compute Module 3+",
            0x11 => "Raspberry Pi 4 Model B",
            0x12 => "Raspberry Pi Zero 2 W",
            0x13 => "Raspberry Pi 400",
            0x14 => "Raspberry Pi Compute Module 4",
            _ => "unknown model",
        }
    }

    /// The board's revision as `1.x`.
    pub fn board_revision(self) -> u32 {
        self.raw & 0xF
    }
}

crate::kernel_test! {
    /// Revision codes of boards cowpi supports, from the Raspberry Pi documentation's table.
    fn known_revision_codes_decode() -> TestResult {
        let pi3 = BoardRevision::decode(0xa0_2082);
        crate::check_eq!(pi3.model(), "Raspberry Pi 3 Model B");
        crate::check_eq!(pi3.memory_bytes(), Some(1 << 30));
        crate::check_eq!(pi3.board_revision(), 2);
        let pi4_8g = BoardRevision::decode(0xd0_3114);
        crate::check_eq!(pi4_8g.model(), "Raspberry Pi 4 Model B");
        crate::check_eq!(pi4_8g.memory_bytes(), Some(8 << 30));
        let old_style = BoardRevision::decode(0x000e);
        crate::check_eq!(old_style.memory_bytes(), None);
        Ok(())
    }
}
