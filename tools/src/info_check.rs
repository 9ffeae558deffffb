//! The host's own check of the kernel's `info` command: the right board, EL1, and the board's RAM.
//!
//! The kernel finds its board, exception level and RAM at run time, so a kernel test could only compare
//! them with what the same kernel believes. The host knows independently what it started (the board's
//! `board.toml` and, in QEMU, the RAM QEMU gives that machine), so this check runs on the host: the driver
//! types `info` once per board, right after the first boot, and judges the `name: value` lines it prints.
//! It is reported like a test, under [`NAME`].

/// The check's name in reports, as if it were a kernel test (`test raspi3b::shell::info_... ... ok`).
pub const NAME: &str = "shell::info_names_board_el1_and_ram";

/// The RAM sizes Raspberry Pi 3 and 4 boards are made with, in MiB.
const PI_RAM_SIZES_MIB: [u64; 4] = [1024, 2048, 4096, 8192];

/// Cores on every Raspberry Pi cowpi runs on (Pi 3 and Pi 4), all of which the kernel starts.
const PI_CORES: usize = 4;

/// What `info` must say about the board's RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedRam {
    /// Exactly this many MiB: QEMU's machines have a fixed size, `ram_mib` in `board.toml`.
    Mib(u64),
    /// A real board: the size depends on the model bought, so any size a Pi is made with.
    AnyPiModel,
}

/// Picks the `name: value` lines out of a command's output, in order; everything else (the echo of the
/// command, log lines) is skipped. A name is lower-case ASCII letters, digits and `_`, as `info` prints
/// them, which keeps `[ 0.1] INFO  x: y` log lines out.
pub fn parse_fields(lines: &[String]) -> Vec<(&str, &str)> {
    lines
        .iter()
        .filter_map(|line| line.split_once(": "))
        .filter(|(name, _)| {
            !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(|(name, value)| (name, value.trim()))
        .collect()
}

/// Checks `info`'s fields against the board the host started; the error lists every problem found.
pub fn check(fields: &[(&str, &str)], board: &str, ram: ExpectedRam) -> Result<(), String> {
    let field = |name: &str| fields.iter().find(|(n, _)| *n == name).map(|(_, value)| *value);
    let mib = |name: &str| field(name).and_then(|value| value.parse::<u64>().ok());
    let mut problems = Vec::new();
    let mut expect_text = |name: &str, wanted: &str| match field(name) {
        Some(value) if value == wanted => {}
        Some(value) => problems.push(format!("{name} is {value}, expected {wanted}")),
        None => problems.push(format!("no {name} line")),
    };
    expect_text("board", board);
    expect_text("exception_level", "EL1");
    let all_cores = format!("{PI_CORES} of {PI_CORES}");
    match field("cores_online") {
        Some(value) if value.split(" (").next() == Some(all_cores.as_str()) => {}
        Some(value) => problems.push(format!("cores_online is {value}, expected {all_cores}")),
        None => problems.push("no cores_online line".to_owned()),
    }

    let board_mib = mib("ram_board_mib");
    // The size the usable RAM is compared with: the one the host knows, else a plausible one reported.
    let reference_mib = match (ram, board_mib) {
        (_, None) => {
            problems.push(match field("ram_board_mib") {
                Some(value) => format!("ram_board_mib is {value}, expected a number of MiB"),
                None => "no ram_board_mib line".to_owned(),
            });
            None
        }
        (ExpectedRam::Mib(expected), Some(found)) => {
            if found != expected {
                problems
                    .push(format!("ram_board_mib is {found}, expected {expected} (ram_mib in board.toml)"));
            }
            Some(expected)
        }
        (ExpectedRam::AnyPiModel, Some(found)) => {
            if PI_RAM_SIZES_MIB.contains(&found) {
                Some(found)
            } else {
                let sizes = PI_RAM_SIZES_MIB.map(|size| size.to_string()).join(", ");
                problems.push(format!("ram_board_mib is {found}, expected one of {sizes}"));
                None
            }
        }
    };

    match (mib("ram_usable_mib"), reference_mib) {
        (None, _) => problems.push(match field("ram_usable_mib") {
            Some(value) => format!("ram_usable_mib is {value}, expected a number of MiB"),
            None => "no ram_usable_mib line".to_owned(),
        }),
        (Some(usable), Some(total)) if usable >= total => problems.push(format!(
            "ram_usable_mib is {usable}, expected less than the board's {total} (the VideoCore keeps some)"
        )),
        // QEMU's sizes are known, so a kernel that lost track of most of its RAM is caught too.
        (Some(usable), Some(total)) if matches!(ram, ExpectedRam::Mib(_)) && usable * 4 <= total * 3 => {
            problems
                .push(format!("ram_usable_mib is {usable}, expected more than 3/4 of the board's {total}"))
        }
        _ => {}
    }

    if problems.is_empty() { Ok(()) } else { Err(format!("info: {}", problems.join("; "))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|line| line.to_string()).collect()
    }

    /// `info`'s fields for a board, with the values that matter here.
    fn info(board: &str, level: &str, board_mib: &str, usable_mib: &str) -> Vec<String> {
        lines(&[
            "cowpi> info",
            &format!("board: {board}"),
            &format!("exception_level: {level}"),
            "cores_online: 4 of 4",
            &format!("ram_board_mib: {board_mib}"),
            &format!("ram_usable_mib: {usable_mib}"),
        ])
    }

    fn checked(output: &[String], board: &str, ram: ExpectedRam) -> Result<(), String> {
        check(&parse_fields(output), board, ram)
    }

    #[test]
    fn fields_are_name_value_lines_and_nothing_else() {
        let output = lines(&[
            "cowpi> info",
            "board: raspi3b",
            "[    0.001] INFO  memory: 240777 frames",
            "model: Raspberry Pi 3 Model B (revision code 0xa02082, board revision 1.2)",
            "ram_range: 0x000000000..0x03c000000",
            "ram_range: 0x040000000..0x080000000",
            "Type 'help' for the commands.",
            ": no name",
            "uptime: 2.058168 s  ",
        ]);
        assert_eq!(
            parse_fields(&output),
            [
                ("board", "raspi3b"),
                ("model", "Raspberry Pi 3 Model B (revision code 0xa02082, board revision 1.2)"),
                ("ram_range", "0x000000000..0x03c000000"),
                ("ram_range", "0x040000000..0x080000000"),
                ("uptime", "2.058168 s"),
            ]
        );
    }

    #[test]
    fn what_qemu_boards_report_passes() {
        assert_eq!(
            checked(&info("raspi3b", "EL1", "1024", "960"), "raspi3b", ExpectedRam::Mib(1024)),
            Ok(())
        );
        assert_eq!(
            checked(&info("raspi4b", "EL1", "2048", "1984"), "raspi4b", ExpectedRam::Mib(2048)),
            Ok(())
        );
    }

    #[test]
    fn the_wrong_board_or_exception_level_fails() {
        assert_eq!(
            checked(&info("raspi4b", "EL1", "1024", "960"), "raspi3b", ExpectedRam::Mib(1024)),
            Err("info: board is raspi4b, expected raspi3b".to_owned())
        );
        assert_eq!(
            checked(&info("raspi3b", "EL2", "1024", "960"), "raspi3b", ExpectedRam::Mib(1024)),
            Err("info: exception_level is EL2, expected EL1".to_owned())
        );
    }

    #[test]
    fn a_core_left_behind_fails() {
        let mut output = info("raspi3b", "EL1", "1024", "960");
        output[3] = "cores_online: 3 of 4".to_owned();
        assert_eq!(
            checked(&output, "raspi3b", ExpectedRam::Mib(1024)),
            Err("info: cores_online is 3 of 4, expected 4 of 4".to_owned())
        );
    }

    #[test]
    fn in_qemu_the_ram_must_be_the_machines_and_mostly_usable() {
        let qemu = ExpectedRam::Mib(2048);
        assert_eq!(
            checked(&info("raspi4b", "EL1", "1024", "1984"), "raspi4b", qemu),
            Err("info: ram_board_mib is 1024, expected 2048 (ram_mib in board.toml)".to_owned())
        );
        assert_eq!(
            checked(&info("raspi4b", "EL1", "2048", "2048"), "raspi4b", qemu),
            Err("info: ram_usable_mib is 2048, expected less than the board's 2048 (the VideoCore keeps some)"
                .to_owned())
        );
        // The first GiB alone (960 MiB) on a 2 GiB board: the RAM above 1 GiB was not found.
        assert_eq!(
            checked(&info("raspi4b", "EL1", "2048", "960"), "raspi4b", qemu),
            Err("info: ram_usable_mib is 960, expected more than 3/4 of the board's 2048".to_owned())
        );
        assert_eq!(checked(&info("raspi4b", "EL1", "2048", "1537"), "raspi4b", qemu), Ok(()));
        assert!(checked(&info("raspi4b", "EL1", "2048", "1536"), "raspi4b", qemu).is_err());
    }

    #[test]
    fn on_a_real_board_any_pi_ram_size_passes_if_some_is_kept_back() {
        let real = ExpectedRam::AnyPiModel;
        assert_eq!(checked(&info("raspi4b", "EL1", "8192", "1984"), "raspi4b", real), Ok(()));
        assert_eq!(checked(&info("raspi3b", "EL1", "1024", "948"), "raspi3b", real), Ok(()));
        assert_eq!(
            checked(&info("raspi4b", "EL1", "3072", "2900"), "raspi4b", real),
            Err("info: ram_board_mib is 3072, expected one of 1024, 2048, 4096, 8192".to_owned())
        );
        assert!(checked(&info("raspi4b", "EL1", "4096", "4096"), "raspi4b", real).is_err());
    }

    #[test]
    fn missing_or_unreadable_fields_fail_and_every_problem_is_named() {
        assert_eq!(
            checked(&info("raspi3b", "EL1", "unknown", "960"), "raspi3b", ExpectedRam::Mib(1024)),
            Err("info: ram_board_mib is unknown, expected a number of MiB".to_owned())
        );
        assert_eq!(
            checked(&lines(&["error: unknown command 'info'"]), "raspi3b", ExpectedRam::AnyPiModel),
            Err(
                "info: no board line; no exception_level line; no cores_online line; no ram_board_mib line; \
                 no ram_usable_mib line"
                    .to_owned()
            )
        );
        assert_eq!(
            checked(&info("raspi4b", "EL2", "512", "960"), "raspi3b", ExpectedRam::Mib(1024)),
            Err("info: board is raspi4b, expected raspi3b; exception_level is EL2, expected EL1; \
                 ram_board_mib is 512, expected 1024 (ram_mib in board.toml)"
                .to_owned())
        );
    }
}
