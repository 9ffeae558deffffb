//! A tiny test reporter for the programs that check the kernel's behaviour.
//!
//! Each check prints one line, `<program>: ok: <what>` or `<program>: FAILED: <what>: <details>`, and the
//! program exits with the number of failed checks (0 when all passed). A person reads the lines on the
//! console; a kernel test only needs the child's exit status from `WAIT`.

use core::fmt;

use cowpi_user::Error;
use cowpi_user::abi::result;
use cowpi_user::println;

/// The checks of one program run so far.
pub struct Checks {
    program: &'static str,
    passed: u32,
    failed: u32,
}

/// A system call's outcome as the checks print it.
struct Outcome(u64);

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match result::decode(self.0) {
            Some(Ok(value)) => write!(f, "Ok({value:#x})"),
            Some(Err(error)) => write!(f, "Err({})", error.name()),
            None => write!(f, "undefined result {:#x}", self.0),
        }
    }
}

impl Checks {
    pub fn new(program: &'static str) -> Checks {
        Checks { program, passed: 0, failed: 0 }
    }

    /// Records one check; `details` say what was seen, for the FAILED line.
    pub fn check(&mut self, what: &str, passed: bool, details: fmt::Arguments) {
        if passed {
            self.passed += 1;
            println!("{}: ok: {what}", self.program);
        } else {
            self.failed += 1;
            println!("{}: FAILED: {what}: {details}", self.program);
        }
    }

    /// Checks a condition that has nothing more to say.
    pub fn that(&mut self, what: &str, condition: bool) {
        self.check(what, condition, format_args!("it does not hold"));
    }

    /// Checks that a raw system-call result (`x0`) is `expected`.
    pub fn returns(&mut self, what: &str, raw: u64, expected: Result<u64, Error>) {
        let passed = result::decode(raw) == Some(expected);
        let expected = Outcome(result::encode(expected));
        self.check(what, passed, format_args!("got {}, expected {expected}", Outcome(raw)));
    }

    /// Checks that a raw system-call result fails with `expected`.
    pub fn fails_with(&mut self, what: &str, raw: u64, expected: Error) {
        self.returns(what, raw, Err(expected));
    }

    /// Checks that a raw system-call result is a success, and returns its value.
    pub fn succeeds(&mut self, what: &str, raw: u64) -> Option<u64> {
        let value = match result::decode(raw) {
            Some(Ok(value)) => Some(value),
            _ => None,
        };
        self.check(what, value.is_some(), format_args!("got {}", Outcome(raw)));
        value
    }

    /// Prints the summary and returns the exit code: the number of failed checks, at most 255.
    pub fn finish(self) -> i32 {
        let total = self.passed + self.failed;
        if self.failed == 0 {
            println!("{}: all {total} checks passed", self.program);
        } else {
            println!("{}: {} of {total} checks FAILED", self.program, self.failed);
        }
        self.failed.min(255) as i32
    }
}
