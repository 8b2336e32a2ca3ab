//! The core's error type: what went wrong, in domain terms.
//!
//! The server maps each variant to one HTTP status and error code at the
//! edge. Variants carry an internal message for logs; what a client sees is
//! decided by the server and never includes the internal detail.

use crate::store::StoreError;

/// A domain error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or breaks a policy; the text is safe to show.
    #[error("{0}")]
    InvalidRequest(String),
    /// Login failed. Unknown user, wrong password and disabled user are all
    /// this one error (enumeration); the reason is only logged.
    #[error("invalid credentials ({0})")]
    InvalidCredentials(&'static str),
    /// No live credential was presented.
    #[error("unauthorized ({0})")]
    Unauthorized(&'static str),
    /// The CSRF token or the request's origin did not pass.
    #[error("csrf check failed ({0})")]
    CsrfFailed(&'static str),
    /// The operation is not allowed; the text is safe to show.
    #[error("{0}")]
    Forbidden(String),
    /// The record already exists; the text is safe to show.
    #[error("{0}")]
    Conflict(String),
    /// A value is larger than its configured bound; the text is safe to show.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A refresh token (or other grant) is invalid, expired, revoked, reused
    /// or bound to another client (RFC 6749 §5.2 `invalid_grant`); the reason
    /// is only logged.
    #[error("invalid grant ({0})")]
    InvalidGrant(&'static str),
    /// Client authentication failed (RFC 6749 §5.2 `invalid_client`); the
    /// reason is only logged.
    #[error("invalid client ({0})")]
    InvalidClient(&'static str),
    /// A bearer access token failed verification or is revoked (RFC 6750
    /// `invalid_token`); the reason is only logged.
    #[error("invalid token ({0})")]
    InvalidToken(&'static str),
    /// The requested scope is not a subset of what may be granted.
    #[error("invalid scope: {0}")]
    InvalidScope(String),
    /// Too many failed attempts; retry after this many seconds.
    #[error("rate limited for {retry_after} s")]
    RateLimited {
        /// Seconds until the lock ends.
        retry_after: i64,
    },
    /// The server is too busy to take this on now (the password hash
    /// queue is full, or this requester's share of it); retry shortly. The
    /// text is for logs only.
    #[error("overloaded: {0}")]
    Overloaded(&'static str),
    /// The named thing does not exist (or is not the caller's).
    #[error("not found")]
    NotFound,
    /// A store failed; callers must fail closed.
    #[error("store failure: {0}")]
    Store(#[from] StoreError),
    /// A bug or an impossible state; the text is for logs only.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Shorthand for results of core operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
