//! The in-memory store: a product store for single-process use and unit tests.
//!
//! One mutex guards all maps, so every trait method is atomic. Nothing
//! survives a restart. [`MemoryAttempts`] keeps login-failure counters for
//! a single node whatever its store.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::client::{Client, ClientStore};
use crate::clock::{Moment, Timestamp};
use crate::password::PasswordHash;
use crate::refresh::{FamilyId, RefreshFamily, RefreshStore, Rotation, TokenRef};
use crate::revocation::{RevocationCutoffs, RevocationSet, RevocationStore};
use crate::secret::SecretHash;
use crate::session::{SessionId, SessionRecord};
use crate::signing_key::{KeyState, KeyStore, StoredKey};
use crate::store::{Backend, DeploymentStore, SessionData, SessionStore, StoreError, UserStore};
use crate::throttle::{AttemptStore, Attempts};
use crate::user::{User, UserId, Username};

/// Users and sessions in process memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    users: HashMap<UserId, User>,
    user_by_name: HashMap<String, UserId>,
    sessions: HashMap<SessionId, (SessionRecord, SessionData)>,
    session_by_secret: HashMap<SecretHash, SessionId>,
    families: HashMap<FamilyId, RefreshFamily>,
    /// Family → hash of its current refresh token (consumed ones leave nothing).
    refresh_current: HashMap<FamilyId, SecretHash>,
    clients: HashMap<String, Client>,
    keys: Vec<StoredKey>,
    revoked_tokens: HashMap<String, Timestamp>,
    tokens_not_before: HashMap<UserId, Timestamp>,
    ended_sessions: HashMap<SessionId, Timestamp>,
    deployment: HashMap<String, String>,
    revision: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn update_user(&self, id: &UserId, f: impl FnOnce(&mut User)) -> Result<bool, StoreError> {
        let mut g = self.lock();
        let Some(user) = g.users.get_mut(id) else {
            return Ok(false);
        };
        f(user);
        g.revision += 1;
        Ok(true)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in
        // a way that matters more than losing the process, so poison is ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn remove_session(&mut self, id: &SessionId) -> bool {
        match self.sessions.remove(id) {
            Some((s, _)) => {
                self.session_by_secret.remove(&s.secret_hash);
                self.revision += 1;
                true
            }
            None => false,
        }
    }

    fn remove_sessions_where(&mut self, pred: impl Fn(&SessionRecord) -> bool) -> u64 {
        let doomed: Vec<SessionId> =
            self.sessions.values().filter(|(s, _)| pred(s)).map(|(s, _)| s.id).collect();
        doomed.iter().filter(|id| self.remove_session(id)).count() as u64
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        let mut g = self.lock();
        if g.users.contains_key(&user.id) {
            return Err(StoreError::Conflict("user id"));
        }
        let key = user.username.key();
        if g.user_by_name.contains_key(&key) {
            return Err(StoreError::Conflict("username"));
        }
        g.user_by_name.insert(key, user.id);
        g.users.insert(user.id, user.clone());
        Ok(())
    }

    async fn find_user_by_name(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let g = self.lock();
        Ok(g.user_by_name.get(&username.key()).and_then(|id| g.users.get(id)).cloned())
    }

    async fn find_user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        Ok(self.lock().users.get(id).cloned())
    }

    async fn set_password_hash(
        &self,
        id: &UserId,
        hash: &PasswordHash,
    ) -> Result<bool, StoreError> {
        self.update_user(id, |u| u.password_hash = hash.clone())
    }

    async fn set_disabled(&self, id: &UserId, disabled: bool) -> Result<bool, StoreError> {
        self.update_user(id, |u| u.disabled = disabled)
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let mut users: Vec<User> = self.lock().users.values().cloned().collect();
        users.sort_by(|a, b| {
            (a.created_at, a.username.key()).cmp(&(b.created_at, b.username.key()))
        });
        Ok(users)
    }
}

#[async_trait]
impl DeploymentStore for MemoryStore {
    async fn deployment_fact(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.lock().deployment.get(key).cloned())
    }

    async fn record_deployment_fact(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.lock().deployment.insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}

#[async_trait]
impl Backend for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn revision(&self) -> Result<u64, StoreError> {
        Ok(self.lock().revision)
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        let mut g = self.lock();
        if g.sessions.contains_key(&session.id) {
            return Err(StoreError::Conflict("session id"));
        }
        if g.session_by_secret.contains_key(&session.secret_hash) {
            return Err(StoreError::Conflict("session secret"));
        }
        g.session_by_secret.insert(session.secret_hash, session.id);
        g.sessions.insert(session.id, (session.clone(), SessionData::new()));
        Ok(())
    }

    async fn find_session_by_secret(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let g = self.lock();
        Ok(g.session_by_secret.get(hash).and_then(|id| g.sessions.get(id)).map(|(s, _)| s.clone()))
    }

    async fn touch_session(
        &self,
        id: &SessionId,
        last_seen: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(self.lock().sessions.get_mut(id).map(|(s, _)| s.last_seen_at = last_seen).is_some())
    }

    async fn session_data(&self, id: &SessionId) -> Result<Option<SessionData>, StoreError> {
        Ok(self.lock().sessions.get(id).map(|(_, d)| d.clone()))
    }

    async fn set_session_data(
        &self,
        id: &SessionId,
        data: &SessionData,
    ) -> Result<bool, StoreError> {
        Ok(self.lock().sessions.get_mut(id).map(|(_, d)| *d = data.clone()).is_some())
    }

    async fn delete_session(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(self.lock().remove_session(id))
    }

    async fn delete_user_sessions(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
    ) -> Result<u64, StoreError> {
        Ok(self.lock().remove_sessions_where(|s| s.user_id == *user && Some(&s.id) != keep))
    }

    async fn list_user_sessions(&self, user: &UserId) -> Result<Vec<SessionRecord>, StoreError> {
        let g = self.lock();
        let mut v: Vec<SessionRecord> = g
            .sessions
            .values()
            .filter(|(s, _)| s.user_id == *user)
            .map(|(s, _)| s.clone())
            .collect();
        v.sort_by_key(|s| (s.created_at, s.id.to_string()));
        Ok(v)
    }

    async fn purge_sessions(
        &self,
        idle_cutoff: Timestamp,
        absolute_cutoff: Timestamp,
    ) -> Result<u64, StoreError> {
        Ok(self.lock().remove_sessions_where(|s| {
            s.last_seen_at < idle_cutoff || s.created_at < absolute_cutoff
        }))
    }
}

#[async_trait]
impl RefreshStore for MemoryStore {
    async fn insert_family(
        &self,
        family: &RefreshFamily,
        first_token: &SecretHash,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        if g.families.contains_key(&family.id) {
            return Err(StoreError::Conflict("family id"));
        }
        g.families.insert(family.id, family.clone());
        g.refresh_current.insert(family.id, *first_token);
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        presented: &TokenRef,
        successor: &SecretHash,
        now: Timestamp,
        rotated_at: Moment,
    ) -> Result<Rotation, StoreError> {
        let mut g = self.lock();
        let current = g.refresh_current.get(&presented.family).copied();
        let Some(family) = g.families.get_mut(&presented.family) else {
            return Ok(Rotation::Unknown);
        };
        if family.generation > presented.generation {
            return Ok(Rotation::AlreadyConsumed(family.clone()));
        }
        if family.generation != presented.generation || current != Some(presented.hash) {
            return Ok(Rotation::Unknown);
        }
        family.generation += 1;
        family.rotated_at = Some(rotated_at);
        family.last_used_at = family.last_used_at.max(now);
        let family = family.clone();
        g.refresh_current.insert(family.id, *successor);
        Ok(Rotation::Rotated(family))
    }

    async fn find_legacy_token(&self, _: &SecretHash) -> Result<Option<FamilyId>, StoreError> {
        // Nothing in memory predates the current token form.
        Ok(None)
    }

    async fn find_family(&self, id: &FamilyId) -> Result<Option<RefreshFamily>, StoreError> {
        Ok(self.lock().families.get(id).cloned())
    }

    async fn revoke_family(&self, id: &FamilyId, at: Timestamp) -> Result<bool, StoreError> {
        let mut g = self.lock();
        let revoked = match g.families.get_mut(id) {
            Some(f) if f.revoked_at.is_none() => {
                f.revoked_at = Some(at);
                true
            }
            _ => false,
        };
        g.revision += u64::from(revoked);
        Ok(revoked)
    }

    async fn revoke_user_families(
        &self,
        user: &UserId,
        keep: Option<&FamilyId>,
        at: Timestamp,
    ) -> Result<Vec<FamilyId>, StoreError> {
        let mut g = self.lock();
        let mut revoked = Vec::new();
        for f in g.families.values_mut() {
            if f.user_id == *user && Some(&f.id) != keep && f.revoked_at.is_none() {
                f.revoked_at = Some(at);
                revoked.push(f.id);
            }
        }
        g.revision += revoked.len() as u64;
        Ok(revoked)
    }

    async fn list_user_families(&self, user: &UserId) -> Result<Vec<RefreshFamily>, StoreError> {
        let g = self.lock();
        let mut v: Vec<RefreshFamily> = g
            .families
            .values()
            .filter(|f| f.user_id == *user && f.revoked_at.is_none())
            .cloned()
            .collect();
        v.sort_by_key(|f| (f.created_at, f.id));
        Ok(v)
    }

    async fn purge_families(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        let mut g = self.lock();
        let doomed: Vec<FamilyId> =
            g.families.values().filter(|f| f.expires_at < cutoff).map(|f| f.id).collect();
        for id in &doomed {
            g.families.remove(id);
            g.refresh_current.remove(id);
        }
        Ok(doomed.len() as u64)
    }
}

#[async_trait]
impl ClientStore for MemoryStore {
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        let mut g = self.lock();
        if g.clients.contains_key(&client.id) {
            return Err(StoreError::Conflict("client id"));
        }
        g.clients.insert(client.id.clone(), client.clone());
        Ok(())
    }

    async fn find_client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        Ok(self.lock().clients.get(id).cloned())
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let mut v: Vec<Client> = self.lock().clients.values().cloned().collect();
        v.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(v)
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn list_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        Ok(self.lock().keys.clone())
    }

    async fn insert_initial_keys(
        &self,
        current: &StoredKey,
        next: &StoredKey,
    ) -> Result<bool, StoreError> {
        let mut g = self.lock();
        if !g.keys.is_empty() {
            return Ok(false);
        }
        g.keys = vec![current.clone(), next.clone()];
        g.revision += 1;
        Ok(true)
    }

    async fn rotate_keys(
        &self,
        expected_current: &str,
        new_next: &StoredKey,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut g = self.lock();
        let is_expected = |k: &StoredKey| k.state == KeyState::Current && k.kid == expected_current;
        if !g.keys.iter().any(is_expected) || g.keys.iter().any(|k| k.kid == new_next.kid) {
            return Ok(false);
        }
        for k in &mut g.keys {
            match k.state {
                KeyState::Current => {
                    k.state = KeyState::Retired;
                    k.retired_at = Some(now);
                }
                KeyState::Next => {
                    k.state = KeyState::Current;
                    k.activated_at = Some(now);
                }
                KeyState::Retired => {}
            }
        }
        g.keys.push(new_next.clone());
        g.revision += 1;
        Ok(true)
    }

    async fn delete_retired_keys(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        let mut g = self.lock();
        let before = g.keys.len();
        g.keys.retain(|k| {
            !(k.state == KeyState::Retired && k.retired_at.is_some_and(|r| r < cutoff))
        });
        let n = (before - g.keys.len()) as u64;
        g.revision += n;
        Ok(n)
    }
}

#[async_trait]
impl RevocationStore for MemoryStore {
    async fn revoke_access_token(
        &self,
        jti: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        let slot = g.revoked_tokens.entry(jti.to_owned()).or_insert(expires_at);
        *slot = (*slot).max(expires_at);
        g.revision += 1;
        Ok(())
    }

    async fn raise_tokens_not_before(
        &self,
        user: &UserId,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut g = self.lock();
        if !g.users.contains_key(user) {
            return Ok(false);
        }
        let slot = g.tokens_not_before.entry(*user).or_insert(at);
        *slot = (*slot).max(at);
        g.revision += 1;
        Ok(true)
    }

    async fn end_sessions(&self, ended: &[(SessionId, Timestamp)]) -> Result<(), StoreError> {
        let mut g = self.lock();
        for (id, until) in ended {
            let slot = g.ended_sessions.entry(*id).or_insert(*until);
            *slot = (*slot).max(*until);
        }
        g.revision += 1;
        Ok(())
    }

    async fn load_revocations(
        &self,
        cutoffs: &RevocationCutoffs,
    ) -> Result<RevocationSet, StoreError> {
        let g = self.lock();
        Ok(RevocationSet {
            tokens: g
                .revoked_tokens
                .iter()
                .filter(|(_, exp)| **exp > cutoffs.tokens_expiring_after)
                .map(|(j, e)| (j.clone(), *e))
                .collect(),
            families: g
                .families
                .values()
                .filter(|f| f.revoked_at.is_some() && f.last_used_at >= cutoffs.families_used_since)
                .map(|f| f.id)
                .collect(),
            not_before: g
                .tokens_not_before
                .iter()
                .filter(|(_, t)| **t >= cutoffs.not_before_since)
                .map(|(u, t)| (*u, *t))
                .collect(),
            sessions: g
                .ended_sessions
                .iter()
                .filter(|(_, until)| **until > cutoffs.sessions_until_after)
                .map(|(id, until)| (*id, *until))
                .collect(),
        })
    }

    async fn purge_revocations(&self, cutoffs: &RevocationCutoffs) -> Result<u64, StoreError> {
        let mut g = self.lock();
        let before = g.revoked_tokens.len() + g.ended_sessions.len();
        g.revoked_tokens.retain(|_, exp| *exp > cutoffs.tokens_expiring_after);
        g.ended_sessions.retain(|_, until| *until > cutoffs.sessions_until_after);
        Ok((before - g.revoked_tokens.len() - g.ended_sessions.len()) as u64)
    }
}

/// Login-failure counters in process memory, bounded and forgotten after a
/// period without failures.
#[derive(Debug)]
pub struct MemoryAttempts {
    entries: moka::sync::Cache<String, Attempts>,
    /// Serialises compare-and-swap: every login reserves (and a success
    /// gives back) its count here, each swap a read and a write under it.
    swap: Mutex<()>,
}

impl Default for MemoryAttempts {
    fn default() -> Self {
        // Two days: longer than the longest lock (one day).
        let idle = std::time::Duration::from_secs(2 * 86_400);
        let entries = moka::sync::Cache::builder().max_capacity(1_000_000).time_to_idle(idle);
        Self { entries: entries.build(), swap: Mutex::new(()) }
    }
}

#[async_trait]
impl AttemptStore for MemoryAttempts {
    async fn attempts(&self, key: &str) -> Result<Option<Attempts>, StoreError> {
        Ok(self.entries.get(key))
    }

    async fn swap_attempts(
        &self,
        key: &str,
        expected: Option<&Attempts>,
        next: &Attempts,
        _keep_for: crate::Duration,
    ) -> Result<bool, StoreError> {
        let _guard = self.swap.lock().unwrap_or_else(|p| p.into_inner());
        if self.entries.get(key).as_ref() != expected {
            return Ok(false);
        }
        self.entries.insert(key.to_owned(), *next);
        Ok(true)
    }

    async fn clear_attempts(&self, key: &str) -> Result<(), StoreError> {
        let _guard = self.swap.lock().unwrap_or_else(|p| p.into_inner());
        self.entries.invalidate(key);
        Ok(())
    }
}
