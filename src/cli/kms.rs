//! `granary kms key ...`: the master keys of the keyring (`kms::keyring`). The keyring is a
//! plain file, changed under its writers' lock, so these commands work whether or not a
//! gateway runs: running gateways pick the change up from the file (within
//! `KEYRING_RECHECK_MILLIS`, at once for a key they did not know). Key material is never printed.

use crate::config::StoreConfig;
use crate::kms::keyring::{KeyInfo, LocalKeyring, DEFAULT_KEY};
use clap::Subcommand;
use std::path::Path;

#[derive(Subcommand)]
pub(super) enum KmsCommand {
    /// Master keys of the keyring (DATA_DIR/keyring, or --keyring FILE): SSE-KMS names them
    /// by NAME, alias/NAME or arn:aws:kms:REGION:ACCOUNT:key/NAME.
    Key {
        #[command(subcommand)]
        command: KmsKeyCommand,
    },
}

#[derive(Subcommand)]
pub(super) enum KmsKeyCommand {
    /// Create a master key: one version of 32 random bytes.
    Create { name: String },
    /// Add a version of fresh material: new data keys are wrapped under it; objects written
    /// before still decrypt with the versions they were written under.
    Rotate { name: String },
    /// Names, versions, when created and rotated, enabled or not; never key material.
    List,
    /// Disable a key: requests that name it, and reads of objects under it, fail
    /// (KMS.DisabledException) until it is enabled again. The default key cannot be disabled.
    Disable { name: String },
    /// Enable a disabled key.
    Enable { name: String },
}

pub(super) async fn kms_command(store: &StoreConfig, command: KmsCommand) -> Result<(), String> {
    let path = store.keyring_path();
    tokio::task::spawn_blocking(move || run(&path, command)).await.map_err(|e| e.to_string())?
}

fn run(path: &Path, command: KmsCommand) -> Result<(), String> {
    let KmsCommand::Key { command } = command;
    let keyring = LocalKeyring::open(path).map_err(|e| e.to_string())?;
    let error = |e: crate::kms::keyring::KeyringError| e.to_string();
    match command {
        KmsKeyCommand::Create { name } => {
            keyring.create_key(&name).map_err(error)?;
            println!("created KMS key {name} (version 1) in {}", path.display());
        }
        KmsKeyCommand::Rotate { name } => {
            let info = keyring.rotate_key(&name).map_err(error)?;
            let newest = info.versions.last().map_or(1, |v| v.version);
            println!("rotated KMS key {name}: new data keys use version {newest}; versions before it still decrypt");
        }
        KmsKeyCommand::Disable { name } => {
            keyring.set_enabled(&name, false).map_err(error)?;
            println!("KMS key {name} is disabled");
        }
        KmsKeyCommand::Enable { name } => {
            keyring.set_enabled(&name, true).map_err(error)?;
            println!("KMS key {name} is enabled");
        }
        KmsKeyCommand::List => {
            let keys = keyring.list().map_err(error)?;
            if keys.is_empty() {
                println!("no keys in {} (a gateway creates {DEFAULT_KEY} when it starts)", path.display());
                return Ok(());
            }
            println!("{:<32} {:<9} {:>8}  {:<24} rotated", "name", "state", "versions", "created");
            for key in keys {
                println!("{}", list_line(&key));
            }
        }
    }
    Ok(())
}

fn list_line(key: &KeyInfo) -> String {
    let state = if key.enabled { "enabled" } else { "disabled" };
    let rotated = match key.versions.as_slice() {
        [_, .., newest] => crate::clock::utc_text(newest.created_ms),
        _ => "-".into(),
    };
    format!("{:<32} {:<9} {:>8}  {:<24} {rotated}", key.name, state, key.versions.len(), crate::clock::utc_text(key.created_ms))
}
