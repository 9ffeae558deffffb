//! The shell's commands.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use cowpi_console::protocol;
use cowpi_mm::PAGE_SIZE;

use crate::arch::{cpu, semihosting, time};
use crate::board::{self, power::PowerManagement};
use crate::memory::{self, frames, heap};
use crate::{console, ktest, println, task};

struct Command {
    name: &'static str,
    usage: &'static str,
    help: &'static str,
    run: fn(&[&str]),
}

const COMMANDS: &[Command] = &[
    Command { name: "help", usage: "help", help: "list the commands", run: help },
    Command { name: "info", usage: "info", help: "board, CPU, exception level, RAM, uptime", run: info },
    Command { name: "mem", usage: "mem", help: "frame and heap counters", run: mem },
    Command { name: "programs", usage: "programs", help: "list the embedded user programs", run: programs },
    Command {
        name: "run",
        usage: "run <program> [args]",
        help: "run a user program, show its output and exit status",
        run,
    },
    Command {
        name: "upload",
        usage: "upload <name> <length> <crc32> [args]",
        help: "receive a program over this serial line and run it (the host's `cowpi upload`)",
        run: super::upload::command,
    },
    Command {
        name: "demo",
        usage: "demo",
        help: "a narrated walk through copy-on-write fork and the zero page (runs the demo program)",
        run: demo,
    },
    Command {
        name: "ksm",
        usage: "ksm status|on|off|scan <n>|set <name> <value>|mode all|mergeable",
        help: "same-page merging: counters, switch, tunables",
        run: ksm,
    },
    Command { name: "ps", usage: "ps", help: "list the tasks: state, parent, processor time", run: ps },
    Command {
        name: "audit",
        usage: "audit",
        help: "check the frame table and every frame's holders",
        run: audit,
    },
    Command {
        name: "test",
        usage: "test list | test run <name>",
        help: "list the kernel tests, or run one (the test protocol)",
        run: test,
    },
    Command {
        name: "bench",
        usage: "bench list | bench run <name> [reps] [quick|full]",
        help: "list the benchmarks, or run one (the host's `cowpi bench` reads the samples)",
        run: bench,
    },
    Command { name: "reboot", usage: "reboot", help: "reset the board through the watchdog", run: reboot },
    Command {
        name: "poweroff",
        usage: "poweroff",
        help: "end the QEMU session (halts a real board)",
        run: poweroff,
    },
];

/// Runs one command line. Every word goes to the command: the line's length is the only limit (a fixed
/// array of 8 words once refused `upload` and `run` with arguments the line had room for).
pub fn execute(line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&name, args)) = words.split_first() else { return };
    match COMMANDS.iter().find(|c| c.name == name) {
        Some(command) => (command.run)(args),
        None => println!("error: unknown command '{}'; type 'help' for the list", Printable(name)),
    }
}

/// Shows a word typed by the user with anything unprintable escaped.
struct Printable<'a>(&'a str);

impl core::fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for c in self.0.chars() {
            if c.is_ascii_graphic() { f.write_char(c)? } else { write!(f, "\\x{:02x}", c as u32)? }
        }
        Ok(())
    }
}

fn help(_: &[&str]) {
    for command in COMMANDS {
        println!("  {:<30} {}", command.usage, command.help);
    }
}

fn info(_: &[&str]) {
    let board = board::info();
    let spec = board.spec();
    let cpu = board.cpu;
    let counters = frames::counters();
    let uptime = time::uptime();
    let mib = |bytes: u64| bytes >> 20;
    println!("board: {}", spec.name);
    println!("board_family: {}", spec.model);
    println!(
        "model: {} (revision code {:#08x}, board revision 1.{})",
        board.revision.model(),
        board.revision.raw,
        board.revision.board_revision()
    );
    println!("soc: {}", spec.soc);
    println!(
        "cpu: {} r{}p{} (MIDR_EL1 {:#010x}, implementer {:#04x}), {} cores",
        spec.cpu,
        cpu.variant,
        cpu.revision,
        cpu.raw,
        cpu.implementer,
        cpu::CORE_COUNT,
    );
    let cores = crate::smp::status();
    println!("cores_online: {} of {}", crate::smp::online_count(), cpu::CORE_COUNT);
    for c in cores {
        let state = match c.state {
            crate::smp::CoreState::Parked => "parked",
            crate::smp::CoreState::Starting => "starting",
            crate::smp::CoreState::Online => "online",
            crate::smp::CoreState::Failed => "did not start",
        };
        println!("core_{}: {state}, {} timer ticks, {} IPIs taken", c.core, c.ticks, c.ipis);
    }
    println!("exception_level: EL{}", cpu::exception_level());
    println!(
        "asid_bits: {} in hardware (ID_AA64MMFR0_EL1), 8 used",
        crate::arch::mmu::tlb::hardware_asid_bits()
    );
    println!("peripheral_base: {:#010x}", spec.peripheral_base);
    match spec.interrupt_controller {
        board::InterruptController::Bcm2836Local { base } => {
            println!("interrupt_controller: BCM2836 local at {base:#010x}")
        }
        board::InterruptController::Gic400 { gicd, gicc } => {
            println!("interrupt_controller: GIC-400, distributor {gicd:#010x}, CPU interface {gicc:#010x}")
        }
    }
    println!("firmware_argument: {:#x} (device tree or ATAG list)", board.firmware_argument);
    println!("serial_number: {:#018x}", board.serial_number);
    match board.revision.memory_bytes() {
        Some(bytes) => println!("ram_board_mib: {}", mib(bytes)),
        None => println!("ram_board_mib: unknown"),
    }
    println!(
        "ram_arm_mib: {} (the VideoCore keeps the rest of the first GiB)",
        mib(board.arm_memory.end - board.arm_memory.start)
    );
    println!("ram_usable_mib: {}", mib(board.usable_ram_bytes()));
    for range in board.ram.iter().filter(|r| !r.is_empty()) {
        println!("ram_range: {:#011x}..{:#011x}", range.start, range.end);
    }
    println!("frames_total: {}", counters.total);
    println!("frames_free: {} ({} MiB)", counters.free, mib((counters.free * PAGE_SIZE) as u64));
    println!("timer_hz: {}", time::frequency());
    println!("uptime: {}.{:06} s", uptime.as_secs(), uptime.subsec_micros());
}

fn mem(_: &[&str]) {
    let c = frames::counters();
    let heap = heap::stats();
    let layout = memory::layout();
    println!("frames_total: {}", c.total);
    println!("frames_free: {}", c.free);
    println!("frames_used: {}", c.used);
    println!("frames_shared: {}", c.shared);
    println!("frames_reserved: {}", c.reserved);
    println!("frame_references: {}", c.references);
    println!("frame_allocations: {}", c.allocations);
    println!("frame_frees: {}", c.frees);
    println!("zero_page_mappings: {}", memory::zero_page::mappings());
    println!("cow_faults: {}", memory::counters::COW_FAULTS.get());
    println!("cow_copies: {}", memory::counters::COW_COPIES.get());
    println!("cow_reuses: {}", memory::counters::COW_REUSES.get());
    println!("zero_fill_faults: {}", memory::counters::ZERO_FILL_FAULTS.get());
    println!("oom_kills: {}", memory::counters::OOM_KILLS.get());
    let ksm = memory::ksm::status();
    println!("ksm_pages_shared: {}", ksm.pages_shared);
    println!("ksm_pages_sharing: {}", ksm.pages_sharing);
    println!("page_size: {PAGE_SIZE}");
    for t in task::tasks_snapshot() {
        if let Some(pages) = t.pages {
            println!(
                "task {} {}: resident {}, shared {}, private {}, zero_page {}",
                t.pid,
                t.name,
                pages.resident,
                pages.shared,
                pages.resident - pages.shared,
                pages.zero
            );
        }
    }
    println!("kernel_image_bytes: {}", layout.kernel.end - layout.kernel.start);
    println!("heap_region: {:#x}..{:#x}", layout.heap.start, layout.heap.end);
    println!("frame_table_bytes: {}", layout.frame_table.end - layout.frame_table.start);
    println!("heap_total_bytes: {}", heap.total);
    println!("heap_allocated_bytes: {}", heap.allocated);
    println!("heap_requested_bytes: {}", heap.requested);
}

fn programs(_: &[&str]) {
    for program in crate::programs::all() {
        println!("  {:<12} {:>7} bytes", program.name, program.elf.len());
    }
}

fn run(args: &[&str]) {
    let Some((&name, rest)) = args.split_first() else {
        println!("usage: run <program> [args]");
        return;
    };
    let Some(program) = crate::programs::find(name) else {
        println!("error: no program named '{}'; 'programs' lists them", Printable(name));
        return;
    };
    let arguments = rest.join(" ");
    report_run(name, task::user::spawn(program, arguments.as_bytes()));
}

/// Waits for a program `run` or `upload` started and shows how it ended (or why it could not start).
pub(super) fn report_run(name: &str, spawned: Result<task::Pid, cowpi_abi::Error>) {
    match spawned {
        Ok(pid) => match task::wait(Some(pid)) {
            Ok((_, status)) => match cowpi_abi::ExitStatus::from_raw(status) {
                Some(status) => println!("{name} (task {pid}): {status}"),
                None => println!("{name} (task {pid}): exit status {status}"),
            },
            Err(error) => println!("error: waiting for task {pid}: {error:?}"),
        },
        Err(error) => println!("error: cannot run {name}: {}", error.description()),
    }
}

fn ksm(args: &[&str]) {
    use crate::memory::ksm;
    match args {
        [] | ["status"] => ksm_status_lines().iter().for_each(|line| println!("{line}")),
        ["on"] => ksm::set_tunables(|t| t.run = true),
        ["off"] => ksm::set_tunables(|t| t.run = false),
        ["mode", "all"] => ksm::set_tunables(|t| t.all = true),
        ["mode", "mergeable"] => ksm::set_tunables(|t| t.all = false),
        ["scan", n] => match n.parse::<u64>() {
            Ok(passes) if passes <= 1000 => {
                ksm::scan_full_passes(passes);
                println!("ksm: {passes} full scans done");
            }
            _ => println!("error: 'ksm scan' takes a number of passes from 0 to 1000"),
        },
        ["set", name, value] => match (*name, value.parse::<u64>()) {
            ("sleep_ms", Ok(v)) if (1..=60_000).contains(&v) => ksm::set_tunables(|t| t.sleep_ms = v),
            ("pages_to_scan", Ok(v)) if (1..=100_000).contains(&v) => {
                ksm::set_tunables(|t| t.pages_to_scan = v as usize)
            }
            ("run", Ok(v)) if v <= 1 => ksm::set_tunables(|t| t.run = v == 1),
            _ => println!("error: 'ksm set' takes sleep_ms 1..60000, pages_to_scan 1..100000 or run 0|1"),
        },
        _ => println!("usage: ksm status|on|off|scan <n>|set <name> <value>|mode all|mergeable"),
    }
}

/// The lines `ksm status` prints, `name: value`, in order. README.md shows them in a transcript, which
/// a kernel test (`ksm::the_readme_shows_ksm_status_as_the_shell_prints_it`) holds to these.
pub fn ksm_status_lines() -> Vec<String> {
    use crate::memory::ksm;
    let t = ksm::tunables();
    let s = ksm::status();
    [
        format!("run: {}", u8::from(t.run)),
        format!("mode: {}", if t.all { "all" } else { "mergeable" }),
        format!("sleep_ms: {}", t.sleep_ms),
        format!("pages_to_scan: {}", t.pages_to_scan),
        format!("pages_shared: {}", s.pages_shared),
        format!("pages_sharing: {}", s.pages_sharing),
        format!("pages_unshared: {}", s.counters.pages_unshared),
        format!("pages_volatile: {}", s.counters.pages_volatile),
        format!("full_scans: {}", s.counters.full_scans),
        format!("zero_pages_merged: {}", s.counters.zero_pages_merged),
        format!("ksm_zero_pages: {}", s.zero_pages),
        format!("merges: {}", s.counters.merges),
        format!("unmerges: {}", crate::memory::counters::KSM_UNMERGES.get()),
        format!("pages_scanned: {}", s.counters.pages_scanned),
        format!("pages_tracked: {} (at most {})", s.tracked, s.max_tracked),
        format!("pages_untracked: {}", s.pages_untracked),
    ]
    .into()
}

fn demo(_: &[&str]) {
    run(&["demo"]);
}

fn ps(_: &[&str]) {
    println!(
        "{:>5} {:>6}  {:<9} {:>4} {:>8} {:>9} {:>7}  name",
        "pid", "parent", "state", "core", "cpu_ms", "resident", "shared"
    );
    for t in task::tasks_snapshot() {
        let parent = t.parent.map_or(alloc::string::String::from("-"), |p| alloc::format!("{p}"));
        let cpu_ms = t.cpu_time().as_millis();
        let (resident, shared) = match t.pages {
            Some(pages) => (alloc::format!("{} KiB", pages.resident * 4), alloc::format!("{}", pages.shared)),
            None => (alloc::string::String::from("-"), alloc::string::String::from("-")),
        };
        let core = t.core.map_or(alloc::string::String::from("-"), |c| alloc::format!("{c}"));
        println!(
            "{:>5} {:>6}  {:<9} {:>4} {:>8} {:>9} {:>7}  {}",
            t.pid,
            parent,
            t.state.name(),
            core,
            cpu_ms,
            resident,
            shared,
            t.name
        );
    }
}

fn audit(_: &[&str]) {
    match memory::audit::audit() {
        Ok(()) => println!("audit: ok"),
        Err(report) => report.lines().for_each(|line| println!("audit: {line}")),
    }
}

fn test(args: &[&str]) {
    match args {
        ["list"] => ktest::list(),
        ["run", name] if protocol::is_valid_test_name(name) => {
            if ktest::run(name).is_err() {
                println!("error: no test named '{name}'; 'test list' lists them");
            }
        }
        ["run", name] => println!("error: '{}' is not a test name", Printable(name)),
        _ => println!("usage: test list | test run <name>"),
    }
}

fn bench(args: &[&str]) {
    use cowpi_console::bench::{Scale, is_valid_name};
    let usage = "usage: bench list | bench run <name> [reps 1..100, default 5] [quick|full, default full]";
    match args {
        ["list"] => crate::bench::list(),
        ["run", name, rest @ ..] if rest.len() <= 2 => {
            let reps = match rest.first().map(|r| r.parse::<u32>()) {
                None => Ok(5),
                Some(Ok(reps)) if (1..=crate::bench::MAX_REPS).contains(&reps) => Ok(reps),
                Some(_) => Err(()),
            };
            let scale = match rest.get(1) {
                None => Some(Scale::Full),
                Some(word) => Scale::parse(word),
            };
            let (Ok(reps), Some(scale)) = (reps, scale) else {
                println!("{usage}");
                return;
            };
            if !is_valid_name(name) || crate::bench::run(name, reps, scale).is_err() {
                println!("error: no benchmark named '{}'; 'bench list' lists them", Printable(name));
            }
        }
        _ => println!("{usage}"),
    }
}

fn reboot(_: &[&str]) {
    println!("rebooting");
    console::flush();
    // SAFETY: the power-management block's address comes from the board table and is mapped as Device
    // memory by the boot map.
    let power = unsafe { PowerManagement::new(board::mmio(board::info().spec().power_management)) };
    power.reset();
    time::spin_for(core::time::Duration::from_secs(1));
    println!("error: the watchdog did not reset the board");
}

fn poweroff(_: &[&str]) {
    println!("powering off");
    console::flush();
    let _ = semihosting::exit(0);
    println!("semihosting is not available: the kernel halts now; switch the board off");
    console::flush();
    cpu::halt();
}
