//! The command line, as clap types.
//!
//! The kernel ELF always comes first because `cargo run -- ARGS` calls `tools/cargo-runner <ELF> ARGS`.
//! Without a subcommand the kernel boots interactively, which is what `cargo run` should do; `test`,
//! `bench`, `fuzz` and `image` are the other things one does with a built kernel.

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand};

/// Accepts whole seconds, at least one.
fn seconds() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(1..)
}

/// cowpi's host tool: boots the kernel in QEMU, runs its tests in QEMU or on a real Pi, writes kernel8.img.
///
/// Usually called through cargo: `cargo run` boots the kernel, `cargo run -- --board raspi4b` boots it on
/// the other board, `cargo run -- test` runs every test.
#[derive(Debug, Parser)]
#[command(name = "cowpi", version)]
pub struct Cli {
    /// The kernel ELF (cargo passes it)
    pub elf: PathBuf,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// Board to boot: a folder name under boards/ [default: raspi3b]
    #[arg(long, value_name = "BOARD")]
    pub board: Option<String>,

    /// Make QEMU wait for a debugger (gdb-multiarch, TCP port 1234) before the first instruction
    #[arg(long)]
    pub gdb: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every test: the host unit tests, then the kernel's tests on each board
    ///
    /// The kernel tests run in QEMU, on every board by default, or on a real Pi with --serial. The run
    /// ends with `N passed, N failed` and exits non-zero if anything failed.
    Test(TestArgs),
    /// Only write the raw image for an SD card
    Image(ImageArgs),
    /// Write a bootable SD-card image: firmware, config.txt and kernel8.img on a FAT32 partition
    Sdcard(SdcardArgs),
    /// Send a user program to the running kernel over the serial console and run it
    ///
    /// Boots the kernel in QEMU (or talks to a Pi already running it on --serial), waits for the prompt,
    /// uploads the program's ELF (see cowpi_console::upload), and prints its output and exit status. Exits
    /// non-zero unless the program exited with 0.
    Upload(UploadArgs),
    /// Run the benchmarks in QEMU and write results.json, results.md and SVG charts
    ///
    /// QEMU runs with `-icount shift=0,sleep=off` (1 ns of virtual time per instruction), so the figures
    /// count instructions and do not depend on the host. Publish figures from a release kernel:
    /// `cargo run --release -- bench`. Exits non-zero if any benchmark failed.
    Bench(BenchArgs),
    /// Run the system-call fuzzer (sysfuzz) for longer than the test suite does, on each board in QEMU
    ///
    /// For each board: boot, then `run sysfuzz <seed> <calls>` for every seed, each followed by the
    /// memory audit and a check that every frame came back. Prints the calls made and the rate; exits
    /// non-zero with the seed and the end of the serial log if any seed failed.
    Fuzz(FuzzArgs),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Only tests whose name contains this (host and kernel tests alike)
    pub filter: Option<String>,

    /// Test the kernel on this board in QEMU; repeat for several [default: every board under boards/]
    #[arg(long = "board", value_name = "BOARD")]
    pub boards: Vec<String>,

    /// Skip the host unit tests
    #[arg(long)]
    pub no_host: bool,

    /// Seconds a kernel test may take before it counts as hung (four times that for a test the kernel
    /// lists as slow)
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = seconds())]
    pub timeout: u64,

    /// Seconds a test that is expected to hang must run without finishing
    #[arg(long, value_name = "SECS", default_value_t = 3, value_parser = seconds())]
    pub hang_timeout: u64,

    /// Seconds to wait for the kernel's ready line [default: 20 in QEMU, 600 on a serial port]
    #[arg(long, value_name = "SECS", value_parser = seconds())]
    pub boot_timeout: Option<u64>,

    /// Run the kernel tests on a real Pi on this serial port instead of QEMU (skips the host tests)
    #[arg(long, value_name = "DEV", conflicts_with = "boards")]
    pub serial: Option<String>,

    /// Speed of the serial port
    #[arg(long, value_name = "N", default_value_t = 115_200, requires = "serial")]
    pub baud: u32,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Benchmark this board in QEMU; repeat for several [default: every board under boards/]
    #[arg(long = "board", value_name = "BOARD")]
    pub boards: Vec<String>,

    /// Repetitions of each benchmark, and boots for the boot benchmark [default: 5, 1 with --quick]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub reps: Option<u32>,

    /// Small sizes: checks that every benchmark runs, not figures to publish
    #[arg(long)]
    pub quick: bool,

    /// Folder for results.json, results.md and the charts [default: bench/ in the workspace]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Seconds one benchmark may run
    #[arg(long, value_name = "SECS", default_value_t = 1800, value_parser = seconds())]
    pub timeout: u64,

    /// Only this benchmark, as `bench list` names it; repeat for several
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
}

impl BenchArgs {
    /// Repetitions per benchmark: one is enough to see that a quick run works.
    pub fn reps(&self) -> u32 {
        self.reps.unwrap_or(if self.quick { 1 } else { 5 })
    }
}

#[derive(Debug, Args)]
pub struct FuzzArgs {
    /// Fuzz on this board in QEMU; repeat for several [default: every board under boards/]
    #[arg(long = "board", value_name = "BOARD")]
    pub boards: Vec<String>,

    /// The seeds: FIRST..LAST (both included), or a count N for 1..N
    #[arg(long, value_name = "SEEDS", default_value = "1..8")]
    pub seeds: Seeds,

    /// System calls per seed
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub calls: u64,

    /// Seconds one seed may run [default: 60, plus one per 1000 calls]
    #[arg(long, value_name = "SECS", value_parser = seconds())]
    pub timeout: Option<u64>,
}

impl FuzzArgs {
    /// Seconds one seed may run: the fuzzer makes about 5 000 calls a second in QEMU, so one per 1000
    /// calls leaves room for a loaded machine, and the minute for a short run's start and end.
    pub fn timeout(&self) -> u64 {
        self.timeout.unwrap_or(60 + self.calls / 1000)
    }
}

/// The seeds of a fuzz run: consecutive numbers, at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeds(RangeInclusive<u64>);

impl Seeds {
    pub fn range(&self) -> RangeInclusive<u64> {
        self.0.clone()
    }

    pub fn count(&self) -> u64 {
        self.0.end() - self.0.start() + 1
    }
}

impl FromStr for Seeds {
    /// Why `--seeds` was refused.
    type Err = String;

    fn from_str(text: &str) -> Result<Seeds, String> {
        let number = |word: &str| {
            word.trim().parse::<u64>().map_err(|_| format!("{word:?} is not a seed (a whole number)"))
        };
        let Some((first, last)) = text.split_once("..") else {
            let count = number(text)?;
            if count == 0 {
                return Err("a count of seeds must be at least 1".to_owned());
            }
            return Ok(Seeds(1..=count));
        };
        let (first, last) = (number(first)?, number(last.strip_prefix('=').unwrap_or(last))?);
        if first > last {
            return Err(format!("the seeds {first}..{last} run backwards"));
        }
        if first == 0 && last == u64::MAX {
            return Err("that is every seed there is; pick fewer".to_owned());
        }
        Ok(Seeds(first..=last))
    }
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The user program's ELF (like target/user/aarch64-unknown-none/release/hello)
    pub program: PathBuf,

    /// Arguments for the program
    pub args: Vec<String>,

    /// The name the kernel gives the task [default: the program's file name]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Boot this board in QEMU [default: raspi3b]
    #[arg(long, value_name = "BOARD", conflicts_with = "serial")]
    pub board: Option<String>,

    /// Use a Pi already running cowpi on this serial port instead of QEMU
    #[arg(long, value_name = "DEV")]
    pub serial: Option<String>,

    /// Speed of the serial port
    #[arg(long, value_name = "N", default_value_t = 115_200, requires = "serial")]
    pub baud: u32,

    /// Seconds the program may run
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = seconds())]
    pub timeout: u64,

    /// For the tests: send this chunk corrupted once, to exercise the kernel's nak and the resend
    #[arg(long, value_name = "SEQ", hide = true)]
    pub corrupt_chunk: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Where to write the image [default: kernel8.img beside the ELF]
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SdcardArgs {
    /// The board the card is for: a folder name under boards/ (its firmware files differ)
    #[arg(long, value_name = "BOARD")]
    pub board: String,

    /// Where to write the image [default: sdcard-BOARD.img beside the ELF]
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Folder holding the Pi firmware files [default: /usr/lib/raspi-firmware, from Debian's raspi-firmware]
    #[arg(long, value_name = "DIR")]
    pub firmware: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cowpi").chain(args.iter().copied()))
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_elf_comes_first_and_no_subcommand_means_boot() {
        let cli = parse(&["k.elf", "--board", "raspi4b", "--gdb"]).unwrap();
        assert_eq!(cli.elf, PathBuf::from("k.elf"));
        assert_eq!(cli.board.as_deref(), Some("raspi4b"));
        assert!(cli.gdb && cli.command.is_none());
    }

    #[test]
    fn test_takes_several_boards_a_filter_and_timeouts() {
        let cli =
            parse(&["k.elf", "test", "--board", "raspi3b", "--board", "raspi4b", "frames", "--timeout", "5"])
                .unwrap();
        let Some(Command::Test(args)) = cli.command else { panic!("{cli:?}") };
        assert_eq!(args.boards, ["raspi3b", "raspi4b"]);
        assert_eq!(args.filter.as_deref(), Some("frames"));
        assert_eq!((args.timeout, args.hang_timeout, args.baud), (5, 3, 115_200));
    }

    #[test]
    fn bench_defaults_to_five_reps_or_one_when_quick() {
        let cli = parse(&["k.elf", "bench"]).unwrap();
        let Some(Command::Bench(args)) = cli.command else { panic!("{cli:?}") };
        assert!(args.boards.is_empty() && args.only.is_empty() && !args.quick && args.out.is_none());
        assert_eq!((args.reps(), args.timeout), (5, 1800));

        let cli = parse(&["k.elf", "bench", "--quick"]).unwrap();
        let Some(Command::Bench(args)) = cli.command else { panic!("{cli:?}") };
        assert_eq!(args.reps(), 1);
    }

    #[test]
    fn bench_takes_boards_reps_an_output_folder_a_timeout_and_names() {
        let cli = parse(&[
            "k.elf",
            "bench",
            "--board",
            "raspi4b",
            "--board",
            "raspi3b",
            "--reps",
            "3",
            "--quick",
            "--out",
            "o",
            "--timeout",
            "60",
            "--only",
            "fork",
            "--only",
            "boot",
        ])
        .unwrap();
        let Some(Command::Bench(args)) = cli.command else { panic!("{cli:?}") };
        assert_eq!(args.boards, ["raspi4b", "raspi3b"]);
        assert_eq!((args.reps(), args.quick, args.timeout), (3, true, 60));
        assert_eq!(args.out, Some(PathBuf::from("o")));
        assert_eq!(args.only, ["fork", "boot"]);
    }

    #[test]
    fn fuzz_defaults_to_every_board_seeds_1_to_8_and_100_000_calls() {
        let cli = parse(&["k.elf", "fuzz"]).unwrap();
        let Some(Command::Fuzz(args)) = cli.command else { panic!("{cli:?}") };
        assert!(args.boards.is_empty());
        assert_eq!((args.seeds.range(), args.seeds.count(), args.calls), (1..=8, 8, 100_000));
        assert_eq!(args.timeout(), 160);
    }

    #[test]
    fn fuzz_takes_boards_a_range_or_a_count_of_seeds_calls_and_a_timeout() {
        let cli = parse(&[
            "k.elf",
            "fuzz",
            "--board",
            "raspi3b",
            "--seeds",
            "5..9",
            "--calls",
            "2000000",
            "--timeout",
            "900",
        ])
        .unwrap();
        let Some(Command::Fuzz(args)) = cli.command else { panic!("{cli:?}") };
        assert_eq!(args.boards, ["raspi3b"]);
        assert_eq!((args.seeds.range(), args.seeds.count()), (5..=9, 5));
        assert_eq!((args.calls, args.timeout()), (2_000_000, 900));

        let cli = parse(&["k.elf", "fuzz", "--seeds", "3", "--calls", "2000"]).unwrap();
        let Some(Command::Fuzz(args)) = cli.command else { panic!("{cli:?}") };
        assert_eq!((args.seeds.range(), args.timeout()), (1..=3, 62));
        for (text, seeds) in [
            ("7..=7", 7..=7),
            ("0..0", 0..=0),
            ("18446744073709551615..18446744073709551615", u64::MAX..=u64::MAX),
        ] {
            assert_eq!(text.parse::<Seeds>().map(|s| s.range()), Ok(seeds), "{text}");
        }
    }

    #[test]
    fn fuzz_refuses_seeds_it_cannot_run_with_a_reason() {
        for (text, reason) in [
            ("0", "a count of seeds must be at least 1"),
            ("9..2", "the seeds 9..2 run backwards"),
            ("1..x", "\"x\" is not a seed (a whole number)"),
            ("-1", "\"-1\" is not a seed (a whole number)"),
            ("0..18446744073709551615", "that is every seed there is; pick fewer"),
        ] {
            assert_eq!(text.parse::<Seeds>().unwrap_err().to_string(), reason, "{text}");
        }
    }

    #[test]
    fn nonsense_is_refused() {
        for args in [
            &["k.elf", "test", "--timeout", "0"][..],
            &["k.elf", "test", "--timeout", "soon"],
            &["k.elf", "test", "--baud", "9600"],
            &["k.elf", "test", "--serial", "/dev/ttyUSB0", "--board", "raspi4b"],
            &["k.elf", "bench", "--reps", "0"],
            &["k.elf", "bench", "--timeout", "0"],
            &["k.elf", "bench", "--only"],
            &["k.elf", "fuzz", "--calls", "0"],
            &["k.elf", "fuzz", "--timeout", "0"],
            &["k.elf", "fuzz", "--seeds", "1..0"],
            &["k.elf", "fuzz", "--seeds"],
            &[],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }
}
