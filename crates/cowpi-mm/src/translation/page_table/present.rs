//! Which entries of a table are valid, found in one tight pass: what every walk over whole tables (fork,
//! teardown, the copy of a shared table, the audit's visits) iterates instead of all 512 indices.
//!
//! Most entries of most tables are invalid: an empty task's level-1 table has two or three valid entries
//! out of 512, and its level-2 tables as few. Asking for each index through [`TableMemory::entries`] and
//! decoding it cost about 27 instructions an entry, which made fork and exit of an empty task cost over
//! 50 000 instructions each; a scan of the raw descriptors costs a few per entry. The result is a bitmap,
//! not a borrow of the table, so that the walk may change this and other tables while it visits.

use crate::addr::Frame;
use crate::translation::descriptor::INVALID;
use crate::translation::{Level, TableMemory};

/// The valid entries of one table when it was scanned, visited in index order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Present {
    bits: [u64; Level::ENTRIES / 64],
    /// The word of `bits` being visited.
    word: usize,
}

impl Present {
    /// The valid entries of `table` now.
    pub fn of<M: TableMemory>(memory: &mut M, table: Frame) -> Present {
        let entries = memory.entries(table);
        let mut bits = [0; Level::ENTRIES / 64];
        for (word, chunk) in bits.iter_mut().zip(entries.chunks_exact(64)) {
            *word = chunk
                .iter()
                .enumerate()
                .fold(0, |word, (bit, &descriptor)| word | (u64::from(descriptor != INVALID) << bit));
        }
        Present { bits, word: 0 }
    }

    /// How many entries were valid.
    pub fn count(&self) -> usize {
        self.bits[self.word..].iter().map(|word| word.count_ones() as usize).sum()
    }
}

impl Iterator for Present {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while let Some(&word) = self.bits.get(self.word) {
            if word != 0 {
                let bit = word.trailing_zeros() as usize;
                self.bits[self.word] = word & (word - 1);
                return Some(self.word * 64 + bit);
            }
            self.word += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;
    use crate::frame_table::OutOfFrames;

    struct OneTable([u64; Level::ENTRIES]);

    impl TableMemory for OneTable {
        fn alloc_table(&mut self) -> Result<Frame, OutOfFrames> {
            Err(OutOfFrames)
        }
        fn free_table(&mut self, _: Frame) {}
        fn entries(&mut self, _: Frame) -> &mut [u64; Level::ENTRIES] {
            &mut self.0
        }
    }

    #[test]
    fn present_visits_exactly_the_valid_entries_in_order() {
        let mut memory = OneTable([INVALID; Level::ENTRIES]);
        let valid = [0, 1, 63, 64, 200, 447, 448, 511];
        for index in valid {
            memory.0[index] = 0x3 | (index as u64) << 12;
        }
        let present = Present::of(&mut memory, Frame::from_number(1));
        assert_eq!(present.count(), valid.len());
        assert_eq!(present.collect::<Vec<_>>(), valid);
        // A later change does not move a scan already made.
        let mut scan = Present::of(&mut memory, Frame::from_number(1));
        memory.0[5] = 0x3;
        assert_eq!(scan.next(), Some(0));
        assert_eq!(scan.count(), valid.len() - 1);
        assert_eq!(Present::of(&mut memory, Frame::from_number(1)).count(), valid.len() + 1);
    }

    #[test]
    fn an_empty_table_has_nothing_present() {
        let mut memory = OneTable([INVALID; Level::ENTRIES]);
        assert_eq!(Present::of(&mut memory, Frame::from_number(1)).next(), None);
    }
}
