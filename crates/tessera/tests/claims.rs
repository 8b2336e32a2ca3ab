//! Claims of README "Security, as built" that concern the binary, each
//! attacked by a test named after it: the master key file's mode, and
//! `tessera user enable` not reviving what `disable` ended.

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
        let args = ["serve", "--listen", "127.0.0.1:0", "--insecure-cookies"];
        let mut child = tessera(dir, &args).stderr(Stdio::piped()).spawn().unwrap();
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
