//! Access tokens end to end: [`sign_at`] issues one, [`verify_at`] checks one
//! and returns a [`VerifiedAccessToken`], a proof only it can make.
//!
//! Revocation (`jti`, `sid`, the user's not-before) is not checked here: it
//! needs stores, and the server does it right after `verify_at`.

use crate::algorithm::Algorithm;
use crate::claims::AccessClaims;
use crate::jws;
use crate::key::{KeyError, VerifyingKey};
use crate::key_ring::KeyRing;

/// The `typ` Tessera writes (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// Default clock leeway for `exp`, `nbf` and `iat`, in seconds.
pub const DEFAULT_LEEWAY_SECS: i64 = 30;
/// Largest leeway accepted; larger values are clamped to it.
pub const MAX_LEEWAY_SECS: i64 = 60;
/// Default bound on a token's length, in bytes.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8192;

/// Looks up the verifying key a token's `kid` names.
pub trait KeyResolver {
    /// The key with this id, if it is one the verifier trusts.
    fn resolve(&self, kid: &str) -> Option<&VerifyingKey>;
}

/// Why a token was refused. Distinct for logs and metrics; a client only ever
/// learns `invalid_token`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Longer than the configured bound.
    #[error("token too long")]
    TooLong,
    /// Not a well-formed compact JWS, or a header or payload that is not the
    /// expected JSON; the text says which part.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// A header member that is never accepted (`jwk`, `jku`, `x5u`, `x5c`, `crit`).
    #[error("forbidden header member: {0}")]
    ForbiddenHeader(&'static str),
    /// No `kid` in the header.
    #[error("no kid in header")]
    MissingKid,
    /// The `kid` names no key we trust.
    #[error("unknown kid")]
    UnknownKey,
    /// The header's `alg` is not the algorithm of the key `kid` names.
    #[error("alg does not match the key")]
    AlgorithmMismatch,
    /// `typ` is not `at+jwt`.
    #[error("wrong typ")]
    WrongType,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// Past `exp` (plus leeway).
    #[error("token expired")]
    Expired,
    /// Before `nbf` (minus leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` in the future (beyond leeway).
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    #[error("wrong audience")]
    WrongAudience,
}

/// What a verifier requires of a token. Every default is the secure one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    issuer: String,
    audience: String,
    leeway_secs: i64,
    max_token_bytes: usize,
}

impl Validation {
    /// Requires exactly `issuer` as `iss` and `audience` among `aud`, with a
    /// leeway of [`DEFAULT_LEEWAY_SECS`] and at most [`DEFAULT_MAX_TOKEN_BYTES`].
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }

    /// Sets the clock leeway, clamped to `0..=`[`MAX_LEEWAY_SECS`] (a large
    /// leeway quietly extends every token's life).
    pub fn with_leeway_secs(mut self, secs: i64) -> Self {
        self.leeway_secs = secs.clamp(0, MAX_LEEWAY_SECS);
        self
    }

    /// Sets the token length bound in bytes.
    pub fn with_max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }

    /// The required issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The required audience.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The clock leeway in seconds.
    pub fn leeway_secs(&self) -> i64 {
        self.leeway_secs
    }

    /// The token length bound in bytes.
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }
}

/// Proof that an access token passed [`verify_at`]: signature, header rules,
/// issuer, audience and times. Fields are private and only `verify_at` builds
/// one, so holding a value means the checks ran. Revocation is still to check.
#[derive(Debug, Clone)]
pub struct VerifiedAccessToken {
    kid: String,
    alg: Algorithm,
    claims: AccessClaims,
}

impl VerifiedAccessToken {
    /// The verified claims.
    pub fn claims(&self) -> &AccessClaims {
        &self.claims
    }

    /// The `kid` of the key that verified the token.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm of that key.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The subject.
    pub fn sub(&self) -> &str {
        &self.claims.sub
    }

    /// The token id (for revocation checks).
    pub fn jti(&self) -> &str {
        &self.claims.jti
    }

    /// The login the token descends from, if any (for revocation checks).
    pub fn sid(&self) -> Option<&str> {
        self.claims.sid.as_deref()
    }

    /// The space-separated scopes.
    pub fn scope(&self) -> &str {
        &self.claims.scope
    }
}

/// Signs `claims` as an RFC 9068 access token with the ring's current key:
/// header `{"alg","typ":"at+jwt","kid"}`. The times are the caller's, taken
/// from its clock when it built `claims`.
///
/// # Errors
/// [`KeyError::Crypto`] if encoding or signing fails.
pub fn sign_at(ring: &KeyRing, claims: &AccessClaims) -> Result<String, KeyError> {
    let payload =
        serde_json::to_vec(claims).map_err(|_| KeyError::Crypto("claims encoding failed"))?;
    jws::sign_compact(ring.current(), Some(ACCESS_TOKEN_TYP), &payload)
}

/// Verifies an access token at `now` (Unix seconds).
///
/// Order: everything in [`jws::verify_compact`] (length, segments, base64url,
/// header, forbidden members, `kid`, `alg` fixed by the key, signature), then
/// `typ`, then — only now that the signature holds — the claims: a JSON
/// object, exact `iss`, `aud` containing the audience, `now < exp + leeway`,
/// `now + leeway >= nbf` when present, `iat <= now + leeway`.
///
/// # Errors
/// The [`TokenError`] of the first failed check.
pub fn verify_at(
    token: &str,
    keys: &(impl KeyResolver + ?Sized),
    v: &Validation,
    now: i64,
) -> Result<VerifiedAccessToken, TokenError> {
    let jws = jws::verify_compact(token, keys, v.max_token_bytes)?;
    // RFC 9068 §4: typ is compared case-insensitively, with or without the
    // "application/" prefix. Stops an ID token or other JWT being replayed here.
    if !jws.typ().is_some_and(is_access_token_typ) {
        return Err(TokenError::WrongType);
    }
    let claims: AccessClaims = serde_json::from_slice(jws.payload())
        .map_err(|_| TokenError::Malformed("claims not a valid JSON object"))?;
    check_claims(&claims, v, now)?;
    Ok(VerifiedAccessToken { kid: jws.kid().to_owned(), alg: jws.algorithm(), claims })
}

fn is_access_token_typ(typ: &str) -> bool {
    const PREFIX: &str = "application/";
    let bare = match typ.get(..PREFIX.len()) {
        Some(p) if p.eq_ignore_ascii_case(PREFIX) => &typ[PREFIX.len()..],
        _ => typ,
    };
    bare.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
}

fn check_claims(c: &AccessClaims, v: &Validation, now: i64) -> Result<(), TokenError> {
    if c.iss != v.issuer {
        return Err(TokenError::WrongIssuer);
    }
    if !c.aud.contains(&v.audience) {
        return Err(TokenError::WrongAudience);
    }
    let leeway = v.leeway_secs;
    if now >= c.exp.saturating_add(leeway) {
        return Err(TokenError::Expired);
    }
    if c.nbf.is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
        return Err(TokenError::NotYetValid);
    }
    if c.iat > now.saturating_add(leeway) {
        return Err(TokenError::IssuedInFuture);
    }
    Ok(())
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
