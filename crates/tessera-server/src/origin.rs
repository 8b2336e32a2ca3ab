//! The origin guard and CORS: which origins a browser may act from.
//!
//! The guard is the first CSRF layer, applied to every unsafe request: a
//! state-changing request whose `Origin` (or, absent that,
//! `Sec-Fetch-Site: cross-site`) shows another site is refused before any
//! handler runs, login and registration included (login CSRF). Requests with
//! neither header are not browser cross-site requests and pass.
//!
//! CORS answers a preflight only where a browser sends one: an `OPTIONS` with
//! `Origin` and `Access-Control-Request-Method`, on an endpoint other than the
//! gateway's `/v1/verify`. Any other `OPTIONS` reaches the router like any
//! other method, so it is authenticated (or refused) by the endpoint's own
//! rules: Envoy's `ext_authz` forwards the client's method, and an `OPTIONS`
//! answered 200 by CORS would pass an unauthenticated request upstream.

use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tessera_core::csrf::OriginPolicy;
use tower::util::Either;
use tower::util::future::EitherResponseFuture;
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

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
/// exactly (never `*`, never `null`), with `Vary: Origin`. Browser preflights
/// are answered here (see [`BrowserCorsLayer`] for which requests are
/// preflights); the origin guard still refuses cross-origin unsafe requests
/// that skip the preflight.
pub fn cors(origins: &OriginPolicy) -> BrowserCorsLayer {
    BrowserCorsLayer(cors_layer(origins))
}

fn cors_layer(origins: &OriginPolicy) -> CorsLayer {
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

/// Whether `req` is a CORS preflight this server answers: `OPTIONS` with
/// `Origin` and `Access-Control-Request-Method` (what a browser sends, per
/// the Fetch standard), on any path but the gateway's `/v1/verify`, which
/// answers every method by its own rules (a browser never needs to preflight
/// it: gateways call it, and a page's simple GET needs no preflight).
/// Paths below it count too: Envoy's `ext_authz` appends the original path
/// to its `path_prefix`, and a gateway takes any 2xx as "let it through".
fn answers_preflight(req: &Request) -> bool {
    req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ORIGIN)
        && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        && !is_gateway_path(req.uri().path())
}

/// `/v1/verify` and every path below it.
fn is_gateway_path(path: &str) -> bool {
    path.strip_prefix(crate::routes::verify::PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// tower-http's [`CorsLayer`] answers every `OPTIONS` itself with 200, as a
/// preflight, before any handler runs. This layer gives it only the requests
/// CORS is for: browser preflights (see [`answers_preflight`]) and the
/// non-`OPTIONS` requests whose responses it adds `Access-Control-*`
/// headers to. Every other `OPTIONS` goes to the router untouched.
#[derive(Clone, Debug)]
pub struct BrowserCorsLayer(CorsLayer);

impl<S: Clone> Layer<S> for BrowserCorsLayer {
    type Service = BrowserCors<S>;

    fn layer(&self, inner: S) -> BrowserCors<S> {
        BrowserCors { cors: self.0.layer(inner.clone()), inner }
    }
}

/// The service [`BrowserCorsLayer`] builds: `cors` for what CORS is for,
/// `inner` (the same service, without CORS) for any other `OPTIONS`.
#[derive(Clone, Debug)]
pub struct BrowserCors<S> {
    cors: Cors<S>,
    inner: S,
}

impl<S, B> Service<Request> for BrowserCors<S>
where
    S: Service<Request, Response = axum::http::Response<B>> + Clone,
    B: Default,
{
    type Response = axum::http::Response<B>;
    type Error = S::Error;
    type Future = EitherResponseFuture<<Cors<S> as Service<Request>>::Future, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Either may take the request: both must be ready.
        match self.cors.poll_ready(cx)? {
            Poll::Ready(()) => self.inner.poll_ready(cx),
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let mut either: Either<&mut Cors<S>, &mut S> =
            if req.method() != Method::OPTIONS || answers_preflight(&req) {
                Either::Left(&mut self.cors)
            } else {
                Either::Right(&mut self.inner)
            };
        either.call(req)
    }
}
