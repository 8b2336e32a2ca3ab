//! Stopping the binary: SIGTERM drains in-flight requests within a bound;
//! `kill -9` in the middle of writes loses nothing that was acknowledged.

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_tessera");
const PASSWORD: &str = "correct horse battery staple";
/// The server's drain timeout.
const DRAIN: Duration = Duration::from_secs(10);

/// `tessera ARGS` in `dir` with a clean environment (no inherited TESSERA_*).
fn tessera(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).current_dir(dir).env_clear();
    c
}

/// A running `tessera serve`; killed on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(dir: &Path) -> Self {
        let mut child = tessera(dir, &["serve", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("server exited before serving").unwrap();
            if let Some(rest) = line.split("addr=").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args([name, &pid]).status().unwrap().success());
    }

    /// Waits up to `limit` for the process to exit.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP/1.1 connection, to send requests in pieces.
fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    stream
}

/// Reads a whole response (the server closes the connection after it: keep-
/// alive is off once shutdown has begun, or the request said `close`).
fn read_response(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    String::from_utf8(bytes).unwrap()
}

/// Polls until connecting to `addr` is refused (the listener is closed).
fn wait_refused(addr: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        match TcpStream::connect(addr) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
            Err(e) => panic!("unexpected connect error: {e}"),
            Ok(_) => {
                assert!(Instant::now() < deadline, "still accepting connections after SIGTERM");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

#[test]
fn sigterm_finishes_in_flight_requests_refuses_new_ones_and_reports_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path());
    let mut ready = connect(&s.addr);
    write!(ready, "GET /readyz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", s.addr).unwrap();
    let answer = read_response(&mut ready);
    assert!(answer.starts_with("HTTP/1.1 200"), "ready before: {answer}");

    // In flight: a registration whose body is half sent.
    let body = json!({"username": "inflight", "password": PASSWORD}).to_string();
    let (first, second) = body.as_bytes().split_at(body.len() / 2);
    let mut slow = connect(&s.addr);
    write!(
        slow,
        "POST /v1/users HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        s.addr,
        body.len()
    )
    .unwrap();
    slow.write_all(first).unwrap();
    // Also in flight: a readiness probe whose header section is not finished.
    let mut probe = connect(&s.addr);
    write!(probe, "GET /readyz HTTP/1.1\r\nHost: {}\r\n", s.addr).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let term = Instant::now();
    s.signal("-TERM");
    wait_refused(&s.addr, Duration::from_secs(3));

    // The probe, answered during the drain: not ready.
    probe.write_all(b"\r\n").unwrap();
    let answer = read_response(&mut probe);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains(r#""error":"unavailable""#), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("retry-after: 1\r\n"), "{answer}");
    assert!(s.child.try_wait().unwrap().is_none(), "still draining");

    // The registration completes with its normal status.
    slow.write_all(second).unwrap();
    let answer = read_response(&mut slow);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains(r#""username":"inflight""#), "{answer}");

    let status = s.wait_exit(DRAIN).expect("exits within the drain bound");
    assert!(status.success(), "{status:?}");
    assert!(term.elapsed() < DRAIN, "{:?}", term.elapsed());

    // What the drained request wrote is there.
    let out = tessera(dir.path(), &["user", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8(out.stdout).unwrap().contains("\tinflight\t"));
}

#[test]
fn sigterm_with_a_stuck_client_still_exits_within_the_drain_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path());
    // Promises a body and never sends it.
    let mut stuck = connect(&s.addr);
    write!(
        stuck,
        "POST /v1/users HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{",
        s.addr
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let term = Instant::now();
    s.signal("-TERM");
    let status = s.wait_exit(DRAIN + Duration::from_secs(3)).expect("exits after the drain bound");
    assert!(status.success(), "{status:?}");
    let took = term.elapsed();
    assert!(took >= DRAIN - Duration::from_millis(500), "waited for the client: {took:?}");
    drop(stuck);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_registrations_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path());
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let client = reqwest::Client::new();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, url, acknowledged) =
            (client.clone(), s.url("/v1/users"), Arc::clone(&acknowledged));
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("w{w}u{i}");
                let sent = client
                    .post(&url)
                    .json(&json!({"username": name, "password": PASSWORD}))
                    .send()
                    .await;
                match sent {
                    Ok(res) if res.status() == 201 => acknowledged.lock().unwrap().push(name),
                    Ok(res) => panic!("registration answered {}", res.status()),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    // Let a good number of writes land, then kill in the middle of more.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acknowledged.lock().unwrap().len() < 40 {
        assert!(Instant::now() < deadline, "registrations too slow");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.signal("-KILL");
    let status = s.wait_exit(Duration::from_secs(5)).unwrap();
    assert!(!status.success(), "killed: {status:?}");
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    // The same file, reopened by the CLI: it opens, and every acknowledged
    // registration is there.
    let out = tessera(dir.path(), &["user", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap().to_owned())
        .collect();
    for name in &acknowledged {
        assert!(listed.contains(name), "{name} was acknowledged (201) but is gone");
    }
    assert!(listed.len() >= acknowledged.len());
    eprintln!("acknowledged {}, listed {}", acknowledged.len(), listed.len());
    // And it takes writes again.
    let out = tessera(dir.path(), &["user", "add", "after"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
