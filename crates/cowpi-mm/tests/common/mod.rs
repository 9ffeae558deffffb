//! Scaffolding the model tests share (`cow_state_machine.rs`, `ksm_model.rs`): translation tables in host
//! memory, no TLB to maintain, and a small frame table of data frames.

use std::collections::HashMap;

use cowpi_mm::{
    AddressSpaceTables, Asid, Frame, FrameTable, OutOfFrames, Page, TableMemory, TlbMaintenance,
    storage_words,
};

/// The first data frame the frame table manages.
const FIRST_DATA_FRAME: u64 = 0x1000;
/// The first translation table's frame, numbered apart from the data frames.
const FIRST_TABLE_FRAME: u64 = 0x10_0000;
/// Table frames each address space may number before the next one's begin.
const TABLE_FRAMES_PER_SPACE: u64 = 0x1000;

/// Translation tables in host memory, numbered apart from the data frames.
pub struct HostTables {
    tables: HashMap<Frame, Box<[u64; 512]>>,
    next: u64,
}

impl TableMemory for HostTables {
    fn alloc_table(&mut self) -> Result<Frame, OutOfFrames> {
        let frame = Frame::from_number(self.next);
        self.next += 1;
        self.tables.insert(frame, Box::new([0; 512]));
        Ok(frame)
    }

    fn free_table(&mut self, frame: Frame) {
        assert!(self.tables.remove(&frame).is_some(), "{frame} freed twice");
    }

    fn entries(&mut self, table: Frame) -> &mut [u64; 512] {
        self.tables.get_mut(&table).expect("a live table")
    }

    fn write_entry(&mut self, table: Frame, index: usize, descriptor: u64) {
        self.entries(table)[index] = descriptor;
    }
}

pub struct NoTlb;

impl TlbMaintenance for NoTlb {
    fn invalidate_page(&mut self, _: Asid, _: Page) {}
    fn invalidate_asid(&mut self, _: Asid) {}
    fn publish_tables(&mut self) {}
}

pub type Tables = AddressSpaceTables<HostTables, NoTlb>;

/// A frame table with `count` data frames, every one free.
pub fn data_frames(count: usize) -> FrameTable<'static> {
    let storage = Box::leak(vec![0u32; storage_words(count)].into_boxed_slice());
    let first = Frame::from_number(FIRST_DATA_FRAME);
    let mut frames = FrameTable::new(first, count, storage).unwrap();
    frames.add_free_range(first..first + count).unwrap();
    frames
}

/// Makes empty address spaces, each numbering its table frames apart from the others'.
pub struct AddressSpaces {
    next_table: u64,
}

impl Default for AddressSpaces {
    fn default() -> AddressSpaces {
        AddressSpaces { next_table: FIRST_TABLE_FRAME }
    }
}

impl AddressSpaces {
    pub fn create(&mut self) -> Tables {
        let memory = HostTables { tables: HashMap::new(), next: self.next_table };
        self.next_table += TABLE_FRAMES_PER_SPACE;
        let mut tables = Tables::new(memory, NoTlb).unwrap();
        tables.set_asid(Asid::new(1));
        tables
    }
}
