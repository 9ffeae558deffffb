//! What others look at in an address space: its page counts (`ps`, `MEMSTATS`), the pages page merging
//! may take and the changes it makes to them, and the walks of the memory audit.

use super::{AddressSpace, PageMemory};
use crate::Prot;
use crate::addr::{Frame, Page, VirtAddr};
use crate::regions::{Region, RegionKind};
use crate::translation::{PageFlags, TableVisit, TlbMaintenance};

/// A task's pages, as `ps` and `MEMSTATS` show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageCounts {
    /// Pages mapped.
    pub resident: u64,
    /// Of those, pages another holder sees too: their frame has other holders, or their level-3 table
    /// does.
    pub shared: u64,
    /// Of those, pages mapping the zero frame.
    pub zero: u64,
}

/// Mappings [`AddressSpace::next_merge_candidate`] looks at in one call.
pub const CANDIDATE_LOOKS: usize = 64;

/// What [`AddressSpace::next_merge_candidate`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateSearch {
    /// A page to visit.
    Found(Page),
    /// None yet: search again from this page.
    GoOn(Page),
    /// No candidate above the page searched from.
    End,
}

impl<M: PageMemory, T: TlbMaintenance> AddressSpace<M, T> {
    /// Resident pages, those of them shared with other holders, and those mapping the zero page.
    pub fn page_counts(&mut self) -> PageCounts {
        let mut counts = PageCounts::default();
        let table_shared = core::cell::Cell::new(false);
        self.tables.for_each_table_with_memory(
            |table| {
                table_shared.set(table.holders > 1);
                true
            },
            |memory, _, frame, flags| {
                counts.resident += 1;
                if table_shared.get() || memory.frame_holders(frame) > 1 {
                    counts.shared += 1;
                }
                if flags.zero_page {
                    counts.zero += 1;
                }
            },
        );
        counts
    }

    /// What `page` maps, if anything.
    pub fn translate_page(&mut self, page: Page) -> Option<(Frame, PageFlags)> {
        self.tables.translate(page.start_address())
    }

    /// Whether `page` lies in a level-3 table shared with other address spaces (after a fork): page
    /// merging leaves those pages alone, since they are shared already, and merging one would cost a copy
    /// of its table.
    pub fn in_shared_table(&mut self, page: Page) -> bool {
        self.tables.in_shared_table(page)
    }

    /// Changes `page`'s flags on the same frame (TLB entry invalidated; a shared table made private
    /// first), returning the old ones; `None` if nothing is mapped there or no frame was left for the
    /// table's copy. For page merging, which keeps its own figures by the flags.
    pub fn set_page_flags(&mut self, page: Page, flags: PageFlags) -> Option<PageFlags> {
        self.tables.protect(page, flags).ok()
    }

    /// Maps `page` to `frame` instead, break-before-make, returning the old flags; `None` as for
    /// [`AddressSpace::set_page_flags`]. The caller moves the references. For page merging.
    pub fn replace_page(&mut self, page: Page, frame: Frame, flags: PageFlags) -> Option<PageFlags> {
        self.tables.replace(page, frame, flags).ok().map(|(_, old)| old)
    }

    /// The first page at or above `from` the merging scanner may look at: mapped writable and not
    /// executable, in memory marked mergeable (or, with `all`, in any anonymous region or stack). It looks
    /// at no more than [`CANDIDATE_LOOKS`] mappings, and says where to go on if it found none, so one call
    /// costs little whatever the task maps.
    pub fn next_merge_candidate(&mut self, from: Page, all: bool) -> CandidateSearch {
        let end = Page::containing(VirtAddr::USER_END);
        let mut at = from;
        for _ in 0..CANDIDATE_LOOKS {
            let Some((page, _, flags)) = self.tables.next_mapping(at..end) else {
                return CandidateSearch::End;
            };
            let region = self.regions.find(page.start_address());
            let wanted = region.is_some_and(|region| {
                if all { region.kind() != RegionKind::Image } else { region.is_mergeable() }
            });
            if wanted && flags.writable && !flags.executable {
                return CandidateSearch::Found(page);
            }
            // A region the scanner does not want is passed over whole.
            at = match region {
                Some(region) if !wanted => region.pages().end,
                _ => page + 1,
            };
        }
        CandidateSearch::GoOn(at)
    }

    /// Every mapping: page, frame, flags.
    pub fn for_each_mapping(&mut self, f: impl FnMut(Page, Frame, PageFlags)) {
        self.tables.for_each_mapping(f);
    }

    /// Every mapping with the rights of the region it lies in (`None` if it lies in none), for the audit.
    pub fn for_each_mapping_with_region_prot(&mut self, mut f: impl FnMut(Page, PageFlags, Option<Prot>)) {
        let regions = &self.regions;
        self.tables.for_each_mapping(|page, _, flags| {
            f(page, flags, regions.find(page.start_address()).map(Region::prot))
        });
    }

    /// Every frame this address space holds a reference on: one per table frame (a shared level-3 table
    /// once per level-2 entry pointing at it), and one per mapping of a table `first_visit` says was not
    /// counted yet. A shared table's mappings are held by the table, once, however many address spaces
    /// reach it: the audit passes the same `first_visit` for every address space.
    pub fn for_each_held_frame(
        &mut self,
        mut first_visit: impl FnMut(Frame) -> bool,
        mut f: impl FnMut(Frame),
    ) {
        self.tables
            .for_each_table(|table| table.holders == 1 || first_visit(table.table), |_, frame, _| f(frame));
        self.tables.for_each_table_frame(&mut f);
    }

    /// Every table frame, the root included (a shared level-3 table in each address space reaching it).
    pub fn for_each_table_frame(&mut self, f: impl FnMut(Frame)) {
        self.tables.for_each_table_frame(f);
    }

    /// Every level-3 table (with its holders and whether this address space's link to it takes write
    /// access away) and, where `visit_table` says so, its mappings: for the audit.
    pub fn for_each_table(
        &mut self,
        visit_table: impl FnMut(TableVisit) -> bool,
        on_mapping: impl FnMut(Page, Frame, PageFlags),
    ) {
        self.tables.for_each_table(visit_table, on_mapping);
    }
}
