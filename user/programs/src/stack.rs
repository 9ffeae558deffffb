//! Touching the stack ahead of time, for the programs that must not take a frame at a given moment.
//!
//! After `FORK` every writable page a task had is shared copy-on-write, its stack included: the next
//! write to one of them needs a free frame for the copy. A task that keeps running while memory runs out
//! on purpose (`oomrace`'s parent and bystander, `waitoom`) writes its stack pages first, while frames are
//! still free, so that the calls it makes during the shortage find them private.

/// Bytes of stack [`prefault`] touches: more than any of these programs' calls use below it.
pub const PREFAULT_BYTES: usize = 16 * 1024;

/// Writes to every page of [`PREFAULT_BYTES`] of stack below the caller's frame. Only what lies below the
/// caller is covered: the caller's own frame must have been written since the last fork, or the work
/// done during the shortage must happen in functions it calls afterwards.
#[inline(never)]
pub fn prefault() {
    let mut scratch = [0_u8; PREFAULT_BYTES];
    // One byte per 512 is plenty: a page is 4 KiB; the step only has to be smaller.
    for byte in scratch.iter_mut().step_by(512) {
        *byte = 1;
    }
    core::hint::black_box(&mut scratch);
}
