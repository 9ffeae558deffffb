//! What `cowpi` does with a built kernel, one module per subcommand.

pub mod image;
pub mod run;
pub mod sdcard;
pub mod test;
pub mod upload;
