//! Attacks hybrid mode over HTTP: the three cookies' exact attributes, the
//! CSRF token bound to its login (a token from another login, a forged
//! double-submit pair), refresh rotation and reuse, logout clearing and
//! revoking, and cookie tossing with unprefixed duplicates.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is how a test reports failure")]

mod support;
mod support_hybrid;

use reqwest::Method;
use serde_json::Value;
use support::*;
use support_hybrid::*;

/// The default access-token lifetime plus the default 30 s leeway, plus one.
const PAST_ACCESS_EXPIRY: i64 = 900 + 30 + 1;

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

/// The value of a `Set-Cookie` that must be exactly `<name>=<value><suffix>`.
fn value_with_exact_attributes<'a>(set_cookie: &'a str, name: &str, suffix: &str) -> &'a str {
    set_cookie
        .strip_prefix(&format!("{name}="))
        .and_then(|rest| rest.strip_suffix(suffix))
        .unwrap_or_else(|| panic!("unexpected Set-Cookie {set_cookie:?}, want {name}=…{suffix}"))
}

const AT_ATTRS: &str = "; Path=/; HttpOnly; Secure; SameSite=Lax";
const RT_ATTRS: &str = "; Path=/v1/hybrid; HttpOnly; Secure; SameSite=Strict";
const CSRF_ATTRS: &str = "; Path=/; Secure; SameSite=Lax";

/// Asserts exactly the three hybrid cookies were set with the contract's
/// attributes; returns (at, rt, csrf).
fn assert_three_cookies(all: &[String]) -> (String, String, String) {
    assert_eq!(all.len(), 3, "exactly three Set-Cookie headers: {all:?}");
    let at = value_with_exact_attributes(only_set_cookie(all, AT), AT, AT_ATTRS);
    let rt = value_with_exact_attributes(only_set_cookie(all, RT), RT, RT_ATTRS);
    let csrf = value_with_exact_attributes(only_set_cookie(all, CSRF), CSRF, CSRF_ATTRS);
    for v in [at, rt, csrf] {
        assert!(!v.is_empty(), "empty cookie value in {all:?}");
    }
    assert!(
        !only_set_cookie(all, CSRF).contains("HttpOnly"),
        "page scripts must read the CSRF cookie"
    );
    (at.to_owned(), rt.to_owned(), csrf.to_owned())
}

/// `GET /v1/verify` with the access-token cookie; the verified username.
async fn hybrid_user(s: &TestServer, h: &Hybrid) -> String {
    verified_username(verify_cookie(s, &h.at_cookie()).await, "hybrid cookie").await
}

// ------------------------------------------------------------------- login

#[tokio::test]
async fn hybrid_login_valid_three_cookies_exact_attributes_and_body() {
    let s = TestServer::start().await;
    let id = s.create_user("alice", "").await;
    let res = try_hybrid_login(&s, "alice", PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"));
    let all = set_cookies(res.headers());
    let (at, rt, csrf) = assert_three_cookies(&all);

    let body: Value = res.json().await.unwrap();
    assert_eq!(keys(&body), ["csrf_token", "expires_in", "user"], "{body}");
    assert_eq!(keys(&body["user"]), ["id", "username"], "{body}");
    assert_eq!(body["user"]["id"], id.as_str());
    assert_eq!(body["user"]["username"], "alice");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["csrf_token"], csrf.as_str(), "CSRF cookie and body token differ");

    // The access token is a JWT of this login; the CSRF token is neither the
    // access token nor the refresh token.
    assert_eq!(at.split('.').count(), 3, "access cookie is not a compact JWS: {at}");
    assert_eq!(jwt_claims(&at)["sub"], id.as_str());
    assert!(csrf != at && csrf != rt && at != rt);

    // Browsers drop cookies over 4096 bytes: the whole header stays under it.
    let at_header = only_set_cookie(&all, AT);
    assert!(at_header.len() < 4096, "access-token Set-Cookie is {} bytes", at_header.len());
}

#[tokio::test]
async fn hybrid_login_wrong_password_or_unknown_user_401_no_cookies() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    for (user, pw) in [("alice", "not the password at all"), ("nobody", PASSWORD)] {
        let res = try_hybrid_login(&s, user, pw).await;
        assert!(set_cookies(res.headers()).is_empty(), "{user}: cookies on a failed login");
        assert_error(res, 401, "invalid_credentials").await;
    }
}

#[tokio::test]
async fn hybrid_login_foreign_origin_403_no_cookies() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    for origin in ["https://evil.example", "null"] {
        let res = s
            .req(Method::POST, "/v1/hybrid/login")
            .header("origin", origin)
            .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert!(set_cookies(res.headers()).is_empty(), "{origin}: login CSRF set cookies");
        assert_error(res, 403, "csrf_failed").await;
    }
}

#[tokio::test]
async fn verify_hybrid_cookie_200_method_hybrid_session_is_sid() {
    let s = TestServer::start().await;
    let id = s.create_user("alice", "read").await;
    let h = hybrid_login(&s, "alice").await;
    let res = verify_cookie(&s, &h.at_cookie()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-auth-method").as_deref(), Some("hybrid"));
    assert_eq!(header(&res, "x-auth-subject").as_deref(), Some(id.as_str()));
    assert_eq!(header(&res, "x-auth-username").as_deref(), Some("alice"));
    assert_eq!(header(&res, "x-auth-scope").as_deref(), Some("read"));
    let sid = jwt_claims(&h.at)["sid"].as_str().unwrap().to_owned();
    assert_eq!(header(&res, "x-auth-session").as_deref(), Some(sid.as_str()));
}

// ----------------------------------------------------------------- refresh

#[tokio::test]
async fn hybrid_refresh_with_csrf_200_rotates_three_cookies_old_rt_refused() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let first = hybrid_login(&s, "alice").await;

    let res = hybrid_refresh(&s, &first.hybrid_cookies(), Some(&first.csrf)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"));
    let all = set_cookies(res.headers());
    let (at, rt, csrf) = assert_three_cookies(&all);
    let body: Value = res.json().await.unwrap();
    assert_eq!(keys(&body), ["csrf_token", "expires_in"], "{body}");
    assert_eq!(body["csrf_token"], csrf.as_str());
    assert_eq!(body["expires_in"], 900);
    assert_ne!(at, first.at, "access token not rotated");
    assert_ne!(rt, first.rt, "refresh token not rotated");
    let second =
        Hybrid { at, rt, csrf, body, set_cookies: all, headers: reqwest::header::HeaderMap::new() };
    assert_eq!(hybrid_user(&s, &second).await, "alice");

    // The presented refresh cookie died at once. Presented again at the same
    // instant of the test clock as its rotation, it is taken for a
    // concurrent refresh: refused without harming the family.
    let again = hybrid_refresh(&s, &first.hybrid_cookies(), Some(&first.csrf)).await;
    assert_error(again, 400, "invalid_grant").await;
    let third = Hybrid::from_response(
        hybrid_refresh(&s, &second.hybrid_cookies(), Some(&second.csrf)).await,
    )
    .await;
    assert_eq!(hybrid_user(&s, &third).await, "alice");
}

/// Issue 12, item 6, in hybrid mode: a refresh cookie replayed 1 s after
/// its rotation committed (inside the old 2 s race window) was refused, but
/// the family lived on.
#[tokio::test]
async fn regression_hybrid_reuse_inside_race_window_goes_unpunished() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let first = hybrid_login(&s, "alice").await;
    let second =
        Hybrid::from_response(hybrid_refresh(&s, &first.hybrid_cookies(), Some(&first.csrf)).await)
            .await;
    s.advance(1);
    let reuse = hybrid_refresh(&s, &first.hybrid_cookies(), Some(&first.csrf)).await;
    assert_error(reuse, 400, "invalid_grant").await;
    let successor = hybrid_refresh(&s, &second.hybrid_cookies(), Some(&second.csrf)).await;
    assert_error(successor, 400, "invalid_grant").await;
    assert_verify_401(verify_cookie(&s, &second.at_cookie()).await, "successor access cookie")
        .await;
}

/// 200 tabs refresh one cookie at once: one rotation wins, the others are
/// refused as concurrent (cookies cleared in their responses), and nothing
/// is revoked: the winner's cookies work on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hybrid_refresh_two_hundred_concurrent_one_successor_nothing_revoked() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let first = hybrid_login(&s, "alice").await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(200));
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let req = s
                .req(Method::POST, "/v1/hybrid/refresh")
                .header("cookie", first.hybrid_cookies())
                .header("x-csrf-token", first.csrf.as_str());
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                req.send().await.unwrap()
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let res = task.await.unwrap();
        if res.status() == 200 {
            winners.push(Hybrid::from_response(res).await);
        } else {
            assert_error(res, 400, "invalid_grant").await;
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rotation wins");
    let winner = &winners[0];
    assert_eq!(hybrid_user(&s, winner).await, "alice");
    let next = hybrid_refresh(&s, &winner.hybrid_cookies(), Some(&winner.csrf)).await;
    assert_eq!(next.status(), 200, "the winner's refresh cookie lives");
}

#[tokio::test]
async fn hybrid_refresh_reused_rt_after_rotation_400_family_dead() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let first = hybrid_login(&s, "alice").await;
    let other = hybrid_login(&s, "alice").await;
    let second =
        Hybrid::from_response(hybrid_refresh(&s, &first.hybrid_cookies(), Some(&first.csrf)).await)
            .await;

    s.advance(3);
    // A thief replays the stolen, already rotated refresh cookie.
    let reuse = hybrid_refresh(&s, &first.hybrid_cookies(), Some(&first.csrf)).await;
    assert_error(reuse, 400, "invalid_grant").await;

    // The whole family is dead: the successor refresh cookie and every access cookie.
    let successor = hybrid_refresh(&s, &second.hybrid_cookies(), Some(&second.csrf)).await;
    assert_error(successor, 400, "invalid_grant").await;
    assert_verify_401(verify_cookie(&s, &first.at_cookie()).await, "first access cookie").await;
    assert_verify_401(verify_cookie(&s, &second.at_cookie()).await, "successor access cookie")
        .await;

    // Another login of the same user is another family, untouched.
    assert_eq!(hybrid_user(&s, &other).await, "alice");
    assert_eq!(hybrid_refresh(&s, &other.hybrid_cookies(), Some(&other.csrf)).await.status(), 200);
}

#[tokio::test]
async fn hybrid_refresh_without_csrf_403_rt_still_works() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let h = hybrid_login(&s, "alice").await;
    // The browser sends all three cookies, CSRF cookie included, but no header.
    assert_error(hybrid_refresh(&s, &h.hybrid_cookies(), None).await, 403, "csrf_failed").await;
    assert_error(hybrid_refresh(&s, &h.hybrid_cookies(), Some("")).await, 403, "csrf_failed").await;
    assert_error(hybrid_refresh(&s, &h.rt_cookie(), None).await, 403, "csrf_failed").await;
    // Nothing was consumed: the same refresh cookie still rotates.
    let res = hybrid_refresh(&s, &h.hybrid_cookies(), Some(&h.csrf)).await;
    assert_eq!(res.status(), 200, "refusals consumed the refresh cookie");
}

#[tokio::test]
async fn hybrid_refresh_attacker_double_submit_pair_or_token_swap_403() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let h = hybrid_login(&s, "alice").await;
    // Naive double submit would accept any cookie/header pair that match.
    let forged = "attacker-chosen-csrf-value";
    let cookie = format!("{RT}={}; {CSRF}={forged}", h.rt);
    assert_error(hybrid_refresh(&s, &cookie, Some(forged)).await, 403, "csrf_failed").await;
    // Other secrets the page might hold are not the CSRF token.
    for wrong in [h.at.as_str(), h.rt.as_str()] {
        assert_error(
            hybrid_refresh(&s, &h.hybrid_cookies(), Some(wrong)).await,
            403,
            "csrf_failed",
        )
        .await;
    }
    // A one-character change of the real token.
    let mut altered = h.csrf.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    assert_error(hybrid_refresh(&s, &h.hybrid_cookies(), Some(&altered)).await, 403, "csrf_failed")
        .await;
    assert_eq!(hybrid_refresh(&s, &h.hybrid_cookies(), Some(&h.csrf)).await.status(), 200);
}

#[tokio::test]
async fn hybrid_refresh_after_access_expiry_200() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let h = hybrid_login(&s, "alice").await;
    s.advance(PAST_ACCESS_EXPIRY);
    assert_verify_401(verify_cookie(&s, &h.at_cookie()).await, "expired access cookie").await;
    // The browser dropped the expired cookie or still sends it: either way.
    let fresh =
        Hybrid::from_response(hybrid_refresh(&s, &h.rt_cookie(), Some(&h.csrf)).await).await;
    assert_eq!(hybrid_user(&s, &fresh).await, "alice");
}

// ------------------------------------------------ CSRF from another login

#[tokio::test]
async fn hybrid_csrf_from_another_login_403_on_refresh_logout_verify_logout_all() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    s.create_user("mallory", "").await;
    let victim = hybrid_login(&s, "alice").await;
    let second_login = hybrid_login(&s, "alice").await;
    let mallory = hybrid_login(&s, "mallory").await;
    assert_ne!(victim.csrf, second_login.csrf, "two logins share a CSRF token");
    assert_ne!(victim.csrf, mallory.csrf);

    for (who, foreign) in [("same user's other login", &second_login), ("another user", &mallory)] {
        // Even with the foreign token planted as the CSRF cookie too.
        let cookies = format!("{RT}={}; {AT}={}; {CSRF}={}", victim.rt, victim.at, foreign.csrf);
        let site_cookies = format!("{AT}={}; {CSRF}={}", victim.at, foreign.csrf);

        let res = hybrid_refresh(&s, &cookies, Some(&foreign.csrf)).await;
        assert_eq!(res.status(), 403, "{who}: refresh");
        assert_error(res, 403, "csrf_failed").await;

        let res = hybrid_logout(&s, &cookies, Some(&foreign.csrf)).await;
        assert_eq!(res.status(), 403, "{who}: logout");
        assert_error(res, 403, "csrf_failed").await;

        for (name, method) in [("x-original-method", "POST"), ("x-forwarded-method", "DELETE")] {
            let res = verify_with(&s, |b| {
                b.header("cookie", &site_cookies)
                    .header(name, method)
                    .header("x-csrf-token", &foreign.csrf)
            })
            .await;
            assert_eq!(res.status(), 403, "{who}: verify {name}: {method}");
            assert_error(res, 403, "csrf_failed").await;
        }

        let res = s
            .req(Method::POST, "/v1/logout-all")
            .header("cookie", &site_cookies)
            .header("x-csrf-token", &foreign.csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{who}: logout-all");
        assert_error(res, 403, "csrf_failed").await;
    }

    // None of it had any effect: every login lives and the victim's refresh
    // cookie was never consumed.
    assert_eq!(hybrid_user(&s, &victim).await, "alice");
    assert_eq!(hybrid_user(&s, &second_login).await, "alice");
    assert_eq!(hybrid_user(&s, &mallory).await, "mallory");
    let res = hybrid_refresh(&s, &victim.hybrid_cookies(), Some(&victim.csrf)).await;
    assert_eq!(res.status(), 200, "the victim's refresh cookie was consumed");
}

#[tokio::test]
async fn hybrid_csrf_of_own_login_on_verify_unsafe_method_200() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let h = hybrid_login(&s, "alice").await;
    let no_csrf = verify_with(&s, |b| {
        b.header("cookie", h.site_cookies()).header("x-original-method", "POST")
    })
    .await;
    assert_error(no_csrf, 403, "csrf_failed").await;
    let ok = verify_with(&s, |b| {
        b.header("cookie", h.site_cookies())
            .header("x-original-method", "POST")
            .header("x-csrf-token", &h.csrf)
    })
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(header(&ok, "x-auth-method").as_deref(), Some("hybrid"));
}

// ------------------------------------------------------------------ logout

#[tokio::test]
async fn hybrid_logout_with_csrf_204_clears_cookies_family_revoked() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let h = hybrid_login(&s, "alice").await;
    let other = hybrid_login(&s, "alice").await;

    let res = hybrid_logout(&s, &h.hybrid_cookies(), Some(&h.csrf)).await;
    assert_eq!(res.status(), 204);
    let all = set_cookies(res.headers());
    assert_eq!(all.len(), 3, "three clearing Set-Cookies: {all:?}");
    for (name, path, http_only) in [(AT, "/", true), (RT, "/v1/hybrid", true), (CSRF, "/", false)] {
        let c = only_set_cookie(&all, name);
        let attrs: Vec<&str> = c.split(';').map(str::trim).collect();
        assert_eq!(attrs[0], format!("{name}="), "{c}: value not emptied");
        assert!(attrs.contains(&format!("Path={path}").as_str()), "{c}: not the same path");
        assert!(attrs.contains(&"Max-Age=0"), "{c}: no Max-Age=0");
        // A browser ignores a prefixed cookie's Set-Cookie without `Secure`,
        // which would leave the cookie in place.
        assert!(attrs.contains(&"Secure"), "{c}: without Secure the browser keeps the cookie");
        assert!(!attrs.iter().any(|a| a.to_ascii_lowercase().starts_with("domain")), "{c}");
        assert_eq!(attrs.contains(&"HttpOnly"), http_only, "{c}");
    }
    assert!(res.bytes().await.unwrap().is_empty(), "204 has no body");

    // The family is revoked: the old access cookie and refresh cookie are worthless.
    let res = verify_cookie(&s, &h.at_cookie()).await;
    assert_eq!(header(&res, "www-authenticate").as_deref(), Some(INVALID_TOKEN));
    assert_error(res, 401, "invalid_token").await;
    let res = hybrid_refresh(&s, &h.hybrid_cookies(), Some(&h.csrf)).await;
    assert!(matches!(res.status().as_u16(), 400 | 401), "refresh after logout: {}", res.status());
    // Logging out again with the dead cookies is not a success.
    assert_ne!(hybrid_logout(&s, &h.hybrid_cookies(), Some(&h.csrf)).await.status(), 204);
    // The user's other login is another family.
    assert_eq!(hybrid_user(&s, &other).await, "alice");
}

/// Issue 12 item 19: the hybrid logout answered `Clear-Site-Data: "cookies"`,
/// and a browser drops every cookie of the site on it: the application's own
/// and the session-mode login's (shown in Chromium by
/// crates/tessera/tests/browser.rs). It clears its three cookies only; the
/// session login sent along lives on.
#[tokio::test]
async fn regression_hybrid_logout_wipes_the_whole_sites_cookies() {
    let s = TestServer::start().await;
    let session = s.user_session("alice").await;
    let h = hybrid_login(&s, "alice").await;
    let cookie = format!("app_pref=dark; {}={}; {}", SESSION, session.secret, h.hybrid_cookies());
    let res = hybrid_logout(&s, &cookie, Some(&h.csrf)).await;
    assert_eq!(res.status(), 204);
    assert_eq!(header(&res, "clear-site-data"), None, "a site-wide wipe");
    let mut names: Vec<String> = set_cookies(res.headers())
        .iter()
        .map(|c| c.split('=').next().unwrap().to_owned())
        .collect();
    names.sort_unstable();
    assert_eq!(names, [AT, CSRF, RT]);
    assert_eq!(s.whoami(&session.secret).await.status(), 200, "the session-mode login");
}

#[tokio::test]
async fn hybrid_logout_without_or_wrong_csrf_403_family_alive() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let h = hybrid_login(&s, "alice").await;
    for csrf in [None, Some(""), Some("wrong")] {
        let res = hybrid_logout(&s, &h.hybrid_cookies(), csrf).await;
        assert!(set_cookies(res.headers()).is_empty(), "{csrf:?}: cookies cleared on a refusal");
        assert_error(res, 403, "csrf_failed").await;
    }
    assert_eq!(hybrid_user(&s, &h).await, "alice");
    assert_eq!(hybrid_refresh(&s, &h.hybrid_cookies(), Some(&h.csrf)).await.status(), 200);
}

#[tokio::test]
async fn hybrid_logout_after_access_expiry_by_refresh_cookie_204_family_revoked() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let h = hybrid_login(&s, "alice").await;
    s.advance(PAST_ACCESS_EXPIRY);
    // Only the refresh cookie (and the CSRF cookie) still identify the login.
    let cookie = format!("{RT}={}; {CSRF}={}", h.rt, h.csrf);
    assert_eq!(hybrid_logout(&s, &cookie, Some(&h.csrf)).await.status(), 204);
    let res = hybrid_refresh(&s, &h.hybrid_cookies(), Some(&h.csrf)).await;
    assert!(matches!(res.status().as_u16(), 400 | 401), "refresh after logout: {}", res.status());
}

// ---------------------------------------------------------- cookie tossing

#[tokio::test]
async fn hybrid_unprefixed_cookie_alone_ignored_401() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let h = hybrid_login(&s, "alice").await;
    // A sibling subdomain can plant `tessera_at`, never `__Host-tessera_at`.
    let tossed = format!("tessera_at={}", h.at);
    let res = verify_cookie(&s, &tossed).await;
    assert_eq!(header(&res, "www-authenticate").as_deref(), Some(BEARER), "read as a credential");
    assert_error(res, 401, "unauthorized").await;
    // Likewise the refresh cookie: an unprefixed one does not refresh.
    let tossed_rt = format!("tessera_rt={}; tessera_csrf={}", h.rt, h.csrf);
    let res = hybrid_refresh(&s, &tossed_rt, Some(&h.csrf)).await;
    assert_eq!(res.status(), 401, "unprefixed refresh cookie was read");
    // And it was not consumed: the real one still rotates.
    assert_eq!(hybrid_refresh(&s, &h.hybrid_cookies(), Some(&h.csrf)).await.status(), 200);
}

#[tokio::test]
async fn hybrid_tossed_cookie_beside_real_one_real_wins() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    s.create_user("mallory", "").await;
    let alice = hybrid_login(&s, "alice").await;
    let mallory = hybrid_login(&s, "mallory").await;
    let real = format!("{AT}={}", alice.at);
    let tossed = format!("tessera_at={}", mallory.at);
    for cookie in [format!("{tossed}; {real}"), format!("{real}; {tossed}")] {
        let res = verify_cookie(&s, &cookie).await;
        assert_eq!(verified_username(res, &cookie).await, "alice", "{cookie}");
    }
    // In separate Cookie headers too.
    let res = verify_with(&s, |b| b.header("cookie", &tossed).header("cookie", &real)).await;
    assert_eq!(verified_username(res, "two Cookie headers").await, "alice");
    // The attacker's CSRF token (for the tossed login) does not pass for the real one.
    let res = verify_with(&s, |b| {
        b.header("cookie", format!("{tossed}; {real}; tessera_csrf={}", mallory.csrf))
            .header("x-original-method", "POST")
            .header("x-csrf-token", &mallory.csrf)
    })
    .await;
    assert_error(res, 403, "csrf_failed").await;
}
