//! Test support shared by the tool's integration tests: a hand-made kernel ELF, so the tests need no
//! kernel build.

use object::Endianness;
use object::elf::{self, EM_AARCH64, ET_EXEC, PT_LOAD};
use object::write::elf::{FileHeader, ProgramHeader, Writer};

/// Where the firmware (and QEMU) loads kernel8.img.
pub const LOAD_ADDRESS: u64 = 0x80000;

/// An AArch64 ELF executable loading `image` at 0x80000 and entering at its first byte.
pub fn elf_for(image: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = Writer::new(Endianness::Little, true, &mut out);
    writer.reserve_file_header();
    writer.reserve_program_headers(1);
    let offset = writer.reserve(image.len() as u64, 16);
    writer
        .write_file_header(&FileHeader {
            os_abi: elf::ELFOSABI_NONE,
            abi_version: 0,
            e_type: ET_EXEC,
            e_machine: EM_AARCH64,
            e_entry: LOAD_ADDRESS,
            e_flags: elf::FileFlags(0),
        })
        .expect("the test ELF header is valid");
    writer.write_align_program_headers();
    writer.write_program_header(&ProgramHeader {
        p_type: PT_LOAD,
        p_flags: elf::PF_R | elf::PF_X,
        p_offset: offset,
        p_vaddr: LOAD_ADDRESS,
        p_paddr: LOAD_ADDRESS,
        p_filesz: image.len() as u64,
        p_memsz: image.len() as u64,
        p_align: 16,
    });
    writer.pad_until(offset);
    writer.write(image);
    out
}
