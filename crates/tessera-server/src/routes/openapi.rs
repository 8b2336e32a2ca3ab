//! `GET /openapi.json`: the OpenAPI 3.1 document of every endpoint.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::AppState;
use crate::openapi::DOCUMENT;

pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(document))
}

/// The OpenAPI 3.1 document
///
/// This document. It carries no secret, so unlike every other response it may be cached.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "health",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document", body = Object,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
    )
)]
async fn document() -> Response {
    let cache = HeaderValue::from_static("public, max-age=300");
    ([(header::CACHE_CONTROL, cache)], Json(&*DOCUMENT)).into_response()
}
