//! Hand-built ELF images for the tests, so that no binary file is checked in and every field can be bent.
//!
//! [`TestElf::program`] describes an image shaped like the ones `user/link.ld` produces; a test changes
//! one field and expects one error. [`TestElf::to_bytes`] writes the 64-byte file header, the program
//! header table right after it, and each segment's file bytes at its offset, all little-endian.

extern crate std;

use std::vec;
use std::vec::Vec;

use object::elf;

/// One program header, field by field.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub file_size: u64,
    pub mem_size: u64,
}

pub const R: u32 = elf::PF_R.0;
pub const W: u32 = elf::PF_W.0;
pub const X: u32 = elf::PF_X.0;

impl Header {
    pub fn load(flags: u32, offset: u64, vaddr: u64, file_size: u64, mem_size: u64) -> Header {
        Header { p_type: elf::PT_LOAD.0, flags, offset, vaddr, file_size, mem_size }
    }

    pub fn other(p_type: elf::ProgramType) -> Header {
        Header { p_type: p_type.0, flags: R | W, offset: 0, vaddr: 0, file_size: 0, mem_size: 0 }
    }
}

/// An ELF image as fields. `phoff`, `phentsize`, `phnum` and `len` default to what the headers need.
#[derive(Debug, Clone)]
pub struct TestElf {
    pub magic: [u8; 4],
    pub class: u8,
    pub data: u8,
    pub version: u8,
    pub elf_type: u16,
    pub machine: u16,
    pub entry: u64,
    pub phoff: Option<u64>,
    pub phentsize: Option<u16>,
    pub phnum: Option<u16>,
    pub headers: Vec<Header>,
    /// The image length; by default just enough for the headers and every segment's file bytes.
    pub len: Option<usize>,
}

/// Where the program header table starts: right after the 64-byte file header.
const PHOFF: u64 = 64;
const PHENTSIZE: u16 = 56;

impl TestElf {
    /// A program like `hello`: text `r-x` at 0x40_0000, read-only data, then data with `.bss` running into
    /// a second page, plus the `PT_GNU_STACK` note that linkers add.
    pub fn program() -> TestElf {
        TestElf {
            magic: elf::ELFMAG,
            class: elf::ELFCLASS64.0,
            data: elf::ELFDATA2LSB.0,
            version: elf::EV_CURRENT.0,
            elf_type: elf::ET_EXEC.0,
            machine: elf::EM_AARCH64.0,
            entry: 0x40_0000,
            phoff: None,
            phentsize: None,
            phnum: None,
            headers: vec![
                Header::load(R | X, 0x1000, 0x40_0000, 0x234, 0x234),
                Header::load(R, 0x2000, 0x40_1000, 0x80, 0x80),
                Header::load(R | W, 0x3000, 0x40_2000, 0x10, 0x1800),
                Header::other(elf::PT_GNU_STACK),
            ],
            len: None,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let table_end = PHOFF as usize + self.headers.len() * usize::from(PHENTSIZE);
        let file_end = |h: &Header| h.offset.saturating_add(h.file_size).min(1 << 20) as usize;
        let natural_len = self.headers.iter().map(file_end).fold(table_end, usize::max);
        let mut bytes = vec![0; self.len.unwrap_or(natural_len).max(table_end)];

        let mut put = |at: usize, field: &[u8]| bytes[at..at + field.len()].copy_from_slice(field);
        put(0, &self.magic);
        put(4, &[self.class, self.data, self.version]);
        put(16, &self.elf_type.to_le_bytes());
        put(18, &self.machine.to_le_bytes());
        put(20, &1_u32.to_le_bytes()); // e_version
        put(24, &self.entry.to_le_bytes());
        put(32, &self.phoff.unwrap_or(PHOFF).to_le_bytes());
        put(52, &64_u16.to_le_bytes()); // e_ehsize
        put(54, &self.phentsize.unwrap_or(PHENTSIZE).to_le_bytes());
        let phnum = self.phnum.unwrap_or(self.headers.len() as u16);
        put(56, &phnum.to_le_bytes());
        for (index, h) in self.headers.iter().enumerate() {
            let at = PHOFF as usize + index * usize::from(PHENTSIZE);
            put(at, &h.p_type.to_le_bytes());
            put(at + 4, &h.flags.to_le_bytes());
            put(at + 8, &h.offset.to_le_bytes());
            put(at + 16, &h.vaddr.to_le_bytes());
            put(at + 24, &h.vaddr.to_le_bytes()); // p_paddr
            put(at + 32, &h.file_size.to_le_bytes());
            put(at + 40, &h.mem_size.to_le_bytes());
            put(at + 48, &0x1000_u64.to_le_bytes()); // p_align
        }
        // Recognisable segment contents: every byte of segment i is 0xA0 + i (the headers stay intact).
        for (index, h) in self.headers.iter().enumerate() {
            let start = (h.offset as usize).clamp(table_end, bytes.len());
            let end = file_end(h).min(bytes.len()).max(start);
            bytes[start..end].fill(0xA0 + index as u8);
        }
        bytes
    }
}
