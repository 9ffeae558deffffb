//! Tests of the loader: a well-formed program, every malformed case with its error, and property tests
//! that random bytes and random mutations of a good image never panic and never yield a plan that breaks
//! its promises.

extern crate std;

use std::vec;
use std::vec::Vec;

use cowpi_abi::layout::{IMAGE_AREA, KERNEL_SPACE_START, MAP_AREA};
use object::elf;
use proptest::prelude::*;

use super::*;
use crate::test_elf::{Header, R, TestElf, W, X};

fn plan_of(elf: &TestElf) -> Result<LoadPlan, LoadError> {
    plan(&elf.to_bytes())
}

/// The typical program with one change.
fn program_with(change: impl FnOnce(&mut TestElf)) -> TestElf {
    let mut elf = TestElf::program();
    change(&mut elf);
    elf
}

fn error_of(change: impl FnOnce(&mut TestElf)) -> LoadError {
    plan_of(&program_with(change)).expect_err("the image should be refused")
}

#[test]
fn a_typical_program_plans_as_linked() {
    let elf = TestElf::program().to_bytes();
    let plan = plan(&elf).unwrap();
    assert_eq!(plan.entry(), 0x40_0000);
    let [text, rodata, data] = plan.segments() else { panic!("{plan:?}") };

    assert_eq!((text.vaddr, text.mem_size, text.prot), (0x40_0000, 0x234, Prot::READ_EXEC));
    assert_eq!(text.file_range(), 0x1000..0x1234);
    assert_eq!(text.pages(), 0x40_0000..0x40_1000);
    assert!(elf[text.file_range()].iter().all(|&byte| byte == 0xA0));

    assert_eq!((rodata.vaddr, rodata.prot), (0x40_1000, Prot::READ));
    assert_eq!(rodata.pages(), 0x40_1000..0x40_2000);

    // Data: 16 bytes from the file, then .bss up to 0x40_3800, so two pages.
    assert_eq!(
        (data.vaddr, data.file_size, data.mem_size, data.prot),
        (0x40_2000, 0x10, 0x1800, Prot::READ_WRITE)
    );
    assert_eq!(data.pages(), 0x40_2000..0x40_4000);
    assert_eq!(data.end(), 0x40_3800);
}

#[test]
fn a_segment_may_start_mid_page_and_hold_only_zeros() {
    let elf = program_with(|e| e.headers[2] = Header::load(R | W, 0x3008, 0x40_2008, 0, 0x10));
    let data = plan_of(&elf).unwrap().segments()[2];
    assert_eq!(data.file_range(), 0x3008..0x3008);
    assert_eq!(data.pages(), 0x40_2000..0x40_3000);
}

#[test]
fn segments_need_not_be_in_address_order() {
    let elf = program_with(|e| e.headers.swap(0, 2));
    let plan = plan_of(&elf).unwrap();
    assert_eq!(plan.segments()[0].vaddr, 0x40_2000);
}

#[test]
fn a_segment_without_rights_is_a_guard() {
    let elf = program_with(|e| e.headers.push(Header::load(0, 0x3000, 0x40_8000, 0, 0x1000)));
    assert_eq!(plan_of(&elf).unwrap().segments()[3].prot, Prot::NONE);
}

#[test]
fn refuses_what_is_not_a_64_bit_little_endian_elf() {
    let elf = TestElf::program().to_bytes();
    assert_eq!(plan(&elf[..63]), Err(LoadError::TooShort));
    assert_eq!(plan(&[]), Err(LoadError::TooShort));
    assert_eq!(error_of(|e| e.magic = *b"\x7fELG"), LoadError::NotElf);
    assert_eq!(error_of(|e| e.magic = *b"MZ\x90\0"), LoadError::NotElf);
    assert_eq!(error_of(|e| e.class = elf::ELFCLASS32.0), LoadError::Not64Bit);
    assert_eq!(error_of(|e| e.data = elf::ELFDATA2MSB.0), LoadError::NotLittleEndian);
    assert_eq!(error_of(|e| e.version = 2), LoadError::UnknownVersion);
}

#[test]
fn refuses_other_machines_and_other_kinds_of_file() {
    assert_eq!(error_of(|e| e.machine = elf::EM_X86_64.0), LoadError::WrongMachine(62));
    assert_eq!(error_of(|e| e.machine = elf::EM_ARM.0), LoadError::WrongMachine(40));
    assert_eq!(error_of(|e| e.elf_type = elf::ET_DYN.0), LoadError::NotExecutable(3));
    assert_eq!(error_of(|e| e.elf_type = elf::ET_REL.0), LoadError::NotExecutable(1));
}

#[test]
fn refuses_a_malformed_program_header_table() {
    assert_eq!(error_of(|e| e.phentsize = Some(32)), LoadError::BadProgramHeaderTable);
    assert_eq!(error_of(|e| e.phoff = Some(0x10_0000)), LoadError::BadProgramHeaderTable);
    assert_eq!(error_of(|e| e.phoff = Some(u64::MAX - 8)), LoadError::BadProgramHeaderTable);
    // The table claims more entries than the image holds.
    assert_eq!(error_of(|e| (e.phnum, e.len) = (Some(40), Some(0x400))), LoadError::BadProgramHeaderTable);
    assert_eq!(
        error_of(|e| e.phnum = Some(MAX_PROGRAM_HEADERS as u16 + 1)),
        LoadError::TooManyProgramHeaders
    );
    assert_eq!(error_of(|e| e.phnum = Some(elf::PN_XNUM)), LoadError::TooManyProgramHeaders);
}

#[test]
fn needs_something_to_load_and_not_too_much() {
    assert_eq!(error_of(|e| e.headers.retain(|h| h.p_type != elf::PT_LOAD.0)), LoadError::NoLoadableSegment);
    assert_eq!(error_of(|e| e.phoff = Some(0)), LoadError::NoLoadableSegment);
    let many = program_with(|e| {
        e.headers = (0..MAX_SEGMENTS as u64 + 1)
            .map(|i| Header::load(R | X, 0x1000, 0x40_0000 + i * 0x1000, 4, 4))
            .collect();
    });
    assert_eq!(plan_of(&many), Err(LoadError::TooManySegments));
    let just_enough = program_with(|e| e.headers.truncate(MAX_SEGMENTS));
    assert!(plan_of(&just_enough).is_ok());
}

#[test]
fn refuses_dynamic_linking_and_thread_local_storage() {
    for (p_type, index) in [(elf::PT_INTERP, 4), (elf::PT_DYNAMIC, 4), (elf::PT_TLS, 4)] {
        let error = error_of(|e| e.headers.push(Header::other(p_type)));
        assert_eq!(error, LoadError::UnsupportedSegment { index, segment_type: p_type.0 });
    }
}

#[test]
fn refuses_inconsistent_sizes() {
    assert_eq!(error_of(|e| e.headers[1].mem_size = 0), LoadError::EmptySegment { index: 1 });
    assert_eq!(error_of(|e| e.headers[1].file_size = 0x81), LoadError::FileLargerThanMemory { index: 1 });
    let huge_offset = error_of(|e| e.headers[1].offset = u64::MAX - 0x3f);
    assert_eq!(huge_offset, LoadError::SizeOverflow { index: 1 });
    assert_eq!(
        error_of(|e| (e.headers[1].offset, e.len) = (0x2000, Some(0x2040))),
        LoadError::FileRangeOutsideImage { index: 1 }
    );
    let wraps = error_of(|e| e.headers[2] = Header::load(R | W, 0x3000, 0x40_2000, 0, u64::MAX - 0x1000));
    assert_eq!(wraps, LoadError::SizeOverflow { index: 2 });
    let rounds_past_the_top = error_of(|e| e.headers[2] = Header::load(R | W, 0xfef, u64::MAX - 0x10, 0, 8));
    assert_eq!(rounds_past_the_top, LoadError::SizeOverflow { index: 2 });
}

#[test]
fn refuses_a_segment_whose_address_and_offset_disagree_within_a_page() {
    assert_eq!(error_of(|e| e.headers[1].vaddr = 0x40_1010), LoadError::MisalignedSegment { index: 1 });
}

#[test]
fn keeps_every_segment_in_the_image_area() {
    let load_at = |vaddr: u64, mem_size: u64| {
        error_of(|e| e.headers[1] = Header::load(R, vaddr % 0x1000, vaddr, 0, mem_size))
    };
    assert_eq!(load_at(0, 8), LoadError::OutsideImageArea { index: 1 }, "page 0 stays unmapped");
    assert_eq!(load_at(0xff8, 8), LoadError::OutsideImageArea { index: 1 });
    assert_eq!(load_at(IMAGE_AREA.end - 0x1000, 0x1001), LoadError::OutsideImageArea { index: 1 });
    assert_eq!(load_at(MAP_AREA.start, 8), LoadError::OutsideImageArea { index: 1 });
    assert_eq!(load_at(KERNEL_SPACE_START + 0x8_0000, 8), LoadError::OutsideImageArea { index: 1 });
    // The very edges are allowed.
    let first = program_with(|e| e.headers[1] = Header::load(R, 0, IMAGE_AREA.start, 0, 8));
    assert!(plan_of(&first).is_ok());
    let last = program_with(|e| e.headers[1] = Header::load(R, 0, IMAGE_AREA.end - 0x1000, 0, 0x1000));
    assert!(plan_of(&last).is_ok());
}

#[test]
fn enforces_w_xor_x() {
    assert_eq!(error_of(|e| e.headers[0].flags = R | W | X), LoadError::WritableAndExecutable { index: 0 });
    assert_eq!(error_of(|e| e.headers[2].flags = W | X), LoadError::WritableAndExecutable { index: 2 });
}

#[test]
fn refuses_segments_that_share_a_page() {
    // Read-only data ending in the page where data begins: that page would need two protections.
    let error = error_of(|e| e.headers[2] = Header::load(R | W, 0x2080, 0x40_1080, 0x10, 0x10));
    assert_eq!(error, LoadError::Overlap { first: 1, second: 2 });
    // The overlap is named by program-header index, whatever else sits between.
    let error = error_of(|e| {
        e.headers.insert(1, Header::other(elf::PT_NOTE));
        e.headers[3] = Header::load(R | W, 0x2ff0, 0x40_1ff0, 0x10, 0x10);
    });
    assert_eq!(error, LoadError::Overlap { first: 2, second: 3 });
    // .bss spilling into the next segment's first page.
    let error = error_of(|e| e.headers[1].mem_size = 0x1001);
    assert_eq!(error, LoadError::Overlap { first: 1, second: 2 });
}

#[test]
fn the_entry_must_be_an_instruction_in_an_executable_segment() {
    assert_eq!(error_of(|e| e.entry = 0x40_0002), LoadError::MisalignedEntry { entry: 0x40_0002 });
    assert_eq!(error_of(|e| e.entry = 0x40_1000), LoadError::EntryNotExecutable { entry: 0x40_1000 });
    assert_eq!(error_of(|e| e.entry = 0x40_0234), LoadError::EntryNotExecutable { entry: 0x40_0234 });
    assert_eq!(error_of(|e| e.entry = 0), LoadError::EntryNotExecutable { entry: 0 });
    assert!(plan_of(&program_with(|e| e.entry = 0x40_0230)).is_ok());
}

#[test]
fn errors_say_what_is_wrong() {
    use std::string::ToString;
    assert_eq!(LoadError::WrongMachine(62).to_string(), "built for machine 62, not AArch64 (183)");
    assert_eq!(LoadError::Overlap { first: 1, second: 2 }.to_string(), "segments 1 and 2 share a page");
    assert_eq!(
        LoadError::WritableAndExecutable { index: 0 }.to_string(),
        "segment 0: writable and executable (W^X)"
    );
}

/// Checks every promise of [`LoadPlan`] from scratch, without trusting how `plan` made it.
fn check_promises(plan: &LoadPlan, image_len: usize) -> Result<(), TestCaseError> {
    let segments = plan.segments();
    prop_assert!((1..=MAX_SEGMENTS).contains(&segments.len()));
    for (i, s) in segments.iter().enumerate() {
        prop_assert!(s.mem_size >= 1);
        prop_assert!(s.file_size as u64 <= s.mem_size);
        prop_assert!(s.file_offset.checked_add(s.file_size).is_some_and(|end| end <= image_len));
        prop_assert_eq!(s.vaddr % PAGE_SIZE, s.file_offset as u64 % PAGE_SIZE);
        prop_assert!(!(s.prot.is_writable() && s.prot.is_executable()));
        let end = s.vaddr.checked_add(s.mem_size).unwrap();
        let pages = s.pages();
        prop_assert!(pages.start % PAGE_SIZE == 0 && pages.end % PAGE_SIZE == 0);
        prop_assert!(pages.start <= s.vaddr && end <= pages.end && pages.end - end < PAGE_SIZE);
        prop_assert!(IMAGE_AREA.start <= pages.start && pages.end <= IMAGE_AREA.end);
        for other in &segments[i + 1..] {
            prop_assert!(pages.end <= other.pages().start || other.pages().end <= pages.start);
        }
    }
    let entry = plan.entry();
    prop_assert_eq!(entry % 4, 0);
    prop_assert!(segments.iter().any(|s| s.prot.is_executable() && s.vaddr <= entry && entry < s.end()));
    Ok(())
}

/// The typical program's bytes with up to 16 bytes overwritten, mostly in the headers where they matter.
fn mutated_program() -> impl Strategy<Value = Vec<u8>> {
    let image = TestElf::program().to_bytes();
    let len = image.len();
    let header_bytes: usize = 64 + 4 * 56;
    let position = prop_oneof![4 => 0..header_bytes, 1 => 0..len];
    proptest::collection::vec((position, any::<u8>()), 1..16).prop_map(move |edits| {
        let mut bytes = image.clone();
        for (at, value) in edits {
            bytes[at] = value;
        }
        bytes
    })
}

/// Field values near the edges the checks care about.
fn interesting_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..0x5000_u64,
        0x3f_f000..0x40_5000_u64,
        IMAGE_AREA.end - 0x2000..IMAGE_AREA.end + 0x2000,
        u64::MAX - 0x2000..=u64::MAX,
        any::<u64>(),
    ]
}

/// `(offset, vaddr, file_size, mem_size)` of one segment: half of them plausible (near the image, address
/// and offset agreeing within the page), so that some plans succeed; half from anywhere.
fn segment_fields() -> impl Strategy<Value = (u64, u64, u64, u64)> {
    let plausible = (0x3f0..0x410_u64, 0..0x1000_u64, 0..4_u64, 0..0x1800_u64, 0..0x3000_u64).prop_map(
        |(page, in_page, file_page, file_size, mem_size)| {
            (file_page * 0x1000 + in_page, page * 0x1000 + in_page, file_size, mem_size)
        },
    );
    let anything = (interesting_u64(), interesting_u64(), interesting_u64(), interesting_u64());
    prop_oneof![plausible, anything]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(plan) = plan(&bytes) {
            check_promises(&plan, bytes.len())?;
        }
    }

    #[test]
    fn random_bytes_behind_a_valid_file_header_never_panic(
        tail in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = TestElf::program().to_bytes()[..64].to_vec();
        bytes.extend(tail);
        if let Ok(plan) = plan(&bytes) {
            check_promises(&plan, bytes.len())?;
        }
    }

    #[test]
    fn mutations_of_a_good_image_never_break_a_promise(bytes in mutated_program()) {
        if let Ok(plan) = plan(&bytes) {
            check_promises(&plan, bytes.len())?;
        }
    }

    #[test]
    fn random_segment_fields_never_break_a_promise(
        which in 0..3_usize,
        flags in 0..8_u32,
        (offset, vaddr, file_size, mem_size) in segment_fields(),
        entry in prop_oneof![Just(0x40_0000), 0x3f_f000..0x40_5000_u64, interesting_u64()],
    ) {
        let elf = program_with(|e| {
            e.headers[which] = Header::load(flags, offset, vaddr, file_size, mem_size);
            e.entry = entry;
        });
        let bytes = elf.to_bytes();
        if let Ok(plan) = plan(&bytes) {
            check_promises(&plan, bytes.len())?;
        }
    }
}

#[test]
fn the_promise_checker_catches_a_broken_plan() {
    // Guards the property tests above: a checker that accepted anything would make them pass vacuously.
    let good = plan_of(&TestElf::program()).unwrap();
    let len = TestElf::program().to_bytes().len();
    assert!(check_promises(&good, len).is_ok());
    let mut broken = vec![];
    for break_it in [
        (|p: &mut LoadPlan| p.segments[0].prot = Prot::READ_WRITE | Prot::EXEC) as fn(&mut LoadPlan),
        |p| p.segments[1].vaddr = 0x40_0000,
        |p| p.segments[2].file_size = 0x2000,
        |p| p.entry = 0x40_1000,
        |p| p.segments[0].vaddr = 0,
    ] {
        let mut plan = good.clone();
        break_it(&mut plan);
        broken.push(check_promises(&plan, len).is_err());
    }
    assert_eq!(broken, [true; 5]);
}
