//! `orphans adopt|detach`: what becomes of the children of a task that ends before them.
//!
//! - `adopt`: this task forks a child, which forks a grandchild and exits at once; the grandchild sleeps
//!   50 ms and exits with 7. This task must collect both with `WAIT` for any child: the child (status 0)
//!   and then the grandchild it adopted (status 7), and then have no child left. A kernel that kept the
//!   grandchild for its dead parent would answer `NoChild` instead, and keep the exited grandchild forever.
//! - `detach`: this task forks a child that sleeps 50 ms and exits, and exits itself at once, without
//!   waiting. Run from the shell or a kernel test (a kernel task, which collects no orphans), the child is
//!   detached; the kernel test checks that it is freed once it has exited, so the task count comes back.
//!
//! Each check prints an `ok` or `FAILED` line; the exit status is the number of failures, 2 for bad
//! arguments.
#![no_std]
#![no_main]

use cowpi_programs::checks::Checks;
use cowpi_user::task::{self, Fork};
use cowpi_user::{Error, ExitStatus, entry, println};

entry!(main);

const USAGE: &str = "usage: orphans adopt|detach";

/// How long an orphan outlives its parent.
const ORPHAN_SLEEP_MS: u64 = 50;
/// The grandchild's exit code, so that its status is told apart from its parent's.
const GRANDCHILD_CODE: u8 = 7;

fn main(args: &str) -> i32 {
    let mut checks = Checks::new("orphans");
    match args.trim() {
        "adopt" => adopt(&mut checks),
        "detach" => detach(&mut checks),
        _ => {
            println!("{USAGE}");
            return 2;
        }
    }
    checks.finish()
}

fn adopt(checks: &mut Checks) {
    let child = match task::fork() {
        Ok(Fork::Child) => {
            if let Ok(Fork::Child) = task::fork() {
                task::sleep(ORPHAN_SLEEP_MS);
                task::exit(i32::from(GRANDCHILD_CODE))
            }
            task::exit(0)
        }
        Ok(Fork::Parent { child }) => child,
        Err(error) => {
            checks.check("FORK", false, format_args!("{error}"));
            return;
        }
    };
    let first = task::wait(None);
    checks.check(
        "the child ends first, with 0",
        first == Ok((child, ExitStatus::Exited(0))),
        format_args!("WAIT gave {first:?}"),
    );
    let second = task::wait(None);
    checks.check(
        "then the grandchild, adopted, with its own status",
        matches!(second, Ok((pid, ExitStatus::Exited(GRANDCHILD_CODE))) if pid != child),
        format_args!("WAIT gave {second:?}"),
    );
    let third = task::wait(None);
    checks.check("then no child is left", third == Err(Error::NoChild), format_args!("WAIT gave {third:?}"));
}

fn detach(checks: &mut Checks) {
    match task::fork() {
        Ok(Fork::Child) => {
            task::sleep(ORPHAN_SLEEP_MS);
            task::exit(0)
        }
        Ok(Fork::Parent { .. }) => checks.that("FORK a child that outlives this task", true),
        Err(error) => checks.check("FORK", false, format_args!("{error}")),
    }
}
