//! The memory audit run after every kernel test (and by the shell's `audit`).
//!
//! It checks the frame table against itself (free stack, counters, `free + used = total`) and every
//! frame's reference count against the holders the kernel can find. Today the only holders are the
//! frames a test holds while it runs, so after a test every managed frame must be free: a leaked frame is
//! reported with its address. Address spaces, the zero page and merged pages add their holders to
//! `collect_holders` as they arrive.

use alloc::string::{String, ToString};
use alloc::vec;

use cowpi_mm::ExpectedHolds;

use super::frames;

/// Records every holder of a frame the kernel knows of. None yet: no subsystem keeps frames between
/// tests.
fn collect_holders(_expected: &mut ExpectedHolds<'_>) {}

/// Runs both audits; `Err` carries the printable report.
pub fn audit() -> Result<(), String> {
    let frame_count = frames::with_table(|t| t.frame_count());
    let mut scratch = vec![0u32; frame_count];
    frames::with_table(|table| {
        let internal = table.audit();
        if !internal.is_clean() {
            return Err(internal.to_string());
        }
        let mut expected = ExpectedHolds::for_table(table, &mut scratch).map_err(|e| e.to_string())?;
        collect_holders(&mut expected);
        let holds = table.audit_holds(&expected);
        if holds.is_clean() { Ok(()) } else { Err(holds.to_string()) }
    })
}
