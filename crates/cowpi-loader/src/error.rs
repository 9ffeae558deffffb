//! Why an ELF image was refused: one variant per check, so the message says what to fix.
//!
//! Segment errors carry the index of the program header, as `readelf -l` numbers them.

use core::fmt;

/// What is wrong with an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadError {
    /// Shorter than an ELF file header (64 bytes).
    TooShort,
    /// Does not start with the ELF magic `\x7fELF`.
    NotElf,
    /// A 32-bit ELF file; cowpi runs AArch64 (64-bit) programs only.
    Not64Bit,
    /// A big-endian ELF file; cowpi runs AArch64 little-endian.
    NotLittleEndian,
    /// The ELF version is not 1, the only one there is.
    UnknownVersion,
    /// Built for another machine (`e_machine`, e.g. 62 for x86-64); AArch64 is 183.
    WrongMachine(u16),
    /// Not a static executable (`e_type`): 1 is an object file, 3 a shared object or position-independent
    /// executable, which needs relocating.
    NotExecutable(u16),
    /// The program header table is malformed or does not lie inside the image.
    BadProgramHeaderTable,
    /// More program headers than [`MAX_PROGRAM_HEADERS`](crate::MAX_PROGRAM_HEADERS).
    TooManyProgramHeaders,
    /// More loadable segments than [`MAX_SEGMENTS`](crate::MAX_SEGMENTS).
    TooManySegments,
    /// Nothing to load: no `PT_LOAD` program header.
    NoLoadableSegment,
    /// A segment cowpi cannot provide for: an interpreter (dynamic linking), dynamic-linking information, or
    /// thread-local storage.
    UnsupportedSegment { index: usize, segment_type: u32 },
    /// A loadable segment of zero bytes.
    EmptySegment { index: usize },
    /// A segment's file part is larger than its memory part.
    FileLargerThanMemory { index: usize },
    /// An offset plus a size overflows 64 bits.
    SizeOverflow { index: usize },
    /// A segment's bytes run past the end of the image.
    FileRangeOutsideImage { index: usize },
    /// A segment's address and file offset differ within a page.
    MisalignedSegment { index: usize },
    /// A segment's pages are not all inside the image area of the user address space.
    OutsideImageArea { index: usize },
    /// A segment asks to be writable and executable (W^X).
    WritableAndExecutable { index: usize },
    /// Two segments share a page, which can have only one protection.
    Overlap { first: usize, second: usize },
    /// The entry point is not 4-byte aligned, so it is no AArch64 instruction.
    MisalignedEntry { entry: u64 },
    /// The entry point is not inside an executable segment.
    EntryNotExecutable { entry: u64 },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LoadError::TooShort => f.write_str("too short for an ELF header"),
            LoadError::NotElf => f.write_str("not an ELF file (bad magic)"),
            LoadError::Not64Bit => f.write_str("not a 64-bit ELF file"),
            LoadError::NotLittleEndian => f.write_str("not a little-endian ELF file"),
            LoadError::UnknownVersion => f.write_str("unknown ELF version"),
            LoadError::WrongMachine(machine) => write!(f, "built for machine {machine}, not AArch64 (183)"),
            LoadError::NotExecutable(kind) => write!(f, "ELF type {kind} is not a static executable (2)"),
            LoadError::BadProgramHeaderTable => f.write_str("malformed program header table"),
            LoadError::TooManyProgramHeaders => {
                write!(f, "more than {} program headers", crate::MAX_PROGRAM_HEADERS)
            }
            LoadError::TooManySegments => write!(f, "more than {} loadable segments", crate::MAX_SEGMENTS),
            LoadError::NoLoadableSegment => f.write_str("no loadable segment"),
            LoadError::UnsupportedSegment { index, segment_type } => write!(
                f,
                "segment {index}: type {segment_type:#x} needs dynamic linking or thread-local storage"
            ),
            LoadError::EmptySegment { index } => write!(f, "segment {index} is empty"),
            LoadError::FileLargerThanMemory { index } => {
                write!(f, "segment {index}: file size exceeds memory size")
            }
            LoadError::SizeOverflow { index } => write!(f, "segment {index}: offset plus size overflows"),
            LoadError::FileRangeOutsideImage { index } => {
                write!(f, "segment {index}: file range runs past the end of the image")
            }
            LoadError::MisalignedSegment { index } => {
                write!(f, "segment {index}: address and file offset differ within a page")
            }
            LoadError::OutsideImageArea { index } => {
                write!(f, "segment {index}: outside the user image area")
            }
            LoadError::WritableAndExecutable { index } => {
                write!(f, "segment {index}: writable and executable (W^X)")
            }
            LoadError::Overlap { first, second } => write!(f, "segments {first} and {second} share a page"),
            LoadError::MisalignedEntry { entry } => write!(f, "entry point {entry:#x} is not 4-byte aligned"),
            LoadError::EntryNotExecutable { entry } => {
                write!(f, "entry point {entry:#x} is not in an executable segment")
            }
        }
    }
}
