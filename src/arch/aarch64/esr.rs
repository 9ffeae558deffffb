//! Decoding of `ESR_EL1`, the Exception Syndrome Register, into words a person can act on.
//!
//! aarch64-cpu exposes `ESR_EL1.ISS` as one flat field, so the instruction- and data-abort fields (WnR,
//! DFSC/IFSC) are decoded here, after the Arm ARM (D17.2.37, "ESR_EL1, Exception Syndrome Register").

use core::fmt;

/// A decoded exception syndrome.
#[derive(Clone, Copy)]
pub struct Syndrome(pub u64);

impl Syndrome {
    /// Exception class, `ESR_EL1[31:26]`.
    pub fn class(self) -> u8 {
        ((self.0 >> 26) & 0x3F) as u8
    }

    /// Instruction-specific syndrome, `ESR_EL1[24:0]`.
    pub fn iss(self) -> u32 {
        (self.0 & 0x1FF_FFFF) as u32
    }

    /// Whether this is an instruction or data abort (from this or a lower EL).
    pub fn is_abort(self) -> bool {
        matches!(self.class(), 0x20 | 0x21 | 0x24 | 0x25)
    }

    /// Data aborts only: the access was a write (`WnR`, ISS bit 6).
    pub fn is_write(self) -> bool {
        matches!(self.class(), 0x24 | 0x25) && self.iss() & (1 << 6) != 0
    }

    /// What the exception class means.
    pub fn class_name(self) -> &'static str {
        match self.class() {
            0x00 => "unknown reason (undefined instruction)",
            0x01 => "trapped WFI or WFE",
            0x07 => "trapped SIMD or floating-point access",
            0x0E => "illegal execution state",
            0x15 => "SVC instruction (system call)",
            0x18 => "trapped MSR, MRS or system instruction",
            0x20 => "instruction abort from a lower exception level",
            0x21 => "instruction abort at the same exception level",
            0x22 => "PC alignment fault",
            0x24 => "data abort from a lower exception level",
            0x25 => "data abort at the same exception level",
            0x26 => "SP alignment fault",
            0x2C => "trapped floating-point exception",
            0x2F => "SError interrupt",
            0x30 | 0x31 => "breakpoint",
            0x32 | 0x33 => "software step",
            0x34 | 0x35 => "watchpoint",
            0x3C => "BRK instruction",
            _ => "reserved or unhandled exception class",
        }
    }

    /// Aborts only: the fault status code (DFSC or IFSC, ISS bits 5:0).
    pub fn fault_status(self) -> u8 {
        (self.iss() & 0x3F) as u8
    }
}

/// Describes a DFSC/IFSC fault status code.
pub fn fault_status_name(code: u8) -> (&'static str, Option<u8>) {
    let level = Some(code & 0b11);
    match code {
        0b00_0000..=0b00_0011 => ("address size fault", level),
        0b00_0100..=0b00_0111 => ("translation fault", level),
        0b00_1000..=0b00_1011 => ("access flag fault", level),
        0b00_1100..=0b00_1111 => ("permission fault", level),
        0b01_0000 => ("synchronous external abort", None),
        0b01_0001 => ("synchronous tag check fault", None),
        0b10_0001 => ("alignment fault", None),
        0b11_0000 => ("TLB conflict abort", None),
        0b11_0001 => ("unsupported atomic hardware update fault", None),
        _ => ("other fault", None),
    }
}

impl fmt::Display for Syndrome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (EC {:#04x})", self.class_name(), self.class())?;
        if self.is_abort() {
            let (name, level) = fault_status_name(self.fault_status());
            write!(f, ": {name}")?;
            if let Some(level) = level {
                write!(f, " at level {level}")?;
            }
            if matches!(self.class(), 0x24 | 0x25) {
                f.write_str(if self.is_write() { ", on a write" } else { ", on a read" })?;
            }
        }
        Ok(())
    }
}

crate::kernel_test! {
    /// The syndrome decoder the exception report uses, on syndromes the Arm ARM defines.
    fn exception_syndromes_decode() -> TestResult {
        // Data abort at EL1, permission fault at level 3, on a write (WnR).
        let write_fault = Syndrome(0x9600_004F);
        crate::check_eq!(write_fault.class(), 0x25);
        crate::check!(write_fault.is_write());
        let text = alloc::format!("{write_fault}");
        crate::check!(text.contains("permission fault at level 3, on a write"), "{text}");
        // Data abort from EL0, translation fault level 1, read.
        crate::check!(alloc::format!("{}", Syndrome(0x9200_0005)).contains("translation fault at level 1, on a read"));
        crate::check!(alloc::format!("{}", Syndrome(0x5600_0000)).starts_with("SVC instruction"));
        crate::check!(alloc::format!("{}", Syndrome(0x0200_0000)).starts_with("unknown reason"));
        Ok(())
    }
}
