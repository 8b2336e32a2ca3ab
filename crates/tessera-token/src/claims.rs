//! RFC 9068 access-token claims.
//!
//! Times are NumericDate whole seconds (RFC 7519 §2); a fractional or
//! out-of-range value fails to parse rather than being rounded.

use serde::{Deserialize, Serialize};

/// The claims of a Tessera access token (RFC 9068 §2.2).
///
/// Deserialising rejects duplicate members (serde's derived `Deserialize`
/// refuses a repeated field), so a token cannot carry two `sub`s that
/// different parsers would read differently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: the Tessera base URL.
    pub iss: String,
    /// Subject: the user id, or the client id for `client_credentials`.
    pub sub: String,
    /// Audience: one string or an array of strings.
    pub aud: Audience,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds), when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Token id; the key for revoking this one token.
    pub jti: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    /// The login (session or refresh family) the token descends from; absent
    /// for `client_credentials` tokens, which descend from no login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// When the user authenticated (Unix seconds); absent without a user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
}

/// The `aud` claim: RFC 7519 §4.1.3 allows a string or an array of strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience, serialised as a string.
    One(String),
    /// Several audiences, serialised as an array.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `aud` is (exactly, case-sensitively) one of the audiences.
    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Self::One(a) => a == aud,
            Self::Many(all) => all.iter().any(|a| a == aud),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AccessClaims {
        AccessClaims {
            iss: "https://auth.example".into(),
            sub: "user-1".into(),
            aud: Audience::One("https://api.example".into()),
            exp: 1_000_900,
            iat: 1_000_000,
            nbf: None,
            jti: "j1".into(),
            client_id: "first-party".into(),
            scope: "read write".into(),
            sid: Some("s1".into()),
            auth_time: Some(999_000),
        }
    }

    #[test]
    fn claims_round_trip_through_json() {
        let c = sample();
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("nbf"));
        assert_eq!(serde_json::from_str::<AccessClaims>(&json).unwrap(), c);
    }

    #[test]
    fn claims_aud_array_parses_and_contains() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["aud"] = serde_json::json!(["a", "https://api.example"]);
        let c: AccessClaims = serde_json::from_value(v).unwrap();
        assert!(c.aud.contains("https://api.example"));
        assert!(!c.aud.contains("https://API.example"));
    }

    #[test]
    fn claims_duplicate_member_rejected() {
        let json = serde_json::to_string(&sample()).unwrap();
        let dup = json.replacen("{", r#"{"sub":"admin","#, 1);
        assert!(serde_json::from_str::<AccessClaims>(&dup).is_err());
    }

    #[test]
    fn claims_fractional_or_string_time_rejected() {
        for bad in [serde_json::json!(1.5), serde_json::json!("1000900")] {
            let mut v = serde_json::to_value(sample()).unwrap();
            v["exp"] = bad;
            assert!(serde_json::from_value::<AccessClaims>(v).is_err());
        }
    }

    #[test]
    fn claims_missing_exp_rejected() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v.as_object_mut().unwrap().remove("exp");
        assert!(serde_json::from_value::<AccessClaims>(v).is_err());
    }
}
