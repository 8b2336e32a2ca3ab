//! The origin guard: the first CSRF layer, applied to every unsafe request.
//!
//! A state-changing request whose `Origin` (or, absent that,
//! `Sec-Fetch-Site: cross-site`) shows another site is refused before any
//! handler runs, login and registration included (login CSRF). Requests with
//! neither header are not browser cross-site requests and pass.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tessera_core::csrf::OriginPolicy;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::AppState;
use crate::error::ApiError;

/// Middleware: refuses cross-origin unsafe requests with 403 `csrf_failed`.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method().is_safe() {
        return next.run(req).await;
    }
    let checked = {
        let headers = req.headers();
        // A header that is not visible ASCII cannot name an allowed origin.
        let get = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
        state.config.origins.check(get("origin"), get("sec-fetch-site"))
    };
    match checked {
        Ok(()) => next.run(req).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// CORS with credentials for the allowed origins only: each is echoed
/// exactly (never `*`, never `null`), with `Vary: Origin`. Preflights are
/// answered here; the origin guard still refuses cross-origin unsafe
/// requests that skip the preflight.
pub fn cors(origins: &OriginPolicy) -> CorsLayer {
    let allowed: Vec<HeaderValue> =
        origins.allowed().iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("x-csrf-token"),
        ])
        .expose_headers([header::WWW_AUTHENTICATE, header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}
