//! What `cowpi` does with a built kernel, one module per subcommand, and what several of them share.

pub mod bench;
pub mod fuzz;
pub mod image;
pub mod run;
pub mod sdcard;
pub mod test;
pub mod upload;

use std::path::{Path, PathBuf};

use anyhow::Result;
use cowpi_boards::Board;

/// The cargo workspace this tool belongs to (host tests run there; benchmark results go there).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The boards named with `--board`, each once, or every board under boards/ when none is named.
pub fn select_boards(names: &[String]) -> Result<Vec<Board>> {
    let dir = cowpi_boards::boards_dir();
    if names.is_empty() {
        return Ok(cowpi_boards::load_all(&dir)?);
    }
    let mut boards: Vec<Board> = Vec::new();
    for name in names {
        if !boards.iter().any(|b| b.name == *name) {
            boards.push(cowpi_boards::find(&dir, name)?);
        }
    }
    Ok(boards)
}
