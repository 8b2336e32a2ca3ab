//! Login throttling, per account and per client address.
//!
//! - **Account** (the username as typed, case-folded, whether or not it
//!   exists, so throttling reveals nothing): at `max_failures` failures
//!   within `window` of the first, further attempts are refused until the
//!   window ends. The lock never grows and never outlasts the window, so an
//!   attacker cannot lock a user out for longer than that after their last
//!   attempt.
//! - **Address**: at `4 × max_failures` failures within `window` (password
//!   spraying across many usernames), the address is refused for `window`,
//!   doubling with each repeat lock up to a day. The growth falls on the
//!   attacker's address, not on the victim's account.
//!
//! A refused attempt is answered before any password hashing, identically
//! for existing and unknown accounts, correct password included.
//!
//! The policy is decided here; an [`AttemptStore`] only keeps the counters:
//! in process memory on one node, in Redis when several nodes share the
//! load (so an attacker cannot multiply the allowance by the node count).
//! Updates are compare-and-swap, so concurrent failures on several nodes are
//! all counted.

use std::fmt;

use async_trait::async_trait;

use crate::clock::{Duration, Timestamp};
use crate::error::{Error, Result};
use crate::store::StoreError;

/// Throttle settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures per account within the window before attempts are refused.
    pub max_failures: u32,
    /// The counting window, and the account lock's length.
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self { max_failures: 5, window: Duration::seconds(300) }
    }
}

/// Failures from one address allowed per account allowance.
const ADDRESS_FACTOR: u32 = 4;
/// Longest address lock.
const MAX_ADDRESS_LOCK: i64 = 86_400;
/// Compare-and-swap attempts before a failure is given up as uncounted.
const MAX_SWAPS: usize = 16;

/// The counters kept under one throttle key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempts {
    /// Unix second the current counting window opened.
    pub window_start: i64,
    /// Failures in the current window.
    pub failures: u32,
    /// Unix second until which attempts are refused.
    pub locked_until: i64,
    /// Locks so far (drives the doubling of address locks).
    pub strikes: u32,
}

impl Attempts {
    /// The wire form used by shared stores: four integers.
    pub fn encode(&self) -> String {
        format!("{} {} {} {}", self.window_start, self.failures, self.locked_until, self.strikes)
    }

    /// Reads [`encode`](Self::encode)'s form.
    pub fn decode(s: &str) -> Option<Self> {
        let mut it = s.split(' ');
        let a = Self {
            window_start: it.next()?.parse().ok()?,
            failures: it.next()?.parse().ok()?,
            locked_until: it.next()?.parse().ok()?,
            strikes: it.next()?.parse().ok()?,
        };
        it.next().is_none().then_some(a)
    }

    /// The counters after one more failure at `now`: a new window if the
    /// last one ended, and a lock of `lock(strikes)` (at least a window) from
    /// the window's start once `limit` is reached.
    fn after_failure(
        mut self,
        now: i64,
        window: i64,
        limit: u32,
        lock: &dyn Fn(u32) -> i64,
    ) -> Self {
        if now >= self.window_start + window {
            self.window_start = now;
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures >= limit && self.locked_until <= now {
            self.locked_until = self.window_start + lock(self.strikes).max(window);
            self.strikes = self.strikes.saturating_add(1);
        }
        self
    }
}

/// Persistence of failure counters. Records may vanish after their
/// `keep_for` (or earlier, if memory is short): that forgives, never locks.
#[async_trait]
pub trait AttemptStore: Send + Sync + fmt::Debug {
    /// The counters under `key`, or `None`.
    async fn attempts(&self, key: &str) -> std::result::Result<Option<Attempts>, StoreError>;
    /// Replaces the counters under `key` with `next`, kept at least
    /// `keep_for`, if they still equal `expected` (`None`: absent). `false`
    /// (and no write) if another writer changed them first.
    async fn swap_attempts(
        &self,
        key: &str,
        expected: Option<&Attempts>,
        next: &Attempts,
        keep_for: Duration,
    ) -> std::result::Result<bool, StoreError>;
    /// Deletes the counters under `key`.
    async fn clear_attempts(&self, key: &str) -> std::result::Result<(), StoreError>;
}

/// The keys one login attempt is counted under.
#[derive(Debug, Clone)]
pub struct AttemptKeys {
    account: String,
    address: Option<String>,
}

impl AttemptKeys {
    /// Keys for `username` (case-folded) from `address` (if known).
    pub fn new(username: &str, address: Option<&str>) -> Self {
        Self {
            account: format!("u:{}", username.to_lowercase()),
            address: address.map(|a| format!("a:{a}")),
        }
    }
}

/// The login throttle: the policy over an [`AttemptStore`].
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
}

impl LoginThrottle {
    /// A throttle with `policy`.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self { policy }
    }

    /// `RateLimited` if either key is locked at `now`; `Store` if the
    /// counters cannot be read (fail closed).
    pub async fn check_at(
        &self,
        store: &dyn AttemptStore,
        keys: &AttemptKeys,
        now: Timestamp,
    ) -> Result<()> {
        let now = now.unix();
        let mut until = None;
        for key in [Some(&keys.account), keys.address.as_ref()].into_iter().flatten() {
            if let Some(a) = store.attempts(key).await?
                && a.locked_until > now
            {
                until = until.max(Some(a.locked_until));
            }
        }
        match until {
            Some(until) => Err(Error::RateLimited { retry_after: until - now }),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt under both keys.
    pub async fn record_failure_at(
        &self,
        store: &dyn AttemptStore,
        keys: &AttemptKeys,
        now: Timestamp,
    ) -> Result<()> {
        let window = self.policy.window.as_secs();
        self.count(store, &keys.account, now.unix(), self.policy.max_failures, &|_| window).await?;
        if let Some(address) = &keys.address {
            let limit = self.policy.max_failures.saturating_mul(ADDRESS_FACTOR);
            let grow =
                |strikes: u32| window.saturating_mul(1 << strikes.min(20)).min(MAX_ADDRESS_LOCK);
            self.count(store, address, now.unix(), limit, &grow).await?;
        }
        Ok(())
    }

    async fn count(
        &self,
        store: &dyn AttemptStore,
        key: &str,
        now: i64,
        limit: u32,
        lock: &(dyn Fn(u32) -> i64 + Sync),
    ) -> Result<()> {
        let window = self.policy.window.as_secs();
        // Kept long enough to outlive any lock it can carry.
        let keep_for = Duration::seconds(window.max(MAX_ADDRESS_LOCK) * 2);
        for _ in 0..MAX_SWAPS {
            let current = store.attempts(key).await?;
            let next = current.unwrap_or_default().after_failure(now, window, limit, lock);
            if store.swap_attempts(key, current.as_ref(), &next, keep_for).await? {
                return Ok(());
            }
        }
        Err(Error::Internal(format!("throttle counter {key:?} kept changing")))
    }

    /// A successful login clears the account's failures (not the address's).
    pub async fn record_success(&self, store: &dyn AttemptStore, keys: &AttemptKeys) -> Result<()> {
        store.clear_attempts(&keys.account).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryAttempts;

    const T0: i64 = 1_790_000_000;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_unix(T0 + s)
    }

    /// The policy over the in-memory counters, checked and fed synchronously.
    struct Throttle(LoginThrottle, MemoryAttempts);

    impl Throttle {
        fn check_at(&self, k: &AttemptKeys, now: Timestamp) -> Result<()> {
            block_on(self.0.check_at(&self.1, k, now))
        }
        fn record_failure_at(&self, k: &AttemptKeys, now: Timestamp) {
            block_on(self.0.record_failure_at(&self.1, k, now)).unwrap();
        }
        fn record_success(&self, k: &AttemptKeys) {
            block_on(self.0.record_success(&self.1, k)).unwrap();
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    fn throttle() -> Throttle {
        let policy = ThrottlePolicy { max_failures: 3, window: Duration::seconds(60) };
        Throttle(LoginThrottle::new(policy), MemoryAttempts::default())
    }

    #[test]
    fn throttle_account_locks_at_threshold_until_window_ends() {
        let t = throttle();
        let k = AttemptKeys::new("Alice", Some("192.0.2.1"));
        for s in 0..3 {
            assert!(t.check_at(&k, at(s)).is_ok());
            t.record_failure_at(&k, at(s));
        }
        assert!(matches!(t.check_at(&k, at(3)), Err(Error::RateLimited { retry_after: 57 })));
        // Same account from another address, another case: still locked.
        let other = AttemptKeys::new("ALICE", Some("198.51.100.9"));
        assert!(t.check_at(&other, at(30)).is_err());
        assert!(t.check_at(&k, at(60)).is_ok(), "never longer than the window");
    }

    #[test]
    fn throttle_success_clears_account_failures() {
        let t = throttle();
        let k = AttemptKeys::new("bob", None);
        t.record_failure_at(&k, at(0));
        t.record_failure_at(&k, at(1));
        t.record_success(&k);
        t.record_failure_at(&k, at(2));
        assert!(t.check_at(&k, at(3)).is_ok());
    }

    #[test]
    fn throttle_spraying_usernames_locks_the_address_with_growth() {
        let t = throttle();
        for i in 0..12 {
            t.record_failure_at(&AttemptKeys::new(&format!("user{i}"), Some("203.0.113.5")), at(i));
        }
        let fresh = AttemptKeys::new("never-tried", Some("203.0.113.5"));
        assert!(matches!(t.check_at(&fresh, at(12)), Err(Error::RateLimited { .. })));
        assert!(t.check_at(&AttemptKeys::new("never-tried", Some("192.0.2.7")), at(12)).is_ok());
        assert!(t.check_at(&fresh, at(60)).is_ok(), "first address lock: one window");
        for i in 0..12 {
            t.record_failure_at(
                &AttemptKeys::new(&format!("v{i}"), Some("203.0.113.5")),
                at(100 + i),
            );
        }
        assert!(t.check_at(&fresh, at(100 + 60 + 30)).is_err(), "second lock: two windows");
        assert!(t.check_at(&fresh, at(100 + 120)).is_ok());
    }

    #[test]
    fn attempts_encode_decode_roundtrip_and_reject_garbage() {
        let a = Attempts { window_start: 5, failures: 2, locked_until: 9, strikes: 1 };
        assert_eq!(Attempts::decode(&a.encode()), Some(a));
        for bad in ["", "1 2 3", "1 2 3 4 5", "a b c d", "1 -2 3 4"] {
            assert_eq!(Attempts::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn throttle_unknown_and_known_accounts_are_counted_alike() {
        let t = throttle();
        let ghost = AttemptKeys::new("nobody", None);
        for s in 0..3 {
            t.record_failure_at(&ghost, at(s));
        }
        assert!(t.check_at(&ghost, at(3)).is_err());
    }
}
