//! The SQLite backend: the embedded default.
//!
//! WAL journal with `synchronous=FULL`: a commit is durable once it returns,
//! readers never block the writer, and the CLI can work on the same file while
//! a server runs (writers wait on `busy_timeout` instead of failing). Every
//! trait method is one statement or one transaction, so each is atomic.
//!
//! Reads share a pool of connections; every write goes through one dedicated
//! writer connection, so this process's writes queue in order instead of
//! meeting SQLite's lock. (SQLite admits one writer at a time anyway; writers
//! on separate connections wait for each other in `busy_timeout`'s sleeps of up
//! to 100 ms, which measured a refresh p99 of about 300 ms.)

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, query};

type SqliteQuery<'q> = Query<'q, Sqlite, SqliteArguments<'q>>;
use tessera_core::client::{Client, ClientStore};
use tessera_core::password::PasswordHash;
use tessera_core::refresh::{
    FamilyId, FamilyKind, RefreshFamily, RefreshStore, Rotation, TokenRef,
};
use tessera_core::revocation::{RevocationCutoffs, RevocationSet, RevocationStore};
use tessera_core::secret::{Secret, SecretHash};
use tessera_core::session::{ClientInfo, SessionId, SessionRecord};
use tessera_core::signing_key::{KeyStore, StoredKey, parse_state, state_name};
use tessera_core::store::{
    Backend, DeploymentStore, SessionData, SessionStore, StoreError, UserStore,
};
use tessera_core::user::{User, UserId, Username};
use tessera_core::{Moment, Timestamp};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Users and sessions in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Reads.
    pool: SqlitePool,
    /// Writes: one connection (see the module documentation).
    writer: SqlitePool,
    health: Arc<Health>,
}

/// When the store last failed, so that connections opened before a failure
/// are replaced rather than reused: a connection that met a damaged or
/// vanished file can stay in an error state after the file is back.
#[derive(Debug)]
struct Health {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last failure; 0 for none.
    last_failure_ms: AtomicU64,
}

impl Health {
    fn record_failure(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX).max(1);
        self.last_failure_ms.store(ms, Ordering::Release);
    }

    /// Whether a connection `age` old was opened before the last failure.
    fn predates_failure(&self, age: Duration) -> bool {
        let failure = self.last_failure_ms.load(Ordering::Acquire);
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let opened = now.saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX));
        failure != 0 && opened <= failure
    }
}

impl SqliteStore {
    /// Opens `url` (`sqlite://PATH`), creating the file and applying
    /// migrations if needed.
    pub async fn open(url: &str) -> Result<Self, crate::OpenError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let health = Arc::new(Health { epoch: Instant::now(), last_failure_ms: AtomicU64::new(0) });
        let writer = Self::pool_options(&health, 1).connect_with(options.clone()).await?;
        MIGRATOR.run(&writer).await?;
        let pool = Self::pool_options(&health, 8).connect_with(options).await?;
        Ok(Self { pool, writer, health })
    }

    /// Pool settings of `connections` connections that are replaced, rather
    /// than reused, when they predate the last failure (see [`Health`]).
    fn pool_options(health: &Arc<Health>, connections: u32) -> SqlitePoolOptions {
        let check = Arc::clone(health);
        SqlitePoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(5))
            .before_acquire(move |_, meta| {
                let keep = !check.predates_failure(meta.age);
                Box::pin(async move { Ok(keep) })
            })
    }

    /// Maps a failed query, remembering when it happened (see [`Health`]).
    /// A unique-key violation is a conflict, not a failure of the store.
    fn fail(&self, e: sqlx::Error) -> StoreError {
        let mapped = unavailable(e);
        if matches!(mapped, StoreError::Unavailable(_)) {
            self.health.record_failure();
        }
        mapped
    }

    /// Runs a write; returns how many rows it changed.
    async fn changed(&self, q: SqliteQuery<'_>) -> Result<u64, StoreError> {
        Ok(q.execute(&self.writer).await.map_err(|e| self.fail(e))?.rows_affected())
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

fn unavailable(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict("unique key"),
        _ => StoreError::Unavailable(Box::new(e)),
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("bad {what} in sqlite row"))
}

fn user_from_row(row: &SqliteRow) -> Result<User, StoreError> {
    let id: String = row.try_get("id").map_err(unavailable)?;
    Ok(User {
        id: UserId::parse(&id).ok_or_else(|| corrupt("user id"))?,
        username: Username::from_stored(row.try_get("username").map_err(unavailable)?),
        password_hash: PasswordHash::from_phc(row.try_get("password_hash").map_err(unavailable)?),
        scope: row.try_get("scope").map_err(unavailable)?,
        created_at: Timestamp::from_unix(row.try_get("created_at").map_err(unavailable)?),
        disabled: row.try_get::<i64, _>("disabled").map_err(unavailable)? != 0,
    })
}

fn session_from_row(row: &SqliteRow) -> Result<SessionRecord, StoreError> {
    let id: String = row.try_get("id").map_err(unavailable)?;
    let user_id: String = row.try_get("user_id").map_err(unavailable)?;
    let hash: Vec<u8> = row.try_get("secret_hash").map_err(unavailable)?;
    let csrf: String = row.try_get("csrf_token").map_err(unavailable)?;
    Ok(SessionRecord {
        id: SessionId::parse(&id).ok_or_else(|| corrupt("session id"))?,
        secret_hash: SecretHash(hash.try_into().map_err(|_| corrupt("secret hash"))?),
        user_id: UserId::parse(&user_id).ok_or_else(|| corrupt("user id"))?,
        csrf_token: Secret::from_presented(&csrf),
        created_at: Timestamp::from_unix(row.try_get("created_at").map_err(unavailable)?),
        last_seen_at: Timestamp::from_unix(row.try_get("last_seen_at").map_err(unavailable)?),
        client: ClientInfo {
            user_agent: row.try_get("user_agent").map_err(unavailable)?,
            ip: row.try_get("ip").map_err(unavailable)?,
        },
    })
}

fn family_from_row(row: &SqliteRow) -> Result<RefreshFamily, StoreError> {
    let text = |c: &str| row.try_get::<String, _>(c).map_err(unavailable);
    let time = |c: &str| row.try_get::<i64, _>(c).map(Timestamp::from_unix).map_err(unavailable);
    Ok(RefreshFamily {
        id: FamilyId::parse(&text("id")?).ok_or_else(|| corrupt("family id"))?,
        user_id: UserId::parse(&text("user_id")?).ok_or_else(|| corrupt("user id"))?,
        client_id: text("client_id")?,
        scope: text("scope")?,
        kind: FamilyKind::parse(&text("kind")?).ok_or_else(|| corrupt("family kind"))?,
        created_at: time("created_at")?,
        expires_at: time("expires_at")?,
        last_used_at: time("last_used_at")?,
        client: ClientInfo {
            user_agent: row.try_get("user_agent").map_err(unavailable)?,
            ip: row.try_get("ip").map_err(unavailable)?,
        },
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")
            .map_err(unavailable)?
            .map(Timestamp::from_unix),
        generation: u64::try_from(row.try_get::<i64, _>("generation").map_err(unavailable)?)
            .map_err(|_| corrupt("family generation"))?,
        rotated_at: row
            .try_get::<Option<i64>, _>("rotated_at")
            .map_err(unavailable)?
            .map(Moment::from_micros),
    })
}

const FAMILY_COLUMNS: &str = "id, user_id, client_id, scope, kind, created_at, expires_at, \
     last_used_at, user_agent, ip, revoked_at, generation, rotated_at";

/// A generation as SQLite stores it (a signed 64-bit integer).
fn sql_generation(generation: u64) -> Result<i64, StoreError> {
    i64::try_from(generation).map_err(|_| corrupt("family generation beyond i64"))
}

const USER_COLUMNS: &str = "id, username, password_hash, scope, created_at, disabled";
const SESSION_COLUMNS: &str =
    "id, secret_hash, user_id, csrf_token, created_at, last_seen_at, user_agent, ip";

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, u: &User) -> Result<(), StoreError> {
        query(
            "INSERT INTO users (id, username, username_key, password_hash, scope, created_at, disabled)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(u.id.to_string())
        .bind(u.username.as_str())
        .bind(u.username.key())
        .bind(u.password_hash.as_phc())
        .bind(&u.scope)
        .bind(u.created_at.unix())
        .bind(i64::from(u.disabled))
        .execute(&self.writer)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn find_user_by_name(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username_key = ?");
        let row = query(&sql).bind(username.key()).fetch_optional(&self.pool).await;
        row.map_err(|e| self.fail(e))?.as_ref().map(user_from_row).transpose()
    }

    async fn find_user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
        let row = query(&sql).bind(id.to_string()).fetch_optional(&self.pool).await;
        row.map_err(|e| self.fail(e))?.as_ref().map(user_from_row).transpose()
    }

    async fn set_password_hash(
        &self,
        id: &UserId,
        hash: &PasswordHash,
    ) -> Result<bool, StoreError> {
        let q = query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(hash.as_phc())
            .bind(id.to_string());
        Ok(self.changed(q).await? == 1)
    }

    async fn set_disabled(&self, id: &UserId, disabled: bool) -> Result<bool, StoreError> {
        let q = query("UPDATE users SET disabled = ? WHERE id = ?")
            .bind(i64::from(disabled))
            .bind(id.to_string());
        Ok(self.changed(q).await? == 1)
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, username_key");
        let rows = query(&sql).fetch_all(&self.pool).await.map_err(|e| self.fail(e))?;
        rows.iter().map(user_from_row).collect()
    }
}

#[async_trait]
impl DeploymentStore for SqliteStore {
    async fn deployment_fact(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = query("SELECT value FROM deployment WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        row.map(|r| r.try_get("value").map_err(|e| self.fail(e))).transpose()
    }

    async fn record_deployment_fact(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let q = query(
            "INSERT INTO deployment (key, value) VALUES (?, ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value);
        self.changed(q).await.map(drop)
    }
}

#[async_trait]
impl Backend for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        // Reads the schema, not just the connection: an unreadable file fails here.
        query("SELECT count(*) FROM sqlite_schema")
            .execute(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn revision(&self) -> Result<u64, StoreError> {
        let row = query("SELECT value FROM revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        let value: i64 = row.try_get("value").map_err(|e| self.fail(e))?;
        Ok(value as u64)
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        query(
            "INSERT INTO sessions (id, secret_hash, user_id, csrf_token, created_at, last_seen_at, user_agent, ip)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(s.id.to_string())
        .bind(&s.secret_hash.0[..])
        .bind(s.user_id.to_string())
        .bind(s.csrf_token.expose())
        .bind(s.created_at.unix())
        .bind(s.last_seen_at.unix())
        .bind(s.client.user_agent.as_deref())
        .bind(s.client.ip.as_deref())
        .execute(&self.writer)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn find_session_by_secret(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE secret_hash = ?");
        let row = query(&sql).bind(&hash.0[..]).fetch_optional(&self.pool).await;
        row.map_err(|e| self.fail(e))?.as_ref().map(session_from_row).transpose()
    }

    async fn touch_session(
        &self,
        id: &SessionId,
        last_seen: Timestamp,
    ) -> Result<bool, StoreError> {
        // UPDATE, never an upsert: a touch racing a logout cannot recreate the row.
        let q = query("UPDATE sessions SET last_seen_at = max(last_seen_at, ?) WHERE id = ?")
            .bind(last_seen.unix())
            .bind(id.to_string());
        Ok(self.changed(q).await? == 1)
    }

    async fn session_data(&self, id: &SessionId) -> Result<Option<SessionData>, StoreError> {
        let row = query("SELECT data FROM sessions WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        let Some(row) = row else { return Ok(None) };
        let text: String = row.try_get("data").map_err(|e| self.fail(e))?;
        serde_json::from_str(&text).map(Some).map_err(|_| corrupt("session data"))
    }

    async fn set_session_data(
        &self,
        id: &SessionId,
        data: &SessionData,
    ) -> Result<bool, StoreError> {
        let text = serde_json::to_string(data).map_err(|_| corrupt("session data"))?;
        let q = query("UPDATE sessions SET data = ? WHERE id = ?").bind(text).bind(id.to_string());
        Ok(self.changed(q).await? == 1)
    }

    async fn delete_session(&self, id: &SessionId) -> Result<bool, StoreError> {
        let q = query("DELETE FROM sessions WHERE id = ?").bind(id.to_string());
        Ok(self.changed(q).await? == 1)
    }

    async fn delete_user_sessions(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
    ) -> Result<u64, StoreError> {
        let q = query("DELETE FROM sessions WHERE user_id = ? AND id IS NOT ?")
            .bind(user.to_string())
            .bind(keep.map(ToString::to_string));
        self.changed(q).await
    }

    async fn list_user_sessions(&self, user: &UserId) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = ? ORDER BY created_at, id"
        );
        let rows = query(&sql).bind(user.to_string()).fetch_all(&self.pool).await;
        rows.map_err(|e| self.fail(e))?.iter().map(session_from_row).collect()
    }

    async fn purge_sessions(
        &self,
        idle_cutoff: Timestamp,
        absolute_cutoff: Timestamp,
    ) -> Result<u64, StoreError> {
        let q = query("DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?")
            .bind(idle_cutoff.unix())
            .bind(absolute_cutoff.unix());
        self.changed(q).await
    }
}

#[async_trait]
impl RefreshStore for SqliteStore {
    async fn insert_family(
        &self,
        f: &RefreshFamily,
        first_token: &SecretHash,
    ) -> Result<(), StoreError> {
        query(
            "INSERT INTO refresh_families (id, user_id, client_id, scope, kind, created_at, expires_at,
                 last_used_at, user_agent, ip, revoked_at, generation, rotated_at, current_hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(f.id.to_string())
        .bind(f.user_id.to_string())
        .bind(&f.client_id)
        .bind(&f.scope)
        .bind(f.kind.as_str())
        .bind(f.created_at.unix())
        .bind(f.expires_at.unix())
        .bind(f.last_used_at.unix())
        .bind(f.client.user_agent.as_deref())
        .bind(f.client.ip.as_deref())
        .bind(f.revoked_at.map(Timestamp::unix))
        .bind(sql_generation(f.generation)?)
        .bind(f.rotated_at.map(Moment::micros))
        .bind(&first_token.0[..])
        .execute(&self.writer)
        .await
        .map(drop)
        .map_err(|e| self.fail(e))
    }

    async fn rotate_refresh(
        &self,
        presented: &TokenRef,
        successor: &SecretHash,
        now: Timestamp,
        rotated_at: Moment,
    ) -> Result<Rotation, StoreError> {
        // The conditional UPDATE is the linearisation point (SQLite has one
        // writer): of concurrent rotations of one token, exactly one finds
        // the family still at the token's generation with its hash.
        let sql = format!(
            "UPDATE refresh_families SET generation = generation + 1, current_hash = ?,
                 rotated_at = ?, last_used_at = max(last_used_at, ?)
             WHERE id = ? AND generation = ? AND current_hash = ?
             RETURNING {FAMILY_COLUMNS}"
        );
        let won = query(&sql)
            .bind(&successor.0[..])
            .bind(rotated_at.micros())
            .bind(now.unix())
            .bind(presented.family.to_string())
            .bind(sql_generation(presented.generation)?)
            .bind(&presented.hash.0[..])
            .fetch_optional(&self.writer)
            .await
            .map_err(|e| self.fail(e))?;
        if let Some(row) = won {
            return Ok(Rotation::Rotated(family_from_row(&row)?));
        }
        // Lost, or never current: a family only moves forward, so reading
        // it after the failed UPDATE tells which.
        Ok(match self.find_family(&presented.family).await? {
            Some(f) if f.generation > presented.generation => Rotation::AlreadyConsumed(f),
            _ => Rotation::Unknown,
        })
    }

    async fn find_legacy_token(&self, token: &SecretHash) -> Result<Option<FamilyId>, StoreError> {
        let row = query("SELECT family_id FROM refresh_legacy_tokens WHERE hash = ?")
            .bind(&token.0[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get("family_id").map_err(|e| self.fail(e))?;
        FamilyId::parse(&id).ok_or_else(|| corrupt("family id")).map(Some)
    }

    async fn find_family(&self, id: &FamilyId) -> Result<Option<RefreshFamily>, StoreError> {
        let sql = format!("SELECT {FAMILY_COLUMNS} FROM refresh_families WHERE id = ?");
        let row = query(&sql).bind(id.to_string()).fetch_optional(&self.pool).await;
        row.map_err(|e| self.fail(e))?.as_ref().map(family_from_row).transpose()
    }

    async fn revoke_family(&self, id: &FamilyId, at: Timestamp) -> Result<bool, StoreError> {
        let q =
            query("UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(at.unix())
                .bind(id.to_string());
        Ok(self.changed(q).await? == 1)
    }

    async fn revoke_user_families(
        &self,
        user: &UserId,
        keep: Option<&FamilyId>,
        at: Timestamp,
    ) -> Result<Vec<FamilyId>, StoreError> {
        let rows = query(
            "UPDATE refresh_families SET revoked_at = ?
             WHERE user_id = ? AND id IS NOT ? AND revoked_at IS NULL RETURNING id",
        )
        .bind(at.unix())
        .bind(user.to_string())
        .bind(keep.map(ToString::to_string))
        .fetch_all(&self.writer)
        .await
        .map_err(|e| self.fail(e))?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id").map_err(|e| self.fail(e))?;
                FamilyId::parse(&id).ok_or_else(|| corrupt("family id"))
            })
            .collect()
    }

    async fn list_user_families(&self, user: &UserId) -> Result<Vec<RefreshFamily>, StoreError> {
        let sql = format!(
            "SELECT {FAMILY_COLUMNS} FROM refresh_families
             WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at, id"
        );
        let rows = query(&sql).bind(user.to_string()).fetch_all(&self.pool).await;
        rows.map_err(|e| self.fail(e))?.iter().map(family_from_row).collect()
    }

    async fn purge_families(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        // Legacy token records go with their family (ON DELETE CASCADE).
        let q = query("DELETE FROM refresh_families WHERE expires_at < ?").bind(cutoff.unix());
        self.changed(q).await
    }
}

fn opt_time(row: &SqliteRow, col: &str) -> Result<Option<Timestamp>, StoreError> {
    let v: Option<i64> = row.try_get(col).map_err(unavailable)?;
    Ok(v.map(Timestamp::from_unix))
}

fn client_from_row(row: &SqliteRow) -> Result<Client, StoreError> {
    let hash: Option<Vec<u8>> = row.try_get("secret_hash").map_err(unavailable)?;
    let secret_hash = match hash {
        Some(h) => Some(SecretHash(h.try_into().map_err(|_| corrupt("client secret hash"))?)),
        None => None,
    };
    Ok(Client {
        id: row.try_get("id").map_err(unavailable)?,
        secret_hash,
        scope: row.try_get("scope").map_err(unavailable)?,
        created_at: Timestamp::from_unix(row.try_get("created_at").map_err(unavailable)?),
    })
}

fn key_from_row(row: &SqliteRow) -> Result<StoredKey, StoreError> {
    let state: String = row.try_get("state").map_err(unavailable)?;
    Ok(StoredKey {
        kid: row.try_get("kid").map_err(unavailable)?,
        alg: row.try_get("alg").map_err(unavailable)?,
        state: parse_state(&state).ok_or_else(|| corrupt("key state"))?,
        sealed_private: row.try_get("sealed_private").map_err(unavailable)?,
        public_jwk: row.try_get("public_jwk").map_err(unavailable)?,
        created_at: Timestamp::from_unix(row.try_get("created_at").map_err(unavailable)?),
        activated_at: opt_time(row, "activated_at")?,
        retired_at: opt_time(row, "retired_at")?,
    })
}

fn insert_key(k: &StoredKey) -> SqliteQuery<'_> {
    query(
        "INSERT INTO signing_keys (kid, alg, state, sealed_private, public_jwk, created_at,
             activated_at, retired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&k.kid)
    .bind(&k.alg)
    .bind(state_name(k.state))
    .bind(&k.sealed_private)
    .bind(k.public_jwk.as_deref())
    .bind(k.created_at.unix())
    .bind(k.activated_at.map(Timestamp::unix))
    .bind(k.retired_at.map(Timestamp::unix))
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn insert_client(&self, c: &Client) -> Result<(), StoreError> {
        let q =
            query("INSERT INTO clients (id, secret_hash, scope, created_at) VALUES (?, ?, ?, ?)")
                .bind(&c.id)
                .bind(c.secret_hash.map(|h| h.0.to_vec()))
                .bind(&c.scope)
                .bind(c.created_at.unix());
        self.changed(q).await.map(drop)
    }

    async fn find_client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let row = query("SELECT id, secret_hash, scope, created_at FROM clients WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        row.as_ref().map(client_from_row).transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let rows =
            query("SELECT id, secret_hash, scope, created_at FROM clients ORDER BY created_at, id")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.fail(e))?;
        rows.iter().map(client_from_row).collect()
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn list_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = query("SELECT * FROM signing_keys ORDER BY created_at, kid")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        rows.iter().map(key_from_row).collect()
    }

    async fn insert_initial_keys(
        &self,
        current: &StoredKey,
        next: &StoredKey,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await.map_err(|e| self.fail(e))?;
        // Taking the write lock first (a no-op write) makes the emptiness
        // check and the inserts one serialised step across processes.
        query("UPDATE revision SET value = value WHERE id = 1")
            .execute(&mut *tx)
            .await
            .map_err(|e| self.fail(e))?;
        let row = query("SELECT count(*) AS n FROM signing_keys").fetch_one(&mut *tx).await;
        let n: i64 = row.map_err(|e| self.fail(e))?.try_get("n").map_err(|e| self.fail(e))?;
        if n > 0 {
            return Ok(false);
        }
        for k in [current, next] {
            insert_key(k).execute(&mut *tx).await.map_err(|e| self.fail(e))?;
        }
        tx.commit().await.map_err(|e| self.fail(e))?;
        Ok(true)
    }

    async fn rotate_keys(
        &self,
        expected_current: &str,
        new_next: &StoredKey,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await.map_err(|e| self.fail(e))?;
        // Compare-and-set on the current key: the first statement writes, so
        // it holds the write lock for the whole rotation.
        let retired = query(
            "UPDATE signing_keys SET state = 'retired', retired_at = ? WHERE kid = ? AND state = 'current'",
        )
        .bind(now.unix())
        .bind(expected_current)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.fail(e))?;
        if retired.rows_affected() != 1 {
            return Ok(false);
        }
        query("UPDATE signing_keys SET state = 'current', activated_at = ? WHERE state = 'next'")
            .bind(now.unix())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.fail(e))?;
        match insert_key(new_next).execute(&mut *tx).await.map_err(|e| self.fail(e)) {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => return Ok(false),
            Err(e) => return Err(e),
        }
        tx.commit().await.map_err(|e| self.fail(e))?;
        Ok(true)
    }

    async fn delete_retired_keys(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        let q = query("DELETE FROM signing_keys WHERE state = 'retired' AND retired_at < ?")
            .bind(cutoff.unix());
        self.changed(q).await
    }
}

#[async_trait]
impl RevocationStore for SqliteStore {
    async fn revoke_access_token(
        &self,
        jti: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let q = query(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)
             ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
        )
        .bind(jti)
        .bind(expires_at.unix());
        self.changed(q).await.map(drop)
    }

    async fn raise_tokens_not_before(
        &self,
        user: &UserId,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let q = query(
            "UPDATE users SET tokens_not_before = max(coalesce(tokens_not_before, ?), ?) WHERE id = ?",
        )
        .bind(at.unix())
        .bind(at.unix())
        .bind(user.to_string());
        Ok(self.changed(q).await? == 1)
    }

    async fn end_sessions(&self, ended: &[(SessionId, Timestamp)]) -> Result<(), StoreError> {
        // One transaction, one fsync: all of them or none.
        let mut tx = self.writer.begin().await.map_err(|e| self.fail(e))?;
        for (id, until) in ended {
            query(
                "INSERT INTO ended_sessions (id, until) VALUES (?, ?)
                 ON CONFLICT (id) DO UPDATE SET until = max(until, excluded.until)",
            )
            .bind(id.to_string())
            .bind(until.unix())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.fail(e))?;
        }
        tx.commit().await.map_err(|e| self.fail(e))
    }

    async fn load_revocations(
        &self,
        cutoffs: &RevocationCutoffs,
    ) -> Result<RevocationSet, StoreError> {
        // One read transaction: a consistent snapshot of all four (WAL).
        let mut conn = self.pool.begin().await.map_err(|e| self.fail(e))?;
        let tokens = query("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > ?")
            .bind(cutoffs.tokens_expiring_after.unix())
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| self.fail(e))?;
        let families = query(
            "SELECT id FROM refresh_families WHERE revoked_at IS NOT NULL AND last_used_at >= ?",
        )
        .bind(cutoffs.families_used_since.unix())
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| self.fail(e))?;
        let not_before =
            query("SELECT id, tokens_not_before FROM users WHERE tokens_not_before >= ?")
                .bind(cutoffs.not_before_since.unix())
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| self.fail(e))?;
        let sessions = query("SELECT id, until FROM ended_sessions WHERE until > ?")
            .bind(cutoffs.sessions_until_after.unix())
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| self.fail(e))?;
        let mut set = RevocationSet::default();
        for r in &tokens {
            let jti: String = r.try_get("jti").map_err(|e| self.fail(e))?;
            set.tokens.push((
                jti,
                Timestamp::from_unix(r.try_get("expires_at").map_err(|e| self.fail(e))?),
            ));
        }
        for r in &families {
            let id: String = r.try_get("id").map_err(|e| self.fail(e))?;
            set.families.push(FamilyId::parse(&id).ok_or_else(|| corrupt("family id"))?);
        }
        for r in &not_before {
            let id: String = r.try_get("id").map_err(|e| self.fail(e))?;
            let at: i64 = r.try_get("tokens_not_before").map_err(|e| self.fail(e))?;
            let user = UserId::parse(&id).ok_or_else(|| corrupt("user id"))?;
            set.not_before.push((user, Timestamp::from_unix(at)));
        }
        for r in &sessions {
            let id: String = r.try_get("id").map_err(|e| self.fail(e))?;
            let until: i64 = r.try_get("until").map_err(|e| self.fail(e))?;
            let id = SessionId::parse(&id).ok_or_else(|| corrupt("session id"))?;
            set.sessions.push((id, Timestamp::from_unix(until)));
        }
        Ok(set)
    }

    async fn purge_revocations(&self, cutoffs: &RevocationCutoffs) -> Result<u64, StoreError> {
        let q = query("DELETE FROM revoked_tokens WHERE expires_at <= ?")
            .bind(cutoffs.tokens_expiring_after.unix());
        let tokens = self.changed(q).await?;
        let q = query("DELETE FROM ended_sessions WHERE until <= ?")
            .bind(cutoffs.sessions_until_after.unix());
        Ok(tokens + self.changed(q).await?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

    use super::SqliteStore;

    /// README "Durability": a commit is durable once it returns because every
    /// connection runs WAL with `synchronous=FULL`. A `kill -9` test cannot
    /// tell FULL from NORMAL (the OS still holds the WAL), so the setting is
    /// read back from each pool's own connections.
    #[tokio::test]
    async fn sqlite_synchronous_full_and_wal_on_every_connection() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        for (name, pool) in [("writer", &store.writer), ("readers", &store.pool)] {
            // Hold several connections at once so more than one is checked.
            let mut held = Vec::new();
            for _ in 0..pool.options().get_max_connections().min(3) {
                held.push(pool.acquire().await.unwrap());
            }
            for conn in &mut held {
                let sync: i64 =
                    sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut **conn).await.unwrap();
                assert_eq!(sync, 2, "{name}: synchronous is {sync}, FULL is 2");
                let journal: String =
                    sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut **conn).await.unwrap();
                assert_eq!(journal, "wal", "{name}");
            }
        }
    }
}
