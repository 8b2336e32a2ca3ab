//! A real browser against real `tessera serve` processes: Debian's Chromium
//! (`/usr/bin/chromium`, never a downloaded browser) driven by
//! `playwright-core` from npm (`tests/browser/`, pinned in its
//! `package-lock.json`, installed by `.ci/run` with `npm ci`).
//!
//! Each test starts Tessera on a SQLite file in a temporary directory and two
//! tiny static pages on other ports of 127.0.0.1: the single-page
//! application (the one origin in `TESSERA_ALLOWED_ORIGINS`) and an
//! attacker's page (same site, not allowed). Cookies are per host, not per
//! port, so all three share one cookie jar, as sibling subdomains of one
//! registrable domain do: what curl cannot show (it ignores
//! `Clear-Site-Data`, CORS and `SameSite`), the browser does. The checks
//! themselves are in `tests/browser/spa.js`; its output names every case.
//!
//! Needs `node`, `/usr/bin/chromium` and `tests/browser/node_modules`: when
//! one is missing the tests fail, naming it and how to install it. They
//! never skip.

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tessera");
const PASSWORD: &str = "correct horse battery staple";
/// Debian's Chromium (package `chromium`).
const CHROMIUM: &str = "/usr/bin/chromium";
/// A suite that has not finished in this long is hung (each takes seconds).
const WATCHDOG: Duration = Duration::from_secs(90);

/// The folder holding `spa.js`, `package.json` and (after `npm ci`) `node_modules`.
fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Fails, naming what is missing, unless node, Chromium and playwright-core are all there.
fn require_tools() {
    let mut missing: Vec<String> = Vec::new();
    // playwright-core 1.65 needs Node.js 20 or later.
    let major = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            let v = String::from_utf8_lossy(&o.stdout).trim().trim_start_matches('v').to_owned();
            v.split('.').next().and_then(|m| m.parse::<u32>().ok())
        });
    if major.is_none_or(|m| m < 20) {
        let found = major.map_or_else(|| "none".to_owned(), |m| format!("version {m}"));
        missing.push(format!("`node` 20 or later on PATH (found: {found})"));
    }
    if !Path::new(CHROMIUM).exists() {
        missing.push("/usr/bin/chromium (Debian: `apt-get install -y chromium`)".to_owned());
    }
    if !scripts().join("node_modules/playwright-core/package.json").exists() {
        missing.push(
            "the npm package playwright-core in crates/tessera/tests/browser/node_modules \
             (`npm ci --prefix crates/tessera/tests/browser`)"
                .to_owned(),
        );
    }
    assert!(
        missing.is_empty(),
        "the browser tests need: {}. `.ci/run` installs all of them.",
        missing.join("; ")
    );
}

/// A running `tessera serve` on a free port; killed on drop.
struct Tessera {
    child: Child,
    addr: String,
}

impl Tessera {
    /// Serves on `dir`'s SQLite file, allowing CORS with credentials for `allowed`.
    fn start(dir: &Path, allowed: &str) -> Self {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(dir)
            .env_clear()
            .env("TESSERA_ALLOWED_ORIGINS", allowed)
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
}

impl Drop for Tessera {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tessera user add NAME --password-stdin` on `dir`'s store.
fn add_user(dir: &Path, name: &str) {
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
    assert!(out.status.success(), "user add {name}: {}", String::from_utf8_lossy(&out.stderr));
}

/// An empty HTML page on 127.0.0.1 (a free port), for every path: the origin
/// a script runs from is all that matters. Lives as long as the test process.
fn static_page() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream));
        }
    });
    origin
}

/// Reads one request's head and answers it with the page, then closes.
fn answer(stream: TcpStream) {
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    // The head ends at the first empty line; a GET has no body.
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
        if line == "\r\n" || line == "\n" {
            break;
        }
        line.clear();
    }
    let body = "<!doctype html><meta charset=utf-8><title>app</title><body></body>";
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = &stream;
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
}

/// Starts Tessera (users alice and bob), the application's page and the
/// attacker's page, then runs `suite` of `spa.js` in Chromium; fails with
/// the script's report unless every case passed.
fn run_suite(suite: &str) {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let spa = static_page();
    let evil = static_page();
    add_user(dir.path(), "alice");
    add_user(dir.path(), "bob");
    let tessera = Tessera::start(dir.path(), &spa);
    let out = dir.path().join("node.out");
    // One file (one offset) for both streams, so neither overwrites the other.
    let log = std::fs::File::create(&out).unwrap();
    let mut node = Command::new("node")
        .arg(scripts().join("spa.js"))
        .arg(suite)
        .current_dir(scripts())
        .env("TESSERA_URL", format!("http://{}", tessera.addr))
        .env("SPA_URL", &spa)
        .env("EVIL_URL", &evil)
        .env("TESSERA_PASSWORD", PASSWORD)
        .env("CHROMIUM", CHROMIUM)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    // A watchdog, not a timing assertion: a hung browser must not hang CI.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = node.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > WATCHDOG {
            let _ = node.kill();
            let _ = node.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut report = String::new();
    std::fs::File::open(&out).unwrap().read_to_string(&mut report).unwrap();
    println!("{report}");
    match status {
        Some(s) => assert!(s.success(), "browser suite {suite:?} failed ({s}):\n{report}"),
        None => panic!("browser suite {suite:?} still running after {WATCHDOG:?}:\n{report}"),
    }
}

/// Issue 12 item 19: logouts answered `Clear-Site-Data: "cookies"`, which
/// Chromium applies to every cookie of the site: the application's own
/// `app_pref` and the other cookie mode's login went with it (and
/// `DELETE /v1/sessions/{id}` of the request's own login left its dead
/// cookies behind). Session logout, hybrid logout, logout-all by either
/// cookie and `DELETE` of the own login (either mode) now each clear exactly
/// Tessera's cookies of the login they ended.
#[test]
fn regression_logout_wipes_the_whole_sites_cookies() {
    run_suite("logout");
}

/// A SPA on another origin of the same site, allowed by
/// `TESSERA_ALLOWED_ORIGINS`, with `credentials: 'include'`: session login,
/// `GET /v1/session`, `PUT /v1/session/data` with the CSRF header (and 403
/// `csrf_failed` without it), logout; hybrid login, the CSRF cookie readable
/// and the tokens not, refresh (403 without the header), logout.
#[test]
fn spa_on_another_origin_of_the_same_site_session_and_hybrid_end_to_end() {
    run_suite("spa");
}

/// A same-site page whose origin is not allowed, in the victim's browser (so
/// the victim's cookies ride along): it cannot read the CSRF token, its form
/// post (even with a leaked token) and its blind `no-cors` post are refused,
/// its preflight is not granted; the victim's session and data are untouched.
#[test]
fn attack_non_allowed_origin_posting_with_the_victims_cookies_refused() {
    run_suite("attack");
}
