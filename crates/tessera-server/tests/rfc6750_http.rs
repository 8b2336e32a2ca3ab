//! RFC 6750's edge cases on every bearer-protected endpoint, over HTTP: a
//! token presented twice (header and `?access_token=`, §3.1), an empty or
//! malformed `Authorization: Bearer`, and the empty revocation and
//! introspection requests (RFC 7009, RFC 7662). Each endpoint must give the
//! same answer, because one function reads the bearer credential for all.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is how a test reports failure")]

mod support;
mod support_hybrid;

use reqwest::header::HeaderValue;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use support::*;
use support_hybrid::*;

const INVALID_REQUEST: &str = r#"Bearer realm="tessera", error="invalid_request""#;

/// Every endpoint that takes a bearer token, as (method, path, JSON body).
/// `victim` is a user the admin endpoints act on.
fn bearer_endpoints(victim: &str) -> Vec<(Method, String, Option<Value>)> {
    let change = json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"});
    vec![
        (Method::GET, "/v1/verify".into(), None),
        (Method::POST, "/v1/verify".into(), None),
        (Method::GET, "/v1/sessions".into(), None),
        (Method::DELETE, "/v1/sessions/6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f".into(), None),
        (Method::POST, "/v1/logout-all".into(), None),
        (Method::POST, "/v1/password".into(), Some(change)),
        (Method::GET, "/admin/keys".into(), None),
        (Method::POST, "/admin/keys/rotate".into(), None),
        (Method::POST, format!("/admin/users/{victim}/logout-all"), None),
        (Method::POST, format!("/admin/users/{victim}/disable"), None),
    ]
}

fn request(
    s: &TestServer,
    (method, path, body): &(Method, String, Option<Value>),
) -> RequestBuilder {
    let b = s.req(method.clone(), path);
    match body {
        Some(v) => b.json(v),
        None => b,
    }
}

/// Appends `query` to the endpoint's path.
fn with_query(
    (method, path, body): &(Method, String, Option<Value>),
    query: &str,
) -> (Method, String, Option<Value>) {
    (method.clone(), format!("{path}?{query}"), body.clone())
}

fn what((method, path, _): &(Method, String, Option<Value>), how: &str) -> String {
    format!("{method} {path} {how}")
}

async fn assert_challenge(res: Response, status: u16, challenge: &str, code: &str, what: &str) {
    assert_eq!(res.status(), status, "{what}");
    assert_eq!(headers_all(&res, "www-authenticate"), [challenge], "{what}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], code, "{what}: {body}");
}

/// Issue 12 item 15: a token in `?access_token=` beside an `Authorization`
/// header was ignored and the header's token used, where RFC 6750 §3.1 makes
/// the request `invalid_request`. Nothing happens: the admin's login, the
/// victim and the keys are as before.
#[tokio::test]
async fn regression_query_token_beside_authorization_header_accepted() {
    let s = TestServer::start().await;
    s.create_user("root", "admin").await;
    let victim = s.create_user("victim", "").await;
    let login = s.token_login("root", Some("admin")).await;
    let token = login["access_token"].as_str().unwrap().to_owned();
    let keys_before = s.bearer_get("/admin/keys", &token).await.text().await.unwrap();
    for endpoint in bearer_endpoints(&victim) {
        for query in [
            format!("access_token={token}"),
            "access_token=".to_owned(),
            format!("scope=admin&access_token={token}"),
        ] {
            let e = with_query(&endpoint, &query);
            let res = request(&s, &e).bearer_auth(&token).send().await.unwrap();
            assert_challenge(res, 400, INVALID_REQUEST, "invalid_request", &what(&e, "twice"))
                .await;
        }
        // The original request's query, as a gateway forwards it, counts too.
        if endpoint.1 == "/v1/verify" {
            for name in ["x-original-uri", "x-forwarded-uri"] {
                let res = request(&s, &endpoint)
                    .bearer_auth(&token)
                    .header(name, format!("/app?access_token={token}"))
                    .send()
                    .await
                    .unwrap();
                let how = format!("with {name} carrying a token");
                assert_challenge(
                    res,
                    400,
                    INVALID_REQUEST,
                    "invalid_request",
                    &what(&endpoint, &how),
                )
                .await;
            }
        }
    }
    // Nothing happened: the token lives, the victim can log in, no key rotated.
    assert_eq!(s.bearer_get("/v1/verify", &token).await.status(), 200);
    assert_eq!(s.try_login("victim", PASSWORD).await.status(), 200);
    assert_eq!(s.bearer_get("/admin/keys", &token).await.text().await.unwrap(), keys_before);
    // The header alone, and a query without a token, still work.
    let res = s.bearer_get("/v1/verify?scope=admin", &token).await;
    assert_eq!(res.status(), 200);
}

/// Issue 12 item 15: `Authorization: Bearer` without a token read as no
/// credential at all (a bare challenge, and on the endpoints that also take
/// cookies, a fall-through to the cookie). An empty or malformed token is a
/// credential that failed: 401 with `error="invalid_token"`, whatever cookie
/// rides along.
#[tokio::test]
async fn regression_empty_bearer_treated_as_no_credential() {
    let s = TestServer::start().await;
    s.create_user("root", "admin").await;
    let victim = s.create_user("victim", "").await;
    let login = s.token_login("root", Some("admin")).await;
    let token = login["access_token"].as_str().unwrap().to_owned();
    let session = s.login("root", PASSWORD).await;
    let hybrid = hybrid_login(&s, "root").await;
    let mut malformed: Vec<HeaderValue> = [
        "Bearer",
        "bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer \"quoted\"",
        "Bearer =",
        "Bearer\tabc",
    ]
    .iter()
    .map(|v| HeaderValue::from_str(v).unwrap())
    .collect();
    malformed.push(HeaderValue::from_str(&format!("Bearer {token} {token}")).unwrap());
    malformed.push(HeaderValue::from_str(&format!("Bearer {token},")).unwrap());
    malformed.push(HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap());
    for endpoint in bearer_endpoints(&victim) {
        for auth in &malformed {
            for cookie in [None, Some(s.cookie(&session.secret)), Some(hybrid.at_cookie())] {
                let mut b = request(&s, &endpoint).header("authorization", auth.clone());
                if let Some(c) = &cookie {
                    b = b.header("cookie", c).header("x-csrf-token", &session.csrf);
                }
                let how = format!("with {auth:?} (cookie: {})", cookie.is_some());
                let res = b.send().await.unwrap();
                assert_challenge(res, 401, INVALID_TOKEN, "invalid_token", &what(&endpoint, &how))
                    .await;
            }
        }
    }
    // Nothing happened.
    assert_eq!(s.bearer_get("/v1/verify", &token).await.status(), 200);
    assert_eq!(s.whoami(&session.secret).await.status(), 200);
    assert_eq!(s.try_login("victim", PASSWORD).await.status(), 200);
}

/// Issue 12 item 15: an empty `POST /oauth/revoke` or `/oauth/introspect`
/// (no body, no `Content-Type`) was 415, where a body without `token` is 400
/// `invalid_request`; both are now the same 400.
#[tokio::test]
async fn regression_empty_revoke_or_introspect_415() {
    let s = TestServer::start().await;
    let secret = s.confidential_client("rs", "").await;
    for path in ["/oauth/revoke", "/oauth/introspect"] {
        let empty = s.req(Method::POST, path).send().await.unwrap();
        assert_error(empty, 400, "invalid_request").await;
        let authenticated = s.req(Method::POST, path).basic_auth("rs", Some(&secret));
        assert_error(authenticated.send().await.unwrap(), 400, "invalid_request").await;
        let without_token = s.req(Method::POST, path).form(&[("token_type_hint", "access_token")]);
        assert_error(without_token.send().await.unwrap(), 400, "invalid_request").await;
        // A body of no stated type is still refused as such.
        let untyped = s.req(Method::POST, path).body("token=abc");
        assert_error(untyped.send().await.unwrap(), 415, "unsupported_media_type").await;
    }
}
