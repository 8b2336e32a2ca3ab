//! Tessera's HTTP adapter.
//!
//! [`app`] builds the axum router over an [`AppState`]; [`serve`] runs it on a
//! listener it is given until a shutdown future resolves, so tests drive a
//! real server on port 0. Handlers are thin: extract, call the core, map the
//! result. Every error leaves through [`ApiError`] in the contract's shape.
#![deny(missing_docs)]

mod background;
mod bearer;
mod client;
pub mod config;
mod cookie;
mod error;
mod listener;
mod origin;
mod payload;
mod principal;
mod routes;
mod session_auth;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use tessera_core::Tessera;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;

pub use background::{spawn_revocation_watcher, spawn_session_sweeper};
pub use config::ServerConfig;
pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The core service.
    pub tessera: Arc<Tessera>,
    /// HTTP-level settings.
    pub config: Arc<ServerConfig>,
}

/// The whole HTTP surface.
pub fn app(state: AppState) -> Router {
    let static_header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    routes::router()
        .layer(axum::middleware::from_fn_with_state(state.clone(), origin::guard))
        .layer(origin::cors(&state.config.origins))
        // Responses may carry secrets (cookies, CSRF tokens, session data):
        // nothing here is cacheable unless a handler says otherwise.
        .layer(static_header(header::CACHE_CONTROL, "no-store"))
        .layer(static_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(static_header(header::REFERRER_POLICY, "no-referrer"))
        .layer(static_header(header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"))
        .with_state(state)
}

/// Serves [`app`] on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish. Header sections are capped at 16 KiB (431).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener::run(listener, app(state), shutdown).await
}
