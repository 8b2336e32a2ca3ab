//! Signing keys as stored: sealed private parts, states and dates.
//!
//! The key ring's states are next → current → retired. Exactly one key is
//! current. The next key is published (JWKS) before it signs, so verifiers
//! that cache the key set know it in advance; a retired key stays published
//! until every token it signed has expired. Private material is sealed
//! (encrypted) by the caller before it reaches a store.

use std::fmt;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::store::StoreError;

pub use tessera_token::KeyState;

/// The stored name of a key state.
pub fn state_name(state: KeyState) -> &'static str {
    match state {
        KeyState::Next => "next",
        KeyState::Current => "current",
        KeyState::Retired => "retired",
    }
}

/// Parses [`state_name`]'s output.
pub fn parse_state(s: &str) -> Option<KeyState> {
    match s {
        "next" => Some(KeyState::Next),
        "current" => Some(KeyState::Current),
        "retired" => Some(KeyState::Retired),
        _ => None,
    }
}

/// A signing key as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Key id (the JWS `kid`).
    pub kid: String,
    /// JOSE algorithm name (`EdDSA`, `ES256`, `RS256`, `HS256`).
    pub alg: String,
    /// Life-cycle state.
    pub state: KeyState,
    /// The private key (or HMAC secret), sealed under the master key.
    pub sealed_private: Vec<u8>,
    /// The public JWK as JSON; `None` for HMAC keys, which are never published.
    pub public_jwk: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it became current.
    pub activated_at: Option<Timestamp>,
    /// When it was retired.
    pub retired_at: Option<Timestamp>,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Persistence of the key ring.
#[async_trait]
pub trait KeyStore: Send + Sync + fmt::Debug {
    /// Every key, oldest first.
    async fn list_keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// Stores the first current and next keys if the store holds no key yet;
    /// `false` (and no write) if another process got there first.
    async fn insert_initial_keys(
        &self,
        current: &StoredKey,
        next: &StoredKey,
    ) -> Result<bool, StoreError>;
    /// Atomically, if the current key is still `expected_current`: next
    /// becomes current (activated `now`), current becomes retired (retired
    /// `now`), `new_next` is stored as next. `false` (and no write) if the
    /// current key changed meanwhile (another process rotated).
    async fn rotate_keys(
        &self,
        expected_current: &str,
        new_next: &StoredKey,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Deletes retired keys retired before `cutoff`; returns how many.
    async fn delete_retired_keys(&self, cutoff: Timestamp) -> Result<u64, StoreError>;
}
