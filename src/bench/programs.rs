//! Benchmarks that are user programs: faults, fork and memory use are measured by tasks at EL0 that
//! time themselves (see `user/programs/src/bin/bench*.rs`), because only a real task's fault or fork
//! includes everything a program pays: exception entry, the handler, TLB maintenance, the return.
//!
//! This file only chooses their arguments for each scale, starts them and says how they ended.

use alloc::format;
use alloc::string::String;

use cowpi_abi::ExitStatus;
use cowpi_console::bench::{FORK_PHASES, FORK_PROFILE, SampleLine, Scale, Value};

use crate::{println, task};

/// Runs the embedded program `name` with `args` to its end; `Err` unless it exited with 0.
pub fn run_program(name: &str, args: &str) -> Result<(), String> {
    let program = crate::programs::find(name).ok_or_else(|| format!("no program named {name}"))?;
    let pid = task::user::spawn(program, args.as_bytes()).map_err(|e| format!("cannot run {name}: {e:?}"))?;
    let (_, raw) = task::wait(Some(pid)).map_err(|e| format!("waiting for {name}: {e:?}"))?;
    match ExitStatus::from_raw(raw) {
        Some(ExitStatus::Exited(0)) => Ok(()),
        Some(status) => Err(format!("{name} {args}: {status}")),
        None => Err(format!("{name} {args}: exit status {raw}")),
    }
}

/// Copy-on-write, reuse, zero-page, first-write and shared-table faults, and the bare system call.
pub fn faults(reps: u32, scale: Scale) -> Result<(), String> {
    let pages = match scale {
        Scale::Quick => 16,
        Scale::Full => 256,
    };
    run_program("benchfault", &format!("{reps} {pages}"))
}

/// fork+exit+wait at each resident size, in each `FORK` mode, in the same run.
pub fn fork(reps: u32, scale: Scale) -> Result<(), String> {
    let sizes = match scale {
        Scale::Quick => "0 1",
        Scale::Full => "0 1 16 64 256",
    };
    run_program("benchfork", &format!("{reps} {sizes}"))
}

/// Where fork+exit+wait of an empty task spends its instructions: `benchfork profile` round trips with
/// the kernel's probes armed ([`super::probe`]), one `fork.profile phase=<phase>` sample per phase (its
/// ticks over all round trips, `ops` the round trips).
pub fn fork_profile(reps: u32, scale: Scale) -> Result<(), String> {
    let trips = match scale {
        Scale::Quick => 2,
        Scale::Full => reps.max(1),
    };
    super::probe::arm();
    let outcome = run_program("benchfork", &format!("profile {trips}"));
    let (ticks, recorded) = super::probe::disarm();
    outcome?;
    if recorded != u64::from(trips) {
        return Err(format!("{recorded} of {trips} round trips passed every probe"));
    }
    for (phase, ticks) in FORK_PHASES.iter().zip(ticks) {
        let labels = [("phase", Value::from(*phase))];
        println!("{}", SampleLine { figure: FORK_PROFILE, labels: &labels, ticks, ops: recorded });
    }
    Ok(())
}

/// Frames held by many children of one task, and memory reserved against memory used.
pub fn memory(reps: u32, scale: Scale) -> Result<(), String> {
    let (children, overcommit) = match scale {
        Scale::Quick => ("children 4 1", "overcommit 4 1"),
        Scale::Full => ("children 64 16", "overcommit 4 10"),
    };
    // The counts repeat exactly; repetitions show that they do.
    for _ in 0..reps {
        run_program("benchmem", children)?;
        run_program("benchmem", overcommit)?;
    }
    Ok(())
}
