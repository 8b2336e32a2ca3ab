//! Login throttling, per account and per client address.
//!
//! - **Account** (the username as typed, case-folded, whether or not it
//!   exists, so throttling reveals nothing): at most `max_failures` guesses
//!   are checked within `window` of the first; further attempts are refused
//!   until the window ends. The lock never grows and never outlasts the
//!   window, so an attacker cannot lock a user out for longer than that after
//!   their last attempt.
//! - **Address**: at `4 × max_failures` guesses within `window` (password
//!   spraying across many usernames), the address is refused for `window`,
//!   doubling with each repeat lock up to a day. The growth falls on the
//!   attacker's address, not on the victim's account. IPv6 addresses are
//!   keyed by their prefix (`/64` by default): one host holds a whole `/64`
//!   and can pick a new address per guess.
//!
//! **Reserve, then hash.** An attempt is counted as a failure *before* its
//! password is hashed, by one atomic compare-and-swap of the counters, and
//! refused (before any hashing) once the counted attempts reach the limit.
//! However many guesses arrive at once, on one node or many sharing the
//! counters, at most `max_failures` per account per window are ever checked
//! (check-then-count let 88 of 200 concurrent guesses through). The attempt
//! then settles: a failure keeps its count; a success, and an attempt whose
//! guess was never checked, give their own reservation back. A success does
//! not forgive the other attempts of the window, in flight or failed: they
//! were guesses, and forgiving them would hand an attacker a fresh allowance
//! each time the owner logs in. An attempt abandoned by its client counts as
//! a failure (its guess may have been checked).
//!
//! The policy is decided here; an [`AttemptStore`] only keeps the counters:
//! in process memory on one node, in Redis when several nodes share the
//! load (so an attacker cannot multiply the allowance by the node count).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use async_trait::async_trait;

use crate::clock::{Duration, Timestamp};
use crate::error::{Error, Result};
use crate::store::StoreError;

/// Throttle settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Guesses per account checked within the window; further attempts are
    /// refused until it ends.
    pub max_failures: u32,
    /// The counting window, and the account lock's length.
    pub window: Duration,
    /// Leading bits of an IPv6 address that key the per-address counter
    /// (default 64: a host usually holds a whole `/64`).
    pub ipv6_prefix: u8,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self { max_failures: 5, window: Duration::seconds(300), ipv6_prefix: 64 }
    }
}

/// Failures from one address allowed per account allowance.
const ADDRESS_FACTOR: u32 = 4;
/// Longest address lock.
const MAX_ADDRESS_LOCK: i64 = 86_400;
/// Compare-and-swap attempts before a reservation is given up (503). Every
/// round some writer wins, and past the limit readers refuse without
/// writing, so a contender needs at most about `limit` rounds.
const MAX_SWAPS: usize = 256;

/// The counters kept under one throttle key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempts {
    /// Unix second the current counting window opened.
    pub window_start: i64,
    /// Attempts counted in the current window: failed ones and those still
    /// being checked.
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

    /// The counters after one more attempt is counted at `now`: a new
    /// window if the last one ended, and a lock of `lock(strikes)` (at least
    /// a window) from the window's start once `limit` is reached.
    fn after_reservation(
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

    /// The counters after one attempt counted in the window that opened at
    /// `window_start` is given back; `None` when there is nothing to give
    /// back (that window has ended: its count is gone already).
    fn after_refund(mut self, window_start: i64, limit: u32) -> Option<Self> {
        if self.window_start != window_start || self.failures == 0 {
            return None;
        }
        // A lock set in this window came from the count that reached the
        // limit; below the limit again, it lifts (with its strike). A lock
        // from an earlier window had ended before this window counted.
        if self.failures == limit && self.locked_until > self.window_start {
            self.locked_until = 0;
            self.strikes = self.strikes.saturating_sub(1);
        }
        self.failures -= 1;
        Some(self)
    }
}

/// Persistence of failure counters. Records may vanish after their
/// `keep_for` (or earlier, if memory is short): that forgives, never locks.
#[async_trait]
pub trait AttemptStore: Send + Sync + fmt::Debug {
    /// The counters under `key`, or `None`.
    async fn attempts(&self, key: &str) -> std::result::Result<Option<Attempts>, StoreError>;
    /// Replaces the counters under `key` with `next`, kept at least
    /// `keep_for`, if they still equal `expected` (`None`: absent), as one
    /// atomic step: of concurrent swaps from the same `expected`, on any
    /// number of nodes, exactly one succeeds. `false` (and no write) if
    /// another writer changed them first.
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptKeys {
    account: String,
    address: Option<String>,
}

impl AttemptKeys {
    /// Keys for `username` (case-folded) from `address` (if known), an IPv6
    /// address keyed by its first `ipv6_prefix` bits.
    pub fn new(username: &str, address: Option<&str>, ipv6_prefix: u8) -> Self {
        Self {
            account: format!("u:{}", username.to_lowercase()),
            address: address.map(|a| address_key(a, ipv6_prefix)),
        }
    }

    /// The account's key.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The address's key, if the address is known.
    pub fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }

    /// Both keys (the requesters a hash is done for).
    pub fn all(&self) -> Vec<&str> {
        [Some(self.account.as_str()), self.address.as_deref()].into_iter().flatten().collect()
    }
}

/// `a:<address>`, an IPv6 address cut to its network prefix
/// (`a:2001:db8:1:2::/64`): one IPv6 host can change the low bits at will.
/// IPv4-mapped IPv6 addresses count as the IPv4 address they map.
fn address_key(address: &str, ipv6_prefix: u8) -> String {
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("a:{v4}"),
            None => {
                let len = ipv6_prefix.min(128);
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                format!("a:{}/{len}", Ipv6Addr::from(u128::from(v6) & mask))
            }
        },
        _ => format!("a:{address}"),
    }
}

/// An attempt counted before its guess is checked. Settle it with
/// [`LoginThrottle::release`] (a success, or a guess never checked) or
/// [`Reservation::keep`] (a failure: the count stays).
#[derive(Debug)]
#[must_use = "a reservation is settled with release or keep"]
pub struct Reservation {
    keys: AttemptKeys,
    /// The window each count went into (a refund only ever undoes its own).
    account_window: i64,
    address_window: Option<i64>,
}

impl Reservation {
    /// The keys this attempt is counted under.
    pub fn keys(&self) -> &AttemptKeys {
        &self.keys
    }

    /// The attempt failed: its count stays.
    pub fn keep(self) {}
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

    /// The keys an attempt on `username` from `address` counts under.
    pub fn keys(&self, username: &str, address: Option<&str>) -> AttemptKeys {
        AttemptKeys::new(username, address, self.policy.ipv6_prefix)
    }

    /// Counts one attempt under both keys before its guess is checked:
    /// `RateLimited` (nothing counted) if either key has reached its limit
    /// at `now`; `Store` if the counters cannot be read or written (fail
    /// closed).
    pub async fn reserve_at(
        &self,
        store: &dyn AttemptStore,
        keys: &AttemptKeys,
        now: Timestamp,
    ) -> Result<Reservation> {
        let now = now.unix();
        let window = self.policy.window.as_secs();
        let limit = self.policy.max_failures;
        let account_window = self.reserve(store, &keys.account, now, limit, &|_| window).await?;
        let address_window = match &keys.address {
            None => None,
            Some(address) => {
                let grow = |strikes: u32| {
                    window.saturating_mul(1 << strikes.min(20)).min(MAX_ADDRESS_LOCK)
                };
                match self.reserve(store, address, now, self.address_limit(), &grow).await {
                    Ok(start) => Some(start),
                    Err(refused) => {
                        // Refused attempts count nowhere.
                        self.refund(store, &keys.account, account_window, limit).await?;
                        return Err(refused);
                    }
                }
            }
        };
        Ok(Reservation { keys: keys.clone(), account_window, address_window })
    }

    /// Gives `reservation`'s counts back: the login succeeded, or its guess
    /// was never checked. Only its own counts: the window's other attempts
    /// stay counted.
    pub async fn release(&self, store: &dyn AttemptStore, reservation: Reservation) -> Result<()> {
        let Reservation { keys, account_window, address_window } = reservation;
        self.refund(store, &keys.account, account_window, self.policy.max_failures).await?;
        if let (Some(address), Some(start)) = (&keys.address, address_window) {
            self.refund(store, address, start, self.address_limit()).await?;
        }
        Ok(())
    }

    fn address_limit(&self) -> u32 {
        self.policy.max_failures.saturating_mul(ADDRESS_FACTOR)
    }

    /// Counts one attempt under `key`, as one compare-and-swap, unless it
    /// is locked; the start of the window it was counted in.
    async fn reserve(
        &self,
        store: &dyn AttemptStore,
        key: &str,
        now: i64,
        limit: u32,
        lock: &(dyn Fn(u32) -> i64 + Sync),
    ) -> Result<i64> {
        let window = self.policy.window.as_secs();
        // Kept long enough to outlive any lock it can carry.
        let keep_for = Duration::seconds(window.max(MAX_ADDRESS_LOCK) * 2);
        for _ in 0..MAX_SWAPS {
            let current = store.attempts(key).await?;
            let counted = current.unwrap_or_default();
            if counted.locked_until > now {
                return Err(Error::RateLimited { retry_after: counted.locked_until - now });
            }
            let next = counted.after_reservation(now, window, limit, lock);
            if store.swap_attempts(key, current.as_ref(), &next, keep_for).await? {
                return Ok(next.window_start);
            }
        }
        Err(contended(key))
    }

    /// Gives back one attempt counted under `key` in the window that opened
    /// at `window_start`.
    async fn refund(
        &self,
        store: &dyn AttemptStore,
        key: &str,
        window_start: i64,
        limit: u32,
    ) -> Result<()> {
        let keep_for = Duration::seconds(self.policy.window.as_secs().max(MAX_ADDRESS_LOCK) * 2);
        for _ in 0..MAX_SWAPS {
            let Some(current) = store.attempts(key).await? else { return Ok(()) };
            let Some(next) = current.after_refund(window_start, limit) else { return Ok(()) };
            if store.swap_attempts(key, Some(&current), &next, keep_for).await? {
                return Ok(());
            }
        }
        Err(contended(key))
    }
}

/// A counter that kept changing under us: the store is overwhelmed; fail
/// closed (503) rather than let the attempt through uncounted.
fn contended(key: &str) -> Error {
    Error::Store(StoreError::Unavailable(format!("throttle counter {key:?} kept changing").into()))
}

#[cfg(test)]
#[path = "throttle_tests.rs"]
mod tests;
