//! Attacks `/v1/verify` (forward auth) over HTTP: RFC 6750 challenges, the
//! identity headers and body, credential precedence, `?scope=`, any method,
//! CSRF for cookie credentials on unsafe original methods, spoofed identity
//! headers, tokens in query strings, and garbage that must never get a status
//! other than 200, 401 or 403 (so a gateway fails closed).
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is how a test reports failure")]

mod support;
mod support_hybrid;

use reqwest::header::HeaderValue;
use reqwest::{Method, Response};
use serde_json::{Value, json};
use support::*;
use support_hybrid::*;

/// The identity headers a 200 carries.
const IDENTITY_HEADERS: [&str; 5] =
    ["x-auth-subject", "x-auth-username", "x-auth-scope", "x-auth-method", "x-auth-session"];

/// Asserts a 200 with exactly one of each identity header, equal to the
/// JSON body's fields; returns (subject, username, scope, method, session).
async fn identity(res: Response) -> [String; 5] {
    assert_eq!(res.status(), 200, "expected 200 from /v1/verify");
    assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"));
    let mut from_headers = Vec::new();
    for name in IDENTITY_HEADERS {
        let all = headers_all(&res, name);
        assert_eq!(all.len(), 1, "exactly one {name}: {all:?}");
        from_headers.push(all[0].clone());
    }
    let body: Value = res.json().await.unwrap();
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["method", "scope", "session", "subject", "username"], "{body}");
    for (field, h) in
        ["subject", "username", "scope", "method", "session"].iter().zip(&from_headers)
    {
        assert_eq!(body[field], h.as_str(), "body {field} differs from its header");
    }
    from_headers.try_into().unwrap()
}

/// Asserts 401 with the bare challenge (no credential).
async fn assert_no_credential(res: Response, what: &str) {
    assert_eq!(res.status(), 401, "{what}");
    assert_eq!(headers_all(&res, "www-authenticate"), [BEARER], "{what}");
    assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"), "{what}");
    for name in IDENTITY_HEADERS {
        assert!(res.headers().get(name).is_none(), "{what}: {name} on a 401");
    }
}

/// Asserts 401 with the `invalid_token` challenge (a credential that failed).
async fn assert_invalid(res: Response, what: &str) {
    assert_eq!(res.status(), 401, "{what}");
    assert_eq!(headers_all(&res, "www-authenticate"), [INVALID_TOKEN], "{what}");
    for name in IDENTITY_HEADERS {
        assert!(res.headers().get(name).is_none(), "{what}: {name} on a 401");
    }
}

fn access(v: &Value) -> &str {
    v["access_token"].as_str().unwrap()
}

/// `/v1/verify` with a `?query`, shaped by `f`.
async fn verify_query(
    s: &TestServer,
    query: &str,
    f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Response {
    f(s.req(Method::GET, &format!("/v1/verify?{query}"))).send().await.unwrap()
}

// -------------------------------------------------------------- challenges

#[tokio::test]
async fn verify_no_credential_401_bare_bearer_challenge() {
    let s = TestServer::start().await;
    assert_no_credential(verify_with(&s, |b| b).await, "nothing").await;
    // Unrelated cookies and a CSRF header are not credentials either.
    let res =
        verify_with(&s, |b| b.header("cookie", "theme=dark; x=1").header("x-csrf-token", "x"))
            .await;
    assert_no_credential(res, "unrelated cookies").await;
}

#[tokio::test]
async fn verify_bad_bearer_401_invalid_token_challenge() {
    let s = TestServer::start().await;
    s.create_user("alice", "read").await;
    let login = s.token_login("alice", None).await;
    let good = access(&login);
    let (head, rest) = good.split_once('.').unwrap();
    let tampered = format!("{head}.{}x", rest);
    for bad in ["garbage", "a.b.c", tampered.as_str(), login["refresh_token"].as_str().unwrap()] {
        let res = verify_bearer(&s, bad).await;
        assert_invalid(res, bad).await;
    }
    let res = verify_bearer(&s, "garbage").await;
    assert_error(res, 401, "invalid_token").await;
}

#[tokio::test]
async fn verify_expired_or_revoked_credential_401_invalid_token_challenge() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let token = s.token_login("alice", None).await;
    let hybrid = hybrid_login(&s, "alice").await;
    let session = s.login("alice", PASSWORD).await;
    assert_eq!(s.logout(&session.secret, &session.csrf).await.status(), 204);
    assert_invalid(verify_cookie(&s, &s.cookie(&session.secret)).await, "logged-out session").await;

    s.advance(900 + 30 + 1); // past expiry and the default leeway
    assert_invalid(verify_bearer(&s, access(&token)).await, "expired bearer").await;
    assert_invalid(verify_cookie(&s, &hybrid.at_cookie()).await, "expired hybrid cookie").await;
}

// ---------------------------------------------------------------- identity

#[tokio::test]
async fn verify_bearer_200_identity_headers_equal_body_no_store() {
    let s = TestServer::start().await;
    let id = s.create_user("alice", "admin read").await;
    let login = s.token_login("alice", None).await;
    let [subject, username, scope, method, session] =
        identity(verify_bearer(&s, access(&login)).await).await;
    assert_eq!(subject, id);
    assert_eq!(username, "alice");
    assert_eq!(scope, "admin read");
    assert_eq!(method, "bearer");
    // The session is the login (sid) the token descends from, as listed on the devices page.
    let sessions: Value = s.bearer_get("/v1/sessions", access(&login)).await.json().await.unwrap();
    assert_eq!(sessions["sessions"][0]["id"], session.as_str());
    assert_eq!(sessions["sessions"][0]["kind"], "token");
}

#[tokio::test]
async fn verify_session_cookie_200_method_session_public_handle() {
    let s = TestServer::start().await;
    let id = s.create_user("alice", "read").await;
    let login = s.login("alice", PASSWORD).await;
    let [subject, username, scope, method, session] =
        identity(verify_cookie(&s, &s.cookie(&login.secret)).await).await;
    assert_eq!(
        (subject.as_str(), username.as_str(), scope.as_str(), method.as_str()),
        (id.as_str(), "alice", "read", "session")
    );
    assert_eq!(session, login.body["session"]["id"].as_str().unwrap());
    assert_ne!(session, login.secret, "the cookie secret leaked to the gateway");
}

#[tokio::test]
async fn verify_bearer_plus_other_users_cookies_bearers_identity() {
    let s = TestServer::start().await;
    let alice_id = s.create_user("alice", "read").await;
    s.create_user("bob", "admin").await;
    let alice = s.token_login("alice", None).await;
    let bob_session = s.login("bob", PASSWORD).await;
    let bob_hybrid = hybrid_login(&s, "bob").await;
    let cookies = format!("{}; {}", s.cookie(&bob_session.secret), bob_hybrid.site_cookies());
    let res = verify_with(&s, |b| {
        b.header("authorization", format!("Bearer {}", access(&alice))).header("cookie", &cookies)
    })
    .await;
    let [subject, username, scope, method, _] = identity(res).await;
    assert_eq!(
        (subject, username, scope, method),
        (alice_id, "alice".into(), "read".into(), "bearer".into())
    );

    // Without a bearer: the hybrid cookie comes before the session cookie.
    let carol_id = s.create_user("carol", "").await;
    let carol_session = s.login("carol", PASSWORD).await;
    let cookies = format!("{}; {}", s.cookie(&carol_session.secret), bob_hybrid.at_cookie());
    let [_, username, _, method, _] = identity(verify_cookie(&s, &cookies).await).await;
    assert_eq!((username.as_str(), method.as_str()), ("bob", "hybrid"));
    let [subject, _, _, method, _] =
        identity(verify_cookie(&s, &s.cookie(&carol_session.secret)).await).await;
    assert_eq!((subject, method.as_str()), (carol_id, "session"));
}

// ------------------------------------------------------------------- scope

#[tokio::test]
async fn verify_scope_query_missing_scope_403_all_present_200() {
    let s = TestServer::start().await;
    s.create_user("alice", "admin read").await;
    let narrow = s.token_login("alice", Some("read")).await;
    let full = s.token_login("alice", None).await;
    let bearer = |t: &Value| format!("Bearer {}", access(t));

    for q in ["scope=read%20admin", "scope=admin", "scope=read+admin", "scope=read&scope=admin"] {
        let res = verify_query(&s, q, |b| b.header("authorization", bearer(&narrow))).await;
        assert_eq!(res.status(), 403, "{q}");
        assert!(res.headers().get("x-auth-subject").is_none(), "{q}: identity on a 403");
        assert_error(res, 403, "insufficient_scope").await;
    }
    for q in ["scope=read%20admin", "scope=admin+read", "scope=read", "scope="] {
        let res = verify_query(&s, q, |b| b.header("authorization", bearer(&full))).await;
        assert_eq!(identity(res).await[2], "admin read", "{q}");
    }
    // A scope name that is a prefix or substring of a granted one is not granted.
    for q in ["scope=adm", "scope=admin%20rea", "scope=admin%2Cread"] {
        let res = verify_query(&s, q, |b| b.header("authorization", bearer(&full))).await;
        assert_error(res, 403, "insufficient_scope").await;
    }
    // The scope check applies to cookie credentials too.
    s.create_user("bob", "read").await;
    let bob = s.login("bob", PASSWORD).await;
    let res =
        verify_query(&s, "scope=read%20admin", |b| b.header("cookie", s.cookie(&bob.secret))).await;
    assert_error(res, 403, "insufficient_scope").await;
}

// ----------------------------------------------------------------- methods

#[tokio::test]
async fn verify_any_method_accepted_200() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let login = s.token_login("alice", None).await;
    for method in
        [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH, Method::HEAD]
    {
        let res = s
            .req(method.clone(), "/v1/verify")
            .header("authorization", format!("Bearer {}", access(&login)))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{method}");
        assert_eq!(header(&res, "x-auth-username").as_deref(), Some("alice"), "{method}");
    }
    for method in [Method::POST, Method::DELETE] {
        let res = s.req(method.clone(), "/v1/verify").send().await.unwrap();
        assert_no_credential(res, method.as_str()).await;
    }
}

/// Every method a gateway may forward, and a browser-style preflight
/// (`OPTIONS` with `Origin` and `Access-Control-Request-Method`), which Envoy's
/// `ext_authz` would forward as is.
fn every_method(s: &TestServer) -> Vec<(String, reqwest::RequestBuilder)> {
    let mut all: Vec<(String, reqwest::RequestBuilder)> = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ]
    .into_iter()
    .map(|m| (m.to_string(), s.req(m, "/v1/verify")))
    .collect();
    let preflight = s
        .req(Method::OPTIONS, "/v1/verify")
        .header("origin", APP_ORIGIN)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization");
    all.push(("OPTIONS preflight".into(), preflight));
    all
}

/// Issue 12 item 13: tower-http's CORS layer answered every `OPTIONS` with 200
/// before `/v1/verify` ran, so behind Envoy's `ext_authz` (which forwards the
/// client's method) an unauthenticated `OPTIONS` reached the upstream.
#[tokio::test]
async fn regression_options_on_verify_answered_200_by_cors_without_credential() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let login = s.token_login("alice", None).await;
    for (what, req) in every_method(&s) {
        let res = req.send().await.unwrap();
        assert!(
            headers_all(&res, "access-control-allow-methods").is_empty(),
            "{what}: answered as a CORS preflight"
        );
        assert_no_credential(res, &format!("{what} without a credential")).await;
    }
    for (what, req) in every_method(&s) {
        let res = req.bearer_auth(access(&login)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{what} with a bearer");
        assert_eq!(header(&res, "x-auth-username").as_deref(), Some("alice"), "{what}");
        if what != "HEAD" {
            identity(res).await;
        }
    }
    for (what, req) in every_method(&s) {
        let res = req.bearer_auth("not.a.token").send().await.unwrap();
        assert_invalid(res, &format!("{what} with a bad bearer")).await;
    }
    // Cookie credentials: the endpoint's own CSRF rule applies to every
    // method (OPTIONS is safe, the unsafe ones need the token).
    let h = hybrid_login(&s, "alice").await;
    for (what, req) in every_method(&s) {
        let res = req.header("cookie", h.at_cookie()).send().await.unwrap();
        let unsafe_method = ["POST", "PUT", "PATCH", "DELETE"].contains(&what.as_str());
        assert_eq!(res.status(), if unsafe_method { 403 } else { 200 }, "{what} with a cookie");
    }
}

#[tokio::test]
async fn verify_cookie_unsafe_original_method_without_csrf_403_with_csrf_200() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let session = s.login("alice", PASSWORD).await;
    let hybrid = hybrid_login(&s, "alice").await;
    let creds = [
        ("session", s.cookie(&session.secret), session.csrf.clone()),
        ("hybrid", hybrid.site_cookies(), hybrid.csrf.clone()),
    ];
    for (kind, cookie, csrf) in &creds {
        for (name, method) in [
            ("x-original-method", "POST"),
            ("x-forwarded-method", "DELETE"),
            ("x-original-method", "PUT"),
            ("x-forwarded-method", "PATCH"),
        ] {
            let what = format!("{kind} {name}: {method}");
            let res = verify_with(&s, |b| b.header("cookie", cookie).header(name, method)).await;
            assert_eq!(res.status(), 403, "{what} without CSRF");
            assert_error(res, 403, "csrf_failed").await;
            let res = verify_with(&s, |b| {
                b.header("cookie", cookie).header(name, method).header("x-csrf-token", "wrong")
            })
            .await;
            assert_eq!(res.status(), 403, "{what} with a wrong CSRF token");
            let res = verify_with(&s, |b| {
                b.header("cookie", cookie).header(name, method).header("x-csrf-token", csrf)
            })
            .await;
            assert_eq!(identity(res).await[3], *kind, "{what} with CSRF");
        }
        // Safe original methods need none.
        for method in ["GET", "HEAD", "OPTIONS"] {
            let res =
                verify_with(&s, |b| b.header("cookie", cookie).header("x-original-method", method))
                    .await;
            assert_eq!(res.status(), 200, "{kind} {method}");
        }
    }
    // The session's CSRF token is not the hybrid login's, nor the reverse.
    let res = verify_with(&s, |b| {
        b.header("cookie", hybrid.site_cookies())
            .header("x-original-method", "POST")
            .header("x-csrf-token", &session.csrf)
    })
    .await;
    assert_error(res, 403, "csrf_failed").await;
    let res = verify_with(&s, |b| {
        b.header("cookie", s.cookie(&session.secret))
            .header("x-original-method", "POST")
            .header("x-csrf-token", &hybrid.csrf)
    })
    .await;
    assert_error(res, 403, "csrf_failed").await;
}

#[tokio::test]
async fn verify_cookie_lowercase_unsafe_original_method_without_csrf_403() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let session = s.login("alice", PASSWORD).await;
    for method in ["post", "delete", "Post"] {
        let res = verify_with(&s, |b| {
            b.header("cookie", s.cookie(&session.secret)).header("x-original-method", method)
        })
        .await;
        assert_error(res, 403, "csrf_failed").await;
    }
}

/// A gateway passes the client's own headers through (Traefik `forwardAuth`
/// copies them and adds `X-Forwarded-Method`). When the two method headers
/// disagree, the request must be treated as unsafe: otherwise a client-added
/// `X-Original-Method: GET` would switch off the CSRF check.
#[tokio::test]
async fn verify_cookie_conflicting_method_headers_without_csrf_403() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let session = s.login("alice", PASSWORD).await;
    let hybrid = hybrid_login(&s, "alice").await;
    for cookie in [s.cookie(&session.secret), hybrid.site_cookies()] {
        let res = verify_with(&s, |b| {
            b.header("cookie", &cookie)
                .header("x-original-method", "GET")
                .header("x-forwarded-method", "POST")
        })
        .await;
        assert_error(res, 403, "csrf_failed").await;
    }
}

/// An original method that is not a valid HTTP method is not known to be
/// safe: with a cookie credential and no CSRF token, fail closed.
#[tokio::test]
async fn verify_cookie_unparseable_original_method_without_csrf_403() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let session = s.login("alice", PASSWORD).await;
    for method in ["P OST", "", "(POST)", "GET POST"] {
        let res = verify_with(&s, |b| {
            b.header("cookie", s.cookie(&session.secret)).header("x-original-method", method)
        })
        .await;
        assert_eq!(res.status(), 403, "original method {method:?} treated as safe");
        assert_error(res, 403, "csrf_failed").await;
    }
}

#[tokio::test]
async fn verify_bearer_unsafe_original_method_no_csrf_needed_200() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let login = s.token_login("alice", None).await;
    for (name, method) in [("x-original-method", "POST"), ("x-forwarded-method", "DELETE")] {
        let res = verify_with(&s, |b| {
            b.header("authorization", format!("Bearer {}", access(&login))).header(name, method)
        })
        .await;
        assert_eq!(identity(res).await[3], "bearer", "{name}: {method}");
    }
}

// --------------------------------------------------------- spoofed headers

#[tokio::test]
async fn verify_spoofed_identity_headers_never_believed() {
    let s = TestServer::start().await;
    let alice_id = s.create_user("alice", "read").await;
    let admin_id = s.create_user("root", "admin").await;
    let login = s.token_login("alice", None).await;
    let spoof = |b: reqwest::RequestBuilder| {
        b.header("x-auth-subject", &admin_id)
            .header("x-auth-username", "root")
            .header("x-auth-scope", "admin")
            .header("x-auth-method", "session")
            .header("x-auth-session", "00000000-0000-0000-0000-000000000000")
            .header("remote-user", "root")
            .header("x-forwarded-user", "root")
            .header("x-remote-user", "root")
            .header("x-user", "root")
    };

    // With no credential, the spoofed identity is not a credential.
    let res = verify_with(&s, spoof).await;
    assert_no_credential(res, "spoofed headers only").await;
    // With no credential, even asking for nothing.
    let res = verify_query(&s, "scope=", spoof).await;
    assert_eq!(res.status(), 401);

    // With a real credential, the answer carries the real identity only.
    let res =
        verify_with(&s, |b| spoof(b).header("authorization", format!("Bearer {}", access(&login))))
            .await;
    for name in ["remote-user", "x-forwarded-user", "x-remote-user", "x-user"] {
        assert!(res.headers().get(name).is_none(), "{name} echoed");
    }
    let [subject, username, scope, method, session] = identity(res).await;
    assert_eq!(subject, alice_id);
    assert_eq!(username, "alice");
    assert_eq!(scope, "read");
    assert_eq!(method, "bearer");
    assert_ne!(session, "00000000-0000-0000-0000-000000000000");

    // A spoofed scope does not satisfy `?scope=`.
    let res = verify_query(&s, "scope=admin", |b| {
        spoof(b).header("authorization", format!("Bearer {}", access(&login)))
    })
    .await;
    assert_error(res, 403, "insufficient_scope").await;
}

// ------------------------------------------------------------ query tokens

#[tokio::test]
async fn verify_access_token_in_query_or_body_401() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let login = s.token_login("alice", None).await;
    let token = access(&login);
    let res = verify_query(&s, &format!("access_token={token}"), |b| b).await;
    assert_no_credential(res, "?access_token=").await;
    let res = verify_query(&s, &format!("scope=&access_token={token}"), |b| b).await;
    assert_eq!(res.status(), 401, "?scope=&access_token=");
    // Nor in a form body (RFC 6750 §2.2 is not offered).
    let res =
        s.req(Method::POST, "/v1/verify").form(&[("access_token", token)]).send().await.unwrap();
    assert_no_credential(res, "form body access_token").await;
    let res = s
        .req(Method::POST, "/v1/verify")
        .json(&json!({"access_token": token}))
        .send()
        .await
        .unwrap();
    assert_no_credential(res, "JSON body access_token").await;
}

// ----------------------------------------------------------------- garbage

#[tokio::test]
async fn verify_garbage_inputs_exact_status_each_percent_encoded_scope_counts() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let login = s.token_login("alice", None).await;
    let token = access(&login).to_owned();

    let mut auth: Vec<HeaderValue> = [
        "Bearer",
        "Bearer ",
        "Bearer  ",
        "bearer",
        "Bearer\t",
        "Basic",
        "Basic !!!",
        "Basic YWxpY2U6cGFzc3dvcmQ=",
        "Digest username=\"alice\"",
        "Bearer a b c",
        "Bearer ....",
        "Bearer .",
        "Bearer null",
        "Bearer undefined",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.",
        "Bearer \"quoted\"",
        "DPoP abc",
        ",,,",
        "=",
    ]
    .iter()
    .map(|v| HeaderValue::from_str(v).unwrap())
    .collect();
    auth.push(HeaderValue::from_str(&format!("Bearer {token} {token}")).unwrap());
    auth.push(HeaderValue::from_str(&format!("Bearer {token},")).unwrap());
    auth.push(HeaderValue::from_str(&format!("Bearer{token}")).unwrap());
    auth.push(HeaderValue::from_str(&format!("Bearer {}", "A".repeat(7000))).unwrap());
    auth.push(HeaderValue::from_bytes(b"Bearer \xff\xfe\x80").unwrap());
    auth.push(
        HeaderValue::from_bytes(&[b"Bearer ".as_slice(), token.as_bytes(), b"\xff"].concat())
            .unwrap(),
    );

    let mut cookies: Vec<HeaderValue> = [
        ";;;=;",
        "=",
        "__Host-tessera_session",
        "__Host-tessera_session=",
        "__Host-tessera_at=",
        "__Host-tessera_at=a.b.c",
        "__Host-tessera_at=\"\"",
        "__Host-tessera_session=\"unterminated",
        "__Host-tessera_at=x; __Host-tessera_at=y",
        "__Host-tessera_session=../../etc/passwd",
        "__Host-tessera_session=' OR 1=1 --",
    ]
    .iter()
    .map(|v| HeaderValue::from_str(v).unwrap())
    .collect();
    cookies.push(
        HeaderValue::from_str(&format!("__Host-tessera_session={}", "A".repeat(8000))).unwrap(),
    );
    cookies
        .push(HeaderValue::from_str(&format!("__Host-tessera_at={}", "B.".repeat(4000))).unwrap());
    cookies.push(HeaderValue::from_bytes(b"__Host-tessera_session=\xff\xfe\xfd").unwrap());
    cookies.push(HeaderValue::from_bytes(b"__Host-tessera_at=\xc3\x28.\xa0\xa1").unwrap());
    cookies.push(HeaderValue::from_bytes(b"\xff=\xff; __Host-tessera_session=x").unwrap());

    // Each query with the status a bearer token of scope "" must get. The
    // query is decoded as a form (RFC 3986 percent-decoding of names and
    // values, `+` as a space): `%73cope` *is* `scope`, an undecodable escape
    // is kept literally and names a scope nobody holds, a repeated `scope`
    // requires every listed value, and an empty list requires nothing.
    let queries = [
        ("scope=%ZZ", 403),
        ("scope=%", 403),
        ("scope=%00", 403),
        ("scope=%FF%FE", 403),
        ("scope", 200),
        ("&&&", 200),
        ("=", 200),
        ("scope=a&scope", 403),
        ("scope[]=admin", 200),
        ("%73cope=admin", 403),
        ("scope=+++", 200),
        ("scope=read;admin", 403),
    ];

    let check = |res: Response, what: String| {
        let status = res.status().as_u16();
        assert!(matches!(status, 200 | 401 | 403), "{what}: status {status}");
        status
    };
    for a in &auth {
        let res = verify_with(&s, |b| b.header("authorization", a.clone())).await;
        assert_eq!(check(res, format!("authorization {a:?}")), 401, "{a:?}");
    }
    for c in &cookies {
        for method in ["GET", "POST"] {
            let res = verify_with(&s, |b| {
                b.header("cookie", c.clone()).header("x-original-method", method)
            })
            .await;
            assert_eq!(check(res, format!("cookie {c:?} {method}")), 401, "{c:?}");
        }
    }
    let mut wrong = Vec::new();
    for (q, expected) in queries {
        let res = verify_query(&s, q, |b| b).await;
        assert_eq!(check(res, format!("query {q} without credential")), 401, "{q}");
        let res =
            verify_query(&s, q, |b| b.header("authorization", format!("Bearer {token}"))).await;
        let status = check(res, format!("query {q} with bearer"));
        if status != expected {
            wrong.push((q, status, expected));
        }
    }
    assert!(wrong.is_empty(), "(query, status, expected): {wrong:?}");
    let methods: [&[u8]; 5] = [b"", b"P OST", b"\xff\xfe", b"GET, POST", b"CONNECT"];
    for m in methods {
        let v = HeaderValue::from_bytes(m).unwrap();
        let res = verify_with(&s, |b| {
            b.header("authorization", format!("Bearer {token}"))
                .header("x-original-method", v.clone())
        })
        .await;
        // A bearer token needs no CSRF token whatever the method claims.
        assert_eq!(check(res, format!("x-original-method {m:?}")), 200, "{m:?}");
        let uri = HeaderValue::from_bytes(&[b"/\xff/../".as_slice(), m].concat()).unwrap();
        let res = verify_with(&s, |b| b.header("x-original-uri", uri.clone())).await;
        assert_eq!(check(res, format!("x-original-uri {uri:?}")), 401, "{uri:?}");
    }
    s.assert_healthy().await;
}
