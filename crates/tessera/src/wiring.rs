//! Builds the core service from settings: store, clock, entropy, hasher.

use std::sync::Arc;

use anyhow::{Context, Result};
use tessera_core::password::Argon2idHasher;
use tessera_core::service::TesseraParts;
use tessera_core::{OsEntropy, SystemClock, Tessera};

use crate::settings::Settings;

/// The core service on the configured store.
pub async fn tessera(settings: &Settings) -> Result<Arc<Tessera>> {
    let stores = tessera_store::open(&settings.store)
        .await
        .with_context(|| format!("store {}", redact(&settings.store)))?;
    let tessera = Tessera::new(TesseraParts {
        stores,
        clock: Arc::new(SystemClock),
        entropy: Arc::new(OsEntropy),
        hasher: Arc::new(Argon2idHasher::default()),
        hash_concurrency: settings.hash_concurrency,
        config: settings.core.clone(),
    })
    .await?;
    Ok(Arc::new(tessera))
}

/// A store URL without any password it embeds, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}
