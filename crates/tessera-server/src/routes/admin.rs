//! Administration, for bearer tokens with the `admin` scope: keys and users.

use axum::extract::{Path, State};
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

async fn logout_all(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    bearer.require(ADMIN)?;
    state.tessera.log_out_everywhere(&user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn disable(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    bearer.require(ADMIN)?;
    state.tessera.disable_user(&user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
