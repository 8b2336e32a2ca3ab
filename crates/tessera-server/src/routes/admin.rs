//! Administration, for bearer tokens with the `admin` scope: keys and users.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_core::Timestamp;
use tessera_core::signing_key::state_name;
use tessera_core::user::UserId;

use crate::AppState;
use crate::bearer::Bearer;
use crate::error::ApiError;
use crate::routes::PathId;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/keys", get(list_keys))
        .route("/admin/keys/rotate", post(rotate_keys))
        .route("/admin/users/{id}/logout-all", post(logout_all))
        .route("/admin/users/{id}/disable", post(disable))
}

const ADMIN: &str = "admin";

fn time(unix: Option<i64>) -> Value {
    unix.map_or(Value::Null, |t| json!(Timestamp::from_unix(t)))
}

/// List the signing keys
///
/// Key ids, algorithms, states and dates.
#[utoipa::path(
    get,
    path = "/admin/keys",
    operation_id = "adminListKeys",
    tag = "admin",
    responses(
        (status = 200, description = "The keys", body = crate::openapi::KeyList),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = ["admin"]))
)]
async fn list_keys(State(state): State<AppState>, bearer: Bearer) -> Result<Json<Value>, ApiError> {
    bearer.require(ADMIN)?;
    let ring = state.tessera.key_ring();
    let keys: Vec<Value> = ring
        .keys()
        .iter()
        .map(|k| {
            json!({
                "kid": k.key().kid(),
                "alg": k.key().algorithm().jose_name(),
                "state": state_name(k.state()),
                "created_at": time(Some(k.created_at())),
                "activated_at": time(k.activated_at()),
                "retired_at": time(k.retired_at()),
            })
        })
        .collect();
    Ok(Json(json!({ "keys": keys })))
}

/// Rotate the signing keys
///
/// The next key becomes current. Tokens already issued stay valid: the old key stays
/// published until they expire.
#[utoipa::path(
    post,
    path = "/admin/keys/rotate",
    operation_id = "adminRotateKeys",
    tag = "admin",
    responses(
        (status = 200, description = "The new current key", body = crate::openapi::RotatedKey),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = ["admin"]))
)]
async fn rotate_keys(
    State(state): State<AppState>,
    bearer: Bearer,
) -> Result<Json<Value>, ApiError> {
    bearer.require(ADMIN)?;
    let kid = state.tessera.rotate_keys().await?;
    Ok(Json(json!({ "kid": kid })))
}

fn user_id(id: &str) -> Result<UserId, ApiError> {
    UserId::parse(id).ok_or_else(ApiError::not_found)
}

/// Force a user's logout
///
/// Every session and token family of the user is revoked.
#[utoipa::path(
    post,
    path = "/admin/users/{id}/logout-all",
    operation_id = "adminLogoutAll",
    tag = "admin",
    params(("id" = String, Path, description = "The user id")),
    responses(
        (status = 204, description = "Logged out everywhere"),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = ["admin"]))
)]
async fn logout_all(
    State(state): State<AppState>,
    bearer: Bearer,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    bearer.require(ADMIN)?;
    state.tessera.log_out_everywhere(&user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disable a user
///
/// The user's sessions and tokens die and login is refused.
#[utoipa::path(
    post,
    path = "/admin/users/{id}/disable",
    operation_id = "adminDisableUser",
    tag = "admin",
    params(("id" = String, Path, description = "The user id")),
    responses(
        (status = 204, description = "Disabled"),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = ["admin"]))
)]
async fn disable(
    State(state): State<AppState>,
    bearer: Bearer,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    bearer.require(ADMIN)?;
    state.tessera.disable_user(&user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
