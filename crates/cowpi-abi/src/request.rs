//! System calls as typed requests: the registers a task passed, checked and decoded.
//!
//! [`Request::decode`] makes every check that needs nothing but the registers, in a fixed order, and
//! returns the first error; the kernel then does what needs the task (is the buffer mapped and readable?
//! is that pid a child?). Keeping the pure checks here means they are written once, host-tested, and
//! visible to the authors of user programs, who can see exactly which error a bad argument produces.
//!
//! Pointers become [`UserBuffer`]s, known to lie below [`USER_VA_LIMIT`] (so a kernel address is
//! [`Error::BadAddress`] before any page table is consulted), and page ranges become [`PageRange`]s. An
//! empty buffer is valid wherever it points, since nothing in it is touched: `WRITE(1, 0, 0)` returns 0.
//! No pointer needs any alignment: the kernel copies bytes.

use crate::layout::{PAGE_SIZE, USER_VA_LIMIT, is_page_aligned, is_user_range, page_align_up};
use crate::{Error, ExitStatus, MemStats, Prot, Syscall};

/// The file descriptor of the console, the only one `WRITE` accepts.
pub const CONSOLE_FD: u64 = 1;

/// The most bytes one `WRITE` prints; it returns how many it printed, and a longer buffer takes several
/// calls (`write_all` in user libraries loops). The kernel copies what it prints into its own memory
/// first, so an unbounded write would let a task that mapped a few GiB exhaust the kernel's heap, and hold
/// the console for minutes.
pub const MAX_WRITE_LEN: usize = 4096;

/// The most regions (ranges made by `MAP`, the program's segments and its stack) one task may have. A
/// `MAP`, or an `UNMAP`, `PROTECT` or `MERGEABLE` that would split a region past it, fails with
/// [`Error::OutOfMemory`] and changes nothing. Like Linux's `vm.max_map_count`, it keeps one task from
/// filling the kernel's heap with bookkeeping.
pub const MAX_REGIONS: usize = 1024;

/// The longest program name `SPAWN` and `EXEC` accept, in bytes.
pub const MAX_PROGRAM_NAME_LEN: usize = 32;

/// The longest argument string `SPAWN` and `EXEC` accept, in bytes. It is copied to the top of the new
/// program's stack.
pub const MAX_ARGS_LEN: usize = 1024;

/// The value of `WAIT`'s pid argument (as an `i64`) that means "any child".
pub const ANY_CHILD: i64 = -1;

/// A buffer a task named with a pointer and a length, known to lie in user space.
///
/// That is all it promises: whether the pages are mapped, readable or writable is for the kernel to find
/// out when it copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserBuffer {
    start: u64,
    len: u64,
}

impl UserBuffer {
    /// The `len` bytes at `start`, or [`Error::BadAddress`] if they do not all lie in user space
    /// (including a `start + len` that overflows). An empty buffer is accepted wherever it points.
    pub const fn new(start: u64, len: u64) -> Result<UserBuffer, Error> {
        if is_user_range(start, len) { Ok(UserBuffer { start, len }) } else { Err(Error::BadAddress) }
    }

    pub const fn start(self) -> u64 {
        self.start
    }

    pub const fn len(self) -> u64 {
        self.len
    }

    pub const fn is_empty(self) -> bool {
        self.len == 0
    }
}

/// A non-empty run of whole pages in user space: what `UNMAP`, `PROTECT` and `MERGEABLE` act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRange {
    start: u64,
    pages: u64,
}

impl PageRange {
    /// The pages covering `len` bytes from `addr`, checked in this order:
    ///
    /// 1. `addr` not page-aligned: [`Error::InvalidArgument`];
    /// 2. `len` zero or larger than user space itself: [`Error::InvalidArgument`];
    /// 3. the range (`len` rounded up to whole pages) not inside user space: [`Error::BadAddress`].
    pub const fn new(addr: u64, len: u64) -> Result<PageRange, Error> {
        if !is_page_aligned(addr) {
            return Err(Error::InvalidArgument);
        }
        let Some(pages) = page_count(len) else { return Err(Error::InvalidArgument) };
        if !is_user_range(addr, pages * PAGE_SIZE) {
            return Err(Error::BadAddress);
        }
        Ok(PageRange { start: addr, pages })
    }

    pub const fn start(self) -> u64 {
        self.start
    }

    /// The first address past the range.
    pub const fn end(self) -> u64 {
        self.start + self.pages * PAGE_SIZE
    }

    pub const fn pages(self) -> u64 {
        self.pages
    }
}

/// How many pages `len` bytes need, or `None` if `len` is zero or exceeds user space.
const fn page_count(len: u64) -> Option<u64> {
    if len == 0 || len > USER_VA_LIMIT {
        return None;
    }
    match page_align_up(len) {
        Some(rounded) => Some(rounded / PAGE_SIZE),
        None => None,
    }
}

/// Whom `WAIT` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitTarget {
    /// The first child to end.
    AnyChild,
    /// This child.
    Child(u64),
}

/// A decoded system call. Each variant documents its checks, in the order [`Request::decode`] makes them;
/// what the kernel adds comes after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `WRITE(fd, ptr, len)`: `fd` not [`CONSOLE_FD`] is [`Error::BadFileDescriptor`]; the buffer outside
    /// user space is [`Error::BadAddress`]. The kernel: any byte of the whole buffer not readable by the
    /// task is `BadAddress`, and then nothing is written. Returns how many bytes it printed: `len`, or
    /// [`MAX_WRITE_LEN`] if `len` is more (the first `MAX_WRITE_LEN` bytes).
    Write { buffer: UserBuffer },
    /// `EXIT(code)`: never fails, never returns. The exit status keeps `code & 0xff`.
    Exit { status: ExitStatus },
    /// `GETPID()`: the caller's pid, at least 1.
    GetPid,
    /// `YIELD()`: gives up the rest of the time slice. Returns 0.
    Yield,
    /// `SLEEP(milliseconds)`: returns 0 after at least that long (0 behaves like `YIELD`).
    Sleep { milliseconds: u64 },
    /// `SPAWN(name_ptr, name_len, args_ptr, args_len)`: a name longer than [`MAX_PROGRAM_NAME_LEN`] or
    /// arguments longer than [`MAX_ARGS_LEN`] are [`Error::InvalidArgument`]; either buffer outside user
    /// space is [`Error::BadAddress`]. The kernel: unreadable bytes are `BadAddress`, an unknown name
    /// [`Error::NoSuchProgram`], then [`Error::TooManyTasks`], [`Error::OutOfMemory`] or
    /// [`Error::BadExecutable`]. Returns the child's pid; the child gets the argument bytes as they are.
    Spawn { name: UserBuffer, args: UserBuffer },
    /// `WAIT(pid, status_ptr)`: `pid` (an `i64`) must be [`ANY_CHILD`] or positive, else
    /// [`Error::InvalidArgument`]; a non-zero `status_ptr` whose 8 bytes are outside user space is
    /// [`Error::BadAddress`] (0 means "do not store the status"). The kernel: no such child is
    /// [`Error::NoChild`]; otherwise it blocks until the child ends, stores its `i64` status
    /// ([`ExitStatus::to_raw`]) and returns its pid, and the child is gone. If the status cannot be stored
    /// the call fails *before* waiting, and reaps no one: `BadAddress` for a buffer the task may not
    /// write, [`Error::OutOfMemory`] if its page needs a frame (untouched, or shared copy-on-write) and
    /// none is free. A child that ends after its own parent is adopted by the grandparent, if that is a
    /// user task, and collected like any other child.
    Wait { target: WaitTarget, status: Option<UserBuffer> },
    /// `MAP(hint, len, prot)`: a `hint` that is not 0 and not page-aligned, a `len` of zero or larger than
    /// user space, or unknown `prot` bits are [`Error::InvalidArgument`]; writable and executable `prot` is
    /// [`Error::PermissionDenied`]. `len` is rounded up to whole pages. The kernel: if the hinted range lies
    /// in [`MAP_AREA`](crate::layout::MAP_AREA) and nothing is mapped there, the memory goes exactly there;
    /// otherwise anywhere free in the map area, or [`Error::OutOfMemory`] (also for a task that has
    /// [`MAX_REGIONS`] already). Returns the page-aligned address of memory that reads as zeros.
    Map { hint: Option<u64>, pages: u64, prot: Prot },
    /// `UNMAP(addr, len)`: the checks of [`PageRange::new`]. The kernel: any page of the range not mapped
    /// is [`Error::NotMapped`], and then nothing is unmapped; unmapping the middle of a region when the
    /// task has [`MAX_REGIONS`] is [`Error::OutOfMemory`]. Returns 0.
    Unmap { range: PageRange },
    /// `PROTECT(addr, len, prot)`: the checks of [`PageRange::new`], then `prot` as for `MAP`. The kernel:
    /// any page not mapped is [`Error::NotMapped`], and then nothing changes; a split past
    /// [`MAX_REGIONS`] is [`Error::OutOfMemory`]. Returns 0. Only the rights change, never the memory:
    /// with [`Prot::NONE`] every access faults (and kills the task), but the pages keep their contents,
    /// which a later `PROTECT` makes accessible again, as POSIX `mprotect(PROT_NONE)` does.
    Protect { range: PageRange, prot: Prot },
    /// `MEMSTATS(ptr, size)`: `size` below [`MemStats::MIN_SIZE`] is [`Error::InvalidArgument`]; the
    /// `min(size, MemStats::SIZE)` bytes the kernel will write outside user space are
    /// [`Error::BadAddress`]. The kernel: not writable is `BadAddress`. Returns the bytes written, see
    /// [`MemStats`].
    MemStats { buffer: UserBuffer },
    /// `FORK(flags)`: `flags` is [`ForkMode::COPY_ON_WRITE`] (0), [`ForkMode::EAGER_COPY`] (1) or
    /// [`ForkMode::COPY_ON_WRITE_PAGES`] (2); any other value is [`Error::InvalidArgument`]. The kernel
    /// makes the caller a child: a new task running the same program, whose registers are the caller's at
    /// the `svc` except `x0`, and whose address space is the caller's. With copy-on-write no page data is
    /// copied: every private writable page becomes copy-on-write in both tasks (copied by whichever writes
    /// first, or taken over without a copy by the last task still holding it); read-only pages and the
    /// shared zero page are simply shared. Mode 0 does it a page table at a time: the child shares the
    /// caller's level-3 tables (2 MiB each), write-protected for both, and the first write into one gives
    /// the writer its own copy of that table; mode 2 does it page by page at the fork, as Linux does. What
    /// a program sees is the same. The eager copy is the baseline the benchmarks compare with, the fork of Unix before
    /// copy-on-write: every page the child could write gets its own frame, copied at the fork; read-only
    /// program pages and the zero page are still shared. The child has the caller as parent and no children
    /// of its own. Returns the child's pid in the caller and 0 in the child. Errors:
    /// [`Error::TooManyTasks`], or [`Error::OutOfMemory`] (for the child's task, page tables or, eagerly,
    /// its copies), and then no child exists.
    Fork { mode: ForkMode },
    /// `EXEC(name_ptr, name_len, args_ptr, args_len)`: the checks of `SPAWN`, in the same order. The
    /// kernel: unreadable bytes are [`Error::BadAddress`], an unknown name [`Error::NoSuchProgram`], then
    /// [`Error::OutOfMemory`] or [`Error::BadExecutable`] (there is no new task, so never
    /// `TooManyTasks`). On success it does not return: the calling task keeps its pid, parent and
    /// children, but its whole address space (program image, stack, every `MAP`ped region) is replaced by
    /// the named program's, started as `SPAWN` starts one, with the argument bytes as they are. On failure
    /// the caller's program and memory are exactly as they were.
    Exec { name: UserBuffer, args: UserBuffer },
    /// `MERGEABLE(addr, len)`: the checks of [`PageRange::new`], as for `UNMAP`. Like Linux's
    /// `madvise(MADV_MERGEABLE)`, it marks the caller's anonymous memory in the range as a candidate for
    /// page merging (KSM): the kernel's merging task may then find a page there identical to another
    /// candidate page (of this task or any other) and map both to one read-only copy-on-write frame, or
    /// map a page of zeros to the shared zero page. Nothing is merged during the call, and the task sees no
    /// difference but in [`MemStats`]: a write to a merged page faults and gets a copy of its own (or the
    /// frame back, if no one else holds it any longer), as after `FORK`. The kernel: any page of the range
    /// outside the task's anonymous memory (`MAP`ped regions, the stack, the heap) is [`Error::NotMapped`],
    /// and then nothing is marked; a split past [`MAX_REGIONS`] is [`Error::OutOfMemory`] (the mark
    /// belongs to regions, like the protection). Marking a page twice is harmless, and the mark goes with
    /// the memory on `UNMAP`. Returns 0.
    Mergeable { range: PageRange },
}

/// The program name and argument string of `SPAWN` and `EXEC`: the lengths first, then the addresses.
fn program_and_args(
    name: u64,
    name_len: u64,
    args: u64,
    args_len: u64,
) -> Result<(UserBuffer, UserBuffer), Error> {
    if name_len > MAX_PROGRAM_NAME_LEN as u64 || args_len > MAX_ARGS_LEN as u64 {
        return Err(Error::InvalidArgument);
    }
    Ok((UserBuffer::new(name, name_len)?, UserBuffer::new(args, args_len)?))
}

/// How `FORK` gives the child its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkMode {
    /// Share every page; copy a page only when one side writes it. What every program should use.
    CopyOnWrite,
    /// Copy every page the child could write at the fork. A baseline for the benchmarks, which measure
    /// what copy-on-write saves; no program needs it.
    EagerCopy,
    /// Copy-on-write set up page by page at the fork (every page's descriptor copied and write-protected,
    /// as Linux's fork does), where [`ForkMode::CopyOnWrite`] shares whole page tables. A baseline for
    /// the benchmarks.
    CopyOnWritePages,
}

impl ForkMode {
    /// `FORK`'s `flags` value for copy-on-write.
    pub const COPY_ON_WRITE: u64 = 0;
    /// `FORK`'s `flags` value for the eager copy.
    pub const EAGER_COPY: u64 = 1;
    /// `FORK`'s `flags` value for copy-on-write page by page.
    pub const COPY_ON_WRITE_PAGES: u64 = 2;

    /// The mode `FORK`'s `flags` ask for, or `None` for a value that means nothing.
    pub const fn from_flags(flags: u64) -> Option<ForkMode> {
        match flags {
            ForkMode::COPY_ON_WRITE => Some(ForkMode::CopyOnWrite),
            ForkMode::EAGER_COPY => Some(ForkMode::EagerCopy),
            ForkMode::COPY_ON_WRITE_PAGES => Some(ForkMode::CopyOnWritePages),
            _ => None,
        }
    }

    /// The `flags` value that asks for this mode.
    pub const fn flags(self) -> u64 {
        match self {
            ForkMode::CopyOnWrite => ForkMode::COPY_ON_WRITE,
            ForkMode::EagerCopy => ForkMode::EAGER_COPY,
            ForkMode::CopyOnWritePages => ForkMode::COPY_ON_WRITE_PAGES,
        }
    }
}

impl Request {
    /// The request in `x8` (`number`) and `x0`-`x5` (`args`), or the first error its registers show.
    pub fn decode(number: u64, args: [u64; 6]) -> Result<Request, Error> {
        let call = Syscall::from_number(number).ok_or(Error::NoSuchSyscall)?;
        let [a0, a1, a2, a3, ..] = args;
        let request = match call {
            Syscall::Write => {
                if a0 != CONSOLE_FD {
                    return Err(Error::BadFileDescriptor);
                }
                Request::Write { buffer: UserBuffer::new(a1, a2)? }
            }
            Syscall::Exit => Request::Exit { status: ExitStatus::from_exit_argument(a0) },
            Syscall::GetPid => Request::GetPid,
            Syscall::Yield => Request::Yield,
            Syscall::Sleep => Request::Sleep { milliseconds: a0 },
            Syscall::Spawn => {
                let (name, args) = program_and_args(a0, a1, a2, a3)?;
                Request::Spawn { name, args }
            }
            Syscall::Wait => {
                let target = match a0 as i64 {
                    ANY_CHILD => WaitTarget::AnyChild,
                    pid @ 1.. => WaitTarget::Child(pid as u64),
                    _ => return Err(Error::InvalidArgument),
                };
                let status = if a1 == 0 { None } else { Some(UserBuffer::new(a1, 8)?) };
                Request::Wait { target, status }
            }
            Syscall::Map => {
                if !is_page_aligned(a0) {
                    return Err(Error::InvalidArgument);
                }
                let pages = page_count(a1).ok_or(Error::InvalidArgument)?;
                let hint = if a0 == 0 { None } else { Some(a0) };
                Request::Map { hint, pages, prot: Prot::check(a2)? }
            }
            Syscall::Unmap => Request::Unmap { range: PageRange::new(a0, a1)? },
            Syscall::Protect => Request::Protect { range: PageRange::new(a0, a1)?, prot: Prot::check(a2)? },
            Syscall::MemStats => {
                if a1 < MemStats::MIN_SIZE as u64 {
                    return Err(Error::InvalidArgument);
                }
                let len = a1.min(MemStats::SIZE as u64);
                Request::MemStats { buffer: UserBuffer::new(a0, len)? }
            }
            Syscall::Fork => Request::Fork { mode: ForkMode::from_flags(a0).ok_or(Error::InvalidArgument)? },
            Syscall::Exec => {
                let (name, args) = program_and_args(a0, a1, a2, a3)?;
                Request::Exec { name, args }
            }
            Syscall::Mergeable => Request::Mergeable { range: PageRange::new(a0, a1)? },
        };
        Ok(request)
    }

    /// Which call this is.
    pub const fn syscall(&self) -> Syscall {
        match self {
            Request::Write { .. } => Syscall::Write,
            Request::Exit { .. } => Syscall::Exit,
            Request::GetPid => Syscall::GetPid,
            Request::Yield => Syscall::Yield,
            Request::Sleep { .. } => Syscall::Sleep,
            Request::Spawn { .. } => Syscall::Spawn,
            Request::Wait { .. } => Syscall::Wait,
            Request::Map { .. } => Syscall::Map,
            Request::Unmap { .. } => Syscall::Unmap,
            Request::Protect { .. } => Syscall::Protect,
            Request::MemStats { .. } => Syscall::MemStats,
            Request::Fork { .. } => Syscall::Fork,
            Request::Exec { .. } => Syscall::Exec,
            Request::Mergeable { .. } => Syscall::Mergeable,
        }
    }
}

#[cfg(test)]
mod tests;
