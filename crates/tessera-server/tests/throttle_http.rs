//! Login throttling attacked over HTTP: guessing one account, spraying many
//! accounts from one address, and spoofing X-Forwarded-For.

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

mod support;

use reqwest::{Method, Response};
use serde_json::json;
use support::*;

const LOGINS: [&str; 3] = ["/v1/session/login", "/v1/token/login", "/v1/hybrid/login"];

fn throttled() -> Options {
    Options { login_max_failures: 5, login_window: 300, ..Options::default() }
}

async fn attempt(s: &TestServer, path: &str, user: &str, pw: &str, xff: Option<&str>) -> Response {
    let mut req = s.req(Method::POST, path).json(&json!({"username": user, "password": pw}));
    if let Some(xff) = xff {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn throttle_account_guessing_429_correct_password_included_then_recovers() {
    let s = TestServer::start_with(throttled()).await;
    s.register("alice").await;
    for _ in 0..5 {
        assert_eq!(
            attempt(&s, "/v1/session/login", "alice", "wrong guess!", None).await.status(),
            401
        );
    }
    for path in LOGINS {
        let res = attempt(&s, path, "alice", PASSWORD, None).await;
        let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=300).contains(&retry), "{retry}");
        assert_error(res, 429, "rate_limited").await;
    }
    s.advance(300);
    assert_eq!(attempt(&s, "/v1/token/login", "alice", PASSWORD, None).await.status(), 200);
}

#[tokio::test]
async fn throttle_unknown_account_indistinguishable_from_real_one() {
    let s = TestServer::start_with(throttled()).await;
    s.register("bob").await;
    let mut answers = Vec::new();
    for user in ["bob", "nobody-here"] {
        for _ in 0..5 {
            attempt(&s, "/v1/session/login", user, "wrong guess!", Some("192.0.2.1")).await;
        }
        let res = attempt(&s, "/v1/session/login", user, "wrong guess!", None).await;
        let status = res.status();
        let retry = res.headers()["retry-after"].to_str().unwrap().to_owned();
        answers.push((status, retry, res.bytes().await.unwrap()));
    }
    assert_eq!(answers[0], answers[1]);
}

#[tokio::test]
async fn throttle_spraying_usernames_from_one_address_is_throttled() {
    let s = TestServer::start_with(throttled()).await;
    s.register("carol").await;
    // 20 failures over 20 different accounts: no account reaches 5.
    for i in 0..20 {
        let res = attempt(&s, "/v1/token/login", &format!("victim{i}"), "Summer2026!", None).await;
        assert_eq!(res.status(), 401, "attempt {i}");
    }
    let res = attempt(&s, "/v1/token/login", "carol", PASSWORD, None).await;
    assert_error(res, 429, "rate_limited").await;
}

#[tokio::test]
async fn throttle_spoofed_forwarded_for_from_untrusted_peer_ignored() {
    let s = TestServer::start_with(throttled()).await;
    s.register("dave").await;
    // Each attempt claims a new address; the peer is not a trusted proxy, so
    // all count against 127.0.0.1 and the spray is stopped anyway.
    for i in 0..20 {
        attempt(
            &s,
            "/v1/session/login",
            &format!("u{i}"),
            "Summer2026!",
            Some(&format!("198.51.100.{i}")),
        )
        .await;
    }
    let res = attempt(&s, "/v1/session/login", "dave", PASSWORD, Some("203.0.113.77")).await;
    assert_error(res, 429, "rate_limited").await;
}

#[tokio::test]
async fn throttle_forwarded_for_from_trusted_proxy_separates_clients() {
    let s = TestServer::start_with(Options { trusted_proxies: "127.0.0.1", ..throttled() }).await;
    s.register("erin").await;
    for i in 0..20 {
        attempt(&s, "/v1/session/login", &format!("u{i}"), "Summer2026!", Some("198.51.100.1"))
            .await;
    }
    // The sprayer's address is locked; another client behind the same proxy is not.
    let sprayer = attempt(&s, "/v1/session/login", "erin", PASSWORD, Some("198.51.100.1")).await;
    assert_eq!(sprayer.status(), 429);
    let neighbour = attempt(&s, "/v1/session/login", "erin", PASSWORD, Some("198.51.100.2")).await;
    assert_eq!(neighbour.status(), 200);
    let login: serde_json::Value = neighbour.json().await.unwrap();
    assert!(login["session"]["id"].is_string());
}
