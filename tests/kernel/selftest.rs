//! Tests that must go wrong, so the host runner proves it notices each kind of failure: a failed check, a
//! failed memory audit (a leaked frame, leaked heap, a writable shared frame), a panic, an unexpected
//! exception and a hang. The runner counts each as passed only
//! when it sees exactly the failure expected.

use crate::memory::frames;
use crate::{check, kernel_test};

kernel_test! {
    #[expect(fail)]
    fn a_failed_check_is_reported() -> TestResult {
        check!(1 + 1 == 3, "arithmetic still works, so this check fails on purpose");
        Ok(())
    }
}

kernel_test! {
    /// Leaks a frame: the test itself passes, the audit after it must not.
    #[expect(fail)]
    fn the_audit_catches_a_leaked_frame() -> TestResult {
        let leaked = frames::alloc_zeroed();
        check!(leaked.is_ok(), "no frame to leak");
        Ok(())
    }
}

kernel_test! {
    /// Leaks 24 bytes of kernel heap: the test itself passes, the heap part of the audit after it must
    /// not.
    #[expect(fail)]
    fn the_audit_catches_leaked_heap() -> TestResult {
        core::mem::forget(alloc::vec![0u8; 24]);
        Ok(())
    }
}

kernel_test! {
    #[expect(panic)]
    fn a_panic_is_reported() -> TestResult {
        panic!("this test panics on purpose");
    }
}

kernel_test! {
    #[expect(panic)]
    fn an_unexpected_exception_is_reported() -> TestResult {
        // SAFETY: UDF raises an undefined-instruction exception, which the kernel reports and stops on;
        // that is the point of the test.
        unsafe { core::arch::asm!("udf #0") };
        Ok(())
    }
}

kernel_test! {
    #[expect(hang)]
    fn a_hang_is_reported() -> TestResult {
        loop {
            core::hint::spin_loop();
        }
    }
}

kernel_test! {
    /// Maps one frame writable at two pages of a task, with its reference count kept right: only the
    /// audit's copy-on-write check (no writable mapping of a shared frame) can catch this, and must.
    #[expect(fail)]
    fn the_audit_catches_a_writable_shared_frame() -> TestResult {
        let victim = super::programs::start("pattern", "0x11 1000")?;
        crate::task::sleep(100);
        let corrupted = crate::task::scheduler::with_task_spaces(|spaces| {
            let Some(space) = spaces.space(victim) else { return false };
            let mut writable = alloc::vec::Vec::new();
            space.for_each_mapping(|page, frame, flags| {
                if flags.writable {
                    writable.push((page, frame, flags));
                }
            });
            let [(_, kept, _), (page, dropped, flags), ..] = writable[..] else { return false };
            if frames::share(kept).is_err() || space.replace_page(page, kept, flags).is_none() {
                return false;
            }
            let _ = frames::release(dropped);
            true
        });
        check!(corrupted, "could not set up two writable mappings of one frame");
        Ok(())
    }
}

kernel_test! {
    /// A lock taken again inside its own closure can never be let go (IRQs are masked, and it is this
    /// core that holds it): a loud kernel bug naming both places, not a silent hang.
    #[expect(panic)]
    fn a_lock_taken_twice_on_one_core_is_a_kernel_bug() -> TestResult {
        static LOCK: crate::sync::IrqSafeLock<u32> = crate::sync::IrqSafeLock::new(0);
        LOCK.lock(|outer| {
            *outer += 1;
            LOCK.lock(|inner| *inner += 1);
        });
        Ok(())
    }
}
