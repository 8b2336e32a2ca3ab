//! `POST /v1/users`: self-registration.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tessera_core::Timestamp;
use tessera_core::user::{User, UserId, Username};

use crate::AppState;
use crate::error::ApiError;
use crate::payload::JsonBody;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/users", post(register))
}

#[derive(Deserialize)]
struct NewUser {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct Created {
    id: UserId,
    username: Username,
    created_at: Timestamp,
}

async fn register(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let User { id, username, created_at, .. } =
        state.tessera.register(&body.username, &body.password).await?;
    Ok((StatusCode::CREATED, Json(Created { id, username, created_at })))
}
