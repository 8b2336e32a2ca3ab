//! Passwords: the policy, Argon2id hashing, and the bounded pool it runs on.
//!
//! Passwords are checked exactly as given: no truncation, no trimming, no case
//! folding or Unicode normalisation. Hashing is deliberately slow, so it runs
//! on tokio's blocking threads behind a semaphore ([`HashPool`]): a login flood
//! queues there and never occupies the async workers that serve `/v1/verify`
//! and session checks (latency isolation).

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, LazyLock};

use argon2::password_hash::{self, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::entropy::{self, Entropy};
use crate::error::{Error, Result};

/// Longest accepted password, in bytes (bounds the work an attacker can ask for).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The 10,000 most common passwords (SecLists), compiled in.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("password/common_passwords.txt").lines().collect());

/// What a new password must satisfy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in Unicode scalar values (default 8).
    pub min_chars: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_chars: 8 }
    }
}

impl PasswordPolicy {
    /// Accepts `password` or says, in words safe to show, why not.
    pub fn check(&self, password: &str) -> Result<()> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(Error::InvalidRequest(format!(
                "password must be at most {MAX_PASSWORD_BYTES} bytes"
            )));
        }
        if password.chars().count() < self.min_chars {
            return Err(Error::InvalidRequest(format!(
                "password must be at least {} characters",
                self.min_chars
            )));
        }
        // Compared lower-cased so "Password" is refused like "password"; the
        // password itself is stored and verified exactly as given.
        if COMMON_PASSWORDS.contains(password.to_lowercase().as_str()) {
            return Err(Error::InvalidRequest("password is too common; choose another".to_owned()));
        }
        Ok(())
    }
}

/// A password hash in PHC string format. `Debug` shows only the algorithm.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string read from a store.
    pub fn from_phc(s: String) -> Self {
        Self(s)
    }

    /// The PHC string.
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alg = self.0.split('$').nth(1).unwrap_or("?");
        write!(f, "PasswordHash(${alg}$…)")
    }
}

/// Outcome of a password verification. An enum, not a bool, so a caller has to
/// name the case it acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The password matches the hash.
    Match,
    /// It does not (or the hash is unreadable).
    Mismatch,
}

/// The password hashing port (synchronous, CPU-bound).
pub trait PasswordHasher: Send + Sync + fmt::Debug {
    /// Hashes `password` with `salt`.
    fn hash(&self, password: &str, salt: &[u8; 16]) -> Result<PasswordHash>;
    /// Verifies `password` against `hash`, with the parameters the hash names.
    fn verify(&self, password: &str, hash: &PasswordHash) -> PasswordCheck;
}

/// Argon2id (RFC 9106), by default m=19456 KiB, t=2, p=1 (the OWASP minimum).
#[derive(Debug, Clone)]
pub struct Argon2idHasher {
    params: Params,
}

impl Argon2idHasher {
    /// A hasher with explicit cost parameters (memory in KiB).
    pub fn new(m_cost: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        let params = Params::new(m_cost, t_cost, p_cost, None)
            .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?;
        Ok(Self { params })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }
}

impl Default for Argon2idHasher {
    fn default() -> Self {
        Self { params: Params::new(19_456, 2, 1, None).expect("OWASP parameters are valid") }
    }
}

impl PasswordHasher for Argon2idHasher {
    fn hash(&self, password: &str, salt: &[u8; 16]) -> Result<PasswordHash> {
        let salt = SaltString::encode_b64(salt)
            .map_err(|e| Error::Internal(format!("argon2 salt: {e}")))?;
        let phc = self
            .argon2()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| Error::Internal(format!("argon2 hash: {e}")))?;
        Ok(PasswordHash(phc.to_string()))
    }

    fn verify(&self, password: &str, hash: &PasswordHash) -> PasswordCheck {
        let Ok(parsed) = password_hash::PasswordHash::new(&hash.0) else {
            return PasswordCheck::Mismatch;
        };
        // Argon2 verification compares the digests in constant time.
        match self.argon2().verify_password(password.as_bytes(), &parsed) {
            Ok(()) => PasswordCheck::Match,
            Err(_) => PasswordCheck::Mismatch,
        }
    }
}

/// Runs a [`PasswordHasher`] on tokio's blocking threads, at most `permits`
/// at a time, so hashing never runs on (or starves) the async workers.
#[derive(Debug)]
pub struct HashPool {
    hasher: Arc<dyn PasswordHasher>,
    permits: Arc<Semaphore>,
}

impl HashPool {
    /// A pool of `size` concurrent hashes (at least one).
    pub fn new(hasher: Arc<dyn PasswordHasher>, size: usize) -> Self {
        Self { hasher, permits: Arc::new(Semaphore::new(size.max(1))) }
    }

    /// Hashes `password` with a fresh salt from `entropy`.
    pub async fn hash(&self, password: String, entropy: &dyn Entropy) -> Result<PasswordHash> {
        let salt = entropy::bytes::<16>(entropy);
        let hasher = Arc::clone(&self.hasher);
        self.run(move || hasher.hash(&password, &salt)).await?
    }

    /// Verifies `password` against `hash`.
    pub async fn verify(&self, password: String, hash: PasswordHash) -> Result<PasswordCheck> {
        let hasher = Arc::clone(&self.hasher);
        self.run(move || hasher.verify(&password, &hash)).await
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::Internal("hash pool closed".to_owned()))?;
        tokio::task::spawn_blocking(move || {
            let out = job();
            drop(permit);
            out
        })
        .await
        .map_err(|e| Error::Internal(format!("hash task failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsEntropy;

    fn cheap() -> Argon2idHasher {
        Argon2idHasher::new(64, 1, 1).unwrap()
    }

    #[test]
    fn policy_short_password_rejected() {
        assert!(PasswordPolicy::default().check("Tr0ub4!").is_err());
        assert!(PasswordPolicy { min_chars: 12 }.check("Tr0ub4dor&3x").is_ok());
        assert!(PasswordPolicy { min_chars: 13 }.check("Tr0ub4dor&3x").is_err());
    }

    #[test]
    fn policy_counts_characters_not_bytes() {
        // Eight characters, 24 bytes.
        assert!(PasswordPolicy::default().check("日本語のパスワ").is_err());
        assert!(PasswordPolicy::default().check("日本語のパスワー").is_ok());
    }

    #[test]
    fn policy_over_1024_bytes_rejected_at_1024_accepted() {
        let p = PasswordPolicy::default();
        assert!(p.check(&"x7".repeat(512)).is_ok());
        assert!(p.check(&format!("{}y", "x7".repeat(512))).is_err());
    }

    #[test]
    fn policy_common_passwords_rejected_in_any_case() {
        let p = PasswordPolicy::default();
        for pw in ["password", "Password", "12345678", "qwertyuiop", "iloveyou"] {
            assert!(p.check(pw).is_err(), "{pw}");
        }
        assert!(COMMON_PASSWORDS.len() >= 9_000, "list has {}", COMMON_PASSWORDS.len());
    }

    #[test]
    fn argon2id_default_params_meet_owasp_minimum() {
        let h = Argon2idHasher::default().hash("correct horse", &[7; 16]).unwrap();
        assert!(h.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", h.as_phc());
    }

    #[test]
    fn argon2id_verify_exact_password_only() {
        let h = cheap().hash("Pässwörd ", &[1; 16]).unwrap();
        assert_eq!(cheap().verify("Pässwörd ", &h), PasswordCheck::Match);
        assert_eq!(cheap().verify("Pässwörd", &h), PasswordCheck::Mismatch);
        assert_eq!(cheap().verify("pässwörd ", &h), PasswordCheck::Mismatch);
    }

    #[test]
    fn argon2id_no_truncation_of_long_passwords() {
        let long = "a".repeat(1000);
        let h = cheap().hash(&long, &[2; 16]).unwrap();
        assert_eq!(cheap().verify(&format!("{long}b"), &h), PasswordCheck::Mismatch);
        assert_eq!(cheap().verify(&long[..999], &h), PasswordCheck::Mismatch);
    }

    #[test]
    fn argon2id_garbage_hash_is_mismatch_not_panic() {
        let junk = PasswordHash::from_phc("not a phc".into());
        assert_eq!(cheap().verify("x", &junk), PasswordCheck::Mismatch);
    }

    #[test]
    fn password_hash_debug_hides_digest() {
        let h = cheap().hash("secret-pass", &[3; 16]).unwrap();
        assert_eq!(format!("{h:?}"), "PasswordHash($argon2id$…)");
    }

    #[tokio::test]
    async fn hash_pool_roundtrip() {
        let pool = HashPool::new(Arc::new(cheap()), 2);
        let h = pool.hash("hunter2hunter2".into(), &OsEntropy).await.unwrap();
        assert_eq!(pool.verify("hunter2hunter2".into(), h).await.unwrap(), PasswordCheck::Match);
    }
}
