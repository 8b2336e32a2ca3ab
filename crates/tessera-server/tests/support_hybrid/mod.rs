//! Helpers for the hybrid, verify, devices and CORS suites: hybrid-mode
//! logins with their three cookies parsed by hand, requests carrying exactly
//! the cookies a browser (or an attacker) would send, and the three kinds of
//! login of one user side by side. Included by each suite with
//! `mod support_hybrid;` beside `mod support;` (a directory module, so
//! Cargo does not build it as a test target of its own).
#![allow(dead_code, reason = "each test binary uses a different part of these helpers")]
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is how a test reports failure")]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

use crate::support::{Login, PASSWORD, TestServer, cookie_value};

/// The hybrid access-token cookie.
pub const AT: &str = "__Host-tessera_at";
/// The hybrid refresh-token cookie.
pub const RT: &str = "__Secure-tessera_rt";
/// The hybrid CSRF cookie.
pub const CSRF: &str = "__Host-tessera_csrf";
/// The session cookie.
pub const SESSION: &str = "__Host-tessera_session";

/// RFC 6750 §3: the challenge when no credential was sent.
pub const BEARER: &str = r#"Bearer realm="tessera""#;
/// RFC 6750 §3.1: the challenge when a credential was sent and failed.
pub const INVALID_TOKEN: &str = r#"Bearer realm="tessera", error="invalid_token""#;

/// A second password that passes the default policy.
pub const NEW_PASSWORD: &str = "a brand new passphrase 42";

/// Every `Set-Cookie` header, in order.
pub fn set_cookies(h: &HeaderMap) -> Vec<String> {
    h.get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// The single `Set-Cookie` for `name`; panics if absent or repeated.
pub fn only_set_cookie<'a>(all: &'a [String], name: &str) -> &'a str {
    let found: Vec<&String> = all.iter().filter(|c| c.starts_with(&format!("{name}="))).collect();
    assert_eq!(found.len(), 1, "exactly one Set-Cookie for {name}: {all:?}");
    found[0]
}

/// The claims of a compact JWS, decoded without verification.
pub fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a compact JWS");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// A header's value as text, if present.
pub fn header(res: &Response, name: &str) -> Option<String> {
    res.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
}

/// Every value of a header, as text.
pub fn headers_all(res: &Response, name: &str) -> Vec<String> {
    res.headers().get_all(name).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// A successful hybrid login (or refresh): the three cookie values and the body.
#[derive(Debug, Clone)]
pub struct Hybrid {
    pub at: String,
    pub rt: String,
    pub csrf: String,
    pub body: Value,
    pub set_cookies: Vec<String>,
    pub headers: HeaderMap,
}

impl Hybrid {
    /// Parses a 200 from `/v1/hybrid/login` or `/v1/hybrid/refresh`.
    pub async fn from_response(res: Response) -> Self {
        assert_eq!(res.status(), 200, "hybrid login/refresh");
        let headers = res.headers().clone();
        let all = set_cookies(&headers);
        let at = cookie_value(only_set_cookie(&all, AT)).to_owned();
        let rt = cookie_value(only_set_cookie(&all, RT)).to_owned();
        let csrf = cookie_value(only_set_cookie(&all, CSRF)).to_owned();
        let body: Value = res.json().await.unwrap();
        Self { at, rt, csrf, body, set_cookies: all, headers }
    }

    /// `Cookie` value a browser sends to a `Path=/` endpoint: the access
    /// token and the CSRF cookie (the refresh cookie stays on `/v1/hybrid`).
    pub fn site_cookies(&self) -> String {
        format!("{AT}={}; {CSRF}={}", self.at, self.csrf)
    }

    /// `Cookie` value a browser sends to `/v1/hybrid/*`: all three.
    pub fn hybrid_cookies(&self) -> String {
        format!("{RT}={}; {AT}={}; {CSRF}={}", self.rt, self.at, self.csrf)
    }

    /// `Cookie` value carrying only the access-token cookie.
    pub fn at_cookie(&self) -> String {
        format!("{AT}={}", self.at)
    }

    /// `Cookie` value carrying only the refresh cookie.
    pub fn rt_cookie(&self) -> String {
        format!("{RT}={}", self.rt)
    }
}

/// `POST /v1/hybrid/login` as JSON; the raw response.
pub async fn try_hybrid_login(s: &TestServer, username: &str, password: &str) -> Response {
    s.req(Method::POST, "/v1/hybrid/login")
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

/// `POST /v1/hybrid/login` with [`PASSWORD`]; panics unless 200.
pub async fn hybrid_login(s: &TestServer, username: &str) -> Hybrid {
    Hybrid::from_response(try_hybrid_login(s, username, PASSWORD).await).await
}

/// `POST /v1/hybrid/login` with a `User-Agent`; panics unless 200.
pub async fn hybrid_login_ua(s: &TestServer, username: &str, ua: &str) -> Hybrid {
    let res = s
        .req(Method::POST, "/v1/hybrid/login")
        .header("user-agent", ua)
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    Hybrid::from_response(res).await
}

/// `POST /v1/hybrid/refresh` with `cookie` and, if given, `X-CSRF-Token`.
pub async fn hybrid_refresh(s: &TestServer, cookie: &str, csrf: Option<&str>) -> Response {
    let mut b = s.req(Method::POST, "/v1/hybrid/refresh").header("cookie", cookie);
    if let Some(c) = csrf {
        b = b.header("x-csrf-token", c);
    }
    b.send().await.unwrap()
}

/// `POST /v1/hybrid/logout` with `cookie` and, if given, `X-CSRF-Token`.
pub async fn hybrid_logout(s: &TestServer, cookie: &str, csrf: Option<&str>) -> Response {
    let mut b = s.req(Method::POST, "/v1/hybrid/logout").header("cookie", cookie);
    if let Some(c) = csrf {
        b = b.header("x-csrf-token", c);
    }
    b.send().await.unwrap()
}

/// `GET /v1/verify`, shaped by `f`.
pub async fn verify_with(
    s: &TestServer,
    f: impl FnOnce(RequestBuilder) -> RequestBuilder,
) -> Response {
    f(s.req(Method::GET, "/v1/verify")).send().await.unwrap()
}

/// `GET /v1/verify` with `cookie`.
pub async fn verify_cookie(s: &TestServer, cookie: &str) -> Response {
    verify_with(s, |b| b.header("cookie", cookie)).await
}

/// `GET /v1/verify` with `Authorization: Bearer token`.
pub async fn verify_bearer(s: &TestServer, token: &str) -> Response {
    verify_with(s, |b| b.header("authorization", format!("Bearer {token}"))).await
}

/// Asserts a 401 from `/v1/verify` (any challenge) and returns its body.
pub async fn assert_verify_401(res: Response, what: &str) {
    assert_eq!(res.status(), 401, "{what}: expected 401");
    let challenge = header(&res, "www-authenticate");
    assert!(
        challenge.as_deref().is_some_and(|c| c.starts_with(BEARER)),
        "{what}: challenge {challenge:?}"
    );
}

/// The `X-Auth-Username` of a 200 from `/v1/verify`.
pub async fn verified_username(res: Response, what: &str) -> String {
    assert_eq!(res.status(), 200, "{what}: expected 200");
    header(&res, "x-auth-username").unwrap()
}

/// `POST /oauth/token` refresh grant as the built-in public client.
pub async fn oauth_refresh(s: &TestServer, refresh_token: &str) -> Response {
    s.req(Method::POST, "/oauth/token")
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
        .send()
        .await
        .unwrap()
}

/// Session login with a `User-Agent`; panics unless 200.
pub async fn session_login_ua(s: &TestServer, username: &str, ua: &str) -> Login {
    let res = s
        .req(Method::POST, "/v1/session/login")
        .header("user-agent", ua)
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "session login {username}");
    Login::from_response(s, res).await
}

/// Token login with a `User-Agent` and optional scope; panics unless 200.
pub async fn token_login_ua(
    s: &TestServer,
    username: &str,
    ua: &str,
    scope: Option<&str>,
) -> Value {
    let mut body = json!({"username": username, "password": PASSWORD});
    if let Some(scope) = scope {
        body["scope"] = scope.into();
    }
    let res = s
        .req(Method::POST, "/v1/token/login")
        .header("user-agent", ua)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "token login {username}");
    res.json().await.unwrap()
}

/// One user logged in three ways at once.
#[derive(Debug, Clone)]
pub struct ThreeLogins {
    pub user_id: String,
    pub session: Login,
    pub token: Value,
    pub hybrid: Hybrid,
}

impl ThreeLogins {
    /// The token login's access token.
    pub fn access_token(&self) -> &str {
        self.token["access_token"].as_str().unwrap()
    }

    /// The token login's refresh token.
    pub fn refresh_token(&self) -> &str {
        self.token["refresh_token"].as_str().unwrap()
    }

    /// `Cookie` value carrying the session cookie.
    pub fn session_cookie(&self) -> String {
        format!("{SESSION}={}", self.session.secret)
    }

    /// The session's public id.
    pub fn session_id(&self) -> String {
        self.session.body["session"]["id"].as_str().unwrap().to_owned()
    }
}

/// Creates `username` (scope `scope`) and logs in by session, token and hybrid
/// mode, with user agents `<username>-session`, `-token`, `-hybrid`.
pub async fn three_logins(s: &TestServer, username: &str, scope: &str) -> ThreeLogins {
    let user_id = s.create_user(username, scope).await;
    let session = session_login_ua(s, username, &format!("{username}-session")).await;
    let token = token_login_ua(s, username, &format!("{username}-token"), None).await;
    let hybrid = hybrid_login_ua(s, username, &format!("{username}-hybrid")).await;
    ThreeLogins { user_id, session, token, hybrid }
}

/// Asserts every credential of `l` is dead: session cookie, hybrid cookie
/// and bearer at `/v1/verify` (401), the token refresh (400) and the hybrid
/// refresh (400 or 401).
pub async fn assert_all_dead(s: &TestServer, l: &ThreeLogins, what: &str) {
    assert_verify_401(verify_cookie(s, &l.session_cookie()).await, &format!("{what}: session"))
        .await;
    assert_verify_401(verify_cookie(s, &l.hybrid.at_cookie()).await, &format!("{what}: hybrid"))
        .await;
    assert_verify_401(verify_bearer(s, l.access_token()).await, &format!("{what}: bearer")).await;
    let res = oauth_refresh(s, l.refresh_token()).await;
    assert_eq!(res.status(), 400, "{what}: token refresh");
    let res = hybrid_refresh(s, &l.hybrid.hybrid_cookies(), Some(&l.hybrid.csrf)).await;
    assert!(matches!(res.status().as_u16(), 400 | 401), "{what}: hybrid refresh {}", res.status());
}

/// Asserts every credential of `l` still works (without consuming anything).
pub async fn assert_all_alive(s: &TestServer, l: &ThreeLogins, what: &str) {
    assert_eq!(verify_cookie(s, &l.session_cookie()).await.status(), 200, "{what}: session");
    assert_eq!(verify_cookie(s, &l.hybrid.at_cookie()).await.status(), 200, "{what}: hybrid");
    assert_eq!(verify_bearer(s, l.access_token()).await.status(), 200, "{what}: bearer");
}
