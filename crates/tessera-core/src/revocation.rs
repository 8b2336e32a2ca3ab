//! Access-token revocation: what can deny a validly signed token, kept in
//! memory on every process so the check needs no store round trip.
//!
//! Three things deny a token: its `jti` was revoked (RFC 7009), its `sid`
//! names a revoked refresh family, or it was issued before its user's
//! "not before" (log out everywhere, disable). Two deny a browser session:
//! it was ended (logout, device removal, password change) or created at or
//! before its user's not-before. All are durable in the SQL (or memory)
//! store and reloaded into the [`RevocationIndex`] at start and whenever the
//! store's revision moves, so they survive restarts and reach every process,
//! and a session store that loses deletions (a Redis restored from an old
//! snapshot, a failover to a lagging replica) cannot bring an ended session
//! back.
//!
//! **Retention never depends on the revoking process's clock.** Each entry is
//! kept for as long as its *credential* could still be accepted, computed
//! from the credential's own times (a token's `exp`, a family's last
//! issuance, a session's creation) plus [`RevocationWindow::margin`]: the
//! largest leeway a verifier may apply plus [`CLOCK_SKEW_TOLERANCE`]. A
//! revoking process whose clock is behind or ahead by up to that tolerance
//! writes entries that every node keeps long enough.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::RwLock;

use async_trait::async_trait;

use crate::clock::{Duration, Timestamp};
use crate::refresh::FamilyId;
use crate::session::SessionId;
use crate::store::StoreError;
use crate::user::UserId;

/// How far apart the clocks of the processes sharing a store may be without
/// weakening revocation: entries are kept this much longer than their
/// credentials live. Beyond it, a revocation written by a process whose clock
/// is behind could be dropped before its credential expires elsewhere.
pub const CLOCK_SKEW_TOLERANCE: Duration = Duration::seconds(300);

/// The largest leeway any verifier applies to `exp` (the token policy
/// clamps its own leeway to this).
pub const MAX_LEEWAY: Duration = Duration::seconds(60);

/// The lifetimes that decide how long each kind of revocation is kept,
/// computed by the reader from its own clock and the credentials' own times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevocationWindow {
    /// The longest access-token lifetime.
    pub access_ttl: Duration,
    /// The longest browser-session lifetime (absolute).
    pub session_ttl: Duration,
}

impl RevocationWindow {
    /// What every entry is kept beyond its credential's own end: the largest
    /// verifier leeway plus the tolerated clock skew.
    pub const fn margin() -> Duration {
        Duration::seconds(MAX_LEEWAY.as_secs() + CLOCK_SKEW_TOLERANCE.as_secs())
    }

    /// The cutoffs to load (or keep) at `now`.
    pub fn cutoffs_at(&self, now: Timestamp) -> RevocationCutoffs {
        let margin = Self::margin();
        let longest = self.access_ttl.max(self.session_ttl);
        RevocationCutoffs {
            tokens_expiring_after: now.minus(margin),
            families_used_since: now.minus(self.access_ttl).minus(margin),
            not_before_since: now.minus(longest).minus(margin),
            sessions_until_after: now.minus(margin),
        }
    }
}

/// Which stored revocations still matter, as instants on the reader's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevocationCutoffs {
    /// Token revocations whose token `exp` is after this.
    pub tokens_expiring_after: Timestamp,
    /// Revoked families whose last access token was issued (the family's
    /// `last_used_at`) at or after this.
    pub families_used_since: Timestamp,
    /// Per-user not-befores at or after this.
    pub not_before_since: Timestamp,
    /// Ended sessions whose `until` is after this.
    pub sessions_until_after: Timestamp,
}

/// Everything that can still deny a token, as loaded from a store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevocationSet {
    /// Revoked access tokens: `jti` and the token's `exp` (after which the
    /// entry is useless and purged).
    pub tokens: Vec<(String, Timestamp)>,
    /// Revoked families whose access tokens may still be unexpired.
    pub families: Vec<FamilyId>,
    /// Per-user "no token issued, and no session created, at or before this
    /// instant is valid".
    pub not_before: Vec<(UserId, Timestamp)>,
    /// Ended browser sessions, each with the instant after which it would
    /// have expired anyway (its creation plus the absolute lifetime).
    pub sessions: Vec<(SessionId, Timestamp)>,
}

/// Persistence of revocations.
#[async_trait]
pub trait RevocationStore: Send + Sync + fmt::Debug {
    /// Revokes the access token `jti` until `expires_at`. Idempotent; keeps
    /// the later expiry if revoked twice.
    async fn revoke_access_token(&self, jti: &str, expires_at: Timestamp)
    -> Result<(), StoreError>;
    /// Raises `user`'s token not-before to `at` (never lowers it). `false`
    /// if there is no such user.
    async fn raise_tokens_not_before(
        &self,
        user: &UserId,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Records that these sessions ended, each kept until its `until`.
    /// Idempotent; durable before it returns. Written before the sessions
    /// are deleted from their store, so that a session store restored from
    /// an old copy cannot revive them.
    async fn end_sessions(&self, ended: &[(SessionId, Timestamp)]) -> Result<(), StoreError>;
    /// Everything that still matters by `cutoffs` (see [`RevocationCutoffs`]);
    /// revoked families come from the refresh-family records.
    async fn load_revocations(
        &self,
        cutoffs: &RevocationCutoffs,
    ) -> Result<RevocationSet, StoreError>;
    /// Deletes token revocations and session ends past `cutoffs`; returns how
    /// many. Not-befores live with their users and are never deleted.
    async fn purge_revocations(&self, cutoffs: &RevocationCutoffs) -> Result<u64, StoreError>;
}

/// Why a token is denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// Its `jti` was revoked.
    Token,
    /// Its family (`sid`) was revoked.
    Family,
    /// It was issued before the user's not-before.
    IssuedBeforeNotBefore,
    /// The session was ended.
    SessionEnded,
}

/// The in-memory revocation state of one process.
#[derive(Debug, Default)]
pub struct RevocationIndex {
    inner: RwLock<Index>,
}

#[derive(Debug, Default)]
struct Index {
    tokens: HashMap<String, Timestamp>,
    families: HashSet<FamilyId>,
    not_before: HashMap<UserId, Timestamp>,
    sessions: HashMap<SessionId, Timestamp>,
    /// Counts local additions.
    generation: u64,
    /// Local additions with their generation, kept until a reload that began
    /// after them has replaced the index (then the store holds them).
    local: Vec<(u64, Local)>,
}

#[derive(Debug, Clone)]
enum Local {
    Token(String, Timestamp),
    Family(FamilyId),
    NotBefore(UserId, Timestamp),
    Session(SessionId, Timestamp),
}

impl Index {
    fn apply(&mut self, entry: &Local) {
        match entry {
            Local::Token(jti, exp) => {
                self.tokens.insert(jti.clone(), *exp);
            }
            Local::Family(id) => {
                self.families.insert(*id);
            }
            Local::NotBefore(user, at) => {
                let slot = self.not_before.entry(*user).or_insert(*at);
                *slot = (*slot).max(*at);
            }
            Local::Session(id, until) => {
                self.sessions.insert(*id, *until);
            }
        }
    }
}

/// Marks the start of a reload; pass it to [`RevocationIndex::replace`].
#[derive(Clone, Copy, Debug)]
pub struct ReloadTicket(u64);

impl RevocationIndex {
    /// Call before reading the store for a reload.
    pub fn begin_reload(&self) -> ReloadTicket {
        ReloadTicket(self.read().generation)
    }

    /// Replaces the index with what the store held when read after `ticket`.
    /// Local additions made since `ticket` are kept: the read may have
    /// missed them (every local addition follows its durable store write, so
    /// older ones are in `set`).
    pub fn replace(&self, set: RevocationSet, ticket: ReloadTicket) {
        let mut g = self.write();
        let local: Vec<(u64, Local)> = g.local.drain(..).filter(|(n, _)| *n > ticket.0).collect();
        let mut index = Index {
            tokens: set.tokens.into_iter().collect(),
            families: set.families.into_iter().collect(),
            not_before: set.not_before.into_iter().collect(),
            sessions: set.sessions.into_iter().collect(),
            generation: g.generation,
            local: Vec::new(),
        };
        for (_, entry) in &local {
            index.apply(entry);
        }
        index.local = local;
        *g = index;
    }

    /// Records a revocation made by this process, after its store write and
    /// before the response, so the next request here already sees it.
    pub fn add_token(&self, jti: &str, expires_at: Timestamp) {
        self.add(Local::Token(jti.to_owned(), expires_at));
    }

    /// Records a family revocation made by this process.
    pub fn add_family(&self, id: FamilyId) {
        self.add(Local::Family(id));
    }

    /// Records a not-before raised by this process.
    pub fn raise_not_before(&self, user: UserId, at: Timestamp) {
        self.add(Local::NotBefore(user, at));
    }

    /// Records a session ended by this process (or announced by another).
    pub fn end_session(&self, id: SessionId, until: Timestamp) {
        self.add(Local::Session(id, until));
    }

    /// Whether a session created at `created_at` by `user` was ended, by
    /// itself or by its user's not-before (inclusive, as for tokens).
    pub fn check_session(
        &self,
        id: &SessionId,
        user: &UserId,
        created_at: Timestamp,
    ) -> Result<(), Revoked> {
        let g = self.read();
        if g.sessions.contains_key(id) {
            return Err(Revoked::SessionEnded);
        }
        if g.not_before.get(user).is_some_and(|nb| created_at <= *nb) {
            return Err(Revoked::IssuedBeforeNotBefore);
        }
        Ok(())
    }

    fn add(&self, entry: Local) {
        let mut g = self.write();
        g.apply(&entry);
        g.generation += 1;
        let n = g.generation;
        g.local.push((n, entry));
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a token with these claims is revoked. `user` is `None` for
    /// tokens whose subject is a client.
    pub fn check(
        &self,
        jti: &str,
        sid: Option<&FamilyId>,
        user: Option<&UserId>,
        iat: Timestamp,
    ) -> Result<(), Revoked> {
        let g = self.read();
        if g.tokens.contains_key(jti) {
            return Err(Revoked::Token);
        }
        if sid.is_some_and(|s| g.families.contains(s)) {
            return Err(Revoked::Family);
        }
        // A token issued in the same second as a logout-all is denied: the
        // not-before is inclusive, since `iat` has one-second resolution.
        if user.and_then(|u| g.not_before.get(u)).is_some_and(|nb| iat <= *nb) {
            return Err(Revoked::IssuedBeforeNotBefore);
        }
        Ok(())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsEntropy;

    #[test]
    fn index_denies_revoked_jti_sid_and_old_iat() {
        let idx = RevocationIndex::default();
        let (sid, user) = (FamilyId::generate(&OsEntropy), UserId::generate(&OsEntropy));
        let t = Timestamp::from_unix(1000);
        assert_eq!(idx.check("j1", Some(&sid), Some(&user), t), Ok(()));
        idx.add_token("j1", t);
        assert_eq!(idx.check("j1", None, None, t), Err(Revoked::Token));
        idx.add_family(sid);
        assert_eq!(idx.check("j2", Some(&sid), None, t), Err(Revoked::Family));
        idx.raise_not_before(user, t);
        assert_eq!(idx.check("j3", None, Some(&user), t), Err(Revoked::IssuedBeforeNotBefore));
        assert_eq!(idx.check("j3", None, Some(&user), Timestamp::from_unix(1001)), Ok(()));
    }

    #[test]
    fn index_denies_ended_session_and_sessions_before_not_before() {
        let idx = RevocationIndex::default();
        let (a, b) = (SessionId::generate(&OsEntropy), SessionId::generate(&OsEntropy));
        let user = UserId::generate(&OsEntropy);
        let t = Timestamp::from_unix(1000);
        assert_eq!(idx.check_session(&a, &user, t), Ok(()));
        idx.end_session(a, t);
        assert_eq!(idx.check_session(&a, &user, t), Err(Revoked::SessionEnded));
        assert_eq!(idx.check_session(&b, &user, t), Ok(()));
        idx.raise_not_before(user, t);
        assert_eq!(idx.check_session(&b, &user, t), Err(Revoked::IssuedBeforeNotBefore));
        let later = Timestamp::from_unix(1001);
        assert_eq!(idx.check_session(&b, &user, later), Ok(()));
    }

    #[test]
    fn window_cutoffs_keep_entries_past_leeway_and_skew() {
        let w = RevocationWindow {
            access_ttl: Duration::seconds(60),
            session_ttl: Duration::seconds(600),
        };
        let now = Timestamp::from_unix(100_000);
        let c = w.cutoffs_at(now);
        // A token that expired 61 s ago may still be accepted by a verifier
        // with the largest leeway whose clock is behind: still kept.
        assert!(Timestamp::from_unix(now.unix() - 61) > c.tokens_expiring_after);
        assert_eq!(c.tokens_expiring_after.unix(), now.unix() - 360);
        assert_eq!(c.families_used_since.unix(), now.unix() - 60 - 360);
        assert_eq!(c.not_before_since.unix(), now.unix() - 600 - 360);
        assert_eq!(c.sessions_until_after.unix(), now.unix() - 360);
    }

    #[test]
    fn index_not_before_never_lowers() {
        let idx = RevocationIndex::default();
        let user = UserId::generate(&OsEntropy);
        idx.raise_not_before(user, Timestamp::from_unix(50));
        idx.raise_not_before(user, Timestamp::from_unix(10));
        assert!(idx.check("j", None, Some(&user), Timestamp::from_unix(40)).is_err());
    }

    #[test]
    fn index_replace_after_local_add_trusts_the_store() {
        let idx = RevocationIndex::default();
        idx.add_token("gone", Timestamp::from_unix(1));
        let ticket = idx.begin_reload();
        idx.replace(RevocationSet::default(), ticket);
        assert_eq!(idx.check("gone", None, None, Timestamp::from_unix(0)), Ok(()));
    }

    #[test]
    fn index_reload_racing_local_revocation_keeps_it() {
        let idx = RevocationIndex::default();
        let ticket = idx.begin_reload(); // store read starts
        idx.add_token("fresh", Timestamp::from_unix(9)); // revoked meanwhile
        idx.replace(RevocationSet::default(), ticket); // the read missed it
        assert_eq!(idx.check("fresh", None, None, Timestamp::from_unix(0)), Err(Revoked::Token));
    }
}
