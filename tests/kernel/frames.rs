//! The frame table as the kernel uses it: allocation, sharing, release, exhaustion.

use cowpi_mm::{Frame, FrameError, PAGE_SIZE, Release};

use crate::memory::frames;
use crate::{board, check, check_eq, check_ok, kernel_test, memory};

fn frame_bytes(frame: Frame) -> &'static mut [u8] {
    // SAFETY: tests only call this on frames they hold; RAM is mapped read-write in the linear map.
    unsafe { core::slice::from_raw_parts_mut(memory::frame_pointer(frame), PAGE_SIZE) }
}

kernel_test! {
    fn allocated_frames_are_zeroed_usable_ram() -> TestResult {
        let before = frames::counters();
        let frame = check_ok!(frames::alloc_zeroed());
        let address = frame.start_address().as_u64();
        check!(board::info().ram.iter().any(|r| r.contains(&address)), "{address:#x} is not RAM");
        let layout = memory::layout();
        check!(address >= layout.frame_table.end, "{address:#x} lies in the kernel's own memory");
        let bytes = frame_bytes(frame);
        check!(bytes.iter().all(|&b| b == 0), "a fresh frame is not zeroed");
        bytes.fill(0xA5);
        check_eq!(frames::counters().free, before.free - 1);
        check_eq!(frames::counters().used, before.used + 1);
        check!(matches!(frames::release(frame), Ok(Release::Freed)));
        check_eq!(frames::counters().free, before.free);
        Ok(())
    }
}

kernel_test! {
    fn a_shared_frame_is_freed_by_its_last_holder() -> TestResult {
        let frame = check_ok!(frames::alloc_zeroed());
        check_eq!(frames::share(frame).ok(), Some(2));
        check_eq!(frames::counters().shared, 1);
        check_eq!(frames::release(frame).ok(), Some(Release::StillHeld(1)));
        check_eq!(frames::release(frame).ok(), Some(Release::Freed));
        check_eq!(frames::counters().shared, 0);
        // A double free is refused and changes nothing.
        let free = frames::counters().free;
        check!(matches!(frames::release(frame), Err(FrameError::NotAllocated { .. })));
        check_eq!(frames::counters().free, free);
        Ok(())
    }
}

kernel_test! {
    /// Takes every free frame, checks the next allocation fails cleanly, and gives them all back. The
    /// frames are chained through their own first word, so the test needs no memory of its own.
    fn exhaustion_fails_cleanly_and_recovers() -> TestResult {
        let before = frames::counters();
        let mut chain: Option<Frame> = None;
        let mut taken = 0usize;
        while let Ok(frame) = frames::with_table(|t| t.alloc()) {
            let link = memory::frame_pointer(frame).cast::<u64>();
            // SAFETY: the frame was just allocated to this test; RAM is mapped read-write.
            unsafe { link.write(chain.map_or(u64::MAX, |f| f.number())) };
            chain = Some(frame);
            taken += 1;
        }
        check_eq!(taken, before.free);
        check_eq!(frames::counters().free, 0);
        check!(frames::with_table(|t| t.alloc()).is_err());
        while let Some(frame) = chain {
            // SAFETY: as above; the word was written when the frame was taken.
            let next = unsafe { memory::frame_pointer(frame).cast::<u64>().read() };
            check!(matches!(frames::release(frame), Ok(Release::Freed)));
            chain = (next != u64::MAX).then(|| Frame::from_number(next));
        }
        check_eq!(frames::counters().free, before.free);
        Ok(())
    }
}
