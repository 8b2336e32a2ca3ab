//! Attacks CSRF defences over HTTP: missing, foreign and wrong tokens,
//! cross-site `Origin` and `Sec-Fetch-Site`, login CSRF, HTML-form logout,
//! and the simple-request content types a cross-site form can send (415).

mod support;

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use support::*;

const NEW_PASSWORD: &str = "a brand new passphrase 42";

/// The three cookie-authenticated, state-changing endpoints.
#[derive(Clone, Copy, Debug)]
enum Target {
    Logout,
    PutData,
    ChangePassword,
}

const TARGETS: [Target; 3] = [Target::Logout, Target::PutData, Target::ChangePassword];

impl Target {
    /// The request with the session cookie and a valid body, but no CSRF token.
    fn request(self, s: &TestServer, secret: &str) -> RequestBuilder {
        let cookie = s.cookie(secret);
        match self {
            Target::Logout => s.req(Method::POST, "/v1/session/logout").header("cookie", cookie),
            Target::PutData => s
                .req(Method::PUT, "/v1/session/data")
                .header("cookie", cookie)
                .json(&json!({"written": true})),
            Target::ChangePassword => s
                .req(Method::POST, "/v1/password")
                .header("cookie", cookie)
                .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
        }
    }

    /// Asserts the request had no effect: the session lives and nothing changed.
    async fn assert_not_applied(self, s: &TestServer, user: &str, login: &Login) {
        assert_eq!(s.whoami(&login.secret).await.status(), 200, "{self:?}: session died");
        match self {
            Target::Logout => {}
            Target::PutData => {
                let data: Value = s.get_data(&login.secret).await.json().await.expect("JSON data");
                assert_eq!(data, json!({}), "{self:?}: data was written");
            }
            Target::ChangePassword => {
                assert_eq!(
                    s.try_login(user, NEW_PASSWORD).await.status(),
                    401,
                    "{self:?}: password was changed"
                );
                assert_eq!(s.try_login(user, PASSWORD).await.status(), 200);
            }
        }
    }

    /// Asserts the request took effect.
    async fn assert_applied(self, s: &TestServer, user: &str, login: &Login) {
        match self {
            Target::Logout => {
                assert_eq!(s.whoami(&login.secret).await.status(), 401, "not logged out");
            }
            Target::PutData => {
                let data: Value = s.get_data(&login.secret).await.json().await.expect("JSON data");
                assert_eq!(data, json!({"written": true}));
            }
            Target::ChangePassword => {
                assert_eq!(s.whoami(&login.secret).await.status(), 200);
                assert_eq!(s.try_login(user, NEW_PASSWORD).await.status(), 200);
                assert_eq!(s.try_login(user, PASSWORD).await.status(), 401);
            }
        }
    }
}

/// For each target: a fresh user and session, the request shaped by `shape`,
/// then 403 `csrf_failed` and no effect.
async fn refused_for_every_target(
    s: &TestServer,
    tag: &str,
    shape: impl Fn(RequestBuilder, &Login) -> RequestBuilder,
) {
    for (i, t) in TARGETS.into_iter().enumerate() {
        let user = format!("{tag}{i}");
        let login = s.user_session(&user).await;
        let res = shape(t.request(s, &login.secret), &login).send().await.expect("request failed");
        assert_eq!(res.status(), 403, "{t:?} {tag}");
        assert!(res.headers().get("set-cookie").is_none(), "{t:?} {tag}: 403 set a cookie");
        assert_error(res, 403, "csrf_failed").await;
        t.assert_not_applied(s, &user, &login).await;
    }
}

#[tokio::test]
async fn state_change_without_csrf_token_403_session_alive() {
    let s = TestServer::start().await;
    refused_for_every_target(&s, "none", |r, _| r).await;
    refused_for_every_target(&s, "empty", |r, _| r.header("x-csrf-token", "")).await;
}

#[tokio::test]
async fn state_change_with_other_users_token_403() {
    let s = TestServer::start().await;
    let other = s.user_session("other").await;
    let token = other.csrf.clone();
    refused_for_every_target(&s, "victim", move |r, _| r.header("x-csrf-token", token.as_str()))
        .await;
    assert_eq!(s.whoami(&other.secret).await.status(), 200);
}

#[tokio::test]
async fn state_change_with_altered_or_wrong_token_403() {
    let s = TestServer::start().await;
    // The token with its last character changed, the cookie secret, a prefix.
    refused_for_every_target(&s, "flip", |r, l| {
        let mut t = l.csrf.clone();
        let last = t.pop().unwrap();
        t.push(if last == 'A' { 'B' } else { 'A' });
        r.header("x-csrf-token", t)
    })
    .await;
    refused_for_every_target(&s, "secret", |r, l| r.header("x-csrf-token", l.secret.as_str()))
        .await;
    refused_for_every_target(&s, "prefix", |r, l| r.header("x-csrf-token", &l.csrf[..10])).await;
}

#[tokio::test]
async fn state_change_right_token_foreign_origin_403() {
    let s = TestServer::start().await;
    refused_for_every_target(&s, "evil", |r, l| {
        r.header("x-csrf-token", l.csrf.as_str()).header("origin", "https://evil.example")
    })
    .await;
    // Look-alikes of the allowed origin.
    for (i, o) in [
        "http://app.example.test",
        "https://app.example.test.evil.example",
        "https://app.example.test:8443",
        "https://sub.app.example.test",
    ]
    .into_iter()
    .enumerate()
    {
        refused_for_every_target(&s, &format!("look{i}x"), move |r, l| {
            r.header("x-csrf-token", l.csrf.as_str()).header("origin", o)
        })
        .await;
    }
}

#[tokio::test]
async fn state_change_right_token_origin_null_403() {
    let s = TestServer::start().await;
    refused_for_every_target(&s, "null", |r, l| {
        r.header("x-csrf-token", l.csrf.as_str()).header("origin", "null")
    })
    .await;
}

#[tokio::test]
async fn state_change_right_token_sec_fetch_cross_site_403() {
    let s = TestServer::start().await;
    refused_for_every_target(&s, "xsite", |r, l| {
        r.header("x-csrf-token", l.csrf.as_str()).header("sec-fetch-site", "cross-site")
    })
    .await;
}

#[tokio::test]
async fn state_change_right_token_same_origin_fetch_succeeds() {
    let s = TestServer::start().await;
    for (i, t) in TARGETS.into_iter().enumerate() {
        let user = format!("same{i}");
        let login = s.user_session(&user).await;
        let res = t
            .request(&s, &login.secret)
            .header("x-csrf-token", login.csrf.as_str())
            .header("sec-fetch-site", "same-origin")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204, "{t:?}");
        t.assert_applied(&s, &user, &login).await;
    }
}

#[tokio::test]
async fn state_change_right_token_allowed_origin_succeeds() {
    let s = TestServer::start().await;
    for (i, t) in TARGETS.into_iter().enumerate() {
        let user = format!("origin{i}");
        let login = s.user_session(&user).await;
        let res = t
            .request(&s, &login.secret)
            .header("x-csrf-token", login.csrf.as_str())
            .header("origin", APP_ORIGIN)
            .header("sec-fetch-site", "same-origin")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204, "{t:?}");
        t.assert_applied(&s, &user, &login).await;
    }
}

// ------------------------------------------------------------- login CSRF

#[tokio::test]
async fn login_foreign_origin_403_no_cookie() {
    let s = TestServer::start().await;
    s.register("alice").await;
    for (origin, site) in
        [(Some("https://evil.example"), None), (Some("null"), None), (None, Some("cross-site"))]
    {
        let mut req = s
            .req(Method::POST, "/v1/session/login")
            .json(&json!({"username": "alice", "password": PASSWORD}));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(site) = site {
            req = req.header("sec-fetch-site", site);
        }
        let res = req.send().await.unwrap();
        assert!(
            res.headers().get("set-cookie").is_none(),
            "{origin:?}/{site:?}: cross-site login set a cookie"
        );
        let body = assert_error(res, 403, "csrf_failed").await;
        assert!(body.get("csrf_token").is_none());
    }
    // Form login from a foreign origin too.
    let res = s
        .req(Method::POST, "/v1/session/login")
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username=alice&password={}", PASSWORD.replace(' ', "+")))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("set-cookie").is_none());
    assert_error(res, 403, "csrf_failed").await;
}

#[tokio::test]
async fn login_allowed_origin_200() {
    let s = TestServer::start().await;
    s.register("alice").await;
    let res = s
        .req(Method::POST, "/v1/session/login")
        .header("origin", APP_ORIGIN)
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let login = Login::from_response(&s, res).await;
    assert_eq!(s.whoami(&login.secret).await.status(), 200);
}

#[tokio::test]
async fn register_cross_origin_403_no_user() {
    let s = TestServer::start().await;
    let res = s
        .req(Method::POST, "/v1/users")
        .header("origin", "https://evil.example")
        .json(&json!({"username": "planted", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "csrf_failed").await;
    let res = s
        .req(Method::POST, "/v1/users")
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"username": "planted", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "csrf_failed").await;
    // No account was created by either attempt.
    assert_eq!(s.try_login("planted", PASSWORD).await.status(), 401);
    s.register("planted").await;
}

// -------------------------------------------------------------- form logout

fn form_logout(s: &TestServer, login: &Login, body: String) -> RequestBuilder {
    s.req(Method::POST, "/v1/session/logout")
        .header("cookie", s.cookie(&login.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
}

#[tokio::test]
async fn logout_html_form_with_csrf_field_204() {
    let s = TestServer::start().await;
    let login = s.user_session("alice").await;
    let res = form_logout(&s, &login, format!("csrf_token={}", login.csrf))
        .header("origin", APP_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let cleared = set_cookie(res.headers(), s.cookie_name()).expect("cookie cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(s.whoami(&login.secret).await.status(), 401);
}

#[tokio::test]
async fn logout_html_form_wrong_or_missing_field_or_foreign_origin_403() {
    let s = TestServer::start().await;
    let login = s.user_session("alice").await;
    for body in [String::new(), "csrf_token=".to_owned(), "csrf_token=nope".to_owned()] {
        let res = form_logout(&s, &login, body.clone()).send().await.unwrap();
        assert_error(res, 403, "csrf_failed").await;
    }
    let res = form_logout(&s, &login, format!("csrf_token={}", login.csrf))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "csrf_failed").await;
    assert_eq!(s.whoami(&login.secret).await.status(), 200);
}

// ---------------------------------------------- simple-request media types

const MULTIPART_CT: &str = "multipart/form-data; boundary=XyZ";

fn multipart_body(fields: &[(&str, &str)]) -> String {
    let mut b = String::new();
    for (k, v) in fields {
        b.push_str(&format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    b.push_str("--XyZ--\r\n");
    b
}

#[tokio::test]
async fn register_text_plain_or_multipart_415_no_user() {
    let s = TestServer::start().await;
    let json_body = json!({"username": "alice", "password": PASSWORD}).to_string();
    let plain = s
        .req(Method::POST, "/v1/users")
        .header("content-type", "text/plain")
        .body(json_body.clone())
        .send()
        .await
        .unwrap();
    assert_error(plain, 415, "unsupported_media_type").await;
    let plain_charset = s
        .req(Method::POST, "/v1/users")
        .header("content-type", "text/plain;charset=UTF-8")
        .body(json_body)
        .send()
        .await
        .unwrap();
    assert_error(plain_charset, 415, "unsupported_media_type").await;
    let multi = s
        .req(Method::POST, "/v1/users")
        .header("content-type", MULTIPART_CT)
        .body(multipart_body(&[("username", "alice"), ("password", PASSWORD)]))
        .send()
        .await
        .unwrap();
    assert_error(multi, 415, "unsupported_media_type").await;
    // Nothing was registered.
    s.register("alice").await;
}

#[tokio::test]
async fn put_data_text_plain_or_multipart_415_unchanged() {
    let s = TestServer::start().await;
    let login = s.user_session("alice").await;
    for (ct, body) in
        [("text/plain", json!({"x": 1}).to_string()), (MULTIPART_CT, multipart_body(&[("x", "1")]))]
    {
        let res = s
            .req(Method::PUT, "/v1/session/data")
            .header("cookie", s.cookie(&login.secret))
            .header("x-csrf-token", login.csrf.as_str())
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_error(res, 415, "unsupported_media_type").await;
    }
    let data: Value = s.get_data(&login.secret).await.json().await.expect("JSON data");
    assert_eq!(data, json!({}));
}

#[tokio::test]
async fn change_password_text_plain_or_multipart_415_unchanged() {
    let s = TestServer::start().await;
    let login = s.user_session("alice").await;
    for (ct, body) in [
        (
            "text/plain",
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}).to_string(),
        ),
        (
            MULTIPART_CT,
            multipart_body(&[("current_password", PASSWORD), ("new_password", NEW_PASSWORD)]),
        ),
    ] {
        let res = s
            .req(Method::POST, "/v1/password")
            .header("cookie", s.cookie(&login.secret))
            .header("x-csrf-token", login.csrf.as_str())
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_error(res, 415, "unsupported_media_type").await;
    }
    assert_eq!(s.try_login("alice", NEW_PASSWORD).await.status(), 401);
    assert_eq!(s.try_login("alice", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn login_text_plain_or_multipart_415_no_cookie() {
    let s = TestServer::start().await;
    s.register("alice").await;
    for (ct, body) in [
        ("text/plain", json!({"username": "alice", "password": PASSWORD}).to_string()),
        (MULTIPART_CT, multipart_body(&[("username", "alice"), ("password", PASSWORD)])),
    ] {
        let res = s
            .req(Method::POST, "/v1/session/login")
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(res.headers().get("set-cookie").is_none(), "{ct}: set a cookie");
        assert_error(res, 415, "unsupported_media_type").await;
    }
}
