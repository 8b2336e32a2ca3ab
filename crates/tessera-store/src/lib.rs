//! Store backends for Tessera, chosen by URL at start-up.
//!
//! - `memory`: [`tessera_core::memory::MemoryStore`], nothing persists.
//! - `sqlite://PATH`: [`sqlite::SqliteStore`], the embedded default.
//! - `postgres://...` or `postgresql://...`: [`postgres::PostgresStore`], one
//!   database shared by several nodes.
//! - with Redis ([`with_redis`]): sessions, login counters and the change
//!   feed in [`redis::RedisStore`], the rest in the SQL store.
//!
//! Every backend passes the same [`contract`] suite.
#![deny(missing_docs)]

pub mod contract;
pub mod postgres;
pub mod redis;
pub mod sqlite;
#[doc(hidden)]
pub mod testing;

use std::sync::Arc;

use tessera_core::memory::MemoryStore;
use tessera_core::store::Stores;

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL names no backend this build supports.
    #[error("unsupported store {0:?}: expected `memory`, `sqlite://PATH` or `postgres://...`")]
    Unsupported(String),
    /// The backend could not be opened or migrated.
    #[error("cannot open store: {0}")]
    Backend(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("cannot migrate store: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Redis could not be used.
    #[error(transparent)]
    Redis(#[from] redis::RedisOpenError),
}

/// Opens (creating and migrating if needed) the store named by `url`.
pub async fn open(url: &str) -> Result<Stores, OpenError> {
    if url == "memory" {
        let store = Arc::new(MemoryStore::new());
        return Ok(Stores::single(store));
    }
    if url.starts_with("sqlite:") {
        let store = Arc::new(sqlite::SqliteStore::open(url).await?);
        return Ok(Stores::single(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = Arc::new(postgres::PostgresStore::open(url).await?);
        return Ok(Stores::single(store));
    }
    Err(OpenError::Unsupported(url.to_owned()))
}

/// Moves sessions, login counters and the change feed of `stores` to Redis
/// (see [`redis`] for what lives where); the rest stays where it was.
/// Session records are authenticated with `record_key` (from the master key).
pub async fn with_redis(
    mut stores: Stores,
    settings: &redis::RedisSettings,
    record_key: redis::RecordKey,
) -> Result<Stores, OpenError> {
    let shared = Arc::new(redis::RedisStore::connect(settings, record_key).await?);
    stores.sessions = shared.clone();
    stores.attempts = shared.clone();
    stores.feed = shared.clone();
    stores.backends.push(shared);
    Ok(stores)
}
