//! Tests of the region list: each operation and refusal, splitting, buffer checks at region and user-space
//! boundaries, the region limit, and a property test against a model that records each page's rights,
//! kind and merge mark.

extern crate std;

use std::collections::{BTreeMap, BTreeSet};
use std::format;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;

const PAGE: u64 = PAGE_SIZE as u64;

fn va(addr: u64) -> VirtAddr {
    VirtAddr::new(addr)
}

/// The address of page `number`.
fn at(number: u64) -> VirtAddr {
    va(number * PAGE)
}

fn region(first_page: u64, pages: u64, prot: Prot, kind: RegionKind) -> Region {
    Region::new(at(first_page), (pages * PAGE) as usize, prot, kind).unwrap()
}

fn spans(regions: &Regions) -> Vec<(u64, u64, Prot)> {
    regions.iter().map(|r| (r.start().as_u64() / PAGE, r.end().as_u64() / PAGE, r.prot())).collect()
}

const RWX: Prot = Prot::READ_WRITE.union(Prot::EXEC);

#[test]
fn regions_must_be_aligned_non_empty_user_and_mappable() {
    let kind = RegionKind::Anonymous;
    assert_eq!(Region::new(va(0x1001), 4096, Prot::READ, kind), Err(RegionError::Unaligned));
    assert_eq!(Region::new(va(0x1000), 100, Prot::READ, kind), Err(RegionError::Unaligned));
    assert_eq!(Region::new(va(0x1000), 0, Prot::READ, kind), Err(RegionError::Empty));
    assert_eq!(
        Region::new(VirtAddr::KERNEL_START, 4096, Prot::READ, kind),
        Err(RegionError::OutsideUserSpace)
    );
    let last = va(VirtAddr::USER_END.as_u64() - PAGE);
    assert!(Region::new(last, 4096, Prot::READ, kind).is_ok());
    assert_eq!(Region::new(last, 8192, Prot::READ, kind), Err(RegionError::OutsideUserSpace));
    assert_eq!(
        Region::new(va(0x1000), usize::MAX & !0xfff, Prot::READ, kind),
        Err(RegionError::OutsideUserSpace)
    );
    assert_eq!(Region::new(va(0x1000), 4096, RWX, kind), Err(RegionError::UnsupportedProt(RWX)));
    let write_only = Prot::WRITE;
    assert_eq!(
        Region::new(va(0x1000), 4096, write_only, kind),
        Err(RegionError::UnsupportedProt(write_only))
    );
    // A guard region has no rights at all.
    assert!(Region::new(va(0x1000), 4096, Prot::NONE, RegionKind::Stack).is_ok());
}

#[test]
fn insert_refuses_overlaps_and_accepts_neighbours() {
    let mut regions = Regions::new();
    let middle = region(10, 5, Prot::READ, RegionKind::Image);
    regions.insert(middle).unwrap();
    for (first, pages) in [(8, 3), (14, 1), (12, 1), (5, 20), (10, 5)] {
        let attempt = region(first, pages, Prot::READ_WRITE, RegionKind::Anonymous);
        assert_eq!(regions.insert(attempt), Err(RegionError::Overlaps(middle)), "{attempt}");
    }
    regions.insert(region(5, 5, Prot::READ_WRITE, RegionKind::Anonymous)).unwrap();
    regions.insert(region(15, 1, Prot::NONE, RegionKind::Stack)).unwrap();
    assert_eq!(spans(&regions), [(5, 10, Prot::READ_WRITE), (10, 15, Prot::READ), (15, 16, Prot::NONE)]);
}

#[test]
fn find_looks_up_the_containing_region() {
    let mut regions = Regions::new();
    let image = region(16, 4, Prot::READ_EXEC, RegionKind::Image);
    regions.insert(image).unwrap();
    assert_eq!(regions.find(at(16)), Some(&image));
    assert_eq!(regions.find(va(20 * PAGE - 1)), Some(&image));
    assert_eq!(regions.find(at(20)), None);
    assert_eq!(regions.find(va(16 * PAGE - 1)), None);
    assert_eq!(regions.find(VirtAddr::KERNEL_START), None);
}

#[test]
fn remove_splits_what_it_cuts_and_returns_what_it_removed() {
    let mut regions = Regions::new();
    regions.insert(region(0, 10, Prot::READ_WRITE, RegionKind::Anonymous)).unwrap();
    regions.insert(region(20, 10, Prot::READ, RegionKind::Image)).unwrap();
    let removed = regions.remove(at(5)..at(25)).unwrap();
    assert_eq!(
        removed,
        [region(5, 5, Prot::READ_WRITE, RegionKind::Anonymous), region(20, 5, Prot::READ, RegionKind::Image)]
    );
    assert_eq!(spans(&regions), [(0, 5, Prot::READ_WRITE), (25, 30, Prot::READ)]);
    // From the middle of one region: two pieces remain.
    let removed = regions.remove(at(1)..at(2)).unwrap();
    assert_eq!(removed, [region(1, 1, Prot::READ_WRITE, RegionKind::Anonymous)]);
    assert_eq!(spans(&regions), [(0, 1, Prot::READ_WRITE), (2, 5, Prot::READ_WRITE), (25, 30, Prot::READ)]);
    // Nothing there, or an empty range: nothing removed.
    assert_eq!(regions.remove(at(10)..at(20)), Ok(Vec::new()));
    assert_eq!(regions.remove(at(3)..at(3)), Ok(Vec::new()));
    assert_eq!(regions.remove(va(0x1001)..at(4)), Err(RegionError::Unaligned));
    assert_eq!(regions.remove(at(4)..at(3)), Err(RegionError::OutsideUserSpace));
    assert_eq!(
        regions.remove(at(0)..va(VirtAddr::USER_END.as_u64() + PAGE)),
        Err(RegionError::OutsideUserSpace)
    );
    assert_eq!(regions.len(), 3);
    regions.remove(at(0)..VirtAddr::USER_END).unwrap();
    assert!(regions.is_empty());
}

#[test]
fn protect_splits_and_refuses_holes() {
    let mut regions = Regions::new();
    regions.insert(region(0, 4, Prot::READ_WRITE, RegionKind::Anonymous)).unwrap();
    regions.insert(region(4, 4, Prot::READ_WRITE, RegionKind::Stack)).unwrap();
    regions.insert(region(10, 2, Prot::READ_WRITE, RegionKind::Anonymous)).unwrap();
    regions.protect(at(2)..at(6), Prot::READ).unwrap();
    assert_eq!(
        spans(&regions),
        [
            (0, 2, Prot::READ_WRITE),
            (2, 4, Prot::READ),
            (4, 6, Prot::READ),
            (6, 8, Prot::READ_WRITE),
            (10, 12, Prot::READ_WRITE)
        ]
    );
    assert_eq!(regions.find(at(5)).unwrap().kind(), RegionKind::Stack);
    let before = regions.clone();
    assert_eq!(regions.protect(at(6)..at(11), Prot::READ), Err(RegionError::NotMapped { addr: at(8) }));
    assert_eq!(regions.protect(at(0)..at(1), RWX), Err(RegionError::UnsupportedProt(RWX)));
    // An empty range is covered trivially, and splits nothing.
    assert_eq!(regions.protect(at(1)..at(1), Prot::READ), Ok(()));
    assert_eq!(regions.protect(at(9)..at(9), Prot::READ), Ok(()));
    assert_eq!(regions, before);
}

#[test]
fn find_free_takes_the_lowest_gap_that_fits() {
    let mut regions = Regions::new();
    regions.insert(region(2, 2, Prot::READ, RegionKind::Image)).unwrap();
    regions.insert(region(5, 1, Prot::READ, RegionKind::Image)).unwrap();
    regions.insert(region(9, 1, Prot::READ, RegionKind::Image)).unwrap();
    let all = at(0)..at(12);
    assert_eq!(regions.find_free(PAGE_SIZE, all.clone()), Some(at(0)));
    assert_eq!(regions.find_free(2 * PAGE_SIZE, all.clone()), Some(at(0)));
    assert_eq!(regions.find_free(3 * PAGE_SIZE, all.clone()), Some(at(6)));
    // A partial page counts as a whole one.
    assert_eq!(regions.find_free(2 * PAGE_SIZE + 1, all.clone()), Some(at(6)));
    assert_eq!(regions.find_free(4 * PAGE_SIZE, all.clone()), None);
    // Starting inside a region.
    assert_eq!(regions.find_free(PAGE_SIZE, at(3)..at(12)), Some(at(4)));
    // An unaligned window shrinks to whole pages.
    assert_eq!(regions.find_free(PAGE_SIZE, va(0x1)..at(2)), Some(at(1)));
    assert_eq!(regions.find_free(2 * PAGE_SIZE, va(0x1)..at(2)), None);
    assert_eq!(regions.find_free(0, all.clone()), None);
    assert_eq!(regions.find_free(usize::MAX, all), None);
    assert_eq!(regions.find_free(PAGE_SIZE, at(5)..at(5)), None);
    // The top of user space, but not past it.
    let top = va(VirtAddr::USER_END.as_u64() - PAGE);
    assert_eq!(regions.find_free(PAGE_SIZE, top..VirtAddr::new(u64::MAX)), Some(top));
    assert_eq!(regions.find_free(2 * PAGE_SIZE, top..VirtAddr::new(u64::MAX)), None);
}

#[test]
fn check_access_tells_legal_faults_from_bad_ones() {
    let mut regions = Regions::new();
    let code = region(1, 1, Prot::READ_EXEC, RegionKind::Image);
    let data = region(2, 1, Prot::READ_WRITE, RegionKind::Anonymous);
    regions.insert(code).unwrap();
    regions.insert(data).unwrap();
    regions.insert(region(3, 1, Prot::NONE, RegionKind::Stack)).unwrap();
    assert_eq!(regions.check_access(at(1), Access::Execute), Ok(&code));
    assert_eq!(regions.check_access(at(2), Access::Write), Ok(&data));
    assert_eq!(
        regions.check_access(at(1), Access::Write),
        Err(Fault::AccessDenied { addr: at(1), access: Access::Write })
    );
    assert_eq!(
        regions.check_access(at(2), Access::Execute),
        Err(Fault::AccessDenied { addr: at(2), access: Access::Execute })
    );
    assert_eq!(
        regions.check_access(at(3), Access::Read),
        Err(Fault::AccessDenied { addr: at(3), access: Access::Read })
    );
    assert_eq!(regions.check_access(at(9), Access::Read), Err(Fault::Unmapped(at(9))));
    assert_eq!(
        regions.check_access(VirtAddr::KERNEL_START, Access::Read),
        Err(Fault::NotUserAddress(VirtAddr::KERNEL_START))
    );
}

#[test]
fn user_buffers_must_be_covered_completely() {
    let mut regions = Regions::new();
    regions.insert(region(1, 1, Prot::READ, RegionKind::Image)).unwrap();
    regions.insert(region(2, 2, Prot::READ_WRITE, RegionKind::Anonymous)).unwrap();
    regions.insert(region(5, 1, Prot::READ_WRITE, RegionKind::Anonymous)).unwrap();
    // Spanning two regions is fine when both allow the access.
    assert_eq!(regions.check_user_buffer(va(0x1800), 0x1000, false), Ok(()));
    // Writing needs every byte writable: the first byte of the buffer is read-only.
    assert_eq!(
        regions.check_user_buffer(va(0x1fff), 2, true),
        Err(Fault::AccessDenied { addr: va(0x1fff), access: Access::Write })
    );
    assert_eq!(regions.check_user_buffer(va(0x2000), 0x2000, true), Ok(()));
    // One byte too many runs into the hole at page 4.
    assert_eq!(regions.check_user_buffer(va(0x2000), 0x2001, true), Err(Fault::Unmapped(at(4))));
    assert_eq!(regions.check_user_buffer(va(0x3fff), 0x1002, false), Err(Fault::Unmapped(at(4))));
    // An empty buffer touches nothing, wherever it is.
    assert_eq!(regions.check_user_buffer(VirtAddr::KERNEL_START, 0, true), Ok(()));
    assert_eq!(regions.check_user_buffer(va(u64::MAX), 1, false), Err(Fault::NotUserAddress(va(u64::MAX))));
    assert_eq!(regions.check_user_buffer(va(0x1000), usize::MAX, false), Err(Fault::LengthOverflow));
    assert_eq!(regions.check_user_buffer(va(u64::MAX), 2, false), Err(Fault::NotUserAddress(va(u64::MAX))));
}

#[test]
fn a_buffer_may_not_run_off_the_top_of_user_space() {
    let mut regions = Regions::new();
    let top = va(VirtAddr::USER_END.as_u64() - PAGE);
    regions.insert(Region::new(top, PAGE_SIZE, Prot::READ_WRITE, RegionKind::Stack).unwrap()).unwrap();
    assert_eq!(regions.check_user_buffer(top, PAGE_SIZE, true), Ok(()));
    assert_eq!(
        regions.check_user_buffer(top, PAGE_SIZE + 1, true),
        Err(Fault::NotUserAddress(VirtAddr::USER_END))
    );
}

#[test]
fn errors_and_regions_print() {
    let image = region(1, 2, Prot::READ_EXEC, RegionKind::Image);
    assert_eq!(format!("{image}"), "0x1000..0x3000 r-x Image");
    assert_eq!(format!("{}", RegionError::Overlaps(image)), "overlaps 0x1000..0x3000 r-x Image");
    assert_eq!(
        format!("{}", Fault::AccessDenied { addr: va(0x1000), access: Access::Write }),
        "Write access to 0x1000 not allowed"
    );
}

// The property test: ranges are chosen in two windows of 64 pages, one at the bottom of user space and
// one at the top, so that the edge of user space is exercised too.

const WINDOW_PAGES: u64 = 64;
const WINDOWS: [u64; 2] = [0, (1 << 27) - WINDOW_PAGES];

#[derive(Debug, Clone)]
enum Op {
    Insert { first: u64, pages: u64, prot: Prot, kind: RegionKind },
    Remove { first: u64, pages: u64 },
    Protect { first: u64, pages: u64, prot: Prot },
    SetMergeable { first: u64, pages: u64 },
    CheckBuffer { start: u64, len: usize, needs_write: bool },
    FindFree { window: u64, pages: u64 },
}

fn prot() -> impl Strategy<Value = Prot> {
    prop_oneof![Just(Prot::NONE), Just(Prot::READ), Just(Prot::READ_WRITE), Just(Prot::READ_EXEC), Just(RWX)]
}

fn kind() -> impl Strategy<Value = RegionKind> {
    prop_oneof![Just(RegionKind::Image), Just(RegionKind::Stack), Just(RegionKind::Anonymous)]
}

/// A page range inside one window: (first page, page count), possibly empty.
fn pages_in_window() -> impl Strategy<Value = (u64, u64)> {
    (prop::sample::select(WINDOWS.to_vec()), 0..WINDOW_PAGES, 0..16u64)
        .prop_map(|(window, offset, pages)| (window + offset, pages.min(WINDOW_PAGES - offset)))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (pages_in_window(), prot(), kind())
            .prop_map(|((first, pages), prot, kind)| Op::Insert { first, pages, prot, kind }),
        1 => pages_in_window().prop_map(|(first, pages)| Op::Remove { first, pages }),
        1 => (pages_in_window(), prot()).prop_map(|((first, pages), prot)| Op::Protect { first, pages, prot }),
        1 => pages_in_window().prop_map(|(first, pages)| Op::SetMergeable { first, pages }),
        2 => (prop::sample::select(WINDOWS.to_vec()), 0..WINDOW_PAGES * PAGE, 0..0x6000usize, any::<bool>())
            .prop_map(|(window, offset, len, needs_write)| Op::CheckBuffer {
                start: window * PAGE + offset, len, needs_write
            }),
        1 => (prop::sample::select(WINDOWS.to_vec()), 1..8u64).prop_map(|(window, pages)| Op::FindFree { window, pages }),
    ]
}

/// The model: each page's rights and kind.
type Model = BTreeMap<u64, (Prot, RegionKind)>;

fn mappable(prot: Prot) -> bool {
    prot != RWX
}

fn model_check_buffer(model: &Model, start: u64, len: usize, needs_write: bool) -> Result<(), Fault> {
    if len == 0 {
        return Ok(());
    }
    if start >= VirtAddr::USER_END.as_u64() {
        return Err(Fault::NotUserAddress(va(start)));
    }
    let end = start.checked_add(len as u64).ok_or(Fault::LengthOverflow)?;
    let access = if needs_write { Access::Write } else { Access::Read };
    let mut addr = start;
    while addr < end {
        if addr >= VirtAddr::USER_END.as_u64() {
            return Err(Fault::NotUserAddress(va(addr)));
        }
        match model.get(&(addr / PAGE)) {
            None => return Err(Fault::Unmapped(va(addr))),
            Some(&(prot, _)) if !access.allowed_by(prot) => {
                return Err(Fault::AccessDenied { addr: va(addr), access });
            }
            Some(_) => addr = (addr / PAGE + 1) * PAGE,
        }
    }
    Ok(())
}

fn check_against_model(
    regions: &Regions,
    model: &Model,
    mergeable: &BTreeSet<u64>,
) -> Result<(), TestCaseError> {
    // The list itself: ordered, apart, aligned, non-empty, in user space.
    let mut previous_end = va(0);
    for region in regions.iter() {
        prop_assert!(region.start() >= previous_end && region.len() > 0);
        prop_assert!(region.start().is_page_aligned() && region.len() % PAGE_SIZE == 0);
        prop_assert!(region.end() <= VirtAddr::USER_END);
        previous_end = region.end();
    }
    let pages: usize = regions.iter().map(|region| region.len() / PAGE_SIZE).sum();
    prop_assert_eq!(pages, model.len());
    for window in WINDOWS {
        for page in window..window + WINDOW_PAGES {
            let found = regions.find(va(page * PAGE + 0x123));
            let found_rights = found.map(|region| (region.prot(), region.kind()));
            prop_assert_eq!(found_rights, model.get(&page).copied(), "page {:#x}", page);
            prop_assert_eq!(
                found.is_some_and(Region::is_mergeable),
                mergeable.contains(&page),
                "page {:#x}",
                page
            );
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn random_operations_match_a_map_of_pages(ops in proptest::collection::vec(op(), 0..100)) {
        let mut regions = Regions::new();
        let mut model = Model::new();
        let mut mergeable = BTreeSet::new();
        for op in ops {
            match op {
                Op::Insert { first, pages, prot, kind } => {
                    let result = Region::new(at(first), (pages * PAGE) as usize, prot, kind)
                        .and_then(|region| regions.insert(region));
                    let range = first..first + pages;
                    if pages == 0 {
                        prop_assert_eq!(result, Err(RegionError::Empty));
                    } else if !mappable(prot) {
                        prop_assert_eq!(result, Err(RegionError::UnsupportedProt(prot)));
                    } else if range.clone().any(|page| model.contains_key(&page)) {
                        prop_assert!(matches!(result, Err(RegionError::Overlaps(_))), "{:?}", result);
                    } else {
                        prop_assert_eq!(result, Ok(()));
                        model.extend(range.map(|page| (page, (prot, kind))));
                    }
                }
                Op::Remove { first, pages } => {
                    let removed = regions.remove(at(first)..at(first + pages)).unwrap();
                    let removed_pages: usize = removed.iter().map(|region| region.len() / PAGE_SIZE).sum();
                    let before = model.len();
                    model.retain(|page, _| !(first..first + pages).contains(page));
                    mergeable.retain(|page| !(first..first + pages).contains(page));
                    prop_assert_eq!(removed_pages, before - model.len());
                }
                Op::Protect { first, pages, prot } => {
                    let result = regions.protect(at(first)..at(first + pages), prot);
                    let hole = (first..first + pages).find(|page| !model.contains_key(page));
                    if !mappable(prot) {
                        prop_assert_eq!(result, Err(RegionError::UnsupportedProt(prot)));
                    } else if let Some(hole) = hole {
                        prop_assert_eq!(result, Err(RegionError::NotMapped { addr: at(hole) }));
                    } else {
                        prop_assert_eq!(result, Ok(()));
                        for page in first..first + pages {
                            model.get_mut(&page).unwrap().0 = prot;
                        }
                    }
                }
                Op::SetMergeable { first, pages } => {
                    let result = regions.set_mergeable(at(first)..at(first + pages));
                    let refusal = (first..first + pages).find_map(|page| match model.get(&page) {
                        None => Some(RegionError::NotMapped { addr: at(page) }),
                        Some((_, kind)) if *kind == RegionKind::Image => {
                            Some(RegionError::NotAnonymous { addr: at(page) })
                        }
                        Some(_) => None,
                    });
                    match refusal {
                        Some(error) => prop_assert_eq!(result, Err(error)),
                        None => {
                            prop_assert_eq!(result, Ok(()));
                            mergeable.extend(first..first + pages);
                        }
                    }
                }
                Op::CheckBuffer { start, len, needs_write } => {
                    prop_assert_eq!(
                        regions.check_user_buffer(va(start), len, needs_write),
                        model_check_buffer(&model, start, len, needs_write)
                    );
                }
                Op::FindFree { window, pages } => {
                    let expected = (window..=window + WINDOW_PAGES - pages)
                        .find(|&first| (first..first + pages).all(|page| !model.contains_key(&page)))
                        .map(at);
                    let within = at(window)..at(window + WINDOW_PAGES);
                    prop_assert_eq!(regions.find_free((pages * PAGE) as usize, within), expected);
                }
            }
            check_against_model(&regions, &model, &mergeable)?;
        }
    }
}

/// One page every other page from `first`: `count` regions that cannot touch.
fn spaced_regions(count: u64) -> Regions {
    let mut regions = Regions::new();
    for index in 0..count {
        regions.insert(region(2 * index, 1, Prot::READ_WRITE, RegionKind::Anonymous)).unwrap();
    }
    regions
}

#[test]
fn no_operation_passes_the_region_limit() {
    let limit = Regions::LIMIT as u64;
    let mut regions = spaced_regions(limit);
    let before = regions.clone();
    // A new region, and splits: at one end, at both, in the middle of a removal.
    let new = region(2 * limit, 1, Prot::READ, RegionKind::Anonymous);
    assert_eq!(regions.insert(new), Err(RegionError::TooMany));
    let mut big = spaced_regions(limit - 1);
    big.insert(region(2 * limit, 4, Prot::READ_WRITE, RegionKind::Anonymous)).unwrap();
    let big_before = big.clone();
    assert_eq!(big.protect(at(2 * limit + 1)..at(2 * limit + 4), Prot::READ), Err(RegionError::TooMany));
    assert_eq!(big.set_mergeable(at(2 * limit + 1)..at(2 * limit + 2)), Err(RegionError::TooMany));
    assert_eq!(big.remove(at(2 * limit + 1)..at(2 * limit + 2)), Err(RegionError::TooMany));
    assert_eq!((&regions, &big), (&before, &big_before), "a refusal changed the list");
    // What leaves the count as it is or lowers it still works at the limit.
    assert_eq!(big.protect(at(2 * limit)..at(2 * limit + 4), Prot::READ), Ok(()));
    assert_eq!(big.remove(at(2 * limit + 3)..at(2 * limit + 4)).map(|removed| removed.len()), Ok(1));
    assert_eq!(big.remove(at(0)..at(1)).map(|removed| removed.len()), Ok(1));
    assert_eq!(big.protect(at(2 * limit + 1)..at(2 * limit + 3), Prot::READ_WRITE), Ok(()));
    assert_eq!(big.len(), Regions::LIMIT);
    assert_eq!(regions.remove(at(0)..at(2 * limit)).map(|removed| removed.len()), Ok(Regions::LIMIT));
    assert!(regions.is_empty());
}

#[test]
fn mergeable_goes_with_its_region() {
    let mut regions = Regions::new();
    regions.insert(region(0, 8, Prot::READ_WRITE, RegionKind::Anonymous)).unwrap();
    regions.insert(region(8, 1, Prot::READ, RegionKind::Image)).unwrap();
    assert_eq!(regions.set_mergeable(at(0)..at(9)), Err(RegionError::NotAnonymous { addr: at(8) }));
    assert_eq!(regions.set_mergeable(at(2)..at(4)), Ok(()));
    // Marking it again changes nothing: no new region.
    assert_eq!(regions.set_mergeable(at(2)..at(4)), Ok(()));
    assert_eq!(regions.len(), 4);
    let marked: Vec<bool> = (0..9).map(|page| regions.find(at(page)).unwrap().is_mergeable()).collect();
    assert_eq!(marked, [false, false, true, true, false, false, false, false, false]);
    regions.remove(at(0)..at(8)).unwrap();
    regions.insert(region(0, 8, Prot::READ_WRITE, RegionKind::Anonymous)).unwrap();
    assert!(!regions.find(at(2)).unwrap().is_mergeable(), "a new mapping inherited an old mark");
}
