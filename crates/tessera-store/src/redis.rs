//! The Redis backend: what is hot and shared between nodes.
//!
//! With `TESSERA_REDIS_URL` set, Redis holds the browser sessions, the
//! login-failure counters, and the change feed (pub/sub) that carries
//! revocations to every node at once. What must last (users, refresh
//! families, clients, keys and the durable copy of every revocation) stays in
//! the SQL store. Losing Redis data therefore fails closed: lost sessions mean
//! people log in again, lost counters forgive, and a revocation is never lost
//! because nodes reload them from SQL whenever the feed reconnects.
//!
//! Every session operation is one Lua script, atomic on the server. All
//! session keys share one hash tag (`{prefix}`), so the scripts stay in one
//! slot and work unchanged on Redis Cluster; login counters are single keys
//! spread over the cluster. Keys expire on their own shortly after the
//! session would (a backstop: the core decides expiry, and the sweep purges
//! through two sorted indexes).
//!
//! Key layout, with `P` the configured prefix:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{P}:r:<session id>` | hash | the session: `u` user, `h` secret hash, `c` CSRF token, `t0` created, `ua`, `ip`, `m` their tag; `ts` last seen, `tm` its tag |
//! | `{P}:d:<session id>` | string | the session's data bag, `TAG.JSON` (its own key: listings never read it) |
//! | `{P}:h:<secret hash hex>` | string | the session id (cookie lookup) |
//! | `{P}:u:<user id>` | set | the user's session ids (devices, log out everywhere) |
//! | `{P}:seen`, `{P}:born` | sorted sets | session ids by last seen / created (the sweep) |
//! | `{P}:rev` | integer | bumped by every session delete (the revision poll) |
//! | `P:a:<throttle key>` | string | login-failure counters |
//! | `P:changes` | channel | the change feed |
//!
//! Every session value read back is authenticated with a key derived from
//! the master key (see [`RecordKey`]): a forged, altered or moved record is
//! refused (logged, treated as absent), so write access to Redis does not
//! mint sessions.

use std::time::Duration as StdDuration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Script, Value};
use tessera_core::change::{Change, ChangeFeed, FeedEvent};
use tessera_core::clock::{Duration, Timestamp};
use tessera_core::secret::SecretHash;
use tessera_core::session::{SessionId, SessionRecord};
use tessera_core::store::{Backend, SessionData, SessionStore, StoreError};
use tessera_core::throttle::{AttemptStore, Attempts};
use tessera_core::user::UserId;
use tokio::sync::mpsc;

mod record;
pub use record::RecordKey;
use record::{FixedFields, log_refused};

/// How long Redis may take to answer before the request fails closed.
const RESPONSE_TIMEOUT: StdDuration = StdDuration::from_secs(2);
/// How often the feed subscription proves it is alive.
const FEED_PING_EVERY: StdDuration = StdDuration::from_secs(1);
/// Sessions purged per script call, so a sweep never blocks Redis for long.
const PURGE_BATCH: usize = 500;
/// Keys outlive the session by this much, so the core (not Redis) is what
/// sees a session expire.
const EXPIRY_GRACE_SECS: i64 = 60;

/// How to reach Redis, and what to keep there.
#[derive(Clone, Debug)]
pub struct RedisSettings {
    /// `redis://…` for one server, or `redis+cluster://` with
    /// comma-separated `host:port` seeds for Redis Cluster.
    pub url: String,
    /// Prefix of every key and channel, so several deployments (or test runs)
    /// can share one Redis. No braces (they would change the hash tag).
    pub prefix: String,
    /// Session idle lifetime (sets key expiry).
    pub idle_ttl: Duration,
    /// Session absolute lifetime (sets key expiry).
    pub absolute_ttl: Duration,
}

/// One Redis server (through a reconnecting manager) or a Redis Cluster.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// Key names (see the module docs).
#[derive(Clone, Debug)]
struct Keys {
    /// `{P}:`: every session key starts with it.
    sessions: String,
    /// `P:`
    plain: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        Self { sessions: format!("{{{prefix}}}:"), plain: format!("{prefix}:") }
    }
    fn record(&self, id: &SessionId) -> String {
        format!("{}r:{id}", self.sessions)
    }
    fn data(&self, id: &SessionId) -> String {
        format!("{}d:{id}", self.sessions)
    }
    fn secret(&self, hash: &SecretHash) -> String {
        format!("{}h:{}", self.sessions, hash.to_hex())
    }
    fn user(&self, user: &UserId) -> String {
        format!("{}u:{user}", self.sessions)
    }
    fn revision(&self) -> String {
        format!("{}rev", self.sessions)
    }
    fn attempts(&self, key: &str) -> String {
        format!("{}a:{key}", self.plain)
    }
    fn channel(&self) -> String {
        format!("{}changes", self.plain)
    }
}

/// Sessions, login counters and the change feed in Redis.
pub struct RedisStore {
    connection: Connection,
    /// A plain client for the feed subscription (pub/sub reaches the whole
    /// cluster from any one node).
    subscriber: redis::Client,
    keys: Keys,
    idle_ttl: i64,
    absolute_ttl: i64,
    scripts: Scripts,
    /// Authenticates every session value (see [`record`]).
    record_key: RecordKey,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never printed.
        f.debug_struct("RedisStore").field("prefix", &self.keys.plain).finish_non_exhaustive()
    }
}

/// Why Redis could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RedisOpenError {
    /// The URL or prefix is not usable.
    #[error("invalid Redis settings: {0}")]
    Invalid(String),
    /// Redis did not answer.
    #[error("cannot reach Redis: {0}")]
    Unreachable(#[from] redis::RedisError),
}

impl RedisStore {
    /// Connects (failing if Redis does not answer) and loads the scripts.
    /// Session records are tagged and checked with `record_key`: every node
    /// sharing the prefix needs the same one (derived from the master key).
    pub async fn connect(
        settings: &RedisSettings,
        record_key: RecordKey,
    ) -> Result<Self, RedisOpenError> {
        let prefix = &settings.prefix;
        if prefix.is_empty() || prefix.contains(['{', '}']) || prefix.len() > 64 {
            return Err(RedisOpenError::Invalid(format!(
                "prefix {prefix:?} must be 1 to 64 characters without braces"
            )));
        }
        let (connection, subscriber) = match settings.url.strip_prefix("redis+cluster://") {
            Some(seeds) => {
                let nodes: Vec<String> =
                    seeds.split(',').map(|s| format!("redis://{}", s.trim())).collect();
                let first = nodes.first().cloned().unwrap_or_default();
                let cluster = redis::cluster::ClusterClientBuilder::new(nodes)
                    .connection_timeout(RESPONSE_TIMEOUT)
                    .response_timeout(RESPONSE_TIMEOUT)
                    .build()?;
                let connection = Connection::Cluster(cluster.get_async_connection().await?);
                (connection, redis::Client::open(first)?)
            }
            None => {
                let client = redis::Client::open(settings.url.as_str())?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(RESPONSE_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(1)
                    .set_max_delay(StdDuration::from_millis(500));
                let manager = client.get_connection_manager_with_config(config).await?;
                (Connection::Single(manager), client)
            }
        };
        let store = Self {
            connection,
            subscriber,
            keys: Keys::new(prefix),
            idle_ttl: settings.idle_ttl.as_secs(),
            absolute_ttl: settings.absolute_ttl.as_secs(),
            scripts: Scripts::default(),
            record_key,
        };
        store.ping().await.map_err(|e| RedisOpenError::Invalid(e.to_string()))?;
        Ok(store)
    }

    fn conn(&self) -> Connection {
        self.connection.clone()
    }

    /// Key lifetime in milliseconds for a session created at `created`, seen
    /// at `seen`: until the earlier of its idle and absolute expiry, plus grace.
    fn ttl_ms(&self, created: i64, seen: i64) -> i64 {
        let left = (created + self.absolute_ttl - seen).min(self.idle_ttl);
        (left.max(0) + EXPIRY_GRACE_SECS) * 1000
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("redis session record: {what}"))
}

/// The Lua scripts, compiled once (sent by SHA, loaded on first use).
struct Scripts {
    insert: Script,
    find: Script,
    touch: Script,
    set_data: Script,
    delete: Script,
    delete_user: Script,
    list_user: Script,
    purge: Script,
    swap_attempts: Script,
}

/// Deletes one session, its data bag and its index entries; 1 if it
/// existed. `p` is `{P}:`.
const DROP_FN: &str = r"
local function drop(p, id)
  local rec = p .. 'r:' .. id
  local f = redis.call('HMGET', rec, 'h', 'u')
  redis.call('ZREM', p .. 'seen', id)
  redis.call('ZREM', p .. 'born', id)
  if not f[1] then return 0 end
  redis.call('DEL', rec, p .. 'd:' .. id, p .. 'h:' .. f[1])
  redis.call('SREM', p .. 'u:' .. f[2], id)
  return 1
end
";

impl Default for Scripts {
    fn default() -> Self {
        let with_drop = |body: &str| Script::new(&format!("{DROP_FN}{body}"));
        Self {
            // KEYS: record, secret index, user set, data bag. ARGV: p, id,
            // user, hash, csrf, created, seen, ttl ms, ua flag, ua, ip flag,
            // ip, record tag, seen tag, empty data bag.
            insert: Script::new(
                r"
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local p, id = ARGV[1], ARGV[2]
redis.call('HSET', KEYS[1], 'u', ARGV[3], 'h', ARGV[4], 'c', ARGV[5], 't0', ARGV[6], 'ts', ARGV[7], 'm', ARGV[13], 'tm', ARGV[14])
if ARGV[9] == '1' then redis.call('HSET', KEYS[1], 'ua', ARGV[10]) end
if ARGV[11] == '1' then redis.call('HSET', KEYS[1], 'ip', ARGV[12]) end
redis.call('SET', KEYS[2], id)
redis.call('SADD', KEYS[3], id)
redis.call('ZADD', p .. 'seen', ARGV[7], id)
redis.call('ZADD', p .. 'born', ARGV[6], id)
local ttl = tonumber(ARGV[8])
redis.call('SET', KEYS[4], ARGV[15], 'PX', ttl)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
if redis.call('PTTL', KEYS[3]) < ttl then redis.call('PEXPIRE', KEYS[3], ttl) end
return 1
",
            ),
            // KEYS: secret index. ARGV: p. Returns {id, field, value, ...} or nil.
            find: Script::new(
                r"
local id = redis.call('GET', KEYS[1])
if not id then return false end
local r = redis.call('HGETALL', ARGV[1] .. 'r:' .. id)
if #r == 0 then return false end
table.insert(r, 1, id)
return r
",
            ),
            // KEYS: record, data bag. ARGV: p, id, seen, idle s, absolute s,
            // grace s, seen tag.
            touch: Script::new(
                r"
local f = redis.call('HMGET', KEYS[1], 'h', 'u', 't0')
if not f[1] then return 0 end
local p, id, seen = ARGV[1], ARGV[2], tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'ts', ARGV[3], 'tm', ARGV[7])
redis.call('ZADD', p .. 'seen', ARGV[3], id)
local left = math.min((tonumber(f[3]) or 0) + tonumber(ARGV[5]) - seen, tonumber(ARGV[4]))
local ttl = (math.max(left, 0) + tonumber(ARGV[6])) * 1000
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', p .. 'h:' .. f[1], ttl)
local uk = p .. 'u:' .. f[2]
if redis.call('PTTL', uk) < ttl then redis.call('PEXPIRE', uk, ttl) end
return 1
",
            ),
            // KEYS: record, data bag. ARGV: data bag (tagged). The bag dies
            // with its record.
            set_data: Script::new(
                r"
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return 0 end
if ttl > 0 then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ttl)
else
  redis.call('SET', KEYS[2], ARGV[1])
end
return 1
",
            ),
            // KEYS: record. ARGV: p, id.
            delete: with_drop(
                r"
local n = drop(ARGV[1], ARGV[2])
if n > 0 then redis.call('INCR', ARGV[1] .. 'rev') end
return n
",
            ),
            // KEYS: user set. ARGV: p, id to keep ('' for none).
            delete_user: with_drop(
                r"
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if id ~= ARGV[2] then
    local d = drop(ARGV[1], id)
    -- An id whose record already expired is only index litter.
    if d == 0 then redis.call('SREM', KEYS[1], id) end
    n = n + d
  end
end
if n > 0 then redis.call('INCR', ARGV[1] .. 'rev') end
return n
",
            ),
            // KEYS: user set. ARGV: p. Returns {{id, field, value, ...}, ...}.
            list_user: Script::new(
                r"
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local r = redis.call('HGETALL', ARGV[1] .. 'r:' .. id)
  if #r == 0 then
    redis.call('SREM', KEYS[1], id)
  else
    table.insert(r, 1, id)
    table.insert(out, r)
  end
end
return out
",
            ),
            // KEYS: revision. ARGV: p, idle cutoff, absolute cutoff, batch.
            // Returns {deleted, examined}.
            purge: with_drop(
                r"
local p, batch = ARGV[1], tonumber(ARGV[4])
local ids = redis.call('ZRANGEBYSCORE', p .. 'seen', '-inf', '(' .. ARGV[2], 'LIMIT', 0, batch)
local old = redis.call('ZRANGEBYSCORE', p .. 'born', '-inf', '(' .. ARGV[3], 'LIMIT', 0, batch)
for _, id in ipairs(old) do table.insert(ids, id) end
local n = 0
for _, id in ipairs(ids) do n = n + drop(p, id) end
if n > 0 then redis.call('INCR', KEYS[1]) end
return {n, #ids}
",
            ),
            // KEYS: counters. ARGV: expected ('' for absent), next, keep ms.
            swap_attempts: Script::new(
                r"
local cur = redis.call('GET', KEYS[1]) or ''
if cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
",
            ),
        }
    }
}

#[async_trait]
impl Backend for RedisStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let pong: String =
            redis::cmd("PING").query_async(&mut self.conn()).await.map_err(unavailable)?;
        if pong == "PONG" { Ok(()) } else { Err(corrupt("unexpected PING reply")) }
    }

    async fn revision(&self) -> Result<u64, StoreError> {
        let rev: Option<u64> = redis::cmd("GET")
            .arg(self.keys.revision())
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(rev.unwrap_or(0))
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let (created, seen) = (s.created_at.unix(), s.last_seen_at.unix());
        let (id, user, hash) = (s.id.to_string(), s.user_id.to_string(), s.secret_hash.to_hex());
        let (created_text, seen_text) = (created.to_string(), seen.to_string());
        let fixed = FixedFields {
            id: &id,
            user: &user,
            hash: &hash,
            csrf: s.csrf_token.expose(),
            created: &created_text,
            user_agent: s.client.user_agent.as_deref(),
            ip: s.client.ip.as_deref(),
        };
        let mut call = self.scripts.insert.key(self.keys.record(&s.id));
        call.key(self.keys.secret(&s.secret_hash))
            .key(self.keys.user(&s.user_id))
            .key(self.keys.data(&s.id));
        call.arg(&self.keys.sessions)
            .arg(&id)
            .arg(&user)
            .arg(&hash)
            .arg(s.csrf_token.expose())
            .arg(&created_text)
            .arg(&seen_text)
            .arg(self.ttl_ms(created, seen));
        for field in [&s.client.user_agent, &s.client.ip] {
            call.arg(if field.is_some() { "1" } else { "0" }).arg(field.as_deref().unwrap_or(""));
        }
        call.arg(self.record_key.record_tag(&fixed))
            .arg(self.record_key.seen_tag(&id, &seen_text))
            .arg(self.record_key.seal_data(&s.id, &SessionData::new())?);
        let inserted: i64 = call.invoke_async(&mut self.conn()).await.map_err(unavailable)?;
        if inserted == 1 { Ok(()) } else { Err(StoreError::Conflict("session id or secret")) }
    }

    async fn find_session_by_secret(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let fields: Option<Vec<String>> = self
            .scripts
            .find
            .key(self.keys.secret(hash))
            .arg(&self.keys.sessions)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        let Some(fields) = fields else { return Ok(None) };
        let key = fields.first().map(|id| format!("{}r:{id}", self.keys.sessions));
        let key = key.unwrap_or_else(|| self.keys.secret(hash));
        match self.record_key.open_record(fields) {
            // The index must lead to the record that names this secret: an
            // index entry pointed at another session is a forgery.
            Ok(record) if record.secret_hash == *hash => Ok(Some(record)),
            Ok(_) => {
                log_refused(&key, record::Refused("secret index names another session"));
                Ok(None)
            }
            Err(why) => {
                log_refused(&key, why);
                Ok(None)
            }
        }
    }

    async fn touch_session(
        &self,
        id: &SessionId,
        last_seen: Timestamp,
    ) -> Result<bool, StoreError> {
        let (id_text, seen) = (id.to_string(), last_seen.unix().to_string());
        let mut call = self.scripts.touch.key(self.keys.record(id));
        call.key(self.keys.data(id));
        call.arg(&self.keys.sessions)
            .arg(&id_text)
            .arg(&seen)
            .arg(self.idle_ttl)
            .arg(self.absolute_ttl)
            .arg(EXPIRY_GRACE_SECS)
            .arg(self.record_key.seen_tag(&id_text, &seen));
        let touched: i64 = call.invoke_async(&mut self.conn()).await.map_err(unavailable)?;
        Ok(touched == 1)
    }

    async fn session_data(&self, id: &SessionId) -> Result<Option<SessionData>, StoreError> {
        let key = self.keys.data(id);
        let stored: Option<String> =
            redis::cmd("GET").arg(&key).query_async(&mut self.conn()).await.map_err(unavailable)?;
        let Some(stored) = stored else { return Ok(None) };
        match self.record_key.open_data(id, &stored) {
            Ok(data) => Ok(Some(data)),
            Err(why) => {
                log_refused(&key, why);
                Ok(None)
            }
        }
    }

    async fn set_session_data(
        &self,
        id: &SessionId,
        data: &SessionData,
    ) -> Result<bool, StoreError> {
        let sealed = self.record_key.seal_data(id, data)?;
        let mut call = self.scripts.set_data.key(self.keys.record(id));
        call.key(self.keys.data(id)).arg(sealed);
        let set: i64 = call.invoke_async(&mut self.conn()).await.map_err(unavailable)?;
        Ok(set == 1)
    }

    async fn delete_session(&self, id: &SessionId) -> Result<bool, StoreError> {
        let mut call = self.scripts.delete.key(self.keys.record(id));
        call.arg(&self.keys.sessions).arg(id.to_string());
        let deleted: i64 = call.invoke_async(&mut self.conn()).await.map_err(unavailable)?;
        Ok(deleted == 1)
    }

    async fn delete_user_sessions(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
    ) -> Result<u64, StoreError> {
        let mut call = self.scripts.delete_user.key(self.keys.user(user));
        call.arg(&self.keys.sessions).arg(keep.map(ToString::to_string).unwrap_or_default());
        let n: u64 = call.invoke_async(&mut self.conn()).await.map_err(unavailable)?;
        Ok(n)
    }

    async fn list_user_sessions(&self, user: &UserId) -> Result<Vec<SessionRecord>, StoreError> {
        let rows: Vec<Vec<String>> = self
            .scripts
            .list_user
            .key(self.keys.user(user))
            .arg(&self.keys.sessions)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        let mut sessions = Vec::with_capacity(rows.len());
        for fields in rows {
            let key = fields.first().map(|id| format!("{}r:{id}", self.keys.sessions));
            let key = key.unwrap_or_default();
            match self.record_key.open_record(fields) {
                // A set is no proof of ownership: the record must name the user.
                Ok(r) if r.user_id == *user => sessions.push(r),
                Ok(_) => log_refused(&key, record::Refused("listed under another user")),
                Err(why) => log_refused(&key, why),
            }
        }
        sessions.sort_by_key(|s| (s.created_at, s.id.to_string()));
        Ok(sessions)
    }

    async fn purge_sessions(
        &self,
        idle_cutoff: Timestamp,
        absolute_cutoff: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let mut call = self.scripts.purge.key(self.keys.revision());
            call.arg(&self.keys.sessions)
                .arg(idle_cutoff.unix())
                .arg(absolute_cutoff.unix())
                .arg(PURGE_BATCH);
            let (deleted, examined): (u64, usize) =
                call.invoke_async(&mut self.conn()).await.map_err(unavailable)?;
            total += deleted;
            if examined < PURGE_BATCH {
                return Ok(total);
            }
        }
    }
}

#[async_trait]
impl AttemptStore for RedisStore {
    async fn attempts(&self, key: &str) -> Result<Option<Attempts>, StoreError> {
        let value: Option<String> = redis::cmd("GET")
            .arg(self.keys.attempts(key))
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        // An unreadable record is treated as absent: it can only forgive.
        Ok(value.and_then(|v| Attempts::decode(&v)))
    }

    async fn swap_attempts(
        &self,
        key: &str,
        expected: Option<&Attempts>,
        next: &Attempts,
        keep_for: Duration,
    ) -> Result<bool, StoreError> {
        let mut call = self.scripts.swap_attempts.key(self.keys.attempts(key));
        call.arg(expected.map(Attempts::encode).unwrap_or_default())
            .arg(next.encode())
            .arg(keep_for.as_secs().max(1) * 1000);
        let swapped: i64 = call.invoke_async(&mut self.conn()).await.map_err(unavailable)?;
        Ok(swapped == 1)
    }

    async fn clear_attempts(&self, key: &str) -> Result<(), StoreError> {
        let _: i64 = redis::cmd("DEL")
            .arg(self.keys.attempts(key))
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl ChangeFeed for RedisStore {
    async fn publish(&self, change: &Change) -> Result<(), StoreError> {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(self.keys.channel())
            .arg(change.encode())
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn subscribe(&self) -> Option<mpsc::Receiver<FeedEvent>> {
        let (tx, rx) = mpsc::channel(4096);
        let (client, channel) = (self.subscriber.clone(), self.keys.channel());
        tokio::spawn(follow_channel(client, channel, tx));
        Some(rx)
    }
}

/// Keeps a subscription to `channel` until the receiver is dropped:
/// `Connected` after each (re)subscription, each message, `Lost` when the
/// connection ends or stops answering pings; reconnects with backoff.
async fn follow_channel(client: redis::Client, channel: String, tx: mpsc::Sender<FeedEvent>) {
    let mut delay = StdDuration::from_millis(50);
    let mut warned = false;
    loop {
        match subscribe_once(&client, &channel).await {
            Ok(pubsub) => {
                delay = StdDuration::from_millis(50);
                warned = false;
                if tx.send(FeedEvent::Connected).await.is_err() {
                    return;
                }
                let outcome = relay(pubsub, &tx).await;
                if outcome.is_err() || tx.send(FeedEvent::Lost).await.is_err() {
                    return;
                }
            }
            Err(e) if !warned => {
                warned = true;
                tracing::warn!(error = %e, "cannot subscribe to the change feed; retrying");
            }
            Err(_) => {}
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(StdDuration::from_secs(1));
    }
}

async fn subscribe_once(client: &redis::Client, channel: &str) -> RedisResult<redis::aio::PubSub> {
    let mut pubsub =
        tokio::time::timeout(RESPONSE_TIMEOUT, client.get_async_pubsub()).await.map_err(
            |_| redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)),
        )??;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
}

/// Forwards messages until the connection ends or a ping goes unanswered.
/// `Err` only when the receiver is gone.
async fn relay(pubsub: redis::aio::PubSub, tx: &mpsc::Sender<FeedEvent>) -> Result<(), ()> {
    let (mut sink, mut stream) = pubsub.split();
    let mut ping = tokio::time::interval(FEED_PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { return Ok(()) };
                let event = message
                    .get_payload::<String>()
                    .ok()
                    .and_then(|p| Change::decode(&p))
                    .map_or(FeedEvent::Unreadable, FeedEvent::Change);
                tx.send(event).await.map_err(|_| ())?;
            }
            _ = ping.tick() => {
                let answered = tokio::time::timeout(RESPONSE_TIMEOUT, sink.ping::<Value>()).await;
                if !matches!(answered, Ok(Ok(_))) {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_tag_per_prefix() {
        let k = Keys::new("tessera");
        let id = SessionId::parse("6f1c1a9e-8f7b-4a43-9a55-5f0f2b9a3c11").unwrap();
        assert_eq!(k.record(&id), "{tessera}:r:6f1c1a9e-8f7b-4a43-9a55-5f0f2b9a3c11");
        assert_eq!(k.revision(), "{tessera}:rev");
        assert_eq!(k.attempts("u:bob"), "tessera:a:u:bob");
        assert_eq!(k.channel(), "tessera:changes");
    }
}
