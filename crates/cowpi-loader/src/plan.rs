//! The load plan of an ELF image, and [`plan`], which checks the image and makes it.
//!
//! Only program headers matter for loading (section headers are for linkers and debuggers), and of those
//! only `PT_LOAD` ones: each says "map `mem_size` bytes at `vaddr` with these rights, the first
//! `file_size` of them copied from the image at `offset`, the rest zero" (that rest is `.bss`).
//!
//! The plan works in pages, because the MMU does: a page has one protection, so two segments may not share
//! one (the linker script `user/link.ld` starts each segment on its own page), and a segment's pages must
//! all lie in the user image area. Bytes of a segment's pages outside `[vaddr, vaddr + file_size)` are
//! zero.

use core::ops::Range;

use cowpi_abi::Prot;
use cowpi_abi::layout::{IMAGE_AREA, PAGE_SIZE, page_align_down, page_align_up};
use object::LittleEndian;
use object::elf::{self, FileHeader64, ProgramHeader64};
use object::read::elf::{FileHeader as _, ProgramHeader as _};

use crate::LoadError;

/// The most loadable segments an image may have. Text, read-only data and data make three; a few spare.
pub const MAX_SEGMENTS: usize = 8;

/// The most program headers of any kind an image may have, so a hostile `e_phnum` cannot make the kernel
/// walk a long table.
pub const MAX_PROGRAM_HEADERS: usize = 64;

/// One loadable segment, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Where the segment's first byte goes.
    pub vaddr: u64,
    /// How many bytes it occupies in memory (at least 1).
    pub mem_size: u64,
    /// Where its initialised bytes start in the image.
    pub file_offset: usize,
    /// How many bytes are copied from the image (at most `mem_size`); the rest are zero.
    pub file_size: usize,
    /// The rights of its pages; never writable and executable.
    pub prot: Prot,
}

impl Segment {
    /// The image bytes to copy to `vaddr`.
    pub fn file_range(&self) -> Range<usize> {
        self.file_offset..self.file_offset + self.file_size
    }

    /// The first address past the segment's bytes.
    pub fn end(&self) -> u64 {
        self.vaddr + self.mem_size
    }

    /// The pages to map: from the page holding `vaddr` up to the page boundary at or after `end()`.
    pub fn pages(&self) -> Range<u64> {
        // Cannot overflow: `plan` checked that the pages lie in the image area.
        page_align_down(self.vaddr)..page_align_down(self.end() + PAGE_SIZE - 1)
    }

    /// A placeholder for the unused slots of [`LoadPlan`]'s array; never handed out.
    const UNUSED: Segment = Segment { vaddr: 0, mem_size: 0, file_offset: 0, file_size: 0, prot: Prot::NONE };
}

/// What to map where, and where to start: the result of checking an ELF image.
///
/// A plan keeps these promises, which is what lets the kernel follow it without checking again:
///
/// - 1 to [`MAX_SEGMENTS`] segments, each non-empty, with `file_size <= mem_size`, its file range inside
///   the image, `vaddr` and `file_offset` equal modulo the page size, and not writable and executable;
/// - every segment's pages lie inside [`IMAGE_AREA`], and no two segments share a page;
/// - the entry point is 4-byte aligned and inside an executable segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadPlan {
    entry: u64,
    segments: [Segment; MAX_SEGMENTS],
    count: usize,
}

impl LoadPlan {
    /// The address of the program's first instruction.
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// The loadable segments, in program-header order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments[..self.count]
    }
}

type FileHeader = FileHeader64<LittleEndian>;
type ProgramHeader = ProgramHeader64<LittleEndian>;

/// Checks `elf` as a static AArch64 executable for a cowpi user task and returns its load plan, or the
/// first thing found wrong with it.
pub fn plan(elf: &[u8]) -> Result<LoadPlan, LoadError> {
    let header = file_header(elf)?;
    let endian = LittleEndian;

    let mut plan =
        LoadPlan { entry: header.e_entry(endian), segments: [Segment::UNUSED; MAX_SEGMENTS], count: 0 };
    // Which program header each planned segment came from, to name both in an overlap error.
    let mut header_index = [0; MAX_SEGMENTS];
    for (index, program_header) in program_headers(header, elf)?.iter().enumerate() {
        let segment_type = program_header.p_type(endian);
        if [elf::PT_INTERP, elf::PT_DYNAMIC, elf::PT_TLS].contains(&segment_type) {
            return Err(LoadError::UnsupportedSegment { index, segment_type: segment_type.0 });
        }
        if segment_type != elf::PT_LOAD {
            continue;
        }
        if plan.count == MAX_SEGMENTS {
            return Err(LoadError::TooManySegments);
        }
        let segment = segment(program_header, index, elf.len())?;
        for (other, &first) in plan.segments().iter().zip(&header_index) {
            if segment.pages().start < other.pages().end && other.pages().start < segment.pages().end {
                return Err(LoadError::Overlap { first, second: index });
            }
        }
        plan.segments[plan.count] = segment;
        header_index[plan.count] = index;
        plan.count += 1;
    }
    if plan.count == 0 {
        return Err(LoadError::NoLoadableSegment);
    }

    let entry = plan.entry;
    if !entry.is_multiple_of(4) {
        return Err(LoadError::MisalignedEntry { entry });
    }
    let runs_entry = |s: &Segment| s.prot.is_executable() && (s.vaddr..s.end()).contains(&entry);
    if !plan.segments().iter().any(runs_entry) {
        return Err(LoadError::EntryNotExecutable { entry });
    }
    Ok(plan)
}

/// The file header, after checking that it describes a 64-bit little-endian AArch64 static executable.
fn file_header(elf: &[u8]) -> Result<&FileHeader, LoadError> {
    if elf.len() < size_of::<FileHeader>() {
        return Err(LoadError::TooShort);
    }
    // Checked one field at a time, rather than by `FileHeader::parse`, to say which one is wrong.
    let header: &FileHeader = object::pod::from_bytes(elf).map_err(|()| LoadError::TooShort)?.0;
    let ident = &header.e_ident;
    if ident.magic != elf::ELFMAG {
        return Err(LoadError::NotElf);
    }
    if ident.class != elf::ELFCLASS64 {
        return Err(LoadError::Not64Bit);
    }
    if ident.data != elf::ELFDATA2LSB {
        return Err(LoadError::NotLittleEndian);
    }
    if ident.version != elf::EV_CURRENT {
        return Err(LoadError::UnknownVersion);
    }
    let endian = LittleEndian;
    if header.e_machine(endian) != elf::EM_AARCH64 {
        return Err(LoadError::WrongMachine(header.e_machine(endian).0));
    }
    if header.e_type(endian) != elf::ET_EXEC {
        return Err(LoadError::NotExecutable(header.e_type(endian).0));
    }
    Ok(header)
}

/// The program header table, after checking its size and place.
fn program_headers<'elf>(header: &FileHeader, elf: &'elf [u8]) -> Result<&'elf [ProgramHeader], LoadError> {
    // 0xffff (PN_XNUM) would send the reader to section 0 for the real count: far too many anyway.
    if usize::from(header.e_phnum(LittleEndian)) > MAX_PROGRAM_HEADERS {
        return Err(LoadError::TooManyProgramHeaders);
    }
    header.program_headers(LittleEndian, elf).map_err(|_| LoadError::BadProgramHeaderTable)
}

/// One `PT_LOAD` header as a checked [`Segment`] (all but the overlap check, which needs the others).
fn segment(header: &ProgramHeader, index: usize, image_len: usize) -> Result<Segment, LoadError> {
    let endian = LittleEndian;
    let (vaddr, mem_size) = (header.p_vaddr(endian), header.p_memsz(endian));
    let (file_offset, file_size) = (header.p_offset(endian), header.p_filesz(endian));

    if mem_size == 0 {
        return Err(LoadError::EmptySegment { index });
    }
    if file_size > mem_size {
        return Err(LoadError::FileLargerThanMemory { index });
    }
    let file_end = file_offset.checked_add(file_size).ok_or(LoadError::SizeOverflow { index })?;
    if file_end > image_len as u64 {
        return Err(LoadError::FileRangeOutsideImage { index });
    }
    if vaddr % PAGE_SIZE != file_offset % PAGE_SIZE {
        return Err(LoadError::MisalignedSegment { index });
    }
    let end = vaddr.checked_add(mem_size).ok_or(LoadError::SizeOverflow { index })?;
    let pages_end = page_align_up(end).ok_or(LoadError::SizeOverflow { index })?;
    if page_align_down(vaddr) < IMAGE_AREA.start || pages_end > IMAGE_AREA.end {
        return Err(LoadError::OutsideImageArea { index });
    }

    let flags = header.p_flags(endian).0;
    let has = |flag: elf::ProgramFlags| flags & flag.0 != 0;
    let mut prot = Prot::NONE;
    for (flag, right) in [(elf::PF_R, Prot::READ), (elf::PF_W, Prot::WRITE), (elf::PF_X, Prot::EXEC)] {
        if has(flag) {
            prot = prot | right;
        }
    }
    if prot.is_writable_and_executable() {
        return Err(LoadError::WritableAndExecutable { index });
    }

    // Lossless: both are at most `image_len`, a usize (checked above).
    Ok(Segment { vaddr, mem_size, file_offset: file_offset as usize, file_size: file_size as usize, prot })
}

#[cfg(test)]
mod tests;
