//! Answering 503 at once while a store is known to be down.
//!
//! The revocation poll (see `background::spawn_revocation_watcher`) learns
//! within a poll interval or two that a store stopped answering. From then
//! until a poll succeeds, every endpoint that needs a store is answered 503
//! `unavailable` with `Retry-After` before it is run: no request waits out a
//! connection pool's timeout, and none is answered from caches that can no
//! longer learn of revocations.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tessera_core::Error;
use tessera_core::store::StoreError;

use crate::AppState;
use crate::error::ApiError;

/// Endpoints that need no store: liveness, readiness (which answers 503
/// itself), metrics, and documents served from memory.
fn needs_no_store(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics" | "/openapi.json")
        || path.starts_with("/.well-known/")
}

/// Middleware: 503 at once for store-bound endpoints while the stores are
/// known down.
pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.tessera.stores_known_down() && !needs_no_store(req.uri().path()) {
        let down = std::io::Error::other("a store is known to be down");
        return ApiError::from(Error::Store(StoreError::Unavailable(Box::new(down))))
            .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::needs_no_store;

    #[test]
    fn gate_lets_storeless_endpoints_through_only() {
        for path in ["/healthz", "/readyz", "/metrics", "/.well-known/jwks.json"] {
            assert!(needs_no_store(path), "{path}");
        }
        for path in ["/v1/verify", "/oauth/revoke", "/v1/session", "/healthzz", "/"] {
            assert!(!needs_no_store(path), "{path}");
        }
    }
}
