//! Bearer secrets: generation, hashing for storage, constant-time comparison.
//!
//! A session cookie is 256 bits from the OS CSPRNG, base64url without padding.
//! Stores only ever see its SHA-256 ([`SecretHash`]): a leaked database holds no
//! usable cookie. SHA-256 without salt is enough here because the input is a
//! uniformly random 256-bit value, not a guessable password.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::entropy::{self, Entropy};

/// Length of an encoded 256-bit secret (base64url, no padding).
pub const ENCODED_LEN: usize = 43;

/// A secret handed to a client once. Its `Debug` form is redacted and `==`
/// compares in constant time.
#[derive(Clone)]
pub struct Secret(String);

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.matches(&other.0)
    }
}

impl Eq for Secret {}

impl Secret {
    /// A fresh 256-bit secret.
    pub fn generate(entropy: &dyn Entropy) -> Self {
        Self(URL_SAFE_NO_PAD.encode(entropy::bytes::<32>(entropy)))
    }

    /// Wraps a presented value (for example a cookie) without validating it.
    pub fn from_presented(s: &str) -> Self {
        Self(s.to_owned())
    }

    /// The value to hand to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The digest stored in place of the secret.
    pub fn hash(&self) -> SecretHash {
        SecretHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// Whether this has the shape of a secret Tessera issued. Lets callers
    /// reject junk before touching a store.
    pub fn is_well_formed(&self) -> bool {
        self.0.len() == ENCODED_LEN
            && self.0.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    /// Constant-time comparison with a presented value (timing: a byte-wise
    /// early exit would let an attacker learn the secret a prefix at a time).
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// SHA-256 of a [`Secret`]: what stores keep and look up by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    /// Lower-case hex, for stores that keep text.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads [`to_hex`](Self::to_hex)'s form (either case); `None` for
    /// anything else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretHash({}…)", &self.to_hex()[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsEntropy;
    use std::collections::HashSet;

    #[test]
    fn secret_hash_hex_roundtrips_and_rejects_garbage() {
        let h = SecretHash([0xab; 32]);
        assert_eq!(SecretHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(SecretHash::from_hex(&h.to_hex().to_uppercase()), Some(h));
        for bad in ["", "ab", &"zz".repeat(32), &"é".repeat(32), &"ab".repeat(33)] {
            assert_eq!(SecretHash::from_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn secret_generate_is_256_bits_base64url() {
        let s = Secret::generate(&OsEntropy);
        assert_eq!(s.expose().len(), ENCODED_LEN);
        assert!(s.is_well_formed());
    }

    #[test]
    fn secret_generate_many_all_distinct() {
        let set: HashSet<String> =
            (0..10_000).map(|_| Secret::generate(&OsEntropy).expose().to_owned()).collect();
        assert_eq!(set.len(), 10_000);
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::generate(&OsEntropy);
        assert!(!format!("{s:?}").contains(s.expose()));
    }

    #[test]
    fn secret_hash_differs_from_secret_and_is_stable() {
        let s = Secret::from_presented("abc");
        assert_eq!(
            s.hash().to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn secret_matches_only_exact_value() {
        let s = Secret::from_presented("token-value");
        assert!(s.matches("token-value"));
        assert!(!s.matches("token-valuf"));
        assert!(!s.matches("token-valu"));
        assert!(!s.matches(""));
    }

    #[test]
    fn secret_malformed_rejected() {
        assert!(!Secret::from_presented("short").is_well_formed());
        assert!(!Secret::from_presented(&"a".repeat(42).replace('a', "+")).is_well_formed());
    }
}
