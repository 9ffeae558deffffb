//! `cowpi <ELF> sdcard --board B [-o PATH] [--firmware DIR]`: writes a bootable SD-card image for a real Pi.
//!
//! The card holds the board's firmware files (named in its `board.toml`, copied from Debian's
//! `raspi-firmware` package or `--firmware DIR`), `boards/config.txt` and `kernel8.img` flattened from the
//! ELF; `crate::sdcard` lays them out. Everything is gathered and built in memory first, then written to a
//! temporary file beside the output and renamed over it, so a failure leaves no half-written image.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::SdcardArgs;
use crate::image::{IMAGE_NAME, flatten};
use crate::sdcard::{self, BootFile, IMAGE_BYTES};

/// Where Debian's `raspi-firmware` package puts the firmware.
pub const DEFAULT_FIRMWARE_DIR: &str = "/usr/lib/raspi-firmware";

/// The file the firmware reads its settings from, kept in `boards/`.
const CONFIG_NAME: &str = "config.txt";

pub fn run(elf: &Path, args: &SdcardArgs) -> Result<ExitCode> {
    let boards = cowpi_boards::boards_dir();
    let board = cowpi_boards::find(&boards, &args.board)?;
    let output =
        args.output.clone().unwrap_or_else(|| elf.with_file_name(format!("sdcard-{}.img", board.name)));
    let firmware_dir = args.firmware.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_FIRMWARE_DIR));

    let mut files = read_firmware(&firmware_dir, &board.firmware_files, args.firmware.is_some())?;
    let config = boards.join(CONFIG_NAME);
    let config = fs::read(&config).with_context(|| format!("cannot read {}", config.display()))?;
    files.push(BootFile { name: CONFIG_NAME.into(), bytes: config });
    let kernel = fs::read(elf).with_context(|| format!("cannot read the kernel ELF {}", elf.display()))?;
    let kernel = flatten(&kernel).with_context(|| format!("cannot make a raw image of {}", elf.display()))?;
    files.push(BootFile { name: IMAGE_NAME.into(), bytes: kernel });

    let image = sdcard::build(&files)?;
    write_atomically(&output, &image)?;
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    println!(
        "wrote {} ({} MiB SD-card image for {}: {}); write it with `dd if={} of=/dev/sdX bs=4M conv=fsync`",
        output.display(),
        IMAGE_BYTES >> 20,
        board.model,
        names.join(", "),
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The firmware files `names` from `dir`; one error naming every missing file and where to get them.
fn read_firmware(dir: &Path, names: &[String], chosen: bool) -> Result<Vec<BootFile>> {
    let missing: Vec<&str> = names.iter().filter(|n| !dir.join(n).is_file()).map(String::as_str).collect();
    if !missing.is_empty() {
        let source = if chosen {
            "the --firmware folder must hold them"
        } else {
            "install Debian's raspi-firmware package (component non-free-firmware; tools/setup.sh does), \
             or pass --firmware DIR"
        };
        anyhow::bail!(
            "the Raspberry Pi firmware is missing: {} not found in {}; {source}",
            missing.join(", "),
            dir.display()
        );
    }
    names
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            Ok(BootFile { name: name.clone(), bytes })
        })
        .collect()
}

/// Writes `bytes` to a temporary file beside `output`, then renames it to `output`; on failure the
/// temporary file is removed and `output` is left as it was.
fn write_atomically(output: &Path, bytes: &[u8]) -> Result<()> {
    let name =
        output.file_name().with_context(|| format!("cannot write {}: not a file name", output.display()))?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".{}.partial", std::process::id()));
    let temporary = output.with_file_name(temporary_name);
    let written = fs::write(&temporary, bytes).and_then(|()| fs::rename(&temporary, output));
    if let Err(error) = written {
        let _ = fs::remove_file(&temporary);
        return Err(error).with_context(|| format!("cannot write {}", output.display()));
    }
    Ok(())
}
