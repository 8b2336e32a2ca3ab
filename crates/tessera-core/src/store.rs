//! Store ports: what the core needs persisted, and nothing more.
//!
//! Stores persist; they never decide. Expiry, CSRF and credential checks are
//! made by the core with `now` passed in, so every backend behaves the same.
//! Each method documents what it returns for a missing record. Updates never
//! create: a write that arrives after a delete reports `false` and leaves the
//! record deleted (no resurrection, unlike an upsert-based save).
//!
//! Every backend must pass the contract suite in `tessera-store`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::change::{ChangeFeed, LocalFeed};
use crate::client::ClientStore;
use crate::clock::Timestamp;
use crate::memory::MemoryAttempts;
use crate::password::PasswordHash;
use crate::refresh::RefreshStore;
use crate::revocation::RevocationStore;
use crate::secret::SecretHash;
use crate::session::{SessionId, SessionRecord};
use crate::signing_key::KeyStore;
use crate::throttle::AttemptStore;
use crate::user::{User, UserId, Username};

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with the same unique key (id, username, secret hash) exists.
    #[error("duplicate key: {0}")]
    Conflict(&'static str),
    /// The backend could not be reached or failed; callers fail closed.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

/// The JSON object a session carries for the application (`/v1/session/data`).
pub type SessionData = Map<String, Value>;

/// Persistence of user accounts.
#[async_trait]
pub trait UserStore: Send + Sync + fmt::Debug {
    /// Inserts `user`. `Conflict` if the id or the username key (case-insensitive) exists.
    async fn insert_user(&self, user: &User) -> Result<(), StoreError>;
    /// The user whose username key equals `username.key()`, or `None`.
    async fn find_user_by_name(&self, username: &Username) -> Result<Option<User>, StoreError>;
    /// The user with `id`, or `None`.
    async fn find_user(&self, id: &UserId) -> Result<Option<User>, StoreError>;
    /// Replaces the password hash. `false` if no such user.
    async fn set_password_hash(&self, id: &UserId, hash: &PasswordHash)
    -> Result<bool, StoreError>;
    /// Sets the disabled flag. `false` if no such user.
    async fn set_disabled(&self, id: &UserId, disabled: bool) -> Result<bool, StoreError>;
    /// Every user, oldest first.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
}

/// Persistence of browser sessions.
#[async_trait]
pub trait SessionStore: Send + Sync + fmt::Debug {
    /// Inserts a new session with empty data. `Conflict` if its id or secret hash exists.
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// The session whose cookie secret hashes to `hash`, or `None` if it was
    /// deleted or never existed. Expired but unpurged sessions are returned:
    /// expiry is the core's decision.
    async fn find_session_by_secret(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Sets `last_seen_at` if the session exists; `false` (and no write) if not.
    async fn touch_session(&self, id: &SessionId, last_seen: Timestamp)
    -> Result<bool, StoreError>;
    /// The session's data, or `None` if the session does not exist.
    async fn session_data(&self, id: &SessionId) -> Result<Option<SessionData>, StoreError>;
    /// Replaces the session's data if the session exists; `false` if not.
    async fn set_session_data(
        &self,
        id: &SessionId,
        data: &SessionData,
    ) -> Result<bool, StoreError>;
    /// Deletes one session. `false` if it did not exist.
    async fn delete_session(&self, id: &SessionId) -> Result<bool, StoreError>;
    /// Deletes every session of `user` except `keep`; returns how many.
    async fn delete_user_sessions(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
    ) -> Result<u64, StoreError>;
    /// The sessions of `user`, oldest first. Never reads their data bags
    /// (up to the data limit each): the devices list and the login cap call
    /// this on every listing and every login.
    async fn list_user_sessions(&self, user: &UserId) -> Result<Vec<SessionRecord>, StoreError>;
    /// Deletes sessions last seen before `idle_cutoff` or created before
    /// `absolute_cutoff`; returns how many.
    async fn purge_sessions(
        &self,
        idle_cutoff: Timestamp,
        absolute_cutoff: Timestamp,
    ) -> Result<u64, StoreError>;
}

/// Facts about the deployment that every process opening the store must
/// agree on (where browser sessions live), recorded in the durable store.
#[async_trait]
pub trait DeploymentStore: Send + Sync + fmt::Debug {
    /// The fact recorded under `key`, or `None`.
    async fn deployment_fact(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Records `value` under `key`, replacing any earlier value; durable
    /// before it returns.
    async fn record_deployment_fact(&self, key: &str, value: &str) -> Result<(), StoreError>;
}

/// One storage engine (a database, a Redis deployment, process memory) that
/// serves some of the ports.
#[async_trait]
pub trait Backend: Send + Sync + fmt::Debug {
    /// Succeeds when the engine answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
    /// A counter that changes whenever this engine records something that can
    /// revoke (a session deleted, a user changed, a token, family or key
    /// change), by any process sharing it. Caches compare it to learn of
    /// revocations made elsewhere; it need not move on inserts or touches.
    async fn revision(&self) -> Result<u64, StoreError>;
}

/// The stores a Tessera instance runs on, chosen from configuration at start-up.
#[derive(Clone, Debug)]
pub struct Stores {
    /// Accounts.
    pub users: Arc<dyn UserStore>,
    /// Browser sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Refresh-token families (token and hybrid mode).
    pub refresh: Arc<dyn RefreshStore>,
    /// Registered OAuth clients.
    pub clients: Arc<dyn ClientStore>,
    /// The signing key ring.
    pub keys: Arc<dyn KeyStore>,
    /// Access-token revocations and per-user not-before.
    pub revocations: Arc<dyn RevocationStore>,
    /// Failed-login counters.
    pub attempts: Arc<dyn AttemptStore>,
    /// Deployment facts (always the durable store).
    pub deployment: Arc<dyn DeploymentStore>,
    /// Tells other processes of revocations at once (Redis pub/sub); a
    /// no-op on one node, where the revision poll covers the CLI.
    pub feed: Arc<dyn ChangeFeed>,
    /// Every distinct engine behind the ports above, for readiness and the
    /// revision poll.
    pub backends: Vec<Arc<dyn Backend>>,
}

impl Stores {
    /// Every store served by one backend (the memory store, one SQL
    /// database), with login counters in process memory and no feed.
    pub fn single<T>(backend: Arc<T>) -> Self
    where
        T: UserStore
            + SessionStore
            + RefreshStore
            + ClientStore
            + KeyStore
            + RevocationStore
            + DeploymentStore
            + Backend
            + 'static,
    {
        Self {
            users: backend.clone(),
            sessions: backend.clone(),
            refresh: backend.clone(),
            clients: backend.clone(),
            keys: backend.clone(),
            revocations: backend.clone(),
            deployment: backend.clone(),
            attempts: Arc::new(MemoryAttempts::default()),
            feed: Arc::new(LocalFeed),
            backends: vec![backend],
        }
    }

    /// Succeeds when every engine answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        for backend in &self.backends {
            backend.ping().await?;
        }
        Ok(())
    }

    /// A counter that moves when any engine's revision moves (the sum of
    /// theirs: each only grows, so the sum changes whenever one does).
    pub async fn revision(&self) -> Result<u64, StoreError> {
        let mut sum = 0u64;
        for backend in &self.backends {
            sum = sum.wrapping_add(backend.revision().await?);
        }
        Ok(sum)
    }
}
