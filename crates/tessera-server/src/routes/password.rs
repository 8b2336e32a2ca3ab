//! `POST /v1/password`: change the caller's password, ending their other sessions.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;
use crate::payload::JsonBody;
use crate::session_auth::SessionAuth;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/password", post(change))
}

#[derive(Deserialize)]
struct Change {
    current_password: String,
    new_password: String,
}

async fn change(
    State(state): State<AppState>,
    auth: SessionAuth,
    JsonBody(body): JsonBody<Change>,
) -> Result<StatusCode, ApiError> {
    let s = &auth.session;
    s.verify_csrf(auth.csrf_header.as_deref())?;
    let keep = s.record().id;
    state
        .tessera
        .change_password(s.user(), &body.current_password, &body.new_password, Some(&keep))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
