//! A real Tessera server on port 0 over a real SQLite file, with a manual
//! clock, for the HTTP integration tests. Cookies are handled by hand so that
//! tests see (and can forge) exactly what a browser would send.
#![allow(dead_code, reason = "each test binary uses a different part of the harness")]
#![allow(clippy::unwrap_used, reason = "test harness: a panic is how a test reports failure")]

use std::sync::Arc;

use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use tessera_core::csrf::OriginPolicy;
use tessera_core::master_key::MasterKey;
use tessera_core::password::Argon2idHasher;
use tessera_core::service::{Registration, TesseraParts};
use tessera_core::session::SessionPolicy;
use tessera_core::token::TokenPolicy;
use tessera_core::{Duration, ManualClock, OsEntropy, Tessera, TesseraConfig, Timestamp};
use tessera_server::{AppState, ServerConfig};
use tokio::sync::oneshot;

pub mod counted;

/// The origin tests treat as the application's own.
pub const APP_ORIGIN: &str = "https://app.example.test";
/// A password that passes the default policy.
pub const PASSWORD: &str = "correct horse battery staple";
/// `iss` of the test server's tokens (fixed: the port is only known after bind).
pub const ISSUER: &str = "https://auth.example.test";
/// `aud` of the test server's access tokens.
pub const AUDIENCE: &str = "https://api.example.test";

/// How to start a test server.
#[derive(Clone, Debug)]
pub struct Options {
    pub idle_ttl: i64,
    pub absolute_ttl: i64,
    pub secure_cookies: bool,
    pub registration: Registration,
    pub data_limit: usize,
    pub body_limit: usize,
    /// Argon2 at production cost (m=19456, t=2) instead of a cheap one.
    pub real_argon2: bool,
    /// The signing algorithm of the key ring (token mode).
    pub algorithm: tessera_token::Algorithm,
    /// Access-token lifetime, in seconds.
    pub access_ttl: i64,
    /// The manual clock's start (Unix seconds).
    pub start_unix: i64,
    /// Login throttle: failures per account within the window. Generous by
    /// default, because most suites fail logins on purpose from one address;
    /// the throttle suite sets production values.
    pub login_max_failures: u32,
    /// Login throttle window, in seconds.
    pub login_window: i64,
    /// Trusted proxies (`TESSERA_TRUSTED_PROXIES` syntax).
    pub trusted_proxies: &'static str,
    /// The store (a `postgres://` URL to share it between servers); by
    /// default a fresh SQLite file in the server's directory.
    pub store_url: Option<String>,
    /// Most live logins per user (`TESSERA_MAX_LOGINS_PER_USER`).
    pub max_logins_per_user: usize,
    /// Sessions in Redis (`TESSERA_TEST_REDIS_URL`) under this key prefix,
    /// kept across [`TestServer::restart`]; `None`: in the SQLite store.
    pub redis_prefix: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            idle_ttl: 1800,
            absolute_ttl: 43_200,
            secure_cookies: true,
            registration: Registration::Open,
            data_limit: 16 * 1024,
            body_limit: 64 * 1024,
            real_argon2: false,
            algorithm: tessera_token::Algorithm::EdDSA,
            access_ttl: 900,
            start_unix: 1_790_000_000,
            login_max_failures: 10_000,
            login_window: 300,
            trusted_proxies: "",
            store_url: None,
            max_logins_per_user: 100,
            redis_prefix: None,
        }
    }
}

/// A running server.
pub struct TestServer {
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub tessera: Arc<Tessera>,
    pub http: reqwest::Client,
    pub db_path: std::path::PathBuf,
    cookie_name: &'static str,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
    master_key: MasterKey,
    options: Options,
    watcher: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(o: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix(o.start_unix)));
        Self::boot(o, dir, clock, MasterKey::generate(&OsEntropy)).await
    }

    /// Starts a server over the store in `dir`, creating it if absent.
    async fn boot(
        o: Options,
        dir: tempfile::TempDir,
        clock: Arc<ManualClock>,
        master_key: MasterKey,
    ) -> Self {
        let db_path = dir.path().join("tessera.db");
        let url = o.store_url.clone().unwrap_or_else(|| format!("sqlite://{}", db_path.display()));
        let mut stores = tessera_store::open(&url).await.unwrap();
        if let Some(prefix) = &o.redis_prefix {
            let settings = tessera_store::redis::RedisSettings {
                url: tessera_store::testing::redis_url(),
                prefix: prefix.clone(),
                idle_ttl: Duration::seconds(o.idle_ttl),
                absolute_ttl: Duration::seconds(o.absolute_ttl),
            };
            let key = tessera_store::redis::RecordKey::from_master(&master_key);
            stores = tessera_store::with_redis(stores, &settings, key).await.unwrap();
        }
        let hasher = if o.real_argon2 {
            Argon2idHasher::default()
        } else {
            Argon2idHasher::new(256, 1, 1).unwrap()
        };
        let tessera = Arc::new(
            Tessera::new(TesseraParts {
                stores,
                clock: clock.clone(),
                entropy: Arc::new(OsEntropy),
                hasher: Arc::new(hasher),
                hash_concurrency: 2,
                master_key: master_key.clone(),
                config: TesseraConfig {
                    session: SessionPolicy {
                        idle_ttl: Duration::seconds(o.idle_ttl),
                        absolute_ttl: Duration::seconds(o.absolute_ttl),
                        data_limit: o.data_limit,
                    },
                    registration: o.registration,
                    token: TokenPolicy {
                        issuer: ISSUER.to_owned(),
                        audience: AUDIENCE.to_owned(),
                        algorithm: o.algorithm,
                        access_ttl: Duration::seconds(o.access_ttl),
                        ..TokenPolicy::default()
                    },
                    throttle: tessera_core::throttle::ThrottlePolicy {
                        max_failures: o.login_max_failures,
                        window: Duration::seconds(o.login_window),
                        ..Default::default()
                    },
                    devices: tessera_core::device::DevicePolicy {
                        max_logins_per_user: o.max_logins_per_user,
                    },
                    // Like the throttle above: suites that fire many logins
                    // at once (the login cap's) are not about shedding, which
                    // throttle_http.rs tests with its own bound.
                    hash_queue: tessera_core::password::HashQueuePolicy { capacity: 1024 },
                    ..TesseraConfig::default()
                },
            })
            .await
            .unwrap(),
        );
        let mut config = ServerConfig::new(OriginPolicy::new([APP_ORIGIN]).unwrap());
        config.trusted_proxies =
            tessera_server::config::TrustedProxies::parse(o.trusted_proxies).unwrap();
        config.secure_cookies = o.secure_cookies;
        config.body_limit = o.body_limit;
        let state = AppState { tessera: tessera.clone(), config: Arc::new(config) };
        // As in `tessera serve`; aborted with the test's runtime (or on restart).
        let watcher = tessera_server::spawn_revocation_watcher(
            tessera.clone(),
            std::time::Duration::from_millis(100),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(tessera_server::serve(listener, state, async {
            let _ = rx.await;
        }));
        let cookie_name =
            if o.secure_cookies { "__Host-tessera_session" } else { "tessera_session" };
        let http =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self {
            base,
            clock,
            tessera,
            http,
            db_path,
            cookie_name,
            shutdown: Some(tx),
            _dir: dir,
            master_key,
            options: o,
            watcher: Some(watcher),
        }
    }

    /// Another node of the same deployment: the same store (set
    /// `store_url` to share one), master key and clock.
    pub async fn second_node(&self) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        Self::boot(self.options.clone(), dir, self.clock.clone(), self.master_key.clone()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// The session cookie's name in this server's mode.
    pub fn cookie_name(&self) -> &'static str {
        self.cookie_name
    }

    /// `Cookie` header value carrying `secret` as the session cookie.
    pub fn cookie(&self, secret: &str) -> String {
        format!("{}={secret}", self.cookie_name)
    }

    pub fn advance(&self, secs: i64) {
        self.clock.advance(Duration::seconds(secs));
    }

    /// Registers `username` with [`PASSWORD`]; panics unless 201.
    pub async fn register(&self, username: &str) -> Value {
        let res = self
            .req(Method::POST, "/v1/users")
            .json(&serde_json::json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "register {username}");
        res.json().await.unwrap()
    }

    /// Logs in with JSON; panics unless 200.
    pub async fn login(&self, username: &str, password: &str) -> Login {
        let res = self
            .req(Method::POST, "/v1/session/login")
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "login {username}");
        Login::from_response(self, res).await
    }

    /// Registers and logs in a fresh user.
    pub async fn user_session(&self, username: &str) -> Login {
        self.register(username).await;
        self.login(username, PASSWORD).await
    }

    /// `GET /v1/session` with `secret` as the cookie.
    pub async fn whoami(&self, secret: &str) -> Response {
        self.req(Method::GET, "/v1/session")
            .header("cookie", self.cookie(secret))
            .send()
            .await
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
    }
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct Login {
    pub secret: String,
    pub set_cookie: String,
    pub csrf: String,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Login {
    pub async fn from_response(server: &TestServer, res: Response) -> Self {
        let headers = res.headers().clone();
        let set_cookie = set_cookie(&headers, server.cookie_name()).expect("login sets the cookie");
        let secret = cookie_value(&set_cookie).to_owned();
        let body: Value = res.json().await.unwrap();
        let csrf = body["csrf_token"].as_str().unwrap().to_owned();
        Self { secret, set_cookie, csrf, body, headers }
    }
}

/// The `Set-Cookie` header for `name`, if any.
pub fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value part of a `Set-Cookie` header.
pub fn cookie_value(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap().split_once('=').unwrap().1
}

/// Asserts the contract's error shape and code; returns the body.
pub async fn assert_error(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status(), status, "status for expected {code}");
    let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(ct.as_deref(), Some("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 2, "exactly error and error_description: {body}");
    body
}

// ---- Helpers appended for the session, CSRF, accounts and edge suites. ----

/// A value shaped exactly like a session secret (43 base64url characters)
/// that the server never issued: what an attacker would plant.
pub fn forged_secret() -> String {
    tessera_core::secret::Secret::generate(&OsEntropy).expose().to_owned()
}

/// Whether `s` is 43 base64url characters (a 256-bit secret, no padding).
pub fn is_secret_shaped(s: &str) -> bool {
    s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `s` is an RFC 3339 UTC date-time ending in `Z`
/// (`YYYY-MM-DDTHH:MM:SS[.frac]Z`).
pub fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let fixed = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !fixed || b[b.len() - 1] != b'Z' {
        return false;
    }
    let frac = &b[19..b.len() - 1];
    frac.is_empty()
        || (frac.len() >= 2 && frac[0] == b'.' && frac[1..].iter().all(u8::is_ascii_digit))
}

/// Every header except `date`, as sorted (name, value bytes) pairs, for
/// comparing two responses that must be indistinguishable.
pub fn headers_without_date(h: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = h
        .iter()
        .filter(|(name, _)| name.as_str() != "date")
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    v.sort();
    v
}

impl TestServer {
    /// `PUT /v1/session/data` with `secret` as the cookie and `csrf` in `X-CSRF-Token`.
    pub async fn put_data(&self, secret: &str, csrf: &str, data: &Value) -> Response {
        self.req(Method::PUT, "/v1/session/data")
            .header("cookie", self.cookie(secret))
            .header("x-csrf-token", csrf)
            .json(data)
            .send()
            .await
            .expect("request failed")
    }

    /// `GET /v1/session/data` with `secret` as the cookie.
    pub async fn get_data(&self, secret: &str) -> Response {
        self.req(Method::GET, "/v1/session/data")
            .header("cookie", self.cookie(secret))
            .send()
            .await
            .expect("request failed")
    }

    /// `POST /v1/session/logout` with `secret` as the cookie and `csrf` in `X-CSRF-Token`.
    pub async fn logout(&self, secret: &str, csrf: &str) -> Response {
        self.req(Method::POST, "/v1/session/logout")
            .header("cookie", self.cookie(secret))
            .header("x-csrf-token", csrf)
            .send()
            .await
            .expect("request failed")
    }

    /// `POST /v1/session/login` with JSON; returns the raw response.
    pub async fn try_login(&self, username: &str, password: &str) -> Response {
        self.req(Method::POST, "/v1/session/login")
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("request failed")
    }

    /// `POST /v1/users` with JSON; returns the raw response.
    pub async fn try_register(&self, username: &str, password: &str) -> Response {
        self.req(Method::POST, "/v1/users")
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("request failed")
    }

    /// Asserts `GET /healthz` still answers 200 (the server survived).
    pub async fn assert_healthy(&self) {
        let res = self.req(Method::GET, "/healthz").send().await.expect("/healthz unreachable");
        assert_eq!(res.status(), 200, "server stopped answering /healthz");
    }
}

// ---- Helpers appended for the token-mode suites. ----

impl TestServer {
    /// Stops this server and starts a new one, as a process restart would: a
    /// new `Tessera` (key ring and revocation index reloaded from the store)
    /// and a new listener over the same SQLite file, master key, options and
    /// clock. Nothing in memory survives; only what the store holds does.
    pub async fn restart(mut self) -> TestServer {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
        // `self` implements Drop, so its fields are swapped out, not moved.
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap());
        let (options, clock, master_key) =
            (self.options.clone(), self.clock.clone(), self.master_key.clone());
        drop(self);
        Self::boot(options, dir, clock, master_key).await
    }

    /// Creates `username` (password [`PASSWORD`]) with `scope` directly in
    /// the core; returns the user id.
    pub async fn create_user(&self, username: &str, scope: &str) -> String {
        self.tessera.create_user(username, PASSWORD, scope).await.unwrap().id.to_string()
    }

    /// Registers a confidential client with `scope`; returns its secret.
    pub async fn confidential_client(&self, id: &str, scope: &str) -> String {
        let (_, secret) = self.tessera.register_client(id, true, scope).await.unwrap();
        secret.expect("a confidential client has a secret").expose().to_owned()
    }

    /// `POST /v1/token/login` as JSON with [`PASSWORD`] and an optional
    /// `scope`; panics unless 200. Returns the token response.
    pub async fn token_login(&self, username: &str, scope: Option<&str>) -> Value {
        let mut body = serde_json::json!({"username": username, "password": PASSWORD});
        if let Some(scope) = scope {
            body["scope"] = scope.into();
        }
        let res =
            self.req(Method::POST, "/v1/token/login").json(&body).send().await.expect("request");
        assert_eq!(res.status(), 200, "token login {username}");
        res.json().await.unwrap()
    }

    /// `POST /oauth/token` (form) with `grant_type=refresh_token` as the
    /// built-in public client.
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.req(Method::POST, "/oauth/token")
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
            .send()
            .await
            .expect("request failed")
    }

    /// `GET path` with `Authorization: Bearer token`.
    pub async fn bearer_get(&self, path: &str, token: &str) -> Response {
        self.req(Method::GET, path)
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .expect("request failed")
    }
}
