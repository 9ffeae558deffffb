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
            0x00 => "unknown reason",
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

/// What a user task did to end up killed, in plain words: the common cases by name, anything else by its
/// exception class. It names the act; [`Syndrome`]'s own `Display` gives the Arm ARM's decoding beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// EC 0x00 from EL0: an instruction the CPU does not implement (`udf`, or any unallocated encoding),
    /// with its word when the kernel could read it. The Arm ARM calls the class "unknown reason"; from
    /// EL0 it is almost always this.
    UndefinedInstruction { word: Option<u32> },
    /// `BRK #imm` (EC 0x3C), with its immediate.
    Breakpoint { immediate: u16 },
    /// A data or instruction abort: what was tried, and why the MMU refused it.
    Access { access: AccessKind, refusal: Refusal },
    /// A branch to an address that is not a multiple of 4 (EC 0x22).
    MisalignedPc,
    /// A load or store through an SP that is not 16-byte aligned (EC 0x26).
    MisalignedSp,
    /// Anything else: the exception class's name.
    Other(&'static str),
}

/// The kind of access an abort reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKind {
    Read,
    Write,
    Execute,
}

/// Why the MMU refused an access, by fault status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A translation fault: nothing is mapped there.
    Unmapped,
    /// A permission fault: mapped, but not for this access at this exception level.
    NotPermitted,
    /// The kernel's half of the address space (`TTBR1_EL1`), which EL0 may never touch.
    KernelMemory,
    /// An alignment fault.
    Misaligned,
    /// Any other fault status: its name.
    Other(&'static str),
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Cause::UndefinedInstruction { word: Some(word) } => {
                write!(f, "undefined instruction {word:#010x}")
            }
            Cause::UndefinedInstruction { word: None } => {
                f.write_str("undefined instruction (word unreadable)")
            }
            Cause::Breakpoint { immediate } => write!(f, "breakpoint instruction (BRK #{immediate:#x})"),
            Cause::MisalignedPc => f.write_str("jump to a misaligned address"),
            Cause::MisalignedSp => f.write_str("misaligned stack pointer"),
            Cause::Other(name) => f.write_str(name),
            Cause::Access { access, refusal } => {
                let (act, place) = match access {
                    AccessKind::Read => ("read", "of"),
                    AccessKind::Write => ("write", "to"),
                    AccessKind::Execute => ("jump", "to"),
                };
                match refusal {
                    Refusal::Unmapped => write!(f, "{act} {place} unmapped memory"),
                    Refusal::NotPermitted => match access {
                        AccessKind::Read => f.write_str("read of memory it may not read"),
                        AccessKind::Write => f.write_str("write to memory it may not write"),
                        AccessKind::Execute => f.write_str("jump to memory it may not execute"),
                    },
                    Refusal::KernelMemory => write!(f, "{act} {place} kernel memory"),
                    Refusal::Misaligned => write!(f, "misaligned {act}"),
                    Refusal::Other(name) => write!(f, "{act} {place} memory: {name}"),
                }
            }
        }
    }
}

impl Syndrome {
    /// What the exception says the task did (see [`Cause`]). The syndrome holds no instruction word.
    pub fn cause(self) -> Cause {
        match self.class() {
            0x00 => Cause::UndefinedInstruction { word: None },
            0x3C => Cause::Breakpoint { immediate: (self.iss() & 0xFFFF) as u16 },
            0x22 => Cause::MisalignedPc,
            0x26 => Cause::MisalignedSp,
            0x20 | 0x21 | 0x24 | 0x25 => {
                let access = match self.class() {
                    0x20 | 0x21 => AccessKind::Execute,
                    _ if self.is_write() => AccessKind::Write,
                    _ => AccessKind::Read,
                };
                let refusal = match self.fault_status() {
                    0b00_0100..=0b00_0111 => Refusal::Unmapped,
                    0b00_1100..=0b00_1111 => Refusal::NotPermitted,
                    0b10_0001 => Refusal::Misaligned,
                    code => Refusal::Other(fault_status_name(code).0),
                };
                Cause::Access { access, refusal }
            }
            _ => Cause::Other(self.class_name()),
        }
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
        crate::check!(alloc::format!("{}", Syndrome(0x0200_0000)).starts_with("unknown reason (EC 0x00)"));
        Ok(())
    }
}

crate::kernel_test! {
    /// The plain words of a user task's kill report, for the syndromes each fault the `fault` program
    /// commits gives (the ESR values QEMU reports for them).
    fn user_fault_causes_are_named_plainly() -> TestResult {
        let cause = |esr: u64| alloc::format!("{}", Syndrome(esr).cause());
        crate::check_eq!(cause(0x0200_0000), "undefined instruction (word unreadable)");
        let undefined = Cause::UndefinedInstruction { word: Some(0xD4A0_0000) };
        crate::check_eq!(alloc::format!("{undefined}"), "undefined instruction 0xd4a00000");
        let kernel = Cause::Access { access: AccessKind::Write, refusal: Refusal::KernelMemory };
        crate::check_eq!(alloc::format!("{kernel}"), "write to kernel memory");
        crate::check_eq!(cause(0xF200_0001), "breakpoint instruction (BRK #0x1)");
        // Data aborts from EL0: translation fault at level 1 on a read (a null pointer), permission fault
        // at level 3 on a write (read-only or kernel memory), alignment fault on a write.
        crate::check_eq!(cause(0x9200_0005), "read of unmapped memory");
        crate::check_eq!(cause(0x9200_004F), "write to memory it may not write");
        crate::check_eq!(cause(0x9200_000F), "read of memory it may not read");
        crate::check_eq!(cause(0x9200_0061), "misaligned write");
        // Instruction aborts from EL0: translation fault at level 2, permission fault at level 3.
        crate::check_eq!(cause(0x8200_0006), "jump to unmapped memory");
        crate::check_eq!(cause(0x8200_000F), "jump to memory it may not execute");
        crate::check_eq!(cause(0x8800_0000), "jump to a misaligned address");
        crate::check_eq!(cause(0x9800_0000), "misaligned stack pointer");
        crate::check_eq!(cause(0x3800_0000), "illegal execution state");
        Ok(())
    }
}
