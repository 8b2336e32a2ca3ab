//! The Caddy example (`deploy/caddy/Caddyfile` and its `tessera.toml`)
//! proven with a real Caddy, the same way as `nginx.rs`: Tessera with the
//! example's settings, an echoing application, and Caddy running the example
//! with only its addresses replaced, imported from a main Caddyfile as a user
//! would import it. Every scenario of `gateway/mod.rs` is asserted through
//! Caddy; Caddy fails closed with 502 when Tessera is down.
//!
//! Needs the `caddy` binary (Debian package `caddy`); without it the tests
//! fail (`.ci/run` installs it).

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

mod gateway;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use gateway::*;

/// The example configuration, exactly as shipped.
const EXAMPLE: &str = include_str!("../../../deploy/caddy/Caddyfile");
const FILE: &str = "deploy/caddy/Caddyfile";
/// Tessera's settings for it, exactly as shipped.
const SETTINGS: &str = include_str!("../../../deploy/caddy/tessera.toml");

/// Caddy running the example in the foreground.
fn caddy(dir: &Path, port: u16, tessera: &str, app: SocketAddr) -> Gateway {
    let bin = binary("caddy", "/usr/bin/caddy", "caddy");
    // The site name becomes this test's plain-HTTP address: a site name
    // would make Caddy fetch a certificate.
    let site =
        substitute(FILE, EXAMPLE, "app.example.com {", &format!("http://127.0.0.1:{port} {{"));
    let site = substitute(
        FILE,
        &site,
        "reverse_proxy 127.0.0.1:8080",
        &format!("reverse_proxy {tessera}"),
    );
    let site = substitute(
        FILE,
        &site,
        "forward_auth 127.0.0.1:8080 {",
        &format!("forward_auth {tessera} {{"),
    );
    let site =
        substitute(FILE, &site, "reverse_proxy 127.0.0.1:3000", &format!("reverse_proxy {app}"));
    std::fs::write(dir.join("tessera.caddy"), site).unwrap();
    // The main Caddyfile: no admin endpoint (parallel tests would share its
    // port 2019), then the example, imported as deploy/caddy tells a user.
    let main = format!("{{\n\tadmin off\n}}\nimport {}\n", dir.join("tessera.caddy").display());
    std::fs::write(dir.join("Caddyfile"), main).unwrap();
    let log = dir.join("caddy.log");
    let mut cmd = Command::new(bin);
    cmd.arg("run").arg("--config").arg(dir.join("Caddyfile")).args(["--adapter", "caddyfile"]);
    // Caddy's own state (autosaved config, storage) stays in `dir`.
    cmd.env_clear().env("HOME", dir).env("XDG_DATA_HOME", dir).env("XDG_CONFIG_HOME", dir);
    cmd.stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap());
    Gateway::spawn(cmd, port, log)
}

fn stack() -> Stack {
    Stack::start("deploy/caddy/tessera.toml", SETTINGS, &caddy)
}

#[tokio::test]
async fn no_credential_is_refused_with_401_and_a_bearer_challenge() {
    gateway::no_credential_is_refused_with_401_and_a_bearer_challenge(&stack()).await;
}

#[tokio::test]
async fn bearer_reaches_the_application_with_the_verified_identity() {
    gateway::bearer_reaches_the_application_with_the_verified_identity(&stack()).await;
}

#[tokio::test]
async fn identity_headers_sent_by_the_client_are_never_believed() {
    gateway::identity_headers_sent_by_the_client_are_never_believed(&stack()).await;
}

#[tokio::test]
async fn session_cookie_passes_and_unsafe_methods_need_the_csrf_token() {
    gateway::session_cookie_passes_and_unsafe_methods_need_the_csrf_token(&stack()).await;
}

#[tokio::test]
async fn hybrid_cookie_passes_and_unsafe_methods_need_the_csrf_token() {
    gateway::hybrid_cookie_passes_and_unsafe_methods_need_the_csrf_token(&stack()).await;
}

#[tokio::test]
async fn revoked_access_token_is_refused() {
    gateway::revoked_access_token_is_refused(&stack()).await;
}

#[tokio::test]
async fn tessera_down_means_502_never_the_application() {
    gateway::tessera_down_is_refused_never_the_application(&mut stack(), 502).await;
}

#[tokio::test]
async fn regression_failed_logins_through_caddy_lock_every_user() {
    gateway::failed_logins_from_one_client_lock_that_client_only(&stack()).await;
}

#[tokio::test]
async fn browser_login_from_the_public_origin_passes_the_origin_check() {
    gateway::browser_login_from_the_public_origin_passes_the_origin_check(&stack()).await;
}
