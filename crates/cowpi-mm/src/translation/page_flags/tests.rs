//! Tests of the page flags: the exact descriptor bits for each kind of page, every rule, and a property
//! test that encoding and decoding are inverse on every valid descriptor.

extern crate std;

use std::format;

use proptest::prelude::*;

use super::*;

const FRAME: Frame = Frame::from_number(0x12345);

fn encode(flags: PageFlags) -> u64 {
    flags.to_descriptor(FRAME).unwrap()
}

#[test]
fn user_pages_are_not_global_never_kernel_executable_and_accessed() {
    // VALID|PAGE, AttrIndx 0, AP=0b01, SH=0b11, AF, nG, the frame, PXN, UXN.
    assert_eq!(encode(PageFlags::USER_READ_WRITE), 0x0060_0000_1234_5f43);
    // AP=0b11.
    assert_eq!(encode(PageFlags::USER_READ_ONLY), 0x0060_0000_1234_5fc3);
    // Executable at EL0: UXN clear, PXN still set.
    assert_eq!(encode(PageFlags::USER_READ_EXECUTE), 0x0020_0000_1234_5fc3);
}

#[test]
fn copy_on_write_is_read_only_with_the_cow_bit() {
    let cow = PageFlags::USER_READ_WRITE.copy_on_write();
    assert_eq!(encode(cow), 0x00e0_0000_1234_5fc3);
    assert_eq!(cow, PageFlags { writable: false, cow: true, ..PageFlags::USER_READ_WRITE });
    assert!(cow.logically_writable() && !cow.writable);
    assert_eq!(cow.prot(), Prot::READ_WRITE);
    // Resolving the fault gives AP=0b01 and clears the bit: exactly the plain writable page.
    assert_eq!(encode(cow.resolve_write_fault()), encode(PageFlags::USER_READ_WRITE));
}

#[test]
fn software_bits_sit_in_55_to_58() {
    let zero = PageFlags { zero_page: true, ..PageFlags::USER_READ_ONLY };
    assert_eq!(encode(zero) ^ encode(PageFlags::USER_READ_ONLY), 1 << 56);
    let merged = PageFlags { ksm_merged: true, cow: true, ..PageFlags::USER_READ_ONLY };
    assert_eq!(encode(merged) ^ encode(PageFlags::USER_READ_ONLY), (1 << 57) | (1 << 55));
    assert!(zero.logically_writable() && merged.logically_writable());
    assert!(!PageFlags::USER_READ_ONLY.logically_writable());
    assert_eq!(zero.resolve_write_fault(), PageFlags::USER_READ_WRITE);
}

#[test]
fn a_no_access_page_is_el1_read_only_with_its_own_bit() {
    // AP=0b10 (EL0 none), nG, PXN, UXN, and bit 58.
    assert_eq!(encode(PageFlags::USER_NO_ACCESS), 0x0460_0000_1234_5f83);
    assert_eq!(
        encode(PageFlags::USER_NO_ACCESS) ^ encode(PageFlags::KERNEL_READ_ONLY),
        (1 << 58) | (1 << 11)
    );
    assert_eq!(PageFlags::USER_NO_ACCESS.prot(), Prot::NONE);
    // Its sharing marks stay, but none makes it writable, now or after a fault.
    for marked in [
        PageFlags { cow: true, ..PageFlags::USER_NO_ACCESS },
        PageFlags { zero_page: true, ..PageFlags::USER_NO_ACCESS },
        PageFlags { ksm_merged: true, ..PageFlags::USER_NO_ACCESS },
    ] {
        assert!(!marked.logically_writable() && marked.is_shared_for_writing(), "{marked:?}");
        assert_eq!(marked.prot(), Prot::NONE);
        assert_eq!(PageFlags::from_descriptor(encode(marked)), Ok((FRAME, marked)));
    }
    // Decoded, it is never mistaken for a kernel page, nor the kernel page for it.
    let (_, decoded) = PageFlags::from_descriptor(encode(PageFlags::USER_NO_ACCESS)).unwrap();
    assert!(decoded.user && decoded.no_access && !decoded.global);
    let (_, kernel) = PageFlags::from_descriptor(encode(PageFlags::KERNEL_READ_ONLY)).unwrap();
    assert!(!kernel.user && !kernel.no_access);
}

#[test]
fn a_zero_page_put_there_by_merging_keeps_both_marks_and_is_told_apart() {
    let read_fault = PageFlags { zero_page: true, ..PageFlags::USER_READ_ONLY };
    let ksm_zero = PageFlags { ksm_merged: true, ..read_fault };
    assert_eq!(ksm_zero.check(), Ok(()));
    assert_eq!(encode(ksm_zero) ^ encode(PageFlags::USER_READ_ONLY), (1 << 57) | (1 << 56));
    assert_eq!(PageFlags::from_descriptor(encode(ksm_zero)), Ok((FRAME, ksm_zero)));
    assert!(ksm_zero.is_ksm_zero_page());
    // A zero page mapped by a read fault, and a merged page on a frame of its own, are not.
    assert!(!read_fault.is_ksm_zero_page());
    assert!(!PageFlags { ksm_merged: true, ..PageFlags::USER_READ_ONLY }.is_ksm_zero_page());
    // Its write fault gives a private page with neither mark, like any zero-page mapping's.
    assert_eq!(ksm_zero.resolve_write_fault(), PageFlags::USER_READ_WRITE);
    assert_eq!(PageFlags { writable: true, ..ksm_zero }.check(), Err(FlagsError::WritableSharedPage));
}

#[test]
fn kernel_pages_are_global_and_never_user_executable() {
    // AP=0b00, no nG, PXN and UXN.
    assert_eq!(encode(PageFlags::KERNEL_READ_WRITE), 0x0060_0000_1234_5703);
    // AP=0b10.
    assert_eq!(encode(PageFlags::KERNEL_READ_ONLY), 0x0060_0000_1234_5783);
    // Executable at EL1: PXN clear, UXN set.
    assert_eq!(encode(PageFlags::KERNEL_READ_EXECUTE), 0x0040_0000_1234_5783);
    // AttrIndx 1.
    assert_eq!(encode(PageFlags::KERNEL_DEVICE), 0x0060_0000_1234_5707);
}

#[test]
fn user_flags_follow_prot() {
    assert_eq!(PageFlags::user(Prot::READ), Ok(PageFlags::USER_READ_ONLY));
    assert_eq!(PageFlags::user(Prot::READ_WRITE), Ok(PageFlags::USER_READ_WRITE));
    assert_eq!(PageFlags::user(Prot::READ_EXEC), Ok(PageFlags::USER_READ_EXECUTE));
    assert_eq!(PageFlags::user(Prot::READ | Prot::WRITE | Prot::EXEC), Err(FlagsError::WriteAndExecute));
    assert_eq!(PageFlags::user(Prot::NONE), Ok(PageFlags::USER_NO_ACCESS));
    assert_eq!(PageFlags::user(Prot::WRITE), Err(FlagsError::NotReadable));
    assert_eq!(PageFlags::user(Prot::EXEC), Err(FlagsError::NotReadable));
    for prot in [Prot::NONE, Prot::READ, Prot::READ_WRITE, Prot::READ_EXEC] {
        assert_eq!(PageFlags::user(prot).unwrap().prot(), prot);
    }
}

#[test]
fn rules_are_enforced() {
    let cases = [
        (PageFlags { executable: true, ..PageFlags::USER_READ_WRITE }, FlagsError::WriteAndExecute),
        (PageFlags { executable: true, ..PageFlags::KERNEL_READ_WRITE }, FlagsError::WriteAndExecute),
        (PageFlags { global: true, ..PageFlags::USER_READ_ONLY }, FlagsError::GlobalUserPage),
        (
            PageFlags { executable: true, writable: false, ..PageFlags::KERNEL_DEVICE },
            FlagsError::ExecutableDevice,
        ),
        (PageFlags { cow: true, ..PageFlags::USER_READ_WRITE }, FlagsError::WritableSharedPage),
        (PageFlags { zero_page: true, ..PageFlags::USER_READ_WRITE }, FlagsError::WritableSharedPage),
        (PageFlags { ksm_merged: true, ..PageFlags::USER_READ_WRITE }, FlagsError::WritableSharedPage),
        (PageFlags { cow: true, ..PageFlags::KERNEL_READ_ONLY }, FlagsError::SharedNonUserMemory),
        (PageFlags { no_access: true, ..PageFlags::KERNEL_READ_ONLY }, FlagsError::AccessibleNoAccessPage),
        (PageFlags { writable: true, ..PageFlags::USER_NO_ACCESS }, FlagsError::AccessibleNoAccessPage),
        (PageFlags { executable: true, ..PageFlags::USER_NO_ACCESS }, FlagsError::AccessibleNoAccessPage),
        (
            PageFlags { cow: true, memory: MemoryType::Device, ..PageFlags::USER_READ_ONLY },
            FlagsError::SharedNonUserMemory,
        ),
    ];
    for (flags, error) in cases {
        assert_eq!(flags.check(), Err(error), "{flags:?}");
        assert_eq!(flags.to_descriptor(FRAME), Err(error), "{flags:?}");
    }
}

#[test]
fn frames_beyond_48_bits_are_refused() {
    let last = Frame::from_number(MAX_OUTPUT_FRAME);
    let (frame, _) =
        PageFlags::from_descriptor(PageFlags::USER_READ_ONLY.to_descriptor(last).unwrap()).unwrap();
    assert_eq!(frame, last);
    let beyond = Frame::from_number(MAX_OUTPUT_FRAME + 1);
    assert_eq!(
        PageFlags::USER_READ_ONLY.to_descriptor(beyond),
        Err(FlagsError::FrameBeyondOutputAddress(beyond))
    );
}

#[test]
fn descriptors_cowpi_never_writes_are_refused() {
    let good = encode(PageFlags::USER_READ_WRITE);
    let cases = [
        (0, DescriptorError::NotAPage),
        (good & !0b10, DescriptorError::NotAPage),
        (good & !1, DescriptorError::NotAPage),
        (good | (2 << 2), DescriptorError::UnknownMemoryType { attr_index: 2 }),
        (good & !(1 << 8), DescriptorError::NotInnerShareable),
        (good & !(1 << 10), DescriptorError::AccessFlagClear),
        (good | (1 << 5), DescriptorError::UnexpectedBits { bits: 1 << 5 }),
        (good | (1 << 52), DescriptorError::UnexpectedBits { bits: 1 << 52 }),
        // The no-access bit is only ever written with AP = 0b10, and only on user pages.
        (good | (1 << 58), DescriptorError::NoAccessPermissions),
        (encode(PageFlags::USER_READ_ONLY) | (1 << 58), DescriptorError::NoAccessPermissions),
        (encode(PageFlags::KERNEL_READ_WRITE) | (1 << 58), DescriptorError::NoAccessPermissions),
        (
            encode(PageFlags::USER_NO_ACCESS) & !(1 << 54),
            DescriptorError::Flags(FlagsError::AccessibleNoAccessPage),
        ),
        (encode(PageFlags::USER_NO_ACCESS) & !(1 << 53), DescriptorError::UserPageExecutableByKernel),
        (encode(PageFlags::USER_NO_ACCESS) & !(1 << 11), DescriptorError::Flags(FlagsError::GlobalUserPage)),
        (good | (1 << 48), DescriptorError::UnexpectedBits { bits: 1 << 48 }),
        (good & !(1 << 53), DescriptorError::UserPageExecutableByKernel),
        (encode(PageFlags::KERNEL_READ_WRITE) & !(1 << 54), DescriptorError::KernelPageExecutableByUser),
        (good & !(1 << 54), DescriptorError::Flags(FlagsError::WriteAndExecute)),
        (good & !(1 << 11), DescriptorError::Flags(FlagsError::GlobalUserPage)),
        (good | (1 << 55), DescriptorError::Flags(FlagsError::WritableSharedPage)),
    ];
    for (descriptor, error) in cases {
        assert_eq!(PageFlags::from_descriptor(descriptor), Err(error), "{descriptor:#x}");
    }
}

#[test]
fn errors_print() {
    assert_eq!(format!("{}", FlagsError::WriteAndExecute), "page both writable and executable (W^X)");
    assert_eq!(format!("{}", DescriptorError::Flags(FlagsError::GlobalUserPage)), "user page marked global");
    assert_eq!(format!("{}", DescriptorError::UnexpectedBits { bits: 0x20 }), "unexpected bits 0x20");
}

fn any_flags() -> impl Strategy<Value = PageFlags> {
    (any::<[bool; 8]>(), prop_oneof![Just(MemoryType::Normal), Just(MemoryType::Device)]).prop_map(
        |([user, no_access, writable, executable, global, cow, zero_page, ksm_merged], memory)| PageFlags {
            user,
            no_access,
            writable,
            executable,
            memory,
            global,
            cow,
            zero_page,
            ksm_merged,
        },
    )
}

proptest! {
    #[test]
    fn valid_flags_round_trip(flags in any_flags(), number in 0..=MAX_OUTPUT_FRAME) {
        let frame = Frame::from_number(number);
        match flags.check() {
            Ok(()) => {
                let descriptor = flags.to_descriptor(frame).unwrap();
                prop_assert_eq!(PageFlags::from_descriptor(descriptor), Ok((frame, flags)));
            }
            Err(error) => prop_assert_eq!(flags.to_descriptor(frame), Err(error)),
        }
    }

    #[test]
    fn decodable_descriptors_are_exactly_the_encodable_ones(descriptor in any::<u64>(), known in any::<bool>()) {
        // Half the cases keep only the bits cowpi writes, so that decoding gets past the first check.
        let descriptor = if known { descriptor & KNOWN_BITS | 0b11 } else { descriptor };
        if let Ok((frame, flags)) = PageFlags::from_descriptor(descriptor) {
            prop_assert_eq!(flags.to_descriptor(frame), Ok(descriptor));
        }
    }
}

#[test]
fn the_copy_on_write_descriptor_is_the_decoded_one_made_copy_on_write() {
    let frame = Frame::from_number(0x8_1234);
    let kinds = [
        PageFlags::USER_READ_WRITE,
        PageFlags::USER_READ_ONLY,
        PageFlags::USER_READ_EXECUTE,
        PageFlags::USER_NO_ACCESS,
        PageFlags::USER_READ_WRITE.copy_on_write(),
        PageFlags { zero_page: true, ..PageFlags::USER_READ_ONLY },
        PageFlags { ksm_merged: true, ..PageFlags::USER_READ_ONLY },
        PageFlags { ksm_merged: true, zero_page: true, ..PageFlags::USER_READ_ONLY },
        PageFlags { cow: true, ..PageFlags::USER_NO_ACCESS },
    ];
    for flags in kinds {
        let descriptor = flags.to_descriptor(frame).unwrap();
        let expected = flags.writable.then(|| flags.copy_on_write().to_descriptor(frame).unwrap());
        assert_eq!(PageFlags::copy_on_write_descriptor(descriptor), expected, "{flags:?}");
        // The other readers of raw descriptors agree with decoding them, for every kind of page.
        assert_eq!(PageFlags::descriptor_is_ksm_zero_page(descriptor), flags.is_ksm_zero_page(), "{flags:?}");
        assert_eq!(PageFlags::descriptor_frame(descriptor), frame, "{flags:?}");
    }
}
