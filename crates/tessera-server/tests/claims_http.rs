//! Claims of README "Security, as built" and API.md that no other test
//! attacked, each under a test named after the claim: secrets kept only as
//! hashes in every store, no Argon2 work for a refused login, the same work
//! for a disabled user as for a wrong password, the security headers on
//! every response, the JWKS `max-age` rule, the hybrid CSRF token the same
//! on every node, and login counters shared across nodes through Redis.
//!
//! Work is counted (hash calls, statuses, bytes), never timed.

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

mod support;
mod support_hybrid;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use reqwest::Method;
use serde_json::{Value, json};
use tessera_core::token::TokenPolicy;
use tessera_core::{Duration, OsEntropy, TesseraConfig};

use support::*;
use support_hybrid::*;

use support::counted::*;

const LOGINS: [&str; 3] = ["/v1/session/login", "/v1/token/login", "/v1/hybrid/login"];

// ------------------------------------------------------- Argon2 work counted

/// README "Login throttling": once an account is locked, every login is
/// 429, the correct password included, and costs no Argon2 work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_refused_login_429_costs_no_argon2_work() {
    let cluster = Cluster::new(false);
    let node = cluster.node().await;
    node.tessera.create_user("alice", PASSWORD, "").await.unwrap();
    for i in 0..5 {
        assert_eq!(node.login("/v1/token/login", "alice", &format!("guess {i}!")).await, 401);
    }
    assert_eq!(cluster.verified(), 5, "each checked guess hashed once");
    for path in LOGINS {
        for password in [PASSWORD, "yet another guess"] {
            assert_eq!(node.login(path, "alice", password).await, 429, "{path}");
        }
    }
    assert_eq!(cluster.verified(), 5, "a refused login hashed a password");
}

/// README "Login throttling": a disabled user's login costs the same Argon2
/// work as a wrong password (and as an unknown user): one verification, so
/// that the work done reveals nothing about the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_disabled_user_login_costs_same_argon2_work_as_wrong_password() {
    let cluster = Cluster::new(false);
    let config = TesseraConfig::default();
    let node = cluster.node_with(config, 2, None).await;
    node.tessera.create_user("active", PASSWORD, "").await.unwrap();
    node.tessera.create_user("gone", PASSWORD, "").await.unwrap();
    node.tessera.set_user_disabled("gone", true).await.unwrap();
    for path in LOGINS {
        let mut work = Vec::new();
        for (user, password) in
            [("active", "wrong password!"), ("gone", PASSWORD), ("nobody", PASSWORD)]
        {
            let before = cluster.verified();
            assert_eq!(node.login(path, user, password).await, 401, "{path} {user}");
            work.push((user, cluster.verified() - before));
        }
        assert_eq!(work, [("active", 1), ("gone", 1), ("nobody", 1)], "{path}");
    }
}

/// README "Login throttling" with Redis: the failure counters live in
/// Redis, so five failures on node A lock the account on node B, and B
/// refuses before hashing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_login_counters_shared_across_nodes_failures_on_a_lock_on_b() {
    let cluster = Cluster::new(true);
    let a = cluster.node().await;
    let b = cluster.node().await;
    a.tessera.create_user("alice", PASSWORD, "").await.unwrap();
    // Positive control: B answers a wrong guess with a check of its own.
    assert_eq!(b.login("/v1/token/login", "alice", "first guess!").await, 401);
    for i in 0..4 {
        assert_eq!(a.login("/v1/token/login", "alice", &format!("guess {i}!")).await, 401);
    }
    let checked = cluster.verified();
    assert_eq!(checked, 5);
    for path in LOGINS {
        assert_eq!(b.login(path, "alice", PASSWORD).await, 429, "B ignored A's failures: {path}");
        assert_eq!(a.login(path, "alice", PASSWORD).await, 429, "{path}");
    }
    assert_eq!(cluster.verified(), checked, "a locked login hashed");
}

// -------------------------------------------------------- security headers

/// The headers every response carries (README "Endpoints (hybrid mode,
/// gateways, devices)"), `no-store` included.
fn assert_security_headers(res: &reqwest::Response, what: &str) {
    let h = res.headers();
    let get = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(get("x-content-type-options").as_deref(), Some("nosniff"), "{what}");
    assert_eq!(get("referrer-policy").as_deref(), Some("no-referrer"), "{what}");
    assert_eq!(get("content-security-policy").as_deref(), Some("frame-ancestors 'none'"), "{what}");
    assert_eq!(get("cache-control").as_deref(), Some("no-store"), "{what}");
    // Plain HTTP: HSTS would pin a host that has no HTTPS (RFC 6797 §7.2).
    assert_eq!(get("strict-transport-security"), None, "{what}: HSTS over plain HTTP");
}

/// README "Endpoints (hybrid mode, gateways, devices)": every response carries `Cache-Control: no-store`,
/// `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and
/// `Content-Security-Policy: frame-ancestors 'none'` — the errors produced
/// by the router, the body limit, the throttle and the load shedder too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_security_headers_on_every_response_200_to_503() {
    let cluster = Cluster::new(false);
    let (gate, inside) = Gate::new();
    let node = cluster.node_with(counted_config(8), 4, Some(gate.clone())).await;
    node.tessera.create_user("alice", PASSWORD, "").await.unwrap();
    let mut seen = Vec::new();
    let mut check = |res: reqwest::Response, expected: u16| {
        let what = format!("{} {}", res.url().path(), res.status());
        assert_eq!(res.status().as_u16(), expected, "{what}");
        assert_security_headers(&res, &what);
        seen.push(expected);
    };
    check(node.req(Method::GET, "/healthz").send().await.unwrap(), 200);
    check(node.req(Method::GET, "/v1/session").send().await.unwrap(), 401);
    check(node.req(Method::GET, "/no/such/route").send().await.unwrap(), 404);
    check(node.req(Method::DELETE, "/healthz").send().await.unwrap(), 405);
    let big = json!({"username": "alice", "password": "x".repeat(70 * 1024)});
    check(node.req(Method::POST, "/v1/token/login").json(&big).send().await.unwrap(), 413);
    let text = node
        .req(Method::POST, "/v1/token/login")
        .header("content-type", "text/plain")
        .body("username=alice")
        .send()
        .await
        .unwrap();
    check(text, 415);
    check(
        node.req(Method::POST, "/v1/token/login")
            .body("{not json")
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap(),
        400,
    );

    // 503: two logins from one address hold its share of the hash queue
    // (inside the gated hasher); a third is shed.
    let login = |user: &str| {
        node.req(Method::POST, "/v1/token/login")
            .header("x-forwarded-for", "198.51.100.1")
            .json(&json!({"username": user, "password": "wrong guess!"}))
            .send()
    };
    let held: Vec<_> = (0..2).map(|i| tokio::spawn(login(&format!("flood{i}")))).collect();
    inside.recv().unwrap();
    inside.recv().unwrap();
    check(login("flood2").await.unwrap(), 503);
    gate.release();
    for res in held {
        assert_eq!(res.await.unwrap().unwrap().status(), 401);
    }

    // 429: five failures lock alice.
    for i in 0..5 {
        assert_eq!(node.login("/v1/token/login", "alice", &format!("guess {i}!")).await, 401);
    }
    let locked = node
        .req(Method::POST, "/v1/token/login")
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    check(locked, 429);
    assert_eq!(seen, [200, 401, 404, 405, 413, 415, 400, 503, 429]);
    // The two discovery documents are the documented exception to
    // `no-store` (cacheable by design, see the JWKS test); the rest holds.
    for path in ["/.well-known/jwks.json", "/.well-known/oauth-authorization-server"] {
        let res = node.req(Method::GET, path).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let cache = res.headers()["cache-control"].to_str().unwrap();
        assert!(cache.starts_with("public, max-age="), "{path}: {cache}");
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["content-security-policy"], "frame-ancestors 'none'", "{path}");
        assert!(h.get("strict-transport-security").is_none(), "{path}");
    }
}

// ------------------------------------------------------------------- JWKS

/// README "Keys": the JWKS `max-age` is a quarter of the rotation interval,
/// at most 300 s (the next key is published a whole interval before it
/// signs).
#[tokio::test]
async fn claim_jwks_max_age_quarter_of_rotation_interval_at_most_300() {
    let cluster = Cluster::new(false);
    for (interval, max_age) in [(30 * 86_400, 300), (1200, 300), (1204, 300), (1000, 250), (8, 2)] {
        let config = TesseraConfig {
            token: TokenPolicy {
                rotation_interval: Duration::seconds(interval),
                ..TokenPolicy::default()
            },
            ..TesseraConfig::default()
        };
        let node = cluster.node_with(config, 1, None).await;
        let res = node.req(Method::GET, "/.well-known/jwks.json").send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["cache-control"],
            format!("public, max-age={max_age}").as_str(),
            "rotation interval {interval} s"
        );
    }
}

// ------------------------------------------------------------------ hybrid

/// README "Hybrid mode": the CSRF token is a MAC of the family id under a
/// key derived from the master key, so any node of a deployment accepts the
/// token another node issued, and issues the same one.
#[tokio::test]
async fn claim_hybrid_csrf_token_same_on_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let shared = format!("sqlite://{}", dir.path().join("shared.db").display());
    let a = TestServer::start_with(Options { store_url: Some(shared), ..Options::default() }).await;
    let b = a.second_node().await;
    a.create_user("alice", "").await;
    let login = hybrid_login(&a, "alice").await;
    // B checks A's token on an unsafe forwarded request.
    let res = verify_with(&b, |r| {
        r.header("cookie", login.site_cookies())
            .header("x-original-method", "POST")
            .header("x-csrf-token", login.csrf.as_str())
    })
    .await;
    assert_eq!(res.status(), 200, "B refused A's CSRF token");
    // Negative control: B refuses a wrong token.
    let res = verify_with(&b, |r| {
        r.header("cookie", login.site_cookies())
            .header("x-original-method", "POST")
            .header("x-csrf-token", "A".repeat(login.csrf.len()))
    })
    .await;
    assert_eq!(res.status(), 403);
    // B's rotation issues the very token A issued for this family.
    let res = hybrid_refresh(&b, &login.hybrid_cookies(), Some(&login.csrf)).await;
    assert_eq!(res.status(), 200);
    let rotated = Hybrid::from_response(res).await;
    assert_eq!(rotated.csrf, login.csrf, "B issued another CSRF token");
    // And A accepts the rotated cookies with it.
    let res = hybrid_logout(&a, &rotated.hybrid_cookies(), Some(&login.csrf)).await;
    assert_eq!(res.status(), 204);
}

// --------------------------------------------------------- secrets at rest

/// The forms a secret could be stored in: as given, base64 (both alphabets,
/// padded or not) and hex of its text, and, when the text is base64url,
/// the bytes it encodes and their hex and base64.
fn forms(secret: &str) -> Vec<Vec<u8>> {
    let text = secret.as_bytes();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut out = vec![text.to_vec()];
    for e in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        out.push(e.encode(text).into_bytes());
    }
    out.push(hex(text).into_bytes());
    out.push(hex(text).to_uppercase().into_bytes());
    if let Ok(raw) = URL_SAFE_NO_PAD.decode(secret) {
        out.push(hex(&raw).into_bytes());
        out.push(hex(&raw).to_uppercase().into_bytes());
        out.push(STANDARD.encode(&raw).into_bytes());
        out.push(STANDARD_NO_PAD.encode(&raw).into_bytes());
        out.push(raw);
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.len() <= haystack.len() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every secret the run was handed, found nowhere in `dump`; `controls`
/// (public values the store must hold) found, so the dump is real.
/// The SHA-256 of each secret named in `hashed` must be there (raw or hex):
/// the scan sees where the secrets' records went.
fn assert_only_hashes(
    dump: &[u8],
    secrets: &[(String, String)],
    controls: &[&str],
    hashed: &str,
    what: &str,
) {
    for c in controls {
        assert!(contains(dump, c.as_bytes()), "{what}: positive control {c:?} not in the dump");
    }
    let mut found = 0;
    for (name, secret) in secrets.iter().filter(|(name, _)| name.starts_with(hashed)) {
        let hash = tessera_core::secret::Secret::from_presented(secret).hash();
        let present = contains(dump, &hash.0)
            || contains(dump, hash.to_hex().as_bytes())
            || contains(dump, hash.to_hex().to_uppercase().as_bytes());
        assert!(present, "{what}: positive control: the hash of {name} not in the dump");
        found += 1;
    }
    assert!(found > 0, "{what}: no secret named {hashed:?}");
    for (name, secret) in secrets {
        for form in forms(secret) {
            assert!(!contains(dump, &form), "{what}: {name} stored in a readable form");
        }
    }
}

/// A run of logins, refreshes and client registrations on `s`; every
/// secret it was handed, named, and the public values a store must hold.
async fn full_run(s: &TestServer) -> (Vec<(String, String)>, Vec<String>) {
    let mut secrets = Vec::new();
    let user = s.create_user("alice", "").await;
    for i in 0..2 {
        let login = s.login("alice", PASSWORD).await;
        assert_eq!(s.whoami(&login.secret).await.status(), 200);
        secrets.push((format!("session secret {i}"), login.secret.clone()));
        let tokens = s.token_login("alice", None).await;
        let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
        secrets.push((format!("refresh token {i}"), rt.clone()));
        let res = s.refresh(&rt).await;
        assert_eq!(res.status(), 200);
        let next: Value = res.json().await.unwrap();
        secrets.push((
            format!("rotated refresh token {i}"),
            next["refresh_token"].as_str().unwrap().to_owned(),
        ));
        let h = hybrid_login(s, "alice").await;
        secrets.push((format!("hybrid refresh token {i}"), h.rt.clone()));
        let res = hybrid_refresh(s, &h.hybrid_cookies(), Some(&h.csrf)).await;
        assert_eq!(res.status(), 200);
        let rotated = Hybrid::from_response(res).await;
        secrets.push((format!("rotated hybrid refresh token {i}"), rotated.rt.clone()));
        let client = format!("backend-{i}");
        let secret = s.confidential_client(&client, "").await;
        let res = s
            .req(Method::POST, "/oauth/token")
            .basic_auth(&client, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "client_credentials");
        secrets.push((format!("client secret {i}"), secret));
    }
    (secrets, vec!["alice".to_owned(), user])
}

/// README "Cookie secrets": stores keep only hashes (SQLite): the database
/// file and its WAL hold none of the session secrets, refresh tokens or
/// client secrets of a run, in any encoding.
#[tokio::test]
async fn claim_secrets_stored_only_as_hashes_sqlite() {
    let s = TestServer::start().await;
    let (secrets, controls) = full_run(&s).await;
    let mut dump = Vec::new();
    let dir = s.db_path.parent().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_str().unwrap().starts_with("tessera.db") {
            dump.extend(std::fs::read(&path).unwrap());
        }
    }
    let controls: Vec<&str> = controls.iter().map(String::as_str).collect();
    assert_only_hashes(&dump, &secrets, &controls, "session secret", "SQLite");
}

/// The same on PostgreSQL + Redis: every row of every table (bytea as hex),
/// and every key and value under the test's Redis prefix.
#[tokio::test]
async fn claim_secrets_stored_only_as_hashes_postgres_and_redis() {
    let url = tessera_store::testing::fresh_postgres_url().await;
    let prefix = tessera_store::testing::fresh_redis_prefix("claims-secrets");
    let s = TestServer::start_with(Options {
        store_url: Some(url.clone()),
        redis_prefix: Some(prefix.clone()),
        ..Options::default()
    })
    .await;
    let (secrets, controls) = full_run(&s).await;
    let controls: Vec<&str> = controls.iter().map(String::as_str).collect();

    let mut pg = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) \
         FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(&mut pg)
    .await
    .unwrap();
    assert!(tables.len() > 3, "{tables:?}");
    let mut dump = Vec::new();
    for table in &tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM {table} t"))
            .fetch_all(&mut pg)
            .await
            .unwrap();
        for row in rows {
            dump.extend(row.into_bytes());
            dump.push(b'\n');
        }
    }
    assert_only_hashes(&dump, &secrets, &controls, "rotated refresh token", "PostgreSQL");

    let client = redis::Client::open(tessera_store::testing::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // Session keys carry the prefix as a hash tag (`{P}:`), the rest `P:`.
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for pattern in [format!("{prefix}:*"), format!("{{{prefix}}}:*")] {
        let found: Vec<Vec<u8>> =
            redis::cmd("KEYS").arg(pattern).query_async(&mut conn).await.unwrap();
        keys.extend(found);
    }
    let mut dump = Vec::new();
    let mut types = Vec::new();
    for key in &keys {
        dump.extend(key);
        let kind: String = redis::cmd("TYPE").arg(key).query_async(&mut conn).await.unwrap();
        let mut cmd = match kind.as_str() {
            "string" => redis::cmd("GET"),
            "hash" => redis::cmd("HGETALL"),
            "set" => redis::cmd("SMEMBERS"),
            "zset" => redis::cmd("ZRANGE"),
            "list" => redis::cmd("LRANGE"),
            "stream" => redis::cmd("XRANGE"),
            other => panic!("Redis key of type {other}"),
        };
        cmd.arg(key);
        match kind.as_str() {
            "zset" => cmd.arg(0).arg(-1).arg("WITHSCORES"),
            "list" => cmd.arg(0).arg(-1),
            "stream" => cmd.arg("-").arg("+"),
            _ => &mut cmd,
        };
        let value: redis::Value = cmd.query_async(&mut conn).await.unwrap();
        flatten(&value, &mut dump);
        types.push(kind);
    }
    // Positive control: the sessions are in Redis (the user id is in them).
    assert!(!keys.is_empty(), "no Redis keys under {prefix}");
    assert_only_hashes(
        &dump,
        &secrets,
        &[controls[1]],
        "session secret",
        &format!("Redis ({types:?})"),
    );
}

/// Every byte string inside a Redis reply.
fn flatten(v: &redis::Value, out: &mut Vec<u8>) {
    match v {
        redis::Value::BulkString(b) => out.extend(b),
        redis::Value::SimpleString(s) => out.extend(s.as_bytes()),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            items.iter().for_each(|i| flatten(i, out));
        }
        redis::Value::Map(pairs) => pairs.iter().for_each(|(k, v)| {
            flatten(k, out);
            flatten(v, out);
        }),
        other => out.extend(format!("{other:?}").into_bytes()),
    }
    out.push(b'\n');
}

/// The scan's own positive control: a secret written in any of the forms
/// it claims to look for is caught.
#[test]
fn secret_scan_catches_each_encoding() {
    let secret = tessera_core::secret::Secret::generate(&OsEntropy).expose().to_owned();
    let all = forms(&secret);
    assert!(all.len() >= 12, "{} forms: the secret is not base64url", all.len());
    let hash = tessera_core::secret::Secret::from_presented(&secret).hash().to_hex();
    let clean = format!("row: id=1, user=alice, hash={hash}, ").into_bytes();
    // Control: only the hash, accepted.
    assert_only_hashes(&clean, &[("s".into(), secret.clone())], &[], "s", "self-test");
    for form in all {
        let mut dump = clean.clone();
        dump.extend(&form);
        let caught = std::panic::catch_unwind(|| {
            assert_only_hashes(&dump, &[("s".into(), secret.clone())], &[], "s", "self-test");
        });
        assert!(caught.is_err(), "form {form:?} not caught");
    }
}
