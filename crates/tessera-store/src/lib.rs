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
    /// The store's recorded deployment facts could not be read or written.
    #[error("cannot read or record where sessions live: {0}")]
    Store(#[from] tessera_core::store::StoreError),
    /// The settings disagree with what the store records about the
    /// deployment; the message names the setting to change.
    #[error("{0}")]
    Misconfigured(String),
}

/// The deployment fact that names where browser sessions live.
const SESSIONS_FACT: &str = "sessions";

/// What [`SESSIONS_FACT`] holds once a process ran with Redis.
fn redis_sessions(prefix: &str) -> String {
    format!("redis prefix={prefix}")
}

/// Checks that this process will find the store's browser sessions where
/// every other process keeps them: a store whose servers keep sessions in
/// Redis is refused without `TESSERA_REDIS_URL` (a CLI `logout-all` would
/// otherwise exit 0 and leave every Redis session alive), or with another
/// prefix. With Redis, records that sessions live there.
pub async fn check_sessions_engine(
    stores: &Stores,
    redis: Option<&redis::RedisSettings>,
) -> Result<(), OpenError> {
    let recorded = stores.deployment.deployment_fact(SESSIONS_FACT).await?;
    match (recorded, redis) {
        (Some(fact), None) => Err(OpenError::Misconfigured(format!(
            "this store's browser sessions live in Redis ({fact}, recorded by a server \
             that ran with it): set TESSERA_REDIS_URL and TESSERA_REDIS_PREFIX as on the servers"
        ))),
        (Some(fact), Some(r)) if fact != redis_sessions(&r.prefix) => {
            Err(OpenError::Misconfigured(format!(
                "this store's browser sessions live in Redis under another prefix ({fact}); \
                 set TESSERA_REDIS_PREFIX={:?} as on the servers, not {:?}",
                fact.strip_prefix("redis prefix=").unwrap_or(&fact),
                r.prefix
            )))
        }
        (None, Some(r)) => {
            stores
                .deployment
                .record_deployment_fact(SESSIONS_FACT, &redis_sessions(&r.prefix))
                .await?;
            Ok(())
        }
        _ => Ok(()),
    }
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
    check_sessions_engine(&stores, Some(settings)).await?;
    let shared = Arc::new(redis::RedisStore::connect(settings, record_key).await?);
    stores.sessions = shared.clone();
    stores.attempts = shared.clone();
    stores.feed = shared.clone();
    stores.backends.push(shared);
    Ok(stores)
}
