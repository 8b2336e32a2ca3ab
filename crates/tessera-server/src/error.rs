//! [`ApiError`]: the one error type that leaves the server.
//!
//! Every error body is `{"error": code, "error_description": text}`. The
//! description is written for clients; internal detail (store errors, the
//! reason a login failed) goes to the log only.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::Error;
use tessera_core::store::StoreError;

/// An HTTP error in the contract's shape.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    description: String,
    retry_after: Option<u32>,
    challenge: Option<&'static str>,
}

/// The RFC 6750 challenge for a failed bearer credential.
pub const BEARER_INVALID: &str = r#"Bearer realm="tessera", error="invalid_token""#;
/// The RFC 6750 challenge for a request presenting a token in two ways (§3.1).
pub const BEARER_INVALID_REQUEST: &str = r#"Bearer realm="tessera", error="invalid_request""#;
/// The RFC 6750 challenge when no bearer credential was given.
pub const BEARER: &str = r#"Bearer realm="tessera""#;
/// The challenge for failed HTTP Basic client authentication (RFC 6749 §5.2).
pub const BASIC: &str = r#"Basic realm="tessera""#;

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl ApiError {
    /// An error with an explicit status, code and client-facing description.
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        // RFC 6749 §5.2: error_description is printable ASCII, without `"` or `\`.
        let description = description
            .into()
            .chars()
            .map(|c| if (' '..='~').contains(&c) && c != '"' && c != '\\' { c } else { '?' })
            .collect();
        Self { status, code, description, retry_after: None, challenge: None }
    }

    /// Adds a `WWW-Authenticate` challenge.
    pub fn with_challenge(mut self, challenge: &'static str) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 404 `not_found`.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed here")
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(description: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", description)
    }

    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", description)
    }

    /// 503 `unavailable` with `Retry-After`: a store failed, so fail closed.
    pub fn unavailable() -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "a backing store is unavailable; retry shortly",
        );
        e.retry_after = Some(1);
        e
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The contract error code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        match e {
            Error::InvalidRequest(t) => Self::invalid_request(t),
            Error::InvalidCredentials(why) => {
                tracing::info!(reason = why, "login refused");
                Self::new(S::UNAUTHORIZED, "invalid_credentials", "invalid username or password")
            }
            Error::Unauthorized(why) => {
                tracing::debug!(reason = why, "unauthenticated");
                Self::new(S::UNAUTHORIZED, "unauthorized", "a live session is required")
            }
            Error::CsrfFailed(why) => {
                tracing::info!(reason = why, "csrf check failed");
                Self::new(S::FORBIDDEN, "csrf_failed", "CSRF check failed")
            }
            Error::Forbidden(t) => Self::new(S::FORBIDDEN, "forbidden", t),
            Error::Conflict(t) => Self::new(S::CONFLICT, "conflict", t),
            Error::PayloadTooLarge(t) => Self::payload_too_large(t),
            Error::InvalidGrant(why) => {
                tracing::info!(reason = why, "grant refused");
                Self::new(
                    S::BAD_REQUEST,
                    "invalid_grant",
                    "the grant is invalid, expired or revoked",
                )
            }
            Error::InvalidClient(why) => {
                tracing::info!(reason = why, "client authentication failed");
                Self::new(S::UNAUTHORIZED, "invalid_client", "client authentication failed")
                    .with_challenge(BASIC)
            }
            Error::InvalidToken(why) => {
                tracing::info!(reason = why, "bearer token refused");
                Self::new(S::UNAUTHORIZED, "invalid_token", "the access token is invalid")
                    .with_challenge(BEARER_INVALID)
            }
            Error::InvalidScope(t) => Self::new(S::BAD_REQUEST, "invalid_scope", t),
            Error::RateLimited { retry_after } => {
                let mut e = Self::new(
                    S::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many failed attempts; retry later",
                );
                e.retry_after = Some(u32::try_from(retry_after.max(1)).unwrap_or(u32::MAX));
                e
            }
            Error::Overloaded(why) => {
                tracing::warn!(reason = why, "shedding load");
                let mut e = Self::new(
                    S::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the server is busy; retry shortly",
                );
                e.retry_after = Some(1);
                e
            }
            Error::NotFound => Self::not_found(),
            Error::Store(StoreError::Corrupt(detail)) => {
                tracing::error!(%detail, "corrupt store record");
                Self::new(S::INTERNAL_SERVER_ERROR, "server_error", "internal error")
            }
            Error::Store(err) => {
                tracing::warn!(error = %err, "store failure; failing closed");
                Self::unavailable()
            }
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                Self::new(S::INTERNAL_SERVER_ERROR, "server_error", "internal error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body { error: self.code, error_description: &self.description };
        let mut res = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(challenge) = self.challenge {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_failure_is_503_with_retry_after() {
        let e: ApiError = Error::Store(StoreError::Unavailable("db gone".into())).into();
        let res = e.into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn login_failures_share_one_description() {
        let a: ApiError = Error::InvalidCredentials("unknown user").into();
        let b: ApiError = Error::InvalidCredentials("wrong password").into();
        assert_eq!((a.status, a.code, &a.description), (b.status, b.code, &b.description));
    }

    #[test]
    fn description_is_printable_ascii() {
        let e = ApiError::invalid_request("bad \"é\" \\ \n");
        assert_eq!(e.description, "bad ??? ? ?");
    }

    #[test]
    fn internal_detail_never_reaches_the_client() {
        let e: ApiError = Error::Internal("SELECT * FROM secrets at /etc/x".into()).into();
        assert!(!e.description.contains("SELECT"));
    }
}
