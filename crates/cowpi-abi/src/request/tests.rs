//! Tests of request decoding: each call's rules and their order, and a property test that decoding any
//! registers never panics and only ever yields values that keep the promises of their types.

use proptest::prelude::*;

use super::*;
use crate::Signal;
use crate::layout::{KERNEL_SPACE_START, MAP_AREA, USER_VA_LIMIT};

fn decode(call: Syscall, args: &[u64]) -> Result<Request, Error> {
    let mut registers = [0; 6];
    registers[..args.len()].copy_from_slice(args);
    Request::decode(call.number(), registers)
}

fn buffer(start: u64, len: u64) -> UserBuffer {
    UserBuffer::new(start, len).unwrap()
}

const DATA: u64 = 0x40_2000;

#[test]
fn unknown_numbers_are_no_such_syscall() {
    for number in [0, 15, 1000, u64::MAX] {
        assert_eq!(Request::decode(number, [0; 6]), Err(Error::NoSuchSyscall), "{number}");
    }
}

#[test]
fn every_call_decodes_to_itself() {
    for call in Syscall::ALL {
        // Arguments every call accepts: a page-aligned user address, one page, read-write, any child, a
        // fork mode.
        let args = match call {
            Syscall::Write => [CONSOLE_FD, DATA, 1, 0, 0, 0],
            Syscall::Wait => [ANY_CHILD as u64, 0, 0, 0, 0, 0],
            Syscall::MemStats => [DATA, MemStats::SIZE as u64, 0, 0, 0, 0],
            Syscall::Spawn | Syscall::Exec => [DATA, 5, DATA, 0, 0, 0],
            Syscall::Fork => [ForkMode::EAGER_COPY, 0, 0, 0, 0, 0],
            _ => [DATA, PAGE_SIZE, Prot::READ_WRITE.bits(), 0, 0, 0],
        };
        let request = Request::decode(call.number(), args).unwrap();
        assert_eq!(request.syscall(), call);
    }
}

#[test]
fn write_needs_the_console_then_a_user_buffer() {
    assert_eq!(decode(Syscall::Write, &[1, DATA, 5]), Ok(Request::Write { buffer: buffer(DATA, 5) }));
    assert_eq!(decode(Syscall::Write, &[2, DATA, 5]), Err(Error::BadFileDescriptor));
    assert_eq!(decode(Syscall::Write, &[0, 0, 5]), Err(Error::BadFileDescriptor), "fd is checked first");
    assert_eq!(decode(Syscall::Write, &[1, KERNEL_SPACE_START + 0x8_0000, 5]), Err(Error::BadAddress));
    assert_eq!(decode(Syscall::Write, &[1, USER_VA_LIMIT - 2, 4]), Err(Error::BadAddress));
    assert_eq!(decode(Syscall::Write, &[1, DATA, u64::MAX]), Err(Error::BadAddress));
    // Null is user space as far as decoding goes; that page 0 is never mapped is the kernel's finding.
    assert_eq!(decode(Syscall::Write, &[1, 0, 5]), Ok(Request::Write { buffer: buffer(0, 5) }));
}

#[test]
fn an_empty_buffer_is_valid_anywhere() {
    let request = decode(Syscall::Write, &[1, KERNEL_SPACE_START, 0]).unwrap();
    assert_eq!(request, Request::Write { buffer: buffer(KERNEL_SPACE_START, 0) });
}

#[test]
fn exit_keeps_the_low_eight_bits() {
    assert_eq!(decode(Syscall::Exit, &[0]), Ok(Request::Exit { status: ExitStatus::Exited(0) }));
    assert_eq!(
        decode(Syscall::Exit, &[-1_i64 as u64]),
        Ok(Request::Exit { status: ExitStatus::Exited(255) })
    );
    assert_eq!(decode(Syscall::Exit, &[0x1_0003]), Ok(Request::Exit { status: ExitStatus::Exited(3) }));
    // A task cannot make itself look killed.
    assert_ne!(
        decode(Syscall::Exit, &[-11_i64 as u64]),
        Ok(Request::Exit { status: ExitStatus::Killed(Signal::SegmentationFault) })
    );
}

#[test]
fn calls_without_arguments_ignore_the_registers() {
    assert_eq!(Request::decode(3, [u64::MAX; 6]), Ok(Request::GetPid));
    assert_eq!(Request::decode(4, [u64::MAX; 6]), Ok(Request::Yield));
    assert_eq!(decode(Syscall::Sleep, &[u64::MAX]), Ok(Request::Sleep { milliseconds: u64::MAX }));
}

#[test]
fn spawn_checks_lengths_then_addresses() {
    let name_len = MAX_PROGRAM_NAME_LEN as u64;
    let args_len = MAX_ARGS_LEN as u64;
    assert_eq!(
        decode(Syscall::Spawn, &[DATA, 5, DATA + 8, 3]),
        Ok(Request::Spawn { name: buffer(DATA, 5), args: buffer(DATA + 8, 3) })
    );
    assert!(decode(Syscall::Spawn, &[DATA, name_len, DATA, args_len]).is_ok());
    assert_eq!(decode(Syscall::Spawn, &[DATA, name_len + 1, DATA, 0]), Err(Error::InvalidArgument));
    assert_eq!(decode(Syscall::Spawn, &[DATA, 5, DATA, args_len + 1]), Err(Error::InvalidArgument));
    assert_eq!(decode(Syscall::Spawn, &[0, u64::MAX, 0, 0]), Err(Error::InvalidArgument), "length first");
    assert_eq!(decode(Syscall::Spawn, &[KERNEL_SPACE_START, 5, DATA, 0]), Err(Error::BadAddress));
    assert_eq!(decode(Syscall::Spawn, &[DATA, 5, USER_VA_LIMIT - 1, 2]), Err(Error::BadAddress));
}

#[test]
fn fork_takes_a_mode_and_ignores_the_other_registers() {
    let cow = Request::Fork { mode: ForkMode::CopyOnWrite };
    assert_eq!(Request::decode(12, [0, u64::MAX, u64::MAX, u64::MAX, u64::MAX, u64::MAX]), Ok(cow));
    assert_eq!(decode(Syscall::Fork, &[]), Ok(cow));
    assert_eq!(decode(Syscall::Fork, &[1]), Ok(Request::Fork { mode: ForkMode::EagerCopy }));
    assert_eq!(decode(Syscall::Fork, &[2]), Ok(Request::Fork { mode: ForkMode::CopyOnWritePages }));
    for flags in [3, 4, 1 << 63, u64::MAX] {
        assert_eq!(decode(Syscall::Fork, &[flags]), Err(Error::InvalidArgument), "{flags:#x}");
    }
    for mode in [ForkMode::CopyOnWrite, ForkMode::EagerCopy, ForkMode::CopyOnWritePages] {
        assert_eq!(ForkMode::from_flags(mode.flags()), Some(mode));
    }
}

#[test]
fn exec_checks_like_spawn() {
    let name_len = MAX_PROGRAM_NAME_LEN as u64;
    let args_len = MAX_ARGS_LEN as u64;
    assert_eq!(
        decode(Syscall::Exec, &[DATA, 5, DATA + 8, 3]),
        Ok(Request::Exec { name: buffer(DATA, 5), args: buffer(DATA + 8, 3) })
    );
    assert!(decode(Syscall::Exec, &[DATA, name_len, DATA, args_len]).is_ok());
    assert_eq!(decode(Syscall::Exec, &[DATA, name_len + 1, DATA, 0]), Err(Error::InvalidArgument));
    assert_eq!(decode(Syscall::Exec, &[DATA, 5, DATA, args_len + 1]), Err(Error::InvalidArgument));
    assert_eq!(decode(Syscall::Exec, &[0, u64::MAX, 0, 0]), Err(Error::InvalidArgument), "length first");
    assert_eq!(decode(Syscall::Exec, &[KERNEL_SPACE_START, 5, DATA, 0]), Err(Error::BadAddress));
    assert_eq!(decode(Syscall::Exec, &[DATA, 5, USER_VA_LIMIT - 1, 2]), Err(Error::BadAddress));
    // Every argument register the same way gives the same answer as SPAWN.
    for args in [[DATA, 5, DATA, 0], [DATA, 33, DATA, 0], [KERNEL_SPACE_START, 1, 0, 0], [0, 0, 0, 0]] {
        let spawn = decode(Syscall::Spawn, &args).map(|r| match r {
            Request::Spawn { name, args } => (name, args),
            other => panic!("{other:?}"),
        });
        let exec = decode(Syscall::Exec, &args).map(|r| match r {
            Request::Exec { name, args } => (name, args),
            other => panic!("{other:?}"),
        });
        assert_eq!(spawn, exec, "{args:x?}");
    }
}

#[test]
fn wait_takes_any_child_or_a_positive_pid_and_an_optional_status_buffer() {
    assert_eq!(
        decode(Syscall::Wait, &[-1_i64 as u64, 0]),
        Ok(Request::Wait { target: WaitTarget::AnyChild, status: None })
    );
    assert_eq!(
        decode(Syscall::Wait, &[7, DATA]),
        Ok(Request::Wait { target: WaitTarget::Child(7), status: Some(buffer(DATA, 8)) })
    );
    assert_eq!(decode(Syscall::Wait, &[0, 0]), Err(Error::InvalidArgument));
    assert_eq!(decode(Syscall::Wait, &[-2_i64 as u64, 0]), Err(Error::InvalidArgument));
    assert_eq!(decode(Syscall::Wait, &[i64::MIN as u64, 0]), Err(Error::InvalidArgument));
    assert_eq!(decode(Syscall::Wait, &[7, KERNEL_SPACE_START]), Err(Error::BadAddress));
    assert_eq!(decode(Syscall::Wait, &[7, USER_VA_LIMIT - 4]), Err(Error::BadAddress));
}

#[test]
fn map_rounds_up_to_pages() {
    let rw = Prot::READ_WRITE.bits();
    assert_eq!(
        decode(Syscall::Map, &[0, 1, rw]),
        Ok(Request::Map { hint: None, pages: 1, prot: Prot::READ_WRITE })
    );
    assert_eq!(
        decode(Syscall::Map, &[MAP_AREA.start, PAGE_SIZE + 1, 1]),
        Ok(Request::Map { hint: Some(MAP_AREA.start), pages: 2, prot: Prot::READ })
    );
    let all_of_user_space = decode(Syscall::Map, &[0, USER_VA_LIMIT, rw]).unwrap();
    assert_eq!(
        all_of_user_space,
        Request::Map { hint: None, pages: USER_VA_LIMIT / PAGE_SIZE, prot: Prot::READ_WRITE }
    );
}

#[test]
fn map_refuses_bad_hints_lengths_and_protections() {
    let rw = Prot::READ_WRITE.bits();
    assert_eq!(decode(Syscall::Map, &[MAP_AREA.start + 1, 1, rw]), Err(Error::InvalidArgument));
    assert_eq!(decode(Syscall::Map, &[0, 0, rw]), Err(Error::InvalidArgument));
    assert_eq!(decode(Syscall::Map, &[0, USER_VA_LIMIT + 1, rw]), Err(Error::InvalidArgument));
    assert_eq!(decode(Syscall::Map, &[0, u64::MAX, rw]), Err(Error::InvalidArgument));
    assert_eq!(decode(Syscall::Map, &[0, 1, 8]), Err(Error::InvalidArgument));
    assert_eq!(decode(Syscall::Map, &[0, 1, 6]), Err(Error::PermissionDenied));
    assert_eq!(decode(Syscall::Map, &[0, 1, 7]), Err(Error::PermissionDenied));
    // Any page-aligned hint is accepted here: one outside the map area is merely not honoured.
    assert!(decode(Syscall::Map, &[KERNEL_SPACE_START, 1, rw]).is_ok());
}

#[test]
fn page_ranges_check_alignment_then_length_then_place() {
    assert_eq!(PageRange::new(DATA, 1).map(|r| (r.start(), r.pages(), r.end())), Ok((DATA, 1, DATA + 4096)));
    assert_eq!(PageRange::new(DATA, 8192).map(|r| r.pages()), Ok(2));
    assert_eq!(PageRange::new(DATA + 8, 8), Err(Error::InvalidArgument));
    assert_eq!(PageRange::new(DATA + 8, 0), Err(Error::InvalidArgument));
    assert_eq!(PageRange::new(DATA, 0), Err(Error::InvalidArgument));
    assert_eq!(PageRange::new(DATA, u64::MAX), Err(Error::InvalidArgument));
    assert_eq!(PageRange::new(KERNEL_SPACE_START, 4096), Err(Error::BadAddress));
    assert_eq!(PageRange::new(USER_VA_LIMIT - 4096, 4097), Err(Error::BadAddress));
    assert_eq!(PageRange::new(USER_VA_LIMIT - 4096, 4096).map(|r| r.end()), Ok(USER_VA_LIMIT));
}

#[test]
fn unmap_and_protect_use_page_ranges() {
    let range = PageRange::new(DATA, 4096).unwrap();
    assert_eq!(decode(Syscall::Unmap, &[DATA, 4096]), Ok(Request::Unmap { range }));
    assert_eq!(decode(Syscall::Unmap, &[DATA + 1, 4096]), Err(Error::InvalidArgument));
    assert_eq!(
        decode(Syscall::Protect, &[DATA, 4096, 5]),
        Ok(Request::Protect { range, prot: Prot::READ_EXEC })
    );
    assert_eq!(decode(Syscall::Protect, &[DATA, 4096, 6]), Err(Error::PermissionDenied));
    assert_eq!(decode(Syscall::Protect, &[DATA + 1, 4096, 6]), Err(Error::InvalidArgument), "range first");
}

#[test]
fn mergeable_checks_like_unmap() {
    let range = PageRange::new(DATA, 2 * PAGE_SIZE).unwrap();
    assert_eq!(decode(Syscall::Mergeable, &[DATA, 2 * PAGE_SIZE]), Ok(Request::Mergeable { range }));
    assert_eq!(
        decode(Syscall::Mergeable, &[DATA, PAGE_SIZE + 1]),
        Ok(Request::Mergeable { range }),
        "the length is rounded up to whole pages"
    );
    assert_eq!(decode(Syscall::Mergeable, &[DATA + 1, PAGE_SIZE]), Err(Error::InvalidArgument));
    assert_eq!(decode(Syscall::Mergeable, &[DATA, 0]), Err(Error::InvalidArgument));
    assert_eq!(decode(Syscall::Mergeable, &[KERNEL_SPACE_START, PAGE_SIZE]), Err(Error::BadAddress));
    // Every argument register the same way gives the same answer as UNMAP.
    let cases = [
        [DATA, PAGE_SIZE],
        [DATA + 8, 8],
        [DATA, 0],
        [DATA, u64::MAX],
        [KERNEL_SPACE_START, PAGE_SIZE],
        [USER_VA_LIMIT - PAGE_SIZE, PAGE_SIZE + 1],
        [USER_VA_LIMIT - PAGE_SIZE, PAGE_SIZE],
    ];
    for args in cases {
        let unmap = decode(Syscall::Unmap, &args).map(|r| match r {
            Request::Unmap { range } => range,
            other => panic!("{other:?}"),
        });
        let mergeable = decode(Syscall::Mergeable, &args).map(|r| match r {
            Request::Mergeable { range } => range,
            other => panic!("{other:?}"),
        });
        assert_eq!(unmap, mergeable, "{args:x?}");
    }
}

#[test]
fn memstats_writes_at_most_what_this_version_knows() {
    let size = MemStats::SIZE as u64;
    assert_eq!(
        decode(Syscall::MemStats, &[DATA, size]),
        Ok(Request::MemStats { buffer: buffer(DATA, size) })
    );
    assert_eq!(decode(Syscall::MemStats, &[DATA, 8]), Ok(Request::MemStats { buffer: buffer(DATA, 8) }));
    assert_eq!(
        decode(Syscall::MemStats, &[DATA, 1 << 40]),
        Ok(Request::MemStats { buffer: buffer(DATA, size) })
    );
    assert_eq!(decode(Syscall::MemStats, &[DATA, 7]), Err(Error::InvalidArgument));
    assert_eq!(decode(Syscall::MemStats, &[DATA, 0]), Err(Error::InvalidArgument));
    assert_eq!(decode(Syscall::MemStats, &[KERNEL_SPACE_START, size]), Err(Error::BadAddress));
}

/// The promises of the types a decoded request carries.
fn check_promises(request: &Request) -> Result<(), TestCaseError> {
    let user_buffer = |b: &UserBuffer| {
        b.is_empty() || b.start().checked_add(b.len()).is_some_and(|end| end <= USER_VA_LIMIT)
    };
    let page_range = |r: &PageRange| {
        r.pages() >= 1
            && r.start().is_multiple_of(PAGE_SIZE)
            && r.start() < r.end()
            && r.end() <= USER_VA_LIMIT
    };
    match request {
        Request::Write { buffer } | Request::MemStats { buffer } => prop_assert!(user_buffer(buffer)),
        Request::Spawn { name, args } | Request::Exec { name, args } => {
            prop_assert!(user_buffer(name) && user_buffer(args));
            prop_assert!(name.len() <= MAX_PROGRAM_NAME_LEN as u64 && args.len() <= MAX_ARGS_LEN as u64);
        }
        Request::Wait { target, status } => {
            if let WaitTarget::Child(pid) = target {
                prop_assert!((1..=i64::MAX as u64).contains(pid));
            }
            if let Some(status) = status {
                prop_assert!(user_buffer(status) && status.len() == 8);
            }
        }
        Request::Map { hint, pages, prot } => {
            prop_assert!(hint.is_none_or(|hint| hint != 0 && hint.is_multiple_of(PAGE_SIZE)));
            prop_assert!((1..=USER_VA_LIMIT / PAGE_SIZE).contains(pages));
            prop_assert!(!prot.is_writable_and_executable());
        }
        Request::Unmap { range } | Request::Mergeable { range } => prop_assert!(page_range(range)),
        Request::Protect { range, prot } => {
            prop_assert!(page_range(range));
            prop_assert!(!prot.is_writable_and_executable());
        }
        Request::Exit { .. }
        | Request::GetPid
        | Request::Yield
        | Request::Sleep { .. }
        | Request::Fork { .. } => {}
    }
    Ok(())
}

/// Register values near the edges the checks care about, mixed with anything at all.
fn register() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0..16u64,
        (0..USER_VA_LIMIT / PAGE_SIZE).prop_map(|page| page * PAGE_SIZE),
        (USER_VA_LIMIT - 64..USER_VA_LIMIT + 64),
        (u64::MAX - 64..=u64::MAX),
        Just(KERNEL_SPACE_START),
    ]
}

proptest! {
    #[test]
    fn decoding_never_panics_and_keeps_its_promises(
        number in 0..16u64,
        args in proptest::array::uniform6(register()),
    ) {
        match Request::decode(number, args) {
            Ok(request) => {
                prop_assert_eq!(request.syscall().number(), number);
                check_promises(&request)?;
            }
            // Only an unknown number is NoSuchSyscall, and an unknown number is nothing else.
            Err(error) => {
                prop_assert_eq!(error == Error::NoSuchSyscall, Syscall::from_number(number).is_none());
            }
        }
    }
}
