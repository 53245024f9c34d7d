//! One module per command.

pub mod forecast;
pub mod generate;
pub mod replay;
