//! Runs the workspace's host unit tests with `cargo test` and counts the results.
//!
//! The memory manager's logic, the console protocol, the board files and this tool are ordinary crates
//! tested on the host, much faster than anything in QEMU. `cowpi test` runs them first, shows cargo's
//! output as it comes, and adds their counts to the kernel tests' so the closing line covers everything.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use crate::report::Tally;

/// The workspace's crates that build and test on the host (the kernel itself only builds for AArch64).
pub const HOST_CRATES: [&str; 6] =
    ["cowpi-mm", "cowpi-console", "cowpi-boards", "cowpi-tools", "cowpi-abi", "cowpi-loader"];

/// The cargo invocation for the host tests of the workspace at `workspace`, filtered like cargo's own
/// `cargo test FILTER`.
pub fn command(workspace: &Path, filter: Option<&str>) -> Command {
    // Called from `cargo run`, CARGO names the cargo that built this tool: use the same one.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.arg("test").arg("--manifest-path").arg(workspace.join("Cargo.toml"));
    command.args(["--target", "host-tuple"]);
    for krate in HOST_CRATES {
        command.args(["-p", krate]);
    }
    if let Some(filter) = filter {
        command.args(["--", filter]);
    }
    command
}

/// Runs the host tests, copying cargo's output to `out` line by line, and returns the counts. A build
/// failure (or any failure cargo reports without a failed test) counts as one failed test.
pub fn run(workspace: &Path, filter: Option<&str>, out: &mut dyn Write) -> Result<Tally> {
    let mut command = command(workspace, filter);
    // Test results go to stdout, which is read here; cargo's own progress and compiler errors go to
    // stderr, straight to the terminal.
    let mut child = command.stdout(Stdio::piped()).spawn().context("cannot run cargo for the host tests")?;
    let stdout = child.stdout.take().expect("stdout was piped");
    let mut tally = Tally::default();
    for line in BufReader::new(stdout).split(b'\n') {
        let line = String::from_utf8_lossy(&line.context("reading cargo test's output")?).into_owned();
        writeln!(out, "{line}")?;
        if let Some(counts) = parse_result_line(&line) {
            tally.add(counts);
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    if !status.success() && tally.failed == 0 {
        writeln!(out, "error: cargo test failed ({status}) without a failing test: counted as 1 failure")?;
        tally.failed += 1;
    }
    Ok(tally)
}

/// The counts in one libtest summary line
/// (`test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s`).
pub fn parse_result_line(line: &str) -> Option<Tally> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let (_, counts) = rest.split_once(". ")?;
    let mut tally = Tally::default();
    for part in counts.split("; ") {
        match part.split_once(' ') {
            Some((n, "passed")) => tally.passed = n.parse().ok()?,
            Some((n, "failed")) => tally.failed = n.parse().ok()?,
            _ => {}
        }
    }
    Some(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_result_lines_are_counted() {
        let ok =
            "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(parse_result_line(ok), Some(Tally { passed: 12, failed: 0 }));
        let bad = "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.50s";
        assert_eq!(parse_result_line(bad), Some(Tally { passed: 3, failed: 2 }));
    }

    #[test]
    fn other_lines_are_not_counted() {
        for line in
            ["test frames::alloc ... ok", "running 3 tests", "test result: garbled", "3 passed, 1 failed"]
        {
            assert_eq!(parse_result_line(line), None, "{line}");
        }
    }

    #[test]
    fn the_command_tests_every_host_crate_for_the_host() {
        let command = command(Path::new("/repo"), Some("frames"));
        let args: Vec<String> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert!(joined.starts_with("test --manifest-path /repo/Cargo.toml --target host-tuple"), "{joined}");
        for krate in HOST_CRATES {
            assert!(joined.contains(&format!("-p {krate}")), "{joined}");
        }
        assert!(joined.ends_with("-- frames"), "{joined}");
    }
}
