//! `vigie notify secret`: makes a webhook signing secret for a receiver.

use anyhow::Result;

/// `vigie notify` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print a new random signing secret (`whsec_` + base64 of 32 bytes) for
    /// a receiver's `secret`; give the same secret to the receiver to verify
    /// the `webhook-signature` header.
    Secret,
}

/// Runs the command.
pub fn run(c: &Command) -> Result<()> {
    match c {
        Command::Secret => {
            println!("{}", vigie_notify::sign::Secret::generate());
            Ok(())
        }
    }
}
