//! Bearer credentials (RFC 6750) and HTTP Basic client authentication (RFC 6749 §2.3.1).
//!
//! A bearer token is read from the `Authorization` header only: never from
//! a query string or a form body, where it would leak into logs and caches.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tessera_core::Error;
use tessera_core::client::AuthenticatedClient;
use tessera_core::token::VerifiedBearer;

use crate::AppState;
use crate::error::{ApiError, BEARER};

/// A request authenticated by a verified, unrevoked access token.
#[derive(Debug, Clone)]
pub struct Bearer(pub VerifiedBearer);

/// The `Authorization` header's credentials for `scheme` (case-insensitive), if any.
pub fn credentials<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (s, rest) = value.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = credentials(&parts.headers, "Bearer") else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a bearer token is required",
            )
            .with_challenge(BEARER));
        };
        Ok(Self(state.tessera.verify_access_token(token)?))
    }
}

impl Bearer {
    /// 403 `insufficient_scope` unless every scope in `required` was granted.
    pub fn require(&self, required: &str) -> Result<(), ApiError> {
        if self.0.has_scopes(required) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("the token lacks the scope {required:?}"),
            )
            .with_challenge(r#"Bearer realm="tessera", error="insufficient_scope""#))
        }
    }
}

/// HTTP Basic client credentials, decoded: `client_id` and `client_secret`
/// are form-urlencoded inside the base64 (RFC 6749 §2.3.1).
pub fn basic_client(headers: &HeaderMap) -> Result<Option<(String, String)>, ApiError> {
    let Some(encoded) = credentials(headers, "Basic") else { return Ok(None) };
    let invalid = || ApiError::from(Error::InvalidClient("malformed Basic credentials"));
    let decoded = STANDARD.decode(encoded).map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (id, secret) = text.split_once(':').ok_or_else(invalid)?;
    let unescape = |s: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
            .ok()
            .and_then(|mut v| v.pop())
            .map(|(_, v)| v)
    };
    Ok(Some((unescape(id).ok_or_else(invalid)?, unescape(secret).ok_or_else(invalid)?)))
}

/// Authenticates a confidential client from HTTP Basic; `None` without the header.
pub async fn authenticate_basic(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<AuthenticatedClient>, ApiError> {
    match basic_client(headers)? {
        Some((id, secret)) => Ok(Some(state.tessera.authenticate_client(&id, &secret).await?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn bearer_scheme_case_insensitive_and_exact() {
        assert_eq!(credentials(&with_auth("Bearer abc"), "Bearer"), Some("abc"));
        assert_eq!(credentials(&with_auth("bearer abc"), "Bearer"), Some("abc"));
        assert_eq!(credentials(&with_auth("Bearerabc"), "Bearer"), None);
        assert_eq!(credentials(&with_auth("Basic abc"), "Bearer"), None);
    }

    #[test]
    fn basic_client_decodes_form_escapes() {
        // "my%20app:s%3Acret" → ("my app", "s:cret")
        let h = with_auth(&format!("Basic {}", STANDARD.encode("my%20app:s%3Acret")));
        assert_eq!(basic_client(&h).unwrap(), Some(("my app".into(), "s:cret".into())));
        assert!(basic_client(&with_auth("Basic !!!")).is_err());
        assert!(
            basic_client(&with_auth(&format!("Basic {}", STANDARD.encode("nocolon")))).is_err()
        );
        assert_eq!(basic_client(&HeaderMap::new()).unwrap(), None);
    }
}
