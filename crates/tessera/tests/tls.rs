//! HTTPS served by the binary itself: `tessera dev-cert`, then `tessera serve`
//! with that pair, driven by a rustls client that trusts only that
//! certificate.

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_tessera");
const PASSWORD: &str = "correct horse battery staple";
const HSTS: &str = "max-age=63072000; includeSubDomains";

/// `tessera ARGS` in `dir` with a clean environment (no inherited TESSERA_*).
fn tessera(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).current_dir(dir).env_clear();
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    tessera(dir, args).stdin(Stdio::null()).output().unwrap()
}

/// A running `tessera serve` over TLS; killed on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(dir: &Path, cert: &Path, key: &Path) -> Self {
        let args = [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ];
        let mut child = tessera(dir, &args).stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("server exited before serving").unwrap();
            if let Some(rest) = line.split("addr=").nth(1) {
                assert!(line.contains("tls=true"), "{line}");
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tessera dev-cert --out DIR/certs`; returns the certificate and key paths.
fn dev_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let out = run(dir, &["dev-cert", "--out", "certs"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let certs = dir.join("certs").canonicalize().unwrap();
    let (cert, key) = (certs.join("dev-cert.pem"), certs.join("dev-key.pem"));
    assert!(stdout.contains(&format!("export TESSERA_TLS_CERT={}", cert.display())), "{stdout}");
    assert!(stdout.contains(&format!("export TESSERA_TLS_KEY={}", key.display())), "{stdout}");
    (cert, key)
}

/// A client that trusts exactly the dev certificate (plus the public web
/// roots, which cannot vouch for 127.0.0.1).
fn https(cert: &Path) -> reqwest::ClientBuilder {
    let pem = std::fs::read(cert).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
}

#[test]
fn dev_cert_writes_a_private_key_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = dev_cert(dir.path());
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "key mode {mode:o}");
    let pem = std::fs::read_to_string(&cert).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(std::fs::read_to_string(&key).unwrap().contains("PRIVATE KEY"));

    let before = std::fs::read(&key).unwrap();
    let out = run(dir.path(), &["dev-cert", "--out", "certs"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&key).unwrap(), before, "the key is untouched");
}

#[tokio::test]
async fn https_health_carries_hsts_and_negotiates_h2_or_http1() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = dev_cert(dir.path());
    let s = Server::start(dir.path(), &cert, &key);

    let res = https(&cert).build().unwrap().get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.version(), reqwest::Version::HTTP_2, "ALPN h2");
    assert_eq!(res.headers()["strict-transport-security"], HSTS);
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"status": "ok"}));

    let http1 = https(&cert).http1_only().build().unwrap();
    let res = http1.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.version(), reqwest::Version::HTTP_11, "ALPN http/1.1");
    assert_eq!(res.headers()["strict-transport-security"], HSTS);
    // Errors carry it too.
    let res = http1.get(s.url("/nope")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["strict-transport-security"], HSTS);
}

#[tokio::test]
async fn login_over_https_sets_host_prefixed_secure_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = dev_cert(dir.path());
    let s = Server::start(dir.path(), &cert, &key);
    let client = https(&cert).build().unwrap();
    let body = json!({"username": "alice", "password": PASSWORD});

    let res = client.post(s.url("/v1/users")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let res = client.post(s.url("/v1/session/login")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["strict-transport-security"], HSTS);
    let set_cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    let (pair, attributes) = set_cookie.split_once("; ").unwrap();
    assert!(pair.starts_with("__Host-tessera_session=") && pair.len() > 30, "{set_cookie}");
    assert_eq!(attributes, "Path=/; HttpOnly; Secure; SameSite=Lax", "{set_cookie}");

    let res = client.get(s.url("/v1/session")).header("cookie", pair).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["user"]["username"], "alice");
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_no_answer_and_the_server_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = dev_cert(dir.path());
    let s = Server::start(dir.path(), &cert, &key);

    // reqwest speaking plain HTTP: an error (or at least no 200).
    let plain = reqwest::Client::new().get(format!("http://{}/healthz", s.addr)).send().await;
    if let Ok(res) = plain {
        assert_ne!(res.status(), 200);
    }
    // Byte level: whatever comes back (a TLS alert or nothing) is not HTTP.
    let mut raw = std::net::TcpStream::connect(&s.addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    raw.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "{:?}", String::from_utf8_lossy(&answer));
    assert!(answer.len() < 64, "at most an alert: {} bytes", answer.len());

    let res = https(&cert).build().unwrap().get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200, "still serving TLS");
}

#[test]
fn bad_certificate_or_key_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = dev_cert(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    // A second pair: its key does not belong to the first certificate.
    let other = tempfile::tempdir().unwrap();
    let (_, other_key) = dev_cert(other.path());
    let path = |p: &Path| p.to_str().unwrap().to_owned();

    let cases: [(&[String], &str); 5] = [
        (
            &["--tls-cert".into(), "missing.pem".into(), "--tls-key".into(), path(&key)],
            "cannot read TLS certificate missing.pem",
        ),
        (
            &["--tls-cert".into(), path(&cert), "--tls-key".into(), "missing.pem".into()],
            "cannot read TLS key missing.pem",
        ),
        (
            &["--tls-cert".into(), path(&garbage), "--tls-key".into(), path(&key)],
            "invalid TLS certificate",
        ),
        (
            &["--tls-cert".into(), path(&cert), "--tls-key".into(), path(&other_key)],
            "not usable together",
        ),
        (&["--tls-cert".into(), path(&cert)], "must be set together"),
    ];
    for (flags, reason) in cases {
        let mut args: Vec<&str> = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend(flags.iter().map(String::as_str));
        let out = tessera(dir.path(), &args).stdin(Stdio::null()).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("tessera: ") && err.contains(reason), "{args:?}: {err}");
        assert!(!err.contains("PRIVATE KEY-----"), "{err}");
    }
    assert!(!dir.path().join("tessera.db").exists(), "no store is created before TLS loads");
}
