//! Finding a suitable QEMU and building its command lines.
//!
//! cowpi boots the raw image (`-kernel kernel8.img`), so QEMU starts it as the Pi firmware would: core 0 at
//! EL2 from 0x80000, the other cores waiting in the spin table until the kernel starts them. Semihosting is enabled because the kernel's
//! `poweroff` ends QEMU through it. The interactive and the test command lines differ only in where the
//! serial console goes, and the benchmark command line only in its virtual clock; keeping all three here
//! keeps them from drifting apart.

use std::ffi::OsString;
use std::fmt;
use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

/// The QEMU binary for AArch64 guests.
pub const PROGRAM: &str = "qemu-system-aarch64";

/// `raspi4b` first appears in QEMU 9.0.
const MIN_MAJOR: u32 = 9;

/// A QEMU release number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Reads the version from `qemu-system-aarch64 --version` output
/// (`QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2)`).
pub fn parse_version(text: &str) -> Option<Version> {
    let rest = text.split("version ").nth(1)?;
    let number = rest.split(|c: char| !(c.is_ascii_digit() || c == '.')).next()?;
    let mut parts = number.split('.').map(str::parse::<u32>);
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    Some(Version { major, minor, patch })
}

/// Checks that a new enough QEMU is installed, and returns its version.
pub fn require() -> Result<Version> {
    let found = match Command::new(PROGRAM).arg("--version").output() {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            format!("{PROGRAM} was not found")
        }
        Err(error) => format!("{PROGRAM} could not be run: {error}"),
        Ok(output) => match parse_version(&String::from_utf8_lossy(&output.stdout)) {
            Some(version) if version.major >= MIN_MAJOR => return Ok(version),
            Some(version) => format!("found {version}"),
            None => format!("`{PROGRAM} --version` printed no version"),
        },
    };
    bail!("QEMU >= {MIN_MAJOR} ({PROGRAM}) is needed; run tools/setup.sh to install it ({found})")
}

/// The arguments every cowpi QEMU run shares: the machine, the raw image, and semihosting for `poweroff`.
fn common_args(machine: &str, image: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["-M".into(), machine.into(), "-kernel".into(), image.into()];
    args.extend(["-semihosting-config", "enable=on,target=native"].map(OsString::from));
    args
}

/// QEMU for a person at a terminal: the serial console and QEMU's monitor share stdio (Ctrl-A X quits,
/// Ctrl-A C switches to the monitor). With `gdb`, QEMU waits for a debugger on TCP port 1234.
pub fn interactive_command(machine: &str, image: &Path, gdb: bool) -> Command {
    let mut command = Command::new(PROGRAM);
    command.args(common_args(machine, image)).arg("-nographic");
    if gdb {
        command.args(["-s", "-S"]);
    }
    command
}

/// QEMU for the test runner: only the serial console on stdio, no monitor to intercept Ctrl-A bytes.
pub fn test_command(machine: &str, image: &Path) -> Command {
    let mut command = Command::new(PROGRAM);
    command
        .args(common_args(machine, image))
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"]);
    command
}

/// The benchmarks' `-icount` setting: virtual time advances by exactly 1 ns per instruction
/// (`shift=0`), and an idle guest does not sleep in real time (`sleep=off`), so the guest's counter
/// readings count instructions, whatever the host's speed or load. `shift=auto` follows the host's
/// speed and would not.
pub const BENCH_ICOUNT: &str = "shift=0,sleep=off";

/// QEMU for the benchmarks: the test command line with the deterministic virtual clock.
pub fn bench_command(machine: &str, image: &Path) -> Command {
    let mut command = test_command(machine, image);
    command.args(["-icount", BENCH_ICOUNT]);
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_the_banner() {
        let debian =
            "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright (c) 2003-2025";
        assert_eq!(parse_version(debian), Some(Version { major: 10, minor: 0, patch: 2 }));
        assert_eq!(
            parse_version("QEMU emulator version 7.2.15"),
            Some(Version { major: 7, minor: 2, patch: 15 })
        );
        assert_eq!(
            parse_version("QEMU emulator version 9.1"),
            Some(Version { major: 9, minor: 1, patch: 0 })
        );
        assert_eq!(parse_version("no banner here"), None);
        assert!(parse_version("QEMU emulator version 8.2.0").unwrap().major < MIN_MAJOR);
    }

    #[test]
    fn the_test_command_has_no_monitor_and_the_serial_port_on_stdio() {
        let command = test_command("raspi4b", Path::new("k/kernel8.img"));
        let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert!(joined.starts_with("-M raspi4b -kernel k/kernel8.img"), "{joined}");
        assert!(joined.contains("-monitor none") && joined.contains("-serial stdio"), "{joined}");
        assert!(joined.contains("-semihosting-config enable=on,target=native"), "{joined}");
    }

    #[test]
    fn the_bench_command_is_the_test_command_with_a_deterministic_clock() {
        let image = Path::new("k/kernel8.img");
        let args = |command: Command| -> Vec<String> {
            command.get_args().map(|a| a.to_string_lossy().into_owned()).collect()
        };
        let test = args(test_command("raspi3b", image));
        let bench = args(bench_command("raspi3b", image));
        assert_eq!(bench[..test.len()], test[..]);
        assert_eq!(bench[test.len()..], ["-icount", "shift=0,sleep=off"]);
    }

    #[test]
    fn gdb_makes_qemu_wait_for_a_debugger() {
        let args = |gdb| -> Vec<String> {
            let command = interactive_command("raspi3b", Path::new("kernel8.img"), gdb);
            command.get_args().map(|a| a.to_string_lossy().into_owned()).collect()
        };
        assert!(args(true).ends_with(&["-s".to_owned(), "-S".to_owned()]));
        assert!(!args(false).contains(&"-S".to_owned()));
        assert!(args(false).contains(&"-nographic".to_owned()));
    }
}
