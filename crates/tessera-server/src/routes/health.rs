//! `/healthz` (the process serves) and `/readyz` (its stores answer).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.tessera.check_ready().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready");
        ApiError::unavailable()
    })?;
    Ok(Json(json!({"status": "ok"})))
}
