//! A set of verifying keys looked up by `kid`: what a resource server builds
//! from a fetched JWKS (or from an HS256 secret handed over out of band).
//!
//! A set is refused when a `kid` is ambiguous (two keys, one id: which one a
//! verifier picks must never depend on order) or when symmetric and asymmetric
//! keys are mixed (a published key must never be usable as an HMAC secret).

use crate::jwk::JwkSet;
use crate::key::{KeyError, VerifyingKey};
use crate::verify::KeyResolver;

/// Why keys do not form a usable set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeySetError {
    /// A key was refused.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Two keys share a `kid`.
    #[error("duplicate kid in key set")]
    DuplicateKid,
    /// Symmetric and asymmetric keys in one set.
    #[error("key set mixes symmetric and asymmetric keys")]
    MixedSymmetry,
}

/// Verifying keys with unique ids, all symmetric or all asymmetric.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
}

impl KeySet {
    /// A set from keys, checking ids are unique and symmetry is not mixed.
    ///
    /// # Errors
    /// [`KeySetError::DuplicateKid`] or [`KeySetError::MixedSymmetry`].
    pub fn new(keys: Vec<VerifyingKey>) -> Result<Self, KeySetError> {
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.kid() == k.kid()) {
                return Err(KeySetError::DuplicateKid);
            }
        }
        let symmetric = keys.iter().filter(|k| k.algorithm().is_symmetric()).count();
        if symmetric != 0 && symmetric != keys.len() {
            return Err(KeySetError::MixedSymmetry);
        }
        Ok(Self { keys })
    }

    /// A set from a published JWK set. Every key must pass
    /// [`VerifyingKey::from_jwk`]; one bad key refuses the whole set, since a
    /// JWKS that carries a malformed or symmetric key is not one we trust.
    ///
    /// # Errors
    /// [`KeySetError::Key`] for the first refused key, or as [`KeySet::new`].
    pub fn from_jwks(jwks: &JwkSet) -> Result<Self, KeySetError> {
        let keys = jwks.keys.iter().map(VerifyingKey::from_jwk).collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// The keys.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }
}

impl KeyResolver for KeySet {
    fn resolve(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|k| k.kid() == kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Algorithm, KeyRing, SigningKey};
    use aws_lc_rs::rand::SystemRandom;

    fn vk(alg: Algorithm, kid: &str) -> VerifyingKey {
        SigningKey::generate(alg, kid, &SystemRandom::new()).unwrap().verifying_key().clone()
    }

    #[test]
    fn key_set_duplicate_kid_rejected() {
        let r = KeySet::new(vec![vk(Algorithm::EdDSA, "a"), vk(Algorithm::ES256, "a")]);
        assert_eq!(r.unwrap_err(), KeySetError::DuplicateKid);
    }

    #[test]
    fn key_set_mixed_symmetry_rejected() {
        let r = KeySet::new(vec![vk(Algorithm::HS256, "a"), vk(Algorithm::ES256, "b")]);
        assert_eq!(r.unwrap_err(), KeySetError::MixedSymmetry);
    }

    #[test]
    fn key_set_from_ring_jwks_resolves_every_kid() {
        let rng = SystemRandom::new();
        let k = |kid| SigningKey::generate(Algorithm::ES256, kid, &rng).unwrap();
        let ring = KeyRing::bootstrap_at(0, k("a"), k("b")).unwrap();
        let set = KeySet::from_jwks(&ring.jwks()).unwrap();
        assert_eq!(set.resolve("a").unwrap().algorithm(), Algorithm::ES256);
        assert!(set.resolve("b").is_some());
        assert!(set.resolve("c").is_none());
    }
}
