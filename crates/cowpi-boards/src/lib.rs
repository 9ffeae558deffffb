//! Per-board data, read from `boards/<name>/board.toml`.
//!
//! The memory map, QEMU machine and SD-card files of each supported board live in one place, the TOML
//! files under `boards/`. The kernel's build script turns them into a constant table (so one kernel image
//! carries every board and picks at run time), and the host tools read them to start QEMU or build an SD
//! card. This crate is the single parser both use.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One board, as described by its `board.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Short name, also the folder name and the `--board` value (`raspi3b`).
    pub name: String,
    /// Human-readable model (`Raspberry Pi 3 Model B`).
    pub model: String,
    pub soc: String,
    pub cpu: String,
    /// `MIDR_EL1.PartNum` of the board's cores.
    pub midr_part: u16,
    /// `-M` value for qemu-system-aarch64.
    pub qemu_machine: String,
    /// RAM the board has in MiB (what QEMU emulates); tests compare the kernel's run-time finding with it.
    pub ram_mib: u64,
    /// Firmware files the SD card needs besides `config.txt` and `kernel8.img`.
    pub firmware_files: Vec<String>,
    pub mmio: Mmio,
}

/// Physical addresses of the devices cowpi drives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mmio {
    /// Ranges `[start, end)` that must be mapped as Device memory.
    pub device_ranges: Vec<[u64; 2]>,
    pub peripheral_base: u64,
    pub gpio: u64,
    /// Which GPIO pull-up/down mechanism the SoC has: `gppud` (BCM2837) or `pup-pdn` (BCM2711).
    pub gpio_pull: String,
    pub uart0: u64,
    pub mailbox: u64,
    pub power_management: u64,
    /// `bcm2836-local` or `gic-400`.
    pub interrupt_controller: String,
    pub local_intc: Option<u64>,
    pub gicd: Option<u64>,
    pub gicc: Option<u64>,
}

/// Error reading the board files, with the file it concerns.
#[derive(Debug)]
pub struct BoardError(pub String);

impl std::fmt::Display for BoardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BoardError {}

/// The `boards/` folder of this source tree.
pub fn boards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../boards")
}

/// Parses one `board.toml` text; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Board, BoardError> {
    let board: Board = toml::from_str(text).map_err(|e| BoardError(format!("{origin}: {e}")))?;
    match board.mmio.gpio_pull.as_str() {
        "gppud" | "pup-pdn" => {}
        other => return Err(BoardError(format!("{origin}: unknown gpio_pull {other:?}"))),
    }
    match (board.mmio.interrupt_controller.as_str(), board.mmio.local_intc, board.mmio.gicd) {
        ("bcm2836-local", Some(_), _) | ("gic-400", _, Some(_)) => {}
        (kind, _, _) => {
            return Err(BoardError(format!(
                "{origin}: interrupt_controller {kind:?} lacks its address (local_intc or gicd/gicc)"
            )));
        }
    }
    Ok(board)
}

/// Every board under `dir`, sorted by name.
pub fn load_all(dir: &Path) -> Result<Vec<Board>, BoardError> {
    let entries = fs::read_dir(dir).map_err(|e| BoardError(format!("{}: {e}", dir.display())))?;
    let mut boards = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| BoardError(e.to_string()))?.path().join("board.toml");
        if !path.is_file() {
            continue;
        }
        let text = fs::read_to_string(&path).map_err(|e| BoardError(format!("{}: {e}", path.display())))?;
        let board = parse(&text, &path.display().to_string())?;
        let folder = path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str());
        if folder != Some(board.name.as_str()) {
            return Err(BoardError(format!(
                "{}: name {:?} differs from its folder",
                path.display(),
                board.name
            )));
        }
        boards.push(board);
    }
    boards.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(boards)
}

/// The board called `name`, with the list of known names in the error.
pub fn find(dir: &Path, name: &str) -> Result<Board, BoardError> {
    let boards = load_all(dir)?;
    let names: Vec<String> = boards.iter().map(|b| b.name.clone()).collect();
    boards
        .into_iter()
        .find(|b| b.name == name)
        .ok_or_else(|| BoardError(format!("unknown board {name:?}; known boards: {}", names.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_boards_parse_and_differ() {
        let boards = load_all(&boards_dir()).unwrap();
        let names: Vec<&str> = boards.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["raspi3b", "raspi4b"]);
        assert_ne!(boards[0].midr_part, boards[1].midr_part);
        for b in &boards {
            let uart_is_device = b.mmio.device_ranges.iter().any(|[s, e]| (*s..*e).contains(&b.mmio.uart0));
            assert!(uart_is_device, "{}: the UART lies outside the device ranges", b.name);
        }
    }

    #[test]
    fn unknown_board_names_the_known_ones() {
        let err = find(&boards_dir(), "raspi9").unwrap_err().to_string();
        assert!(err.contains("raspi3b") && err.contains("raspi4b"), "{err}");
    }

    #[test]
    fn a_bad_pull_mechanism_is_rejected() {
        let text = fs::read_to_string(boards_dir().join("raspi3b/board.toml")).unwrap();
        let bad = text.replace("gpio_pull = \"gppud\"", "gpio_pull = \"magic\"");
        assert!(parse(&bad, "x").unwrap_err().to_string().contains("gpio_pull"));
    }
}
