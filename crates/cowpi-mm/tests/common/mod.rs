//! Scaffolding the host tests share (`cow_state_machine.rs`, `ksm_model.rs`, `address_space.rs`):
//! translation tables in host memory, no TLB to maintain, a small frame table of data frames, and a whole
//! world of frames, tables and page bytes for complete address spaces.
#![allow(dead_code, reason = "each test crate uses part of the scaffolding")]

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use cowpi_mm::{
    AddressSpace, AddressSpaceTables, FaultOutcome, Frame, FrameTable, OutOfFrames, PAGE_SIZE, Page,
    PageFlags, PageMemory, Release, ShareRefused, TableMemory, TlbMaintenance, storage_words,
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

#[derive(Clone, Copy)]
pub struct NoTlb;

impl TlbMaintenance for NoTlb {
    fn invalidate_page(&mut self, _: Page) {}
    fn invalidate_asid(&mut self) {}
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
        Tables::new(memory, NoTlb).unwrap()
    }
}

/// Physical memory for whole address spaces (`cowpi_mm::AddressSpace`): one frame table for tables and
/// pages alike, as the kernel's, the tables' descriptors and the pages' bytes, and the zero frame, which
/// the world itself holds.
pub struct World {
    pub frames: FrameTable<'static>,
    pub tables: HashMap<Frame, Box<[u64; 512]>>,
    pub pages: HashMap<Frame, Box<[u8; PAGE_SIZE]>>,
    pub zero: Frame,
    /// Every fault the address spaces resolved, in order.
    pub faults: Vec<FaultOutcome>,
}

impl World {
    /// A world of `count` frames, one of them the zero frame.
    pub fn new(count: usize) -> Shared {
        let mut frames = data_frames(count);
        let zero = frames.alloc().expect("a frame for the zero page");
        let pages = HashMap::from([(zero, Box::new([0; PAGE_SIZE]))]);
        Rc::new(RefCell::new(World { frames, tables: HashMap::new(), pages, zero, faults: Vec::new() }))
    }

    pub fn release(&mut self, frame: Frame) {
        if self.frames.release(frame).expect("a held frame") == Release::Freed {
            self.pages.remove(&frame);
            self.tables.remove(&frame);
        }
    }

    fn alloc_page(&mut self, bytes: [u8; PAGE_SIZE]) -> Result<Frame, OutOfFrames> {
        let frame = self.frames.alloc()?;
        self.pages.insert(frame, Box::new(bytes));
        Ok(frame)
    }

    /// The first eight bytes of `frame`'s page, as a number: what the model tests write.
    pub fn value(&self, frame: Frame) -> u64 {
        u64::from_le_bytes(self.pages[&frame][..8].try_into().unwrap())
    }

    /// Frames in use, the zero frame included.
    pub fn used(&self) -> usize {
        self.frames.counters().used
    }
}

pub type Shared = Rc<RefCell<World>>;

/// A handle on the world, as each address space's memory: tables shared and holders counted as the
/// kernel's memory does.
#[derive(Clone)]
pub struct WorldMemory(pub Shared);

impl TableMemory for WorldMemory {
    fn alloc_table(&mut self) -> Result<Frame, OutOfFrames> {
        let mut world = self.0.borrow_mut();
        let frame = world.frames.alloc()?;
        world.tables.insert(frame, Box::new([0; 512]));
        Ok(frame)
    }

    fn free_table(&mut self, frame: Frame) {
        assert!(self.0.borrow().tables.contains_key(&frame), "{frame} freed but not a table");
        self.0.borrow_mut().release(frame);
    }

    fn share_table(&mut self, table: Frame) -> Result<(), ShareRefused> {
        self.0.borrow_mut().frames.share(table).map(drop).map_err(|_| ShareRefused)
    }

    fn table_holders(&mut self, table: Frame) -> usize {
        self.0.borrow().frames.refcount(table).expect("a managed frame") as usize
    }

    fn share_frame(&mut self, frame: Frame, _: PageFlags) -> Result<(), ShareRefused> {
        self.0.borrow_mut().frames.share(frame).map(drop).map_err(|_| ShareRefused)
    }

    fn release_frame(&mut self, frame: Frame, _: PageFlags) {
        self.0.borrow_mut().release(frame);
    }

    fn entries(&mut self, table: Frame) -> &mut [u64; 512] {
        let mut world = self.0.borrow_mut();
        let entries: *mut [u64; 512] =
            &mut **world.tables.get_mut(&table).unwrap_or_else(|| panic!("{table} is not a live table"));
        // SAFETY: the table is boxed, so it stays where it is while the map changes, and it is freed only
        // through `free_table` or the release of its last holder, never while the tables code holds this
        // reference (one thread, and the tables code holds one table's entries at a time).
        unsafe { &mut *entries }
    }
}

impl PageMemory for WorldMemory {
    fn alloc_zeroed(&mut self) -> Result<Frame, OutOfFrames> {
        self.0.borrow_mut().alloc_page([0; PAGE_SIZE])
    }

    fn alloc_copy_of(&mut self, source: Frame) -> Result<Frame, OutOfFrames> {
        let mut world = self.0.borrow_mut();
        let bytes = *world.pages[&source];
        world.alloc_page(bytes)
    }

    fn frame_holders(&mut self, frame: Frame) -> u32 {
        self.0.borrow().frames.refcount(frame).unwrap_or(0)
    }

    fn zero_frame(&mut self) -> Frame {
        self.0.borrow().zero
    }

    fn page_bytes(&mut self, frame: Frame) -> &mut [u8; PAGE_SIZE] {
        let mut world = self.0.borrow_mut();
        let bytes: *mut [u8; PAGE_SIZE] =
            &mut **world.pages.get_mut(&frame).unwrap_or_else(|| panic!("{frame} is not a live page"));
        // SAFETY: as in `entries`: the page is boxed and freed only with its last holder, which the caller
        // is not letting go while it uses the bytes.
        unsafe { &mut *bytes }
    }

    fn fault_resolved(&mut self, outcome: FaultOutcome) {
        self.0.borrow_mut().faults.push(outcome);
    }
}

/// A whole address space in the world, with no TLB to maintain.
pub type Space = AddressSpace<WorldMemory, NoTlb>;
