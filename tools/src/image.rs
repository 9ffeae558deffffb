//! Turns the kernel ELF into `kernel8.img`, the raw image the Pi firmware and QEMU load.
//!
//! The firmware (and QEMU's `-kernel` for a raw file) copies the image byte for byte to physical address
//! 0x80000 and jumps to its first byte; it knows nothing about ELF. So the image is the memory picture of
//! the ELF's loadable segments: each `PT_LOAD` segment's file bytes placed at its physical address (the
//! load address, which is what matters before the MMU is on), counted from the lowest one, with zeros in
//! between. This is what `objcopy -O binary` does, done here with the `object` crate so that no binutils
//! for AArch64 are needed. Zero-initialised memory past a segment's file bytes (`.bss`) is not stored:
//! the kernel clears it itself at boot.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use object::elf::{EM_AARCH64, FileHeader64, PT_LOAD};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, FileKind};

/// Where the firmware and QEMU put the raw image, and so where its first byte must be linked.
pub const LOAD_ADDRESS: u64 = 0x80000;

/// An image larger than this means segments far apart (a bad linker script), not a real kernel: refuse
/// rather than write gigabytes of zeros.
const MAX_IMAGE_BYTES: u64 = 256 << 20;

/// The file name the Pi firmware boots on AArch64 (with `arm_64bit=1`).
pub const IMAGE_NAME: &str = "kernel8.img";

/// `kernel8.img` in the ELF's folder: `cargo run` writes it beside the kernel it was built from.
pub fn default_image_path(elf: &Path) -> PathBuf {
    elf.with_file_name(IMAGE_NAME)
}

/// Reads the ELF at `elf`, flattens it and writes the image to `image`.
pub fn write_image(elf: &Path, image: &Path) -> Result<u64> {
    let data = fs::read(elf).with_context(|| format!("cannot read the kernel ELF {}", elf.display()))?;
    let flat = flatten(&data).with_context(|| format!("cannot make a raw image of {}", elf.display()))?;
    fs::write(image, &flat).with_context(|| format!("cannot write {}", image.display()))?;
    Ok(flat.len() as u64)
}

/// One loadable segment's file bytes and where they go.
struct Piece<'data> {
    physical: u64,
    bytes: &'data [u8],
}

/// The raw image of an AArch64 ELF executable whose first loaded byte is at [`LOAD_ADDRESS`].
pub fn flatten(elf: &[u8]) -> Result<Vec<u8>> {
    if FileKind::parse(elf).ok() != Some(FileKind::Elf64) {
        bail!("not a 64-bit ELF file");
    }
    let header =
        FileHeader64::<Endianness>::parse(elf).map_err(|e| anyhow::anyhow!("bad ELF header: {e}"))?;
    let endian = header.endian().map_err(|e| anyhow::anyhow!("bad ELF header: {e}"))?;
    if header.is_big_endian() {
        bail!("a big-endian ELF: the Pi runs little-endian AArch64");
    }
    let machine = header.e_machine(endian);
    if machine != EM_AARCH64 {
        bail!(
            "an ELF for machine {machine} instead of AArch64 (was it built for the host, not aarch64-unknown-none?)"
        );
    }
    let segments =
        header.program_headers(endian, elf).map_err(|e| anyhow::anyhow!("bad ELF program headers: {e}"))?;

    let mut pieces = Vec::new();
    let mut entry_physical = None;
    let entry = header.e_entry(endian);
    for segment in segments.iter().filter(|s| s.p_type(endian) == PT_LOAD) {
        let physical = segment.p_paddr(endian);
        let virtual_start = segment.p_vaddr(endian);
        if (virtual_start..virtual_start.saturating_add(segment.p_memsz(endian))).contains(&entry) {
            entry_physical = Some(physical + (entry - virtual_start));
        }
        let bytes = segment.data(endian, elf).map_err(|()| {
            anyhow::anyhow!("the segment loaded at {physical:#x} lies past the end of the file")
        })?;
        if !bytes.is_empty() {
            pieces.push(Piece { physical, bytes });
        }
    }
    pieces.sort_by_key(|p| p.physical);

    let Some(first) = pieces.first() else { bail!("no loadable segment has any data") };
    if first.physical != LOAD_ADDRESS {
        bail!(
            "its lowest load address is {:#x}, but the firmware and QEMU load kernel8.img at {LOAD_ADDRESS:#x} \
             (check the linker script)",
            first.physical
        );
    }
    match entry_physical {
        Some(LOAD_ADDRESS) => {}
        Some(other) => bail!(
            "its entry point {entry:#x} is loaded at {other:#x}, but the raw image starts running at its first \
             byte, {LOAD_ADDRESS:#x}: put the entry code first"
        ),
        None => bail!("its entry point {entry:#x} lies in no loadable segment"),
    }

    let mut end = LOAD_ADDRESS;
    for piece in &pieces {
        if piece.physical < end {
            bail!("loadable segments overlap at {:#x}", piece.physical);
        }
        end = piece.physical.saturating_add(piece.bytes.len() as u64);
    }
    let size = end - LOAD_ADDRESS;
    if size > MAX_IMAGE_BYTES {
        bail!(
            "its segments span {size:#x} bytes (up to {end:#x}), more than the {MAX_IMAGE_BYTES:#x} a kernel \
             image may have: is a segment linked at the wrong address?"
        );
    }

    let mut image = vec![0; size as usize];
    for piece in &pieces {
        let offset = (piece.physical - LOAD_ADDRESS) as usize;
        image[offset..offset + piece.bytes.len()].copy_from_slice(piece.bytes);
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::elf::{self, EM_X86_64, ET_EXEC};
    use object::write::elf::{FileHeader as WriteFileHeader, ProgramHeader as WriteProgramHeader, Writer};

    /// A loadable segment for the test ELF: file bytes, physical and virtual address, and memory size.
    struct Segment {
        bytes: Vec<u8>,
        physical: u64,
        virtual_address: u64,
        memory_size: u64,
    }

    impl Segment {
        fn at(physical: u64, bytes: &[u8]) -> Segment {
            Segment {
                bytes: bytes.to_vec(),
                physical,
                virtual_address: physical,
                memory_size: bytes.len() as u64,
            }
        }
    }

    /// Builds a minimal ELF executable holding `segments`.
    fn build_elf(machine: elf::Machine, entry: u64, segments: &[Segment]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer = Writer::new(Endianness::Little, true, &mut out);
        writer.reserve_file_header();
        writer.reserve_program_headers(segments.len() as u32);
        let offsets: Vec<u64> = segments.iter().map(|s| writer.reserve(s.bytes.len() as u64, 16)).collect();
        writer
            .write_file_header(&WriteFileHeader {
                os_abi: elf::ELFOSABI_NONE,
                abi_version: 0,
                e_type: ET_EXEC,
                e_machine: machine,
                e_entry: entry,
                e_flags: elf::FileFlags(0),
            })
            .unwrap();
        writer.write_align_program_headers();
        for (segment, &offset) in segments.iter().zip(&offsets) {
            writer.write_program_header(&WriteProgramHeader {
                p_type: PT_LOAD,
                p_flags: elf::PF_R,
                p_offset: offset,
                p_vaddr: segment.virtual_address,
                p_paddr: segment.physical,
                p_filesz: segment.bytes.len() as u64,
                p_memsz: segment.memory_size,
                p_align: 16,
            });
        }
        for (segment, &offset) in segments.iter().zip(&offsets) {
            writer.pad_until(offset);
            writer.write(&segment.bytes);
        }
        out
    }

    fn error_of(elf: &[u8]) -> String {
        format!("{:#}", flatten(elf).unwrap_err())
    }

    #[test]
    fn segments_land_at_their_offsets_from_the_load_address_with_zero_gaps() {
        let elf = build_elf(
            EM_AARCH64,
            LOAD_ADDRESS,
            // Out of order on purpose: the image follows addresses, not header order.
            &[Segment::at(LOAD_ADDRESS + 0x10, b"data"), Segment::at(LOAD_ADDRESS, b"code")],
        );
        let image = flatten(&elf).unwrap();
        assert_eq!(image.len(), 0x14);
        assert_eq!(&image[..4], b"code");
        assert_eq!(&image[4..0x10], &[0; 12]);
        assert_eq!(&image[0x10..], b"data");
    }

    #[test]
    fn physical_addresses_place_segments_and_bss_is_not_stored() {
        // A kernel linked to run high (virtual) but loaded low (physical), with a .bss-like tail.
        let high = 0xffff_0000_0000_0000;
        let code = Segment {
            bytes: b"boot".to_vec(),
            physical: LOAD_ADDRESS,
            virtual_address: high + LOAD_ADDRESS,
            memory_size: 0x1000,
        };
        let image = flatten(&build_elf(EM_AARCH64, high + LOAD_ADDRESS, &[code])).unwrap();
        assert_eq!(image, b"boot");
    }

    #[test]
    fn garbage_and_foreign_elves_are_refused_with_a_reason() {
        assert!(error_of(b"this is not an ELF file at all").contains("not a 64-bit ELF"));
        assert!(error_of(&[]).contains("not a 64-bit ELF"));
        let x86 = build_elf(EM_X86_64, LOAD_ADDRESS, &[Segment::at(LOAD_ADDRESS, b"code")]);
        assert!(error_of(&x86).contains("instead of AArch64"), "{}", error_of(&x86));
    }

    #[test]
    fn a_kernel_linked_elsewhere_than_0x80000_is_refused() {
        let elf = build_elf(EM_AARCH64, 0x40_0000, &[Segment::at(0x40_0000, b"code")]);
        assert!(error_of(&elf).contains("lowest load address is 0x400000"), "{}", error_of(&elf));
    }

    #[test]
    fn the_entry_point_must_be_the_first_byte() {
        let elf = build_elf(EM_AARCH64, LOAD_ADDRESS + 8, &[Segment::at(LOAD_ADDRESS, b"code----start")]);
        assert!(error_of(&elf).contains("entry point 0x80008"), "{}", error_of(&elf));
    }

    #[test]
    fn overlapping_and_far_apart_segments_are_refused() {
        let overlap = build_elf(
            EM_AARCH64,
            LOAD_ADDRESS,
            &[Segment::at(LOAD_ADDRESS, b"code"), Segment::at(LOAD_ADDRESS + 2, b"xx")],
        );
        assert!(error_of(&overlap).contains("overlap"), "{}", error_of(&overlap));
        let far = build_elf(
            EM_AARCH64,
            LOAD_ADDRESS,
            &[Segment::at(LOAD_ADDRESS, b"code"), Segment::at(1 << 40, b"x")],
        );
        assert!(error_of(&far).contains("wrong address"), "{}", error_of(&far));
    }

    #[test]
    fn a_truncated_file_is_refused() {
        let mut elf = build_elf(EM_AARCH64, LOAD_ADDRESS, &[Segment::at(LOAD_ADDRESS, &[7; 64])]);
        elf.truncate(elf.len() - 10);
        assert!(error_of(&elf).contains("past the end of the file"), "{}", error_of(&elf));
    }
}
