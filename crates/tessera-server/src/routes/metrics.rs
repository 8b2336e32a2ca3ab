//! `/metrics`: Prometheus text exposition of this process's counters.
//!
//! Recorded per request (by [`track`], a route layer): the count and latency
//! of requests by route template and status. Read at scrape time: whether
//! this node's revocation state is known current (`tessera_revocations_trusted`).
//! Scrape every node's own address; the gateway examples do not expose it.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, PoisonError, RwLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

const REQUESTS: &str = "tessera_http_requests_total";
const DURATION: &str = "tessera_http_request_duration_seconds";
/// Latency buckets, seconds: the verify hot path sits in the first few.
const BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

/// The process-wide recorder, installed on first use. If the embedding
/// program installed a `metrics` recorder of its own, ours only renders what
/// it can see (nothing): its recorder keeps the counts.
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
        }
        handle
    })
}

/// Counts and times every routed request. A route layer, so the label is the
/// route template (`/v1/sessions/{id}`), never a raw path: bounded
/// cardinality, and no ids in metrics.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    if let Some(route) = route {
        record(route.as_str(), response.status().as_u16(), started.elapsed().as_secs_f64());
    }
    response
}

/// One route template's handles: its latency histogram and a counter per
/// status seen so far.
struct RouteHandles {
    duration: Histogram,
    requests: Vec<(u16, Counter)>,
}

/// Handles by route template, registered with the recorder once per route
/// and status, so a request records without building label strings or
/// looking its key up in the registry. Bounded: route templates and status
/// codes are both few.
static HANDLES: LazyLock<RwLock<HashMap<Box<str>, RouteHandles>>> = LazyLock::new(RwLock::default);

fn record(route: &str, status: u16, seconds: f64) {
    {
        let handles = HANDLES.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(handles) = handles.get(route)
            && let Some((_, requests)) = handles.requests.iter().find(|(s, _)| *s == status)
        {
            requests.increment(1);
            handles.duration.record(seconds);
            return;
        }
    }
    let mut all = HANDLES.write().unwrap_or_else(PoisonError::into_inner);
    let handles = all.entry(route.into()).or_insert_with(|| RouteHandles {
        duration: metrics::histogram!(DURATION, "route" => route.to_owned()),
        requests: Vec::new(),
    });
    let requests = match handles.requests.iter().position(|(s, _)| *s == status) {
        Some(i) => &handles.requests[i].1,
        None => {
            let counter = metrics::counter!(REQUESTS, "route" => route.to_owned(), "status" => status.to_string());
            handles.requests.push((status, counter));
            &handles.requests[handles.requests.len() - 1].1
        }
    };
    requests.increment(1);
    handles.duration.record(seconds);
}

/// Installs the recorder (so the first scrape is not empty of help text).
pub fn install() {
    handle();
}

/// Metrics
///
/// Prometheus text format: request counts and latencies by route and status,
/// and this node's revocation freshness.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "health",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String))
)]
pub(crate) async fn render(State(state): State<AppState>) -> Response {
    let trusted = if state.tessera.revocations_trusted() { 1.0 } else { 0.0 };
    metrics::gauge!("tessera_revocations_trusted").set(trusted);
    let body = handle().render();
    let content_type = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_counts_each_status_of_a_route_with_its_kept_handles() {
        install();
        for status in [200, 200, 404, 200] {
            record("/unit/{id}", status, 0.000_2);
        }
        let text = handle().render();
        assert!(
            text.contains(r#"tessera_http_requests_total{route="/unit/{id}",status="200"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"tessera_http_requests_total{route="/unit/{id}",status="404"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"tessera_http_request_duration_seconds_count{route="/unit/{id}"} 4"#),
            "{text}"
        );
        let kept = HANDLES.read().unwrap();
        assert_eq!(kept["/unit/{id}"].requests.len(), 2);
    }
}
