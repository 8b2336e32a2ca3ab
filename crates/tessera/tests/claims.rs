//! Claims of README "Security, as built" that concern the binary, each
//! attacked by a test named after it: the master key file's mode,
//! `tessera user enable` not reviving what `disable` ended, TLS 1.2/1.3 only
//! without 0-RTT (probed with `openssl s_client`, which can still offer the
//! old versions and early data), and no HSTS over plain HTTP.

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

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

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A running `tessera serve --insecure-cookies`; killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(dir: &Path) -> Self {
        Self::start_with(dir, &["serve", "--listen", "127.0.0.1:0", "--insecure-cookies"])
    }

    /// `tessera serve` with `dev-cert`'s pair; `addr` is host:port.
    fn start_tls(dir: &Path) -> (Self, String) {
        ok(&run(dir, &["dev-cert", "--out", "certs"], None));
        let args = [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "certs/dev-cert.pem",
            "--tls-key",
            "certs/dev-key.pem",
        ];
        let s = Self::start_with(dir, &args);
        let addr = s.base.trim_start_matches("http://").to_owned();
        (s, addr)
    }

    fn start_with(dir: &Path, args: &[&str]) -> Self {
        let mut child = tessera(dir, args).stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("server exited before serving").unwrap();
            if let Some(rest) = line.split("addr=").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
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

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// README "Keys": the key file is created at first start beside the
/// database, mode 0600.
#[test]
fn claim_master_key_file_created_0600() {
    let dir = tempfile::tempdir().unwrap();
    ok(&run(dir.path(), &["user", "add", "alice", "--password-stdin"], Some(PASSWORD)));
    let key = dir.path().join("tessera.db.key");
    assert_eq!(mode(&key), 0o600, "{}", key.display());
}

/// An existing key file that the group or others can read is refused with
/// one line naming the file and the fix (it was read silently before).
#[test]
fn claim_master_key_file_with_loose_mode_refused_naming_file_and_chmod() {
    let dir = tempfile::tempdir().unwrap();
    ok(&run(dir.path(), &["user", "add", "alice", "--password-stdin"], Some(PASSWORD)));
    let key = dir.path().join("tessera.db.key");
    for loose in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(loose)).unwrap();
        let out = run(dir.path(), &["user", "list"], None);
        assert!(!out.status.success(), "mode {loose:o} accepted");
        let err = String::from_utf8(out.stderr).unwrap();
        let err = err.trim();
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains("tessera.db.key"), "names the file: {err}");
        assert!(err.contains("chmod 600"), "names the fix: {err}");
    }
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(ok(&run(dir.path(), &["user", "list"], None)).contains("alice"));
    // 0400 is the owner's alone too.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
    assert!(ok(&run(dir.path(), &["user", "list"], None)).contains("alice"));
}

/// README/API.md: disabling a user ends every session and token; `tessera
/// user enable` lets the user log in again but revives none of them. The
/// server is restarted between (no cache can answer for the store).
#[tokio::test]
async fn claim_user_enable_leaves_old_sessions_and_tokens_dead() {
    let dir = tempfile::tempdir().unwrap();
    ok(&run(dir.path(), &["user", "add", "carol", "--password-stdin"], Some(PASSWORD)));
    let http = reqwest::Client::new();
    let creds = json!({"username": "carol", "password": PASSWORD});

    let s = Server::start(dir.path());
    let res = http.post(s.url("/v1/session/login")).json(&creds).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let cookie =
        res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let res = http.post(s.url("/v1/token/login")).json(&creds).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    drop(s);

    ok(&run(dir.path(), &["user", "disable", "carol"], None));
    ok(&run(dir.path(), &["user", "enable", "carol"], None));
    assert!(ok(&run(dir.path(), &["user", "list"], None)).contains("carol\t\tactive"));

    let s = Server::start(dir.path());
    let res = http.get(s.url("/v1/session")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), 401, "old session revived");
    let res = http.get(s.url("/v1/verify")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(res.status(), 401, "old access token revived");
    let res = http
        .post(s.url("/oauth/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "old refresh token revived");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    // Positive control: the enabled user logs in again.
    let res = http.post(s.url("/v1/session/login")).json(&creds).send().await.unwrap();
    assert_eq!(res.status(), 200, "enabled user cannot log in");
}

/// `openssl s_client -connect ADDR ARGS` with empty stdin: its exit
/// status and output (stdout and stderr). Fails, naming it, without openssl.
fn s_client(dir: &Path, addr: &str, args: &[&str]) -> (bool, String) {
    s_client_sending(dir, addr, args, None)
}

/// The same, sending the file `request` (in `dir`) and reading until the
/// server closes (`-ign_eof`): the session ticket, which TLS 1.3 sends after
/// the handshake, has then surely arrived.
fn s_client_sending(
    dir: &Path,
    addr: &str,
    args: &[&str],
    request: Option<&str>,
) -> (bool, String) {
    let stdin = match request {
        Some(file) => Stdio::from(std::fs::File::open(dir.join(file)).unwrap()),
        None => Stdio::null(),
    };
    let mut command = Command::new("openssl");
    command.args(["s_client", "-connect", addr, "-servername", "localhost"]).args(args);
    if request.is_some() {
        command.arg("-ign_eof");
    }
    let out = command
        .current_dir(dir)
        .stdin(stdin)
        .output()
        .expect("`openssl` is needed for this test (Debian: apt-get install openssl)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// README "HTTPS": TLS 1.2 and 1.3 only. A client that offers TLS 1.0 or 1.1
/// alone (security level 0, so the refusal is the server's) gets a
/// handshake alert; the same client offering 1.2 or 1.3 connects.
#[test]
fn claim_tls_12_and_13_only() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr) = Server::start_tls(dir.path());
    for old in ["-tls1", "-tls1_1"] {
        let (success, text) = s_client(dir.path(), &addr, &[old, "-cipher", "DEFAULT@SECLEVEL=0"]);
        assert!(!success, "{old} handshake completed: {text}");
        assert!(text.contains("Cipher is (NONE)"), "{old}: {text}");
        assert!(text.contains("alert"), "{old} refused by the server with an alert: {text}");
    }
    for (new, name) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let (success, text) = s_client(dir.path(), &addr, &[new, "-cipher", "DEFAULT@SECLEVEL=0"]);
        assert!(success, "{new}: {text}");
        assert!(text.contains(&format!("New, {name}, Cipher is ")), "{new}: {text}");
    }
}

/// README "HTTPS": no 0-RTT. The server's session tickets allow no early
/// data, and a resumption that offers some has it not accepted (replayable
/// early data would let a captured login or refresh be replayed).
#[test]
fn claim_tls_no_zero_rtt() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr) = Server::start_tls(dir.path());
    // HTTP/1.0: the server answers and closes, so the ticket has arrived.
    std::fs::write(dir.path().join("request.txt"), "GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    let (success, text) = s_client_sending(
        dir.path(),
        &addr,
        &["-tls1_3", "-sess_out", "session.pem"],
        Some("request.txt"),
    );
    assert!(success, "{text}");
    assert!(text.contains("HTTP/1.0 200") || text.contains("HTTP/1.1 200"), "answered: {text}");
    assert!(text.contains("Max Early Data: 0"), "ticket allows early data: {text}");
    std::fs::write(dir.path().join("early.txt"), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (_, text) = s_client(
        dir.path(),
        &addr,
        &["-tls1_3", "-sess_in", "session.pem", "-early_data", "early.txt"],
    );
    // Positive control: the session was resumed, so early data was possible.
    assert!(text.contains("Reused, TLSv1.3"), "not resumed: {text}");
    assert!(
        text.contains("Early data was not sent") || text.contains("Early data was rejected"),
        "early data accepted: {text}"
    );
    assert!(!text.contains("Early data was accepted"), "{text}");
}

/// RFC 6797 §7.2 / README "HTTPS": HSTS only over HTTPS. A plain-HTTP server
/// sends none (tests/tls.rs asserts it over HTTPS).
#[tokio::test]
async fn claim_no_hsts_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    for path in ["/healthz", "/v1/session", "/no/such/route", "/.well-known/jwks.json"] {
        let res = reqwest::get(s.url(path)).await.unwrap();
        assert!(res.headers().get("strict-transport-security").is_none(), "{path}");
    }
}
