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
use crate::arrival::Arrival;
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

/// An RFC 6749 token request: `refresh_token` or `client_credentials`.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(examples(
    json!({"grant_type": "refresh_token", "refresh_token": "Fq3…"}),
    json!({"grant_type": "client_credentials", "scope": "read"}),
))]
struct TokenRequest {
    #[schema(value_type = crate::openapi::GrantType, required = true)]
    grant_type: Option<String>,
    /// Required for `refresh_token`.
    #[schema(value_type = String, required = false)]
    refresh_token: Option<String>,
    /// Space-separated scopes: can narrow, never grow.
    #[schema(value_type = String, required = false)]
    scope: Option<String>,
    /// The client (default: the built-in first-party client); must match HTTP Basic if both.
    #[schema(value_type = String, required = false)]
    client_id: Option<String>,
    /// A confidential client's secret, when not sent with HTTP Basic.
    #[schema(value_type = String, required = false)]
    client_secret: Option<String>,
}

/// Token endpoint
///
/// `grant_type=refresh_token` rotates a refresh token: the presented one dies at once,
/// and presenting an already-rotated one is reuse (400 `invalid_grant`, the whole family
/// revoked). `grant_type=client_credentials` needs client authentication and issues an
/// access token whose `sub` is the client. Errors per RFC 6749 §5.2.
#[utoipa::path(
    post,
    path = "/oauth/token",
    operation_id = "oauthToken",
    tag = "oauth",
    request_body(content(
        (TokenRequest = "application/x-www-form-urlencoded"),
        (TokenRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "A token response", body = super::token::TokenResponse,
            headers(("Pragma" = String, description = "`no-cache`"))),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security((), ("client_basic" = []))
)]
async fn token(
    State(state): State<AppState>,
    Arrival(arrived_at): Arrival,
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
    let grant = state.tessera.refresh_tokens(refresh_token, caller.id(), scope, arrived_at).await?;
    Ok(grant_response(&grant))
}

/// A token to revoke (RFC 7009) or introspect (RFC 7662).
#[derive(Deserialize, utoipa::ToSchema)]
struct TokenParam {
    /// An access or refresh token.
    #[schema(value_type = String, required = true)]
    token: Option<String>,
    /// `access_token` or `refresh_token`; a hint only.
    #[schema(value_type = String, required = false)]
    token_type_hint: Option<String>,
    /// The client (default: the built-in first-party client); must match HTTP Basic if both.
    #[schema(value_type = String, required = false)]
    client_id: Option<String>,
    /// A confidential client's secret, when not sent with HTTP Basic.
    #[schema(value_type = String, required = false)]
    client_secret: Option<String>,
}

/// Revoke a token
///
/// RFC 7009: 200 even for an unknown token (a token of another client is left alone). A
/// refresh token revokes its family; an access token is denied until it would have
/// expired. A missing `token` (an empty request included) is 400 `invalid_request`.
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    operation_id = "oauthRevoke",
    tag = "oauth",
    request_body(content(
        (TokenParam = "application/x-www-form-urlencoded"),
        (TokenParam = "application/json"),
    )),
    responses(
        (status = 200, description = "Revoked, or unknown"),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security((), ("client_basic" = []))
)]
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

/// Introspect a token
///
/// RFC 7662, for confidential clients only (HTTP Basic or `client_secret`); without
/// client authentication 401 `invalid_client`. A missing `token` (an empty request
/// included) is 400 `invalid_request`.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    operation_id = "oauthIntrospect",
    tag = "oauth",
    request_body(content(
        (TokenParam = "application/x-www-form-urlencoded"),
        (TokenParam = "application/json"),
    )),
    responses(
        (status = 200, description = "The token's state", body = crate::openapi::Introspection),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("client_basic" = []))
)]
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonOrForm(req): JsonOrForm<TokenParam>,
) -> Result<Json<Value>, ApiError> {
    // A missing token is 400 before client authentication, as for revoke:
    // the request is malformed whoever sends it.
    let token =
        req.token.as_deref().ok_or_else(|| ApiError::invalid_request("token is required"))?;
    let caller =
        identify(&state, &headers, req.client_id.as_deref(), req.client_secret.as_deref()).await;
    let Ok(Caller::Confidential(client)) = caller else {
        return Err(Error::InvalidClient("introspection needs a confidential client").into());
    };
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
