//! Attacks accounts over HTTP: registration rules (usernames, password policy,
//! exact Unicode passwords, closed registration), password change, and
//! uniform login failure (same status, bytes, headers and rough timing).

mod support;

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use support::*;
use tessera_core::service::Registration;

const T0: &str = "2026-09-21T14:13:20Z";
const NEW_PASSWORD: &str = "a brand new passphrase 42";

async fn change_password(
    s: &TestServer,
    login: &Login,
    current: &str,
    new: &str,
) -> reqwest::Response {
    s.req(Method::POST, "/v1/password")
        .header("cookie", s.cookie(&login.secret))
        .header("x-csrf-token", login.csrf.as_str())
        .json(&json!({"current_password": current, "new_password": new}))
        .send()
        .await
        .expect("request failed")
}

// ------------------------------------------------------------ registration

#[tokio::test]
async fn register_valid_201_with_id_username_created_at() {
    let s = TestServer::start().await;
    let res = s.try_register("Alice.Smith", PASSWORD).await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.headers().get("content-type").map(|v| v.to_str().unwrap()),
        Some("application/json")
    );
    let b: Value = res.json().await.unwrap();
    let mut keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "id", "username"], "{b}");
    let id = b["id"].as_str().unwrap();
    assert!(!id.is_empty());
    assert_eq!(b["username"], "Alice.Smith", "shown as registered");
    assert!(is_rfc3339_utc(b["created_at"].as_str().unwrap()), "{b}");
    assert_eq!(b["created_at"], T0);
    assert!(!b.to_string().contains(PASSWORD), "the password is echoed");

    // A second user gets a different id; the session reports the same id.
    let other = s.register("bob").await;
    assert_ne!(other["id"], b["id"]);
    let login = s.login("Alice.Smith", PASSWORD).await;
    let me: Value = s.whoami(&login.secret).await.json().await.unwrap();
    assert_eq!(me["user"]["id"], id);
}

#[tokio::test]
async fn register_duplicate_any_case_409_conflict() {
    let s = TestServer::start().await;
    s.register("alice").await;
    for dup in ["alice", "ALICE", "Alice", "aLiCe"] {
        let res = s.try_register(dup, "another good passphrase").await;
        assert_error(res, 409, "conflict").await;
    }
    // The original account and password are untouched.
    assert_eq!(s.try_login("alice", PASSWORD).await.status(), 200);
    assert_eq!(s.try_login("alice", "another good passphrase").await.status(), 401);
}

#[tokio::test]
async fn register_bad_username_400_invalid_request() {
    let s = TestServer::start().await;
    let long = "x".repeat(65);
    for bad in [
        "",
        " ",
        "al ice",
        " alice",
        "alice ",
        long.as_str(),
        "ålice",
        "用户",
        "a/b",
        "a\nb",
        "a\u{0}b",
    ] {
        let res = s.try_register(bad, PASSWORD).await;
        assert_error(res, 400, "invalid_request").await;
    }
    // The boundary itself is fine.
    assert_eq!(s.try_register(&"x".repeat(64), PASSWORD).await.status(), 201);
}

#[tokio::test]
async fn register_password_length_bounds() {
    let s = TestServer::start().await;
    assert_error(s.try_register("u7", "zq8#Lm2").await, 400, "invalid_request").await;
    assert_eq!(s.try_register("u8", "zq8#Lm2v").await.status(), 201);

    let max = "x7".repeat(512);
    assert_eq!(max.len(), 1024);
    assert_eq!(s.try_register("u1024", &max).await.status(), 201);
    let over = format!("{max}y");
    assert_eq!(over.len(), 1025);
    assert_error(s.try_register("u1025", &over).await, 400, "invalid_request").await;

    // Bytes, not characters: 342 characters but 1025 bytes.
    let euro_max = format!("{}a", "€".repeat(341));
    assert_eq!(euro_max.len(), 1024);
    assert_eq!(s.try_register("e1024", &euro_max).await.status(), 201);
    let euro_over = format!("{euro_max}a");
    assert_eq!(euro_over.len(), 1025);
    assert_error(s.try_register("e1025", &euro_over).await, 400, "invalid_request").await;

    // The 1024-byte password is used whole: no truncation on login.
    assert_eq!(s.try_login("u1024", &max).await.status(), 200);
    assert_eq!(s.try_login("u1024", &max[..1023]).await.status(), 401);
    assert_eq!(s.try_login("u1024", &max[..72]).await.status(), 401);
    assert_eq!(s.try_login("e1024", &euro_max).await.status(), 200);
    // Rejected names were never created.
    assert_eq!(s.try_register("u7", "zq8#Lm2v").await.status(), 201);
    assert_eq!(s.try_register("u1025", "zq8#Lm2v").await.status(), 201);
}

#[tokio::test]
async fn register_common_password_400() {
    let s = TestServer::start().await;
    for (i, common) in
        ["password1", "Password", "PASSWORD1", "qwertyuiop", "QwertyUiop", "12345678"]
            .into_iter()
            .enumerate()
    {
        let res = s.try_register(&format!("c{i}"), common).await;
        assert_error(res, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn register_unicode_password_exact_no_normalisation() {
    let s = TestServer::start().await;
    let pw = "пароль-🔑-日本語";
    assert_eq!(s.try_register("uni", pw).await.status(), 201);
    assert_eq!(s.try_login("uni", pw).await.status(), 200);
    assert_error(s.try_login("uni", "ПАРОЛЬ-🔑-日本語").await, 401, "invalid_credentials").await;
    assert_error(s.try_login("uni", "пароль-🔑-日本").await, 401, "invalid_credentials").await;

    // NFC (U+00E9) and NFD (e + U+0301) are different passwords.
    let nfc = "caf\u{e9}-cr\u{e8}me-br\u{fb}l\u{e9}e";
    let nfd = "cafe\u{301}-cre\u{300}me-bru\u{302}le\u{301}e";
    assert_ne!(nfc.as_bytes(), nfd.as_bytes());
    assert_eq!(s.try_register("nfc", nfc).await.status(), 201);
    assert_eq!(s.try_register("nfd", nfd).await.status(), 201);
    assert_eq!(s.try_login("nfc", nfc).await.status(), 200);
    assert_eq!(s.try_login("nfd", nfd).await.status(), 200);
    assert_error(s.try_login("nfc", nfd).await, 401, "invalid_credentials").await;
    assert_error(s.try_login("nfd", nfc).await, 401, "invalid_credentials").await;
    // No trimming either.
    assert_error(s.try_login("uni", &format!(" {pw}")).await, 401, "invalid_credentials").await;
    assert_error(s.try_login("uni", &format!("{pw} ")).await, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn register_when_closed_403_forbidden() {
    let s = TestServer::start_with(Options {
        registration: Registration::Closed,
        ..Options::default()
    })
    .await;
    let res = s.try_register("alice", PASSWORD).await;
    assert_error(res, 403, "forbidden").await;
    assert!(s.tessera.find_user_by_name("alice").await.is_err(), "a user was created");
    assert_eq!(s.try_login("alice", PASSWORD).await.status(), 401);
}

// ---------------------------------------------------------- password change

#[tokio::test]
async fn change_password_wrong_current_401_unchanged() {
    let s = TestServer::start().await;
    let login = s.user_session("alice").await;
    let res = change_password(&s, &login, "not my password at all", NEW_PASSWORD).await;
    assert_error(res, 401, "invalid_credentials").await;
    assert_eq!(s.whoami(&login.secret).await.status(), 200);
    assert_eq!(s.try_login("alice", NEW_PASSWORD).await.status(), 401);
    assert_eq!(s.try_login("alice", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn change_password_new_too_short_or_common_400_unchanged() {
    let s = TestServer::start().await;
    let login = s.user_session("alice").await;
    assert_error(change_password(&s, &login, PASSWORD, "zq8#Lm2").await, 400, "invalid_request")
        .await;
    assert_error(change_password(&s, &login, PASSWORD, "qwertyuiop").await, 400, "invalid_request")
        .await;
    assert_eq!(s.whoami(&login.secret).await.status(), 200);
    assert_eq!(s.try_login("alice", PASSWORD).await.status(), 200);
    assert_eq!(s.try_login("alice", "zq8#Lm2").await.status(), 401);
}

#[tokio::test]
async fn change_password_success_204_keeps_caller_ends_others() {
    let s = TestServer::start().await;
    let mine = s.user_session("alice").await;
    let second = s.login("alice", PASSWORD).await;
    let bystander = s.user_session("bob").await;

    let res = change_password(&s, &mine, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(res.status(), 204);
    assert!(res.bytes().await.unwrap().is_empty());

    assert_eq!(s.whoami(&mine.secret).await.status(), 200, "the caller's session ended");
    assert_error(s.whoami(&second.secret).await, 401, "unauthorized").await;
    assert_eq!(s.whoami(&bystander.secret).await.status(), 200, "another user's session ended");
    assert_error(s.try_login("alice", PASSWORD).await, 401, "invalid_credentials").await;
    assert_eq!(s.try_login("alice", NEW_PASSWORD).await.status(), 200);
    // The caller's session keeps working for state changes too.
    assert_eq!(s.put_data(&mine.secret, &mine.csrf, &json!({"ok": 1})).await.status(), 204);
}

// ---------------------------------------------------------- uniform failure

/// Status, headers minus `date`, and body bytes of a failed login.
async fn failure_fingerprint(res: reqwest::Response) -> (u16, Vec<(String, Vec<u8>)>, Vec<u8>) {
    let status = res.status().as_u16();
    let headers = headers_without_date(res.headers());
    (status, headers, res.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn login_failures_unknown_wrong_disabled_indistinguishable() {
    let s = TestServer::start().await;
    s.register("alice").await;
    s.register("carol").await;
    s.tessera.set_user_disabled("carol", true).await.unwrap();

    let unknown = failure_fingerprint(s.try_login("nobody", PASSWORD).await).await;
    let wrong = failure_fingerprint(s.try_login("alice", "wrong password 123").await).await;
    let disabled = failure_fingerprint(s.try_login("carol", PASSWORD).await).await;

    assert_eq!(unknown.0, 401);
    let body: Value = serde_json::from_slice(&unknown.2).unwrap();
    assert_eq!(body["error"], "invalid_credentials");
    assert_eq!(unknown, wrong, "unknown user vs wrong password");
    assert_eq!(unknown, disabled, "unknown user vs disabled user");
    assert!(!unknown.1.iter().any(|(n, _)| n == "set-cookie"));

    // An invalid (unparseable) username and a disabled user with a wrong
    // password look the same too.
    let bad_name = failure_fingerprint(s.try_login("no such user!", PASSWORD).await).await;
    assert_eq!(unknown, bad_name, "unknown user vs malformed username");
    let disabled_wrong =
        failure_fingerprint(s.try_login("carol", "wrong password 123").await).await;
    assert_eq!(unknown, disabled_wrong);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_timing_unknown_user_vs_wrong_password_within_2x() {
    let s = TestServer::start_with(Options { real_argon2: true, ..Options::default() }).await;
    s.register("alice").await;
    // Warm-up: connection, pages of Argon2 memory.
    let _ = s.try_login("nobody", PASSWORD).await;
    let _ = s.try_login("alice", "wrong password 123").await;

    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        // Interleaved so that drift in machine load hits both alike.
        let t = Instant::now();
        assert_eq!(s.try_login("nobody", PASSWORD).await.status(), 401);
        unknown.push(t.elapsed());
        let t = Instant::now();
        assert_eq!(s.try_login("alice", "wrong password 123").await.status(), 401);
        wrong.push(t.elapsed());
    }
    let (u, w) = (median(unknown), median(wrong));
    let ratio = u.as_secs_f64() / w.as_secs_f64();
    assert!(
        (0.5..2.0).contains(&ratio),
        "median unknown {u:?} vs wrong password {w:?}: ratio {ratio:.2}"
    );
}
