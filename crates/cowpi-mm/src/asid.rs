//! Address space identifiers: which address space a TLB entry belongs to, handed out in generations.
//!
//! User translations are not global (nG = 1), so each TLB entry carries the ASID that was in `TTBR0_EL1`
//! when it was filled. Giving every address space its own ASID lets the kernel switch tasks without
//! flushing the TLB: the old task's entries stay, but no longer match. There are only 255 or 65535 ASIDs
//! (8 or 16 bits, `ID_AA64MMFR0_EL1.ASIDBits`; ASID 0 is the kernel's, used when no user space is
//! loaded), while address spaces come and go without bound, so ASIDs are recycled in *generations*, the
//! way Linux does on arm64 (`arch/arm64/mm/context.c`). One [`AsidAllocator`] serves every core, behind
//! one lock; each core calls it for itself at each context switch.
//!
//! - A space remembers the ASID it was given together with the generation it was given in
//!   ([`TaggedAsid`]). While that generation is current, the ASID is the space's alone and it keeps it.
//! - ASIDs are never given back within a generation, not even when a space is destroyed: some TLB may
//!   still hold its entries, and only a flush makes the number safe to reuse.
//! - When none is left, the allocator *rolls over*: the generation is bumped and every ASID becomes free,
//!   except the ones the cores are running at that moment. Those are *reserved*: a core goes on running
//!   its space after another core rolled over, so no other space may take that number. A space whose
//!   stale tag is reserved keeps its number in the new generation; any other space gets its old number
//!   if still free, else the lowest free one.
//! - Every core must flush its own TLB before it next runs a user space ([`Assignment::flush_local`]):
//!   its TLB may hold entries of any number it ran in earlier generations, and those numbers are being
//!   handed to other spaces.
//!
//! # Why a local flush on each core is enough
//!
//! The danger is a core running space B with ASID *a* while its TLB still holds an entry that space A
//! left there under *a*: the core would translate B's addresses through A's tables. Within a generation
//! that cannot happen, as no two spaces get the same number. Across a rollover:
//!
//! - A core that flushed after the rollover holds only entries filled since, under numbers of the
//!   current generation, each of which names one space; entries from earlier generations are gone,
//!   because the flush (`TLBI VMALLE1`, which acts on the executing core only) removed them from its TLB.
//! - A core that has not flushed yet still runs what it ran at the rollover (or a kernel task, under
//!   ASID 0, which no user entry matches). Its TLB holds entries under old numbers, but it does not run
//!   a new space before it flushes, and the number it is running is reserved, so no other core runs a
//!   new space under that number meanwhile. The outgoing space's entries can even be refilled
//!   (speculatively, while its ASID is still in `TTBR0_EL1`) after the flush and before the switch: its
//!   number is reserved for this generation, so those entries are the outgoing space's for as long as
//!   they can match.
//!
//! So no broadcast (`TLBI VMALLE1IS`) is needed: a space's number is handed to another space only once
//! every core that may hold its entries under that number has flushed, or will before it runs the new
//! space. A space running on several cores at a rollover stays under one number on all of them (its
//! reservation is renewed, not replaced), so a broadcast invalidation by its [`SpaceAsid::current`]
//! reaches every core that runs it.

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

/// What [`AsidAllocator::assign`] decided for the space being switched to on one core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the space must keep its ASID, and the core may have to flush its TLB"]
pub struct Assignment {
    /// The ASID to run the space with.
    pub asid: Asid,
    pub generation: Generation,
    /// The generation rolled over since this core last switched to a user space: its TLB may hold
    /// entries of earlier generations under numbers now given to other spaces. The core flushes its own
    /// TLB (`TLBI VMALLE1; DSB NSH`) before it writes `TTBR0_EL1` with [`Assignment::asid`].
    pub flush_local: bool,
}

impl Assignment {
    /// What the space keeps for its next switch.
    pub const fn tagged(self) -> TaggedAsid {
        TaggedAsid { asid: self.asid, generation: self.generation }
    }
}

/// What the allocator knows of one core.
#[derive(Debug, Clone, Copy, Default)]
struct CoreAsids {
    /// What the core runs now: the tag its space holds (kept equal to it when a reservation is renewed),
    /// or `None` while a kernel task runs with the empty table.
    active: Option<TaggedAsid>,
    /// What the core was running at the last rollover, whose number stays given in this generation.
    reserved: Option<TaggedAsid>,
    /// The generation rolled over since the core's last flush.
    flush_pending: bool,
}

/// The ASIDs of every core, recycled in generations (see the module documentation).
pub struct AsidAllocator {
    bits: AsidBits,
    generation: Generation,
    /// One bit per ASID: given out (or reserved) in the current generation. ASID 0 is always marked.
    given: Vec<u64>,
    /// The lowest ASID that may be free: every ASID below it has been given out this generation.
    next: usize,
    /// ASIDs given out this generation (not counting ASID 0).
    given_count: usize,
    cores: Vec<CoreAsids>,
}

impl AsidAllocator {
    /// An allocator for `cores` cores, numbered from 0, none of them running a user space.
    ///
    /// # Panics
    ///
    /// If `cores` is 0, or not below [`AsidAllocator::capacity`]: a rollover reserves up to one ASID per
    /// core and must still leave one for the space that caused it.
    pub fn new(bits: AsidBits, cores: usize) -> AsidAllocator {
        assert!(cores > 0 && cores < bits.values() - 1, "{cores} cores for {} ASIDs", bits.values() - 1);
        let mut allocator = AsidAllocator {
            bits,
            generation: Generation(1),
            given: vec![0; bits.values() / 64],
            next: 1,
            given_count: 0,
            cores: vec![CoreAsids::default(); cores],
        };
        allocator.given[0] = 1;
        allocator
    }

    /// ASIDs available to address spaces in each generation.
    pub fn capacity(&self) -> usize {
        self.bits.values() - 1
    }

    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// ASIDs given out (or reserved) in the current generation.
    pub fn given_count(&self) -> usize {
        self.given_count
    }

    /// The ASID to switch `core` to a space with, given what the space kept from its last switch (`None`
    /// if it never ran). The space must keep [`Assignment::tagged`] in place of what it had, and the core
    /// must flush its own TLB first if [`Assignment::flush_local`] says so.
    ///
    /// # Panics
    ///
    /// If `core` is not below the number of cores given to [`AsidAllocator::new`].
    pub fn assign(&mut self, core: usize, current: Option<TaggedAsid>) -> Assignment {
        let tagged = match current {
            Some(tagged) if tagged.generation == self.generation => tagged,
            stale => self.renew(stale),
        };
        let state = &mut self.cores[core];
        state.active = Some(tagged);
        let flush_local = core::mem::take(&mut state.flush_pending);
        Assignment { asid: tagged.asid, generation: tagged.generation, flush_local }
    }

    /// `core` switches to a kernel task, with no user space in `TTBR0_EL1`: a rollover from now on need
    /// not reserve anything for it.
    ///
    /// # Panics
    ///
    /// If `core` is not below the number of cores given to [`AsidAllocator::new`].
    pub fn leave(&mut self, core: usize) {
        self.cores[core].active = None;
    }

    /// A current-generation tag for a space whose tag is stale (or that never ran).
    fn renew(&mut self, stale: Option<TaggedAsid>) -> TaggedAsid {
        if let Some(stale) = stale
            && self.cores.iter().any(|core| core.reserved == Some(stale))
        {
            return self.renew_reserved(stale);
        }
        if let Some(asid) = self.take_fresh(stale) {
            return self.tag(asid);
        }
        // A space running on some core has a current tag or a reserved one, so the space that rolls
        // over runs nowhere: a fresh number suits it, and no reservation made now can be its own.
        self.roll_over();
        let asid = self
            .take_fresh(stale)
            .expect("a rollover reserves at most one ASID per core, and `new` allows fewer cores than ASIDs");
        self.tag(asid)
    }

    /// Carries a reserved tag into the current generation. Every core that holds it, reserved or active,
    /// gets the new tag: the space may run on several cores, and the next rollover must reserve the tag
    /// the space holds then, or the space would lose its number while still running somewhere.
    fn renew_reserved(&mut self, stale: TaggedAsid) -> TaggedAsid {
        let renewed = self.tag(stale.asid.0);
        for core in &mut self.cores {
            for slot in [&mut core.active, &mut core.reserved] {
                if *slot == Some(stale) {
                    *slot = Some(renewed);
                }
            }
        }
        renewed
    }

    fn tag(&self, asid: u16) -> TaggedAsid {
        TaggedAsid { asid: Asid(asid), generation: self.generation }
    }

    /// The stale tag's number if still free (so that a space's ASID changes only when it must), else the
    /// lowest free ASID, if there is one.
    fn take_fresh(&mut self, stale: Option<TaggedAsid>) -> Option<u16> {
        match stale {
            Some(tagged) if self.take(usize::from(tagged.asid.0)) => Some(tagged.asid.0),
            _ => self.take_next(),
        }
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

    /// Starts a generation. What each core runs now keeps its number, since the core goes on running it
    /// under that number until its next switch; a core running a kernel task holds no number to keep.
    fn roll_over(&mut self) {
        self.generation = Generation(self.generation.0 + 1);
        self.given.fill(0);
        self.given[0] = 1;
        self.next = 1;
        self.given_count = 0;
        for index in 0..self.cores.len() {
            let active = self.cores[index].active;
            if let Some(active) = active {
                // Two cores running one space share the number: `take` marks it once.
                self.take(usize::from(active.asid.0));
            }
            let core = &mut self.cores[index];
            core.reserved = active;
            core.flush_pending = true;
        }
    }
}

impl fmt::Debug for AsidAllocator {
    /// The width, generation, use and cores: the bitmap is too long to print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsidAllocator")
            .field("bits", &self.bits)
            .field("generation", &self.generation)
            .field("given", &self.given_count)
            .field("cores", &self.cores)
            .finish()
    }
}

/// The ASID one address space runs with, kept beside it rather than under its lock: the context switch
/// gives a space a current-generation ASID ([`SpaceAsid::assign`]) even while the space's own task is
/// preempted in the middle of a change to it (a fork, a teardown), and that change's TLB maintenance
/// reads the ASID at each invalidation ([`SpaceAsid::current`]), so it never tags one that a rollover
/// has replaced. `None` until the space first runs.
///
/// A space's number changes only while no core runs it (a running space's tag is current or reserved),
/// but another core may be changing its tables then (page merging). The new number reaches that core's
/// invalidations in time if the switching core completes its store of the number (`DSB ISH`) before the
/// space's tables are walked under it, and the changing core reads the number only after its table store
/// is complete (after its `DSB ISHST`): if a walk under the new number saw the old table entry, the
/// number's store was complete before the table store, so the read that follows the table store, and
/// the invalidation by it, get the new number.
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

    /// Gives the space a current-generation ASID from `allocator` (its own while still current, or while
    /// reserved) for the switch of `core` to it; the caller honours [`Assignment::flush_local`].
    pub fn assign(&self, allocator: &mut AsidAllocator, core: usize) -> Assignment {
        let assignment = allocator.assign(core, self.tagged());
        let tagged = assignment.tagged();
        self.0.store((tagged.generation.0 << 16) | u64::from(tagged.asid.0), Ordering::Relaxed);
        assignment
    }
}

#[cfg(test)]
mod tests;
