//! The accept loop: hyper with explicit bounds, optional TLS, graceful shutdown.
//!
//! `axum::serve` does not expose hyper's connection settings, so the loop is
//! written out here to bound what a client can make the server hold:
//! - the header section (16 KiB, else 431);
//! - the number of open connections ([`Transport::max_connections`]): at the
//!   cap the loop stops accepting, so new clients wait in the kernel's backlog
//!   until a connection ends; nothing is dropped and nothing crashes;
//! - the TLS handshake ([`Transport::handshake_timeout`]), run in the
//!   connection's own task so that a slow handshake never stalls the loop;
//! - idleness ([`Transport::idle_timeout`]): HTTP/1 gets hyper's header-read
//!   timer, which runs whenever a connection waits for a request head (on
//!   connect and again after every response), so it bounds both a client
//!   trickling its headers and an idle keep-alive connection; every
//!   connection, HTTP/2 included, is also shut down gracefully once it has
//!   had no request in progress for that long;
//! - the time one request may take ([`Transport::request_timeout`], see
//!   [`request_timeout`]).
//!
//! Shutdown ([`run`]): readiness goes 503 ([`Draining`]), the listener is
//! closed so new connections are refused, every connection is asked to finish
//! (HTTP/1 after its current response, HTTP/2 with GOAWAY), and whatever is
//! still open after [`Transport::drain_timeout`] is dropped.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::error::ApiError;

/// Largest request header section (request line and headers), in bytes.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How connections are accepted, bounded and drained.
#[derive(Clone, Debug)]
pub struct Transport {
    /// Speak TLS with this configuration (see [`crate::tls::load`]); `None`
    /// serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Most connections open at once (default 10,000). At the cap the server
    /// stops accepting until one closes.
    pub max_connections: usize,
    /// Time a client has to complete the TLS handshake (default 10 s).
    pub handshake_timeout: Duration,
    /// Time a connection may go without a request in progress (default
    /// 10 s). For HTTP/1 it is also the time allowed to send a request head.
    pub idle_timeout: Duration,
    /// Longest one request may take, reading its body included (default
    /// 30 s); past it the answer is 503 `unavailable` with `Retry-After`.
    pub request_timeout: Duration,
    /// Once shutdown starts, time open connections get to finish (default 10 s).
    pub drain_timeout: Duration,
    /// Raised when shutdown starts; `/readyz` answers 503 from then on.
    pub draining: Draining,
}

impl Default for Transport {
    fn default() -> Self {
        Self {
            tls: None,
            max_connections: 10_000,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            draining: Draining::default(),
        }
    }
}

/// Whether the server is shutting down: shared by the accept loop, which
/// raises it, and `/readyz`, which reads it.
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// `true` once shutdown has started.
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Marks the server as shutting down (readiness 503). [`run`] does this
    /// itself when its shutdown future resolves.
    pub fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Middleware: answers 503 `unavailable` (with `Retry-After`) when the rest
/// of the stack takes longer than `limit`. The handler's future is dropped,
/// as when a client disconnects; store writes are single statements or
/// transactions, so nothing is left half-written.
///
/// 503 rather than 408: the bound covers the whole request, the server's own
/// work included, and `unavailable` is the contract's code for "retry
/// shortly"; 408 is not among the contract's codes and tells browsers to
/// silently retry on a new connection.
pub async fn request_timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(limit = ?limit, "request timed out");
            unavailable("the request took too long; retry shortly")
        }
    }
}

/// 503 `unavailable` with `Retry-After: 1` and the given description.
pub(crate) fn unavailable(description: &'static str) -> Response {
    let mut res =
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", description).into_response();
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
    res
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains (see
/// the module documentation).
pub async fn run(
    listener: TcpListener,
    router: Router,
    transport: Transport,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .max_buf_size(MAX_HEADER_BYTES)
        .timer(TokioTimer::new())
        .header_read_timeout(transport.idle_timeout);
    builder.http2().timer(TokioTimer::new()).max_header_list_size(MAX_HEADER_BYTES as u32);
    let (stop_tx, stop) = watch::channel(false);
    let shared = Arc::new(Shared {
        builder,
        router,
        acceptor: transport.tls.clone().map(TlsAcceptor::from),
        handshake_timeout: transport.handshake_timeout,
        idle_timeout: transport.idle_timeout,
        drain_timeout: transport.drain_timeout,
        stop,
    });
    let slots = Arc::new(Semaphore::new(transport.max_connections.max(1)));
    let mut connections = JoinSet::new();
    let mut cap_warned: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        // Reap finished connection tasks (their slots are already free).
        while connections.try_join_next().is_some() {}
        // At most one warning every 10 s while the cap is being hit.
        if slots.available_permits() == 0
            && cap_warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(10))
        {
            cap_warned = Some(Instant::now());
            tracing::warn!(
                max = transport.max_connections,
                "connection cap reached; not accepting until a connection closes"
            );
        }
        let permit = tokio::select! {
            Ok(permit) = Arc::clone(&slots).acquire_owned() => permit,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        connections.spawn(connection(Arc::clone(&shared), stream, peer, permit));
    }
    // Readiness first, then refuse new connections, then ask the open ones
    // to finish.
    transport.draining.start();
    drop(listener);
    let _ = stop_tx.send(true);
    let open = connections.len();
    tracing::info!(open, "draining connections");
    let drained = tokio::time::timeout(transport.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections did not finish within the drain timeout; closing them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// What every connection task needs.
struct Shared {
    builder: Builder<TokioExecutor>,
    router: Router,
    acceptor: Option<TlsAcceptor>,
    handshake_timeout: Duration,
    idle_timeout: Duration,
    drain_timeout: Duration,
    /// Becomes `true` when the server shuts down.
    stop: watch::Receiver<bool>,
}

/// One connection, from TLS handshake to close. Holds its slot until it ends.
async fn connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    _slot: OwnedSemaphorePermit,
) {
    let Some(acceptor) = &shared.acceptor else {
        return serve_io(&shared, stream, peer).await;
    };
    let mut stop = shared.stop.clone();
    let handshake = tokio::time::timeout(shared.handshake_timeout, acceptor.accept(stream));
    let tls = tokio::select! {
        tls = handshake => tls,
        _ = stop.wait_for(|stopping| *stopping) => return,
    };
    match tls {
        Ok(Ok(stream)) => serve_io(&shared, stream, peer).await,
        Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// HTTP/1 or HTTP/2 (whichever the client speaks) over `io` until the client
/// leaves, the connection idles out, or shutdown.
async fn serve_io<S>(shared: &Shared, io: S, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let service = {
        let router = shared.router.clone();
        let activity = Arc::clone(&activity);
        tower::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let busy = activity.begin();
            let router = router.clone();
            async move {
                let res = router.oneshot(req).await;
                drop(busy);
                res
            }
        })
    };
    let conn = shared
        .builder
        .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service))
        .into_owned();
    tokio::pin!(conn);
    let mut stop = shared.stop.clone();
    // Once a graceful close is asked for, the connection gets the drain
    // timeout to finish before it is dropped.
    let mut closing: Option<Instant> = None;
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            () = activity.idle(shared.idle_timeout), if closing.is_none() => {
                tracing::debug!(%peer, "idle connection; closing");
                conn.as_mut().graceful_shutdown();
                closing = Some(Instant::now() + shared.drain_timeout);
            }
            _ = stop.wait_for(|stopping| *stopping), if closing.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing = Some(Instant::now() + shared.drain_timeout);
            }
            () = tokio::time::sleep_until(closing.unwrap_or_else(Instant::now)), if closing.is_some() => {
                tracing::debug!(%peer, "connection did not close in time; dropping it");
                return;
            }
        }
    }
}

/// Requests in progress on one connection, and when the last one ended.
#[derive(Debug)]
struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `start` at which the connection last became idle.
    idle_since_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(Arc::clone(self))
    }

    /// Resolves once no request has been in progress for `limit`, counted
    /// from the end of the last one (or from connect). While requests run it
    /// sleeps `limit` and looks again.
    async fn idle(&self, limit: Duration) {
        loop {
            let wait = if self.in_flight.load(Ordering::SeqCst) > 0 {
                limit
            } else {
                let since = Duration::from_millis(self.idle_since_ms.load(Ordering::SeqCst));
                let deadline = self.start + since + limit;
                let now = Instant::now();
                if now >= deadline {
                    return;
                }
                deadline - now
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// One request in progress; ends (even if the request is cancelled) on drop.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        // Stamp before decrementing: whoever sees zero sees the fresh stamp.
        self.0.idle_since_ms.store(ms, Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::body::Body;
    use axum::routing::{get, post};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::*;

    fn router() -> Router {
        Router::new()
            .route("/x", get(|| async { "ok" }))
            .route("/echo", post(|body: String| async move { body }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
    }

    struct Running {
        addr: SocketAddr,
        stop: Option<oneshot::Sender<()>>,
        task: JoinHandle<std::io::Result<()>>,
    }

    impl Running {
        async fn stop(mut self) {
            let _ = self.stop.take().unwrap().send(());
            tokio::time::timeout(Duration::from_secs(5), self.task)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        }
    }

    async fn start(transport: Transport) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, router(), transport, async {
            let _ = rx.await;
        }));
        Running { addr, stop: Some(tx), task }
    }

    /// Reads from `stream` until `needle` has arrived (or `limit` passes).
    async fn read_until<S: AsyncRead + Unpin>(stream: &mut S, needle: &[u8]) -> Vec<u8> {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        tokio::time::timeout(Duration::from_secs(5), async {
            while !seen.windows(needle.len()).any(|w| w == needle) {
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed before {:?}", String::from_utf8_lossy(needle));
                seen.extend_from_slice(&buf[..n]);
            }
        })
        .await
        .unwrap();
        seen
    }

    /// Reads until the peer closes; returns what came and how long it took.
    async fn read_to_close<S: AsyncRead + Unpin>(stream: &mut S) -> (Vec<u8>, Duration) {
        let start = Instant::now();
        let mut seen = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut seen))
            .await
            .expect("the server closes the connection");
        (seen, start.elapsed())
    }

    const GET_X: &[u8] = b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n";

    #[tokio::test]
    async fn at_the_connection_cap_the_next_client_waits_for_a_slot() {
        let server = start(Transport { max_connections: 1, ..Transport::default() }).await;
        let mut first = TcpStream::connect(server.addr).await.unwrap();
        first.write_all(GET_X).await.unwrap();
        read_until(&mut first, b"\r\n\r\nok").await;

        // Connecting succeeds (the kernel's backlog) but nobody serves it.
        let mut second = TcpStream::connect(server.addr).await.unwrap();
        second.write_all(GET_X).await.unwrap();
        let mut byte = [0u8; 1];
        let waited = tokio::time::timeout(Duration::from_millis(300), second.read(&mut byte)).await;
        assert!(waited.is_err(), "served past the cap");

        drop(first);
        read_until(&mut second, b"\r\n\r\nok").await;
        server.stop().await;
    }

    #[tokio::test]
    async fn idle_http1_keep_alive_connection_is_closed() {
        let idle = Duration::from_millis(300);
        let server = start(Transport { idle_timeout: idle, ..Transport::default() }).await;
        let mut conn = TcpStream::connect(server.addr).await.unwrap();
        conn.write_all(GET_X).await.unwrap();
        read_until(&mut conn, b"\r\n\r\nok").await;
        let (rest, took) = read_to_close(&mut conn).await;
        assert!(rest.is_empty(), "{rest:?}");
        assert!(took >= idle - Duration::from_millis(50), "closed after {took:?}");
        server.stop().await;
    }

    #[tokio::test]
    async fn idle_http2_connection_gets_goaway_and_is_closed() {
        let idle = Duration::from_millis(300);
        let transport = Transport {
            idle_timeout: idle,
            drain_timeout: Duration::from_millis(300),
            ..Transport::default()
        };
        let server = start(transport).await;
        let mut conn = TcpStream::connect(server.addr).await.unwrap();
        // Prior-knowledge HTTP/2: the preface and an empty SETTINGS frame,
        // then silence.
        conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
        conn.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
        let (bytes, took) = read_to_close(&mut conn).await;
        let mut frame_types = Vec::new();
        let mut at = 0;
        while at + 9 <= bytes.len() {
            let len = usize::from(bytes[at]) << 16
                | usize::from(bytes[at + 1]) << 8
                | usize::from(bytes[at + 2]);
            frame_types.push(bytes[at + 3]);
            at += 9 + len;
        }
        assert!(frame_types.contains(&7), "a GOAWAY frame: {frame_types:?}");
        assert!(took >= idle - Duration::from_millis(50), "closed after {took:?}");
        server.stop().await;
    }

    #[tokio::test]
    async fn shutdown_raises_draining_refuses_new_connections_and_finishes_requests() {
        let transport = Transport::default();
        let draining = transport.draining.clone();
        let server = start(transport).await;
        let addr = server.addr;
        // A request in progress: headers sent, body not yet.
        let mut busy = TcpStream::connect(addr).await.unwrap();
        busy.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!draining.is_draining());

        let stopping = tokio::spawn(server.stop());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(draining.is_draining());
        assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
        busy.write_all(b"hi").await.unwrap();
        // Answered in full, then the connection is closed.
        let (answer, _) = read_to_close(&mut busy).await;
        let answer = String::from_utf8(answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("\r\n\r\nhi"), "{answer}");
        stopping.await.unwrap();
    }

    #[tokio::test]
    async fn request_timeout_is_503_unavailable_with_retry_after() {
        let app = router().layer(axum::middleware::from_fn_with_state(
            Duration::from_millis(50),
            request_timeout,
        ));
        let req = hyper::Request::get("/slow").body(Body::empty()).unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "unavailable");
        assert!(body["error_description"].as_str().unwrap().contains("too long"));
        let req = hyper::Request::get("/x").body(Body::empty()).unwrap();
        assert_eq!(app.oneshot(req).await.unwrap().status(), StatusCode::OK);
    }

    fn tls_pair() -> (rcgen::CertifiedKey<rcgen::KeyPair>, Arc<rustls::ServerConfig>) {
        let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(pair.signing_key.serialize_der().into());
        let config = crate::tls::config(vec![pair.cert.der().clone()], key).unwrap();
        (pair, config)
    }

    #[tokio::test]
    async fn stalled_tls_handshake_times_out_without_blocking_others() {
        let (pair, config) = tls_pair();
        let transport = Transport {
            tls: Some(config),
            handshake_timeout: Duration::from_millis(300),
            ..Transport::default()
        };
        let server = start(transport).await;
        // Connects and says nothing.
        let mut stalled = TcpStream::connect(server.addr).await.unwrap();

        // Meanwhile a real client is served.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pair.cert.der().clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        tls.write_all(GET_X).await.unwrap();
        read_until(&mut tls, b"\r\n\r\nok").await;

        let (_, took) = read_to_close(&mut stalled).await;
        assert!(took < Duration::from_secs(2), "stalled handshake dropped after {took:?}");
        server.stop().await;
    }
}
