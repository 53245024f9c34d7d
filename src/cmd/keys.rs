//! `vigie keys create|list|revoke`: API keys of the instance. A new key is
//! printed once and only its hash is kept; listing shows metadata only;
//! a revoked key is refused by every running API from its next request.
//! The command works on the keys file directly, with the admin's rights.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use vigie::config::RuntimeConfig;
use vigie_query_api::keys::{KeyStore, Principal, parse_expiry};

/// Where the keys are.
#[derive(Debug, clap::Args)]
pub struct Where {
    /// Keys file (default: from --config, else ./vigie-data/keys.json).
    #[arg(long)]
    keys_file: Option<PathBuf>,
    /// Configuration whose keys file to use.
    #[arg(long)]
    config: Option<PathBuf>,
}

impl Where {
    fn path(&self) -> Result<PathBuf> {
        Ok(match &self.keys_file {
            Some(p) => p.clone(),
            None => RuntimeConfig::load(self.config.as_deref(), std::env::vars())?.keys_file(),
        })
    }
}

/// `vigie keys` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a key for a tenant and print it (once).
    Create {
        /// Tenant the key reads and writes.
        #[arg(long)]
        tenant: String,
        /// Also allow managing every tenant's keys (POST /v1/tenants/{tenant}/keys, GET /v1/keys).
        #[arg(long)]
        admin: bool,
        /// When the key stops working: a duration (90d, 12h, 30m) or a date (2027-01-31, 31/01/2027).
        #[arg(long)]
        expires: Option<String>,
        #[command(flatten)]
        at: Where,
    },
    /// List keys (id, tenant, created, last used, expiry), never their secrets.
    List {
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Where,
    },
    /// Revoke a key by its id (the part after vk_): refused from the next request on.
    Revoke {
        /// The key's id, or the whole key.
        id: String,
        #[command(flatten)]
        at: Where,
    },
}

fn admin() -> Principal {
    Principal { tenant: String::new(), admin: true }
}

fn open(path: &Path) -> Result<KeyStore> {
    Ok(KeyStore::open(path)?)
}

/// Runs the command.
pub fn run(c: &Command) -> Result<()> {
    match c {
        Command::Create { tenant, admin, expires, at } => {
            let path = at.path()?;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
            let expires = expires.as_deref().map(|t| parse_expiry(t, now)).transpose().map_err(anyhow::Error::msg)?;
            let (key, info) = open(&path)?.create_until(tenant, *admin, expires)?;
            println!("{key}");
            eprintln!(
                "key {} for tenant \"{tenant}\"{}{} saved (hashed) in {}; it is shown only now",
                info.id,
                if *admin { " (admin)" } else { "" },
                info.expires.as_deref().map(|e| format!(", expires {e}")).unwrap_or_default(),
                path.display()
            );
            Ok(())
        }
        Command::List { tenant, json, at } => {
            let keys = open(&at.path()?)?.list(&admin());
            let keys: Vec<_> = keys.into_iter().filter(|k| tenant.as_ref().is_none_or(|t| &k.tenant == t)).collect();
            if *json {
                for k in &keys {
                    println!("{}", serde_json::to_string(k)?);
                }
                return Ok(());
            }
            println!("{:<10} {:<24} {:<6} {:<25} {:<25} expires", "id", "tenant", "admin", "created", "last used");
            for k in &keys {
                let expires = match (&k.expires, k.expired) {
                    (Some(e), true) => format!("{e} (expired)"),
                    (Some(e), false) => e.clone(),
                    (None, _) => "never".into(),
                };
                println!(
                    "{:<10} {:<24} {:<6} {:<25} {:<25} {expires}",
                    k.id,
                    k.tenant,
                    if k.admin { "yes" } else { "no" },
                    k.created,
                    k.last_used.as_deref().unwrap_or("never"),
                );
            }
            Ok(())
        }
        Command::Revoke { id, at } => {
            // A whole key is accepted too: its id is the part after vk_.
            let id = id.strip_prefix("vk_").map_or(id.as_str(), |rest| rest.split('_').next().unwrap_or(rest));
            let path = at.path()?;
            if !open(&path)?.revoke(id, &admin())? {
                bail!("no key with id \"{id}\" in {}; `vigie keys list` shows the ids", path.display());
            }
            eprintln!("key {id} revoked: every API of the instance refuses it from its next request");
            Ok(())
        }
    }
}
