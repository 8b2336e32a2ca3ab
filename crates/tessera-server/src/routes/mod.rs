//! One module per resource; [`router`] assembles them.

mod health;
mod password;
mod session;
mod users;

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
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
}
