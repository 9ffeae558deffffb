//! Address space identifiers: which task a TLB entry belongs to, handed out in generations.
//!
//! User translations are not global (nG = 1), so each TLB entry carries the ASID that was in `TTBR0_EL1`
//! when it was filled. Giving every address space its own ASID lets the kernel switch tasks without
//! flushing the TLB: the old task's entries stay, but no longer match. There are only 255 or 65535 ASIDs
//! (8 or 16 bits, `ID_AA64MMFR0_EL1.ASIDBits`; ASID 0 is the kernel's, used when no user space is
//! loaded), while tasks come and go without bound, so ASIDs are recycled in *generations*, the way Linux
//! does on arm64 (`arch/arm64/mm/context.c`):
//!
//! - A task remembers the ASID it was given together with the generation it was given in
//!   ([`TaggedAsid`]). While that generation is current, the ASID is the task's alone and it keeps it.
//! - ASIDs are never given back within a generation, not even when a task exits: the TLB may still hold
//!   the dead task's entries, and only a flush makes the number safe to reuse.
//! - When none is left, the generation is bumped, every ASID becomes free, and every TLB must be flushed
//!   (`TLBI VMALLE1IS`) before the task being switched to runs: [`Assignment::flush_all`]. Every other
//!   task's tag is now stale, so each gets a fresh ASID on its next switch (its old number if still free).
//!
//! This allocator serves one core, which is what cowpi runs tasks on today: when it rolls over, the task
//! being switched out is the only one that was running. With several cores, the ASIDs running on the
//! other cores must survive the rollover (Linux's "reserved" ASIDs) and each core must flush before its
//! next switch; that is for SMP bring-up to add.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

/// An address space identifier, as written into `TTBR0_EL1` bits `[63:48]` and TLBI operands.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Asid(u16);

impl Asid {
    /// The kernel's ASID, never given to a task: in `TTBR0_EL1` whenever no user address space is loaded.
    pub const KERNEL: Asid = Asid(0);

    pub const fn new(value: u16) -> Asid {
        Asid(value)
    }

    pub const fn as_u16(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Asid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ASID {}", self.0)
    }
}

impl fmt::Debug for Asid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Asid({})", self.0)
    }
}

/// How wide the CPU's ASIDs are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsidBits {
    /// 8 bits: 255 ASIDs for tasks.
    Eight,
    /// 16 bits, if the CPU has them and `TCR_EL1.AS` = 1: 65535 ASIDs for tasks.
    Sixteen,
}

impl AsidBits {
    /// The width that the `ASIDBits` field (bits `[7:4]`) of `ID_AA64MMFR0_EL1` reports, or `None` for a
    /// reserved value.
    pub const fn from_id_aa64mmfr0_asid_bits(field: u64) -> Option<AsidBits> {
        match field {
            0b0000 => Some(AsidBits::Eight),
            0b0010 => Some(AsidBits::Sixteen),
            _ => None,
        }
    }

    /// How many ASID values there are, ASID 0 included.
    pub const fn values(self) -> usize {
        match self {
            AsidBits::Eight => 1 << 8,
            AsidBits::Sixteen => 1 << 16,
        }
    }
}

/// A generation of ASIDs: the span between two TLB-wide flushes. The first is 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Generation(u64);

impl Generation {
    pub const fn number(self) -> u64 {
        self.0
    }
}

/// An ASID together with the generation it was given in: what a task keeps between switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaggedAsid {
    pub asid: Asid,
    pub generation: Generation,
}

/// What [`AsidAllocator::assign`] decided for the task being switched to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the task must keep its ASID, and a rollover needs a TLB flush"]
pub struct Assignment {
    /// The ASID to run the task with.
    pub asid: Asid,
    pub generation: Generation,
    /// The generation rolled over: flush every TLB entry of every ASID (`TLBI VMALLE1IS; DSB ISH; ISB`)
    /// before the task runs, so nothing of the previous generation can match the recycled ASIDs.
    pub flush_all: bool,
}

impl Assignment {
    /// What the task keeps for its next switch.
    pub const fn tagged(self) -> TaggedAsid {
        TaggedAsid { asid: self.asid, generation: self.generation }
    }
}

/// The ASIDs of one core, recycled in generations (see the module documentation).
pub struct AsidAllocator {
    bits: AsidBits,
    generation: Generation,
    /// One bit per ASID: given out in the current generation. ASID 0 is always marked.
    given: Vec<u64>,
    /// The lowest ASID that may be free: every ASID below it has been given out this generation.
    next: usize,
    /// ASIDs given out this generation (not counting ASID 0).
    given_count: usize,
}

impl AsidAllocator {
    pub fn new(bits: AsidBits) -> AsidAllocator {
        let mut allocator = AsidAllocator {
            bits,
            generation: Generation(1),
            given: vec![0; bits.values() / 64],
            next: 1,
            given_count: 0,
        };
        allocator.given[0] = 1;
        allocator
    }

    /// ASIDs available to tasks in each generation.
    pub fn capacity(&self) -> usize {
        self.bits.values() - 1
    }

    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// ASIDs given out in the current generation.
    pub fn given_count(&self) -> usize {
        self.given_count
    }

    /// The ASID to switch to a task with, given what it kept from its last switch (`None` if it never
    /// ran). The task must keep [`Assignment::tagged`] in place of what it had, and the caller must flush
    /// every TLB if [`Assignment::flush_all`] says so.
    pub fn assign(&mut self, current: Option<TaggedAsid>) -> Assignment {
        if let Some(tagged) = current {
            if tagged.generation == self.generation {
                return Assignment { asid: tagged.asid, generation: self.generation, flush_all: false };
            }
            // A stale tag: keep the number if nobody has taken it in this generation, so that a task's
            // ASID changes only when it must.
            if self.take(usize::from(tagged.asid.0)) {
                return self.assignment(tagged.asid.0, false);
            }
        }
        if let Some(asid) = self.take_next() {
            return self.assignment(asid, false);
        }
        self.roll_over();
        let asid = match current {
            Some(tagged) if self.take(usize::from(tagged.asid.0)) => tagged.asid.0,
            _ => self.take_next().expect("a new generation has every ASID free"),
        };
        self.assignment(asid, true)
    }

    fn assignment(&self, asid: u16, flush_all: bool) -> Assignment {
        Assignment { asid: Asid(asid), generation: self.generation, flush_all }
    }

    /// Marks `asid` given, if it is a task ASID and still free.
    fn take(&mut self, asid: usize) -> bool {
        let (word, bit) = (asid / 64, 1 << (asid % 64));
        match self.given.get_mut(word) {
            Some(bits) if *bits & bit == 0 => {
                *bits |= bit;
                self.given_count += 1;
                true
            }
            _ => false,
        }
    }

    /// Gives out the lowest free ASID, if there is one.
    fn take_next(&mut self) -> Option<u16> {
        while self.next < self.bits.values() {
            let asid = self.next;
            self.next += 1;
            if self.take(asid) {
                // Lossless: below `values()`, at most 2^16.
                return Some(asid as u16);
            }
        }
        None
    }

    fn roll_over(&mut self) {
        self.generation = Generation(self.generation.0 + 1);
        self.given.fill(0);
        self.given[0] = 1;
        self.next = 1;
        self.given_count = 0;
    }
}

impl fmt::Debug for AsidAllocator {
    /// The width, generation and use: the bitmap is too long to print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsidAllocator")
            .field("bits", &self.bits)
            .field("generation", &self.generation)
            .field("given", &self.given_count)
            .finish()
    }
}

/// The ASID one address space runs with, kept beside it rather than under its lock: the context switch
/// gives a space a current-generation ASID ([`SpaceAsid::assign`]) even while the space's own task is
/// preempted in the middle of a change to it (a fork, a teardown), and that change's TLB maintenance
/// reads the ASID at each invalidation ([`SpaceAsid::current`]), so it never tags one that a rollover
/// has replaced. `None` until the space first runs.
///
/// One word, generation above the ASID's 16 bits; 0 is "never ran" (ASID 0 is never a task's).
#[derive(Debug, Default)]
pub struct SpaceAsid(AtomicU64);

impl SpaceAsid {
    pub const fn new() -> SpaceAsid {
        SpaceAsid(AtomicU64::new(0))
    }

    fn tagged(&self) -> Option<TaggedAsid> {
        let bits = self.0.load(Ordering::Relaxed);
        (bits != 0).then_some(TaggedAsid { asid: Asid(bits as u16), generation: Generation(bits >> 16) })
    }

    /// The ASID the space last ran with.
    pub fn current(&self) -> Option<Asid> {
        self.tagged().map(|tagged| tagged.asid)
    }

    /// Gives the space a current-generation ASID from `allocator` (its own while still current) for the
    /// switch to it; the caller honours [`Assignment::flush_all`].
    pub fn assign(&self, allocator: &mut AsidAllocator) -> Assignment {
        let assignment = allocator.assign(self.tagged());
        let tagged = assignment.tagged();
        self.0.store((tagged.generation.0 << 16) | u64::from(tagged.asid.0), Ordering::Relaxed);
        assignment
    }
}

#[cfg(test)]
mod tests;
