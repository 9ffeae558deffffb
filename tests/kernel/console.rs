//! The console: output and the logger reach the serial line.

use crate::{check, console, kernel_test, println};

kernel_test! {
    fn console_prints_and_log_works() -> TestResult {
        check!(console::with_uart(|_| ()).is_some(), "the console UART is not initialised");
        println!("console test: a line of output");
        log::info!("console test: a log line");
        Ok(())
    }
}
