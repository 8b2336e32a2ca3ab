//! Revocations and session ends are never lost or undone by a store fault:
//! real `tessera serve` processes on a SQLite file (or the machine's
//! PostgreSQL behind a link the test can cut) with a private `redis-server`
//! that the tests kill, restart empty, or restart from an old snapshot.
//!
//! Each test ends by counting, over every credential it ended in every mode
//! (session cookie, bearer token, hybrid cookie, refresh token), how many
//! were accepted again: the answer must be 0. A revoke answered 503 is not
//! counted as made (RFC 7009 §2.2.1: the token may still be valid); one
//! answered 200 must hold.
//!
//! Needs `redis-server` and `redis-cli` on PATH (Debian packages
//! redis-server and redis-tools), `faketime` (Debian package faketime) and,
//! for the PostgreSQL test, the server at
//! `TESSERA_TEST_POSTGRES_URL`; a missing one fails the test, naming it.

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "common/cut_link.rs"]
mod cut_link;
use cut_link::CutLink;

const BIN: &str = env!("CARGO_BIN_EXE_tessera");
const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "another horse battery staple";
const SESSION: &str = "__Host-tessera_session";
const HYBRID_AT: &str = "__Host-tessera_at";
const HYBRID_RT: &str = "__Secure-tessera_rt";
const HYBRID_CSRF: &str = "__Host-tessera_csrf";
/// How long a process may take to notice a store went away or came back.
const DEADLINE: Duration = Duration::from_secs(20);

fn random_hex(n: usize) -> String {
    let mut bytes = vec![0; n];
    std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

// ------------------------------------------------------------------ Redis

/// A private `redis-server` whose data lives in `dir`: `SAVE` writes a
/// snapshot there, a restart loads it (or starts empty once it is wiped).
struct SnapshotRedis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl SnapshotRedis {
    fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let mut r = Self { port: free_port(), dir: dir.to_owned(), child: None };
        r.restart();
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server on the same port, from the snapshot if there is one.
    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dbfilename", "dump.rdb"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (Debian package redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cli(&["PING"]).map(|o| o.stdout != b"PONG\n").unwrap_or(true) {
            assert!(Instant::now() < deadline, "private redis-server did not start");
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn cli(&self, args: &[&str]) -> std::io::Result<Output> {
        Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output()
    }

    /// `SAVE`: the snapshot a later restore goes back to.
    fn save(&self) {
        let out = self.cli(&["SAVE"]).expect("redis-cli on PATH (Debian package redis-tools)");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK", "SAVE failed");
    }

    /// SIGKILL: an outage, nothing written.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Forgets the snapshot: the next restart is empty.
    fn wipe(&self) {
        let _ = std::fs::remove_file(self.dir.join("dump.rdb"));
    }
}

impl Drop for SnapshotRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

// ----------------------------------------------------------------- server

/// The settings every process of a test shares.
struct Settings {
    dir: tempfile::TempDir,
    vars: Vec<(&'static str, String)>,
}

impl Settings {
    fn new(store: String, redis: Option<String>) -> Self {
        let mut vars = vec![
            ("TESSERA_STORE", store),
            ("TESSERA_MASTER_KEY", random_hex(32)),
            ("TESSERA_ISSUER", "http://127.0.0.1:8080".to_owned()),
            ("TESSERA_REDIS_PREFIX", format!("durability-{}", random_hex(6))),
        ];
        if let Some(url) = redis {
            vars.push(("TESSERA_REDIS_URL", url));
        }
        Self { dir: tempfile::tempdir().unwrap(), vars }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).current_dir(self.dir.path()).env_clear();
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    fn without(&self, var: &str) -> Self {
        let vars = self.vars.iter().filter(|(k, _)| *k != var).cloned().collect();
        Self { dir: tempfile::tempdir().unwrap(), vars }
    }

    /// `tessera ARGS`, its output (success or not).
    fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = self
            .command(args)
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

    fn add_user(&self, name: &str) {
        let out =
            self.cli(&["user", "add", name, "--password-stdin"], Some(&format!("{PASSWORD}\n")));
        assert!(out.status.success(), "user add: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// A running `tessera serve` on a free port; killed on drop.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    fn start(settings: &Settings) -> Self {
        let mut child = settings
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut log = Vec::new();
        let addr = loop {
            let Some(line) = lines.next() else {
                panic!("tessera serve exited before serving:\n{}", log.join("\n"));
            };
            let line = line.unwrap();
            if let Some(rest) = line.split("addr=").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            log.push(line);
        };
        std::thread::spawn(move || for _ in lines {});
        Self { child, base: format!("http://{addr}") }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------------- HTTP

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The `name=value` of cookie `name` set by `res`.
fn cookie(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().unwrap().split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

/// A credential as the test presents it, with what ends it.
#[derive(Clone, Debug)]
enum Cred {
    /// The session cookie, its CSRF token and its public id.
    Session { cookie: String, csrf: String, id: String },
    /// An access token and its refresh token.
    Token { access: String, refresh: String },
    /// An access token alone (RFC 7009 revokes it without its family).
    Access { access: String },
    /// The hybrid cookies (access, refresh) and the CSRF token.
    Hybrid { at: String, rt: String, csrf: String },
}

impl Cred {
    async fn session(node: &Node, user: &str, password: &str) -> Self {
        let res = http()
            .post(node.url("/v1/session/login"))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "session login");
        let cookie = cookie(&res, SESSION);
        let body: Value = res.json().await.unwrap();
        Self::Session {
            cookie,
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
            id: body["session"]["id"].as_str().unwrap().to_owned(),
        }
    }

    async fn token(node: &Node, user: &str, password: &str) -> Self {
        let res = http()
            .post(node.url("/v1/token/login"))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "token login");
        let body: Value = res.json().await.unwrap();
        Self::Token {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    async fn hybrid(node: &Node, user: &str, password: &str) -> Self {
        let res = http()
            .post(node.url("/v1/hybrid/login"))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "hybrid login");
        let (at, rt) = (cookie(&res, HYBRID_AT), cookie(&res, HYBRID_RT));
        let csrf = cookie(&res, HYBRID_CSRF).split_once('=').unwrap().1.to_owned();
        Self::Hybrid { at, rt, csrf }
    }

    /// Applies the credential (and its CSRF token) to a request.
    fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Self::Session { cookie, csrf, .. } => {
                req.header("cookie", cookie).header("x-csrf-token", csrf)
            }
            Self::Token { access, .. } | Self::Access { access } => req.bearer_auth(access),
            Self::Hybrid { at, csrf, .. } => req.header("cookie", at).header("x-csrf-token", csrf),
        }
    }

    /// Every way the credential could still be accepted by `node`, as
    /// `(what, status)`: 200 means accepted.
    async fn probes(&self, node: &Node) -> Vec<(String, u16)> {
        let verify = self.apply(http().get(node.url("/v1/verify"))).send().await.unwrap();
        let mut out = vec![("verify".to_owned(), verify.status().as_u16())];
        match self {
            Self::Session { cookie, .. } => {
                let res = http().get(node.url("/v1/session")).header("cookie", cookie);
                out.push(("session".into(), res.send().await.unwrap().status().as_u16()));
            }
            Self::Token { refresh, .. } => {
                let res = http()
                    .post(node.url("/oauth/token"))
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
                    .send()
                    .await
                    .unwrap();
                out.push(("refresh".into(), res.status().as_u16()));
            }
            Self::Access { .. } => {}
            Self::Hybrid { rt, csrf, .. } => {
                let res = http()
                    .post(node.url("/v1/hybrid/refresh"))
                    .header("cookie", rt)
                    .header("x-csrf-token", csrf)
                    .send()
                    .await
                    .unwrap();
                out.push(("hybrid refresh".into(), res.status().as_u16()));
            }
        }
        out
    }
}

/// Waits until `path` at `node` answers `status`.
async fn until_status(node: &Node, path: &str, status: u16) {
    let started = Instant::now();
    loop {
        let got = http().get(node.url(path)).send().await.map(|r| r.status().as_u16());
        if got.as_ref().is_ok_and(|s| *s == status) {
            return;
        }
        assert!(started.elapsed() < DEADLINE, "{path} never answered {status}: {got:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counts the ended credentials `node` accepts again (each probe that
/// answered 200), and fails on any 5xx (the node must be ready here).
async fn accepted_again(node: &Node, ended: &[(&str, &Cred)]) -> Vec<String> {
    let mut accepted = Vec::new();
    for (label, cred) in ended {
        for (what, status) in cred.probes(node).await {
            assert!(status < 500, "{label}: {what} answered {status} on a ready node");
            if status == 200 {
                accepted.push(format!("{label}: {what}"));
            }
        }
    }
    accepted
}

/// Every live credential of each mode still works (positive control).
async fn assert_live(node: &Node, live: &[(&str, &Cred)]) {
    for (label, cred) in live {
        let res = cred.apply(http().get(node.url("/v1/verify"))).send().await.unwrap();
        assert_eq!(res.status(), 200, "{label} should be live");
    }
}

async fn post(node: &Node, path: &str, cred: &Cred) -> u16 {
    cred.apply(http().post(node.url(path))).send().await.unwrap().status().as_u16()
}

/// `POST /oauth/revoke` of an access token: the status and whether
/// `Retry-After` came with it.
async fn revoke(node: &Node, token: &str) -> (u16, bool) {
    let res = http()
        .post(node.url("/oauth/revoke"))
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.headers().contains_key("retry-after"))
}

// ------------------------------------------------------------------ tests

/// SQLite + Redis. Redis is killed: a revoke answers 503 (the stores are
/// known down) or, if it came before that was noticed, 200 and durable.
/// Redis restarts empty and Tessera restarts: every credential ended before
/// or during the outage stays dead (0 revocations lost, 0 sessions back).
#[tokio::test]
async fn regression_revoke_during_redis_outage_lies() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = SnapshotRedis::start(&dir.path().join("redis"));
    let store = format!("sqlite://{}/t.db", dir.path().display());
    let settings = Settings::new(store, Some(redis.url()));
    settings.add_user("alice");
    let mut node = Node::start(&settings);

    let (s1, s2) = (
        Cred::session(&node, "alice", PASSWORD).await,
        Cred::session(&node, "alice", PASSWORD).await,
    );
    let (t1, t2) =
        (Cred::token(&node, "alice", PASSWORD).await, Cred::token(&node, "alice", PASSWORD).await);
    let h1 = Cred::hybrid(&node, "alice", PASSWORD).await;
    let Cred::Token { access: t1_access, .. } = &t1 else { unreachable!() };
    let Cred::Token { access: t2_access, .. } = &t2 else { unreachable!() };
    // Ended before the outage, one per mode.
    assert_eq!(post(&node, "/v1/session/logout", &s1).await, 204);
    assert_eq!(revoke(&node, t1_access).await.0, 200);
    assert_eq!(post(&node, "/v1/hybrid/logout", &h1).await, 204);

    redis.kill();
    until_status(&node, "/readyz", 503).await;
    let (during, retry_after) = revoke(&node, t2_access).await;
    assert!(
        during == 503 && retry_after,
        "a revoke while Redis is down must be 503 with Retry-After (stores known down), got {during}"
    );
    // Ending a session while Redis is down is refused the same way.
    assert_eq!(post(&node, "/v1/session/logout", &s2).await, 503);

    redis.wipe();
    redis.restart();
    until_status(&node, "/readyz", 200).await;
    drop(node);
    node = Node::start(&settings);
    until_status(&node, "/readyz", 200).await;

    let t1 = Cred::Access { access: t1_access.clone() };
    let ended = [("logged-out session", &s1), ("revoked token", &t1), ("hybrid logout", &h1)];
    let accepted = accepted_again(&node, &ended).await;
    assert!(accepted.is_empty(), "ended credentials accepted again: {accepted:?}");
    // The revoke answered 503: the token may still be valid, and is.
    assert_live(&node, &[("token whose revoke answered 503", &t2)]).await;
    // Sessions in the lost Redis are gone (fail closed: log in again).
    assert_eq!(s2.probes(&node).await[0].1, 401);
    assert_eq!(revoke(&node, t2_access).await.0, 200, "a revoke once Redis is back");
    let t2 = Cred::Access { access: t2_access.clone() };
    assert!(accepted_again(&node, &[("revoked after the outage", &t2)]).await.is_empty());
}

/// A Redis restored from an old snapshot brings back every session that was
/// deleted since: logout, device removal, password change and log out
/// everywhere must stay ended anyway, and so must every token family.
#[tokio::test]
async fn regression_redis_restore_resurrects_ended_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = SnapshotRedis::start(&dir.path().join("redis"));
    let store = format!("sqlite://{}/t.db", dir.path().display());
    let settings = Settings::new(store, Some(redis.url()));
    settings.add_user("alice");
    settings.add_user("bob");
    let node = Node::start(&settings);

    let login = || Cred::session(&node, "alice", PASSWORD);
    let (logout, device, changed, survivor) =
        (login().await, login().await, login().await, login().await);
    let token = Cred::token(&node, "alice", PASSWORD).await;
    let hybrid = Cred::hybrid(&node, "alice", PASSWORD).await;
    let bob = Cred::session(&node, "bob", PASSWORD).await;
    redis.save(); // the old snapshot: everything above is live in it

    assert_eq!(post(&node, "/v1/session/logout", &logout).await, 204);
    let Cred::Session { id: device_id, .. } = &device else { unreachable!() };
    let removed = survivor.apply(http().delete(node.url(&format!("/v1/sessions/{device_id}"))));
    assert_eq!(removed.send().await.unwrap().status(), 204);
    let change = survivor
        .apply(http().post(node.url("/v1/password")))
        .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}));
    assert_eq!(change.send().await.unwrap().status(), 204);
    assert_live(&node, &[("the password changer's own session", &survivor)]).await;
    assert_eq!(post(&node, "/v1/logout-all", &survivor).await, 204);
    let all = [
        ("logout", &logout),
        ("device removal", &device),
        ("password change", &changed),
        ("logout-all", &survivor),
        ("token family", &token),
        ("hybrid family", &hybrid),
    ];
    assert!(accepted_again(&node, &all).await.is_empty(), "ended before the restore");

    redis.kill();
    redis.restart(); // from the snapshot taken while all of them were live
    until_status(&node, "/readyz", 200).await;
    let restored = redis.cli(&["DBSIZE"]).unwrap();
    assert_ne!(String::from_utf8_lossy(&restored.stdout).trim(), "0", "the snapshot was loaded");

    let accepted = accepted_again(&node, &all).await;
    assert!(accepted.is_empty(), "ended credentials resurrected by the restore: {accepted:?}");
    drop(node);
    let node = Node::start(&settings);
    until_status(&node, "/readyz", 200).await;
    let accepted = accepted_again(&node, &all).await;
    assert!(accepted.is_empty(), "resurrected after a restart: {accepted:?}");
    // Positive control: what was never ended lives on, and new logins work.
    assert_live(&node, &[("bob's session", &bob)]).await;
    let fresh = Cred::session(&node, "alice", NEW_PASSWORD).await;
    assert_live(&node, &[("a new login", &fresh)]).await;
}

/// Sessions live in Redis; the CLI run without `TESSERA_REDIS_URL` used to
/// exit 0 from `logout-all` and list no sessions. It must refuse, naming the
/// setting, and with the setting do it right.
#[tokio::test]
async fn regression_cli_without_redis_settings_lies() {
    let dir = tempfile::tempdir().unwrap();
    let redis = SnapshotRedis::start(&dir.path().join("redis"));
    let store = format!("sqlite://{}/t.db", dir.path().display());
    let settings = Settings::new(store, Some(redis.url()));
    settings.add_user("alice");
    let node = Node::start(&settings);
    let session = Cred::session(&node, "alice", PASSWORD).await;

    let bare = settings.without("TESSERA_REDIS_URL");
    for args in [&["logout-all", "alice"][..], &["session", "list"], &["user", "disable", "alice"]]
    {
        let out = bare.cli(args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "tessera {args:?} without Redis exited 0");
        assert!(stderr.contains("TESSERA_REDIS_URL"), "the reason names the setting: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
    assert_live(&node, &[("the session the refused CLI left alone", &session)]).await;

    let out = settings.cli(&["session", "list"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let Cred::Session { id, .. } = &session else { unreachable!() };
    assert!(String::from_utf8_lossy(&out.stdout).contains(id.as_str()), "listed with Redis");
    let out = settings.cli(&["logout-all", "alice"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let started = Instant::now();
    while session.probes(&node).await[0].1 != 401 {
        assert!(started.elapsed() < DEADLINE, "logout-all by the CLI never reached the server");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// PostgreSQL alone, its link cut: the node notices within a poll interval
/// or two and answers 503 at once (a revoke included, never a false 200);
/// the token the refused revoke named is still valid when the link returns,
/// and a revoke then holds.
#[tokio::test]
async fn regression_revoke_during_postgres_outage_lies() {
    let url = tessera_store::testing::fresh_postgres_url().await;
    let (head, tail) = url.split_once('@').expect("a postgres URL with user@host");
    let (hostport, db) = tail.split_once('/').unwrap();
    let link = CutLink::start(hostport.to_owned());
    let relayed = format!("{head}@127.0.0.1:{}/{db}", link.port);
    let settings = Settings::new(relayed, None);
    settings.add_user("alice");
    let node = Node::start(&settings);
    let token = Cred::token(&node, "alice", PASSWORD).await;
    let session = Cred::session(&node, "alice", PASSWORD).await;
    assert_live(&node, &[("token", &token), ("session", &session)]).await; // cached now
    let Cred::Token { access, .. } = &token else { unreachable!() };

    link.cut();
    until_status(&node, "/readyz", 503).await;
    for cred in [&token, &session] {
        let res = cred.apply(http().get(node.url("/v1/verify"))).send().await.unwrap();
        assert_eq!(res.status(), 503, "{cred:?} answered from caches while the store is down");
        assert!(res.headers().contains_key("retry-after"));
    }
    let res = http()
        .post(node.url("/oauth/revoke"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503, "revoke while PostgreSQL is down");
    assert!(res.headers().contains_key("retry-after"));

    link.restore();
    until_status(&node, "/readyz", 200).await;
    assert_live(&node, &[("token whose revoke answered 503", &token)]).await;
    let res = http()
        .post(node.url("/oauth/revoke"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let revoked = Cred::Access { access: access.clone() };
    assert!(accepted_again(&node, &[("revoked token", &revoked)]).await.is_empty());
}

/// A revoking process whose clock is 120 s behind (libfaketime on the CLI;
/// access tokens live 60 s): its revocations must not be dropped by the
/// server's next reload, nor after a restart.
#[tokio::test]
async fn regression_clock_skew_undoes_revocations() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/t.db", dir.path().display());
    let mut settings = Settings::new(store, None);
    settings.vars.push(("TESSERA_ACCESS_TTL", "60".to_owned()));
    settings.add_user("alice");
    let node = Node::start(&settings);
    let token = Cred::token(&node, "alice", PASSWORD).await;
    let session = Cred::session(&node, "alice", PASSWORD).await;
    assert_live(&node, &[("token", &token), ("session", &session)]).await;

    let skewed = settings.command(&["logout-all", "alice"]);
    let program = skewed.get_program().to_owned();
    let args: Vec<_> = skewed.get_args().map(ToOwned::to_owned).collect();
    let envs: Vec<_> =
        skewed.get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))).collect();
    let out = Command::new("faketime")
        .args(["-f", "-120s"])
        .arg(program)
        .args(args)
        .env_clear()
        .envs(envs)
        .current_dir(settings.dir.path())
        .output()
        .expect("faketime on PATH (Debian package faketime)");
    assert!(out.status.success(), "skewed logout-all: {}", String::from_utf8_lossy(&out.stderr));

    let ended = [("token", &token), ("session", &session)];
    let started = Instant::now();
    while !accepted_again(&node, &ended).await.is_empty() {
        assert!(started.elapsed() < DEADLINE, "the skewed logout-all never took effect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A restart reloads everything from the store.
    drop(node);
    let node = Node::start(&settings);
    let accepted = accepted_again(&node, &ended).await;
    assert!(accepted.is_empty(), "dropped at a restart: {accepted:?}");
    let fresh = Cred::token(&node, "alice", PASSWORD).await;
    assert_live(&node, &[("a login after the logout-all", &fresh)]).await;
}
