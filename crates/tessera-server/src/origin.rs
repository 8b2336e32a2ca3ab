//! The origin guard: the first CSRF layer, applied to every unsafe request.
//!
//! A state-changing request whose `Origin` (or, absent that,
//! `Sec-Fetch-Site: cross-site`) shows another site is refused before any
//! handler runs, login and registration included (login CSRF). Requests with
//! neither header are not browser cross-site requests and pass.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

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
