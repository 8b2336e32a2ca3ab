//! The JWS signature algorithms Tessera signs and verifies with.
//!
//! The list is closed on purpose (an allow-list, not a registry): `none` and
//! every algorithm not named here cannot be expressed, so no header value can
//! select them.

use std::fmt;
use std::str::FromStr;

/// A JWS `alg` Tessera supports (RFC 7518 §3.1, RFC 8037 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Ed25519 (RFC 8037). The default.
    EdDSA,
    /// ECDSA over P-256 with SHA-256, signature as fixed-size `r || s`.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, modulus at least 2048 bits.
    RS256,
    /// HMAC-SHA-256 with a secret of at least 256 bits. Never published.
    HS256,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 4] = [Self::EdDSA, Self::ES256, Self::RS256, Self::HS256];

    /// The JOSE name, exactly as it appears in a header's `alg`.
    pub const fn jose_name(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::HS256 => "HS256",
        }
    }

    /// Whether this is a symmetric (MAC) algorithm whose key must stay secret.
    pub const fn is_symmetric(self) -> bool {
        matches!(self, Self::HS256)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.jose_name())
    }
}

/// A configured or presented algorithm name that is not one of [`Algorithm::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported signing algorithm (expected EdDSA, ES256, RS256 or HS256)")]
pub struct UnknownAlgorithm;

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    /// Parses a JOSE name. Case-sensitive (RFC 7515 §4.1.1: `alg` values are
    /// case-sensitive), so `none`, `NONE`, `es256` are all refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|a| a.jose_name() == s).ok_or(UnknownAlgorithm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_parse_exact_names_round_trip() {
        for a in Algorithm::ALL {
            assert_eq!(a.jose_name().parse::<Algorithm>(), Ok(a));
            assert_eq!(a.to_string(), a.jose_name());
        }
    }

    #[test]
    fn algorithm_parse_other_case_or_none_rejected() {
        for s in [
            "none", "None", "NONE", "nOnE", "eddsa", "EDDSA", "es256", "Rs256", "HS384", "PS256",
            "", " EdDSA",
        ] {
            assert_eq!(s.parse::<Algorithm>(), Err(UnknownAlgorithm), "{s}");
        }
    }

    #[test]
    fn algorithm_only_hs256_is_symmetric() {
        let sym: Vec<_> = Algorithm::ALL.into_iter().filter(|a| a.is_symmetric()).collect();
        assert_eq!(sym, vec![Algorithm::HS256]);
    }
}
