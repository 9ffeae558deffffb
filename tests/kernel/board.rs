//! The board was recognised at run time and its RAM found, consistently with the CPU and the firmware.

use crate::arch::cpu::{self, CpuId};
use crate::{board, check, check_eq, kernel_test, memory};

kernel_test! {
    fn board_entry_matches_the_cpu() -> TestResult {
        let info = board::info();
        check_eq!(info.spec().midr_part, CpuId::read().part);
        let model = info.revision.model();
        let family = match info.spec().soc {
            "BCM2837" => ["Pi 3", "Zero 2"].iter().any(|m| model.contains(m)),
            "BCM2711" => ["Pi 4", "Pi 400", "Compute Module 4"].iter().any(|m| model.contains(m)),
            _ => false,
        };
        check!(family, "firmware says {model:?}, the CPU says {}", info.spec().soc);
        Ok(())
    }
}

kernel_test! {
    fn kernel_runs_at_el1_on_core_0() -> TestResult {
        check_eq!(cpu::exception_level(), 1);
        check_eq!(cpu::core_id(), 0);
        Ok(())
    }
}

kernel_test! {
    fn ram_comes_from_the_firmware() -> TestResult {
        let info = board::info();
        let total = info.revision.memory_bytes();
        check!(total.is_some(), "the revision code {:#x} names no memory size", info.revision.raw);
        let total = total.unwrap_or(0);
        check!(total >= 1 << 30, "board RAM {total:#x} is below 1 GiB");
        check_eq!(info.arm_memory.start, 0);
        check!(info.arm_memory.end <= 1 << 30 && info.arm_memory.end > 256 << 20);
        check!(info.usable_ram_bytes() <= total);
        let kernel_end = memory::layout().kernel.end;
        check!(info.ram[0].contains(&kernel_end), "the kernel lies outside the first RAM range");
        for ram in info.ram.iter().filter(|r| !r.is_empty()) {
            for &(start, end) in info.spec().device_ranges() {
                check!(ram.end <= start || end <= ram.start, "RAM {ram:x?} overlaps devices {start:#x}..{end:#x}");
            }
        }
        Ok(())
    }
}

kernel_test! {
    /// Frames cover the usable RAM less what the kernel set aside at boot, nothing more.
    fn frame_table_covers_usable_ram() -> TestResult {
        let info = board::info();
        let layout = memory::layout();
        let counters = memory::frames::counters();
        let set_aside = layout.frame_table.end - info.ram[0].start;
        let expected = (info.usable_ram_bytes() - set_aside) / cowpi_mm::PAGE_SIZE as u64;
        check_eq!(counters.total as u64, expected);
        Ok(())
    }
}
