//! The host side of the benchmark suite: measuring on the kernel, and turning measurements into figures.
//!
//! The guest measures and the host computes (see `cowpi_console::bench`, the line protocol both sides
//! share): [`run`] drives one board's shell and collects the raw samples, [`results`] groups them into
//! series with medians and makes the report that becomes `results.json`, [`derived`] turns medians into
//! the headline figures, [`targets`] checks the design targets against them, and [`markdown`] and
//! [`charts`] present them, with
//! [`format`] writing the numbers the same way in both. Everything after [`run`] is pure arithmetic on
//! recorded samples, so it is unit-tested without QEMU.

pub mod charts;
pub mod derived;
pub mod format;
pub mod markdown;
pub mod results;
pub mod run;
pub mod targets;
