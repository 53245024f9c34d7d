//! One module per command.

pub mod compact;
pub mod demo;
pub mod forecast;
pub mod generate;
pub mod keys;
pub mod migrate;
pub mod notify;
pub mod produce;
pub mod replay;
pub mod run;
