//! Discovery: `/.well-known/jwks.json` (RFC 7517) and
//! `/.well-known/oauth-authorization-server` (RFC 8414).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/oauth-authorization-server", get(metadata))
}

/// The signing key set
///
/// RFC 7517: the public parts of the next, current and still-valid retired keys, each
/// with `kid`, `alg` and `use: "sig"`. Cacheable for a lifetime derived from the
/// rotation schedule.
// (See `TokenPolicy::jwks_max_age`.)
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    operation_id = "jwks",
    tag = "discovery",
    responses(
        (status = 200, description = "The key set", body = crate::openapi::JwkSet,
            headers(("Cache-Control" = String, description = "`public, max-age=N`"))),
    )
)]
async fn jwks(State(state): State<AppState>) -> Response {
    let max_age = state.tessera.config().token.jwks_max_age().as_secs();
    let cache = HeaderValue::from_str(&format!("public, max-age={max_age}"))
        .unwrap_or(HeaderValue::from_static("no-cache"));
    ([(header::CACHE_CONTROL, cache)], Json(state.tessera.key_ring().jwks())).into_response()
}

/// Authorization server metadata
///
/// RFC 8414 metadata: issuer, endpoints, grant types and client authentication methods.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    operation_id = "authorizationServerMetadata",
    tag = "discovery",
    responses(
        (status = 200, description = "The metadata", body = crate::openapi::ServerMetadata,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
    )
)]
async fn metadata(State(state): State<AppState>) -> Response {
    let issuer = &state.tessera.config().token.issuer;
    let body = json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "grant_types_supported": ["refresh_token", "client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    });
    let cache = HeaderValue::from_static("public, max-age=300");
    ([(header::CACHE_CONTROL, cache)], Json(body)).into_response()
}
