//! JSON Web Keys (RFC 7517) for public keys, and JWK sets as published at
//! `/.well-known/jwks.json`.
//!
//! [`Jwk`] has no field for private or symmetric key material (`d`, `k`, …),
//! so serialising one can never publish a secret; a JWK parsed from JSON
//! silently drops such members. Symmetric keys that a verifier is handed out
//! of band (HS256 deployments, test vectors) go through [`SymmetricJwk`], which
//! can be read but never written.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A public JSON Web Key: OKP/Ed25519 (RFC 8037), EC/P-256 or RSA (RFC 7518 §6).
///
/// Fields are plain strings as they appear on the wire; checking them is the
/// job of [`VerifyingKey::from_jwk`](crate::VerifyingKey::from_jwk).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `OKP`, `EC` or `RSA`.
    pub kty: String,
    /// Curve: `Ed25519` for OKP, `P-256` for EC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// OKP public key, or EC x coordinate (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus (base64url, big-endian, no leading zeros).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent (base64url, big-endian, no leading zeros).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Key id, matched against a token header's `kid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The one algorithm this key may be used with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use: `sig` for every key Tessera publishes.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Permitted operations (RFC 7517 §4.3); Tessera never writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
}

/// A JWK set (RFC 7517 §5): `{"keys":[…]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys, in the order next, current, retired when Tessera writes them.
    pub keys: Vec<Jwk>,
}

/// A symmetric (`kty: "oct"`) JWK. Deserialise-only and redacted in `Debug`:
/// an HMAC secret is never published, only handed to a verifier out of band.
#[derive(Clone, Deserialize)]
pub struct SymmetricJwk {
    /// Key type; must be `oct`.
    pub kty: String,
    /// Key id.
    #[serde(default)]
    pub kid: Option<String>,
    /// Algorithm; must be `HS256`.
    #[serde(default)]
    pub alg: Option<String>,
    /// Intended use; `sig` when present.
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    /// Permitted operations; must include `verify` when present.
    #[serde(default)]
    pub key_ops: Option<Vec<String>>,
    /// The secret (base64url).
    pub k: String,
}

impl fmt::Debug for SymmetricJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymmetricJwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("k", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwk_serialize_uses_rfc_member_names_and_omits_absent() {
        let jwk = Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some("abc".into()),
            y: None,
            n: None,
            e: None,
            kid: Some("k1".into()),
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
            key_ops: None,
        };
        let json = serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap();
        assert_eq!(
            json,
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"abc","kid":"k1","alg":"EdDSA","use":"sig"}]}"#
        );
    }

    #[test]
    fn jwk_deserialize_private_member_dropped() {
        let jwk: Jwk =
            serde_json::from_str(r#"{"kty":"OKP","crv":"Ed25519","x":"abc","d":"secret"}"#)
                .unwrap();
        assert!(!serde_json::to_string(&jwk).unwrap().contains("secret"));
    }

    #[test]
    fn jwk_deserialize_duplicate_member_rejected() {
        let r: Result<Jwk, _> =
            serde_json::from_str(r#"{"kty":"OKP","crv":"Ed25519","x":"a","x":"b"}"#);
        assert!(r.is_err());
    }

    #[test]
    fn symmetric_jwk_debug_is_redacted() {
        let k: SymmetricJwk =
            serde_json::from_str(r#"{"kty":"oct","k":"c2VjcmV0c2VjcmV0"}"#).unwrap();
        assert!(!format!("{k:?}").contains("c2VjcmV0c2VjcmV0"));
    }
}
