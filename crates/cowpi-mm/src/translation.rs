//! AArch64 stage-1 translation tables for an address space, without touching hardware.
//!
//! cowpi's translation regime (Arm ARM D8, "The AArch64 Virtual Memory System Architecture"): EL1&0,
//! stage 1 only, 4 KiB translation granule, 39-bit virtual addresses in each half (`TCR_EL1.T0SZ =
//! T1SZ = 25`). With 4 KiB tables of 512 eight-byte descriptors, each level resolves 9 address bits, so a
//! 39-bit walk starts at level 1 and takes three steps:
//!
//! ```text
//!   VA bits  38..30        29..21        20..12        11..0
//!            level 1 index level 2 index level 3 index byte in page
//!            (1 GiB/entry) (2 MiB/entry) (4 KiB page)
//! ```
//!
//! User space (`TTBR0_EL1`, `0 .. 2^39`) belongs to a task; each task has its own tables and an ASID
//! ([`crate::asid`]) that tags its TLB entries. The kernel half (`TTBR1_EL1`) is shared and global.
//!
//! The pieces, one concept per file:
//!
//! - [`level`]: the lookup levels and the geometry above.
//! - [`descriptor`]: the descriptor formats as the hardware reads them (tock-registers bitfields), the
//!   `MAIR_EL1` slots, and the software bits cowpi keeps in page descriptors.
//! - [`page_flags`]: what a mapping allows, in the memory manager's words ([`PageFlags`]), and the
//!   conversion to and from a level-3 page descriptor, with W^X and cowpi's other rules enforced.
//! - [`table_memory`] and [`tlb`]: what the kernel must supply, so the logic runs on the host too: memory
//!   for tables, and TLB maintenance.
//! - [`page_table`]: [`AddressSpaceTables`], the map, unmap, protect and replace operations with the
//!   break-before-make discipline, the walks the audit needs, and fork ([`page_table::fork`]).

pub mod descriptor;
pub mod level;
pub mod page_flags;
pub mod page_table;
pub mod table_memory;
pub mod tlb;

pub use descriptor::{DescriptorKind, MAIR_DEVICE_NGNRE, MAIR_EL1_VALUE, MAIR_NORMAL_WRITE_BACK};
pub use level::Level;
pub use page_flags::{DescriptorError, FlagsError, MemoryType, PageFlags};
pub use page_table::{
    AddressSpaceTables, ForkCounts, ForkError, Leaf, MapError, PageEntry, TableVisit, VacantPage, ttbr0_el1,
};
pub use table_memory::{ShareRefused, TableMemory};
pub use tlb::TlbMaintenance;
