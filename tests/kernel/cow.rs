//! Copy-on-write fork, exec, the shared zero page and overcommit, through the user programs that exercise
//! them (`forktest`, `zeropage`, `oom`, `pattern`). Each program checks its own view and exits with its
//! number of failed checks; these tests add what only the kernel can see: frames back where they started,
//! and (after every test) the memory audit.

use cowpi_abi::{ExitStatus, Signal};

use super::programs::{finish, start};
use crate::memory::{counters, frames};
use crate::{board, check, check_eq, kernel_test};

/// Runs `name args` to its end and checks it exited with 0 and gave back every frame it took.
fn passes(name: &str, args: &str) -> crate::ktest::TestResult {
    let free_before = frames::counters().free;
    let status = finish(start(name, args)?)?;
    check_eq!((name, args, status), (name, args, Some(ExitStatus::Exited(0))));
    check_eq!(frames::counters().free, free_before);
    Ok(())
}

/// Runs `forktest args` with each copy-on-write fork: sharing level-3 tables (mode 0, which must have
/// shared some) and page by page (which must share none).
fn passes_in_both_modes(args: &str) -> crate::ktest::TestResult {
    let shared = counters::TABLES_SHARED.get();
    passes("forktest", args)?;
    check!(counters::TABLES_SHARED.get() > shared, "forktest {args}: no fork shared a level-3 table");
    let shared = counters::TABLES_SHARED.get();
    passes("forktest", &alloc::format!("{args} pages"))?;
    check_eq!(counters::TABLES_SHARED.get(), shared);
    Ok(())
}

kernel_test! {
    /// The benchmarks' baseline, the eager-copy fork, gives the child private writable copies: it sees
    /// the parent's data, neither side faults afterwards, and the copies come back when it exits.
    fn an_eager_copy_fork_copies_every_writable_page_and_isolates_both() -> TestResult {
        passes("forktest", "eager 256")
    }
}

kernel_test! {
    /// Parent and child never see each other's writes, in either direction: 1 page, 2 MiB and 64 MiB.
    fn fork_isolates_both_directions() -> TestResult {
        for pages in ["1", "512", "16384"] {
            let copies = counters::TABLE_COPIES.get();
            passes_in_both_modes(&alloc::format!("isolation {pages}"))?;
            // The child's first write into each shared table copied it.
            check!(counters::TABLE_COPIES.get() > copies, "isolation {pages}: no shared table was copied");
        }
        Ok(())
    }
}

kernel_test! {
    fn three_generations_of_fork() -> TestResult {
        passes_in_both_modes("generations")
    }
}

kernel_test! {
    /// `PROTECT` read-only and back, and `UNMAP` then `MAP` across a table boundary, between the fork and
    /// the writes, on either side, over tables covered whole and in part: each side keeps its own data.
    fn protect_and_remap_between_fork_and_write_stay_on_their_side() -> TestResult {
        passes_in_both_modes("tables")
    }
}

kernel_test! {
    /// After the only child has exited, the parent's writes reuse its frames: no copy, no allocation.
    fn the_last_holder_writes_in_place() -> TestResult {
        let copies = counters::COW_COPIES.get();
        let (table_copies, table_reuses) = (counters::TABLE_COPIES.get(), counters::TABLE_REUSES.get());
        passes_in_both_modes("reuse 256")?;
        check!(counters::COW_COPIES.get() - copies < 32, "the rewrite copied pages");
        // With shared tables, the parent's first write takes its table back without a copy.
        check!(counters::TABLE_REUSES.get() > table_reuses, "no shared table went back to its last holder");
        check!(counters::TABLE_COPIES.get() - table_copies < 4, "the last holder's write copied its table");
        Ok(())
    }
}

kernel_test! {
    /// 64 children of a task with 16 MiB resident use about 16 MiB plus what they write: fork copies no
    /// data (`forktest` compares the frames in use with that budget and with what eager copying would take).
    fn sixty_four_children_share_sixteen_mebibytes() -> TestResult {
        passes_in_both_modes("children 64 16")
    }
}

kernel_test! {
    /// The kernel's own writes into user memory (MEMSTATS, WAIT's status) break copy-on-write like a
    /// task's write: the other task's copy is unchanged.
    fn syscall_writes_into_a_shared_page_copy_first() -> TestResult {
        passes_in_both_modes("syscall-into-cow")
    }
}

kernel_test! {
    fn fork_then_exec_copies_no_data_page() -> TestResult {
        passes_in_both_modes("exec")
    }
}

kernel_test! {
    /// Reading four times the machine's RAM of reserved memory returns zeros and takes no data frames;
    /// writing takes one frame per page written.
    #[slow("two million page faults on a Pi 4: about 20 s in QEMU")]
    fn reading_four_times_ram_costs_no_frames() -> TestResult {
        let mib = 4 * (board::info().usable_ram_bytes() >> 20);
        passes("zeropage", &alloc::format!("{mib} 256"))
    }
}

kernel_test! {
    /// A task that writes past the end of RAM is killed for it, alone: a sibling's data survives and every
    /// frame comes back.
    fn out_of_memory_kills_only_the_task_that_ran_out() -> TestResult {
        let free_before = frames::counters().free;
        let kills = counters::OOM_KILLS.get();
        let sibling = start("pattern", "0x42 400")?;
        let hog = start("oom", "")?;
        check_eq!(finish(hog)?, Some(ExitStatus::Killed(Signal::Killed)));
        check_eq!(finish(sibling)?, Some(ExitStatus::Exited(0)));
        check_eq!(counters::OOM_KILLS.get(), kills + 1);
        check_eq!(frames::counters().free, free_before);
        Ok(())
    }
}

kernel_test! {
    /// A page shared by a fork and then made read-only with `PROTECT` keeps its copy-on-write mark; an
    /// eager fork must still give the child a read-only mapping of it, not a writable copy its region
    /// forbids (found by the copy-on-write state machine: the eager fork copied by the mark alone).
    fn an_eager_fork_of_a_page_protected_read_only_after_a_fork_gives_no_write_access() -> TestResult {
        use crate::memory::address_space::{self, fork};
        use cowpi_abi::ForkMode;
        use cowpi_mm::{Page, Prot, VirtAddr};
        let free_before = frames::counters().free;
        {
            let mut parent = crate::check_ok!(address_space::new());
            let start = crate::check_ok!(parent.map_anonymous(None, 1, Prot::READ_WRITE));
            crate::check_ok!(parent.write_user(start, &[7]));
            let sharer = crate::check_ok!(fork(&mut parent, ForkMode::CopyOnWrite, None));
            crate::check_ok!(parent.protect(start, 1, Prot::READ));
            let page = Page::containing(VirtAddr::new(start));
            let marked = parent.translate_page(page).map(|(_, flags)| flags);
            check!(marked.is_some_and(|f| !f.writable && f.is_shared_for_writing()), "parent maps {marked:?}");
            let mut eager = crate::check_ok!(fork(&mut parent, ForkMode::EagerCopy, None));
            let child = eager.translate_page(page).map(|(_, flags)| flags);
            check!(child.is_some_and(|f| !f.writable), "the eager child may write a read-only page: {child:?}");
            drop((sharer, eager));
        }
        check_eq!(frames::counters().free, free_before);
        Ok(())
    }
}
