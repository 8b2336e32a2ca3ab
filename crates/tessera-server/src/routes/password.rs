//! `POST /v1/password`: change the caller's password, ending their other
//! sessions and token families. Any credential; CSRF when by cookie (checked
//! by [`Authenticated`]).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use tessera_core::Error;

use crate::AppState;
use crate::error::ApiError;
use crate::payload::JsonBody;
use crate::principal::{Authenticated, Credential};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/password", post(change))
}

/// A password change.
#[derive(Deserialize, utoipa::ToSchema)]
struct Change {
    /// The password now in force.
    current_password: String,
    /// The new password, under the same policy as registration.
    new_password: String,
}

/// Change the caller's password
///
/// Any credential; with a cookie credential the CSRF token is required. Every other
/// session and token family of the user ends; the caller's own stays. A wrong current
/// password is 401 `invalid_credentials`.
#[utoipa::path(
    post,
    path = "/v1/password",
    operation_id = "changePassword",
    tag = "accounts",
    params(crate::openapi::CsrfHeader),
    request_body(content = Change, content_type = "application/json"),
    responses(
        (status = 204, description = "Changed; the caller's other logins are ended"),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []), ("session_cookie" = []), ("hybrid_cookie" = []))
)]
async fn change(
    State(state): State<AppState>,
    auth: Authenticated,
    JsonBody(body): JsonBody<Change>,
) -> Result<StatusCode, ApiError> {
    let user = match &auth.credential {
        Credential::Session(s) => s.user().clone(),
        _ => state
            .tessera
            .find_user(&auth.user_id)
            .await?
            .ok_or(Error::Unauthorized("user deleted"))?,
    };
    state
        .tessera
        .change_password(&user, &body.current_password, &body.new_password, auth.current())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
