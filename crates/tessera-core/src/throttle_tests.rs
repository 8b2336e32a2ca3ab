//! Unit tests of the login throttle on the in-memory counters: limits,
//! what a release gives back, address growth, IPv6 prefixes, and 200
//! concurrent reservations.

use std::sync::Arc;

use super::*;
use crate::memory::MemoryAttempts;

const T0: i64 = 1_790_000_000;

fn at(s: i64) -> Timestamp {
    Timestamp::from_unix(T0 + s)
}

/// The policy over the in-memory counters, driven synchronously.
struct Throttle(LoginThrottle, MemoryAttempts);

impl Throttle {
    fn keys(&self, user: &str, address: Option<&str>) -> AttemptKeys {
        self.0.keys(user, address)
    }
    fn reserve_at(&self, k: &AttemptKeys, now: Timestamp) -> Result<Reservation> {
        block_on(self.0.reserve_at(&self.1, k, now))
    }
    /// One failed attempt (which must have been admitted).
    fn fail_at(&self, k: &AttemptKeys, now: Timestamp) {
        self.reserve_at(k, now).unwrap().keep();
    }
    fn release(&self, r: Reservation) {
        block_on(self.0.release(&self.1, r)).unwrap();
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

fn policy() -> ThrottlePolicy {
    ThrottlePolicy { max_failures: 3, window: Duration::seconds(60), ipv6_prefix: 64 }
}

fn throttle() -> Throttle {
    Throttle(LoginThrottle::new(policy()), MemoryAttempts::default())
}

#[test]
fn throttle_account_locks_at_threshold_until_window_ends() {
    let t = throttle();
    let k = t.keys("Alice", Some("192.0.2.1"));
    for s in 0..3 {
        t.fail_at(&k, at(s));
    }
    assert!(matches!(t.reserve_at(&k, at(3)), Err(Error::RateLimited { retry_after: 57 })));
    // Same account from another address, another case: still locked.
    let other = t.keys("ALICE", Some("198.51.100.9"));
    assert!(t.reserve_at(&other, at(30)).is_err());
    assert!(t.reserve_at(&k, at(60)).is_ok(), "never longer than the window");
}

/// A success gives back its own count, not the window's other failures:
/// forgiving them would hand a guesser a fresh allowance at every login
/// of the owner.
#[test]
fn throttle_success_gives_back_only_its_own_count() {
    let t = throttle();
    let k = t.keys("bob", None);
    t.fail_at(&k, at(0));
    t.fail_at(&k, at(1));
    let ok = t.reserve_at(&k, at(2)).unwrap();
    t.release(ok);
    t.fail_at(&k, at(3));
    assert!(t.reserve_at(&k, at(4)).is_err(), "two failures before the success still count");
}

/// The reservation that reached the limit set the lock; giving any one
/// of the window's counts back lifts it.
#[test]
fn throttle_release_below_the_limit_lifts_the_lock() {
    let t = throttle();
    let k = t.keys("carol", None);
    t.fail_at(&k, at(0));
    let pending = t.reserve_at(&k, at(1)).unwrap();
    t.fail_at(&k, at(2));
    assert!(t.reserve_at(&k, at(3)).is_err(), "in flight counts toward the limit");
    t.release(pending);
    t.reserve_at(&k, at(4)).unwrap().keep();
    assert!(t.reserve_at(&k, at(5)).is_err());
}

#[test]
fn throttle_release_after_the_window_ended_changes_nothing() {
    let t = throttle();
    let k = t.keys("dan", None);
    let old = t.reserve_at(&k, at(0)).unwrap();
    t.fail_at(&k, at(61));
    t.fail_at(&k, at(62));
    t.release(old);
    t.fail_at(&k, at(63));
    assert!(t.reserve_at(&k, at(64)).is_err(), "the new window's three stay counted");
}

#[test]
fn throttle_spraying_usernames_locks_the_address_with_growth() {
    let t = throttle();
    for i in 0..12 {
        t.fail_at(&t.keys(&format!("user{i}"), Some("203.0.113.5")), at(i));
    }
    let fresh = t.keys("never-tried", Some("203.0.113.5"));
    assert!(matches!(t.reserve_at(&fresh, at(12)), Err(Error::RateLimited { .. })));
    t.reserve_at(&t.keys("never-tried", Some("192.0.2.7")), at(12)).unwrap().keep();
    // First address lock: one window.
    t.reserve_at(&fresh, at(60)).map(Reservation::keep).unwrap();
    for i in 0..11 {
        t.fail_at(&t.keys(&format!("v{i}"), Some("203.0.113.5")), at(60 + i));
    }
    assert!(t.reserve_at(&fresh, at(60 + 90)).is_err(), "second lock: two windows");
    assert!(t.reserve_at(&fresh, at(60 + 120)).is_ok());
}

/// An attempt refused by its address lock is not counted on the account.
#[test]
fn throttle_address_refusal_gives_the_account_count_back() {
    let t = throttle();
    for i in 0..12 {
        t.fail_at(&t.keys(&format!("user{i}"), Some("203.0.113.5")), at(0));
    }
    let victim = t.keys("victim", Some("203.0.113.5"));
    for _ in 0..5 {
        assert!(t.reserve_at(&victim, at(1)).is_err());
    }
    let from_home = t.keys("victim", Some("192.0.2.1"));
    for _ in 0..3 {
        t.fail_at(&from_home, at(2));
    }
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
    let ghost = t.keys("nobody", None);
    for s in 0..3 {
        t.fail_at(&ghost, at(s));
    }
    assert!(t.reserve_at(&ghost, at(3)).is_err());
}

/// Issue 12 item 7: 200 attempts at once on one account, all admitted
/// by a check made before any of them was counted. Reserving first
/// admits exactly the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regression_check_then_count_admits_concurrent_guesses() {
    let throttle = Arc::new(LoginThrottle::new(policy()));
    let store = Arc::new(MemoryAttempts::default());
    let start = Arc::new(tokio::sync::Barrier::new(200));
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (throttle, store, start) = (throttle.clone(), store.clone(), start.clone());
            tokio::spawn(async move {
                let keys = throttle.keys("alice", Some(&format!("192.0.2.{}", i % 250)));
                start.wait().await;
                throttle.reserve_at(store.as_ref(), &keys, at(0)).await.map(Reservation::keep)
            })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => admitted += 1,
            Err(Error::RateLimited { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(admitted, 3);
}

/// Issue 12 item 11: thirty addresses of one /64 are one client.
#[test]
fn regression_ipv6_spraying_from_one_prefix_never_locked() {
    let t = throttle();
    for i in 0..12 {
        let address = format!("2001:db8:1:2::{:x}", i + 1);
        t.fail_at(&t.keys(&format!("user{i}"), Some(&address)), at(i));
    }
    let next = t.keys("another", Some("2001:db8:1:2:ffff:ffff:ffff:fffe"));
    assert!(matches!(t.reserve_at(&next, at(12)), Err(Error::RateLimited { .. })));
    assert!(t.reserve_at(&t.keys("another", Some("2001:db8:1:3::1")), at(12)).is_ok());
}

#[test]
fn attempt_keys_cut_ipv6_to_the_prefix_and_unmap_ipv4() {
    let key = |a: &str, len| AttemptKeys::new("x", Some(a), len).address.unwrap();
    assert_eq!(key("2001:db8:1:2:3:4:5:6", 64), "a:2001:db8:1:2::/64");
    assert_eq!(key("2001:db8:1:2:3:4:5:6", 48), "a:2001:db8:1::/48");
    assert_eq!(key("2001:db8::1", 128), "a:2001:db8::1/128");
    assert_eq!(key("::ffff:192.0.2.1", 64), "a:192.0.2.1");
    assert_eq!(key("192.0.2.1", 64), "a:192.0.2.1");
    assert_eq!(key("2001:db8::1", 0), "a:::/0");
}
