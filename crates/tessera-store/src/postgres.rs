//! The PostgreSQL backend: several Tessera nodes sharing one database.
//!
//! Every trait method is one statement or one transaction, so each is atomic.
//! PostgreSQL runs them at READ COMMITTED: each statement sees what was
//! committed when it started, and a write that meets a row another
//! transaction is changing waits for it, then re-checks its `WHERE` against
//! the committed row. The atomic operations lean on that: a conditional
//! `UPDATE ... WHERE consumed_at IS NULL` (or `state = 'current'`) admits one
//! of any number of concurrent callers, and unique indexes settle concurrent
//! inserts. Where a read must precede a write (the key-ring bootstrap), a lock
//! is taken first. The few reads that must agree with each other run in one
//! REPEATABLE READ transaction.
//!
//! When the server is down, a call waits at most the pool's acquire timeout
//! (3 s) for a connection, then fails with [`StoreError::Unavailable`]: the
//! core fails closed. The pool reconnects by itself once the server is back.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row, query};
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

type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a call waits for a connection before failing closed. Short: a
/// login should get a quick 503 while PostgreSQL is down, not hang.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connections per node: several nodes stay well under PostgreSQL's default
/// `max_connections` of 100.
const MAX_CONNECTIONS: u32 = 10;

/// Every store in one PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://` or `postgresql://`) and applies
    /// migrations if needed. Nodes starting together against an empty
    /// database are safe: sqlx holds an advisory lock while it migrates.
    pub async fn open(url: &str) -> Result<Self, crate::OpenError> {
        Self::open_with(PgConnectOptions::from_str(url)?).await
    }

    async fn open_with(options: PgConnectOptions) -> Result<Self, crate::OpenError> {
        let pool = pool_options().connect_with(options).await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Runs a write; returns how many rows it changed.
    async fn changed(&self, q: PgQuery<'_>) -> Result<u64, StoreError> {
        Ok(q.execute(&self.pool).await.map_err(fail)?.rows_affected())
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `test_before_acquire` stays on (the default): after an outage, pooled
/// connections are dead, and the check replaces them instead of failing one
/// request per dead connection.
fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().max_connections(MAX_CONNECTIONS).acquire_timeout(ACQUIRE_TIMEOUT)
}

/// Maps a failed query. A unique-key violation is a conflict, not a failure
/// of the store; anything else (no connection, timeout, a failed
/// constraint) makes the caller fail closed.
fn fail(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict("unique key"),
        _ => StoreError::Unavailable(Box::new(e)),
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("bad {what} in postgres row"))
}

/// One column of `row`; a missing column or a wrong type is a corrupt record.
fn get<'r, T>(row: &'r PgRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(column).map_err(|e| StoreError::Corrupt(format!("column {column}: {e}")))
}

fn time(row: &PgRow, column: &str) -> Result<Timestamp, StoreError> {
    get::<i64>(row, column).map(Timestamp::from_unix)
}

fn opt_time(row: &PgRow, column: &str) -> Result<Option<Timestamp>, StoreError> {
    Ok(get::<Option<i64>>(row, column)?.map(Timestamp::from_unix))
}

fn hash(row: &PgRow, column: &str) -> Result<SecretHash, StoreError> {
    let bytes: Vec<u8> = get(row, column)?;
    Ok(SecretHash(bytes.try_into().map_err(|_| corrupt(column))?))
}

fn client_info(row: &PgRow) -> Result<ClientInfo, StoreError> {
    Ok(ClientInfo { user_agent: get(row, "user_agent")?, ip: get(row, "ip")? })
}

const USER_COLUMNS: &str = "id, username, password_hash, scope, created_at, disabled";

fn user_from_row(row: &PgRow) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::parse(&get::<String>(row, "id")?).ok_or_else(|| corrupt("user id"))?,
        username: Username::from_stored(get(row, "username")?),
        password_hash: PasswordHash::from_phc(get(row, "password_hash")?),
        scope: get(row, "scope")?,
        created_at: time(row, "created_at")?,
        disabled: get(row, "disabled")?,
    })
}

const SESSION_COLUMNS: &str =
    "id, secret_hash, user_id, csrf_token, created_at, last_seen_at, user_agent, ip";

fn session_from_row(row: &PgRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: SessionId::parse(&get::<String>(row, "id")?).ok_or_else(|| corrupt("session id"))?,
        secret_hash: hash(row, "secret_hash")?,
        user_id: UserId::parse(&get::<String>(row, "user_id")?)
            .ok_or_else(|| corrupt("user id"))?,
        csrf_token: Secret::from_presented(&get::<String>(row, "csrf_token")?),
        created_at: time(row, "created_at")?,
        last_seen_at: time(row, "last_seen_at")?,
        client: client_info(row)?,
    })
}

const FAMILY_COLUMNS: &str = "id, user_id, client_id, scope, kind, created_at, expires_at, \
     last_used_at, user_agent, ip, revoked_at, generation, rotated_at";

/// A generation as PostgreSQL stores it (`BIGINT`).
fn sql_generation(generation: u64) -> Result<i64, StoreError> {
    i64::try_from(generation).map_err(|_| corrupt("family generation beyond i64"))
}

fn family_from_row(row: &PgRow) -> Result<RefreshFamily, StoreError> {
    Ok(RefreshFamily {
        id: family_id(row)?,
        user_id: UserId::parse(&get::<String>(row, "user_id")?)
            .ok_or_else(|| corrupt("user id"))?,
        client_id: get(row, "client_id")?,
        scope: get(row, "scope")?,
        kind: FamilyKind::parse(&get::<String>(row, "kind")?)
            .ok_or_else(|| corrupt("family kind"))?,
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
        last_used_at: time(row, "last_used_at")?,
        client: client_info(row)?,
        revoked_at: opt_time(row, "revoked_at")?,
        generation: u64::try_from(get::<i64>(row, "generation")?)
            .map_err(|_| corrupt("family generation"))?,
        rotated_at: get::<Option<i64>>(row, "rotated_at")?.map(Moment::from_micros),
    })
}

fn family_id(row: &PgRow) -> Result<FamilyId, StoreError> {
    FamilyId::parse(&get::<String>(row, "id")?).ok_or_else(|| corrupt("family id"))
}

const CLIENT_COLUMNS: &str = "id, secret_hash, scope, created_at";

fn client_from_row(row: &PgRow) -> Result<Client, StoreError> {
    let secret_hash = match get::<Option<Vec<u8>>>(row, "secret_hash")? {
        Some(h) => Some(SecretHash(h.try_into().map_err(|_| corrupt("client secret hash"))?)),
        None => None,
    };
    Ok(Client {
        id: get(row, "id")?,
        secret_hash,
        scope: get(row, "scope")?,
        created_at: time(row, "created_at")?,
    })
}

const KEY_COLUMNS: &str =
    "kid, alg, state, sealed_private, public_jwk, created_at, activated_at, retired_at";

fn key_from_row(row: &PgRow) -> Result<StoredKey, StoreError> {
    Ok(StoredKey {
        kid: get(row, "kid")?,
        alg: get(row, "alg")?,
        state: parse_state(&get::<String>(row, "state")?).ok_or_else(|| corrupt("key state"))?,
        sealed_private: get(row, "sealed_private")?,
        public_jwk: get(row, "public_jwk")?,
        created_at: time(row, "created_at")?,
        activated_at: opt_time(row, "activated_at")?,
        retired_at: opt_time(row, "retired_at")?,
    })
}

fn insert_key(k: &StoredKey) -> PgQuery<'_> {
    query(
        "INSERT INTO signing_keys (kid, alg, state, sealed_private, public_jwk, created_at,
             activated_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
impl UserStore for PostgresStore {
    async fn insert_user(&self, u: &User) -> Result<(), StoreError> {
        // Concurrent inserts of one name: the unique index makes the later
        // wait for the earlier to commit, then fail as a conflict.
        let q = query(
            "INSERT INTO users (id, username, username_key, password_hash, scope, created_at, disabled)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(u.id.to_string())
        .bind(u.username.as_str())
        .bind(u.username.key())
        .bind(u.password_hash.as_phc())
        .bind(&u.scope)
        .bind(u.created_at.unix())
        .bind(u.disabled);
        self.changed(q).await.map(drop)
    }

    async fn find_user_by_name(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username_key = $1");
        let row = query(&sql).bind(username.key()).fetch_optional(&self.pool).await;
        row.map_err(fail)?.as_ref().map(user_from_row).transpose()
    }

    async fn find_user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = query(&sql).bind(id.to_string()).fetch_optional(&self.pool).await;
        row.map_err(fail)?.as_ref().map(user_from_row).transpose()
    }

    async fn set_password_hash(
        &self,
        id: &UserId,
        hash: &PasswordHash,
    ) -> Result<bool, StoreError> {
        let q = query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash.as_phc())
            .bind(id.to_string());
        Ok(self.changed(q).await? == 1)
    }

    async fn set_disabled(&self, id: &UserId, disabled: bool) -> Result<bool, StoreError> {
        let q = query("UPDATE users SET disabled = $1 WHERE id = $2")
            .bind(disabled)
            .bind(id.to_string());
        Ok(self.changed(q).await? == 1)
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, username_key");
        let rows = query(&sql).fetch_all(&self.pool).await.map_err(fail)?;
        rows.iter().map(user_from_row).collect()
    }
}

#[async_trait]
impl DeploymentStore for PostgresStore {
    async fn deployment_fact(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = query("SELECT value FROM deployment WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(fail)?;
        row.map(|r| get::<String>(&r, "value")).transpose()
    }

    async fn record_deployment_fact(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let q = query(
            "INSERT INTO deployment (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value);
        self.changed(q).await.map(drop)
    }
}

#[async_trait]
impl Backend for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        // Reads a table, not just the connection: a database without the
        // schema (dropped, or the wrong one) fails here.
        query("SELECT value FROM revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(fail)?;
        Ok(())
    }

    async fn revision(&self) -> Result<u64, StoreError> {
        let row = query("SELECT value FROM revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(fail)?;
        u64::try_from(get::<i64>(&row, "value")?).map_err(|_| corrupt("revision"))
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let q = query(
            "INSERT INTO sessions (id, secret_hash, user_id, csrf_token, created_at, last_seen_at, user_agent, ip)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(s.id.to_string())
        .bind(&s.secret_hash.0[..])
        .bind(s.user_id.to_string())
        .bind(s.csrf_token.expose())
        .bind(s.created_at.unix())
        .bind(s.last_seen_at.unix())
        .bind(s.client.user_agent.as_deref())
        .bind(s.client.ip.as_deref());
        self.changed(q).await.map(drop)
    }

    async fn find_session_by_secret(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE secret_hash = $1");
        let row = query(&sql).bind(&hash.0[..]).fetch_optional(&self.pool).await;
        row.map_err(fail)?.as_ref().map(session_from_row).transpose()
    }

    async fn touch_session(
        &self,
        id: &SessionId,
        last_seen: Timestamp,
    ) -> Result<bool, StoreError> {
        // UPDATE, never an upsert: a touch racing a logout cannot recreate the row.
        let q =
            query("UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id = $2")
                .bind(last_seen.unix())
                .bind(id.to_string());
        Ok(self.changed(q).await? == 1)
    }

    async fn session_data(&self, id: &SessionId) -> Result<Option<SessionData>, StoreError> {
        let row = query("SELECT data FROM sessions WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(fail)?;
        let Some(row) = row else { return Ok(None) };
        let text: String = get(&row, "data")?;
        serde_json::from_str(&text).map(Some).map_err(|_| corrupt("session data"))
    }

    async fn set_session_data(
        &self,
        id: &SessionId,
        data: &SessionData,
    ) -> Result<bool, StoreError> {
        let text = serde_json::to_string(data).map_err(|_| corrupt("session data"))?;
        let q =
            query("UPDATE sessions SET data = $1 WHERE id = $2").bind(text).bind(id.to_string());
        Ok(self.changed(q).await? == 1)
    }

    async fn delete_session(&self, id: &SessionId) -> Result<bool, StoreError> {
        let q = query("DELETE FROM sessions WHERE id = $1").bind(id.to_string());
        Ok(self.changed(q).await? == 1)
    }

    async fn delete_user_sessions(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
    ) -> Result<u64, StoreError> {
        let q = query("DELETE FROM sessions WHERE user_id = $1 AND id IS DISTINCT FROM $2")
            .bind(user.to_string())
            .bind(keep.map(ToString::to_string));
        self.changed(q).await
    }

    async fn list_user_sessions(&self, user: &UserId) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 ORDER BY created_at, id"
        );
        let rows = query(&sql).bind(user.to_string()).fetch_all(&self.pool).await;
        rows.map_err(fail)?.iter().map(session_from_row).collect()
    }

    async fn purge_sessions(
        &self,
        idle_cutoff: Timestamp,
        absolute_cutoff: Timestamp,
    ) -> Result<u64, StoreError> {
        let q = query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
            .bind(idle_cutoff.unix())
            .bind(absolute_cutoff.unix());
        self.changed(q).await
    }
}

#[async_trait]
impl RefreshStore for PostgresStore {
    async fn insert_family(
        &self,
        f: &RefreshFamily,
        first_token: &SecretHash,
    ) -> Result<(), StoreError> {
        query(
            "INSERT INTO refresh_families (id, user_id, client_id, scope, kind, created_at, expires_at,
                 last_used_at, user_agent, ip, revoked_at, generation, rotated_at, current_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
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
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(fail)
    }

    async fn rotate_refresh(
        &self,
        presented: &TokenRef,
        successor: &SecretHash,
        now: Timestamp,
        rotated_at: Moment,
    ) -> Result<Rotation, StoreError> {
        // One statement, one row: the conditional UPDATE is the
        // linearisation point. Concurrent rotations of one token queue on
        // the family's row lock; once the winner commits, PostgreSQL
        // re-evaluates the others' WHERE against the new row (READ
        // COMMITTED), where the generation has moved, and they match nothing.
        let sql = format!(
            "UPDATE refresh_families SET generation = generation + 1, current_hash = $1,
                 rotated_at = $2, last_used_at = GREATEST(last_used_at, $3)
             WHERE id = $4 AND generation = $5 AND current_hash = $6
             RETURNING {FAMILY_COLUMNS}"
        );
        let won = query(&sql)
            .bind(&successor.0[..])
            .bind(rotated_at.micros())
            .bind(now.unix())
            .bind(presented.family.to_string())
            .bind(sql_generation(presented.generation)?)
            .bind(&presented.hash.0[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(fail)?;
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
        let row = query("SELECT family_id FROM refresh_legacy_tokens WHERE hash = $1")
            .bind(&token.0[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(fail)?;
        let Some(row) = row else { return Ok(None) };
        let id: String = get(&row, "family_id")?;
        FamilyId::parse(&id).ok_or_else(|| corrupt("family id")).map(Some)
    }

    async fn find_family(&self, id: &FamilyId) -> Result<Option<RefreshFamily>, StoreError> {
        let sql = format!("SELECT {FAMILY_COLUMNS} FROM refresh_families WHERE id = $1");
        let row = query(&sql).bind(id.to_string()).fetch_optional(&self.pool).await;
        row.map_err(fail)?.as_ref().map(family_from_row).transpose()
    }

    async fn revoke_family(&self, id: &FamilyId, at: Timestamp) -> Result<bool, StoreError> {
        let q = query(
            "UPDATE refresh_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
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
            "UPDATE refresh_families SET revoked_at = $1
             WHERE user_id = $2 AND id IS DISTINCT FROM $3 AND revoked_at IS NULL RETURNING id",
        )
        .bind(at.unix())
        .bind(user.to_string())
        .bind(keep.map(ToString::to_string))
        .fetch_all(&self.pool)
        .await
        .map_err(fail)?;
        rows.iter().map(family_id).collect()
    }

    async fn list_user_families(&self, user: &UserId) -> Result<Vec<RefreshFamily>, StoreError> {
        let sql = format!(
            "SELECT {FAMILY_COLUMNS} FROM refresh_families
             WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, id"
        );
        let rows = query(&sql).bind(user.to_string()).fetch_all(&self.pool).await;
        rows.map_err(fail)?.iter().map(family_from_row).collect()
    }

    async fn purge_families(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        // Legacy token records go with their family (ON DELETE CASCADE).
        let q = query("DELETE FROM refresh_families WHERE expires_at < $1").bind(cutoff.unix());
        self.changed(q).await
    }
}

#[async_trait]
impl ClientStore for PostgresStore {
    async fn insert_client(&self, c: &Client) -> Result<(), StoreError> {
        let q = query(
            "INSERT INTO clients (id, secret_hash, scope, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&c.id)
        .bind(c.secret_hash.map(|h| h.0.to_vec()))
        .bind(&c.scope)
        .bind(c.created_at.unix());
        self.changed(q).await.map(drop)
    }

    async fn find_client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE id = $1");
        let row = query(&sql).bind(id).fetch_optional(&self.pool).await.map_err(fail)?;
        row.as_ref().map(client_from_row).transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY created_at, id");
        let rows = query(&sql).fetch_all(&self.pool).await.map_err(fail)?;
        rows.iter().map(client_from_row).collect()
    }
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn list_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid");
        let rows = query(&sql).fetch_all(&self.pool).await.map_err(fail)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn insert_initial_keys(
        &self,
        current: &StoredKey,
        next: &StoredKey,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(fail)?;
        // At READ COMMITTED two nodes starting together would both see an
        // empty table, and the later would fail on the unique index instead
        // of reporting `false`. The lock makes the check and the inserts one
        // step: it excludes other writers of the table (and itself), not
        // readers.
        query("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        let row = query("SELECT EXISTS (SELECT 1 FROM signing_keys) AS any")
            .fetch_one(&mut *tx)
            .await
            .map_err(fail)?;
        if get::<bool>(&row, "any")? {
            return Ok(false);
        }
        for k in [current, next] {
            insert_key(k).execute(&mut *tx).await.map_err(fail)?;
        }
        tx.commit().await.map_err(fail)?;
        Ok(true)
    }

    async fn rotate_keys(
        &self,
        expected_current: &str,
        new_next: &StoredKey,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(fail)?;
        // Compare-and-set on the current key, first: a concurrent rotation
        // waits on this row, then re-checks `state = 'current'` against the
        // committed row and matches nothing.
        let retired = query(
            "UPDATE signing_keys SET state = 'retired', retired_at = $1
             WHERE kid = $2 AND state = 'current'",
        )
        .bind(now.unix())
        .bind(expected_current)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        if retired.rows_affected() != 1 {
            return Ok(false);
        }
        query("UPDATE signing_keys SET state = 'current', activated_at = $1 WHERE state = 'next'")
            .bind(now.unix())
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        // A taken kid: dropping the transaction rolls the rotation back.
        match insert_key(new_next).execute(&mut *tx).await.map_err(fail) {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => return Ok(false),
            Err(e) => return Err(e),
        }
        tx.commit().await.map_err(fail)?;
        Ok(true)
    }

    async fn delete_retired_keys(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        let q = query("DELETE FROM signing_keys WHERE state = 'retired' AND retired_at < $1")
            .bind(cutoff.unix());
        self.changed(q).await
    }
}

#[async_trait]
impl RevocationStore for PostgresStore {
    async fn revoke_access_token(
        &self,
        jti: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let q = query(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2)
             ON CONFLICT (jti) DO UPDATE
             SET expires_at = GREATEST(revoked_tokens.expires_at, excluded.expires_at)",
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
        // GREATEST ignores NULL: a first not-before is simply `at`.
        let q = query(
            "UPDATE users SET tokens_not_before = GREATEST(tokens_not_before, $1) WHERE id = $2",
        )
        .bind(at.unix())
        .bind(user.to_string());
        Ok(self.changed(q).await? == 1)
    }

    async fn end_sessions(&self, ended: &[(SessionId, Timestamp)]) -> Result<(), StoreError> {
        let ids: Vec<String> = ended.iter().map(|(id, _)| id.to_string()).collect();
        let untils: Vec<i64> = ended.iter().map(|(_, until)| until.unix()).collect();
        // One statement: all of them or none.
        let q = query(
            "INSERT INTO ended_sessions (id, until)
             SELECT * FROM UNNEST($1::text[], $2::bigint[])
             ON CONFLICT (id) DO UPDATE
             SET until = GREATEST(ended_sessions.until, excluded.until)",
        )
        .bind(ids)
        .bind(untils);
        self.changed(q).await.map(drop)
    }

    async fn load_revocations(
        &self,
        cutoffs: &RevocationCutoffs,
    ) -> Result<RevocationSet, StoreError> {
        // One snapshot for all four reads: at READ COMMITTED each statement
        // would see its own.
        let mut tx = self.pool.begin().await.map_err(fail)?;
        query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        let tokens = query("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > $1")
            .bind(cutoffs.tokens_expiring_after.unix())
            .fetch_all(&mut *tx)
            .await
            .map_err(fail)?;
        let families = query(
            "SELECT id FROM refresh_families WHERE revoked_at IS NOT NULL AND last_used_at >= $1",
        )
        .bind(cutoffs.families_used_since.unix())
        .fetch_all(&mut *tx)
        .await
        .map_err(fail)?;
        let not_before =
            query("SELECT id, tokens_not_before FROM users WHERE tokens_not_before >= $1")
                .bind(cutoffs.not_before_since.unix())
                .fetch_all(&mut *tx)
                .await
                .map_err(fail)?;
        let sessions = query("SELECT id, until FROM ended_sessions WHERE until > $1")
            .bind(cutoffs.sessions_until_after.unix())
            .fetch_all(&mut *tx)
            .await
            .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        let mut set = RevocationSet::default();
        for r in &tokens {
            set.tokens.push((get(r, "jti")?, time(r, "expires_at")?));
        }
        for r in &families {
            set.families.push(family_id(r)?);
        }
        for r in &not_before {
            let user = UserId::parse(&get::<String>(r, "id")?).ok_or_else(|| corrupt("user id"))?;
            set.not_before.push((user, time(r, "tokens_not_before")?));
        }
        for r in &sessions {
            let id =
                SessionId::parse(&get::<String>(r, "id")?).ok_or_else(|| corrupt("session id"))?;
            set.sessions.push((id, time(r, "until")?));
        }
        Ok(set)
    }

    async fn purge_revocations(&self, cutoffs: &RevocationCutoffs) -> Result<u64, StoreError> {
        let q = query("DELETE FROM revoked_tokens WHERE expires_at <= $1")
            .bind(cutoffs.tokens_expiring_after.unix());
        let tokens = self.changed(q).await?;
        let q = query("DELETE FROM ended_sessions WHERE until <= $1")
            .bind(cutoffs.sessions_until_after.unix());
        Ok(tokens + self.changed(q).await?)
    }
}

#[cfg(test)]
#[path = "postgres_tests.rs"]
mod tests;
