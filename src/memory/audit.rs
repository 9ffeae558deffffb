//! The memory audit run after every kernel test (and by the shell's `audit`).
//!
//! It checks the frame table against itself (free stack, counters, `free + used = total`), every frame's
//! reference count against the holders the kernel can find (every mapping and every table frame of every
//! address space, and the kernel's own hold on the zero page; anything else still held after a test is a
//! leak, reported with its address; a level-3 table shared after a fork is held once per level-2 entry
//! pointing at it, and its mappings hold their frames once, whoever reaches them), that no mapping is
//! writable while its frame is shared, that every link to a shared table takes write access away, that no
//! mapping gives EL0 more than its region allows (none at all in a region with no access), and that the
//! running count of zero pages page merging made (`ksm::zero_pages`) is what the mappings say.
//!
//! After a kernel test it also checks the kernel heap: the bytes callers hold must be no more than before
//! the test ([`heap_in_use`], [`heap_returned`]). A leak there is invisible to the frame audit (the heap is
//! carved out of RAM at boot), so without this check a task killed for a fault lost 8 bytes each time and
//! no test noticed. The kernel keeps two kinds of heap storage that outlive a test, and both are bounded
//! and come back: the run queue's storage is allocated once, at start, for twice the task limit
//! (`task::scheduler`), so it never grows; the page-merging book holds at most
//! `ksm::MAX_TRACKED_PAGES` pages and stable frames, forgets those of tasks that are gone at the end of a
//! pass, and gives back every node once it remembers nothing (`cowpi_mm::ksm::KsmBook::end_pass`).

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use cowpi_mm::{ExpectedHolds, Frame, Page, PageFlags, Prot};

use super::{frames, heap};

/// Records every holder of a frame the kernel knows of: each table frame of every address space (a
/// shared level-3 table once per level-2 entry pointing at it) and each mapping of every level-3 table
/// (a shared one's once, whoever reaches it).
fn collect_holders(expected: &mut ExpectedHolds<'_>) {
    // The kernel's own reference on the zero page.
    expected.hold(super::zero_page::frame());
    // The page-merging scanner's hold on each stable frame.
    super::ksm::for_each_held_frame(|frame| expected.hold(frame));
    let mut seen = BTreeSet::new();
    crate::task::scheduler::for_each_address_space(|space| {
        space.for_each_held_frame(|table| seen.insert(table), |frame| expected.hold(frame))
    });
}

/// Calls `f` with every mapping of every address space, a shared level-3 table's once, with whether its
/// table is shared and write-protected where it is reached.
fn for_each_distinct_mapping(mut f: impl FnMut(Page, Frame, PageFlags)) {
    let mut seen = BTreeSet::new();
    crate::task::scheduler::for_each_address_space(|space| {
        space.for_each_table(|table| table.holders == 1 || seen.insert(table.table), &mut f)
    });
}

/// A level-3 table with several holders must be write-protected (`APTable`) in every level-2 entry that
/// points at it: an unprotected link would let one holder's write show in all the others.
fn check_shared_tables_write_protected() -> Result<(), String> {
    let mut violations = Violations::default();
    crate::task::scheduler::for_each_address_space(|space| {
        space.for_each_table(
            |table| {
                if table.holders > 1 && !table.write_protected {
                    violations.add(|| {
                        format!(
                            "the table {} at {:#x} has {} holders but is writable here",
                            table.table,
                            table.first_page.start_address().as_u64(),
                            table.holders
                        )
                    });
                }
                false
            },
            |_, _, _| {},
        )
    });
    violations.into_result("shared level-3 tables reachable for writing")
}

/// Runs both audits; `Err` carries the printable report. The holders are collected before the frame
/// table is locked (an address space's lock is never taken inside the frame-table lock: the order in
/// `sync`), each space under its own lock in turn, so the audit must run while the tasks it counts are
/// not changing their mappings: between tests, or from the shell.
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
    check_shared_tables_write_protected()?;
    check_mappings_within_their_regions()?;
    check_ksm_zero_pages()
}

/// The first few violations of one rule, and how many there were.
#[derive(Default)]
struct Violations {
    count: usize,
    kept: Vec<String>,
}

impl Violations {
    const KEPT: usize = 8;

    fn add(&mut self, describe: impl FnOnce() -> String) {
        self.count += 1;
        if self.kept.len() < Self::KEPT {
            self.kept.push(describe());
        }
    }

    fn into_result(self, what: &str) -> Result<(), String> {
        if self.count == 0 {
            return Ok(());
        }
        let mut report = format!("{} {what}", self.count);
        for violation in self.kept {
            report.push_str("\n  ");
            report.push_str(&violation);
        }
        Err(report)
    }
}

/// Every mapping lies in a region and gives EL0 no more than the region allows: no write where the
/// region is not writable, no execution where it is not executable, and no access at all where it has
/// none. It is also no-access only where the region is: a page the task may touch but the hardware
/// refuses would fault forever. A page `PROTECT`ed to no access keeps its frame, so this rule is what
/// keeps its contents out of the task's reach.
fn check_mappings_within_their_regions() -> Result<(), String> {
    let mut violations = Violations::default();
    crate::task::scheduler::for_each_address_space(|space| {
        space.for_each_mapping_with_region_prot(|page, flags, region| {
            let address = page.start_address().as_u64();
            let Some(prot) = region else {
                violations.add(|| format!("page {address:#x} is mapped outside every region"));
                return;
            };
            let too_much = (!flags.no_access && !prot.is_readable())
                || (flags.writable && !prot.is_writable())
                || (flags.executable && !prot.is_executable());
            if too_much || flags.no_access != (prot == Prot::NONE) {
                violations.add(|| format!("page {address:#x} is mapped {flags:?} in a {prot} region"));
            }
        });
    });
    violations.into_result("mappings at odds with their regions")
}

/// `ksm::zero_pages` is kept as mappings come and go, by every path that maps or unmaps: a path that
/// forgets it shows here, as a count that differs from the mappings carrying both marks. Such a mapping
/// must also be of the zero frame: the marks say so.
fn check_ksm_zero_pages() -> Result<(), String> {
    let zero = super::zero_page::frame();
    let (mut mapped, mut elsewhere) = (0u64, Violations::default());
    for_each_distinct_mapping(|page, frame, flags| {
        if flags.is_ksm_zero_page() {
            mapped += 1;
            if frame != zero {
                elsewhere.add(|| format!("page {:#x} is on {frame}", page.start_address().as_u64()));
            }
        }
    });
    let counted = super::ksm::zero_pages();
    if counted != mapped {
        return Err(format!("ksm_zero_pages is {counted}, but {mapped} mappings are KSM zero pages"));
    }
    elsewhere.into_result("KSM zero pages not on the zero frame")
}

/// No mapping may be writable while its frame is shared (refcount > 1) or is the zero frame: a write
/// through it would be seen by the other holders. This is the invariant copy-on-write exists to keep. It
/// holds for page descriptors in shared level-3 tables too (their frames have the table as one holder),
/// which is what lets a table's last holder take write access back without looking at its pages.
fn check_no_writable_shared_frame() -> Result<(), String> {
    let zero = super::zero_page::frame();
    let mut violations = Violations::default();
    for_each_distinct_mapping(|page, frame, flags| {
        if !flags.writable {
            return;
        }
        let holders = frames::refcount(frame);
        if frame == zero || holders > 1 {
            violations.add(|| {
                format!(
                    "page {:#x} is writable but {frame} has {holders} holders{}",
                    page.start_address().as_u64(),
                    if frame == zero { " (the zero page)" } else { "" }
                )
            });
        }
    });
    violations.into_result("writable mappings of shared frames")
}

/// Heap bytes in use that a test must give back: what callers have asked of the kernel heap and not
/// returned (`heap::HeapStats::requested`, exact to the byte, where `allocated` rounds to powers of two).
pub fn heap_in_use() -> usize {
    heap::stats().requested
}

/// Whether the heap is back where it was, `before` bytes in use, once a test is over: more is a leak.
pub fn heap_returned(before: usize) -> Result<(), String> {
    let after = heap_in_use();
    if after <= before {
        return Ok(());
    }
    Err(format!(
        "the kernel heap holds {} bytes more than before the test ({before} -> {after})",
        after - before
    ))
}
