//! AArch64 (Armv8-A) support: the boot path, exception handling, the MMU, cache maintenance, the generic
//! timer, semihosting and the start of the other cores. Everything that names a system register or an
//! instruction lives below here.

pub mod boot;
pub mod cache;
pub mod cpu;
pub mod esr;
pub mod exception;
pub mod mmu;
pub mod page;
pub mod semihosting;
pub mod smp;
pub mod time;
