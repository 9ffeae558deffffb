//! `forkbomb`: a real fork bomb, which the kernel's task limit must stop with a clear error, not a hang.
//!
//! Every task of the bomb, the first included, forks again and again, yielding after each fork so that
//! its children run and fork too. When `FORK` answers `TooManyTasks` (the limit, `MEMSTATS`'s
//! `task_limit`, counts every task on the machine) the task stops forking, waits for all its children and
//! exits; so the tree winds down from its leaves and every task is collected by its parent. Each task
//! notes the most tasks it saw alive (`MEMSTATS`'s `tasks`, read after each fork) and passes that up in its
//! exit status: the count (below 128), plus 128 if anything in its subtree went wrong (a fork failing
//! otherwise, a child killed, a task that never met the limit within [`MAX_FORKS`] forks and [`MAX_DEPTH`]
//! generations, bounds that only keep a broken kernel from running the bomb forever).
//!
//! The first task prints the most tasks alive at once, how many of them were alive before the bomb, the
//! forks refused (`tasks_refused`), and checks (an `ok` or `FAILED` line each) that no task of the bomb
//! went wrong, that the bomb reached the limit exactly, got the error, and left as many tasks as it found.
//! It exits with 0 if all of that holds, 1 otherwise.
#![no_std]
#![no_main]

use cowpi_programs::checks::Checks;
use cowpi_programs::stats;
use cowpi_user::task::{self, Fork};
use cowpi_user::{Error, ExitStatus, entry, println, time};

entry!(main);

/// The most forks one task makes before it gives up waiting for the limit.
const MAX_FORKS: u32 = 200;
/// The most generations below the first task.
const MAX_DEPTH: u32 = 200;
/// The bit of an exit status that says something went wrong in the subtree.
const WENT_WRONG: u8 = 0x80;

/// What one task and the subtree it collected saw.
struct Outcome {
    peak: u64,
    went_wrong: bool,
}

fn main(_args: &str) -> i32 {
    let started = time::ticks();
    let before = stats::now();
    println!(
        "forkbomb: {} tasks alive, the limit is {}: every task forks until it is refused",
        before.tasks, before.task_limit
    );
    let outcome = bomb();
    let after = stats::now();
    let refused = after.tasks_refused - before.tasks_refused;
    let ms = time::ticks_to_ns(time::ticks() - started) / 1_000_000;
    println!(
        "forkbomb: most tasks alive at once: {} of the limit {} ({} of them alive before the bomb); {refused} \
         forks refused with TooManyTasks; {} tasks alive afterwards; {ms} ms",
        outcome.peak,
        before.task_limit,
        before.tasks - 1,
        after.tasks
    );
    let mut checks = Checks::new("forkbomb");
    checks.that("every task of the bomb went right (see above)", !outcome.went_wrong);
    checks.that("the bomb reached the task limit exactly", outcome.peak == before.task_limit);
    checks.that("FORK refused at least one task with TooManyTasks", refused >= 1);
    checks.that("every task of the bomb has gone", after.tasks == before.tasks);
    i32::from(checks.finish() != 0)
}

/// The bomb, from the calling task: forks until refused, then collects its children. In a child the
/// function exits, with its outcome in the status; in the first task it returns the whole tree's.
fn bomb() -> Outcome {
    let mut is_child = false;
    let (mut depth, mut forks) = (0_u32, 0_u32);
    let mut outcome = Outcome { peak: stats::now().tasks, went_wrong: false };
    loop {
        if forks >= MAX_FORKS || depth >= MAX_DEPTH {
            println!(
                "forkbomb: FAILED: task {} made {forks} forks at depth {depth} and was never refused",
                task::getpid()
            );
            outcome.went_wrong = true;
            break;
        }
        match task::fork() {
            Ok(Fork::Child) => {
                // A new member of the bomb: it starts forking from its own place in the tree.
                is_child = true;
                depth += 1;
                forks = 0;
            }
            Ok(Fork::Parent { .. }) => {
                forks += 1;
                outcome.peak = outcome.peak.max(stats::now().tasks);
                task::yield_now();
            }
            Err(Error::TooManyTasks) => {
                outcome.peak = outcome.peak.max(stats::now().tasks);
                break;
            }
            Err(error) => {
                println!("forkbomb: FAILED: task {}: FORK: {error}", task::getpid());
                outcome.went_wrong = true;
                break;
            }
        }
    }
    collect_children(&mut outcome);
    if is_child {
        let code = outcome.peak.min(u64::from(WENT_WRONG) - 1) as u8;
        task::exit(i32::from(if outcome.went_wrong { code | WENT_WRONG } else { code }))
    }
    outcome
}

/// Waits for every child of the calling task and folds their outcomes into `outcome`.
fn collect_children(outcome: &mut Outcome) {
    loop {
        match task::wait(None) {
            Ok((_, ExitStatus::Exited(code))) => {
                outcome.peak = outcome.peak.max(u64::from(code & !WENT_WRONG));
                outcome.went_wrong |= code & WENT_WRONG != 0;
            }
            Ok((pid, status)) => {
                println!("forkbomb: FAILED: task {pid} {status}");
                outcome.went_wrong = true;
            }
            Err(Error::NoChild) => return,
            Err(error) => {
                println!("forkbomb: FAILED: WAIT: {error}");
                outcome.went_wrong = true;
                return;
            }
        }
    }
}
