//! The nginx example configuration (`deploy/nginx/tessera.conf`) proven with a
//! real nginx: `tessera serve`, a tiny upstream application that echoes the
//! headers it receives, and nginx built from the example file with only its
//! placeholders replaced. Every case is asserted through nginx, as a client
//! (or an attacker) would see it: the identity reaching the application comes
//! from Tessera only, cookie credentials on unsafe methods need the CSRF token,
//! a revoked token is refused, and nginx fails closed (500) when Tessera is
//! down.
//!
//! Needs the `nginx` binary (Debian package `nginx`, with the auth_request
//! module). Without it the tests print a notice and pass, unless `CI` is set:
//! then they fail, because CI must run them (`.ci/run` installs nginx).

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_tessera");
const PASSWORD: &str = "correct horse battery staple";
const USER: &str = "alice";
/// The example configuration, exactly as shipped.
const EXAMPLE: &str = include_str!("../../../deploy/nginx/tessera.conf");

/// The nginx binary, or `None` (after a notice) when it is missing outside CI.
fn nginx_binary() -> Option<PathBuf> {
    let found = Command::new("which")
        .arg("nginx")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| !p.as_os_str().is_empty())
        .or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.exists()));
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx is not installed, and CI is set: the nginx gateway tests must run in CI. \
             Install the Debian package (`apt-get install -y nginx`; .ci/run does it)."
        );
        eprintln!(
            "notice: nginx not found (PATH, /usr/sbin/nginx); skipping the nginx gateway test"
        );
    }
    found
}

/// A running `tessera serve` on a free port; killed on drop.
struct Tessera {
    child: Child,
    addr: String,
}

impl Tessera {
    fn start(dir: &Path) -> Self {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
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

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn kill(&mut self) {
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
fn add_user(dir: &Path, name: &str) -> String {
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
/// exactly what nginx passed on. Counts the requests that reached it.
struct Upstream {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Upstream {
    fn start() -> Self {
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

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A minimal HTTP/1.1 responder: keep-alive, `Content-Length` request bodies
/// (what nginx sends with request buffering on, its default).
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

/// `text` with `placeholder` (which must occur exactly once) replaced.
fn substitute(text: &str, placeholder: &str, value: &str) -> String {
    assert_eq!(
        text.matches(placeholder).count(),
        1,
        "deploy/nginx/tessera.conf must contain `{placeholder}` exactly once"
    );
    text.replacen(placeholder, value, 1)
}

/// A free local port (bound, read and released: nginx takes it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// nginx running the example configuration in the foreground; stopped on drop.
struct Nginx {
    child: Child,
    base: String,
    error_log: PathBuf,
}

impl Nginx {
    fn start(bin: &Path, prefix: &Path, tessera: &str, app: SocketAddr) -> Self {
        std::fs::create_dir_all(prefix).unwrap();
        let port = free_port();
        let site = substitute(EXAMPLE, "server 127.0.0.1:8080;", &format!("server {tessera};"));
        let site = substitute(&site, "server 127.0.0.1:3000;", &format!("server {app};"));
        let site = substitute(&site, "listen 8000;", &format!("listen 127.0.0.1:{port};"));
        std::fs::write(prefix.join("tessera.conf"), site).unwrap();
        // Everything nginx writes stays under `prefix`: nothing in /etc/nginx
        // or /var is read or written.
        let p = prefix.display();
        let main = format!(
            "pid {p}/nginx.pid;\n\
             error_log {p}/error.log warn;\n\
             worker_processes 1;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
             \x20   access_log off;\n\
             \x20   client_body_temp_path {p}/client_body;\n\
             \x20   proxy_temp_path {p}/proxy;\n\
             \x20   fastcgi_temp_path {p}/fastcgi;\n\
             \x20   uwsgi_temp_path {p}/uwsgi;\n\
             \x20   scgi_temp_path {p}/scgi;\n\
             \x20   include {p}/tessera.conf;\n\
             }}\n"
        );
        std::fs::write(prefix.join("nginx.conf"), main).unwrap();
        let error_log = prefix.join("error.log");
        let mut child = Command::new(bin)
            .arg("-p")
            .arg(prefix)
            .arg("-e")
            .arg(&error_log)
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&addr).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(&error_log).unwrap_or_default();
                panic!("nginx exited ({status}) before listening on {addr}:\n{log}");
            }
            assert!(Instant::now() < deadline, "nginx not listening on {addr} after 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, base: format!("http://{addr}"), error_log }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master then stops its workers, which a
        // killed master would leave running (and listening).
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

/// Tessera, the application and nginx in front of both, with one user.
struct Stack {
    // Field order is drop order: nginx first, the temporary directory last.
    nginx: Nginx,
    tessera: Tessera,
    app: Upstream,
    user_id: String,
    _dir: tempfile::TempDir,
}

impl Stack {
    /// `None` when nginx is not installed (and CI is not set).
    fn start() -> Option<Self> {
        let bin = nginx_binary()?;
        let dir = tempfile::tempdir().unwrap();
        let tessera = Tessera::start(dir.path());
        let user_id = add_user(dir.path(), USER);
        let app = Upstream::start();
        let nginx = Nginx::start(&bin, &dir.path().join("nginx"), &tessera.addr, app.addr);
        Some(Self { nginx, tessera, app, user_id, _dir: dir })
    }

    /// A URL through nginx.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.nginx.base)
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        http().get(self.url(path))
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        http().post(self.url(path))
    }

    fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        http().delete(self.url(path))
    }

    /// An access token from `/v1/token/login`, asked of Tessera directly.
    async fn access_token(&self) -> String {
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

    /// Logs in through nginx (Tessera's endpoints share the application's
    /// origin, as the `__Host-` cookies require): the `name=value` of cookie
    /// `cookie` and the CSRF token from the body.
    async fn cookie_login(&self, path: &str, cookie: &str) -> (String, String) {
        let res = self
            .post(path)
            .json(&json!({"username": USER, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "login through nginx at {path}");
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

    /// Asserts nginx answered `status` without the request reaching the application.
    async fn refused(
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
    async fn passed(&self, req: reqwest::RequestBuilder, what: &str) -> Seen {
        let before = self.app.hits();
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200, "{what}");
        assert_eq!(self.app.hits(), before + 1, "{what}: the application was not reached");
        Seen(res.json().await.unwrap())
    }
}

/// The application's echo of one request.
struct Seen(Value);

impl Seen {
    /// Every value of header `name` the application received.
    fn header(&self, name: &str) -> Vec<String> {
        self.0["headers"][name]
            .as_array()
            .map(|vs| vs.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    }

    fn one(&self, name: &str) -> String {
        let values = self.header(name);
        assert_eq!(values.len(), 1, "{name}: {values:?} in {}", self.0);
        values.into_iter().next().unwrap()
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn challenge(res: &reqwest::Response) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Identity headers a client might forge, in every form an application could read.
const FORGED: [(&str, &str); 7] = [
    ("X-Auth-Subject", "admin"),
    ("X-Auth-Username", "admin"),
    ("X-Auth-Scope", "admin"),
    ("X-Auth-Method", "session"),
    ("Remote-User", "admin"),
    ("X-Forwarded-User", "admin"),
    ("X_Auth_Subject", "admin"),
];

fn forged(mut req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    for (name, value) in FORGED {
        req = req.header(name, value);
    }
    req
}

#[tokio::test]
async fn no_credential_is_refused_with_401_and_a_bearer_challenge() {
    let Some(s) = Stack::start() else { return };
    let res = s.refused(s.get("/"), 401, "GET without a credential").await;
    assert_eq!(challenge(&res), r#"Bearer realm="tessera""#);
    s.refused(s.post("/orders").body("x=1"), 401, "POST without a credential").await;
    // The verification location is internal: a client cannot call it.
    s.refused(s.get("/_tessera_verify"), 404, "internal location from outside").await;
    // A bad bearer is a 401 with `invalid_token`, not a pass.
    let res = s.refused(s.get("/").bearer_auth("not.a.token"), 401, "garbage bearer").await;
    assert!(challenge(&res).contains(r#"error="invalid_token""#), "{}", challenge(&res));
}

#[tokio::test]
async fn bearer_reaches_the_application_with_the_verified_identity() {
    let Some(s) = Stack::start() else { return };
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

#[tokio::test]
async fn identity_headers_sent_by_the_client_are_never_believed() {
    let Some(s) = Stack::start() else { return };
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

#[tokio::test]
async fn session_cookie_passes_and_unsafe_methods_need_the_csrf_token() {
    let Some(s) = Stack::start() else { return };
    let (cookie, csrf) = s.cookie_login("/v1/session/login", "__Host-tessera_session").await;

    let seen = s.passed(s.get("/").header("cookie", &cookie), "GET with the session cookie").await;
    assert_eq!(seen.one("x-auth-subject"), s.user_id);
    assert_eq!(seen.one("x-auth-method"), "session");
    assert_eq!(seen.one("x-auth-username"), USER);
    assert!(!seen.one("x-auth-session").is_empty());

    let post = || s.post("/orders").header("cookie", &cookie).body("x=1");
    let res = s.refused(post(), 403, "POST with the cookie, no CSRF token").await;
    assert!(res.text().await.unwrap().contains("403"), "nginx's 403 page");
    s.refused(post().header("x-csrf-token", "forged"), 403, "POST, wrong CSRF token").await;
    let delete = s.delete("/orders/1").header("cookie", &cookie);
    s.refused(delete, 403, "DELETE with the cookie, no CSRF token").await;
    // The client cannot pass an unsafe request off as a GET: nginx, not the
    // client, tells Tessera the method.
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

#[tokio::test]
async fn hybrid_cookie_passes_and_unsafe_methods_need_the_csrf_token() {
    let Some(s) = Stack::start() else { return };
    let (cookie, csrf) = s.cookie_login("/v1/hybrid/login", "__Host-tessera_at").await;
    let seen = s.passed(s.get("/").header("cookie", &cookie), "GET with the hybrid cookie").await;
    assert_eq!(seen.one("x-auth-subject"), s.user_id);
    assert_eq!(seen.one("x-auth-method"), "hybrid");
    let post = || s.post("/orders").header("cookie", &cookie).body("x=1");
    s.refused(post(), 403, "POST with the hybrid cookie, no CSRF token").await;
    let seen = s.passed(post().header("x-csrf-token", &csrf), "POST with the CSRF token").await;
    assert_eq!(seen.one("x-auth-method"), "hybrid");
}

#[tokio::test]
async fn revoked_access_token_is_refused() {
    let Some(s) = Stack::start() else { return };
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

#[tokio::test]
async fn tessera_down_means_500_never_the_application() {
    let Some(mut s) = Stack::start() else { return };
    let at = s.access_token().await;
    let (cookie, csrf) = s.cookie_login("/v1/session/login", "__Host-tessera_session").await;
    // Warm nginx's keep-alive connection to Tessera, then kill Tessera.
    s.passed(s.get("/").bearer_auth(&at), "bearer while Tessera is up").await;
    s.passed(s.get("/").header("cookie", &cookie), "cookie while Tessera is up").await;
    s.tessera.kill();

    for round in 0..2 {
        let what = |w: &str| format!("{w} with Tessera down (round {round})");
        s.refused(s.get("/").bearer_auth(&at), 500, &what("bearer")).await;
        s.refused(s.get("/").header("cookie", &cookie), 500, &what("session cookie")).await;
        s.refused(
            s.post("/orders").header("cookie", &cookie).header("x-csrf-token", &csrf),
            500,
            &what("cookie + CSRF POST"),
        )
        .await;
        s.refused(s.get("/"), 500, &what("no credential")).await;
    }
    let log = std::fs::read_to_string(&s.nginx.error_log).unwrap_or_default();
    // The 500 is auth_request's own refusal, not the application's answer.
    assert!(log.contains("auth request unexpected status: 502"), "{log}");
}
