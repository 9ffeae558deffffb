//! The memory audit run after every kernel test (and by the shell's `audit`).
//!
//! It checks the frame table against itself (free stack, counters, `free + used = total`), every frame's
//! reference count against the holders the kernel can find (every mapping and every table frame of every
//! address space, and the kernel's own hold on the zero page; anything else still held after a test is a
//! leak, reported with its address), that no mapping is writable while its frame is shared, and that the
//! running count of zero pages page merging made (`ksm::zero_pages`) is what the mappings say.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use cowpi_mm::ExpectedHolds;

use super::frames;

/// Records every holder of a frame the kernel knows of: each mapping and each table frame of every
/// address space.
fn collect_holders(expected: &mut ExpectedHolds<'_>) {
    // The kernel's own reference on the zero page.
    expected.hold(super::zero_page::frame());
    // The page-merging scanner's hold on each stable frame.
    super::ksm::for_each_held_frame(|frame| expected.hold(frame));
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
    })?;
    check_no_writable_shared_frame()?;
    check_ksm_zero_pages()
}

/// `ksm::zero_pages` is kept as mappings come and go, by every path that maps or unmaps: a path that
/// forgets it shows here, as a count that differs from the mappings carrying both marks. Such a mapping
/// must also be of the zero frame: the marks say so.
fn check_ksm_zero_pages() -> Result<(), String> {
    let zero = super::zero_page::frame();
    let (mut mapped, mut elsewhere) = (0u64, Vec::new());
    crate::task::scheduler::for_each_address_space(|space| {
        space.for_each_mapping(|page, frame, flags| {
            if flags.is_ksm_zero_page() {
                mapped += 1;
                if frame != zero && elsewhere.len() < 8 {
                    elsewhere.push(format!(
                        "page {:#x} is a KSM zero page on {frame}",
                        page.start_address().as_u64()
                    ));
                }
            }
        });
    });
    let counted = super::ksm::zero_pages();
    if counted == mapped && elsewhere.is_empty() {
        return Ok(());
    }
    let mut report = format!("ksm_zero_pages is {counted}, but {mapped} mappings are KSM zero pages");
    for problem in elsewhere {
        report.push_str("\n  ");
        report.push_str(&problem);
    }
    Err(report)
}

/// No mapping may be writable while its frame is shared (refcount > 1) or is the zero frame: a write
/// through it would be seen by the other holders. This is the invariant copy-on-write exists to keep.
fn check_no_writable_shared_frame() -> Result<(), String> {
    const KEPT: usize = 8;
    let zero = super::zero_page::frame();
    let mut violations = Vec::new();
    let mut count = 0;
    crate::task::scheduler::for_each_address_space(|space| {
        space.for_each_mapping(|page, frame, flags| {
            if !flags.writable {
                return;
            }
            let holders = frames::refcount(frame);
            if frame == zero || holders > 1 {
                count += 1;
                if violations.len() < KEPT {
                    violations.push(format!(
                        "page {:#x} is writable but {frame} has {holders} holders{}",
                        page.start_address().as_u64(),
                        if frame == zero { " (the zero page)" } else { "" }
                    ));
                }
            }
        });
    });
    if count == 0 {
        return Ok(());
    }
    let mut report = format!("{count} writable mappings of shared frames");
    for violation in violations {
        report.push_str("\n  ");
        report.push_str(&violation);
    }
    Err(report)
}
