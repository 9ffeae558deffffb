//! `spin [rounds] [iterations]`: burns CPU time, printing a line after every round of busy work, to show
//! preemption. Run two at once: if the kernel preempts tasks on its timer, their lines interleave even
//! though neither ever yields; if it does not, one finishes before the other starts.
//!
//! Defaults: 10 rounds of 10,000,000 iterations, about 50 ms each under QEMU: several of the kernel's
//! 10 ms time slices, so two spins take turns within every round. Exits with 0, or 2 for arguments that
//! are not numbers.
#![no_std]
#![no_main]

use core::hint::black_box;

use cowpi_programs::args;
use cowpi_user::{entry, println, task};

entry!(main);

fn main(args: &str) -> i32 {
    let (Ok(rounds), Ok(iterations)) = (args::number(args, 0, 10), args::number(args, 1, 10_000_000)) else {
        println!("usage: spin [rounds] [iterations per round]");
        return 2;
    };
    let pid = task::getpid();
    for round in 1..=rounds {
        busy(iterations);
        println!("spin {pid}: round {round}/{rounds}");
    }
    println!("spin {pid}: done");
    0
}

/// Counts to `iterations` the slow way. `black_box` stops the compiler from replacing the loop with its
/// result: the point is to take time.
fn busy(iterations: u64) {
    let mut count = 0_u64;
    while black_box(count) < iterations {
        count += 1;
    }
}
