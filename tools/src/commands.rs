//! What `cowpi` does with a built kernel, one module per subcommand, and what several of them share.

pub mod bench;
pub mod fuzz;
pub mod image;
pub mod run;
pub mod sdcard;
pub mod test;
pub mod upload;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;
use cowpi_boards::Board;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::driver::Failure;

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

/// A progress bar of `length` steps drawn on stdout with `template`; indicatif hides it when stdout is
/// not a terminal.
fn progress_bar(template: &str, length: u64) -> ProgressBar {
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stdout()).with_style(style)
}

/// Prints a line above `bar`. Best effort: a closed stdout must not stop a long run.
fn say_above(bar: &ProgressBar, text: &str) {
    bar.suspend(|| {
        let _ = writeln!(io::stdout(), "{text}");
    });
}

/// `head`, then the end of the failure's serial log, indented.
fn with_log_tail(head: String, failure: &Failure) -> String {
    let mut text = head;
    if !failure.log_tail.is_empty() {
        text.push_str("\n    last serial lines:");
        for line in &failure.log_tail {
            text.push_str(&format!("\n    | {line}"));
        }
    }
    text
}

/// The plural ending for `n` things.
fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Prints `failed` (one line each) under `<n> <what>s failed:`, or `all_ok` when there are none.
fn print_failures(out: &mut dyn Write, failed: &[String], what: &str, all_ok: &str) -> io::Result<()> {
    if failed.is_empty() {
        return writeln!(out, "{all_ok}");
    }
    writeln!(out, "{} {what}{} failed:", failed.len(), plural(failed.len()))?;
    for line in failed {
        writeln!(out, "{line}")?;
    }
    Ok(())
}
