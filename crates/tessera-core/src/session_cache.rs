//! The verified-session cache: the session check without a store round trip.
//!
//! A hit still goes through every expiry and liveness rule with `now`; only
//! the store read is skipped. What makes a cached entry unusable:
//!
//! - **Local revocations** (logout, password change, disable, re-login) bump
//!   the generation before returning, so no later request on this process
//!   can see a stale entry.
//! - **Revocations by other processes** (the CLI, other nodes) change the
//!   store's [`revision`](crate::store::SessionStore::revision); the watcher
//!   polls it and bumps the generation, bounding staleness by its period.
//! - **A read racing a revocation**: an entry carries the generation seen
//!   *before* its store read, so a fill that started before a bump is stale
//!   on arrival.
//!
//! Bumping invalidates every entry at once. Revocations are rare next to
//! reads, and a miss costs one store read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration as StdDuration;

use moka::sync::Cache;

use crate::secret::SecretHash;
use crate::session::SessionWithUser;

/// Largest number of cached sessions.
const CAPACITY: u64 = 200_000;
/// An entry unused this long is dropped (memory bound, not a security bound).
const IDLE: StdDuration = StdDuration::from_secs(120);

#[derive(Debug)]
struct Entry {
    generation: u64,
    verified: Arc<SessionWithUser>,
}

/// Cache of sessions that were read from the store, with their users.
#[derive(Debug)]
pub struct SessionCache {
    entries: Cache<SecretHash, Arc<Entry>>,
    generation: AtomicU64,
    last_revision: AtomicU64,
}

/// The generation observed before a store read, to tag what the read returns.
#[derive(Clone, Copy, Debug)]
pub struct Ticket(u64);

impl Default for SessionCache {
    fn default() -> Self {
        Self {
            entries: Cache::builder().max_capacity(CAPACITY).time_to_idle(IDLE).build(),
            generation: AtomicU64::new(0),
            last_revision: AtomicU64::new(u64::MAX),
        }
    }
}

impl SessionCache {
    /// The cached session and user for `hash`, if still of this generation.
    pub fn get(&self, hash: &SecretHash) -> Option<Arc<SessionWithUser>> {
        let e = self.entries.get(hash)?;
        (e.generation == self.generation.load(Ordering::Acquire)).then(|| Arc::clone(&e.verified))
    }

    /// Call before reading the store; pass the ticket to [`Self::put`].
    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    /// Caches what a store read begun at `ticket` returned.
    pub fn put(&self, ticket: Ticket, verified: Arc<SessionWithUser>) {
        if ticket.0 == self.generation.load(Ordering::Acquire) {
            let hash = verified.record.secret_hash;
            self.entries.insert(hash, Arc::new(Entry { generation: ticket.0, verified }));
        }
    }

    /// Makes every current entry unusable.
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Forgets the recorded revision, so the next observation counts as a
    /// change (after a reload that failed half-way).
    pub fn forget_revision(&self) {
        self.last_revision.store(u64::MAX, Ordering::Release);
    }

    /// Records the store's revision; invalidates everything and returns
    /// `true` if it moved.
    pub fn observe_revision(&self, revision: u64) -> bool {
        let moved = self.last_revision.swap(revision, Ordering::AcqRel) != revision;
        if moved {
            self.invalidate_all();
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsEntropy;
    use crate::clock::Timestamp;
    use crate::password::PasswordHash;
    use crate::secret::Secret;
    use crate::session::{ClientInfo, SessionId, SessionRecord};
    use crate::user::{User, UserId, Username};

    fn pair() -> Arc<SessionWithUser> {
        let user = User {
            id: UserId::generate(&OsEntropy),
            username: Username::parse("u").unwrap(),
            password_hash: PasswordHash::from_phc(String::new()),
            scope: String::new(),
            created_at: Timestamp::from_unix(0),
            disabled: false,
        };
        let session = SessionRecord {
            id: SessionId::generate(&OsEntropy),
            secret_hash: Secret::generate(&OsEntropy).hash(),
            user_id: user.id,
            csrf_token: Secret::generate(&OsEntropy),
            created_at: Timestamp::from_unix(0),
            last_seen_at: Timestamp::from_unix(0),
            client: ClientInfo::default(),
        };
        Arc::new(SessionWithUser { record: session, user })
    }

    #[test]
    fn cache_hit_after_put() {
        let c = SessionCache::default();
        let v = pair();
        c.put(c.ticket(), v.clone());
        assert_eq!(c.get(&v.record.secret_hash).unwrap().record, v.record);
    }

    #[test]
    fn cache_invalidate_all_hides_entries() {
        let c = SessionCache::default();
        let v = pair();
        c.put(c.ticket(), v.clone());
        c.invalidate_all();
        assert!(c.get(&v.record.secret_hash).is_none());
    }

    #[test]
    fn cache_fill_racing_revocation_is_discarded() {
        let c = SessionCache::default();
        let v = pair();
        let ticket = c.ticket(); // read starts
        c.invalidate_all(); // logout lands meanwhile
        c.put(ticket, v.clone()); // stale read arrives
        assert!(c.get(&v.record.secret_hash).is_none());
    }

    #[test]
    fn cache_revision_change_invalidates_same_revision_does_not() {
        let c = SessionCache::default();
        c.observe_revision(5);
        let v = pair();
        c.put(c.ticket(), v.clone());
        c.observe_revision(5);
        assert!(c.get(&v.record.secret_hash).is_some());
        c.observe_revision(6);
        assert!(c.get(&v.record.secret_hash).is_none());
    }
}
