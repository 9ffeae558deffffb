//! Decoding of `ESR_EL1`, the Exception Syndrome Register, into types the kernel matches on and words a
//! person can act on.
//!
//! Every decision the kernel takes on a synchronous exception (a system call or a fault, a page fault it
//! can resolve or one that ends the task, which signal a killed task gets) rests on the syndrome, so the
//! syndrome is decoded here and only here: [`Syndrome::class`] gives the [`ExceptionClass`],
//! [`Syndrome::abort`] everything an instruction or data abort says in one [`Abort`]. Callers match on
//! names instead of repeating the Arm ARM's encodings.
//!
//! The exception class values come from aarch64-cpu (`ESR_EL1::EC`). It exposes `ESR_EL1.ISS` as one flat
//! field, so the instruction- and data-abort fields (WnR, DFSC/IFSC) are decoded here, after the Arm ARM
//! (D17.2.37, "ESR_EL1, Exception Syndrome Register": "ISS encoding for an exception from an Instruction
//! Abort" and "... from a Data Abort").

use core::fmt;

use aarch64_cpu::registers::ESR_EL1;

/// A decoded exception syndrome.
#[derive(Clone, Copy)]
pub struct Syndrome(pub u64);

/// Why an exception was taken: the exception class, `ESR_EL1.EC`, by its Arm ARM name. Only the classes
/// the kernel reports by name are listed; the rest keep their code in [`ExceptionClass::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionClass {
    /// EC 0x00: an unallocated or undefined instruction, among other causes.
    Unknown,
    /// EC 0x01.
    TrappedWfiWfe,
    /// EC 0x07: SIMD or floating-point register access while `CPACR_EL1.FPEN` traps it.
    TrappedSimdFp,
    /// EC 0x0E: an exception return to an illegal state (`PSTATE.IL`).
    IllegalExecutionState,
    /// EC 0x15: a system call.
    SvcAarch64,
    /// EC 0x18: a trapped `MSR`, `MRS` or system instruction.
    TrappedMsrMrs,
    /// EC 0x20.
    InstructionAbortLowerEl,
    /// EC 0x21.
    InstructionAbortSameEl,
    /// EC 0x22.
    PcAlignment,
    /// EC 0x24.
    DataAbortLowerEl,
    /// EC 0x25.
    DataAbortSameEl,
    /// EC 0x26.
    SpAlignment,
    /// EC 0x2C: a floating-point exception with its trap enabled in `FPCR`.
    TrappedFpAarch64,
    /// EC 0x2F.
    SError,
    /// EC 0x30.
    BreakpointLowerEl,
    /// EC 0x31.
    BreakpointSameEl,
    /// EC 0x32.
    SoftwareStepLowerEl,
    /// EC 0x33.
    SoftwareStepSameEl,
    /// EC 0x34.
    WatchpointLowerEl,
    /// EC 0x35.
    WatchpointSameEl,
    /// EC 0x3C: `BRK #imm` in AArch64 state.
    Brk,
    /// Any other class, reserved or not one the kernel names: its code.
    Other(u8),
}

/// Every exception class code's [`ExceptionClass`], worked out at compile time from aarch64-cpu's
/// `ESR_EL1::EC` values.
const CLASSES: [ExceptionClass; 64] = {
    use ESR_EL1::EC::Value as Ec;
    use ExceptionClass::*;
    let named = [
        (Ec::Unknown, Unknown),
        (Ec::TrappedWFIorWFE, TrappedWfiWfe),
        (Ec::TrappedFP, TrappedSimdFp),
        (Ec::IllegalExecutionState, IllegalExecutionState),
        (Ec::SVC64, SvcAarch64),
        (Ec::TrappedMsrMrs, TrappedMsrMrs),
        (Ec::InstrAbortLowerEL, InstructionAbortLowerEl),
        (Ec::InstrAbortCurrentEL, InstructionAbortSameEl),
        (Ec::PCAlignmentFault, PcAlignment),
        (Ec::DataAbortLowerEL, DataAbortLowerEl),
        (Ec::DataAbortCurrentEL, DataAbortSameEl),
        (Ec::SPAlignmentFault, SpAlignment),
        (Ec::TrappedFP64, TrappedFpAarch64),
        (Ec::SError, SError),
        (Ec::BreakpointLowerEL, BreakpointLowerEl),
        (Ec::BreakpointCurrentEL, BreakpointSameEl),
        (Ec::SoftwareStepLowerEL, SoftwareStepLowerEl),
        (Ec::SoftwareStepCurrentEL, SoftwareStepSameEl),
        (Ec::WatchpointLowerEL, WatchpointLowerEl),
        (Ec::WatchpointCurrentEL, WatchpointSameEl),
        (Ec::Brk64, Brk),
    ];
    let mut classes = [Other(0); 64];
    let mut code = 0;
    while code < 64 {
        classes[code] = Other(code as u8);
        code += 1;
    }
    let mut i = 0;
    while i < named.len() {
        let (value, class) = named[i];
        classes[value as usize] = class;
        i += 1;
    }
    classes
};

impl ExceptionClass {
    /// Decodes an `ESR_EL1.EC` value (the low six bits of `code`): one load from [`CLASSES`]. Every
    /// system call and fault asks, and matching aarch64-cpu's enum at run time cost about 30
    /// instructions of a system call that costs 235.
    pub fn from_code(code: u8) -> Self {
        CLASSES[usize::from(code & 0x3F)]
    }

    /// Whether this is an instruction or data abort (from this or a lower EL).
    pub fn is_abort(self) -> bool {
        self.abort_kind().is_some()
    }

    /// Aborts only: which kind, and from where.
    fn abort_kind(self) -> Option<(AbortSide, Origin)> {
        match self {
            Self::InstructionAbortLowerEl => Some((AbortSide::Instruction, Origin::LowerEl)),
            Self::InstructionAbortSameEl => Some((AbortSide::Instruction, Origin::SameEl)),
            Self::DataAbortLowerEl => Some((AbortSide::Data, Origin::LowerEl)),
            Self::DataAbortSameEl => Some((AbortSide::Data, Origin::SameEl)),
            _ => None,
        }
    }

    /// What the exception class means.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown reason",
            Self::TrappedWfiWfe => "trapped WFI or WFE",
            Self::TrappedSimdFp => "trapped SIMD or floating-point access",
            Self::IllegalExecutionState => "illegal execution state",
            Self::SvcAarch64 => "SVC instruction (system call)",
            Self::TrappedMsrMrs => "trapped MSR, MRS or system instruction",
            Self::InstructionAbortLowerEl => "instruction abort from a lower exception level",
            Self::InstructionAbortSameEl => "instruction abort at the same exception level",
            Self::PcAlignment => "PC alignment fault",
            Self::DataAbortLowerEl => "data abort from a lower exception level",
            Self::DataAbortSameEl => "data abort at the same exception level",
            Self::SpAlignment => "SP alignment fault",
            Self::TrappedFpAarch64 => "trapped floating-point exception",
            Self::SError => "SError interrupt",
            Self::BreakpointLowerEl | Self::BreakpointSameEl => "breakpoint",
            Self::SoftwareStepLowerEl | Self::SoftwareStepSameEl => "software step",
            Self::WatchpointLowerEl | Self::WatchpointSameEl => "watchpoint",
            Self::Brk => "BRK instruction",
            Self::Other(_) => "reserved or unhandled exception class",
        }
    }
}

/// Whether an abort came from fetching an instruction or from a load or store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortSide {
    Instruction,
    Data,
}

/// Where an exception was taken from, relative to EL1, which takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// EL0: a user task.
    LowerEl,
    /// EL1: the kernel itself.
    SameEl,
}

/// Why the MMU (or the memory system) refused an access: an abort's fault status code, DFSC or IFSC
/// (ISS bits 5:0), which is also the encoding of `PAR_EL1.FST`. The levels are translation table levels
/// 0 to 3; the FEAT_LPA2 encodings for level -1 decode as [`FaultStatus::Other`], since cowpi's tables
/// never use 52-bit addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultStatus {
    AddressSize {
        level: u8,
    },
    /// Nothing valid is mapped there (at this level of the walk).
    Translation {
        level: u8,
    },
    AccessFlag {
        level: u8,
    },
    /// Mapped, but not for this access at this exception level.
    Permission {
        level: u8,
    },
    /// Not on a translation table walk.
    SyncExternal,
    SyncTagCheck,
    Alignment,
    TlbConflict,
    UnsupportedAtomicUpdate,
    /// Any other code: reserved, or one the kernel does not name.
    Other(u8),
}

impl FaultStatus {
    /// Decodes a DFSC, IFSC or `PAR_EL1.FST` value (the low six bits of `code`).
    pub fn from_code(code: u8) -> Self {
        let code = code & 0x3F;
        // The four walk faults carry the level in their low two bits.
        let level = code & 0b11;
        match code {
            0b00_0000..=0b00_0011 => Self::AddressSize { level },
            0b00_0100..=0b00_0111 => Self::Translation { level },
            0b00_1000..=0b00_1011 => Self::AccessFlag { level },
            0b00_1100..=0b00_1111 => Self::Permission { level },
            0b01_0000 => Self::SyncExternal,
            0b01_0001 => Self::SyncTagCheck,
            0b10_0001 => Self::Alignment,
            0b11_0000 => Self::TlbConflict,
            0b11_0001 => Self::UnsupportedAtomicUpdate,
            _ => Self::Other(code),
        }
    }

    /// What the fault status means.
    pub fn name(self) -> &'static str {
        match self {
            Self::AddressSize { .. } => "address size fault",
            Self::Translation { .. } => "translation fault",
            Self::AccessFlag { .. } => "access flag fault",
            Self::Permission { .. } => "permission fault",
            Self::SyncExternal => "synchronous external abort",
            Self::SyncTagCheck => "synchronous tag check fault",
            Self::Alignment => "alignment fault",
            Self::TlbConflict => "TLB conflict abort",
            Self::UnsupportedAtomicUpdate => "unsupported atomic hardware update fault",
            Self::Other(_) => "other fault",
        }
    }

    /// The translation table level the fault was found at, for the faults that have one.
    pub fn level(self) -> Option<u8> {
        match self {
            Self::AddressSize { level }
            | Self::Translation { level }
            | Self::AccessFlag { level }
            | Self::Permission { level } => Some(level),
            _ => None,
        }
    }
}

/// Everything an instruction or data abort's syndrome says, decoded at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abort {
    pub side: AbortSide,
    pub from: Origin,
    pub status: FaultStatus,
    /// What was tried: always [`AccessKind::Execute`] for an instruction abort, by `WnR` for a data abort.
    pub access: AccessKind,
}

/// Data aborts: `WnR`, "write not read" (ISS bit 6). An instruction abort's bit 6 is reserved, so it is
/// never read there.
const ISS_WNR: u64 = 1 << 6;
/// Aborts: DFSC or IFSC, the fault status code (ISS bits 5:0).
const ISS_FSC: u64 = 0x3F;

impl Syndrome {
    /// Exception class, `ESR_EL1[31:26]`, decoded.
    pub fn class(self) -> ExceptionClass {
        ExceptionClass::from_code(self.class_code())
    }

    /// Exception class, `ESR_EL1[31:26]`, as the raw code: the report prints it beside the name.
    pub fn class_code(self) -> u8 {
        ESR_EL1::EC.read(self.0) as u8
    }

    /// Instruction-specific syndrome, `ESR_EL1[24:0]`.
    pub fn iss(self) -> u32 {
        ESR_EL1::ISS.read(self.0) as u32
    }

    /// An instruction or data abort, decoded; `None` for every other class.
    pub fn abort(self) -> Option<Abort> {
        let (side, from) = self.class().abort_kind()?;
        let iss = ESR_EL1::ISS.read(self.0);
        let access = match side {
            AbortSide::Instruction => AccessKind::Execute,
            AbortSide::Data if iss & ISS_WNR != 0 => AccessKind::Write,
            AbortSide::Data => AccessKind::Read,
        };
        Some(Abort { side, from, status: FaultStatus::from_code((iss & ISS_FSC) as u8), access })
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
        if let Some(abort) = self.abort() {
            let refusal = match abort.status {
                FaultStatus::Translation { .. } => Refusal::Unmapped,
                FaultStatus::Permission { .. } => Refusal::NotPermitted,
                FaultStatus::Alignment => Refusal::Misaligned,
                status => Refusal::Other(status.name()),
            };
            return Cause::Access { access: abort.access, refusal };
        }
        match self.class() {
            ExceptionClass::Unknown => Cause::UndefinedInstruction { word: None },
            // The BRK immediate is ISS bits 15:0.
            ExceptionClass::Brk => Cause::Breakpoint { immediate: self.iss() as u16 },
            ExceptionClass::PcAlignment => Cause::MisalignedPc,
            ExceptionClass::SpAlignment => Cause::MisalignedSp,
            class => Cause::Other(class.name()),
        }
    }
}

impl fmt::Display for Syndrome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (EC {:#04x})", self.class().name(), self.class_code())?;
        if let Some(abort) = self.abort() {
            write!(f, ": {}", abort.status.name())?;
            if let Some(level) = abort.status.level() {
                write!(f, " at level {level}")?;
            }
            // An instruction abort is always a fetch, so only a data abort says which way it went.
            if abort.side == AbortSide::Data {
                f.write_str(if abort.access == AccessKind::Write { ", on a write" } else { ", on a read" })?;
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
        crate::check_eq!(write_fault.class_code(), 0x25);
        crate::check_eq!(write_fault.class(), ExceptionClass::DataAbortSameEl);
        crate::check_eq!(write_fault.abort().map(|abort| abort.access), Some(AccessKind::Write));
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

/// A syndrome with exception class `class`, the IL bit set (a 32-bit instruction) and `iss`.
fn syndrome_of(class: u8, iss: u32) -> Syndrome {
    Syndrome(u64::from(class) << 26 | 1 << 25 | u64::from(iss))
}

crate::kernel_test! {
    /// Every one of the 64 exception class codes decodes: the named ones to their Arm ARM class (whatever
    /// the ISS holds), the rest to `Other` with their code, and the raw code stays readable for the report.
    fn syndrome_every_exception_class_decodes() -> TestResult {
        use ExceptionClass::*;
        let named = [
            (0x00, Unknown),
            (0x01, TrappedWfiWfe),
            (0x07, TrappedSimdFp),
            (0x0E, IllegalExecutionState),
            (0x15, SvcAarch64),
            (0x18, TrappedMsrMrs),
            (0x20, InstructionAbortLowerEl),
            (0x21, InstructionAbortSameEl),
            (0x22, PcAlignment),
            (0x24, DataAbortLowerEl),
            (0x25, DataAbortSameEl),
            (0x26, SpAlignment),
            (0x2C, TrappedFpAarch64),
            (0x2F, SError),
            (0x30, BreakpointLowerEl),
            (0x31, BreakpointSameEl),
            (0x32, SoftwareStepLowerEl),
            (0x33, SoftwareStepSameEl),
            (0x34, WatchpointLowerEl),
            (0x35, WatchpointSameEl),
            (0x3C, Brk),
        ];
        for code in 0..64u8 {
            let expected = named.iter().find(|(c, _)| *c == code).map_or(Other(code), |&(_, class)| class);
            for iss in [0, 0x1FF_FFFF] {
                let syndrome = syndrome_of(code, iss);
                crate::check_eq!(syndrome.class(), expected);
                crate::check_eq!(syndrome.class_code(), code);
                crate::check_eq!(syndrome.iss(), iss);
            }
            let aborts = [0x20, 0x21, 0x24, 0x25];
            let is_abort = aborts.contains(&code);
            crate::check!(expected.is_abort() == is_abort, "EC {code:#04x}");
            crate::check!(syndrome_of(code, 0x4F).abort().is_some() == is_abort, "EC {code:#04x}");
        }
        // Bits 63:32 (ISS2 on newer cores) are no part of the class or the ISS.
        crate::check_eq!(Syndrome(0xFF_FFFF_0000_0000 | 0x5600_0000).class(), SvcAarch64);
        crate::check_eq!(Syndrome(0xFF_FFFF_0000_0000 | 0x5600_0000).iss(), 0);
        Ok(())
    }
}

crate::kernel_test! {
    /// Each fault status code decodes to its kind, the four walk faults with their level 0 to 3.
    fn syndrome_fault_status_levels() -> TestResult {
        for level in 0..4u8 {
            crate::check_eq!(FaultStatus::from_code(level), FaultStatus::AddressSize { level });
            crate::check_eq!(FaultStatus::from_code(0b00_0100 | level), FaultStatus::Translation { level });
            crate::check_eq!(FaultStatus::from_code(0b00_1000 | level), FaultStatus::AccessFlag { level });
            crate::check_eq!(FaultStatus::from_code(0b00_1100 | level), FaultStatus::Permission { level });
            crate::check_eq!(FaultStatus::from_code(0b00_1100 | level).level(), Some(level));
        }
        crate::check_eq!(FaultStatus::from_code(0b01_0000), FaultStatus::SyncExternal);
        crate::check_eq!(FaultStatus::from_code(0b01_0001), FaultStatus::SyncTagCheck);
        crate::check_eq!(FaultStatus::from_code(0b10_0001), FaultStatus::Alignment);
        crate::check_eq!(FaultStatus::from_code(0b11_0000), FaultStatus::TlbConflict);
        crate::check_eq!(FaultStatus::from_code(0b11_0001), FaultStatus::UnsupportedAtomicUpdate);
        crate::check_eq!(FaultStatus::from_code(0b10_0001).level(), None);
        // Reserved, and FEAT_LPA2's level -1 translation fault.
        crate::check_eq!(FaultStatus::from_code(0b11_1111), FaultStatus::Other(0b11_1111));
        crate::check_eq!(FaultStatus::from_code(0b10_1011), FaultStatus::Other(0b10_1011));
        // Only the low six bits are the code.
        crate::check_eq!(FaultStatus::from_code(0xC5), FaultStatus::Translation { level: 1 });
        // The status comes out of an abort's ISS the same way.
        let abort = syndrome_of(0x24, 0b00_0111).abort();
        crate::check_eq!(abort.map(|abort| abort.status), Some(FaultStatus::Translation { level: 3 }));
        Ok(())
    }
}

crate::kernel_test! {
    /// A data abort's access is a write exactly when WnR (ISS bit 6) is set; an instruction abort's is
    /// always an execute, whatever bit 6 holds; side and origin follow the class.
    fn syndrome_abort_access_and_origin() -> TestResult {
        let abort = |class, iss| syndrome_of(class, iss).abort();
        for (class, from) in [(0x24, Origin::LowerEl), (0x25, Origin::SameEl)] {
            let read = Abort {
                side: AbortSide::Data,
                from,
                status: FaultStatus::Permission { level: 3 },
                access: AccessKind::Read,
            };
            crate::check_eq!(abort(class, 0b00_1111), Some(read));
            crate::check_eq!(abort(class, 1 << 6 | 0b00_1111), Some(Abort { access: AccessKind::Write, ..read }));
        }
        for (class, from) in [(0x20, Origin::LowerEl), (0x21, Origin::SameEl)] {
            for iss in [0b00_0110, 1 << 6 | 0b00_0110] {
                let expected = Abort {
                    side: AbortSide::Instruction,
                    from,
                    status: FaultStatus::Translation { level: 2 },
                    access: AccessKind::Execute,
                };
                crate::check_eq!(abort(class, iss), Some(expected));
            }
        }
        // Bit 6 of any other class is not WnR: a system call or BRK with it set is no abort.
        crate::check_eq!(abort(0x15, 1 << 6), None);
        crate::check_eq!(abort(0x3C, 1 << 6), None);
        // Only data aborts say which way the access went.
        let fetch = alloc::format!("{}", syndrome_of(0x20, 1 << 6 | 0b00_0110));
        crate::check!(fetch.ends_with("translation fault at level 2"), "{fetch}");
        Ok(())
    }
}
