//! The kernel's translation tables as the MMU sees them: W^X for the kernel image, the linear map, and an
//! empty lower half. Checked with the MMU's own address-translation instructions, so a wrong descriptor
//! shows as a failed check instead of a crash; one test does crash on purpose, to prove data cannot run.

use crate::arch::esr::FaultStatus;
use crate::arch::mmu::{self, Access, translate};
use crate::{check, check_eq, kernel_test, memory};

unsafe extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
}

static SOME_RODATA: [u8; 8] = *b"rodata!!";
static mut SOME_DATA: u64 = 0;

fn is_permission_fault(result: Result<u64, u8>) -> bool {
    matches!(result, Err(code) if matches!(FaultStatus::from_code(code), FaultStatus::Permission { .. }))
}

kernel_test! {
    fn kernel_text_and_rodata_are_read_only() -> TestResult {
        let text = (&raw const __kernel_start) as u64;
        let rodata = SOME_RODATA.as_ptr() as u64;
        check!((text..(&raw const __text_end) as u64).contains(&(kernel_text_and_rodata_are_read_only as *const () as u64)));
        check!(((&raw const __text_end) as u64..(&raw const __rodata_end) as u64).contains(&rodata));
        for address in [text, rodata] {
            check!(translate(address, Access::KernelRead).is_ok(), "{address:#x} is not readable");
            check!(is_permission_fault(translate(address, Access::KernelWrite)), "{address:#x} is writable");
            check!(translate(address, Access::UserRead).is_err(), "EL0 can read kernel address {address:#x}");
        }
        Ok(())
    }
}

kernel_test! {
    fn kernel_data_heap_and_stack_are_writable_by_the_kernel_only() -> TestResult {
        let data = (&raw const SOME_DATA) as u64;
        let stack = (&raw const data) as u64;
        let heap = alloc::boxed::Box::new(0u64);
        let heap = &*heap as *const u64 as u64;
        for address in [data, stack, heap] {
            let physical = translate(address, Access::KernelWrite);
            check!(physical.is_ok(), "{address:#x} is not writable: {physical:?}");
            check_eq!(physical.unwrap_or(0), mmu::virt_to_phys(address));
            check!(translate(address, Access::UserWrite).is_err(), "EL0 can write kernel address {address:#x}");
            check!(translate(address, Access::UserRead).is_err(), "EL0 can read kernel address {address:#x}");
        }
        Ok(())
    }
}

kernel_test! {
    /// Every frame the allocator hands out is reachable through the linear map at KERNEL_VA_BASE + pa.
    fn the_linear_map_covers_every_ram_range() -> TestResult {
        for range in crate::board::info().ram.iter().filter(|r| !r.is_empty()) {
            for physical in [range.start, range.end - 8] {
                let virtual_address = mmu::phys_to_virt(physical);
                check_eq!(translate(virtual_address, Access::KernelWrite).ok(), Some(physical));
            }
        }
        let frame = crate::check_ok!(memory::frames::alloc_zeroed());
        let address = memory::frame_pointer(frame) as u64;
        check_eq!(translate(address, Access::KernelWrite).ok(), Some(frame.start_address().as_u64()));
        check!(memory::frames::release(frame).is_ok());
        Ok(())
    }
}

kernel_test! {
    /// With no user address space active, TTBR0_EL1 translates nothing: the boot identity view is gone.
    fn the_lower_half_is_empty() -> TestResult {
        for address in [0u64, 0x1000, 0x8_0000, 0x3F20_1000, 0x40_0000, (1 << 39) - 4096] {
            check!(translate(address, Access::KernelRead).is_err(), "{address:#x} is mapped");
        }
        Ok(())
    }
}

kernel_test! {
    /// A `ret` instruction placed in writable data must not run: the kernel stops with an instruction
    /// abort (permission fault) instead.
    #[expect(panic)]
    fn kernel_data_is_never_executable() -> TestResult {
        let code: alloc::boxed::Box<[u32; 1]> = alloc::boxed::Box::new([0xD65F_03C0]); // ret
        let function: extern "C" fn() = unsafe {
            // SAFETY: deliberately wrong: calling data must raise an instruction abort, which the kernel
            // reports and stops on; that report is what the test checks.
            core::mem::transmute::<*const u32, extern "C" fn()>(code.as_ptr())
        };
        function();
        Ok(())
    }
}
