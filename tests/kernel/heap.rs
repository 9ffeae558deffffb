//! The kernel heap.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::memory::heap;
use crate::{check, check_eq, kernel_test};

kernel_test! {
    fn heap_allocations_come_back() -> TestResult {
        let before = heap::stats();
        {
            let boxed = Box::new([7u64; 64]);
            let mut numbers: Vec<u32> = (0..10_000).collect();
            numbers.reverse();
            check_eq!(boxed[63], 7);
            check_eq!(numbers[0], 9_999);
            let big = alloc::vec![0u8; 1 << 20];
            check!(big.iter().all(|&b| b == 0));
            check!(heap::stats().requested > before.requested);
        }
        check_eq!(heap::stats().requested, before.requested);
        Ok(())
    }
}
