//! `hello [anything]`: the smallest cowpi program. Prints a greeting with its pid and its argument string,
//! and exits with 0.
//!
//! Every program has this shape: `no_std` and `no_main` (there is no operating-system runtime to call a
//! standard `main`), a `main(args: &str) -> i32`, and `entry!` to make it the program's entry point.
#![no_std]
#![no_main]

use cowpi_user::{entry, println, task};

entry!(main);

fn main(args: &str) -> i32 {
    println!("hello from pid {}! args: {args:?}", task::getpid());
    0
}
