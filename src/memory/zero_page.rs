//! The shared zero page: one frame of zeros behind every page of anonymous memory that has been read but
//! never written.
//!
//! Reading fresh memory maps this frame read-only (with the ZERO_PAGE software bit); only the first write
//! takes a frame of its own. So tasks may reserve far more memory than the machine has, and untouched or
//! only-read memory costs nothing. Page merging maps pages it finds all zeros here too, with the
//! KSM-merged bit besides, so that they are counted apart (`ksm::zero_pages`). The kernel keeps one
//! reference on the frame for itself, so it is never freed, and never maps it writable anywhere.

use cowpi_mm::Frame;
use spin::Once;

use super::frames;

static ZERO_FRAME: Once<Frame> = Once::new();

/// Allocates the zero frame. Called once by `memory::init`.
pub fn init() {
    ZERO_FRAME.call_once(|| frames::alloc_zeroed().expect("no frame for the zero page at boot"));
}

/// The zero frame.
pub fn frame() -> Frame {
    *ZERO_FRAME.get().expect("zero page used before memory::init")
}

/// How many mappings of the zero page exist now (its references less the kernel's own).
pub fn mappings() -> u64 {
    frames::with_table(|t| t.refcount(frame())).map_or(0, |count| u64::from(count.saturating_sub(1)))
}
