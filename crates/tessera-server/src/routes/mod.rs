//! One module per resource; [`router`] assembles them.

pub(crate) mod admin;
pub(crate) mod devices;
pub(crate) mod discovery;
pub(crate) mod health;
pub(crate) mod hybrid;
pub(crate) mod metrics;
pub(crate) mod oauth;
pub(crate) mod openapi;
pub(crate) mod password;
pub(crate) mod session;
pub(crate) mod token;
pub(crate) mod users;
pub(crate) mod verify;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::AppState;
use crate::error::ApiError;

/// The `{id}` of a path. axum's own `Path` rejects a segment that is not
/// UTF-8 with a `text/plain` 400; such an id names nothing, so this is 404
/// `not_found` in the contract's shape, like any other unknown id.
pub(crate) struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(Self(id)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::not_found()),
            Err(e) => Err(tessera_core::Error::Internal(format!("path parameters: {e}")).into()),
        }
    }
}

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
        .merge(openapi::routes())
        .merge(admin::routes())
        .merge(verify::routes())
        .merge(devices::routes())
        .merge(metrics::routes())
        // Route layer: runs after routing, so it sees the route template.
        .route_layer(axum::middleware::from_fn(metrics::track))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
}
