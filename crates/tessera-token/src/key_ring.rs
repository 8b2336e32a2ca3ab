//! The key ring: signing keys in states next → current → retired.
//!
//! Invariant (checked by every constructor, so every `KeyRing` value holds it):
//! exactly one key is [`KeyState::Current`], at most one is
//! [`KeyState::Next`], key ids are unique, and all keys share one algorithm
//! (one family per deployment). Rotation and pruning are pure: they return a
//! new ring and leave the old one untouched, so a store can compare-and-set.
//!
//! Why three states: the next key is published in the JWKS before it signs
//! (verifiers that cached the JWKS already know it when it becomes current),
//! and a retired key stays published until every token it signed has expired.
//! Both waits are the caller's schedule; [`KeyRing::prune_at`] enforces the
//! second one given the lifetime it is told.

use std::sync::Arc;

use crate::algorithm::Algorithm;
use crate::jwk::JwkSet;
use crate::key::{SigningKey, VerifyingKey};
use crate::verify::KeyResolver;

/// Where a key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// Signing new tokens. Exactly one per ring.
    Current,
    /// No longer signing; published until its tokens have expired.
    Retired,
}

/// A signing key with its state and dates (Unix seconds).
#[derive(Clone, Debug)]
pub struct RingKey {
    key: Arc<SigningKey>,
    state: KeyState,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
}

impl RingKey {
    /// A ring entry, for example as loaded from a store. [`KeyRing::new`]
    /// checks that the dates fit the state.
    pub fn new(
        key: SigningKey,
        state: KeyState,
        created_at: i64,
        activated_at: Option<i64>,
        retired_at: Option<i64>,
    ) -> Self {
        Self { key: Arc::new(key), state, created_at, activated_at, retired_at }
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The key's state.
    pub fn state(&self) -> KeyState {
        self.state
    }

    /// When the key was made.
    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    /// When the key became current, if it has.
    pub fn activated_at(&self) -> Option<i64> {
        self.activated_at
    }

    /// When the key was retired, if it was.
    pub fn retired_at(&self) -> Option<i64> {
        self.retired_at
    }
}

/// Why a set of keys does not form a valid ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRingError {
    /// Not exactly one current key.
    #[error("a key ring needs exactly one current key")]
    CurrentCount,
    /// More than one next key.
    #[error("a key ring has at most one next key")]
    SeveralNext,
    /// Two keys share a `kid`.
    #[error("duplicate kid in key ring")]
    DuplicateKid,
    /// Keys of different algorithms.
    #[error("all keys in a ring must share one algorithm")]
    MixedAlgorithms,
    /// A date is missing or present for the wrong state.
    #[error("key dates do not match the key state")]
    Dates,
    /// Rotation needs a published next key to promote.
    #[error("no next key to promote")]
    NoNextKey,
}

/// The signing keys of one deployment. See the module docs for the invariant.
#[derive(Clone, Debug)]
pub struct KeyRing {
    keys: Vec<RingKey>,
    current: usize,
}

impl KeyRing {
    /// A ring from its entries, checking the invariant.
    ///
    /// # Errors
    /// The [`KeyRingError`] naming the first broken rule.
    pub fn new(keys: Vec<RingKey>) -> Result<Self, KeyRingError> {
        let count = |s| keys.iter().filter(|k| k.state == s).count();
        if count(KeyState::Current) != 1 {
            return Err(KeyRingError::CurrentCount);
        }
        if count(KeyState::Next) > 1 {
            return Err(KeyRingError::SeveralNext);
        }
        let alg = keys[0].key.algorithm();
        if keys.iter().any(|k| k.key.algorithm() != alg) {
            return Err(KeyRingError::MixedAlgorithms);
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.key.kid() == k.key.kid()) {
                return Err(KeyRingError::DuplicateKid);
            }
            let dates_ok = match k.state {
                KeyState::Next => k.activated_at.is_none() && k.retired_at.is_none(),
                KeyState::Current => k.activated_at.is_some() && k.retired_at.is_none(),
                KeyState::Retired => k.retired_at.is_some(),
            };
            if !dates_ok {
                return Err(KeyRingError::Dates);
            }
        }
        let current = keys
            .iter()
            .position(|k| k.state == KeyState::Current)
            .ok_or(KeyRingError::CurrentCount)?;
        Ok(Self { keys, current })
    }

    /// A first ring: `current` active from `now`, `next` published from `now`.
    ///
    /// # Errors
    /// As [`KeyRing::new`] (different algorithms, same `kid`).
    pub fn bootstrap_at(
        now: i64,
        current: SigningKey,
        next: SigningKey,
    ) -> Result<Self, KeyRingError> {
        Self::new(vec![
            RingKey::new(current, KeyState::Current, now, Some(now), None),
            RingKey::new(next, KeyState::Next, now, None, None),
        ])
    }

    /// The key that signs new tokens.
    pub fn current(&self) -> &SigningKey {
        &self.keys[self.current].key
    }

    /// The ring's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.current().algorithm()
    }

    /// All entries.
    pub fn keys(&self) -> &[RingKey] {
        &self.keys
    }

    /// The entry with this `kid`.
    pub fn find(&self, kid: &str) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.key.kid() == kid)
    }

    /// The verifying key for `kid` (next, current or retired).
    pub fn verifying_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.find(kid).map(|k| k.key.verifying_key())
    }

    /// One rotation step at `now`: next → current, current → retired, and
    /// `new_next` becomes the next key. The caller decides when (the next key
    /// must have been published for at least one JWKS cache lifetime).
    ///
    /// # Errors
    /// [`KeyRingError::NoNextKey`] without a next key; otherwise as [`KeyRing::new`].
    pub fn rotate_at(&self, now: i64, new_next: SigningKey) -> Result<KeyRing, KeyRingError> {
        if !self.keys.iter().any(|k| k.state == KeyState::Next) {
            return Err(KeyRingError::NoNextKey);
        }
        let mut keys: Vec<RingKey> = self
            .keys
            .iter()
            .cloned()
            .map(|mut k| {
                match k.state {
                    KeyState::Next => {
                        k.state = KeyState::Current;
                        k.activated_at = Some(now);
                    }
                    KeyState::Current => {
                        k.state = KeyState::Retired;
                        k.retired_at = Some(now);
                    }
                    KeyState::Retired => {}
                }
                k
            })
            .collect();
        keys.push(RingKey::new(new_next, KeyState::Next, now, None, None));
        Self::new(keys)
    }

    /// Drops retired keys whose tokens have all expired: those retired at
    /// least `keep_retired_for` seconds before `now`. Pass the access-token
    /// lifetime plus the verification leeway.
    pub fn prune_at(&self, now: i64, keep_retired_for: i64) -> KeyRing {
        let keys: Vec<RingKey> = self
            .keys
            .iter()
            .filter(|k| match (k.state, k.retired_at) {
                (KeyState::Retired, Some(at)) => now < at.saturating_add(keep_retired_for),
                _ => true,
            })
            .cloned()
            .collect();
        let current = keys.iter().position(|k| k.state == KeyState::Current).unwrap_or(0);
        // Only retired keys were removed, so the invariant still holds.
        Self { keys, current }
    }

    /// The published JWK set: next, current, then retired keys. Empty for
    /// HS256, whose secret is never published.
    pub fn jwks(&self) -> JwkSet {
        let order = [KeyState::Next, KeyState::Current, KeyState::Retired];
        JwkSet {
            keys: order
                .iter()
                .flat_map(|s| self.keys.iter().filter(move |k| k.state == *s))
                .filter_map(|k| k.key.public_jwk())
                .collect(),
        }
    }
}

impl KeyResolver for KeyRing {
    fn resolve(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifying_key(kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;

    fn key(kid: &str) -> SigningKey {
        SigningKey::generate(Algorithm::EdDSA, kid, &SystemRandom::new()).unwrap()
    }

    fn ring() -> KeyRing {
        KeyRing::bootstrap_at(100, key("a"), key("b")).unwrap()
    }

    #[test]
    fn key_ring_bootstrap_current_and_next() {
        let r = ring();
        assert_eq!(r.current().kid(), "a");
        assert_eq!(r.find("b").unwrap().state(), KeyState::Next);
        assert!(r.verifying_key("b").is_some());
        assert!(r.verifying_key("zz").is_none());
    }

    #[test]
    fn key_ring_without_current_rejected() {
        let keys = vec![RingKey::new(key("a"), KeyState::Next, 0, None, None)];
        assert_eq!(KeyRing::new(keys).unwrap_err(), KeyRingError::CurrentCount);
    }

    #[test]
    fn key_ring_two_current_rejected() {
        let keys = vec![
            RingKey::new(key("a"), KeyState::Current, 0, Some(0), None),
            RingKey::new(key("b"), KeyState::Current, 0, Some(0), None),
        ];
        assert_eq!(KeyRing::new(keys).unwrap_err(), KeyRingError::CurrentCount);
    }

    #[test]
    fn key_ring_duplicate_kid_rejected() {
        assert_eq!(
            KeyRing::bootstrap_at(0, key("a"), key("a")).unwrap_err(),
            KeyRingError::DuplicateKid
        );
    }

    #[test]
    fn key_ring_mixed_algorithms_rejected() {
        let es = SigningKey::generate(Algorithm::ES256, "b", &SystemRandom::new()).unwrap();
        assert_eq!(
            KeyRing::bootstrap_at(0, key("a"), es).unwrap_err(),
            KeyRingError::MixedAlgorithms
        );
    }

    #[test]
    fn key_ring_retired_without_date_rejected() {
        let keys = vec![
            RingKey::new(key("a"), KeyState::Current, 0, Some(0), None),
            RingKey::new(key("b"), KeyState::Retired, 0, Some(0), None),
        ];
        assert_eq!(KeyRing::new(keys).unwrap_err(), KeyRingError::Dates);
    }

    #[test]
    fn key_ring_rotate_moves_each_state_on() {
        let r = ring().rotate_at(200, key("c")).unwrap();
        assert_eq!(r.current().kid(), "b");
        assert_eq!(r.find("b").unwrap().activated_at(), Some(200));
        assert_eq!(r.find("a").unwrap().state(), KeyState::Retired);
        assert_eq!(r.find("a").unwrap().retired_at(), Some(200));
        assert_eq!(r.find("c").unwrap().state(), KeyState::Next);
        // The old ring is untouched.
        assert_eq!(ring().current().kid(), "a");
    }

    #[test]
    fn key_ring_rotate_without_next_rejected() {
        let keys = vec![RingKey::new(key("a"), KeyState::Current, 0, Some(0), None)];
        let r = KeyRing::new(keys).unwrap();
        assert_eq!(r.rotate_at(1, key("b")).unwrap_err(), KeyRingError::NoNextKey);
    }

    #[test]
    fn key_ring_prune_drops_only_expired_retired() {
        let r = ring().rotate_at(200, key("c")).unwrap().rotate_at(300, key("d")).unwrap();
        // a retired at 200, b retired at 300; keep retired for 150 s.
        let pruned = r.prune_at(350, 150);
        assert!(pruned.find("a").is_none());
        assert!(pruned.find("b").is_some());
        assert_eq!(pruned.current().kid(), "c");
        assert!(r.prune_at(349, 150).find("a").is_some());
    }

    #[test]
    fn key_ring_jwks_lists_next_current_retired() {
        let r = ring().rotate_at(200, key("c")).unwrap();
        let kids: Vec<_> = r.jwks().keys.into_iter().map(|k| k.kid.unwrap()).collect();
        assert_eq!(kids, vec!["c", "b", "a"]);
    }

    #[test]
    fn key_ring_jwks_hs256_is_empty() {
        let rng = SystemRandom::new();
        let k = |kid| SigningKey::generate(Algorithm::HS256, kid, &rng).unwrap();
        let r = KeyRing::bootstrap_at(0, k("a"), k("b")).unwrap();
        assert!(r.jwks().keys.is_empty());
        assert_eq!(serde_json::to_string(&r.jwks()).unwrap(), r#"{"keys":[]}"#);
    }
}
