//! `POST /v1/password`: change the caller's password, ending their other
//! sessions and token families. Any credential; CSRF when by cookie (checked
//! by [`Authenticated`]).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use tessera_core::Error;

use crate::AppState;
use crate::error::ApiError;
use crate::payload::JsonBody;
use crate::principal::{Authenticated, Credential};

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
    auth: Authenticated,
    JsonBody(body): JsonBody<Change>,
) -> Result<StatusCode, ApiError> {
    let user = match &auth.credential {
        Credential::Session(s) => s.user().clone(),
        _ => state
            .tessera
            .find_user(&auth.user_id)
            .await?
            .ok_or(Error::Unauthorized("user deleted"))?,
    };
    state
        .tessera
        .change_password(&user, &body.current_password, &body.new_password, auth.current())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
