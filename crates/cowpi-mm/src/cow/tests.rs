//! Tests of the copy-on-write decision: every row of the table in the module documentation, the refcount
//! boundaries, and the kernel bugs it must report rather than resolve.

extern crate std;

use std::format;

use proptest::prelude::*;

use super::*;
use crate::Prot;
use crate::translation::MemoryType;

const COW: PageFlags = PageFlags::USER_READ_WRITE.copy_on_write();
const MERGED: PageFlags = PageFlags { ksm_merged: true, ..PageFlags::USER_READ_ONLY };
const ZERO: PageFlags = PageFlags { zero_page: true, ..PageFlags::USER_READ_ONLY };
/// A page that merging found all zeros and put on the zero frame: both marks.
const KSM_ZERO: PageFlags = PageFlags { ksm_merged: true, ..ZERO };

#[test]
fn the_last_holder_of_a_cow_page_reuses_it_in_place() {
    assert_eq!(decide_write_fault(COW, 1), Ok(WriteFault::Reuse { flags: PageFlags::USER_READ_WRITE }));
}

#[test]
fn a_shared_cow_page_is_copied() {
    for refcount in [2, 3, u32::MAX - 1] {
        assert_eq!(
            decide_write_fault(COW, refcount),
            Ok(WriteFault::Copy { flags: PageFlags::USER_READ_WRITE }),
            "refcount {refcount}"
        );
    }
}

#[test]
fn a_merged_page_is_reused_by_its_last_holder_and_copied_otherwise() {
    assert_eq!(decide_write_fault(MERGED, 1), Ok(WriteFault::Reuse { flags: PageFlags::USER_READ_WRITE }));
    assert_eq!(decide_write_fault(MERGED, 2), Ok(WriteFault::Copy { flags: PageFlags::USER_READ_WRITE }));
}

#[test]
fn the_zero_page_is_never_reused_whatever_its_refcount() {
    for refcount in [1, 2, 1000, u32::MAX - 1] {
        assert_eq!(
            decide_write_fault(ZERO, refcount),
            Ok(WriteFault::ZeroFill { flags: PageFlags::USER_READ_WRITE }),
            "refcount {refcount}"
        );
    }
    // Merging's zero pages too: the merged mark does not make the zero frame a frame to reuse.
    for refcount in [1, 2] {
        assert_eq!(
            decide_write_fault(KSM_ZERO, refcount),
            Ok(WriteFault::ZeroFill { flags: PageFlags::USER_READ_WRITE })
        );
    }
    // Even a zero-page mapping that also carries the COW bit: the zero frame must stay zero.
    let zero_and_cow = PageFlags { cow: true, ..ZERO };
    assert_eq!(
        decide_write_fault(zero_and_cow, 1),
        Ok(WriteFault::ZeroFill { flags: PageFlags::USER_READ_WRITE })
    );
}

#[test]
fn a_private_read_only_page_is_a_real_permission_fault() {
    for flags in [PageFlags::USER_READ_ONLY, PageFlags::USER_READ_EXECUTE] {
        for refcount in [1, 2] {
            assert_eq!(decide_write_fault(flags, refcount), Ok(WriteFault::Denied), "{flags:?}, {refcount}");
        }
    }
    let device = PageFlags { memory: MemoryType::Device, ..PageFlags::USER_READ_ONLY };
    assert_eq!(decide_write_fault(device, 1), Ok(WriteFault::Denied));
}

#[test]
fn a_frame_without_holders_is_a_kernel_bug() {
    for flags in [COW, MERGED, ZERO, PageFlags::USER_READ_ONLY, PageFlags::USER_READ_WRITE] {
        assert_eq!(decide_write_fault(flags, 0), Err(CowError::UnheldFrame), "{flags:?}");
    }
}

#[test]
fn a_write_fault_on_a_writable_mapping_is_a_kernel_bug() {
    for refcount in [1, 2] {
        assert_eq!(decide_write_fault(PageFlags::USER_READ_WRITE, refcount), Err(CowError::AlreadyWritable));
    }
}

#[test]
fn an_executable_shared_page_is_not_made_writable() {
    let executable_cow = PageFlags::USER_READ_EXECUTE.copy_on_write();
    for refcount in [1, 2] {
        assert_eq!(
            decide_write_fault(executable_cow, refcount),
            Err(CowError::ResolvedFlags(FlagsError::WriteAndExecute))
        );
    }
}

#[test]
fn errors_print() {
    assert_eq!(format!("{}", CowError::AlreadyWritable), "write fault on a writable mapping");
    assert_eq!(
        format!("{}", CowError::ResolvedFlags(FlagsError::WriteAndExecute)),
        "write fault would make a page with bad flags: page both writable and executable (W^X)"
    );
}

fn shared_user_flags() -> impl Strategy<Value = PageFlags> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(no_access, executable, cow, zero_page, ksm_merged)| PageFlags {
            no_access,
            executable: executable && !no_access,
            cow,
            zero_page,
            ksm_merged,
            ..PageFlags::USER_READ_ONLY
        },
    )
}

proptest! {
    /// Whatever is decided for a read-only user page, a resolution always yields writable, private flags
    /// that follow the rules and keep everything else; and only the last holder of a non-zero page
    /// avoids a new frame.
    #[test]
    fn resolutions_are_writable_private_and_keep_the_rest(flags in shared_user_flags(), refcount in 0..4u32) {
        match decide_write_fault(flags, refcount) {
            Ok(WriteFault::Reuse { flags: resolved } | WriteFault::Copy { flags: resolved }
                | WriteFault::ZeroFill { flags: resolved }) => {
                prop_assert!(resolved.writable && !resolved.is_shared_for_writing());
                prop_assert!(resolved.check().is_ok());
                prop_assert_eq!(resolved.executable, flags.executable);
                prop_assert_eq!(resolved.memory, flags.memory);
                let reused = matches!(decide_write_fault(flags, refcount), Ok(WriteFault::Reuse { .. }));
                prop_assert_eq!(reused, refcount == 1 && !flags.zero_page);
            }
            Ok(WriteFault::Denied) => prop_assert!(flags.no_access || !flags.is_shared_for_writing()),
            Err(CowError::UnheldFrame) => prop_assert_eq!(refcount, 0),
            Err(CowError::ResolvedFlags(_)) => prop_assert!(flags.executable),
            Err(CowError::AlreadyWritable) => prop_assert!(false, "read-only flags reported writable"),
        }
    }
}

#[test]
fn a_no_access_page_is_never_written_whatever_its_marks() {
    for marked in [PageFlags::USER_NO_ACCESS, COW, MERGED, ZERO] {
        let flags = PageFlags { no_access: true, writable: false, executable: false, ..marked };
        for refcount in [1, 2] {
            assert_eq!(decide_write_fault(flags, refcount), Ok(WriteFault::Denied), "{flags:?} {refcount}");
        }
    }
}

#[test]
fn no_access_keeps_the_marks_there_and_back() {
    let none = PageFlags::USER_NO_ACCESS;
    let wanted = PageFlags::USER_READ_WRITE;
    for marked in [COW, MERGED, ZERO, PageFlags { ksm_merged: true, ..COW }] {
        for holders in [1, 2] {
            let hidden = decide_protect(marked, none, holders);
            assert_eq!(hidden, PageFlags { no_access: true, ..marked }, "{marked:?} {holders}");
            assert!(hidden.check().is_ok() && hidden.prot() == Prot::NONE);
            // Accessible again, it is the page it was: a write still copies (or reuses, or zero-fills).
            assert_eq!(decide_protect(hidden, wanted, holders), marked, "{marked:?} {holders}");
        }
    }
    // A private writable page comes back writable in place; one whose frame another task gained
    // meanwhile (an eager fork shares it) comes back copy-on-write.
    assert_eq!(decide_protect(wanted, none, 1), none);
    assert_eq!(decide_protect(none, wanted, 1), wanted);
    assert_eq!(decide_protect(none, wanted, 2), COW);
    assert_eq!(decide_protect(none, PageFlags::USER_READ_ONLY, 2), PageFlags::USER_READ_ONLY);
}

#[test]
fn an_eager_fork_shares_a_no_access_page_as_it_is() {
    for marked in [PageFlags::USER_NO_ACCESS, COW, MERGED, ZERO] {
        let flags = PageFlags { no_access: true, writable: false, executable: false, ..marked };
        assert_eq!(decide_eager_copy(flags, Prot::READ_WRITE), Ok(EagerCopy::Share { flags }), "{flags:?}");
    }
}

#[test]
fn an_eager_fork_copies_every_page_the_child_could_write_into_a_private_writable_one() {
    for flags in
        [PageFlags::USER_READ_WRITE, COW, MERGED.copy_on_write(), PageFlags { ksm_merged: true, ..COW }]
    {
        assert_eq!(
            decide_eager_copy(flags, Prot::READ_WRITE),
            Ok(EagerCopy::Copy { flags: PageFlags::USER_READ_WRITE }),
            "{flags:?}"
        );
    }
    // A merged page is logically writable too (its write fault unmerges it).
    assert_eq!(
        decide_eager_copy(MERGED, Prot::READ_WRITE),
        Ok(EagerCopy::Copy { flags: PageFlags::USER_READ_WRITE })
    );
}

#[test]
fn an_eager_fork_shares_a_marked_page_its_region_makes_read_only() {
    // Shared at a fork, then PROTECT read-only: the marks stay (decide_protect), the right to write does
    // not. Copied writable, the child could write what its region forbids (found by the state machine).
    for marked in [COW, MERGED, PageFlags { ksm_merged: true, ..COW }] {
        let flags = decide_protect(marked, PageFlags::USER_READ_ONLY, 2);
        assert!(flags.is_shared_for_writing(), "{flags:?}");
        assert_eq!(decide_eager_copy(flags, Prot::READ), Ok(EagerCopy::Share { flags }), "{flags:?}");
    }
}

#[test]
fn an_eager_fork_shares_what_nobody_writes_in_place() {
    let text = PageFlags::user(Prot::READ_EXEC).unwrap();
    // Merging's zero pages keep both marks in the child, so that it counts them as its own.
    for flags in [PageFlags::USER_READ_ONLY, text, ZERO, KSM_ZERO] {
        assert_eq!(decide_eager_copy(flags, Prot::READ_WRITE), Ok(EagerCopy::Share { flags }), "{flags:?}");
    }
}

#[test]
fn an_eager_fork_shares_an_executable_page_even_if_marked_copy_on_write() {
    // A COW page its task made read-execute with PROTECT (found by the syscall fuzzer: this panicked).
    let executable_cow = PageFlags { executable: true, ..COW };
    assert_eq!(
        decide_eager_copy(executable_cow, Prot::READ_WRITE),
        Ok(EagerCopy::Share { flags: executable_cow })
    );
}

#[test]
fn protect_makes_a_page_shared_without_a_mark_copy_on_write_not_writable() {
    // Read-only at a fork, so shared with no mark; then PROTECT read-write (found by the syscall fuzzer:
    // the parent's writes showed in the child).
    let read_only = PageFlags::USER_READ_ONLY;
    let wanted = PageFlags::USER_READ_WRITE;
    assert_eq!(decide_protect(read_only, wanted, 2), COW);
    // The last holder may write in place.
    assert_eq!(decide_protect(read_only, wanted, 1), wanted);
    // Marked pages keep their marks and stay read-only, whatever the count.
    for marked in [COW, MERGED, ZERO, KSM_ZERO] {
        for holders in [1, 2] {
            let flags = decide_protect(marked, wanted, holders);
            assert!(!flags.writable && flags.is_shared_for_writing(), "{marked:?} {holders}: {flags:?}");
        }
    }
    // A zero page merging made stays one, still counted as such (`ksm_zero_pages`).
    assert!(decide_protect(KSM_ZERO, PageFlags::USER_READ_ONLY, 2).is_ksm_zero_page());
    // Taking write away from a shared page never adds a mark it did not have.
    assert_eq!(decide_protect(read_only, PageFlags::USER_READ_ONLY, 3), PageFlags::USER_READ_ONLY);
}

proptest! {
    /// Whatever the rights asked for, a frame with other holders is never mapped writable.
    #[test]
    fn protect_never_makes_a_shared_frame_writable(
        current in proptest::sample::select(std::vec![PageFlags::USER_READ_ONLY, PageFlags::USER_READ_WRITE, COW, MERGED, ZERO]),
        hidden in any::<bool>(),
        wanted in proptest::sample::select(std::vec![PageFlags::USER_NO_ACCESS, PageFlags::USER_READ_ONLY, PageFlags::USER_READ_WRITE]),
        refcount in 1u32..4,
    ) {
        // Half the time the page had no access first: the way back must be as safe.
        let current = if hidden { decide_protect(current, PageFlags::USER_NO_ACCESS, refcount) } else { current };
        let flags = decide_protect(current, wanted, refcount);
        prop_assert!(!(flags.writable && (refcount > 1 || flags.is_shared_for_writing())), "{flags:?}");
        prop_assert!(flags.check().is_ok());
        prop_assert_eq!(flags.no_access, wanted.no_access);
        prop_assert_eq!(flags.is_shared_for_writing(), current.is_shared_for_writing() || flags.cow);
    }
}
