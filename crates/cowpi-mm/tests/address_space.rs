//! The address-space engine (`cowpi_mm::AddressSpace`) on the host: every path the kernel's fault
//! handler and system calls take, with whole address spaces over one frame table, as in the kernel.
//!
//! Each test checks what a program would see (the bytes at an address, in each task), what the engine
//! says it did (`FaultOutcome`), and what it holds: frames in use go back to exactly the zero frame when
//! every space is dropped.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::{NoTlb, Shared, Space, World, WorldMemory};
use cowpi_abi::{Error, ForkMode, layout};
use cowpi_mm::{
    Access, AddressSpace, FaultError, FaultOutcome, Frame, PAGE_SIZE, Page, PageOutcome, Prot, TableOutcome,
    TlbMaintenance, VirtAddr,
};

const PAGE: u64 = PAGE_SIZE as u64;

fn space(world: &Shared) -> Space {
    AddressSpace::new(WorldMemory(world.clone()), NoTlb).unwrap()
}

/// Maps `pages` of anonymous read-write memory in `space` and writes each page with its index + 1 (so
/// every page has a frame of its own): the memory's address.
fn write_pages<T: TlbMaintenance>(space: &mut AddressSpace<WorldMemory, T>, pages: u64) -> u64 {
    let start = space.map_anonymous(None, pages, Prot::READ_WRITE).unwrap();
    for index in 0..pages {
        space.write_user(start + index * PAGE, &(index + 1).to_le_bytes()).unwrap();
    }
    start
}

/// A space with [`write_pages`]' memory: the space and the memory's address.
fn written_space(world: &Shared, pages: u64) -> (Space, u64) {
    let mut space = space(world);
    let start = write_pages(&mut space, pages);
    (space, start)
}

/// Drops `spaces` and checks that every frame they held came back: only the zero frame is in use.
fn all_given_back<S>(world: &Shared, spaces: S) {
    drop(spaces);
    assert_eq!(world.borrow().used(), 1, "frames in use once every space is gone");
}

fn fork(parent: &mut Space, mode: ForkMode) -> Result<Space, Error> {
    let memory = parent.memory_mut().clone();
    parent.fork(mode, None, memory, NoTlb).map(|forked| forked.child)
}

/// What the task reads at `address`: the first eight bytes of the page there.
fn read(space: &mut Space, address: u64) -> u64 {
    u64::from_le_bytes(space.read_user(address, 8).unwrap().try_into().unwrap())
}

fn frame_at<T: TlbMaintenance>(space: &mut AddressSpace<WorldMemory, T>, address: u64) -> Option<Frame> {
    space.translate_page(Page::containing(VirtAddr::new(address))).map(|(frame, _)| frame)
}

fn outcome(page: PageOutcome) -> FaultOutcome {
    FaultOutcome { table: None, page }
}

/// Takes every free frame of the world (or all but `leave`), giving them back when dropped.
struct Ballast {
    world: Shared,
    frames: Vec<Frame>,
}

impl Ballast {
    fn leaving_free(world: &Shared, leave: usize) -> Ballast {
        let mut frames = Vec::new();
        while world.borrow().frames.counters().free > leave {
            frames.push(world.borrow_mut().frames.alloc().unwrap());
        }
        Ballast { world: world.clone(), frames }
    }
}

impl Drop for Ballast {
    fn drop(&mut self) {
        for &frame in &self.frames {
            assert_eq!(self.world.borrow_mut().frames.release(frame), Ok(cowpi_mm::Release::Freed));
        }
    }
}

#[test]
fn an_untouched_page_reads_the_zero_frame_and_its_first_write_takes_a_fresh_frame() {
    let world = World::new(64);
    let mut task = space(&world);
    let start = task.map_anonymous(None, 4, Prot::READ_WRITE).unwrap();
    assert_eq!(task.resolve_fault(start, Access::Read), Ok(outcome(PageOutcome::ZeroPageMapped)));
    let zero = world.borrow().zero;
    assert_eq!(frame_at(&mut task, start), Some(zero));
    assert_eq!(task.resolve_fault(start + 8, Access::Read), Ok(outcome(PageOutcome::AlreadyResolved)));
    assert_eq!(task.resolve_fault(start, Access::Write), Ok(outcome(PageOutcome::ZeroFilled)));
    assert_ne!(frame_at(&mut task, start), Some(zero));
    assert_eq!(task.resolve_fault(start + PAGE, Access::Write), Ok(outcome(PageOutcome::ZeroFilled)));
    assert_eq!(world.borrow().frames.refcount(zero), Some(1), "only the world holds the zero frame again");
    all_given_back(&world, task);
}

#[test]
fn an_access_outside_the_regions_or_against_their_rights_is_illegal() {
    let world = World::new(64);
    let mut task = space(&world);
    let start = task.map_anonymous(None, 1, Prot::READ).unwrap();
    assert_eq!(task.resolve_fault(start + PAGE, Access::Read), Err(FaultError::Illegal));
    assert_eq!(task.resolve_fault(start, Access::Write), Err(FaultError::Illegal));
    assert_eq!(task.resolve_fault(start, Access::Execute), Err(FaultError::Illegal));
    assert_eq!(task.write_user(start, &[1]), Err(Error::BadAddress));
    assert_eq!(task.read_user(start + PAGE - 4, 8), Err(Error::BadAddress));
    assert_eq!(world.borrow().used(), 2, "the zero frame and the root table only");
}

#[test]
fn the_first_write_into_a_shared_table_copies_the_table_then_the_page() {
    let world = World::new(64);
    let (mut parent, start) = written_space(&world, 3);
    let mut child = fork(&mut parent, ForkMode::CopyOnWrite).unwrap();
    assert!(child.in_shared_table(Page::containing(VirtAddr::new(start))));
    let used = world.borrow().used();
    assert_eq!(used, 1 + 3 + 3 + 2, "zero, the parent's three tables and pages, the child's own two tables");

    let written = child.resolve_fault(start, Access::Write).unwrap();
    assert_eq!(
        written,
        FaultOutcome { table: Some(TableOutcome::Copied), page: PageOutcome::CowCopied { unmerged: false } }
    );
    child.write_user(start, &99u64.to_le_bytes()).unwrap();
    assert_eq!((read(&mut parent, start), read(&mut child, start)), (1, 99));
    assert_eq!(world.borrow().used(), used + 2, "the table's copy and the page's");
    // The other pages of the copied table are still shared, copy-on-write, on both sides.
    assert_eq!(frame_at(&mut parent, start + PAGE), frame_at(&mut child, start + PAGE));
    assert_eq!(
        parent.resolve_fault(start + PAGE, Access::Write).unwrap(),
        FaultOutcome { table: Some(TableOutcome::Reused), page: PageOutcome::CowCopied { unmerged: false } },
        "the parent, last holder of the old table, gets it back without a copy; the page is still shared"
    );
    all_given_back(&world, (parent, child));
}

/// A shared table's pages keep their writable descriptors (the table's link takes write access away),
/// so the last holder's write needs nothing but the link back.
#[test]
fn the_last_holder_of_a_shared_table_writes_without_any_copy() {
    let world = World::new(64);
    let (mut parent, start) = written_space(&world, 2);
    let child = fork(&mut parent, ForkMode::CopyOnWrite).unwrap();
    drop(child);
    let used = world.borrow().used();
    let written = parent.resolve_fault(start, Access::Write).unwrap();
    assert_eq!(
        written,
        FaultOutcome { table: Some(TableOutcome::Reused), page: PageOutcome::AlreadyResolved }
    );
    assert_eq!(world.borrow().used(), used);
    assert_eq!(parent.resolve_fault(start + PAGE, Access::Write), Ok(outcome(PageOutcome::AlreadyResolved)));
    assert_eq!(read(&mut parent, start), 1);
}

#[test]
fn a_shared_table_fork_invalidates_the_parents_tlb_once_and_touches_no_page() {
    #[derive(Clone, Default)]
    /// Counts invalidations: page by page, and ASID-wide. (It runs, so it has an ASID.)
    struct CountingTlb(Rc<Cell<(usize, usize)>>);
    impl TlbMaintenance for CountingTlb {
        fn invalidate_page(&mut self, _: Page) {
            self.0.set((self.0.get().0 + 1, self.0.get().1));
        }
        fn invalidate_asid(&mut self) {
            self.0.set((self.0.get().0, self.0.get().1 + 1));
        }
    }
    let world = World::new(2200);
    let tlb = CountingTlb::default();
    let mut parent = AddressSpace::new(WorldMemory(world.clone()), tlb.clone()).unwrap();
    let start = write_pages(&mut parent, 2048);
    let holders = |parent: &mut AddressSpace<WorldMemory, CountingTlb>| {
        let frames: Vec<Frame> = (0..2048).map(|i| frame_at(parent, start + i * PAGE).unwrap()).collect();
        frames.iter().map(|&frame| world.borrow().frames.refcount(frame).unwrap()).sum()
    };
    let before: u32 = holders(&mut parent);
    tlb.0.set((0, 0));
    let forked = parent.fork(ForkMode::CopyOnWrite, None, WorldMemory(world.clone()), tlb.clone()).unwrap();
    assert_eq!(forked.tables_shared, 4);
    assert_eq!(tlb.0.get(), (0, 1), "no per-page invalidation, one for the ASID");
    assert_eq!(holders(&mut parent), before, "no page gained a holder: the tables hold them");
}

#[test]
fn a_per_page_fork_shares_frames_copy_on_write_and_no_table() {
    let world = World::new(64);
    let (mut parent, start) = written_space(&world, 2);
    let mut child = fork(&mut parent, ForkMode::CopyOnWritePages).unwrap();
    assert!(!child.in_shared_table(Page::containing(VirtAddr::new(start))));
    assert_eq!(frame_at(&mut parent, start), frame_at(&mut child, start));
    assert_eq!(
        child.resolve_fault(start, Access::Write),
        Ok(outcome(PageOutcome::CowCopied { unmerged: false }))
    );
    assert_eq!(
        parent.resolve_fault(start, Access::Write),
        Ok(outcome(PageOutcome::CowReused { unmerged: false }))
    );
    child.write_user(start, &7u64.to_le_bytes()).unwrap();
    assert_eq!((read(&mut parent, start), read(&mut child, start)), (1, 7));
    all_given_back(&world, (parent, child));
}

#[test]
fn an_eager_fork_copies_what_the_child_may_write_and_shares_the_rest() {
    let world = World::new(64);
    let (mut parent, start) = written_space(&world, 2);
    let text = parent.map_anonymous(None, 1, Prot::READ_WRITE).unwrap();
    parent.write_user(text, &[5]).unwrap();
    parent.protect(text, 1, Prot::READ).unwrap();
    let untouched = parent.map_anonymous(None, 1, Prot::READ_WRITE).unwrap();
    parent.resolve_fault(untouched, Access::Read).unwrap();
    let used = world.borrow().used();
    let mut child = fork(&mut parent, ForkMode::EagerCopy).unwrap();
    assert_ne!(frame_at(&mut parent, start), frame_at(&mut child, start));
    assert_eq!(frame_at(&mut parent, text), frame_at(&mut child, text), "a read-only page is shared");
    assert_eq!(frame_at(&mut child, untouched), Some(world.borrow().zero));
    assert_eq!(child.resolve_fault(start, Access::Write), Ok(outcome(PageOutcome::AlreadyResolved)));
    assert_eq!(child.resolve_fault(text, Access::Write), Err(FaultError::Illegal));
    // Two pages copied, and the child's three tables.
    assert_eq!(world.borrow().used(), used + 2 + 3);
    all_given_back(&world, (parent, child));
}

#[test]
fn a_fork_that_runs_out_of_frames_gives_back_everything_it_took_in_every_mode() {
    for mode in [ForkMode::CopyOnWrite, ForkMode::CopyOnWritePages, ForkMode::EagerCopy] {
        let mut refused = 0;
        for leave in 0..12 {
            let world = World::new(64);
            let (mut parent, start) = written_space(&world, 4);
            let used = world.borrow().used();
            let ballast = Ballast::leaving_free(&world, leave);
            match fork(&mut parent, mode) {
                Ok(child) => drop(child),
                Err(error) => {
                    assert_eq!(error, Error::OutOfMemory, "{mode:?}");
                    refused += 1;
                }
            }
            drop(ballast);
            assert_eq!(world.borrow().used(), used, "{mode:?} with {leave} frames free");
            for index in 0..4 {
                assert_eq!(read(&mut parent, start + index * PAGE), index + 1);
            }
            parent.write_user(start, &[9]).unwrap();
        }
        assert!(refused > 0, "{mode:?}: never ran out");
    }
}

#[test]
fn no_frame_for_a_shared_tables_copy_changes_nothing() {
    let world = World::new(64);
    let (mut parent, start) = written_space(&world, 3);
    let mut child = fork(&mut parent, ForkMode::CopyOnWrite).unwrap();
    let page = Page::containing(VirtAddr::new(start));
    let before = (parent.page_counts(), child.page_counts(), world.borrow().used());
    let faults = world.borrow().faults.len();
    {
        let _ballast = Ballast::leaving_free(&world, 0);
        assert_eq!(child.resolve_fault(start, Access::Write), Err(FaultError::OutOfMemory));
        assert_eq!(child.protect(start, 1, Prot::READ), Err(Error::OutOfMemory));
        assert_eq!(child.unmap(start, 1), Err(Error::OutOfMemory));
        assert_eq!(parent.write_user(start, &[0xEE]), Err(Error::OutOfMemory));
    }
    assert_eq!((parent.page_counts(), child.page_counts(), world.borrow().used()), before);
    assert_eq!(world.borrow().faults.len(), faults, "no fault was resolved");
    assert!(child.in_shared_table(page) && parent.in_shared_table(page), "a failed copy unshared");
    assert_eq!((read(&mut parent, start), read(&mut child, start)), (1, 1));
    // With frames back, the same write goes through and stays in the writer.
    child.write_user(start, &42u64.to_le_bytes()).unwrap();
    assert_eq!((read(&mut parent, start), read(&mut child, start)), (1, 42));
    all_given_back(&world, (parent, child));
}

#[test]
fn no_frame_for_a_page_leaves_the_fault_unresolved_and_nothing_held() {
    let world = World::new(64);
    let (mut parent, start) = written_space(&world, 1);
    let mut child = fork(&mut parent, ForkMode::CopyOnWritePages).unwrap();
    let untouched = child.map_anonymous(None, 1, Prot::READ_WRITE).unwrap();
    child.resolve_fault(untouched, Access::Read).unwrap();
    let used = world.borrow().used();
    {
        let _ballast = Ballast::leaving_free(&world, 0);
        assert_eq!(child.resolve_fault(start, Access::Write), Err(FaultError::OutOfMemory), "the copy");
        assert_eq!(child.resolve_fault(untouched, Access::Write), Err(FaultError::OutOfMemory), "the fill");
    }
    assert_eq!(world.borrow().used(), used);
    assert_eq!(frame_at(&mut child, untouched), Some(world.borrow().zero));
    assert_eq!(frame_at(&mut child, start), frame_at(&mut parent, start));
}

#[test]
fn protect_and_unmap_in_a_shared_table_change_only_the_caller() {
    let world = World::new(64);
    let (mut parent, start) = written_space(&world, 3);
    let mut child = fork(&mut parent, ForkMode::CopyOnWrite).unwrap();
    child.protect(start, 1, Prot::NONE).unwrap();
    child.unmap(start + PAGE, 1).unwrap();
    assert_eq!(child.resolve_fault(start, Access::Read), Err(FaultError::Illegal));
    assert_eq!(child.resolve_fault(start + PAGE, Access::Read), Err(FaultError::Illegal));
    assert_eq!((read(&mut parent, start), read(&mut parent, start + PAGE)), (1, 2));
    parent.write_user(start + PAGE, &[8]).unwrap();
    // Accessible again, the child's page still holds what it held, and still shares its frame.
    child.protect(start, 1, Prot::READ_WRITE).unwrap();
    assert_eq!(read(&mut child, start), 1);
    assert_eq!(
        child.resolve_fault(start, Access::Write),
        Ok(outcome(PageOutcome::CowCopied { unmerged: false }))
    );
    all_given_back(&world, (parent, child));
}

#[test]
fn the_kernels_writes_into_user_memory_go_to_the_writer_alone() {
    let world = World::new(64);
    let (mut parent, start) = written_space(&world, 2);
    let mut child = fork(&mut parent, ForkMode::CopyOnWrite).unwrap();
    // Across a page boundary, into pages of a shared table.
    let bytes = [0xAB; 16];
    child.write_user(start + PAGE - 8, &bytes).unwrap();
    assert_eq!(child.read_user(start + PAGE - 8, 16).unwrap(), bytes);
    assert_eq!((read(&mut parent, start), read(&mut parent, start + PAGE)), (1, 2));
    assert_eq!(parent.read_user(start + PAGE - 8, 8).unwrap(), [0; 8]);
}

#[test]
fn untouched_memory_reads_as_zeros_without_being_mapped() {
    let world = World::new(64);
    let mut task = space(&world);
    let start = task.map_anonymous(None, 2, Prot::READ_WRITE).unwrap();
    assert_eq!(task.read_user(start + 100, 2 * PAGE_SIZE - 100).unwrap(), vec![0; 2 * PAGE_SIZE - 100]);
    assert_eq!(task.page_counts().resident, 0);
}

#[test]
fn a_region_that_cannot_be_populated_leaves_nothing_behind() {
    let world = World::new(8);
    let mut task = space(&world);
    let used = world.borrow().used();
    let start = VirtAddr::new(layout::MAP_AREA.start);
    assert_eq!(task.add_region(start, 16, Prot::READ, cowpi_mm::RegionKind::Image), Err(Error::OutOfMemory));
    assert_eq!(world.borrow().used(), used);
    assert!(!task.in_a_region(start.as_u64()));
    task.add_region(start, 2, Prot::READ, cowpi_mm::RegionKind::Image).unwrap();
    assert_eq!(task.page_counts().resident, 2);
}
