//! Typed access to a block of memory-mapped device registers.

use core::marker::PhantomData;
use core::ops::Deref;

/// A register block of type `T` at a fixed physical (= virtual, in the boot map) address.
pub struct MmioBlock<T> {
    base: usize,
    registers: PhantomData<fn() -> T>,
}

impl<T> MmioBlock<T> {
    /// # Safety
    ///
    /// `base` must be the address of a device whose registers `T` describes, mapped as Device memory
    /// (or the MMU must be off), for as long as the block is used.
    pub const unsafe fn new(base: usize) -> Self {
        MmioBlock { base, registers: PhantomData }
    }
}

impl<T> Deref for MmioBlock<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `new`'s contract: the address holds a `T`-shaped register block for the block's life.
        unsafe { &*(self.base as *const T) }
    }
}
