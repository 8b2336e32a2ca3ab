//! When a request arrived: the first thing a refresh handler extracts.
//!
//! The refresh arrival rule (see `tessera_core::refresh`) compares this
//! moment with the commit of the rotation that consumed the presented token,
//! so it is read from the core's clock before the body is read, the client
//! authenticated or any store touched. Put it first after `State` in a
//! handler's arguments: axum runs extractors in order.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tessera_core::Moment;

use crate::AppState;

/// The moment the handler started on the request.
#[derive(Debug, Clone, Copy)]
pub struct Arrival(pub Moment);

impl FromRequestParts<AppState> for Arrival {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(state.tessera.clock().moment()))
    }
}
