//! Builds the core service from settings: store, clock, entropy, hasher.

use std::sync::Arc;

use anyhow::{Context, Result};
use tessera_core::master_key::MasterKey;
use tessera_core::password::Argon2idHasher;
use tessera_core::service::TesseraParts;
use tessera_core::{OsEntropy, SystemClock, Tessera};

use crate::settings::Settings;

/// The core service on the configured store.
pub async fn tessera(settings: &Settings) -> Result<Arc<Tessera>> {
    let stores = tessera_store::open(&settings.store)
        .await
        .with_context(|| format!("store {}", redact(&settings.store)))?;
    let master_key = master_key(settings)?;
    let stores = match &settings.redis {
        // Records in Redis are tagged with a key only the master key gives:
        // write access to Redis alone does not mint sessions.
        Some(redis) => {
            let record_key = tessera_store::redis::RecordKey::from_master(&master_key);
            tessera_store::with_redis(stores, redis, record_key)
                .await
                .with_context(|| format!("Redis {}", redact(&redis.url)))?
        }
        None => {
            tessera_store::check_sessions_engine(&stores, None).await?;
            stores
        }
    };
    let tessera = Tessera::new(TesseraParts {
        stores,
        clock: Arc::new(SystemClock),
        entropy: Arc::new(OsEntropy),
        hasher: Arc::new(Argon2idHasher::default()),
        hash_concurrency: settings.hash_concurrency,
        config: settings.core.clone(),
        master_key,
    })
    .await?;
    Ok(Arc::new(tessera))
}

/// The master key: given directly, else read from its file, else (first
/// start) generated and written to a new file readable by the owner only.
/// The in-memory store gets a throwaway key: nothing it seals outlives it.
fn master_key(settings: &Settings) -> Result<MasterKey> {
    if let Some(text) = &settings.master_key {
        return MasterKey::parse(text).context("TESSERA_MASTER_KEY");
    }
    let Some(path) = &settings.master_key_file else {
        if settings.store != "memory" {
            // Every node must unseal the keys the others wrote.
            anyhow::bail!(
                "a shared store needs TESSERA_MASTER_KEY (or TESSERA_MASTER_KEY_FILE), the same on every node"
            );
        }
        return Ok(MasterKey::generate(&OsEntropy));
    };
    match std::fs::read_to_string(path) {
        Ok(text) => read_key_file(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key_file(path),
        Err(e) => Err(e).with_context(|| format!("cannot read master key file {}", path.display())),
    }
}

/// An existing key file's key, refused when its mode lets the group or
/// others read or write it: whoever can read the file can unseal every
/// signing key (README "Keys": the file is 0600).
fn read_key_file(path: &std::path::Path, text: &str) -> Result<MasterKey> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("cannot read master key file {}", path.display()))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        anyhow::bail!(
            "master key file {} has mode {mode:03o}, readable beyond its owner: run chmod 600 {}",
            path.display(),
            path.display()
        );
    }
    MasterKey::parse(text).with_context(|| format!("master key file {}", path.display()))
}

fn create_key_file(path: &std::path::Path) -> Result<MasterKey> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let key = MasterKey::generate(&OsEntropy);
    // create_new: never overwrite a key another process just wrote.
    let file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
    match file {
        Ok(mut f) => {
            f.write_all(format!("{}\n", key.to_text()).as_bytes())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("cannot write master key file {}", path.display()))?;
            tracing::info!(path = %path.display(), "master key file created (mode 0600); back it up with the database");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path)?;
            read_key_file(path, &text)
        }
        Err(e) => {
            Err(e).with_context(|| format!("cannot create master key file {}", path.display()))
        }
    }
}

/// A store URL without any password it embeds, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}
