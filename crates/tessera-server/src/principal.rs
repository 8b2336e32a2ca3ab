//! [`Authenticated`]: a request made with any credential, in the contract's
//! order (bearer, hybrid cookie, session cookie), with CSRF enforced here for
//! cookie credentials on unsafe methods so that no handler can forget it.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use tessera_core::Error;
use tessera_core::device::CurrentLogin;
use tessera_core::session::ActiveSession;
use tessera_core::token::VerifiedBearer;
use tessera_core::user::UserId;

use crate::AppState;
use crate::bearer::bearer_token;
use crate::cookie::{ACCESS, CookiePolicy};
use crate::error::{ApiError, BEARER};
use crate::session_auth::CSRF_HEADER;

/// The credential a request was authenticated with.
#[derive(Debug, Clone)]
pub enum Credential {
    /// `Authorization: Bearer`.
    Bearer(VerifiedBearer),
    /// The hybrid access-token cookie (CSRF checked for unsafe methods).
    Hybrid(VerifiedBearer),
    /// The session cookie (CSRF checked for unsafe methods).
    Session(ActiveSession),
}

/// A request authenticated as a user.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The user.
    pub user_id: UserId,
    /// How.
    pub credential: Credential,
}

impl Authenticated {
    /// The caller's own login.
    pub fn current(&self) -> CurrentLogin {
        match &self.credential {
            Credential::Session(s) => CurrentLogin::Session(s.record().id),
            Credential::Bearer(b) | Credential::Hybrid(b) => {
                b.family_id().map_or(CurrentLogin::None, CurrentLogin::Family)
            }
        }
    }

    /// Whether a cookie carried the credential.
    pub fn by_cookie(&self) -> bool {
        !matches!(self.credential, Credential::Bearer(_))
    }
}

fn user_of(bearer: &VerifiedBearer) -> Result<UserId, ApiError> {
    bearer.user_id().ok_or_else(|| {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this endpoint is for users, not clients")
    })
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let tessera = &state.tessera;
        // RFC 6750's edges (empty, malformed, doubled) are answered there,
        // before any cookie is considered.
        if let Some(token) = bearer_token(&parts.headers, &[parts.uri.query()])? {
            let bearer = tessera.verify_access_token(token)?;
            return Ok(Self { user_id: user_of(&bearer)?, credential: Credential::Bearer(bearer) });
        }
        let csrf = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        let needs_csrf = !parts.method.is_safe();
        let cookies = CookiePolicy::new(state.config.secure_cookies);
        if let Some(token) = cookies.get(ACCESS, &parts.headers) {
            let bearer = tessera.verify_access_token(token)?;
            let sid = bearer.family_id().ok_or(Error::InvalidToken("no sid"))?;
            if needs_csrf {
                tessera.verify_hybrid_csrf(&sid, csrf)?;
            }
            return Ok(Self { user_id: user_of(&bearer)?, credential: Credential::Hybrid(bearer) });
        }
        if let Some(secret) = cookies.session_secret(&parts.headers) {
            let session = tessera.resume_session(secret).await?;
            if needs_csrf {
                session.verify_csrf(csrf)?;
            }
            return Ok(Self {
                user_id: session.user().id,
                credential: Credential::Session(session),
            });
        }
        Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a credential is required")
            .with_challenge(BEARER))
    }
}
