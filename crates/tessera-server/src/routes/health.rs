//! `/healthz` (the process serves) and `/readyz` (its stores answer).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

/// Liveness
///
/// 200 while the process serves, even when a store is down.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    responses((status = 200, description = "The process serves", body = crate::openapi::Status))
)]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness
///
/// 200 when every store the server needs answers; 503 while one does not, or while the
/// server is shutting down.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "health",
    responses(
        (status = 200, description = "Every store answers", body = crate::openapi::Status),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, Response> {
    // Shutting down: tell load balancers to stop routing here while
    // in-flight requests finish.
    if state.config.transport.draining.is_draining() {
        return Err(crate::listener::unavailable("the server is shutting down"));
    }
    state.tessera.check_ready().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready");
        ApiError::unavailable().into_response()
    })?;
    Ok(Json(json!({"status": "ok"})))
}
