//! The session-cookie credential: an extractor only the core's check can fill.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tessera_core::session::ActiveSession;

use crate::AppState;
use crate::cookie::CookiePolicy;
use crate::error::ApiError;

/// Name of the header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A request authenticated by a live session cookie.
#[derive(Debug, Clone)]
pub struct SessionAuth {
    /// The session and its user, as checked by the core.
    pub session: ActiveSession,
    /// The `X-CSRF-Token` header, if the request carried one.
    pub csrf_header: Option<String>,
}

impl FromRequestParts<AppState> for SessionAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let cookies = CookiePolicy::new(state.config.secure_cookies);
        let secret = cookies
            .session_secret(&parts.headers)
            .ok_or(tessera_core::Error::Unauthorized("no session cookie"))?;
        let session = state.tessera.resume_session(secret).await?;
        let csrf_header =
            parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Self { session, csrf_header })
    }
}
