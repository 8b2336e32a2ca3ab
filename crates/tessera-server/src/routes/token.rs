//! Token mode: `POST /v1/token/login`, and the token response shared with `/oauth/token`.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tessera_core::refresh::FamilyKind;
use tessera_core::token::{IssuedAccess, TokenGrant};

use crate::AppState;
use crate::client::Client;
use crate::error::ApiError;
use crate::payload::JsonOrForm;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/token/login", post(login))
}

/// A first-party login for tokens.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = TokenLoginRequest)]
struct Credentials {
    #[schema(examples("alice"))]
    username: String,
    #[schema(examples("correct horse battery staple"))]
    password: String,
    /// Space-separated scopes to request: at most the user's own (default: all of them).
    #[schema(value_type = String, required = false)]
    scope: Option<String>,
    /// A public client's id (default: the built-in first-party client).
    #[schema(value_type = String, required = false)]
    client_id: Option<String>,
}

/// An RFC 6749 §5.1 token response.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = TokenResponse)]
pub(super) struct TokenResponse<'a> {
    /// An RFC 9068 JWT.
    access_token: &'a str,
    /// Always `Bearer`.
    #[schema(examples("Bearer"))]
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
    /// The refresh token (absent for client credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    refresh_token: Option<&'a str>,
    /// The granted scopes, space-separated.
    scope: &'a str,
}

/// 200 with the token response, `Cache-Control: no-store` (set globally) and
/// `Pragma: no-cache` (RFC 6749 §5.1).
pub fn token_response(access: &IssuedAccess, refresh_token: Option<&str>) -> Response {
    let body = TokenResponse {
        access_token: &access.token,
        token_type: "Bearer",
        expires_in: access.expires_in,
        refresh_token,
        scope: &access.scope,
    };
    ([(header::PRAGMA, HeaderValue::from_static("no-cache"))], Json(body)).into_response()
}

/// The response for a grant with a refresh token.
pub fn grant_response(grant: &TokenGrant) -> Response {
    token_response(&grant.access, Some(grant.refresh.secret.expose()))
}

/// Log in (token mode)
///
/// The first-party login for SPAs, mobile apps and CLIs: an access token and a
/// refresh token. Same failure rules as the session login. (The RFC 6749 password
/// grant is deliberately not offered.)
#[utoipa::path(
    post,
    path = "/v1/token/login",
    operation_id = "tokenLogin",
    tag = "token",
    request_body(content(
        (Credentials = "application/json"),
        (Credentials = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Logged in", body = TokenResponse,
            headers(("Pragma" = String, description = "`no-cache`"))),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    JsonOrForm(c): JsonOrForm<Credentials>,
) -> Result<Response, ApiError> {
    let (_, grant) = state
        .tessera
        .login_for_tokens(
            &c.username,
            &c.password,
            c.client_id.as_deref(),
            c.scope.as_deref(),
            FamilyKind::Token,
            client,
        )
        .await?;
    Ok(grant_response(&grant))
}
