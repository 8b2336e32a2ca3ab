//! Compact JWS (RFC 7515 §7.1): producing one, and checking one's structure,
//! header and signature. Claims are `verify.rs`'s business.
//!
//! Verification steps run in a fixed order, cheapest and most hostile-input
//! first: length bound, exactly three segments, strict base64url, header as a
//! UTF-8 JSON object without duplicate members, no header that names a key
//! source (`jwk`, `jku`, `x5u`, `x5c`) or extends the rules (`crit`), `kid`
//! required and known, `alg` equal to the algorithm *of that key*, then the
//! signature. Nothing from the payload is read before the signature holds.

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize};

use crate::algorithm::Algorithm;
use crate::base64url;
use crate::key::{KeyError, SigningKey};
use crate::verify::{KeyResolver, TokenError};

/// Marks that a header member was present, whatever its value (even `null`):
/// a forbidden member is refused for being there at all.
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(Present(true))
    }
}

/// The protected header as read. Unknown members are ignored (RFC 7515 §4),
/// known ones may appear once: serde's derived `Deserialize` refuses a
/// duplicate field, which stops `{"alg":"ES256","alg":"none"}` games.
#[derive(Deserialize)]
struct HeaderIn {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    jwk: Present,
    #[serde(default)]
    jku: Present,
    #[serde(default)]
    x5u: Present,
    #[serde(default)]
    x5c: Present,
    #[serde(default)]
    crit: Present,
}

#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    typ: Option<&'a str>,
    kid: &'a str,
}

/// Signs `payload` with `key` into compact JWS with header
/// `{"alg","typ","kid"}` (`typ` omitted when `None`).
///
/// # Errors
/// [`KeyError::Crypto`] if signing fails.
pub fn sign_compact(
    key: &SigningKey,
    typ: Option<&str>,
    payload: &[u8],
) -> Result<String, KeyError> {
    let header = HeaderOut { alg: key.algorithm().jose_name(), typ, kid: key.kid() };
    let header =
        serde_json::to_vec(&header).map_err(|_| KeyError::Crypto("header encoding failed"))?;
    let mut token = base64url::encode(&header);
    token.push('.');
    token.push_str(&base64url::encode(payload));
    let sig = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&base64url::encode(&sig));
    Ok(token)
}

/// A compact JWS whose signature verified under the key its `kid` names, with
/// that key's algorithm. Only [`verify_compact`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedJws {
    kid: String,
    alg: Algorithm,
    typ: Option<String>,
    payload: Vec<u8>,
}

impl VerifiedJws {
    /// The key id that verified the signature.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm (the key's, which the header had to match).
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The header's `typ`, if any.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// The signed payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// Checks a compact JWS's structure, header and signature (see the module
/// docs for the order). Does not look at `typ` or the payload's content.
///
/// # Errors
/// The [`TokenError`] of the first failed step.
pub fn verify_compact(
    token: &str,
    keys: &(impl KeyResolver + ?Sized),
    max_token_bytes: usize,
) -> Result<VerifiedJws, TokenError> {
    // 1. Length first: bounded work for any input.
    if token.len() > max_token_bytes {
        return Err(TokenError::TooLong);
    }
    // 2. Exactly three segments (JWE's five, or JSON serialisation, are refused).
    let mut parts = token.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("not three segments"));
    };
    // 3. Strict base64url for every segment.
    let header = base64url::decode(h64).ok_or(TokenError::Malformed("header not base64url"))?;
    let payload = base64url::decode(p64).ok_or(TokenError::Malformed("payload not base64url"))?;
    let sig = base64url::decode(s64).ok_or(TokenError::Malformed("signature not base64url"))?;
    // 4. Header: a UTF-8 JSON object with no duplicate known members.
    let header: HeaderIn = serde_json::from_slice(&header)
        .map_err(|_| TokenError::Malformed("header not a JSON object"))?;
    // 5. Members that would let the token pick its own key, or add rules we
    //    do not implement, are refused outright.
    for (present, name) in [
        (header.jwk.0, "jwk"),
        (header.jku.0, "jku"),
        (header.x5u.0, "x5u"),
        (header.x5c.0, "x5c"),
        (header.crit.0, "crit"),
    ] {
        if present {
            return Err(TokenError::ForbiddenHeader(name));
        }
    }
    // 6. The key is chosen by kid alone, and it fixes the algorithm: the
    //    header's alg must name exactly that algorithm (case-sensitive), which
    //    is what stops `none` and HS256-with-a-public-key.
    let kid = header.kid.ok_or(TokenError::MissingKid)?;
    let key = keys.resolve(&kid).ok_or(TokenError::UnknownKey)?;
    if header.alg != key.algorithm().jose_name() {
        return Err(TokenError::AlgorithmMismatch);
    }
    // 7. Signature over the exact bytes received: `header64.payload64`.
    let signing_input = &token.as_bytes()[..h64.len() + 1 + p64.len()];
    key.verify(signing_input, &sig).map_err(|_| TokenError::BadSignature)?;
    Ok(VerifiedJws { kid, alg: key.algorithm(), typ: header.typ, payload })
}
