//! What the real-gateway tests (`nginx.rs`, `caddy.rs`) share: `tessera
//! serve` run with the example's own `tessera.toml`, a tiny upstream
//! application that echoes the headers it receives, a gateway process built
//! from the example file, and the scenarios every example must pass, asserted
//! as a client (or an attacker) sees them through the gateway.
//!
//! The gateway binaries come from Debian packages (`.ci/run` installs them).
//! A missing binary fails the test with the install command: these tests
//! never skip.
#![allow(dead_code, reason = "each test binary uses a different part of the harness")]
#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_tessera");
pub const PASSWORD: &str = "correct horse battery staple";
pub const USER: &str = "alice";

/// `name` on PATH or at `fallback`; panics with the Debian install command
/// when it is missing (a gateway test must run, never skip).
pub fn binary(name: &str, fallback: &str, package: &str) -> PathBuf {
    Command::new("which")
        .arg(name)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| !p.as_os_str().is_empty())
        .or_else(|| Some(PathBuf::from(fallback)).filter(|p| p.exists()))
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed (PATH, {fallback}): the {name} gateway tests need it. \
                 Install the Debian package: `apt-get install -y {package}` (.ci/run does it)."
            )
        })
}

/// `text` with `placeholder` (which must occur exactly once in `file`) replaced.
pub fn substitute(file: &str, text: &str, placeholder: &str, value: &str) -> String {
    assert_eq!(
        text.matches(placeholder).count(),
        1,
        "{file} must contain `{placeholder}` exactly once"
    );
    text.replacen(placeholder, value, 1)
}

/// A free local port (bound, read and released: the gateway takes it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `tessera serve` on a free port; killed on drop.
pub struct Tessera {
    child: Child,
    pub addr: String,
}

impl Tessera {
    /// Runs `tessera serve --config tessera.toml` in `dir`, the example's
    /// `settings` with only what its README tells a user to replace
    /// replaced: the listen address (a free port here) and the public URL
    /// (`public`, the gateway's own origin).
    pub fn start(dir: &Path, file: &str, settings: &str, public: &str) -> Self {
        let toml =
            substitute(file, settings, r#"listen = "127.0.0.1:8080""#, r#"listen = "127.0.0.1:0""#);
        let toml = substitute(
            file,
            &toml,
            r#"issuer = "https://app.example.com""#,
            &format!("issuer = \"{public}\""),
        );
        std::fs::write(dir.join("tessera.toml"), toml).unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--config", "tessera.toml"])
            .current_dir(dir)
            .env_clear()
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("tessera exited before serving").unwrap();
            if let Some(rest) = line.split("addr=").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Tessera {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `tessera user add NAME --password-stdin` on the server's store; the new id.
pub fn add_user(dir: &Path, name: &str) -> String {
    let mut child = Command::new(BIN)
        .args(["user", "add", name, "--password-stdin"])
        .current_dir(dir)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The protected application: answers every request with 200 and a JSON body
/// echoing the method, the URI and every header it received, so a test sees
/// exactly what the gateway passed on. Counts the requests that reached it.
pub struct Upstream {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Upstream {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || serve_connection(stream, &counter));
            }
        });
        Self { addr, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A minimal HTTP/1.1 responder: keep-alive, `Content-Length` request bodies
/// (what the gateways send with request buffering on, their default).
fn serve_connection(stream: TcpStream, hits: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let uri = parts.next().unwrap_or_default().to_owned();
        let mut headers = serde_json::Map::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else { continue };
            let (name, value) = (name.to_ascii_lowercase(), value.trim().to_owned());
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            }
            let values = headers.entry(name).or_insert_with(|| json!([]));
            values.as_array_mut().unwrap().push(Value::String(value));
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        hits.fetch_add(1, Ordering::SeqCst);
        let echo = json!({"method": method, "uri": uri, "headers": headers}).to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{echo}",
            echo.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// A gateway process in the foreground, listening on `base`; stopped on drop.
pub struct Gateway {
    child: Child,
    pub base: String,
    pub log: PathBuf,
}

impl Gateway {
    /// Spawns `cmd` and waits until it listens on 127.0.0.1:`port`.
    pub fn spawn(mut cmd: Command, port: u16, log: PathBuf) -> Self {
        let mut child = cmd.stdin(Stdio::null()).spawn().unwrap();
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&addr).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("the gateway exited ({status}) before listening on {addr}:\n{text}");
            }
            assert!(Instant::now() < deadline, "the gateway is not listening on {addr} after 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, base: format!("http://{addr}"), log }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: nginx's master then stops its workers, which
        // a killed master would leave running (and listening).
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a test starts its gateway: in `dir`, on `port`, in front of Tessera
/// at `tessera` and the application at `app`.
pub type StartGateway<'a> = &'a dyn Fn(&Path, u16, &str, SocketAddr) -> Gateway;

/// Tessera, the application and the gateway in front of both, with one user.
pub struct Stack {
    // Field order is drop order: the gateway first, the directory last.
    pub gateway: Gateway,
    pub tessera: Tessera,
    pub app: Upstream,
    pub user_id: String,
    pub dir: tempfile::TempDir,
}

impl Stack {
    /// `settings` is the example's `tessera.toml` (`file` names it in messages).
    pub fn start(file: &str, settings: &str, gateway: StartGateway<'_>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let tessera =
            Tessera::start(dir.path(), file, settings, &format!("http://127.0.0.1:{port}"));
        let user_id = add_user(dir.path(), USER);
        let app = Upstream::start();
        let gateway_dir = dir.path().join("gateway");
        std::fs::create_dir_all(&gateway_dir).unwrap();
        let gateway = gateway(&gateway_dir, port, &tessera.addr, app.addr);
        Self { gateway, tessera, app, user_id, dir }
    }

    /// A URL through the gateway.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.base)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        http().get(self.url(path))
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        http().post(self.url(path))
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        http().delete(self.url(path))
    }

    /// An access token from `/v1/token/login`, asked of Tessera directly.
    pub async fn access_token(&self) -> String {
        let res = http()
            .post(self.tessera.url("/v1/token/login"))
            .json(&json!({"username": USER, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Logs in through the gateway (Tessera's endpoints share the
    /// application's origin, as the `__Host-` cookies require), from that
    /// origin as a browser would: the `name=value` of cookie `cookie` and the
    /// CSRF token from the body.
    pub async fn cookie_login(&self, path: &str, cookie: &str) -> (String, String) {
        let res = self
            .post(path)
            .header("origin", &self.gateway.base)
            .json(&json!({"username": USER, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "login through the gateway at {path}");
        let pair = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().unwrap().split(';').next())
            .find(|pair| pair.starts_with(&format!("{cookie}=")))
            .unwrap_or_else(|| panic!("no {cookie} cookie set by {path}"))
            .to_owned();
        let body: Value = res.json().await.unwrap();
        (pair, body["csrf_token"].as_str().unwrap().to_owned())
    }

    /// Asserts the gateway answered `status` without the request reaching the application.
    pub async fn refused(
        &self,
        req: reqwest::RequestBuilder,
        status: u16,
        what: &str,
    ) -> reqwest::Response {
        let before = self.app.hits();
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), status, "{what}");
        assert_eq!(self.app.hits(), before, "{what}: the request reached the application");
        res
    }

    /// Asserts a 200 from the application itself; what it received.
    pub async fn passed(&self, req: reqwest::RequestBuilder, what: &str) -> Seen {
        let before = self.app.hits();
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200, "{what}");
        assert_eq!(self.app.hits(), before + 1, "{what}: the application was not reached");
        Seen(res.json().await.unwrap())
    }
}

/// The application's echo of one request.
pub struct Seen(pub Value);

impl Seen {
    /// Every value of header `name` the application received.
    pub fn header(&self, name: &str) -> Vec<String> {
        self.0["headers"][name]
            .as_array()
            .map(|vs| vs.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    }

    pub fn one(&self, name: &str) -> String {
        let values = self.header(name);
        assert_eq!(values.len(), 1, "{name}: {values:?} in {}", self.0);
        values.into_iter().next().unwrap()
    }
}

pub fn http() -> reqwest::Client {
    http_builder().build().unwrap()
}

/// A client whose connections come from `ip` (any 127.0.0.0/8 address is
/// local on Linux): a second machine, as far as the gateway can tell.
pub fn http_from(ip: Ipv4Addr) -> reqwest::Client {
    http_builder().local_address(IpAddr::V4(ip)).build().unwrap()
}

fn http_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none())
}

pub fn challenge(res: &reqwest::Response) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Identity headers a client might forge, in every form an application could read.
pub const FORGED: [(&str, &str); 7] = [
    ("X-Auth-Subject", "admin"),
    ("X-Auth-Username", "admin"),
    ("X-Auth-Scope", "admin"),
    ("X-Auth-Method", "session"),
    ("Remote-User", "admin"),
    ("X-Forwarded-User", "admin"),
    ("X_Auth_Subject", "admin"),
];

pub fn forged(mut req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    for (name, value) in FORGED {
        req = req.header(name, value);
    }
    req
}

// ------------------------------------------------------------- scenarios

pub async fn no_credential_is_refused_with_401_and_a_bearer_challenge(s: &Stack) {
    let res = s.refused(s.get("/"), 401, "GET without a credential").await;
    assert_eq!(challenge(&res), r#"Bearer realm="tessera""#);
    s.refused(s.post("/orders").body("x=1"), 401, "POST without a credential").await;
    // Envoy-style: the client's own OPTIONS is no CORS preflight to pass.
    let options = http().request(reqwest::Method::OPTIONS, s.url("/"));
    s.refused(options, 401, "OPTIONS without a credential").await;
    // A bad bearer is a 401 with `invalid_token`, not a pass.
    let res = s.refused(s.get("/").bearer_auth("not.a.token"), 401, "garbage bearer").await;
    assert!(challenge(&res).contains(r#"error="invalid_token""#), "{}", challenge(&res));
}

pub async fn bearer_reaches_the_application_with_the_verified_identity(s: &Stack) {
    let at = s.access_token().await;
    let seen = s.passed(s.get("/reports/7?page=2").bearer_auth(&at), "GET with a bearer").await;
    assert_eq!(seen.one("x-auth-subject"), s.user_id);
    assert_eq!(seen.one("x-auth-method"), "bearer");
    assert_eq!(seen.one("x-auth-username"), USER);
    assert!(!seen.one("x-auth-session").is_empty(), "the login's sid");
    assert_eq!(seen.0["uri"], "/reports/7?page=2");
    // A bearer is not sent automatically by browsers: no CSRF token needed.
    let seen = s.passed(s.post("/orders").bearer_auth(&at).body("x=1"), "POST with a bearer").await;
    assert_eq!(seen.0["method"], "POST");
    assert_eq!(seen.one("x-auth-subject"), s.user_id);
}

pub async fn identity_headers_sent_by_the_client_are_never_believed(s: &Stack) {
    // Forged identity and no credential: refused, never reaches the application.
    s.refused(forged(s.get("/")), 401, "forged identity headers alone").await;
    // Forged identity beside a real bearer: the application sees the real one only.
    let at = s.access_token().await;
    let seen = s.passed(forged(s.get("/")).bearer_auth(&at), "bearer + forged headers").await;
    assert_eq!(seen.one("x-auth-subject"), s.user_id, "not `admin`");
    assert_eq!(seen.one("x-auth-username"), USER);
    assert_eq!(seen.one("x-auth-method"), "bearer");
    assert!(!seen.header("x-auth-scope").contains(&"admin".to_owned()), "{}", seen.0);
    for cleared in ["remote-user", "x-forwarded-user", "x_auth_subject"] {
        assert!(seen.header(cleared).is_empty(), "{cleared} reached the application: {}", seen.0);
    }
}

pub async fn session_cookie_passes_and_unsafe_methods_need_the_csrf_token(s: &Stack) {
    let (cookie, csrf) = s.cookie_login("/v1/session/login", "__Host-tessera_session").await;

    let seen = s.passed(s.get("/").header("cookie", &cookie), "GET with the session cookie").await;
    assert_eq!(seen.one("x-auth-subject"), s.user_id);
    assert_eq!(seen.one("x-auth-method"), "session");
    assert_eq!(seen.one("x-auth-username"), USER);
    assert!(!seen.one("x-auth-session").is_empty());

    let post = || s.post("/orders").header("cookie", &cookie).body("x=1");
    s.refused(post(), 403, "POST with the cookie, no CSRF token").await;
    s.refused(post().header("x-csrf-token", "forged"), 403, "POST, wrong CSRF token").await;
    let delete = s.delete("/orders/1").header("cookie", &cookie);
    s.refused(delete, 403, "DELETE with the cookie, no CSRF token").await;
    // The client cannot pass an unsafe request off as a GET: the gateway,
    // not the client, tells Tessera the method.
    s.refused(
        post().header("x-original-method", "GET").header("x-forwarded-method", "GET"),
        403,
        "POST claiming to be a GET",
    )
    .await;

    let seen = s.passed(post().header("x-csrf-token", &csrf), "POST with the CSRF token").await;
    assert_eq!(seen.0["method"], "POST");
    assert_eq!(seen.one("x-auth-subject"), s.user_id);
    assert_eq!(seen.one("x-auth-method"), "session");
}

pub async fn hybrid_cookie_passes_and_unsafe_methods_need_the_csrf_token(s: &Stack) {
    let (cookie, csrf) = s.cookie_login("/v1/hybrid/login", "__Host-tessera_at").await;
    let seen = s.passed(s.get("/").header("cookie", &cookie), "GET with the hybrid cookie").await;
    assert_eq!(seen.one("x-auth-subject"), s.user_id);
    assert_eq!(seen.one("x-auth-method"), "hybrid");
    let post = || s.post("/orders").header("cookie", &cookie).body("x=1");
    s.refused(post(), 403, "POST with the hybrid cookie, no CSRF token").await;
    let seen = s.passed(post().header("x-csrf-token", &csrf), "POST with the CSRF token").await;
    assert_eq!(seen.one("x-auth-method"), "hybrid");
}

pub async fn revoked_access_token_is_refused(s: &Stack) {
    let at = s.access_token().await;
    s.passed(s.get("/").bearer_auth(&at), "before revocation").await;
    let res = http()
        .post(s.tessera.url("/oauth/revoke"))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "RFC 7009 revocation");
    let res = s.refused(s.get("/").bearer_auth(&at), 401, "revoked token").await;
    assert!(challenge(&res).contains(r#"error="invalid_token""#), "{}", challenge(&res));
}

/// Kills Tessera; every request is then refused with `status`.
pub async fn tessera_down_is_refused_never_the_application(s: &mut Stack, status: u16) {
    let at = s.access_token().await;
    let (cookie, csrf) = s.cookie_login("/v1/session/login", "__Host-tessera_session").await;
    // Warm the gateway's keep-alive connection to Tessera, then kill Tessera.
    s.passed(s.get("/").bearer_auth(&at), "bearer while Tessera is up").await;
    s.passed(s.get("/").header("cookie", &cookie), "cookie while Tessera is up").await;
    s.tessera.kill();

    for round in 0..2 {
        let what = |w: &str| format!("{w} with Tessera down (round {round})");
        s.refused(s.get("/").bearer_auth(&at), status, &what("bearer")).await;
        s.refused(s.get("/").header("cookie", &cookie), status, &what("session cookie")).await;
        s.refused(
            s.post("/orders").header("cookie", &cookie).header("x-csrf-token", &csrf),
            status,
            &what("cookie + CSRF POST"),
        )
        .await;
        s.refused(s.get("/"), status, &what("no credential")).await;
    }
}

/// Issue 12 item 14: behind the example as shipped, Tessera saw every client
/// as the gateway, so 20 failed logins from anyone (with different usernames)
/// put the per-address lock on the gateway's address and locked every user
/// out. With the example's settings the lock lands on the client's address:
/// 30 failures at once from one client (127.0.0.2) lock that client, even
/// with the right password, and another client (127.0.0.3) logs in, its own
/// address on its devices page.
pub async fn failed_logins_from_one_client_lock_that_client_only(s: &Stack) {
    let attacker = http_from(Ipv4Addr::new(127, 0, 0, 2));
    let victim = http_from(Ipv4Addr::new(127, 0, 0, 3));
    let login = |client: &reqwest::Client, username: String, password: &str| {
        client
            .post(s.url("/v1/token/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
    };
    let mut spray = tokio::task::JoinSet::new();
    for i in 0..30 {
        spray.spawn(login(&attacker, format!("sprayed{i}"), "wrong password"));
    }
    let mut refused = Vec::new();
    while let Some(res) = spray.join_next().await {
        refused.push(res.unwrap().unwrap().status().as_u16());
    }
    assert!(refused.iter().all(|s| [401, 429].contains(s)), "{refused:?}");

    let res = login(&attacker, USER.to_owned(), PASSWORD).await.unwrap();
    assert_eq!(res.status(), 429, "the spraying client's own address is locked");
    assert!(res.headers().contains_key("retry-after"));

    let res = login(&victim, USER.to_owned(), PASSWORD).await.unwrap();
    assert_eq!(res.status(), 200, "another client's login is not locked");
    let body: Value = res.json().await.unwrap();
    let res = victim
        .get(s.url("/v1/sessions"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.unwrap();
    let current = list["sessions"].as_array().unwrap().iter().find(|d| d["current"] == true);
    assert_eq!(current.unwrap()["ip"], "127.0.0.3", "Tessera saw the client: {list}");
}

/// A browser on the public origin (the issuer the example's settings name)
/// logs in through the gateway: the origin check lets it pass, and a
/// foreign origin is refused.
pub async fn browser_login_from_the_public_origin_passes_the_origin_check(s: &Stack) {
    s.cookie_login("/v1/session/login", "__Host-tessera_session").await;
    let res = s
        .post("/v1/session/login")
        .header("origin", "https://evil.example")
        .json(&json!({"username": USER, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a foreign origin's login");
}
