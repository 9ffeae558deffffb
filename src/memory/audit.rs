//! The memory audit run after every kernel test (and by the shell's `audit`).
//!
//! It checks the frame table against itself (free stack, counters, `free + used = total`) and every
//! frame's reference count against the holders the kernel can find: every mapping and every table frame of
//! every address space. Anything else still held after a test is a leak, reported with its address. The
//! zero page and merged pages add their holders to `collect_holders` as they arrive.

use alloc::string::{String, ToString};
use alloc::vec;

use cowpi_mm::ExpectedHolds;

use super::frames;

/// Records every holder of a frame the kernel knows of: each mapping and each table frame of every
/// address space.
fn collect_holders(expected: &mut ExpectedHolds<'_>) {
    // The kernel's own reference on the zero page.
    expected.hold(super::zero_page::frame());
    crate::task::scheduler::for_each_address_space(|space| {
        space.for_each_held_frame(|frame| expected.hold(frame))
    });
}

/// Runs both audits; `Err` carries the printable report. The holders are collected before the frame
/// table is locked (the scheduler lock is never taken inside the frame-table lock), so the audit must run
/// while the tasks it counts are not changing their mappings: between tests, or from the shell.
pub fn audit() -> Result<(), String> {
    let frame_count = frames::with_table(|t| t.frame_count());
    let mut scratch = vec![0u32; frame_count];
    let mut expected = frames::with_table(|table| ExpectedHolds::for_table(table, &mut scratch))
        .map_err(|e| e.to_string())?;
    collect_holders(&mut expected);
    frames::with_table(|table| {
        let internal = table.audit();
        if !internal.is_clean() {
            return Err(internal.to_string());
        }
        let holds = table.audit_holds(&expected);
        if holds.is_clean() { Ok(()) } else { Err(holds.to_string()) }
    })
}
