//! What the kernel and the host agree on over the serial line, and the console logic that needs no hardware.
//!
//! `no_std` so the kernel links it, and host-tested like any crate. [`protocol`] is the line format the test
//! runner reads; [`line_editor`] turns received bytes into shell command lines; [`upload`] carries a user
//! program's image to the running kernel; [`bench`] carries benchmark measurements back to the host.
#![no_std]

pub mod bench;
pub mod line_editor;
pub mod protocol;
pub mod upload;
