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

/// A new account.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewUser {
    /// 1 to 64 of `A-Z a-z 0-9 . _ @ -`; unique case-insensitively.
    #[schema(examples("alice"), pattern = "^[A-Za-z0-9._@-]{1,64}$")]
    username: String,
    /// At least 8 characters (configurable), at most 1024 bytes, not a common password.
    /// Checked exactly as given.
    #[schema(examples("correct horse battery staple"))]
    password: String,
}

/// The created account.
#[derive(Serialize, utoipa::ToSchema)]
struct Created {
    #[schema(value_type = String, format = "uuid")]
    id: UserId,
    #[schema(value_type = String)]
    username: Username,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
}

/// Register an account
///
/// Self-registration; operators can close it (then 403 `forbidden`).
#[utoipa::path(
    post,
    path = "/v1/users",
    operation_id = "register",
    tag = "accounts",
    request_body(content = NewUser, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Created),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 409, description = "`conflict`: the username is taken", body = crate::openapi::ErrorBody),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn register(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let User { id, username, created_at, .. } =
        state.tessera.register(&body.username, &body.password).await?;
    Ok((StatusCode::CREATED, Json(Created { id, username, created_at })))
}
