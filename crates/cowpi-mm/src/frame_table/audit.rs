//! Checking the frame table against itself and against the kernel's mappings.
//!
//! A corrupted frame table rarely fails where it is corrupted: a frame on the free stack twice is handed to
//! two owners much later, a refcount one too low frees a frame that is still mapped. The kernel therefore
//! audits after every test, in two ways:
//!
//! - [`FrameTable::audit`]: internal consistency. Every free-stack entry is in the span, free and on the
//!   stack once; the free stack holds exactly the free frames; and every counter equals a recount (so
//!   `free + used == total` holds as well).
//! - [`FrameTable::audit_holds`]: the refcounts against reality. The kernel walks every address space and
//!   records each holder it finds in an [`ExpectedHolds`]; every frame whose refcount differs is reported.
//!
//! Both run in one pass over the table, use no memory of their own (the expectation's scratch comes from
//! the caller) and never panic, however corrupt the table is: reporting is all they do.

use core::fmt;

use super::{FREE, FrameState, FrameTable, RESERVED, TableError};
use crate::addr::Frame;

/// One inconsistency found by an audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// A free-stack entry is not the index of any frame in the span.
    FreeStackEntryOutsideSpan { position: usize, index: u32 },
    /// A frame on the free stack is not free: allocating it would give it a second owner.
    FreeStackEntryNotFree { position: usize, frame: Frame, state: FrameState },
    /// A frame is on the free stack twice, at `position` and at `other_position`.
    FreeStackDuplicate { frame: Frame, position: usize, other_position: usize },
    /// The record of where a free frame sits on the free stack is wrong.
    StackPositionMismatch { frame: Frame, position: usize, recorded: u32 },
    /// A counter disagrees with a recount of the table.
    CounterMismatch { counter: Counter, recorded: u64, recounted: u64 },
    /// A frame's refcount is not the number of holders the kernel found.
    HoldersMismatch { frame: Frame, state: FrameState, holders: u32 },
    /// The kernel found `holders` holders of frames the table does not cover; `frame` is one of them.
    HeldOutsideSpan { frame: Frame, holders: u64 },
}

/// The counters of [`crate::FrameCounters`] that an audit recounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Total,
    /// The free-stack length, recounted as the frames whose refcount is 0.
    Free,
    Used,
    Shared,
    References,
    /// Allocations minus frees, which must equal the frames in use.
    AllocationsMinusFrees,
}

impl fmt::Display for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Counter::Total => "total",
            Counter::Free => "free",
            Counter::Used => "used",
            Counter::Shared => "shared",
            Counter::References => "references",
            Counter::AllocationsMinusFrees => "allocations - frees",
        })
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::FreeStackEntryOutsideSpan { position, index } => {
                write!(f, "free stack entry {position} is index {index}, outside the table")
            }
            Violation::FreeStackEntryNotFree { position, frame, state } => {
                write!(f, "{frame}: on the free stack (entry {position}) but {state}")
            }
            Violation::FreeStackDuplicate { frame, position, other_position } => {
                write!(f, "{frame}: on the free stack twice (entries {other_position} and {position})")
            }
            Violation::StackPositionMismatch { frame, position, recorded } => {
                write!(f, "{frame}: at free stack entry {position} but recorded at entry {recorded}")
            }
            Violation::CounterMismatch { counter, recorded, recounted } => {
                write!(f, "counter `{counter}` is {recorded} but the table holds {recounted}")
            }
            Violation::HoldersMismatch { frame, state, holders } => {
                write!(f, "{frame}: {state}, holders found: {holders}")
            }
            Violation::HeldOutsideSpan { frame, holders } => {
                write!(f, "frames outside the table have holders ({holders} in all), such as {frame}")
            }
        }
    }
}

/// The outcome of an audit: how many violations it found, and the first [`AuditReport::KEPT`] of them
/// (one corruption often causes many, and the first ones are the telling ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    kept: [Option<Violation>; AuditReport::KEPT],
    count: usize,
}

impl AuditReport {
    /// How many violations a report keeps for printing.
    pub const KEPT: usize = 8;

    fn new() -> AuditReport {
        AuditReport { kept: [None; AuditReport::KEPT], count: 0 }
    }

    fn record(&mut self, violation: Violation) {
        if let Some(slot) = self.kept.get_mut(self.count) {
            *slot = Some(violation);
        }
        self.count += 1;
    }

    pub fn is_clean(&self) -> bool {
        self.count == 0
    }

    /// How many violations were found, including those not kept.
    pub fn violation_count(&self) -> usize {
        self.count
    }

    /// The first violations found, in the order found.
    pub fn violations(&self) -> impl Iterator<Item = &Violation> {
        self.kept.iter().map_while(Option::as_ref)
    }
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_clean() {
            return f.write_str("frame table audit: clean");
        }
        let plural = if self.count == 1 { "" } else { "s" };
        write!(f, "frame table audit: {} violation{plural}", self.count)?;
        for violation in self.violations() {
            write!(f, "\n  {violation}")?;
        }
        if self.count > AuditReport::KEPT {
            write!(f, "\n  ... and {} more", self.count - AuditReport::KEPT)?;
        }
        Ok(())
    }
}

/// The holders of each frame as the kernel counts them, to compare with the table's refcounts.
///
/// Built by walking every place that holds a frame (each mapping in each address space, each frame the
/// kernel keeps for itself) and calling [`ExpectedHolds::hold`] once per holder, in any order. Mappings of
/// frames outside the refcount regime (device memory, the kernel image) must be left out: holds on reserved
/// frames are reported.
pub struct ExpectedHolds<'s> {
    first: Frame,
    /// Holders per frame of the table's span, by index; saturating, as any count that high is wrong anyway.
    holders: &'s mut [u32],
    outside_span: u64,
    first_outside_span: Option<Frame>,
}

impl<'s> ExpectedHolds<'s> {
    /// An empty expectation for `table`, counting in `scratch`, which must hold at least
    /// [`FrameTable::frame_count`] words (any contents).
    pub fn for_table(
        table: &FrameTable<'_>,
        scratch: &'s mut [u32],
    ) -> Result<ExpectedHolds<'s>, TableError> {
        let needed = table.frame_count();
        let provided = scratch.len();
        let holders = scratch.get_mut(..needed).ok_or(TableError::StorageTooSmall { needed, provided })?;
        holders.fill(0);
        Ok(ExpectedHolds { first: table.first, holders, outside_span: 0, first_outside_span: None })
    }

    /// Records one holder of `frame`.
    pub fn hold(&mut self, frame: Frame) {
        match self.slot(frame) {
            Some(holders) => *holders = holders.saturating_add(1),
            None => {
                self.outside_span += 1;
                self.first_outside_span.get_or_insert(frame);
            }
        }
    }

    fn slot(&mut self, frame: Frame) -> Option<&mut u32> {
        let offset = frame.number().checked_sub(self.first.number())?;
        self.holders.get_mut(usize::try_from(offset).ok()?)
    }
}

impl FrameTable<'_> {
    /// Checks the table's internal consistency: the free stack holds every free frame exactly once and
    /// nothing else, and every counter equals a recount.
    pub fn audit(&self) -> AuditReport {
        let mut report = AuditReport::new();
        self.check_free_stack(&mut report);
        self.check_counters(&mut report);
        report
    }

    /// Reports every frame whose refcount differs from the holders in `expected`: a frame nobody holds
    /// must be free (or reserved), a frame somebody holds must have exactly that many holders.
    ///
    /// # Panics
    ///
    /// If `expected` was made for a table with another span: that is a bug in the caller, not a finding.
    pub fn audit_holds(&self, expected: &ExpectedHolds<'_>) -> AuditReport {
        assert!(
            expected.first == self.first && expected.holders.len() == self.frame_count(),
            "expected holds were counted for another table"
        );
        let mut report = AuditReport::new();
        // Same span, so the two arrays share their indices.
        for (index, (&word, &holders)) in self.refcounts.iter().zip(expected.holders.iter()).enumerate() {
            let frame = self.frame_at(index);
            let consistent = match word {
                FREE | RESERVED => holders == 0,
                refcount => refcount == holders,
            };
            if !consistent {
                report.record(Violation::HoldersMismatch {
                    frame,
                    state: FrameState::of_word(word),
                    holders,
                });
            }
        }
        if let Some(frame) = expected.first_outside_span {
            report.record(Violation::HeldOutsideSpan { frame, holders: expected.outside_span });
        }
        report
    }

    fn check_free_stack(&self, report: &mut AuditReport) {
        // A corrupt length must not make the audit itself panic; the `free` recount reports it.
        let live = &self.free_stack[..self.free_len.min(self.free_stack.len())];
        for (position, &index) in live.iter().enumerate() {
            let Some(&word) = self.refcounts.get(index as usize) else {
                report.record(Violation::FreeStackEntryOutsideSpan { position, index });
                continue;
            };
            let frame = self.frame_at(index as usize);
            if word != FREE {
                report.record(Violation::FreeStackEntryNotFree {
                    position,
                    frame,
                    state: FrameState::of_word(word),
                });
                continue;
            }
            // A position records one place per frame, so a frame listed twice fails this at one of them.
            let recorded = self.stack_positions[index as usize];
            if recorded as usize == position {
                continue;
            }
            let recorded_entry = live.get(recorded as usize);
            report.record(if recorded_entry == Some(&index) {
                Violation::FreeStackDuplicate { frame, position, other_position: recorded as usize }
            } else {
                Violation::StackPositionMismatch { frame, position, recorded }
            });
        }
    }

    fn check_counters(&self, report: &mut AuditReport) {
        let (mut free, mut used, mut shared, mut reserved, mut references) = (0u64, 0u64, 0u64, 0u64, 0u64);
        for &word in self.refcounts.iter() {
            match word {
                FREE => free += 1,
                RESERVED => reserved += 1,
                holders => {
                    used += 1;
                    shared += u64::from(holders > 1);
                    references += u64::from(holders);
                }
            }
        }
        // `usize as u64` is lossless on every target Rust supports.
        let total = self.frame_count() as u64 - reserved;
        let checks = [
            (Counter::Total, self.managed as u64, total),
            (Counter::Free, self.free_len as u64, free),
            (Counter::Used, self.used as u64, used),
            (Counter::Shared, self.shared as u64, shared),
            (Counter::References, self.references, references),
            (Counter::AllocationsMinusFrees, self.allocations.wrapping_sub(self.frees), used),
        ];
        for (counter, recorded, recounted) in checks {
            if recorded != recounted {
                report.record(Violation::CounterMismatch { counter, recorded, recounted });
            }
        }
    }
}
