//! One module per resource; [`router`] assembles them.

mod admin;
mod devices;
mod discovery;
mod health;
mod hybrid;
mod oauth;
mod password;
mod session;
mod token;
mod users;
mod verify;

use axum::Router;

use crate::AppState;
use crate::error::ApiError;

/// Every route, with 404 and 405 in the contract's error shape.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(health::routes())
        .merge(users::routes())
        .merge(password::routes())
        .merge(session::routes())
        .merge(token::routes())
        .merge(hybrid::routes())
        .merge(oauth::routes())
        .merge(discovery::routes())
        .merge(admin::routes())
        .merge(verify::routes())
        .merge(devices::routes())
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
}
