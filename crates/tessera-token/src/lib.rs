//! JOSE for Tessera: signing keys and the key ring (next / current / retired),
//! JWKS documents, RFC 9068 access-token claims, and compact JWS signing and
//! verification with `sign_at` / `verify_at`.
//!
//! Synchronous and free of I/O: time comes in as `now` (Unix seconds) and
//! randomness as an `aws_lc_rs::rand::SecureRandom`. All cryptography is
//! aws-lc-rs.
#![deny(missing_docs)]

mod algorithm;
mod base64url;
mod claims;
mod jwk;
pub mod jws;
mod key;
mod key_ring;
mod key_set;
mod verify;

pub use algorithm::{Algorithm, UnknownAlgorithm};
pub use claims::{AccessClaims, Audience};
pub use jwk::{Jwk, JwkSet, SymmetricJwk};
pub use key::{
    KeyError, MAX_KID_LEN, MAX_RSA_BITS, MIN_HMAC_SECRET_LEN, MIN_RSA_BITS, SignatureError,
    SigningKey, VerifyingKey,
};
pub use key_ring::{KeyRing, KeyRingError, KeyState, RingKey};
pub use key_set::{KeySet, KeySetError};
pub use verify::{
    ACCESS_TOKEN_TYP, DEFAULT_LEEWAY_SECS, DEFAULT_MAX_TOKEN_BYTES, KeyResolver, MAX_LEEWAY_SECS,
    TokenError, Validation, VerifiedAccessToken, sign_at, verify_at,
};

/// Strict base64url, for the cargo-fuzz targets in `fuzz/`.
/// Stable only for fuzz targets: not part of Tessera's API.
#[doc(hidden)]
pub mod fuzzing {
    /// The crate's base64url encoder (no padding).
    pub fn base64url_encode(bytes: &[u8]) -> String {
        crate::base64url::encode(bytes)
    }

    /// The crate's strict base64url decoder: `None` for anything non-canonical.
    pub fn base64url_decode(s: &str) -> Option<Vec<u8>> {
        crate::base64url::decode(s)
    }
}
