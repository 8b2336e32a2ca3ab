//! The OAuth endpoints: `/oauth/token` (refresh_token, client_credentials),
//! `/oauth/revoke` (RFC 7009) and `/oauth/introspect` (RFC 7662).
//!
//! Clients identify with HTTP Basic (confidential), `client_id` and
//! `client_secret` in the body (confidential), or `client_id` alone (public;
//! the built-in first-party client when absent). A confidential client's id
//! without its secret is `invalid_client`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_core::Error;
use tessera_core::client::{AuthenticatedClient, FIRST_PARTY_CLIENT};
use tessera_core::token::Introspection;

use crate::AppState;
use crate::bearer::authenticate_basic;
use crate::error::ApiError;
use crate::payload::JsonOrForm;
use crate::routes::token::{grant_response, token_response};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
        .route("/oauth/introspect", post(introspect))
}

/// Who is calling.
enum Caller {
    Confidential(AuthenticatedClient),
    Public(String),
}

impl Caller {
    fn id(&self) -> &str {
        match self {
            Self::Confidential(c) => &c.client().id,
            Self::Public(id) => id,
        }
    }
}

async fn identify(
    state: &AppState,
    headers: &HeaderMap,
    client_id: Option<&str>,
    client_secret: Option<&str>,
) -> Result<Caller, ApiError> {
    if let Some(client) = authenticate_basic(state, headers).await? {
        if client_id.is_some_and(|id| id != client.client().id) {
            return Err(ApiError::invalid_request(
                "client_id does not match the authenticated client",
            ));
        }
        return Ok(Caller::Confidential(client));
    }
    let id = client_id.unwrap_or(FIRST_PARTY_CLIENT);
    if let Some(secret) = client_secret {
        return Ok(Caller::Confidential(state.tessera.authenticate_client(id, secret).await?));
    }
    match state.tessera.find_client(id).await? {
        Some(c) if !c.is_confidential() => Ok(Caller::Public(c.id)),
        Some(_) => Err(Error::InvalidClient("confidential client without credentials").into()),
        None => Err(Error::InvalidClient("unknown client").into()),
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonOrForm(req): JsonOrForm<TokenRequest>,
) -> Result<Response, ApiError> {
    let grant_type = req
        .grant_type
        .as_deref()
        .ok_or_else(|| ApiError::invalid_request("grant_type is required"))?;
    if !matches!(grant_type, "refresh_token" | "client_credentials") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "supported grant types: refresh_token, client_credentials",
        ));
    }
    let caller =
        identify(&state, &headers, req.client_id.as_deref(), req.client_secret.as_deref()).await?;
    let scope = req.scope.as_deref();
    if grant_type == "client_credentials" {
        let Caller::Confidential(client) = &caller else {
            return Err(
                Error::InvalidClient("client_credentials needs client authentication").into()
            );
        };
        let access = state.tessera.client_credentials(client, scope)?;
        return Ok(token_response(&access, None));
    }
    let refresh_token = req
        .refresh_token
        .as_deref()
        .ok_or_else(|| ApiError::invalid_request("refresh_token is required"))?;
    let grant = state.tessera.refresh_tokens(refresh_token, caller.id(), scope).await?;
    Ok(grant_response(&grant))
}

#[derive(Deserialize)]
struct TokenParam {
    token: Option<String>,
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonOrForm(req): JsonOrForm<TokenParam>,
) -> Result<Response, ApiError> {
    let token =
        req.token.as_deref().ok_or_else(|| ApiError::invalid_request("token is required"))?;
    let caller =
        identify(&state, &headers, req.client_id.as_deref(), req.client_secret.as_deref()).await?;
    state.tessera.revoke_token(token, req.token_type_hint.as_deref(), caller.id()).await?;
    // RFC 7009 §2.2: 200 whether or not the token was known.
    Ok(StatusCode::OK.into_response())
}

async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonOrForm(req): JsonOrForm<TokenParam>,
) -> Result<Json<Value>, ApiError> {
    let caller =
        identify(&state, &headers, req.client_id.as_deref(), req.client_secret.as_deref()).await;
    let Ok(Caller::Confidential(client)) = caller else {
        return Err(Error::InvalidClient("introspection needs a confidential client").into());
    };
    let token =
        req.token.as_deref().ok_or_else(|| ApiError::invalid_request("token is required"))?;
    Ok(Json(match state.tessera.introspect(token, &client).await? {
        Introspection::Active { claims, username } => json!({
            "active": true,
            "sub": claims.sub,
            "scope": claims.scope,
            "exp": claims.exp,
            "iat": claims.iat,
            "jti": claims.jti,
            "client_id": claims.client_id,
            "token_type": "Bearer",
            "username": username,
            "iss": claims.iss,
            "aud": claims.aud,
            "sid": claims.sid,
        }),
        Introspection::Inactive => json!({"active": false}),
    }))
}
