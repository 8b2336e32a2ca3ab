//! Attacks sessions and devices over HTTP: the devices list seen through each
//! kind of credential, a session or family ended on the devices page and then
//! replayed (as cookie, bearer and refresh token), someone else's and garbage
//! ids, CSRF on the cookie path, log out everywhere (an access token issued a
//! second earlier included), password change by bearer, and the admin
//! forced logout and disable.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is how a test reports failure")]

mod support;
mod support_hybrid;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use support::*;
use support_hybrid::*;

/// The harness clock's start, and the ends of the default session and
/// family lifetimes, as RFC 3339 (computed with `date -u -d @...`).
const T0: &str = "2026-09-21T14:13:20Z";
const T0_PLUS_43200: &str = "2026-09-22T02:13:20Z";
const T0_PLUS_30_DAYS: &str = "2026-10-21T14:13:20Z";

/// The three ways to present one of `l`'s credentials to a `Path=/` endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Session,
    Bearer,
    Hybrid,
}

const VIAS: [Via; 3] = [Via::Session, Via::Bearer, Via::Hybrid];

impl Via {
    /// The device kind this credential is listed as.
    fn kind(self) -> &'static str {
        match self {
            Via::Session => "session",
            Via::Bearer => "token",
            Via::Hybrid => "hybrid",
        }
    }

    /// `b` with this credential of `l` (and its CSRF token when `csrf`).
    fn apply(self, b: RequestBuilder, l: &ThreeLogins, csrf: bool) -> RequestBuilder {
        match self {
            Via::Session => {
                let b = b.header("cookie", l.session_cookie());
                if csrf { b.header("x-csrf-token", &l.session.csrf) } else { b }
            }
            Via::Bearer => b.header("authorization", format!("Bearer {}", l.access_token())),
            Via::Hybrid => {
                let b = b.header("cookie", l.hybrid.site_cookies());
                if csrf { b.header("x-csrf-token", &l.hybrid.csrf) } else { b }
            }
        }
    }
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

/// `GET /v1/sessions` via `via`; the `sessions` array.
async fn list(s: &TestServer, l: &ThreeLogins, via: Via) -> Vec<Value> {
    let res = via.apply(s.req(Method::GET, "/v1/sessions"), l, false).send().await.unwrap();
    assert_eq!(res.status(), 200, "list via {via:?}");
    assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(keys(&body), ["sessions"], "{body}");
    body["sessions"].as_array().unwrap().clone()
}

/// `DELETE /v1/sessions/{id}` via `via` (with CSRF for cookies).
async fn end(s: &TestServer, l: &ThreeLogins, via: Via, id: &str) -> Response {
    via.apply(s.req(Method::DELETE, &format!("/v1/sessions/{id}")), l, true).send().await.unwrap()
}

/// `POST path` via `via` (with CSRF for cookies), with an optional JSON body.
async fn post(
    s: &TestServer,
    l: &ThreeLogins,
    via: Via,
    path: &str,
    body: Option<Value>,
) -> Response {
    let mut b = via.apply(s.req(Method::POST, path), l, true);
    if let Some(body) = body {
        b = b.json(&body);
    }
    b.send().await.unwrap()
}

/// The sid of the token login and of the hybrid login.
fn family_ids(l: &ThreeLogins) -> (String, String) {
    let sid = |jwt: &str| jwt_claims(jwt)["sid"].as_str().unwrap().to_owned();
    (sid(l.access_token()), sid(&l.hybrid.at))
}

/// `POST /admin/users/{id}/{action}` with `Authorization: Bearer token`.
async fn admin(s: &TestServer, token: &str, id: &str, action: &str) -> Response {
    s.req(Method::POST, &format!("/admin/users/{id}/{action}"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
}

/// An admin user's token (scope `admin`).
async fn admin_token(s: &TestServer) -> String {
    s.create_user("root", "admin read").await;
    let login = s.token_login("root", None).await;
    login["access_token"].as_str().unwrap().to_owned()
}

/// A user id nobody has.
const UNKNOWN_ID: &str = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f";

// -------------------------------------------------------------------- list

#[tokio::test]
async fn sessions_list_three_logins_via_each_credential_kinds_fields_current_exact() {
    let s = TestServer::start().await;
    let l = three_logins(&s, "alice", "read").await;
    let bob = three_logins(&s, "bob", "").await;
    let (token_sid, hybrid_sid) = family_ids(&l);
    let expected_ids = [
        ("session", l.session_id(), T0_PLUS_43200),
        ("token", token_sid, T0_PLUS_30_DAYS),
        ("hybrid", hybrid_sid, T0_PLUS_30_DAYS),
    ];
    let bob_ids = {
        let (t, h) = family_ids(&bob);
        [bob.session_id(), t, h]
    };

    for via in VIAS {
        let sessions = list(&s, &l, via).await;
        assert_eq!(sessions.len(), 3, "via {via:?}: {sessions:?}");
        for (kind, id, expires_at) in &expected_ids {
            let entries: Vec<&Value> = sessions.iter().filter(|e| e["kind"] == *kind).collect();
            assert_eq!(entries.len(), 1, "via {via:?}: one {kind}: {sessions:?}");
            let e = entries[0];
            assert_eq!(
                keys(e),
                [
                    "created_at",
                    "current",
                    "expires_at",
                    "id",
                    "ip",
                    "kind",
                    "last_seen_at",
                    "user_agent"
                ],
                "{e}"
            );
            assert_eq!(e["id"], id.as_str(), "via {via:?}: {kind} id");
            assert_eq!(e["user_agent"], format!("alice-{kind}"), "{e}");
            assert_eq!(e["ip"], "127.0.0.1", "{e}");
            assert_eq!(e["created_at"], T0, "{e}");
            assert!(is_rfc3339_utc(e["last_seen_at"].as_str().unwrap()), "{e}");
            assert_eq!(e["expires_at"], *expires_at, "{e}");
            assert_eq!(
                e["current"],
                json!(*kind == via.kind()),
                "via {via:?}: {kind} current: {e}"
            );
            assert!(!bob_ids.contains(id), "bob's login in alice's list");
        }
        // The session entry carries the public handle, never the cookie secret.
        let text = serde_json::to_string(&sessions).unwrap();
        assert!(!text.contains(&l.session.secret), "cookie secret listed");
        assert!(!text.contains(l.refresh_token()), "refresh token listed");
        assert!(!text.contains(&l.hybrid.rt), "hybrid refresh token listed");
    }
}

#[tokio::test]
async fn sessions_without_credential_401() {
    let s = TestServer::start().await;
    let res = s.req(Method::GET, "/v1/sessions").send().await.unwrap();
    assert_eq!(header(&res, "www-authenticate").as_deref(), Some(BEARER));
    assert_error(res, 401, "unauthorized").await;
    let res = s.req(Method::DELETE, &format!("/v1/sessions/{UNKNOWN_ID}")).send().await.unwrap();
    assert_error(res, 401, "unauthorized").await;
    let res = s.req(Method::POST, "/v1/logout-all").send().await.unwrap();
    assert_error(res, 401, "unauthorized").await;
}

// ------------------------------------------------------------------ delete

#[tokio::test]
async fn sessions_delete_session_204_cookie_dead_at_once() {
    let s = TestServer::start().await;
    let l = three_logins(&s, "alice", "").await;
    // Warm the session into any cache first.
    assert_eq!(s.whoami(&l.session.secret).await.status(), 200);
    let res = end(&s, &l, Via::Bearer, &l.session_id()).await;
    assert_eq!(res.status(), 204);
    assert!(res.bytes().await.unwrap().is_empty(), "204 has no body");

    // Replayed as a cookie, at once, on every endpoint.
    assert_error(s.whoami(&l.session.secret).await, 401, "unauthorized").await;
    assert_verify_401(verify_cookie(&s, &l.session_cookie()).await, "ended session").await;
    let res = s
        .req(Method::GET, "/v1/sessions")
        .header("cookie", l.session_cookie())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // Only it: the other two live on and no longer list it.
    let rest = list(&s, &l, Via::Bearer).await;
    let kinds: Vec<&str> = rest.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert!(!kinds.contains(&"session"), "{rest:?}");
    assert_eq!(verify_cookie(&s, &l.hybrid.at_cookie()).await.status(), 200);
    // Ending it again is 404.
    assert_error(end(&s, &l, Via::Bearer, &l.session_id()).await, 404, "not_found").await;
}

#[tokio::test]
async fn sessions_delete_token_family_204_bearer_401_refresh_400() {
    let s = TestServer::start().await;
    let l = three_logins(&s, "alice", "").await;
    let (token_sid, _) = family_ids(&l);
    assert_eq!(end(&s, &l, Via::Session, &token_sid).await.status(), 204);

    // Replayed as a bearer token and as a refresh token.
    let res = verify_bearer(&s, l.access_token()).await;
    assert_eq!(header(&res, "www-authenticate").as_deref(), Some(INVALID_TOKEN));
    assert_error(res, 401, "invalid_token").await;
    let res = s.bearer_get("/v1/sessions", l.access_token()).await;
    assert_error(res, 401, "invalid_token").await;
    assert_error(oauth_refresh(&s, l.refresh_token()).await, 400, "invalid_grant").await;
    assert_eq!(s.whoami(&l.session.secret).await.status(), 200, "the caller's session died");
}

#[tokio::test]
async fn sessions_delete_hybrid_family_204_cookie_401_refresh_dead() {
    let s = TestServer::start().await;
    let l = three_logins(&s, "alice", "").await;
    let (_, hybrid_sid) = family_ids(&l);
    // Ending its own login through the hybrid cookie itself.
    assert_eq!(end(&s, &l, Via::Hybrid, &hybrid_sid).await.status(), 204);
    assert_verify_401(verify_cookie(&s, &l.hybrid.at_cookie()).await, "ended hybrid").await;
    let res = hybrid_refresh(&s, &l.hybrid.hybrid_cookies(), Some(&l.hybrid.csrf)).await;
    assert!(matches!(res.status().as_u16(), 400 | 401), "hybrid refresh: {}", res.status());
    // Its access token is a JWT: replayed as a bearer, it is dead too.
    assert_verify_401(verify_bearer(&s, &l.hybrid.at).await, "hybrid at as bearer").await;
    assert_eq!(verify_bearer(&s, l.access_token()).await.status(), 200);
}

#[tokio::test]
async fn sessions_delete_someone_elses_id_404_it_survives() {
    let s = TestServer::start().await;
    let alice = three_logins(&s, "alice", "").await;
    let bob = three_logins(&s, "bob", "").await;
    let (token_sid, hybrid_sid) = family_ids(&bob);
    for id in [bob.session_id(), token_sid, hybrid_sid] {
        for via in VIAS {
            let res = end(&s, &alice, via, &id).await;
            assert_eq!(res.status(), 404, "alice ended bob's {id} via {via:?}");
            assert_error(res, 404, "not_found").await;
        }
    }
    assert_all_alive(&s, &bob, "bob after alice's attempts").await;
    assert_eq!(oauth_refresh(&s, bob.refresh_token()).await.status(), 200);
    assert_eq!(list(&s, &bob, Via::Session).await.len(), 3);
}

#[tokio::test]
async fn sessions_delete_garbage_or_unknown_id_404() {
    let s = TestServer::start().await;
    let l = three_logins(&s, "alice", "").await;
    let long = "9".repeat(2000);
    for id in [
        "garbage",
        UNKNOWN_ID,
        "00000000-0000-0000-0000-000000000000",
        "..%2F..%2Fadmin",
        "%00",
        "'%20OR%201=1--",
        "*",
        long.as_str(),
    ] {
        let res = end(&s, &l, Via::Bearer, id).await;
        assert_eq!(res.status(), 404, "id {id:?}");
        assert_error(res, 404, "not_found").await;
    }
    assert_all_alive(&s, &l, "after garbage ids").await;
    assert_eq!(list(&s, &l, Via::Bearer).await.len(), 3);
}

#[tokio::test]
async fn sessions_delete_by_cookie_without_csrf_403_nothing_ended() {
    let s = TestServer::start().await;
    let l = three_logins(&s, "alice", "").await;
    let (token_sid, _) = family_ids(&l);
    for via in [Via::Session, Via::Hybrid] {
        let path = format!("/v1/sessions/{token_sid}");
        let res = via.apply(s.req(Method::DELETE, &path), &l, false).send().await.unwrap();
        assert_eq!(res.status(), 403, "via {via:?} without CSRF");
        assert_error(res, 403, "csrf_failed").await;
        let res = via
            .apply(s.req(Method::DELETE, &path), &l, false)
            .header("x-csrf-token", "wrong")
            .send()
            .await
            .unwrap();
        assert_error(res, 403, "csrf_failed").await;
        // The right token from a foreign origin.
        let res = via
            .apply(s.req(Method::DELETE, &path), &l, true)
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_error(res, 403, "csrf_failed").await;
    }
    assert_eq!(verify_bearer(&s, l.access_token()).await.status(), 200, "token family ended");
    assert_eq!(list(&s, &l, Via::Bearer).await.len(), 3);
}

// ------------------------------------------------------------- logout-all

#[tokio::test]
async fn logout_all_by_bearer_204_every_credential_dead_second_old_token_too_other_user_survives() {
    let s = TestServer::start().await;
    let l = three_logins(&s, "alice", "").await;
    let bob = three_logins(&s, "bob", "").await;
    s.advance(1);
    // The caller logs in a second later; alice's older tokens were issued a second earlier.
    let caller = token_login_ua(&s, "alice", "caller", None).await;
    let caller_at = caller["access_token"].as_str().unwrap();
    let res = s
        .req(Method::POST, "/v1/logout-all")
        .header("authorization", format!("Bearer {caller_at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(set_cookies(res.headers()).is_empty(), "a bearer caller has no cookies to clear");

    assert_all_dead(&s, &l, "alice's earlier logins").await;
    assert_verify_401(verify_bearer(&s, caller_at).await, "the caller's own token").await;
    let refresh = caller["refresh_token"].as_str().unwrap();
    assert_error(oauth_refresh(&s, refresh).await, 400, "invalid_grant").await;
    let res = s.bearer_get("/v1/sessions", caller_at).await;
    assert_eq!(res.status(), 401);

    assert_all_alive(&s, &bob, "bob").await;
    assert_eq!(oauth_refresh(&s, bob.refresh_token()).await.status(), 200);

    // Log out everywhere is not a lockout: a new login, in the same second, works.
    let again = s.token_login("alice", None).await;
    assert_eq!(verify_bearer(&s, again["access_token"].as_str().unwrap()).await.status(), 200);
    let h = hybrid_login(&s, "alice").await;
    assert_eq!(verify_cookie(&s, &h.at_cookie()).await.status(), 200);
}

#[tokio::test]
async fn logout_all_by_hybrid_cookie_with_csrf_204_clears_cookies_all_dead() {
    let s = TestServer::start().await;
    let l = three_logins(&s, "alice", "").await;
    let res = post(&s, &l, Via::Hybrid, "/v1/logout-all", None).await;
    assert_eq!(res.status(), 204);
    let all = set_cookies(res.headers());
    for name in [AT, RT, CSRF] {
        let c = only_set_cookie(&all, name);
        assert!(c.contains("Max-Age=0") && c.contains("Secure"), "{c}");
    }
    assert_all_dead(&s, &l, "after logout-all by hybrid cookie").await;
}

/// The names `res` clears (each with `Max-Age=0`), sorted; and no `Clear-Site-Data`.
fn cleared_names(res: &Response) -> Vec<String> {
    assert_eq!(header(res, "clear-site-data"), None, "a site-wide wipe");
    let mut names: Vec<String> = set_cookies(res.headers())
        .iter()
        .map(|c| {
            assert!(c.contains("; Max-Age=0;") && c.contains("; Secure"), "{c}");
            c.split('=').next().unwrap().to_owned()
        })
        .collect();
    names.sort_unstable();
    names
}

/// Issue 12 item 19: logout-all cleared all four of Tessera's cookies and
/// answered `Clear-Site-Data: "cookies"`, so a browser also lost another
/// user's live session-mode login (and the application's cookies). By the
/// hybrid cookie (read first), it clears the three hybrid cookies only.
#[tokio::test]
async fn regression_logout_all_wipes_the_whole_sites_cookies_by_hybrid_cookie() {
    let s = TestServer::start().await;
    let alice = three_logins(&s, "alice", "").await;
    let bob = s.user_session("bob").await;
    let res = s
        .req(Method::POST, "/v1/logout-all")
        .header(
            "cookie",
            format!("app_pref=dark; {SESSION}={}; {}", bob.secret, alice.hybrid.site_cookies()),
        )
        .header("x-csrf-token", &alice.hybrid.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(cleared_names(&res), [AT, CSRF, RT]);
    assert_all_dead(&s, &alice, "alice after her logout-all").await;
    assert_eq!(s.whoami(&bob.secret).await.status(), 200, "bob's session in the same browser");
}

/// The same by the session cookie: the session cookie only.
#[tokio::test]
async fn regression_logout_all_wipes_the_whole_sites_cookies_by_session_cookie() {
    let s = TestServer::start().await;
    let l = three_logins(&s, "alice", "").await;
    let res = post(&s, &l, Via::Session, "/v1/logout-all", None).await;
    assert_eq!(res.status(), 204);
    assert_eq!(cleared_names(&res), [SESSION]);
    assert_all_dead(&s, &l, "after logout-all by session cookie").await;
}

/// `DELETE /v1/sessions/{id}` of the request's own cookie login left its dead
/// cookies in the browser; now it clears exactly them. Ending another login,
/// or by bearer, clears nothing.
#[tokio::test]
async fn regression_delete_own_login_leaves_its_dead_cookies() {
    let s = TestServer::start().await;
    let l = three_logins(&s, "alice", "").await;
    let (token_sid, hybrid_sid) = family_ids(&l);
    // Another login than the request's own: nothing to clear.
    let res = end(&s, &l, Via::Hybrid, &token_sid).await;
    assert_eq!(res.status(), 204);
    assert!(cleared_names(&res).is_empty());
    let res = end(&s, &l, Via::Session, &hybrid_sid).await;
    assert_eq!(res.status(), 204);
    assert!(cleared_names(&res).is_empty());
    // Its own: the session cookie.
    let res = end(&s, &l, Via::Session, &l.session_id()).await;
    assert_eq!(res.status(), 204);
    assert_eq!(cleared_names(&res), [SESSION]);

    let m = three_logins(&s, "bob", "").await;
    let (bob_token_sid, bob_hybrid_sid) = family_ids(&m);
    // By bearer, even its own family: a bearer caller has no cookies.
    let res = end(&s, &m, Via::Bearer, &bob_token_sid).await;
    assert_eq!(res.status(), 204);
    assert!(cleared_names(&res).is_empty());
    // Its own hybrid family: the three hybrid cookies, not the session's.
    let res = end(&s, &m, Via::Hybrid, &bob_hybrid_sid).await;
    assert_eq!(res.status(), 204);
    assert_eq!(cleared_names(&res), [AT, CSRF, RT]);
    assert_eq!(s.whoami(&m.session.secret).await.status(), 200, "bob's session lives on");
}

#[tokio::test]
async fn logout_all_by_cookie_without_csrf_403_nothing_ended() {
    let s = TestServer::start().await;
    let l = three_logins(&s, "alice", "").await;
    for via in [Via::Session, Via::Hybrid] {
        let res = via.apply(s.req(Method::POST, "/v1/logout-all"), &l, false).send().await.unwrap();
        assert_eq!(res.status(), 403, "via {via:?}");
        assert_error(res, 403, "csrf_failed").await;
    }
    assert_all_alive(&s, &l, "after refused logout-all").await;
}

// --------------------------------------------------------------- password

#[tokio::test]
async fn password_change_by_bearer_204_own_family_survives_others_die() {
    let s = TestServer::start().await;
    let l = three_logins(&s, "alice", "").await;
    let bob = three_logins(&s, "bob", "").await;
    s.advance(1);
    let caller = token_login_ua(&s, "alice", "caller", None).await;
    let caller_at = caller["access_token"].as_str().unwrap();
    let res = s
        .req(Method::POST, "/v1/password")
        .header("authorization", format!("Bearer {caller_at}"))
        .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    assert_all_dead(&s, &l, "alice's other logins").await;
    // The caller's own family lives: its access token and its refresh token.
    assert_eq!(verify_bearer(&s, caller_at).await.status(), 200, "caller's token died");
    let res = oauth_refresh(&s, caller["refresh_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), 200, "caller's refresh token died");
    assert_all_alive(&s, &bob, "bob").await;

    // The new password is the password now.
    assert_error(try_hybrid_login(&s, "alice", PASSWORD).await, 401, "invalid_credentials").await;
    assert_eq!(try_hybrid_login(&s, "alice", NEW_PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn password_change_by_bearer_wrong_current_401_nothing_ended() {
    let s = TestServer::start().await;
    let l = three_logins(&s, "alice", "").await;
    let res = post(
        &s,
        &l,
        Via::Bearer,
        "/v1/password",
        Some(json!({"current_password": "not the password", "new_password": NEW_PASSWORD})),
    )
    .await;
    assert_error(res, 401, "invalid_credentials").await;
    assert_all_alive(&s, &l, "after a failed password change").await;
    assert_eq!(try_hybrid_login(&s, "alice", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn password_change_by_hybrid_cookie_without_csrf_403_unchanged() {
    let s = TestServer::start().await;
    let l = three_logins(&s, "alice", "").await;
    let res = Via::Hybrid
        .apply(s.req(Method::POST, "/v1/password"), &l, false)
        .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "csrf_failed").await;
    assert_all_alive(&s, &l, "after a refused password change").await;
    assert_eq!(try_hybrid_login(&s, "alice", PASSWORD).await.status(), 200);
}

// ------------------------------------------------------------------ admin

#[tokio::test]
async fn admin_logout_all_admin_bearer_204_target_dead_others_survive() {
    let s = TestServer::start().await;
    let l = three_logins(&s, "alice", "").await;
    let bob = three_logins(&s, "bob", "").await;
    s.advance(1);
    let root = admin_token(&s).await;
    let res = admin(&s, &root, &l.user_id, "logout-all").await;
    assert_eq!(res.status(), 204);
    assert_all_dead(&s, &l, "alice after forced logout").await;
    assert_all_alive(&s, &bob, "bob").await;
    assert_eq!(verify_bearer(&s, &root).await.status(), 200, "the admin logged out");
    // A forced logout is not a disable: alice can log in again at once.
    assert_eq!(try_hybrid_login(&s, "alice", PASSWORD).await.status(), 200);
    assert_eq!(s.try_login("alice", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn admin_disable_admin_bearer_204_target_dead_login_refused() {
    let s = TestServer::start().await;
    let l = three_logins(&s, "alice", "").await;
    let bob = three_logins(&s, "bob", "").await;
    s.advance(1);
    let root = admin_token(&s).await;
    let res = admin(&s, &root, &l.user_id, "disable").await;
    assert_eq!(res.status(), 204);
    assert_all_dead(&s, &l, "alice after disable").await;
    assert_all_alive(&s, &bob, "bob").await;

    // Every kind of login is refused, exactly like a wrong password.
    assert_error(s.try_login("alice", PASSWORD).await, 401, "invalid_credentials").await;
    assert_error(try_hybrid_login(&s, "alice", PASSWORD).await, 401, "invalid_credentials").await;
    let res = s
        .req(Method::POST, "/v1/token/login")
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "invalid_credentials").await;
    // Still dead a while later (nothing resurrects it).
    s.advance(60);
    assert_all_dead(&s, &l, "alice a minute after disable").await;
}

#[tokio::test]
async fn admin_user_endpoints_without_admin_scope_403_insufficient_scope() {
    let s = TestServer::start().await;
    let target = three_logins(&s, "alice", "read").await;
    s.create_user("root", "admin read").await;
    // The admin's own token narrowed to `read`, and a plain user's token.
    let narrowed = s.token_login("root", Some("read")).await;
    let plain = s.token_login("alice", None).await;
    for token in [&narrowed, &plain] {
        let token = token["access_token"].as_str().unwrap();
        for action in ["logout-all", "disable"] {
            let res = admin(&s, token, &target.user_id, action).await;
            assert_eq!(res.status(), 403, "{action}");
            assert_error(res, 403, "insufficient_scope").await;
        }
    }
    assert_all_alive(&s, &target, "after refused admin calls").await;
    assert_eq!(s.try_login("alice", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn admin_user_endpoints_by_cookie_or_without_credential_refused() {
    let s = TestServer::start().await;
    let target = three_logins(&s, "alice", "").await;
    // An admin's browser logins: cookies ride along with cross-site requests,
    // so admin endpoints take a bearer token only.
    let root = three_logins(&s, "root", "admin").await;
    for via in [Via::Session, Via::Hybrid] {
        for action in ["logout-all", "disable"] {
            let path = format!("/admin/users/{}/{action}", target.user_id);
            let res = post(&s, &root, via, &path, None).await;
            let status = res.status().as_u16();
            assert!(matches!(status, 401 | 403), "{action} via {via:?} cookie: {status}");
        }
    }
    for action in ["logout-all", "disable"] {
        let path = format!("/admin/users/{}/{action}", target.user_id);
        let res = s.req(Method::POST, &path).send().await.unwrap();
        assert_error(res, 401, "unauthorized").await;
    }
    assert_all_alive(&s, &target, "after cookie admin calls").await;
}

#[tokio::test]
async fn admin_user_endpoints_unknown_or_garbage_id_404() {
    let s = TestServer::start().await;
    let root = admin_token(&s).await;
    let l = three_logins(&s, "alice", "").await;
    let (token_sid, _) = family_ids(&l);
    // A session or family id is not a user id.
    for id in [UNKNOWN_ID, "garbage", "alice", l.session_id().as_str(), token_sid.as_str(), "%00"] {
        for action in ["logout-all", "disable"] {
            let res = admin(&s, &root, id, action).await;
            assert_eq!(res.status(), 404, "{action} {id:?}");
            assert_error(res, 404, "not_found").await;
        }
    }
    assert_all_alive(&s, &l, "after unknown ids").await;
}

// --------------------------------------------------------------- login cap

/// A server that caps logins at 3 per user, its sessions in SQLite or in
/// Redis (`TESSERA_TEST_REDIS_URL`, under a fresh prefix).
async fn capped(redis: bool) -> TestServer {
    TestServer::start_with(Options {
        max_logins_per_user: 3,
        redis_prefix: redis.then(|| tessera_store::testing::fresh_redis_prefix("devices")),
        ..Options::default()
    })
    .await
}

/// Logins one second apart, past a cap of 3: each time the oldest login
/// ends as a device removal would, whatever its kind, and the newest live.
async fn login_cap_ends_oldest(redis: bool) {
    let s = capped(redis).await;
    s.create_user("alice", "").await;
    let first = s.token_login("alice", None).await;
    s.advance(1);
    let second = s.login("alice", PASSWORD).await;
    s.advance(1);
    let third = hybrid_login(&s, "alice").await;
    s.advance(1);
    let fourth = s.login("alice", PASSWORD).await;
    // The oldest, a token family, ended: its access token and its refresh
    // token are refused at once.
    let first_at = first["access_token"].as_str().unwrap();
    assert_verify_401(verify_bearer(&s, first_at).await, "oldest family's access token").await;
    let res = oauth_refresh(&s, first["refresh_token"].as_str().unwrap()).await;
    assert_error(res, 400, "invalid_grant").await;
    assert_eq!(s.whoami(&second.secret).await.status(), 200, "second live");
    assert_eq!(verify_cookie(&s, &third.at_cookie()).await.status(), 200, "third live");
    assert_eq!(s.whoami(&fourth.secret).await.status(), 200, "newest live");
    s.advance(1);
    let fifth = s.token_login("alice", None).await;
    // Now the oldest is the session: its cookie is refused.
    let res = s.whoami(&second.secret).await;
    assert_error(res, 401, "unauthorized").await;
    let fifth_at = fifth["access_token"].as_str().unwrap();
    let res = s.bearer_get("/v1/sessions", fifth_at).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let kinds: Vec<&str> =
        body["sessions"].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["hybrid", "session", "token"], "the newest three, oldest first: {body}");
}

#[tokio::test]
async fn regression_unbounded_sessions_cap_ends_oldest_sqlite() {
    login_cap_ends_oldest(false).await;
}

#[tokio::test]
async fn regression_unbounded_sessions_cap_ends_oldest_redis() {
    login_cap_ends_oldest(true).await;
}

/// 50 logins of one user at once (sessions and token logins), cap 3: every
/// login answers 200, and once all have, at most 3 of their credentials
/// work (the cap is exact; see tessera_core::device).
async fn login_cap_concurrent(redis: bool) {
    let s = std::sync::Arc::new(capped(redis).await);
    let user_id = s.create_user("alice", "").await;
    let logins: Vec<_> = (0..50)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let path = if i % 2 == 0 { "/v1/session/login" } else { "/v1/token/login" };
                let res = s
                    .req(Method::POST, path)
                    .json(&json!({"username": "alice", "password": PASSWORD}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200, "{path}");
                if i % 2 == 0 {
                    let secret = Login::from_response(&s, res).await.secret;
                    Err(secret)
                } else {
                    let body: Value = res.json().await.unwrap();
                    Ok(body["access_token"].as_str().unwrap().to_owned())
                }
            })
        })
        .collect();
    let mut live = 0;
    let mut credentials = Vec::new();
    for login in logins {
        credentials.push(login.await.unwrap());
    }
    for credential in &credentials {
        let status = match credential {
            Err(secret) => s.whoami(secret).await.status(),
            Ok(token) => verify_bearer(&s, token).await.status(),
        };
        assert!(matches!(status.as_u16(), 200 | 401), "{status}");
        live += usize::from(status == 200);
    }
    assert!(live <= 3, "{live} of 50 concurrent logins live, cap 3");
    let user = tessera_core::user::UserId::parse(&user_id).unwrap();
    let none = tessera_core::device::CurrentLogin::None;
    let listed = s.tessera.list_devices(&user, none).await.unwrap();
    assert_eq!(listed.len(), live, "listed {listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_cap_fifty_concurrent_logins_at_most_cap_live_sqlite() {
    login_cap_concurrent(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_cap_fifty_concurrent_logins_at_most_cap_live_redis() {
    login_cap_concurrent(true).await;
}

// ------------------------------------------------------ Redis record tags

/// Runs `redis-cli` against the test Redis; panics unless it succeeds.
fn redis_cli(args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-u", &tessera_store::testing::redis_url()])
        .args(args)
        .output()
        .expect("redis-cli (Debian package redis-tools)");
    assert!(out.status.success(), "redis-cli {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn regression_redis_records_carry_no_integrity_forged_cookie_401() {
    let prefix = tessera_store::testing::fresh_redis_prefix("devices");
    let s = TestServer::start_with(Options {
        redis_prefix: Some(prefix.clone()),
        ..Options::default()
    })
    .await;
    let alice = s.create_user("alice", "admin").await;
    let p = format!("{{{prefix}}}:");
    // A session for alice minted with redis-cli, as the old code wrote them,
    // with tags of the right shape made without the key.
    let secret = forged_secret();
    let hash = tessera_core::secret::Secret::from_presented(&secret).hash().to_hex();
    let id = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e60";
    let now = "1790000000";
    let rec = format!("{p}r:{id}");
    let fields = ["u", &alice, "h", &hash, "c", "x", "t0", now, "ts", now, "d", "{}"];
    redis_cli(&[&["HSET", rec.as_str()][..], &fields[..]].concat());
    redis_cli(&["SET", &format!("{p}h:{hash}"), id]);
    redis_cli(&["SADD", &format!("{p}u:{alice}"), id]);
    assert_error(s.whoami(&secret).await, 401, "unauthorized").await;
    redis_cli(&["HSET", &rec, "m", &"ab".repeat(32), "tm", &"cd".repeat(32)]);
    assert_error(s.whoami(&secret).await, 401, "unauthorized").await;

    // A real login, one field altered in Redis (its owner, to alice): refused.
    s.create_user("mallory", "").await;
    let m = s.login("mallory", PASSWORD).await;
    assert_eq!(s.whoami(&m.secret).await.status(), 200);
    let mid = m.body["session"]["id"].as_str().unwrap();
    redis_cli(&["HSET", &format!("{p}r:{mid}"), "u", &alice]);
    // The session cache would answer without Redis until something changes.
    s.tessera.apply_change(&tessera_core::change::Change::SessionsChanged).await.unwrap();
    assert_error(s.whoami(&m.secret).await, 401, "unauthorized").await;
}
