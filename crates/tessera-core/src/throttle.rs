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
//! for existing and unknown accounts, correct password included. Counters
//! live in process memory (per node); a shared store for several nodes comes
//! with Redis.

use std::sync::{Arc, Mutex};

use crate::clock::{Duration, Timestamp};
use crate::error::{Error, Result};

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

#[derive(Debug, Default, Clone, Copy)]
struct Entry {
    window_start: i64,
    failures: u32,
    locked_until: i64,
    /// Address locks so far (drives the doubling).
    strikes: u32,
}

/// In-memory failure counters.
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    entries: moka::sync::Cache<String, Arc<Mutex<Entry>>>,
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

impl LoginThrottle {
    /// A throttle with `policy`.
    pub fn new(policy: ThrottlePolicy) -> Self {
        let idle = std::time::Duration::from_secs(MAX_ADDRESS_LOCK.unsigned_abs() * 2);
        Self {
            policy,
            entries: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_idle(idle)
                .build(),
        }
    }

    fn entry(&self, key: &str) -> Arc<Mutex<Entry>> {
        self.entries.get_with(key.to_owned(), || Arc::new(Mutex::new(Entry::default())))
    }

    fn locked_until(&self, key: &str, now: i64) -> Option<i64> {
        let e = self.entries.get(key)?;
        let e = *e.lock().unwrap_or_else(|p| p.into_inner());
        (e.locked_until > now).then_some(e.locked_until)
    }

    /// `RateLimited` if either key is locked at `now`.
    pub fn check_at(&self, keys: &AttemptKeys, now: Timestamp) -> Result<()> {
        let now = now.unix();
        let until = [Some(&keys.account), keys.address.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|k| self.locked_until(k, now))
            .max();
        match until {
            Some(until) => Err(Error::RateLimited { retry_after: until - now }),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt.
    pub fn record_failure_at(&self, keys: &AttemptKeys, now: Timestamp) {
        let (now, window) = (now.unix(), self.policy.window.as_secs());
        let count = |key: &str, limit: u32, lock: &dyn Fn(u32) -> i64| {
            let entry = self.entry(key);
            let mut e = entry.lock().unwrap_or_else(|p| p.into_inner());
            if now >= e.window_start + window {
                e.window_start = now;
                e.failures = 0;
            }
            e.failures += 1;
            if e.failures >= limit && e.locked_until <= now {
                e.locked_until = e.window_start + lock(e.strikes).max(window);
                e.strikes += 1;
            }
        };
        count(&keys.account, self.policy.max_failures, &|_| window);
        if let Some(address) = &keys.address {
            let limit = self.policy.max_failures.saturating_mul(ADDRESS_FACTOR);
            let grow =
                |strikes: u32| window.saturating_mul(1 << strikes.min(20)).min(MAX_ADDRESS_LOCK);
            count(address, limit, &grow);
        }
    }

    /// A successful login clears the account's failures (not the address's).
    pub fn record_success(&self, keys: &AttemptKeys) {
        self.entries.invalidate(&keys.account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_790_000_000;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_unix(T0 + s)
    }

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottlePolicy { max_failures: 3, window: Duration::seconds(60) })
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
    fn throttle_unknown_and_known_accounts_are_counted_alike() {
        let t = throttle();
        let ghost = AttemptKeys::new("nobody", None);
        for s in 0..3 {
            t.record_failure_at(&ghost, at(s));
        }
        assert!(t.check_at(&ghost, at(3)).is_err());
    }
}
