//! The `tessera` binary as an operator runs it: zero-config start on SQLite,
//! CLI commands on the same store while a server runs, SIGTERM.

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_tessera");
const PASSWORD: &str = "correct horse battery staple";

/// `tessera ARGS` in `dir` with a clean environment (no inherited TESSERA_*).
fn tessera(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).current_dir(dir).env_clear();
    c
}

fn run(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = tessera(dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// A running `tessera serve`; killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts `tessera serve --listen 127.0.0.1:0 EXTRA…` and reads the bound
    /// address from its log.
    fn start(dir: &Path, extra: &[&str]) -> Self {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = tessera(dir, &args).stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("server exited before serving").unwrap();
            if let Some(rest) = line.split("addr=").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, base: format!("http://{addr}") }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn login(s: &Server, user: &str) -> reqwest::Response {
    http()
        .post(s.url("/v1/session/login"))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn serve_without_configuration_creates_sqlite_store_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let health: Value = http().get(s.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health, json!({"status": "ok"}));
    assert_eq!(http().get(s.url("/readyz")).send().await.unwrap().status(), 200);
    assert!(dir.path().join("tessera.db").exists(), "default store is ./tessera.db");
    assert!(dir.path().join("tessera.db-wal").exists(), "WAL journal");
}

#[tokio::test]
async fn user_add_while_serving_then_login_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &["--insecure-cookies"]);
    let out = run(
        dir.path(),
        &["user", "add", "alice", "--scope", "read admin", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(id.len(), 36, "prints the user id: {id}");

    let res = login(&s, "alice").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["id"], id.as_str());

    let list = run(dir.path(), &["user", "list"], None);
    let text = String::from_utf8(list.stdout).unwrap();
    assert!(text.contains("alice\tadmin read\tactive"), "{text}");
}

#[tokio::test]
async fn user_disable_from_cli_ends_live_session_on_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &["--insecure-cookies"]);
    assert!(
        run(dir.path(), &["user", "add", "bob", "--password-stdin"], Some(PASSWORD))
            .status
            .success()
    );
    let res = login(&s, "bob").await;
    let cookie =
        res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let whoami = || http().get(s.url("/v1/session")).header("cookie", &cookie).send();
    assert_eq!(whoami().await.unwrap().status(), 200, "cached now");

    let out = run(dir.path(), &["user", "disable", "bob"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The server learns of it through the store's revision (100 ms poll).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if whoami().await.unwrap().status() == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "disabled user's session still accepted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(login(&s, "bob").await.status(), 401);
}

#[test]
fn user_add_weak_password_fails_with_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["user", "add", "carol", "--password-stdin"], Some("password\n"));
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("tessera: ") && err.contains("too common"), "{err}");
}

#[test]
fn user_add_twice_conflicts_and_disable_unknown_fails() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["user", "add", "dave"], None).status.success());
    assert!(!run(dir.path(), &["user", "add", "DAVE"], None).status.success());
    let out = run(dir.path(), &["user", "disable", "nobody"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr).unwrap().contains("not found"));
}

#[test]
fn config_file_flags_and_environment_layer_in_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.toml"), "store = \"sqlite://from-file.db\"\n").unwrap();
    let cfg = ["--config", "t.toml"];
    // File alone.
    assert!(run(dir.path(), &[&cfg[..], &["user", "add", "erin"]].concat(), None).status.success());
    assert!(dir.path().join("from-file.db").exists());
    // Environment beats the file.
    let out = tessera(dir.path(), &[&cfg[..], &["user", "add", "frank"]].concat())
        .env("TESSERA_STORE", "sqlite://from-env.db")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(dir.path().join("from-env.db").exists());
    // A flag beats both.
    let out = tessera(
        dir.path(),
        &[&cfg[..], &["--store", "sqlite://from-flag.db", "user", "add", "grace"]].concat(),
    )
    .env("TESSERA_STORE", "sqlite://from-env.db")
    .output()
    .unwrap();
    assert!(out.status.success());
    assert!(dir.path().join("from-flag.db").exists());
}

#[test]
fn serve_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path(), &[]);
    let status = Command::new("kill").args(["-TERM", &s.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let code = s.child.wait().unwrap();
    assert!(code.success(), "{code:?}");
}

#[test]
fn serve_unreadable_config_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--config", "missing.toml", "serve"], None);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("cannot read config file"), "{err}");
}

/// Polls `check` for up to 5 s (cross-process changes arrive within the 100 ms poll).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn header_kid(jwt: &str) -> String {
    use base64::Engine;
    let head = jwt.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(head).unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["kid"].as_str().unwrap().to_owned()
}

async fn token_login(s: &Server, user: &str) -> Value {
    let res = http()
        .post(s.url("/v1/token/login"))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn client_add_confidential_secret_works_for_client_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let out = run(
        dir.path(),
        &["client", "add", "billing", "--confidential", "--scope", "invoices"],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(secret.len(), 43, "a 256-bit secret, printed once");
    let res = http()
        .post(s.url("/oauth/token"))
        .basic_auth("billing", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["scope"], "invoices");
    let list = String::from_utf8(run(dir.path(), &["client", "list"], None).stdout).unwrap();
    assert!(list.starts_with("billing\tconfidential\tinvoices\t"), "{list}");
    assert!(!list.contains(&secret), "the secret is never shown again");
}

#[tokio::test]
async fn key_rotate_from_cli_reaches_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    assert!(
        run(dir.path(), &["user", "add", "kim", "--password-stdin"], Some(PASSWORD))
            .status
            .success()
    );
    let before = token_login(&s, "kim").await["access_token"].as_str().unwrap().to_owned();
    let list = String::from_utf8(run(dir.path(), &["key", "list"], None).stdout).unwrap();
    assert_eq!(list.lines().count(), 2, "current and next: {list}");
    assert!(list.lines().any(|l| l.contains("\tEdDSA\tnext\t")), "{list}");
    let out = run(dir.path(), &["key", "rotate"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let new_kid = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_ne!(new_kid, header_kid(&before));
    eventually("server signs with the rotated key", || async {
        header_kid(token_login(&s, "kim").await["access_token"].as_str().unwrap()) == new_kid
    })
    .await;
    let jwks: Value =
        http().get(s.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let kids: Vec<&str> =
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert!(kids.contains(&header_kid(&before).as_str()), "retired key still published");
    assert_eq!(kids.len(), 3, "retired, current, next: {kids:?}");
}

#[tokio::test]
async fn logout_all_from_cli_kills_live_bearer_token_on_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    assert!(
        run(dir.path(), &["user", "add", "lee", "--password-stdin"], Some(PASSWORD))
            .status
            .success()
    );
    let out = run(dir.path(), &["client", "add", "rs", "--confidential"], None);
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let at = token_login(&s, "lee").await["access_token"].as_str().unwrap().to_owned();
    let active = || async {
        let res = http()
            .post(s.url("/oauth/introspect"))
            .basic_auth("rs", Some(&secret))
            .form(&[("token", at.as_str())])
            .send()
            .await
            .unwrap();
        res.json::<Value>().await.unwrap()["active"] == json!(true)
    };
    assert!(active().await);
    assert!(run(dir.path(), &["logout-all", "lee"], None).status.success());
    eventually("access token dead on the server", || async { !active().await }).await;
}

#[tokio::test]
async fn session_list_and_revoke_from_cli_end_a_live_login() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &["--insecure-cookies"]);
    assert!(
        run(dir.path(), &["user", "add", "max", "--password-stdin"], Some(PASSWORD))
            .status
            .success()
    );
    let res = login(&s, "max").await;
    let cookie =
        res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let session_id =
        res.json::<Value>().await.unwrap()["session"]["id"].as_str().unwrap().to_owned();
    let family = token_login(&s, "max").await;
    let listed =
        String::from_utf8(run(dir.path(), &["session", "list", "--user", "max"], None).stdout)
            .unwrap();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        listed.lines().any(|l| l.starts_with(&format!("{session_id}\tsession\tmax\t"))),
        "{listed}"
    );
    assert!(listed.lines().any(|l| l.contains("\ttoken\tmax\t")), "{listed}");

    assert!(run(dir.path(), &["session", "revoke", &session_id], None).status.success());
    let whoami = || http().get(s.url("/v1/session")).header("cookie", &cookie).send();
    eventually("revoked session refused by the server", || async {
        whoami().await.unwrap().status() == 401
    })
    .await;
    let out = run(dir.path(), &["session", "revoke", &session_id], None);
    assert!(!out.status.success(), "already gone");
    let at = family["access_token"].as_str().unwrap();
    assert_eq!(
        http().get(s.url("/v1/verify")).bearer_auth(at).send().await.unwrap().status(),
        200,
        "the other login is untouched"
    );
}

/// Takes the SQLite file's contents away under a running server, then puts
/// them back: every credential check fails closed with 503 meanwhile, and
/// service resumes by itself.
#[tokio::test]
async fn store_unavailable_fails_closed_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    assert!(
        run(dir.path(), &["user", "add", "ona", "--password-stdin"], Some(PASSWORD))
            .status
            .success()
    );
    let res = login(&s, "ona").await;
    let cookie =
        res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let bearer = token_login(&s, "ona").await["access_token"].as_str().unwrap().to_owned();
    let status = |path: &'static str, auth: &'static str| {
        let (cookie, bearer) = (cookie.clone(), bearer.clone());
        let url = s.url(path);
        async move {
            let req = http().get(url);
            let req = match auth {
                "cookie" => req.header("cookie", cookie),
                "bearer" => req.bearer_auth(bearer),
                _ => req,
            };
            req.send().await.unwrap()
        }
    };
    for (path, auth) in
        [("/v1/session", "cookie"), ("/v1/verify", "bearer"), ("/v1/verify", "cookie")]
    {
        assert_eq!(status(path, auth).await.status(), 200, "{path} {auth} before");
    }

    // Move everything from the WAL into the main file first, so that taking
    // the main file away takes the data away.
    let db = dir.path().join("tessera.db");
    let url = format!("sqlite://{}", db.display());
    let checkpoint = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&checkpoint).await.unwrap();
    checkpoint.close().await;
    let saved = std::fs::read(&db).unwrap();
    std::fs::write(&db, b"").unwrap();
    eventually("readiness fails", || async { status("/readyz", "").await.status() == 503 }).await;
    assert_eq!(status("/healthz", "").await.status(), 200, "the process still serves");
    for (path, auth) in
        [("/v1/session", "cookie"), ("/v1/verify", "bearer"), ("/v1/verify", "cookie")]
    {
        let res = status(path, auth).await;
        assert_eq!(res.status(), 503, "{path} {auth} must fail closed");
        assert_eq!(res.headers()["retry-after"], "1");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "unavailable");
    }
    let logout =
        http().post(s.url("/v1/session/logout")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(logout.status(), 503, "never a false 'logged out'");

    std::fs::write(&db, &saved).unwrap();
    let restored = Instant::now();
    eventually("readiness resumes", || async { status("/readyz", "").await.status() == 200 }).await;
    for (path, auth) in
        [("/v1/session", "cookie"), ("/v1/verify", "bearer"), ("/v1/verify", "cookie")]
    {
        let what = format!("{path} {auth} resumes");
        eventually(&what, || async { status(path, auth).await.status() == 200 }).await;
    }
    eprintln!("service resumed {} ms after the store came back", restored.elapsed().as_millis());
}
