//! The three things `cowpi` does with a built kernel, one module each.

pub mod image;
pub mod run;
pub mod test;
