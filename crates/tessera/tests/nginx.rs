//! The nginx example (`deploy/nginx/tessera.conf` and its `tessera.toml`)
//! proven with a real nginx: `tessera serve` with the example's settings, a
//! tiny upstream application that echoes the headers it receives, and nginx
//! built from the example file with only its placeholders replaced. Every
//! case is asserted through nginx, as a client (or an attacker) would see
//! it: the identity reaching the application comes from Tessera only, cookie
//! credentials on unsafe methods need the CSRF token, a revoked token is
//! refused, failed logins lock the client's address and not everyone's, and
//! nginx fails closed (500) when Tessera is down.
//!
//! Needs the `nginx` binary (Debian package `nginx`, with the auth_request
//! module); without it the tests fail (`.ci/run` installs it).

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

mod gateway;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use gateway::*;

/// The example configuration, exactly as shipped.
const EXAMPLE: &str = include_str!("../../../deploy/nginx/tessera.conf");
const FILE: &str = "deploy/nginx/tessera.conf";
/// Tessera's settings for it, exactly as shipped.
const SETTINGS: &str = include_str!("../../../deploy/nginx/tessera.toml");

/// nginx running the example configuration in the foreground.
fn nginx(prefix: &Path, port: u16, tessera: &str, app: SocketAddr) -> Gateway {
    let bin = binary("nginx", "/usr/sbin/nginx", "nginx");
    let site = substitute(FILE, EXAMPLE, "server 127.0.0.1:8080;", &format!("server {tessera};"));
    let site = substitute(FILE, &site, "server 127.0.0.1:3000;", &format!("server {app};"));
    let site = substitute(FILE, &site, "listen 8000;", &format!("listen 127.0.0.1:{port};"));
    std::fs::write(prefix.join("tessera.conf"), site).unwrap();
    // Everything nginx writes stays under `prefix`: nothing in /etc/nginx
    // or /var is read or written. The example sits in `http {}` as Debian's
    // conf.d would put it.
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
    let log = prefix.join("error.log");
    let mut cmd = Command::new(bin);
    cmd.arg("-p").arg(prefix).arg("-e").arg(&log).arg("-c").arg(prefix.join("nginx.conf"));
    cmd.args(["-g", "daemon off;"]);
    Gateway::spawn(cmd, port, log)
}

fn stack() -> Stack {
    Stack::start("deploy/nginx/tessera.toml", SETTINGS, &nginx)
}

#[tokio::test]
async fn no_credential_is_refused_with_401_and_a_bearer_challenge() {
    let s = stack();
    gateway::no_credential_is_refused_with_401_and_a_bearer_challenge(&s).await;
    // The verification location is internal: a client cannot call it.
    s.refused(s.get("/_tessera_verify"), 404, "internal location from outside").await;
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
    let s = stack();
    gateway::session_cookie_passes_and_unsafe_methods_need_the_csrf_token(&s).await;
    // nginx answers a refused auth_request with its own 403 page.
    let (cookie, _) = s.cookie_login("/v1/session/login", "__Host-tessera_session").await;
    let res = s.refused(s.post("/orders").header("cookie", &cookie), 403, "no CSRF").await;
    assert!(res.text().await.unwrap().contains("403"), "nginx's 403 page");
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
async fn tessera_down_means_500_never_the_application() {
    let mut s = stack();
    gateway::tessera_down_is_refused_never_the_application(&mut s, 500).await;
    // The 500 is auth_request's own refusal, not the application's answer.
    let log = s.gateway.log_text();
    assert!(log.contains("auth request unexpected status: 502"), "{log}");
}

#[tokio::test]
async fn regression_failed_logins_through_nginx_lock_every_user() {
    gateway::failed_logins_from_one_client_lock_that_client_only(&stack()).await;
}

#[tokio::test]
async fn browser_login_from_the_public_origin_passes_the_origin_check() {
    gateway::browser_login_from_the_public_origin_passes_the_origin_check(&stack()).await;
}
