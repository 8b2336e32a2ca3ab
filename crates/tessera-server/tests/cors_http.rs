//! Attacks CORS with credentials over HTTP: preflights from the allowed
//! origin, foreign and look-alike origins, the `null` origin, simple requests
//! (never `*` with credentials), and cross-origin state changes that skip the
//! preflight.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is how a test reports failure")]

mod support;
mod support_hybrid;

use reqwest::{Method, Response};
use serde_json::json;
use support::*;
use support_hybrid::*;

const EVIL: &str = "https://evil.example";

/// Origins that must never be granted: foreign, `null`, and look-alikes of
/// [`APP_ORIGIN`] (scheme downgrade, suffix and prefix tricks, other port).
const HOSTILE_ORIGINS: [&str; 8] = [
    EVIL,
    "null",
    "http://app.example.test",
    "https://app.example.test.evil.example",
    "https://evilapp.example.test",
    "https://app.example.test:8443",
    "https://sub.app.example.test",
    "*",
];

/// Every comma-separated token of every `name` header, lower-cased.
fn tokens(res: &Response, name: &str) -> Vec<String> {
    headers_all(res, name)
        .iter()
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// `OPTIONS path` as a browser's preflight from `origin`.
async fn preflight(s: &TestServer, path: &str, origin: &str, method: &str) -> Response {
    s.req(Method::OPTIONS, path)
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", "content-type,x-csrf-token")
        .send()
        .await
        .unwrap()
}

/// Asserts the response grants `APP_ORIGIN` exactly, with credentials.
fn assert_granted(res: &Response, what: &str) {
    assert_eq!(headers_all(res, "access-control-allow-origin"), [APP_ORIGIN], "{what}");
    assert_eq!(
        headers_all(res, "access-control-allow-credentials"),
        ["true"],
        "{what}: credentials not allowed"
    );
    assert!(tokens(res, "vary").contains(&"origin".to_owned()), "{what}: Vary lacks Origin");
}

/// Asserts the response grants no origin at all.
fn assert_not_granted(res: &Response, what: &str) {
    let acao = headers_all(res, "access-control-allow-origin");
    assert!(acao.is_empty(), "{what}: Access-Control-Allow-Origin {acao:?}");
}

#[tokio::test]
async fn cors_preflight_allowed_origin_2xx_exact_origin_credentials_methods_headers_vary() {
    let s = TestServer::start().await;
    for (path, method) in [
        ("/v1/hybrid/refresh", "POST"),
        ("/v1/hybrid/login", "POST"),
        ("/v1/session/login", "POST"),
        ("/v1/logout-all", "POST"),
        ("/v1/session/data", "PUT"),
        ("/v1/sessions/6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f", "DELETE"),
    ] {
        let what = format!("preflight {method} {path}");
        let res = preflight(&s, path, APP_ORIGIN, method).await;
        assert!(res.status().is_success(), "{what}: {}", res.status());
        assert_granted(&res, &what);
        let methods = tokens(&res, "access-control-allow-methods");
        assert!(methods.contains(&method.to_ascii_lowercase()), "{what}: methods {methods:?}");
        let headers = tokens(&res, "access-control-allow-headers");
        for h in ["content-type", "x-csrf-token"] {
            assert!(headers.contains(&h.to_owned()), "{what}: headers {headers:?} lack {h}");
        }
        assert!(!headers.contains(&"*".to_owned()), "{what}: wildcard headers with credentials");
        assert!(!methods.contains(&"*".to_owned()), "{what}: wildcard methods with credentials");
    }
}

#[tokio::test]
async fn cors_preflight_foreign_or_lookalike_origin_no_allow_origin() {
    let s = TestServer::start().await;
    for origin in HOSTILE_ORIGINS {
        let res = preflight(&s, "/v1/hybrid/refresh", origin, "POST").await;
        assert!(res.status().as_u16() < 500, "{origin}: {}", res.status());
        assert_not_granted(&res, &format!("preflight from {origin}"));
    }
}

#[tokio::test]
async fn cors_origin_null_never_granted() {
    let s = TestServer::start().await;
    let res = preflight(&s, "/v1/session/login", "null", "POST").await;
    assert_not_granted(&res, "null preflight");
    for path in ["/healthz", "/v1/session", "/v1/verify"] {
        let res = s.req(Method::GET, path).header("origin", "null").send().await.unwrap();
        assert_not_granted(&res, &format!("null GET {path}"));
    }
}

#[tokio::test]
async fn cors_simple_get_allowed_origin_echoed_with_credentials_never_star() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let h = hybrid_login(&s, "alice").await;
    // Successes and errors alike: the SPA must read a 401 to know to log in.
    for (path, cookie) in [
        ("/healthz", None),
        ("/v1/session", None),
        ("/v1/verify", None),
        ("/v1/verify", Some(h.at_cookie())),
        ("/v1/sessions", Some(h.at_cookie())),
    ] {
        let mut b = s.req(Method::GET, path).header("origin", APP_ORIGIN);
        if let Some(c) = &cookie {
            b = b.header("cookie", c);
        }
        let res = b.send().await.unwrap();
        assert_granted(&res, &format!("GET {path} (cookie: {})", cookie.is_some()));
    }
    // A foreign origin's simple request is answered (it cannot be stopped)
    // but the browser is not allowed to let the page read it.
    for origin in HOSTILE_ORIGINS {
        let res = s
            .req(Method::GET, "/v1/sessions")
            .header("origin", origin)
            .header("cookie", h.at_cookie())
            .send()
            .await
            .unwrap();
        assert_not_granted(&res, &format!("GET /v1/sessions from {origin}"));
    }
}

#[tokio::test]
async fn cors_allowed_origin_hybrid_login_200_readable_by_the_spa() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let res = s
        .req(Method::POST, "/v1/hybrid/login")
        .header("origin", APP_ORIGIN)
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_granted(&res, "hybrid login from the app");
    let h = Hybrid::from_response(res).await;
    let res = s
        .req(Method::POST, "/v1/hybrid/refresh")
        .header("origin", APP_ORIGIN)
        .header("cookie", h.hybrid_cookies())
        .header("x-csrf-token", &h.csrf)
        .send()
        .await
        .unwrap();
    assert_granted(&res, "hybrid refresh from the app");
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn cors_cross_origin_post_skipping_preflight_403_csrf_failed_no_effect() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let session = s.login("alice", PASSWORD).await;
    let h = hybrid_login(&s, "alice").await;
    let creds = json!({"username": "alice", "password": PASSWORD});
    let newcomer = json!({"username": "newcomer", "password": PASSWORD});

    for origin in HOSTILE_ORIGINS {
        // (path, cookie, csrf header, body): the attacker even has the right tokens.
        let attempts: [(&str, Option<String>, Option<&str>, &serde_json::Value); 6] = [
            ("/v1/session/login", None, None, &creds),
            ("/v1/hybrid/login", None, None, &creds),
            ("/v1/users", None, None, &newcomer),
            ("/v1/hybrid/refresh", Some(h.hybrid_cookies()), Some(&h.csrf), &json!({})),
            ("/v1/hybrid/logout", Some(h.hybrid_cookies()), Some(&h.csrf), &json!({})),
            ("/v1/logout-all", Some(s.cookie(&session.secret)), Some(&session.csrf), &json!({})),
        ];
        for (path, cookie, csrf, body) in attempts {
            let what = format!("POST {path} from {origin}");
            let mut b = s
                .req(Method::POST, path)
                .header("origin", origin)
                .header("content-type", "application/json")
                .body(body.to_string());
            if let Some(c) = &cookie {
                b = b.header("cookie", c);
            }
            if let Some(t) = csrf {
                b = b.header("x-csrf-token", t);
            }
            let res = b.send().await.unwrap();
            assert_eq!(res.status(), 403, "{what}");
            assert!(set_cookies(res.headers()).is_empty(), "{what}: cookies set");
            assert_not_granted(&res, &what);
            assert_error(res, 403, "csrf_failed").await;
        }
    }
    // Nothing happened: both logins live, the refresh cookie was not consumed,
    // no account was created.
    assert_eq!(s.whoami(&session.secret).await.status(), 200);
    assert_eq!(verify_cookie(&s, &h.at_cookie()).await.status(), 200);
    assert_eq!(hybrid_refresh(&s, &h.hybrid_cookies(), Some(&h.csrf)).await.status(), 200);
    assert_error(s.try_login("newcomer", PASSWORD).await, 401, "invalid_credentials").await;
}

/// Issue 12 item 13: every `OPTIONS` was answered 200 by the CORS layer, as a
/// preflight, whatever it carried. Only what a browser sends as a preflight
/// (`Origin` and `Access-Control-Request-Method`) is answered by CORS, and
/// never on `/v1/verify`; any other `OPTIONS` gets the endpoint's own answer.
#[tokio::test]
async fn regression_every_options_answered_200_by_cors() {
    let s = TestServer::start().await;
    for path in ["/v1/sessions", "/v1/logout-all", "/v1/session/login"] {
        for origin in [None, Some(APP_ORIGIN)] {
            let mut b = s.req(Method::OPTIONS, path);
            if let Some(o) = origin {
                b = b.header("origin", o);
            }
            let what = format!("OPTIONS {path} (origin {origin:?}) without a request method");
            let res = b.send().await.unwrap();
            assert!(headers_all(&res, "access-control-allow-methods").is_empty(), "{what}");
            assert_error(res, 405, "method_not_allowed").await;
        }
        // The browser's preflight is still answered.
        let res = preflight(&s, path, APP_ORIGIN, "POST").await;
        assert!(res.status().is_success(), "preflight {path}: {}", res.status());
        assert_granted(&res, &format!("preflight {path}"));
    }
    // /v1/verify is for gateways: even a browser's preflight gets its own 401.
    let res = preflight(&s, "/v1/verify", APP_ORIGIN, "GET").await;
    assert_not_granted(&res, "preflight /v1/verify");
    assert!(headers_all(&res, "access-control-allow-methods").is_empty());
    assert_error(res, 401, "unauthorized").await;
    // Below it too (Envoy appends the original path to its path_prefix):
    // never a 2xx a gateway would take for "allowed".
    let res = preflight(&s, "/v1/verify/app/orders", APP_ORIGIN, "GET").await;
    assert!(headers_all(&res, "access-control-allow-methods").is_empty());
    assert_error(res, 404, "not_found").await;
}
