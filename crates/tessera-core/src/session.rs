//! Browser sessions: the record, the expiry policy, and the session use cases.
//!
//! A session is found by the SHA-256 of its cookie secret; its public handle
//! ([`SessionId`]) is a separate random value, so listing or logging sessions
//! never exposes a usable cookie. Idle and absolute expiry are both decided
//! here with `now` from the clock.

use crate::change::Change;
use std::sync::Arc;

use crate::clock::{Duration, Timestamp};
use crate::csrf::{self, CsrfVerified};
use crate::error::{Error, Result};
use crate::secret::{Secret, SecretHash};
use crate::service::Tessera;
use crate::store::{SessionData, StoreError};
use crate::user::{User, UserId};

/// Longest user agent kept with a session, in bytes.
const MAX_USER_AGENT: usize = 256;

crate::id::random_id! {
    /// The public handle of a session (a random UUID, unrelated to the secret).
    SessionId
}

/// Where a session was created from, kept for the devices list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// `User-Agent`, truncated.
    pub user_agent: Option<String>,
    /// The client address.
    pub ip: Option<String>,
}

/// A stored session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// Public handle.
    pub id: SessionId,
    /// SHA-256 of the cookie secret.
    pub secret_hash: SecretHash,
    /// Owner.
    pub user_id: UserId,
    /// The CSRF token bound to this session.
    pub csrf_token: Secret,
    /// Login time.
    pub created_at: Timestamp,
    /// Last request seen (written at most once per touch interval).
    pub last_seen_at: Timestamp,
    /// Where the login came from.
    pub client: ClientInfo,
}

/// Session lifetimes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused this long is dead.
    pub idle_ttl: Duration,
    /// A session this old is dead, however active.
    pub absolute_ttl: Duration,
    /// Largest session data object, in bytes of JSON.
    pub data_limit: usize,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_ttl: Duration::seconds(1800),
            absolute_ttl: Duration::seconds(43_200),
            data_limit: 16 * 1024,
        }
    }
}

/// Why a session is or is not usable at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Usable.
    Live,
    /// Unused for longer than the idle timeout.
    IdleExpired,
    /// Older than the absolute lifetime.
    AbsoluteExpired,
}

impl SessionPolicy {
    /// When the session dies if unused from now on.
    pub fn idle_expires_at(&self, s: &SessionRecord) -> Timestamp {
        s.last_seen_at.plus(self.idle_ttl)
    }

    /// When the session dies regardless of use.
    pub fn expires_at(&self, s: &SessionRecord) -> Timestamp {
        s.created_at.plus(self.absolute_ttl)
    }

    /// Whether `s` is usable at `now`.
    pub fn liveness_at(&self, s: &SessionRecord, now: Timestamp) -> Liveness {
        if now >= self.expires_at(s) {
            Liveness::AbsoluteExpired
        } else if now >= self.idle_expires_at(s) {
            Liveness::IdleExpired
        } else {
            Liveness::Live
        }
    }

    /// How stale `last_seen_at` may get before a request writes it: a minute,
    /// or a quarter of the idle timeout when that is shorter, so that a short
    /// idle timeout (tests) still sees activity. Reads never write more often.
    pub fn touch_interval(&self) -> Duration {
        Duration::seconds((self.idle_ttl.as_secs() / 4).clamp(1, 60))
    }

    /// Whether a request at `now` should record itself in `last_seen_at`.
    pub fn touch_due_at(&self, s: &SessionRecord, now: Timestamp) -> bool {
        now >= s.last_seen_at.plus(self.touch_interval())
    }
}

/// A session created at login: the record and the secret for the cookie.
#[derive(Debug)]
pub struct IssuedSession {
    /// The cookie value, shown to the client once, never stored.
    pub secret: Secret,
    /// What was stored.
    pub record: SessionRecord,
}

/// A session record with its owner, as read from the stores (or the cache).
#[derive(Debug, Clone)]
pub struct SessionWithUser {
    /// The session.
    pub record: SessionRecord,
    /// Its owner.
    pub user: User,
}

/// A session that passed every check at `now`: only [`Tessera::resume_session`]
/// makes one. Shared with the session cache, so a cache hit copies nothing.
#[derive(Debug, Clone)]
pub struct ActiveSession(Arc<SessionWithUser>);

impl ActiveSession {
    /// The session.
    pub fn record(&self) -> &SessionRecord {
        &self.0.record
    }

    /// Its owner.
    pub fn user(&self) -> &User {
        &self.0.user
    }

    /// Checks the CSRF token the request carried against the one bound to this session.
    pub fn verify_csrf(&self, presented: Option<&str>) -> Result<CsrfVerified> {
        csrf::verify_token(&self.0.record.csrf_token, presented)
    }
}

impl Tessera {
    /// Starts a session for `user`. Any session the request carried
    /// (`carried`) is destroyed first: a login never adopts a secret the
    /// client brought (fixation).
    pub async fn start_session(
        &self,
        user: &User,
        client: ClientInfo,
        carried: Option<&str>,
    ) -> Result<IssuedSession> {
        if let Some(old) = carried {
            self.destroy_presented_session(old).await?;
        }
        let now = self.clock.now();
        let client = ClientInfo {
            user_agent: client.user_agent.map(|ua| truncate(ua, MAX_USER_AGENT)),
            ip: client.ip,
        };
        // A collision of 256-bit secrets or 122-bit ids is not expected; retry
        // rather than fail if the store reports one.
        for _ in 0..3 {
            let secret = Secret::generate(self.entropy.as_ref());
            let record = SessionRecord {
                id: SessionId::generate(self.entropy.as_ref()),
                secret_hash: secret.hash(),
                user_id: user.id,
                csrf_token: Secret::generate(self.entropy.as_ref()),
                created_at: now,
                last_seen_at: now,
                client: client.clone(),
            };
            match self.stores.sessions.insert_session(&record).await {
                Ok(()) => {
                    // Bounded per user: past the cap, the oldest others end.
                    let own = crate::device::LoginHandle::Session(record.id);
                    self.enforce_login_cap(&user.id, own).await?;
                    return Ok(IssuedSession { secret, record });
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Internal("session id collided three times".to_owned()))
    }

    /// The live session named by a cookie secret, with its user.
    ///
    /// Fails with `Unauthorized` for a malformed, unknown, expired or deleted
    /// session, or one whose user is disabled or gone; with `Store` when the
    /// store cannot answer (fail closed).
    pub async fn resume_session(&self, presented: &str) -> Result<ActiveSession> {
        let secret = Secret::from_presented(presented);
        if !secret.is_well_formed() {
            return Err(Error::Unauthorized("malformed session secret"));
        }
        let hash = secret.hash();
        let ticket = self.session_cache.ticket();
        let (mut current, from_store) = match self.session_cache.get(&hash) {
            Some(hit) => (hit, false),
            None => (Arc::new(self.load_session(&hash).await?), true),
        };
        let now = self.clock.now();
        let policy = &self.config.session;
        if policy.liveness_at(&current.record, now) != Liveness::Live {
            // The sweep would purge it anyway; deleting now keeps the store honest.
            self.stores.sessions.delete_session(&current.record.id).await?;
            self.session_cache.invalidate_all();
            return Err(Error::Unauthorized("session expired"));
        }
        if current.user.disabled {
            return Err(Error::Unauthorized("user disabled"));
        }
        self.check_session_not_ended(&current.record)?;
        if policy.touch_due_at(&current.record, now) {
            if !self.stores.sessions.touch_session(&current.record.id, now).await? {
                return Err(Error::Unauthorized("session deleted concurrently"));
            }
            Arc::make_mut(&mut current).record.last_seen_at = now;
            self.session_cache.put(ticket, Arc::clone(&current));
        } else if from_store && self.revocations_trusted() {
            // While revocations from elsewhere may be missing, every check
            // goes to the store.
            self.session_cache.put(ticket, Arc::clone(&current));
        }
        Ok(ActiveSession(current))
    }

    /// Refuses a session that was ended (or whose user logged out everywhere
    /// since it was created), as recorded in the durable store, whatever the
    /// session store says: a session store that lost the deletion (Redis
    /// restored from an old snapshot) cannot revive it. While this process
    /// cannot be sure it knows every end, it fails closed.
    fn check_session_not_ended(&self, record: &SessionRecord) -> Result<()> {
        if !self.revocations_trusted() {
            let stale = std::io::Error::other("session ends are not known to be current");
            return Err(Error::Store(StoreError::Unavailable(Box::new(stale))));
        }
        self.tokens
            .revocations
            .check_session(&record.id, &record.user_id, record.created_at)
            .map_err(|_| Error::Unauthorized("session ended"))
    }

    /// Ends `records` durably and everywhere: the ends are written to the
    /// durable store first (so no loss of the session store can revive
    /// them), applied here and announced, then the sessions are deleted.
    pub(crate) async fn end_session_records(&self, records: &[SessionRecord]) -> Result<()> {
        let policy = &self.config.session;
        let ended: Vec<(SessionId, Timestamp)> =
            records.iter().map(|r| (r.id, policy.expires_at(r))).collect();
        self.end_sessions(&ended).await
    }

    /// Ends the sessions `ended` names, each remembered until its `until`:
    /// durably first, then here and everywhere, then in the session store.
    pub(crate) async fn end_sessions(&self, ended: &[(SessionId, Timestamp)]) -> Result<()> {
        if ended.is_empty() {
            return Ok(());
        }
        self.stores.revocations.end_sessions(ended).await?;
        for (id, until) in ended {
            self.announce(Change::SessionEnded { id: *id, until: *until }).await;
        }
        for (id, _) in ended {
            self.stores.sessions.delete_session(id).await?;
        }
        Ok(())
    }

    /// Ends every session of `user` except `keep`, durably (see
    /// [`end_session_records`](Self::end_session_records)); sessions created
    /// while this runs are deleted too.
    pub(crate) async fn end_user_sessions(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
    ) -> Result<()> {
        let sessions = self.stores.sessions.list_user_sessions(user).await?;
        let ending: Vec<SessionRecord> =
            sessions.into_iter().filter(|s| Some(&s.id) != keep).collect();
        self.end_session_records(&ending).await?;
        self.stores.sessions.delete_user_sessions(user, keep).await?;
        self.announce(Change::SessionsChanged).await;
        Ok(())
    }

    /// Reads a session and its user from the stores.
    async fn load_session(&self, hash: &SecretHash) -> Result<SessionWithUser> {
        let record = self
            .stores
            .sessions
            .find_session_by_secret(hash)
            .await?
            .ok_or(Error::Unauthorized("unknown session"))?;
        let user = self
            .stores
            .users
            .find_user(&record.user_id)
            .await?
            .ok_or(Error::Unauthorized("user deleted"))?;
        Ok(SessionWithUser { record, user })
    }

    /// Learns of revocations and key changes made by other processes sharing
    /// the store (the CLI, other nodes): call periodically. When the store's
    /// revision moves, the session cache is dropped and the key ring and
    /// revocation index are reloaded. If the store cannot answer within
    /// `limit`, this process knows the store is down: the cache is dropped,
    /// and session and bearer checks (and the server's store-bound
    /// endpoints) answer `Store` at once until a poll succeeds again.
    pub async fn watch_revocations(&self, limit: std::time::Duration) -> Result<()> {
        let _one_at_a_time = self.poll.lock().await;
        // The poll is never cancelled (a query cut off half-way could leave
        // its connection in doubt): past `limit` the stores count as down at
        // once, and the poll's own answer, when it comes, decides again.
        let poll = self.stores.revision();
        tokio::pin!(poll);
        let revision = tokio::select! {
            r = &mut poll => r,
            () = tokio::time::sleep(limit) => {
                tracing::warn!(?limit, "the store did not answer the revision poll in time; failing closed");
                self.stores_down();
                poll.await
            }
        };
        let outcome = match revision {
            Ok(r) if self.session_cache.observe_revision(r) => self.reload_token_state().await,
            Ok(_) => Ok(()),
            Err(e) => Err(e.into()),
        };
        if outcome.is_err() {
            self.stores_down();
        }
        self.set_revocations_current(outcome.is_ok());
        outcome
    }

    /// Fails closed until a poll succeeds: cached sessions dropped, store
    /// checks answered `Store` at once.
    fn stores_down(&self) {
        self.session_cache.invalidate_all();
        self.session_cache.forget_revision();
        self.set_revocations_current(false);
    }

    /// Whether the last revocation poll failed: a store is known to be down,
    /// so anything that needs one is answered 503 at once rather than after
    /// a connection timeout.
    pub fn stores_known_down(&self) -> bool {
        !self.tokens.revocations_current.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Ends `session` (logout), durably and on every node.
    pub async fn end_session(&self, session: &ActiveSession, _csrf: CsrfVerified) -> Result<()> {
        self.end_session_records(std::slice::from_ref(session.record())).await
    }

    /// The application data stored in `session`.
    pub async fn session_data(&self, session: &ActiveSession) -> Result<SessionData> {
        self.stores
            .sessions
            .session_data(&session.record().id)
            .await?
            .ok_or(Error::Unauthorized("session deleted concurrently"))
    }

    /// Replaces the application data of `session`, bounded by the policy's size limit.
    pub async fn replace_session_data(
        &self,
        session: &ActiveSession,
        data: SessionData,
        _csrf: CsrfVerified,
    ) -> Result<()> {
        let size = serde_json::to_vec(&data).map(|v| v.len()).unwrap_or(usize::MAX);
        let limit = self.config.session.data_limit;
        if size > limit {
            return Err(Error::PayloadTooLarge(format!(
                "session data is {size} bytes; the limit is {limit}"
            )));
        }
        if !self.stores.sessions.set_session_data(&session.record().id, &data).await? {
            return Err(Error::Unauthorized("session deleted concurrently"));
        }
        Ok(())
    }

    /// Deletes every expired session; returns how many (the background sweep).
    pub async fn purge_expired_sessions(&self) -> Result<u64> {
        let now = self.clock.now();
        let policy = &self.config.session;
        let n = self
            .stores
            .sessions
            .purge_sessions(now.minus(policy.idle_ttl), now.minus(policy.absolute_ttl))
            .await?;
        Ok(n)
    }

    /// Deletes the session named by a presented secret, if there is one.
    async fn destroy_presented_session(&self, presented: &str) -> Result<()> {
        let secret = Secret::from_presented(presented);
        if !secret.is_well_formed() {
            return Ok(());
        }
        if let Some(old) = self.stores.sessions.find_session_by_secret(&secret.hash()).await? {
            self.end_session_records(&[old]).await?;
        }
        Ok(())
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
