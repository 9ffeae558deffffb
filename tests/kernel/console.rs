//! The console and the exception report reach the serial line.

use crate::arch::esr::Syndrome;
use crate::{check, check_eq, console, kernel_test, println};

kernel_test! {
    fn console_prints_and_log_works() -> TestResult {
        check!(console::with_uart(|_| ()).is_some(), "the console UART is not initialised");
        println!("console test: a line of output");
        log::info!("console test: a log line");
        Ok(())
    }
}

kernel_test! {
    /// The syndrome decoder the exception report uses, on syndromes the Arm ARM defines.
    fn exception_syndromes_decode() -> TestResult {
        // Data abort at EL1, permission fault at level 3, on a write (WnR).
        let write_fault = Syndrome(0x9600_004F);
        check_eq!(write_fault.class(), 0x25);
        check!(write_fault.is_write());
        let text = alloc::format!("{write_fault}");
        check!(text.contains("permission fault at level 3, on a write"), "{text}");
        // Data abort from EL0, translation fault level 1, read.
        check!(alloc::format!("{}", Syndrome(0x9200_0005)).contains("translation fault at level 1, on a read"));
        check!(alloc::format!("{}", Syndrome(0x5600_0000)).starts_with("SVC instruction"));
        check!(alloc::format!("{}", Syndrome(0x0200_0000)).starts_with("unknown reason"));
        Ok(())
    }
}
