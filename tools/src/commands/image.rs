//! `cowpi <ELF> image [-o PATH]`: writes the raw image, for copying to an SD card by hand.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::image::{LOAD_ADDRESS, default_image_path, write_image};

pub fn run(elf: &Path, output: Option<&Path>) -> Result<ExitCode> {
    let image = output.map_or_else(|| default_image_path(elf), Path::to_path_buf);
    let size = write_image(elf, &image)?;
    println!("wrote {} ({size} bytes, loaded at {LOAD_ADDRESS:#x})", image.display());
    Ok(ExitCode::SUCCESS)
}
