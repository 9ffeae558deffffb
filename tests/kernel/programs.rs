//! Starting embedded user programs from kernel tests and collecting how they ended.

use cowpi_abi::ExitStatus;

use crate::ktest::TestFailure;
use crate::task::{self, Pid};
use crate::{check_ok, programs};

/// Starts the embedded program `name` with `args` as a child of the test.
pub fn start(name: &str, args: &str) -> Result<Pid, TestFailure> {
    let program = check_ok!(programs::find(name).ok_or("no such program"));
    Ok(check_ok!(task::user::spawn(program, args.as_bytes())))
}

/// Waits for the child `pid` and returns how it ended.
pub fn finish(pid: Pid) -> Result<Option<ExitStatus>, TestFailure> {
    let (_, status) = check_ok!(task::wait(Some(pid)));
    Ok(ExitStatus::from_raw(status))
}

/// Runs `name` to its end and returns how it ended.
pub fn run(name: &str, args: &str) -> Result<Option<ExitStatus>, TestFailure> {
    finish(start(name, args)?)
}
