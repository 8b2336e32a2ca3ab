//! Attacks the edges of the HTTP surface: health endpoints, unknown routes and
//! methods, oversized, malformed and hostile bodies and cookies, security
//! headers, and half-written records after a failed registration.

mod support;

use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use support::*;

const BODY_LIMIT: usize = 64 * 1024;

#[tokio::test]
async fn healthz_get_200_status_ok() {
    let s = TestServer::start().await;
    let res = s.req(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("content-type").map(|v| v.to_str().unwrap()),
        Some("application/json")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_get_store_up_200() {
    let s = TestServer::start().await;
    let res = s.req(Method::GET, "/readyz").send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn metrics_prometheus_text_counts_routes_by_template_never_raw_paths() {
    let s = TestServer::start().await;
    s.req(Method::GET, "/healthz").send().await.unwrap();
    let id = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
    s.req(Method::DELETE, &format!("/v1/sessions/{id}")).send().await.unwrap();
    let res = s.req(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = res.text().await.unwrap();
    assert!(
        text.contains(r#"tessera_http_requests_total{route="/healthz",status="200"}"#),
        "{text}"
    );
    assert!(text.contains(r#"route="/v1/sessions/{id}",status="401""#), "{text}");
    assert!(text.contains("tessera_http_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains("tessera_revocations_trusted 1"), "{text}");
    assert!(!text.contains(id), "ids never become labels");
}

#[tokio::test]
async fn unknown_path_404_not_found_shape() {
    let s = TestServer::start().await;
    for path in ["/nope", "/v1/session/nope", "/v1/users/", "/HEALTHZ", "/v1/../etc/passwd"] {
        let res = s.req(Method::GET, path).send().await.unwrap();
        assert_error(res, 404, "not_found").await;
    }
    let res = s.req(Method::POST, "/v2/users").json(&json!({})).send().await.unwrap();
    assert_error(res, 404, "not_found").await;
}

#[tokio::test]
async fn healthz_delete_405_method_not_allowed_shape() {
    let s = TestServer::start().await;
    let res = s.req(Method::DELETE, "/healthz").send().await.unwrap();
    assert_error(res, 405, "method_not_allowed").await;
    let res = s.req(Method::GET, "/v1/session/login").send().await.unwrap();
    assert_error(res, 405, "method_not_allowed").await;
    let res = s.req(Method::DELETE, "/v1/session/data").send().await.unwrap();
    assert_error(res, 405, "method_not_allowed").await;
}

/// RFC 9110 §15.5.6: a 405 response MUST carry `Allow`.
#[tokio::test]
async fn healthz_delete_405_lists_allowed_methods() {
    let s = TestServer::start().await;
    let res = s.req(Method::DELETE, "/healthz").send().await.unwrap();
    assert_eq!(res.status(), 405);
    let allow = res.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
    let allow = allow.expect("405 without an Allow header");
    let methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    assert!(methods.contains(&"GET"), "{allow}");
    assert!(!methods.contains(&"DELETE"), "{allow}");
}

// ------------------------------------------------------------------- bodies

/// A registration body of exactly `len` bytes (JSON padded with trailing whitespace).
fn padded_registration(username: &str, len: usize) -> Vec<u8> {
    let mut b = json!({"username": username, "password": PASSWORD}).to_string().into_bytes();
    assert!(b.len() <= len);
    b.resize(len, b' ');
    b
}

#[tokio::test]
async fn register_body_over_64kib_413_shape_and_no_user() {
    let s = TestServer::start().await;
    let res = s
        .req(Method::POST, "/v1/users")
        .header("content-type", "application/json")
        .body(padded_registration("big", BODY_LIMIT + 1))
        .send()
        .await
        .unwrap();
    assert_error(res, 413, "payload_too_large").await;
    s.assert_healthy().await;
    assert_eq!(s.try_login("big", PASSWORD).await.status(), 401, "413 body created a user");

    // Exactly at the limit is accepted.
    let res = s
        .req(Method::POST, "/v1/users")
        .header("content-type", "application/json")
        .body(padded_registration("big", BODY_LIMIT))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn login_body_over_64kib_413_shape() {
    let s = TestServer::start().await;
    s.register("alice").await;
    let res = s
        .req(Method::POST, "/v1/session/login")
        .header("content-type", "application/json")
        .body(padded_registration("alice", BODY_LIMIT + 1))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("set-cookie").is_none());
    assert_error(res, 413, "payload_too_large").await;
    s.assert_healthy().await;
}

/// Bodies no client should send: each is 400 `invalid_request` on both JSON
/// endpoints, never a 5xx, and the server keeps answering.
fn hostile_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let mut invalid_utf8 = br#"{"username":"al"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid_utf8.extend_from_slice(br#"ice","password":"correct horse battery staple"}"#);
    vec![
        ("truncated", br#"{"username":"alice","password":"#.to_vec()),
        ("not json", b"username=alice&password=x".to_vec()),
        ("wrong types", br#"{"username":1,"password":true}"#.to_vec()),
        ("username null", br#"{"username":null,"password":"correct horse battery"}"#.to_vec()),
        ("missing password", br#"{"username":"alice"}"#.to_vec()),
        ("missing username", br#"{"password":"correct horse battery"}"#.to_vec()),
        ("empty object", b"{}".to_vec()),
        ("empty body", Vec::new()),
        ("json null", b"null".to_vec()),
        ("json string", br#""alice""#.to_vec()),
        ("deep arrays", "[".repeat(10_000).into_bytes()),
        ("deep objects", r#"{"a":"#.repeat(10_000).into_bytes()),
        ("invalid utf-8", invalid_utf8),
        ("lone surrogate", br#"{"username":"\ud800","password":"correct horse battery"}"#.to_vec()),
        (
            "trailing garbage",
            br#"{"username":"alice","password":"correct horse battery"} x"#.to_vec(),
        ),
    ]
}

#[tokio::test]
async fn register_hostile_json_400_never_5xx() {
    let s = TestServer::start().await;
    for (what, body) in hostile_bodies() {
        let res = s
            .req(Method::POST, "/v1/users")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: connection failed: {e}"));
        assert_eq!(res.status(), 400, "{what}");
        assert_error(res, 400, "invalid_request").await;
        s.assert_healthy().await;
    }
    // None of them created "alice".
    s.register("alice").await;
}

#[tokio::test]
async fn login_hostile_json_400_never_5xx() {
    let s = TestServer::start().await;
    s.register("alice").await;
    for (what, body) in hostile_bodies() {
        let res = s
            .req(Method::POST, "/v1/session/login")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: connection failed: {e}"));
        assert_eq!(res.status(), 400, "{what}");
        assert!(res.headers().get("set-cookie").is_none(), "{what}");
        assert_error(res, 400, "invalid_request").await;
        s.assert_healthy().await;
    }
}

/// The contract's body is the object `{"username","password"}`; a JSON array
/// in the same order is a different shape and must not be read as one.
#[tokio::test]
async fn register_json_array_body_400_no_user() {
    let s = TestServer::start().await;
    let res = s
        .req(Method::POST, "/v1/users")
        .header("content-type", "application/json")
        .body(format!(r#"["alice","{PASSWORD}"]"#))
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "invalid_request").await;
    assert!(s.tessera.find_user_by_name("alice").await.is_err(), "an array created a user");
}

#[tokio::test]
async fn login_json_array_body_400_no_cookie() {
    let s = TestServer::start().await;
    s.register("alice").await;
    let res = s
        .req(Method::POST, "/v1/session/login")
        .header("content-type", "application/json")
        .body(format!(r#"["alice","{PASSWORD}"]"#))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("set-cookie").is_none(), "an array body logged in");
    assert_error(res, 400, "invalid_request").await;
}

#[tokio::test]
async fn login_form_missing_field_400() {
    let s = TestServer::start().await;
    s.register("alice").await;
    for body in ["username=alice", "password=x", "", "username=alice&pass=x"] {
        let res = s
            .req(Method::POST, "/v1/session/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_error(res, 400, "invalid_request").await;
        s.assert_healthy().await;
    }
    // The form path itself works when complete.
    let ok = s
        .req(Method::POST, "/v1/session/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username=alice&password={}", PASSWORD.replace(' ', "+")))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

// ------------------------------------------------------------------ cookies

#[tokio::test]
async fn session_with_8kib_or_garbage_cookie_401_not_5xx() {
    let s = TestServer::start().await;
    let login = s.user_session("alice").await;
    let long = format!("{}={}", s.cookie_name(), "A".repeat(8 * 1024));
    let cookies: Vec<HeaderValue> = vec![
        HeaderValue::from_str(&long).unwrap(),
        HeaderValue::from_static("__Host-tessera_session=;;;=="),
        HeaderValue::from_static("__Host-tessera_session"),
        HeaderValue::from_static("=;=;="),
        HeaderValue::from_static("__Host-tessera_session=\"\""),
        HeaderValue::from_bytes(b"__Host-tessera_session=\xff\xfe\xfd").unwrap(),
        HeaderValue::from_str(&format!("{}=%00{}", s.cookie_name(), &login.secret[3..])).unwrap(),
    ];
    for (i, c) in cookies.into_iter().enumerate() {
        for path in ["/v1/session", "/v1/session/data"] {
            let res = s.req(Method::GET, path).header("cookie", c.clone()).send().await.unwrap();
            assert_eq!(res.status(), 401, "cookie #{i} on {path}");
            assert_error(res, 401, "unauthorized").await;
        }
        let res = s
            .req(Method::POST, "/v1/session/logout")
            .header("cookie", c)
            .header("x-csrf-token", login.csrf.as_str())
            .send()
            .await
            .unwrap();
        assert_error(res, 401, "unauthorized").await;
        s.assert_healthy().await;
    }
    assert_eq!(s.whoami(&login.secret).await.status(), 200);
}

/// README "Connection bounds": header sections are bounded at 16 KiB and
/// going over is 431 (RFC 6585 §5), never a 5xx.
#[tokio::test]
async fn header_section_over_16kib_431() {
    let s = TestServer::start().await;
    let huge = format!("{}={}", s.cookie_name(), "A".repeat(20 * 1024));
    let res = s.req(Method::GET, "/v1/session").header("cookie", huge).send().await.unwrap();
    let status = res.status().as_u16();
    assert_eq!(status, 431, "20 KiB Cookie header");
    s.assert_healthy().await;
}

// ------------------------------------------------------------------ headers

#[tokio::test]
async fn responses_carry_nosniff() {
    let s = TestServer::start().await;
    s.register("alice").await;
    let nosniff = |r: &reqwest::Response| {
        r.headers().get("x-content-type-options").map(|v| v.to_str().unwrap().to_owned())
    };
    let ok = s.req(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(nosniff(&ok).as_deref(), Some("nosniff"), "200");
    let login = s.try_login("alice", PASSWORD).await;
    assert_eq!(nosniff(&login).as_deref(), Some("nosniff"), "login");
    let missing = s.req(Method::GET, "/nope").send().await.unwrap();
    assert_eq!(nosniff(&missing).as_deref(), Some("nosniff"), "404");
    let denied = s.whoami(&forged_secret()).await;
    assert_eq!(nosniff(&denied).as_deref(), Some("nosniff"), "401");
    let refused = s.req(Method::POST, "/v1/users").body("x").send().await.unwrap();
    assert_eq!(nosniff(&refused).as_deref(), Some("nosniff"), "415");
}

// -------------------------------------------------------- no half-written user

#[tokio::test]
async fn register_failed_400_leaves_no_user_row() {
    let s = TestServer::start().await;
    for bad in ["short", "password1", &"x7".repeat(513)] {
        assert_error(s.try_register("alice", bad).await, 400, "invalid_request").await;
        assert!(s.tessera.find_user_by_name("alice").await.is_err(), "row after {bad:?}");
    }
    assert_error(s.try_login("alice", "short").await, 401, "invalid_credentials").await;
    assert_eq!(s.try_register("alice", PASSWORD).await.status(), 201);
    assert_eq!(s.try_login("alice", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn path_id_not_utf8_is_404_in_the_contract_shape() {
    // axum's own path rejection would be a text/plain 400.
    let s = TestServer::start().await;
    s.create_user("root", "admin").await;
    let login = s.token_login("root", None).await;
    let token = login["access_token"].as_str().unwrap();
    for (method, path) in [
        (Method::DELETE, "/v1/sessions/%FF"),
        (Method::POST, "/admin/users/%FF/disable"),
        (Method::POST, "/admin/users/%C3%28/logout-all"),
    ] {
        let res = s.req(method, path).bearer_auth(token).send().await.unwrap();
        assert_error(res, 404, "not_found").await;
    }
}
