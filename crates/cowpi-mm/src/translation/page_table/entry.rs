//! One page as the fault handler sees it: what is mapped there, or, if nothing, the way to map it without
//! walking the tables a second time (the shape of `HashMap::entry`).
//!
//! The two commonest faults, a first read (the zero page) and a first write (a fresh frame), find
//! nothing mapped and then map the page. Looking up and mapping separately walked from the root twice,
//! about a hundred instructions of a fault that costs under a thousand; the walk of the lookup is kept
//! here for the mapping instead.

use super::{AddressSpaceTables, Leaf, MapError, Walk};
use crate::addr::{Frame, Page};
use crate::translation::{PageFlags, TableMemory, TlbMaintenance};

/// What [`AddressSpaceTables::entry`] found at a page.
pub enum PageEntry<'t, M: TableMemory, T: TlbMaintenance> {
    /// A mapping.
    Mapped(Leaf),
    /// Nothing: [`VacantPage::map`] maps it.
    Vacant(VacantPage<'t, M, T>),
}

/// A page with nothing mapped, and the walk that found it so. It holds the tables, so nothing can change
/// them before it is used.
pub struct VacantPage<'t, M: TableMemory, T: TlbMaintenance> {
    tables: &'t mut AddressSpaceTables<M, T>,
    page: Page,
    walk: Walk,
}

impl<M: TableMemory, T: TlbMaintenance> VacantPage<'_, M, T> {
    /// Maps the page to `frame`, as [`AddressSpaceTables::map`] does (tables created on the way, a shared
    /// table made private first), from the walk already made.
    pub fn map(self, frame: Frame, flags: PageFlags) -> Result<(), MapError> {
        self.tables.map_walked(self.page, self.walk, frame, flags)
    }

    /// The tables' memory, for the frame the page is about to map.
    pub fn memory(&mut self) -> &mut M {
        self.tables.memory_mut()
    }
}

impl<M: TableMemory, T: TlbMaintenance> AddressSpaceTables<M, T> {
    /// What `page` maps, with its table's sharing, as [`AddressSpaceTables::lookup`] says; or, if
    /// nothing, a [`VacantPage`] to map it with, in one walk.
    pub fn entry(&mut self, page: Page) -> PageEntry<'_, M, T> {
        let walk = if page.is_user() { self.walk(page) } else { Walk::default() };
        if let Some(table) = walk.level3
            && let Some((frame, flags)) = self.leaf(table, page)
        {
            return PageEntry::Mapped(Leaf { frame, flags, table, shared_table: walk.level3_protected });
        }
        PageEntry::Vacant(VacantPage { tables: self, page, walk })
    }
}
