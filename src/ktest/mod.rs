//! In-kernel tests: how they are registered, listed and run over the serial test protocol.
//!
//! A test is a function returning [`TestResult`], declared with [`kernel_test!`](crate::kernel_test). The
//! macro puts a [`KernelTest`] record in the `.kernel_tests` link section, which `linker.ld` gathers between
//! two symbols: tests register themselves from any file, on stable Rust, with no central list to forget.
//! The shell's `test list` and `test run <name>` print the lines of `cowpi_console::protocol`, and every
//! run ends with a memory audit: a test that passes but leaves the frame table inconsistent, leaks a
//! frame, or leaves the kernel heap holding more than before it, fails.

use core::fmt;

use cowpi_console::protocol::{self, Expect};

use crate::{memory, println};

/// A test's verdict: `Err` carries what went wrong and where.
pub type TestResult = Result<(), TestFailure>;

/// Why a test failed.
pub struct TestFailure {
    pub message: alloc::string::String,
    pub file: &'static str,
    pub line: u32,
}

impl fmt::Display for TestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}:{})", self.message, self.file, self.line)
    }
}

/// One registered test. `repr(C)`: the linker gathers these records into one array.
#[repr(C)]
pub struct KernelTest {
    /// `module_path!()` of the test's module.
    pub module: &'static str,
    pub function: &'static str,
    pub expect: Expect,
    /// Does work that grows with the machine's RAM: the host gives it a longer time limit.
    pub slow: bool,
    pub run: fn() -> TestResult,
}

impl KernelTest {
    /// The name the protocol uses: the module path below the crate (and below `suite`, the `tests/`
    /// folder) and the function, e.g. `frames::alloc_then_release`.
    pub fn name(&self) -> TestName {
        let module = self.module.strip_prefix("cowpi::").unwrap_or(self.module);
        let module = module.strip_prefix("suite::").unwrap_or(module);
        TestName { module, function: self.function }
    }
}

/// A test's protocol name, printed without allocating.
pub struct TestName {
    module: &'static str,
    function: &'static str,
}

impl TestName {
    fn matches(&self, name: &str) -> bool {
        name.len() == self.module.len() + 2 + self.function.len()
            && name.starts_with(self.module)
            && name[self.module.len()..].starts_with("::")
            && name.ends_with(self.function)
    }
}

impl fmt::Display for TestName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{}", self.module, self.function)
    }
}

/// Declares a kernel test.
///
/// ```ignore
/// kernel_test! {
///     fn frames_come_back() -> TestResult { ... }
/// }
/// kernel_test! {
///     #[expect(panic)]
///     fn runner_notices_a_panic() -> TestResult { panic!("on purpose") }
/// }
/// kernel_test! {
///     /// `#[slow(why)]`: the work grows with the machine; the host allows it longer.
///     #[slow("reads every page of RAM")]
///     fn read_all_of_ram() -> TestResult { ... }
/// }
/// ```
#[macro_export]
macro_rules! kernel_test {
    ($(#[doc = $doc:literal])* $(#[expect($expect:ident)])? $(#[slow($why:literal)])? fn $name:ident() -> TestResult $body:block) => {
        $(#[doc = $doc])*
        fn $name() -> $crate::ktest::TestResult $body

        const _: () = {
            // SAFETY: the section holds nothing but `KernelTest` records, which `ktest::all` reads back as
            // a slice; `#[used]` keeps the record although nothing refers to it by name.
            #[unsafe(link_section = ".kernel_tests")]
            #[used]
            static TEST: $crate::ktest::KernelTest = $crate::ktest::KernelTest {
                module: module_path!(),
                function: stringify!($name),
                expect: $crate::kernel_test!(@expect $($expect)?),
                slow: $crate::kernel_test!(@slow $($why)?),
                run: $name,
            };
        };
    };
    (@expect) => { cowpi_console::protocol::Expect::Pass };
    (@expect pass) => { cowpi_console::protocol::Expect::Pass };
    (@expect fail) => { cowpi_console::protocol::Expect::Fail };
    (@expect panic) => { cowpi_console::protocol::Expect::Panic };
    (@expect hang) => { cowpi_console::protocol::Expect::Hang };
    (@slow) => { false };
    (@slow $why:literal) => { true };
}

/// Fails the test with a formatted message unless the condition holds.
#[macro_export]
macro_rules! check {
    ($condition:expr $(,)?) => {
        $crate::check!($condition, "check failed: {}", stringify!($condition))
    };
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err($crate::ktest::TestFailure {
                message: alloc::format!($($message)+),
                file: file!(),
                line: line!(),
            });
        }
    };
}

/// Fails the test unless the two values are equal, showing both.
#[macro_export]
macro_rules! check_eq {
    ($left:expr, $right:expr $(,)?) => {{
        let (left, right) = (&$left, &$right);
        $crate::check!(
            left == right,
            "{} == {} failed: left {:?}, right {:?}",
            stringify!($left),
            stringify!($right),
            left,
            right
        );
    }};
}

/// The `Ok` value of a `Result`, or fails the test with the error.
#[macro_export]
macro_rules! check_ok {
    ($result:expr $(,)?) => {
        match $result {
            Ok(value) => value,
            Err(error) => {
                return Err($crate::ktest::TestFailure {
                    message: alloc::format!("{} failed: {:?}", stringify!($result), error),
                    file: file!(),
                    line: line!(),
                });
            }
        }
    };
}

unsafe extern "C" {
    /// Bounds of the `.kernel_tests` section, from linker.ld.
    static __kernel_tests_start: u8;
    static __kernel_tests_end: u8;
}

/// Every registered test, in link order.
pub fn all() -> &'static [KernelTest] {
    let start = (&raw const __kernel_tests_start).cast::<KernelTest>();
    let end = (&raw const __kernel_tests_end).cast::<KernelTest>();
    let count = (end as usize - start as usize) / core::mem::size_of::<KernelTest>();
    // SAFETY: linker.ld places only `KernelTest` statics (each emitted by `kernel_test!`, so properly
    // aligned and initialised) between the two symbols, and they are immutable for the kernel's life.
    unsafe { core::slice::from_raw_parts(start, count) }
}

/// `test list`: one protocol line per test, then the count.
pub fn list() {
    for test in all() {
        let (space, slow) = if test.slow { (" ", protocol::SLOW) } else { ("", "") };
        println!("{}{} {}{space}{slow}", protocol::TEST_LIST, test.name(), test.expect.as_str());
    }
    println!("{}{}", protocol::TEST_LIST_END, all().len());
}

/// `test run <name>`: runs one test, audits memory, and prints the verdict.
pub fn run(name: &str) -> Result<(), UnknownTest> {
    let test = all().iter().find(|t| t.name().matches(name)).ok_or(UnknownTest)?;
    println!("{}{}", protocol::TEST_BEGIN, test.name());
    let heap_before = memory::audit::heap_in_use();
    let result = (test.run)();
    let audit = memory::audit::audit().and_then(|()| memory::audit::heap_returned(heap_before));
    match (result, audit) {
        (Ok(()), Ok(())) => println!("{}{} ok", protocol::TEST_END, test.name()),
        (Err(failure), _) => println!("{}{} FAILED {failure}", protocol::TEST_END, test.name()),
        (Ok(()), Err(report)) => {
            report.lines().for_each(|line| println!("audit: {line}"));
            let summary = report.lines().next().unwrap_or("failed");
            println!("{}{} FAILED audit: {summary}", protocol::TEST_END, test.name());
        }
    }
    Ok(())
}

/// No test has the name given to `test run`.
pub struct UnknownTest;
