//! Kernel test suites, compiled into the kernel (see `src/ktest`) and run over the serial line by the host
//! runner (`cargo run -- test`). One file per subsystem; `selftest` proves the runner notices failures.

mod board;
mod console;
mod cow;
mod exhaustion;
mod frames;
mod fuzz;
mod heap;
mod ksm;
mod limits;
mod mmu;
mod noaccess;
mod programs;
mod scheduler;
mod selftest;
mod smp;
mod space_lock;
mod stress;
mod timer;
mod user;
