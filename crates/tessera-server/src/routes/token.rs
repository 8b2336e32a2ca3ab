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

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
    scope: Option<String>,
    client_id: Option<String>,
}

/// An RFC 6749 §5.1 token response.
#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
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
