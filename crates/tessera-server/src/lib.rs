//! Tessera's HTTP adapter.
//!
//! [`app`] builds the axum router over an [`AppState`]; [`serve`] runs it on a
//! listener it is given until a shutdown future resolves, so tests drive a
//! real server on port 0. Handlers are thin: extract, call the core, map the
//! result. Every error leaves through [`ApiError`] in the contract's shape.
#![deny(missing_docs)]

mod arrival;
mod availability;
mod background;
mod bearer;
mod client;
pub mod config;
mod cookie;
mod error;
mod listener;
mod openapi;
mod origin;
mod payload;
mod principal;
mod routes;
mod session_auth;
pub mod tls;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use tessera_core::Tessera;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::set_header::SetResponseHeaderLayer;

pub use background::{spawn_change_follower, spawn_revocation_watcher, spawn_session_sweeper};
pub use config::ServerConfig;
pub use error::ApiError;
pub use listener::{Draining, MAX_HEADER_BYTES, Transport};

/// The pure request-parsing functions, for the cargo-fuzz targets in `fuzz/`.
/// Stable only for fuzz targets: not part of Tessera's API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::bearer::basic_client;
    pub use crate::cookie::CookiePolicy;
    pub use crate::payload::{from_form, from_json};
}

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
    routes::metrics::install();
    let static_header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    // One layer of composed services rather than one `Router::layer` per
    // middleware: axum wraps every route anew (a boxed, cloned service) for
    // each `layer` call, which profiled at about a tenth of `/healthz`.
    // ServiceBuilder lists the outermost first.
    let hsts = state.config.hsts.then(|| {
        // HSTS only when this server itself speaks TLS (RFC 6797 §7.2: never
        // over plain HTTP, where an attacker could forge it anyway).
        static_header(header::STRICT_TRANSPORT_SECURITY, "max-age=63072000; includeSubDomains")
    });
    let middleware = ServiceBuilder::new()
        .option_layer(hsts)
        .layer(static_header(header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"))
        .layer(static_header(header::REFERRER_POLICY, "no-referrer"))
        .layer(static_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Responses may carry secrets (cookies, CSRF tokens, session data):
        // nothing here is cacheable unless a handler says otherwise.
        .layer(static_header(header::CACHE_CONTROL, "no-store"))
        .layer(origin::cors(&state.config.origins))
        .layer(axum::middleware::from_fn_with_state(state.clone(), origin::guard))
        .layer(axum::middleware::from_fn_with_state(state.clone(), availability::gate))
        // Innermost, so that a timed-out request's 503 still gets CORS and
        // the security headers above.
        .layer(axum::middleware::from_fn_with_state(
            state.config.transport.request_timeout,
            listener::request_timeout,
        ));
    let router = routes::router().layer(middleware);
    router.with_state(state)
}

/// Serves [`app`] on `listener` until `shutdown` resolves, over TLS when
/// `state.config.transport.tls` is set, within the bounds of
/// [`Transport`]. Header sections are capped at 16 KiB (431).
///
/// When `shutdown` resolves: `/readyz` turns 503, the listener closes, open
/// connections finish their requests (at most `drain_timeout`), and this
/// returns.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let transport = state.config.transport.clone();
    listener::run(listener, app(state), transport, shutdown).await
}
