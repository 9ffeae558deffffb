//! System calls: `svc #0` from EL0, decoded by `cowpi_abi::Request` and carried out here.
//!
//! The ABI (number in x8, arguments in x0-x5, result in x0, errors as negative numbers) and every check
//! that needs no kernel state live in the host-tested `cowpi-abi` crate; this file adds what needs the
//! kernel: the task's address space for every user pointer (checked against its regions and page tables,
//! never dereferenced blindly, so a bad pointer is an error and never a kernel fault), the scheduler and
//! the program table.

use cowpi_abi::request::MAX_WRITE_LEN;
use cowpi_abi::{Error, MemStats, Request, WaitTarget};

use crate::arch::exception::ExceptionFrame;
use crate::memory::counters as events;
use crate::memory::user_access;
use crate::task::{self, Pid};
use crate::{console, memory, programs};

/// Handles the system call in `frame` and stores its result in x0.
pub fn handle(frame: &mut ExceptionFrame) {
    let args = [frame.x[0], frame.x[1], frame.x[2], frame.x[3], frame.x[4], frame.x[5]];
    let result = Request::decode(frame.x[8], args).and_then(|request| carry_out(request, frame));
    // A successful EXEC has replaced every register: x0 is the new program's first argument.
    if matches!(result, Ok(EXECUTED)) {
        return;
    }
    frame.x[0] = match result {
        Ok(value) => value,
        Err(error) => (-(error.number() as i64)) as u64,
    };
}

/// What `carry_out` returns for an `EXEC` that replaced the program (never a valid result otherwise).
const EXECUTED: u64 = u64::MAX;

fn carry_out(request: Request, frame: &mut ExceptionFrame) -> Result<u64, Error> {
    match request {
        Request::Mergeable { range } => {
            task::user::with_current_space(|space| space.mark_mergeable(range.start(), range.pages()))
                .map(|()| 0)
        }
        Request::Fork { mode } => task::user::fork(frame, mode).map(|pid| u64::from(pid.0)),
        Request::Exec { name, args } => {
            let name = user_access::read(name.start(), name.len())?;
            let args = user_access::read(args.start(), args.len())?;
            let name = core::str::from_utf8(&name).map_err(|_| Error::NoSuchProgram)?;
            let program = programs::find(name).ok_or(Error::NoSuchProgram)?;
            task::user::exec(program, &args, frame).map(|()| EXECUTED)
        }
        Request::Write { buffer } => {
            // The whole buffer must be readable; only its start is printed (`MAX_WRITE_LEN`).
            let len = buffer.len().min(MAX_WRITE_LEN as u64);
            user_access::check_readable(buffer.start(), buffer.len())?;
            let bytes = user_access::read(buffer.start(), len)?;
            console::with_uart(|uart| {
                for &byte in &bytes {
                    if byte == b'\n' {
                        uart.write_byte(b'\r');
                    }
                    uart.write_byte(byte);
                }
            });
            Ok(len)
        }
        Request::Exit { status } => task::exit(status.to_raw()),
        Request::GetPid => Ok(u64::from(task::current_pid().0)),
        Request::Yield => {
            task::yield_now();
            Ok(0)
        }
        Request::Sleep { milliseconds } => {
            if milliseconds == 0 {
                task::yield_now();
            } else {
                task::sleep(milliseconds);
            }
            Ok(0)
        }
        Request::Spawn { name, args } => {
            let name = user_access::read(name.start(), name.len())?;
            let args = user_access::read(args.start(), args.len())?;
            let name = core::str::from_utf8(&name).map_err(|_| Error::NoSuchProgram)?;
            let program = programs::find(name).ok_or(Error::NoSuchProgram)?;
            let pid = task::user::spawn(program, &args)?;
            Ok(u64::from(pid.0))
        }
        Request::Wait { target, status } => {
            // The status buffer must be writable, with its frame, before anyone is reaped, or the status
            // would be lost (to a bad pointer, or to a copy-on-write fault finding no free frame).
            if let Some(buffer) = status {
                user_access::prepare_write(buffer.start(), buffer.len())?;
            }
            let pid = match target {
                WaitTarget::AnyChild => None,
                WaitTarget::Child(pid) => Some(Pid(u32::try_from(pid).map_err(|_| Error::NoChild)?)),
            };
            let (child, raw_status) = task::wait(pid).map_err(|_| Error::NoChild)?;
            if let Some(buffer) = status {
                user_access::write(buffer.start(), &raw_status.to_le_bytes())?;
            }
            Ok(u64::from(child.0))
        }
        Request::Map { hint, pages, prot } => {
            task::user::with_current_space(|space| space.map_anonymous(hint, pages, prot))
        }
        Request::Unmap { range } => {
            task::user::with_current_space(|space| space.unmap(range.start(), range.pages())).map(|()| 0)
        }
        Request::Protect { range, prot } => {
            task::user::with_current_space(|space| space.protect(range.start(), range.pages(), prot))
                .map(|()| 0)
        }
        Request::MemStats { buffer } => {
            let counters = memory::frames::counters();
            let pages = task::user::with_current_space(|space| Ok(space.page_counts()))?;
            let ksm = memory::ksm::status();
            let stats = MemStats {
                size: 0,
                frames_total: counters.total as u64,
                frames_free: counters.free as u64,
                resident_pages: pages.resident,
                shared_pages: pages.shared,
                private_pages: pages.resident - pages.shared,
                cow_faults: events::COW_FAULTS.get(),
                cow_copies: events::COW_COPIES.get(),
                cow_reuses: events::COW_REUSES.get(),
                zero_fill_faults: events::ZERO_FILL_FAULTS.get(),
                zero_page_mappings: memory::zero_page::mappings(),
                oom_kills: events::OOM_KILLS.get(),
                zero_pages: pages.zero,
                ksm_pages_shared: ksm.pages_shared,
                ksm_pages_sharing: ksm.pages_sharing,
                ksm_full_scans: ksm.counters.full_scans,
                ksm_zero_pages_merged: ksm.counters.zero_pages_merged,
                ksm_scanner_ns: memory::ksm::scanner_cpu_ns(),
                tasks: task::scheduler::task_count() as u64,
                task_limit: task::user::MAX_TASKS as u64,
                tasks_refused: task::user::TASKS_REFUSED.get(),
                ksm_zero_pages: ksm.zero_pages,
                ksm_merges: ksm.counters.merges,
                ksm_unmerges: events::KSM_UNMERGES.get(),
                tables_shared: events::TABLES_SHARED.get(),
                table_copies: events::TABLE_COPIES.get(),
                table_reuses: events::TABLE_REUSES.get(),
            };
            let (bytes, written) = stats.to_bytes(buffer.len() as usize);
            user_access::write(buffer.start(), &bytes[..written])?;
            Ok(written as u64)
        }
    }
}
