//! `vigie keys create --tenant T`: makes an API key; it is printed once and
//! only its hash is kept.

use std::path::PathBuf;

use anyhow::Result;
use vigie::config::RuntimeConfig;
use vigie_query_api::keys::KeyStore;

/// `vigie keys` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a key for a tenant and print it (once).
    Create {
        /// Tenant the key reads and writes.
        #[arg(long)]
        tenant: String,
        /// Also allow creating keys for other tenants (POST /v1/tenants/{tenant}/keys).
        #[arg(long)]
        admin: bool,
        /// Keys file (default: from --config, else ./vigie-data/keys.json).
        #[arg(long)]
        keys_file: Option<PathBuf>,
        /// Configuration whose keys file to use.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Runs the command.
pub fn run(c: &Command) -> Result<()> {
    match c {
        Command::Create { tenant, admin, keys_file, config } => {
            let path = match keys_file {
                Some(p) => p.clone(),
                None => RuntimeConfig::load(config.as_deref(), std::env::vars())?.keys_file(),
            };
            let key = KeyStore::open(&path)?.create(tenant, *admin)?;
            println!("{key}");
            eprintln!(
                "key for tenant \"{tenant}\"{} saved (hashed) in {}; it is shown only now",
                if *admin { " (admin)" } else { "" },
                path.display()
            );
            Ok(())
        }
    }
}
