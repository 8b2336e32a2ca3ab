//! Attacks session mode over HTTP: fixation, logout resurrection, cookie
//! attributes and tossing, idle and absolute expiry, the session body shape,
//! secret uniqueness, caching, the session data bag and secrets at rest.

mod support;

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};
use support::*;

/// The harness clock's start, and offsets from it, as RFC 3339 (computed
/// independently with `date -u -d @...`).
const T0: &str = "2026-09-21T14:13:20Z";
const T0_PLUS_1800: &str = "2026-09-21T14:43:20Z";
const T0_PLUS_43200: &str = "2026-09-22T02:13:20Z";
const T0_PLUS_198: &str = "2026-09-21T14:16:38Z";
const T0_PLUS_298: &str = "2026-09-21T14:18:18Z";
const T0_PLUS_300: &str = "2026-09-21T14:18:20Z";

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

async fn body_of(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200);
    res.json().await.expect("JSON body")
}

// ---------------------------------------------------------------- fixation

#[tokio::test]
async fn login_with_attacker_chosen_cookie_not_adopted() {
    let s = TestServer::start().await;
    s.register("alice").await;
    let planted = forged_secret();
    let res = s
        .req(Method::POST, "/v1/session/login")
        .header("cookie", s.cookie(&planted))
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let login = Login::from_response(&s, res).await;
    assert_ne!(login.secret, planted, "the server adopted the planted secret");
    assert!(is_secret_shaped(&login.secret), "{}", login.secret);
    assert_eq!(s.whoami(&planted).await.status(), 401, "planted secret must not be a session");
    assert_eq!(s.whoami(&login.secret).await.status(), 200);
}

#[tokio::test]
async fn login_with_victims_live_cookie_destroys_it() {
    let s = TestServer::start().await;
    let victim = s.user_session("victim").await;
    s.register("mallory").await;
    assert_eq!(s.whoami(&victim.secret).await.status(), 200);

    // Same user logs in again while carrying the old cookie.
    let res = s
        .req(Method::POST, "/v1/session/login")
        .header("cookie", s.cookie(&victim.secret))
        .json(&json!({"username": "victim", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let again = Login::from_response(&s, res).await;
    assert_ne!(again.secret, victim.secret);
    assert_eq!(s.whoami(&victim.secret).await.status(), 401, "old cookie survived re-login");
    assert_eq!(s.whoami(&again.secret).await.status(), 200);

    // Another user logging in from that browser also destroys the carried session.
    let res = s
        .req(Method::POST, "/v1/session/login")
        .header("cookie", s.cookie(&again.secret))
        .json(&json!({"username": "mallory", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let mallory = Login::from_response(&s, res).await;
    assert_ne!(mallory.secret, again.secret);
    assert_eq!(s.whoami(&again.secret).await.status(), 401);
    let me = body_of(s.whoami(&mallory.secret).await).await;
    assert_eq!(me["user"]["username"], "mallory");
}

// ------------------------------------------------------------------ logout

#[tokio::test]
async fn logout_old_cookie_dead_and_late_write_not_resurrecting() {
    let s = TestServer::start().await;
    let login = s.user_session("alice").await;
    assert_eq!(s.put_data(&login.secret, &login.csrf, &json!({"before": 1})).await.status(), 204);

    let res = s.logout(&login.secret, &login.csrf).await;
    assert_eq!(res.status(), 204);
    assert_eq!(s.whoami(&login.secret).await.status(), 401);

    // A write racing in after logout, with the old cookie and CSRF token.
    let late = s.put_data(&login.secret, &login.csrf, &json!({"after": 2})).await;
    assert_error(late, 401, "unauthorized").await;
    assert_eq!(s.whoami(&login.secret).await.status(), 401, "late write resurrected the session");
    assert_error(s.get_data(&login.secret).await, 401, "unauthorized").await;
    // A second logout with the dead cookie is not a success either.
    assert_eq!(s.logout(&login.secret, &login.csrf).await.status(), 401);
}

#[tokio::test]
async fn logout_response_clears_cookie_exactly() {
    let s = TestServer::start().await;
    let login = s.user_session("alice").await;
    let res = s.logout(&login.secret, &login.csrf).await;
    assert_eq!(res.status(), 204);
    let cookies: Vec<&str> =
        res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(
        cookies,
        ["__Host-tessera_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"]
    );
    assert!(res.bytes().await.unwrap().is_empty(), "204 has no body");
}

/// Issue 12 item 19: the logout answered `Clear-Site-Data: "cookies"`, and a
/// browser drops every cookie of the registrable domain on it: the
/// application's own and a hybrid login's (shown in Chromium by
/// crates/tessera/tests/browser.rs). It clears its own cookie, nothing else.
#[tokio::test]
async fn regression_session_logout_wipes_the_whole_sites_cookies() {
    let s = TestServer::start().await;
    let login = s.user_session("alice").await;
    let res = s
        .req(Method::POST, "/v1/session/logout")
        .header("cookie", format!("app_pref=dark; {}", s.cookie(&login.secret)))
        .header("x-csrf-token", &login.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers().get("clear-site-data"), None, "a site-wide wipe");
    let cookies: Vec<&str> =
        res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(
        cookies,
        ["__Host-tessera_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"]
    );
}

// ----------------------------------------------------------------- cookies

#[tokio::test]
async fn login_cookie_secure_mode_exact_attributes() {
    let s = TestServer::start().await;
    s.register("alice").await;
    let res = s.try_login("alice", PASSWORD).await;
    assert_eq!(res.status(), 200);
    let all: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(all.len(), 1, "exactly one Set-Cookie: {all:?}");
    let c = &all[0];
    let value = c
        .strip_prefix("__Host-tessera_session=")
        .and_then(|rest| rest.strip_suffix("; Path=/; HttpOnly; Secure; SameSite=Lax"))
        .unwrap_or_else(|| panic!("unexpected Set-Cookie {c:?}"));
    assert!(is_secret_shaped(value), "secret {value:?} is not 43 base64url chars");
    assert_eq!(s.whoami(value).await.status(), 200);
}

#[tokio::test]
async fn login_cookie_insecure_mode_unprefixed_without_secure() {
    let s = TestServer::start_with(Options { secure_cookies: false, ..Options::default() }).await;
    s.register("alice").await;
    let res = s.try_login("alice", PASSWORD).await;
    assert_eq!(res.status(), 200);
    let all: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(all.len(), 1, "exactly one Set-Cookie: {all:?}");
    let c = &all[0];
    let value = c
        .strip_prefix("tessera_session=")
        .and_then(|rest| rest.strip_suffix("; Path=/; HttpOnly; SameSite=Lax"))
        .unwrap_or_else(|| panic!("unexpected Set-Cookie {c:?}"));
    assert!(is_secret_shaped(value), "{value:?}");
    let ok = s
        .req(Method::GET, "/v1/session")
        .header("cookie", format!("tessera_session={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn unprefixed_cookie_secure_mode_ignored() {
    let s = TestServer::start().await;
    let login = s.user_session("alice").await;
    // A sibling subdomain can plant `tessera_session`; it must not count.
    let tossed = s
        .req(Method::GET, "/v1/session")
        .header("cookie", format!("tessera_session={}", login.secret))
        .send()
        .await
        .unwrap();
    assert_error(tossed, 401, "unauthorized").await;
    let data = s
        .req(Method::GET, "/v1/session/data")
        .header("cookie", format!("tessera_session={}", login.secret))
        .send()
        .await
        .unwrap();
    assert_error(data, 401, "unauthorized").await;
    assert_eq!(s.whoami(&login.secret).await.status(), 200, "the real cookie still works");
}

// ------------------------------------------------------------------ expiry

#[tokio::test]
async fn session_idle_expiry_activity_extends_then_dies_100s_after() {
    let s = TestServer::start_with(Options { idle_ttl: 100, ..Options::default() }).await;
    s.register("alice").await;
    let used = s.login("alice", PASSWORD).await;
    let unused = s.login("alice", PASSWORD).await;

    s.advance(99);
    assert_eq!(s.whoami(&used.secret).await.status(), 200, "alive at +99");
    s.advance(1); // +100: never used since login
    assert_error(s.whoami(&unused.secret).await, 401, "unauthorized").await;

    s.advance(98); // +198: 99 s after the last activity at +99
    let me = body_of(s.whoami(&used.secret).await).await;
    assert_eq!(me["session"]["created_at"], T0);
    assert_eq!(me["session"]["last_seen_at"], T0_PLUS_198);
    assert_eq!(me["session"]["idle_expires_at"], T0_PLUS_298);

    s.advance(100); // +298: 100 s after the last activity
    assert_error(s.whoami(&used.secret).await, 401, "unauthorized").await;
    // Dead stays dead, and the data endpoint agrees.
    assert_eq!(s.get_data(&used.secret).await.status(), 401);
    // The user can simply log in again.
    assert_eq!(s.whoami(&s.login("alice", PASSWORD).await.secret).await.status(), 200);
}

#[tokio::test]
async fn session_absolute_expiry_despite_activity_dies_at_300() {
    let s = TestServer::start_with(Options { absolute_ttl: 300, ..Options::default() }).await;
    let login = s.user_session("alice").await;
    assert_eq!(login.body["session"]["expires_at"], T0_PLUS_300);
    for step in 1..=5 {
        s.advance(50);
        assert_eq!(s.whoami(&login.secret).await.status(), 200, "alive at +{}", step * 50);
    }
    s.advance(49); // +299
    let me = body_of(s.whoami(&login.secret).await).await;
    assert_eq!(me["session"]["expires_at"], T0_PLUS_300);
    s.advance(1); // +300
    assert_error(s.whoami(&login.secret).await, 401, "unauthorized").await;
    assert_eq!(s.get_data(&login.secret).await.status(), 401);
}

// ------------------------------------------------------------- body shapes

#[tokio::test]
async fn session_get_body_shape_exact() {
    let s = TestServer::start().await;
    let created = s.register("alice").await;
    let login = s.login("alice", PASSWORD).await;
    let res = s.whoami(&login.secret).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("content-type").map(|v| v.to_str().unwrap()),
        Some("application/json")
    );
    let b: Value = res.json().await.unwrap();

    assert_eq!(keys(&b), ["csrf_token", "session", "user"]);
    assert_eq!(keys(&b["user"]), ["id", "scope", "username"]);
    assert_eq!(
        keys(&b["session"]),
        ["created_at", "expires_at", "id", "idle_expires_at", "last_seen_at"]
    );
    assert_eq!(b["user"]["id"], created["id"]);
    assert_eq!(b["user"]["username"], "alice");
    assert!(b["user"]["scope"].is_string(), "{b}");
    for f in ["created_at", "last_seen_at", "idle_expires_at", "expires_at"] {
        let t = b["session"][f].as_str().unwrap_or_else(|| panic!("{f} is not a string: {b}"));
        assert!(is_rfc3339_utc(t), "{f} = {t:?}");
    }
    assert_eq!(b["session"]["created_at"], T0);
    assert_eq!(b["session"]["last_seen_at"], T0);
    assert_eq!(b["session"]["idle_expires_at"], T0_PLUS_1800);
    assert_eq!(b["session"]["expires_at"], T0_PLUS_43200);
    assert_eq!(b["csrf_token"], login.csrf.as_str());
    assert!(!login.csrf.is_empty());
    assert_ne!(login.csrf, login.secret, "CSRF token must not be the cookie secret");

    let sid = b["session"]["id"].as_str().unwrap();
    assert!(!sid.is_empty());
    assert_ne!(sid, login.secret);
    assert!(!login.secret.contains(sid) && !sid.contains(&login.secret));
    assert!(!login.set_cookie.contains(sid), "session id leaks into the cookie");
    // The login body names the same session.
    assert_eq!(login.body["session"]["id"], sid);
    assert_eq!(login.body["user"]["id"], created["id"]);
    assert_eq!(login.body["user"]["username"], "alice");
    assert_eq!(login.body["csrf_token"], login.csrf.as_str());
}

// -------------------------------------------------------------- uniqueness

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_500_times_all_secrets_ids_and_csrf_tokens_distinct() {
    const N: usize = 500;
    const BATCH: usize = 20;
    // All N stay live: the login cap (default 100) would end the first ones.
    let s = TestServer::start_with(Options { max_logins_per_user: N, ..Options::default() }).await;
    s.register("alice").await;
    let cookie_name = s.cookie_name();
    let url = s.url("/v1/session/login");

    let mut results: Vec<(String, String, String)> = Vec::with_capacity(N);
    for _ in 0..N / BATCH {
        let mut handles = Vec::with_capacity(BATCH);
        for _ in 0..BATCH {
            let http = s.http.clone();
            let url = url.clone();
            handles.push(tokio::spawn(async move {
                let res = http
                    .post(url)
                    .json(&json!({"username": "alice", "password": PASSWORD}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
                let sc = set_cookie(res.headers(), cookie_name).expect("Set-Cookie");
                let secret = cookie_value(&sc).to_owned();
                let body: Value = res.json().await.unwrap();
                let sid = body["session"]["id"].as_str().unwrap().to_owned();
                let csrf = body["csrf_token"].as_str().unwrap().to_owned();
                (secret, sid, csrf)
            }));
        }
        for h in handles {
            results.push(h.await.unwrap());
        }
    }
    assert_eq!(results.len(), N);
    let secrets: HashSet<&str> = results.iter().map(|r| r.0.as_str()).collect();
    let ids: HashSet<&str> = results.iter().map(|r| r.1.as_str()).collect();
    let csrfs: HashSet<&str> = results.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(secrets.len(), N, "duplicate session secrets");
    assert_eq!(ids.len(), N, "duplicate session ids");
    assert_eq!(csrfs.len(), N, "duplicate CSRF tokens");
    assert!(results.iter().all(|r| is_secret_shaped(&r.0)));
    // Every one is a distinct live session (a few sampled from each end).
    for r in results.iter().take(5).chain(results.iter().rev().take(5)) {
        let me = body_of(s.whoami(&r.0).await).await;
        assert_eq!(me["session"]["id"], r.1.as_str());
        assert_eq!(me["csrf_token"], r.2.as_str());
    }
}

// ----------------------------------------------------------------- caching

#[tokio::test]
async fn session_responses_cache_control_no_store() {
    let s = TestServer::start().await;
    s.register("alice").await;
    let login = s.try_login("alice", PASSWORD).await;
    let cc = |r: &reqwest::Response| {
        r.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(login.status(), 200);
    assert_eq!(cc(&login).as_deref(), Some("no-store"), "login");
    let login = Login::from_response(&s, login).await;
    let me = s.whoami(&login.secret).await;
    assert_eq!(me.status(), 200);
    assert_eq!(cc(&me).as_deref(), Some("no-store"), "GET /v1/session");
    let data = s.get_data(&login.secret).await;
    assert_eq!(data.status(), 200);
    assert_eq!(cc(&data).as_deref(), Some("no-store"), "GET /v1/session/data");
}

// ---------------------------------------------------------------- data bag

#[tokio::test]
async fn session_data_initially_empty_put_replaces_get_returns() {
    let s = TestServer::start().await;
    let login = s.user_session("alice").await;
    let first: Value = body_of(s.get_data(&login.secret).await).await;
    assert_eq!(first, json!({}));

    let doc = json!({"theme": "dark", "cart": [1, 2, 3], "nested": {"a": null, "b": true}});
    assert_eq!(s.put_data(&login.secret, &login.csrf, &doc).await.status(), 204);
    assert_eq!(body_of(s.get_data(&login.secret).await).await, doc);

    // Replace, not merge.
    assert_eq!(s.put_data(&login.secret, &login.csrf, &json!({"only": 1})).await.status(), 204);
    assert_eq!(body_of(s.get_data(&login.secret).await).await, json!({"only": 1}));

    // Another session of the same user has its own bag.
    let other = s.login("alice", PASSWORD).await;
    assert_eq!(body_of(s.get_data(&other.secret).await).await, json!({}));
}

#[tokio::test]
async fn session_data_over_limit_413_and_unchanged() {
    let s = TestServer::start_with(Options { data_limit: 1024, ..Options::default() }).await;
    let login = s.user_session("alice").await;
    // `{"k":"..."}` is 8 bytes plus the string: exactly 1024 bytes of JSON fits.
    let at_limit = json!({"k": "x".repeat(1016)});
    assert_eq!(serde_json::to_vec(&at_limit).unwrap().len(), 1024);
    assert_eq!(s.put_data(&login.secret, &login.csrf, &at_limit).await.status(), 204);

    let over = json!({"k": "x".repeat(1017)});
    let res = s.put_data(&login.secret, &login.csrf, &over).await;
    assert_error(res, 413, "payload_too_large").await;
    let big = json!({"k": "y".repeat(10_000)});
    assert_error(s.put_data(&login.secret, &login.csrf, &big).await, 413, "payload_too_large")
        .await;
    assert_eq!(body_of(s.get_data(&login.secret).await).await, at_limit, "data changed by a 413");
}

#[tokio::test]
async fn session_data_non_object_400() {
    let s = TestServer::start().await;
    let login = s.user_session("alice").await;
    assert_eq!(s.put_data(&login.secret, &login.csrf, &json!({"keep": 1})).await.status(), 204);
    for bad in [json!([1, 2]), json!("a string"), json!(42), json!(null), json!(true)] {
        let res = s.put_data(&login.secret, &login.csrf, &bad).await;
        assert_error(res, 400, "invalid_request").await;
    }
    assert_eq!(body_of(s.get_data(&login.secret).await).await, json!({"keep": 1}));
}

// ---------------------------------------------------------- secrets at rest

#[tokio::test]
async fn sqlite_file_after_login_holds_hash_not_secret() {
    let s = TestServer::start().await;
    let login = s.user_session("alice").await;
    assert_eq!(s.whoami(&login.secret).await.status(), 200);

    // The database and its WAL/shared-memory companions, as raw bytes.
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = s.db_path.clone().into_os_string();
        p.push(suffix);
        if let Ok(b) = std::fs::read(&p) {
            bytes.extend_from_slice(&b);
        }
    }
    assert!(!bytes.is_empty());
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    // Positive control: the files do hold this session (by its SHA-256).
    let hash = tessera_core::secret::Secret::from_presented(&login.secret).hash();
    assert!(contains(&hash.0), "SHA-256 of the secret not found: wrong files inspected?");
    assert!(!contains(login.secret.as_bytes()), "the cookie secret is stored in clear");
}
