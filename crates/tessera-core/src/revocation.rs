//! Access-token revocation: what can deny a validly signed token, kept in
//! memory on every process so the check needs no store round trip.
//!
//! Three things deny a token: its `jti` was revoked (RFC 7009), its `sid`
//! names a revoked refresh family, or it was issued before its user's
//! "not before" (log out everywhere, disable). All three are durable in the
//! store and reloaded into the [`RevocationIndex`] at start and whenever the
//! store's revision moves, so they survive restarts and reach every process.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::RwLock;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::refresh::FamilyId;
use crate::store::StoreError;
use crate::user::UserId;

/// Everything that can still deny a token, as loaded from a store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevocationSet {
    /// Revoked access tokens: `jti` and the token's `exp` (after which the
    /// entry is useless and purged).
    pub tokens: Vec<(String, Timestamp)>,
    /// Revoked families whose access tokens may still be unexpired.
    pub families: Vec<FamilyId>,
    /// Per-user "no token issued before this instant is valid".
    pub not_before: Vec<(UserId, Timestamp)>,
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
    /// Token revocations unexpired at `now`, families revoked at or after
    /// `families_since`, and every not-before at or after `not_before_since`.
    async fn load_revocations(
        &self,
        now: Timestamp,
        families_since: Timestamp,
        not_before_since: Timestamp,
    ) -> Result<RevocationSet, StoreError>;
    /// Deletes token revocations that expired before `now`; returns how many.
    async fn purge_revocations(&self, now: Timestamp) -> Result<u64, StoreError>;
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
