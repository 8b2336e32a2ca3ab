//! Attacks token mode over HTTP: the token response and the JWT's exact
//! header and claims, forged and tampered access tokens (`alg` none, HS256
//! with our public key, embedded `jwk`, `jku`/`x5u`, hostile `kid`s,
//! signature surgery, `typ` confusion, ECDSA malleability after revocation),
//! refresh rotation, reuse and races, the OAuth endpoints' errors and client
//! authentication, introspection, revocation, key rotation, discovery, and
//! revocations surviving a restart.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is how a test reports failure")]

mod support;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use support::*;
use tessera_token::{Algorithm, SigningKey, jws};

/// RFC 6750 §3.1 challenge for a bad bearer token.
const INVALID_TOKEN: &str = r#"Bearer realm="tessera", error="invalid_token""#;
/// RFC 6750 §3 challenge when no bearer token was sent.
const BEARER: &str = r#"Bearer realm="tessera""#;
/// RFC 6749 §5.2 challenge for failed HTTP Basic client authentication.
const BASIC: &str = r#"Basic realm="tessera""#;
/// The harness clock's start.
const T0: i64 = 1_790_000_000;
/// The built-in first-party client's id.
const FIRST_PARTY: &str = "tessera";
/// A protected endpoint: needs a bearer token with scope `admin`.
const ADMIN_KEYS: &str = "/admin/keys";

// ------------------------------------------------------------------ helpers

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// The three segments of a compact JWS.
fn parts(token: &str) -> (String, String, String) {
    let v: Vec<&str> = token.split('.').collect();
    assert_eq!(v.len(), 3, "not a compact JWS: {token}");
    (v[0].to_owned(), v[1].to_owned(), v[2].to_owned())
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&unb64(&parts(token).0)).unwrap()
}

fn claims_of(token: &str) -> Value {
    serde_json::from_slice(&unb64(&parts(token).1)).unwrap()
}

fn sig_of(token: &str) -> Vec<u8> {
    unb64(&parts(token).2)
}

/// `header.claims.signature` with the given JSON and raw signature bytes.
fn assemble(header: &Value, claims: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(&serde_json::to_vec(header).unwrap()),
        b64(&serde_json::to_vec(claims).unwrap()),
        b64(sig)
    )
}

/// Signs `header.claims` with `key`, whatever the header says.
fn sign_with(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).unwrap()),
        b64(&serde_json::to_vec(claims).unwrap())
    );
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&sig))
}

/// An Ed25519 key the attacker made (PKCS#8 v1 around a random seed).
fn attacker_key(kid: &str) -> SigningKey {
    let seed = tessera_core::entropy::bytes::<32>(&tessera_core::OsEntropy);
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    SigningKey::from_pkcs8(Algorithm::EdDSA, kid, &der).unwrap()
}

/// Asserts a 401 `invalid_token` with the exact RFC 6750 challenge.
async fn assert_invalid_token(res: Response, what: &str) {
    assert_eq!(res.status(), 401, "{what}: expected 401");
    let challenge = res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(challenge.as_deref(), Some(INVALID_TOKEN), "{what}: challenge");
    assert_error(res, 401, "invalid_token").await;
}

/// Asserts a 401 `invalid_client` with the Basic challenge.
async fn assert_invalid_client(res: Response, what: &str) {
    let challenge = res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(res.status(), 401, "{what}: expected 401");
    assert_eq!(challenge.as_deref(), Some(BASIC), "{what}: challenge");
    assert_error(res, 401, "invalid_client").await;
}

fn header(res: &Response, name: &str) -> Option<String> {
    res.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
}

fn keys_of(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

/// `Authorization: Basic` for a client (RFC 6749 §2.3.1; our ids and
/// secrets need no form-encoding).
fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// Creates `name` with scope `admin read` and logs in: (token response, user id).
async fn admin_login(s: &TestServer, name: &str) -> (Value, String) {
    let id = s.create_user(name, "admin read").await;
    (s.token_login(name, None).await, id)
}

fn at(login: &Value) -> &str {
    str_of(login, "access_token")
}

/// A refresh token names its family and generation under a MAC: 57 bytes
/// as base64url without padding.
fn is_refresh_token_shaped(s: &str) -> bool {
    s.len() == 76 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn rt(login: &Value) -> &str {
    str_of(login, "refresh_token")
}

async fn assert_ok(s: &TestServer, token: &str, what: &str) {
    let res = s.bearer_get(ADMIN_KEYS, token).await;
    assert_eq!(res.status(), 200, "{what}: a genuine admin token must work");
}

async fn jwks(s: &TestServer) -> Value {
    let res = s.req(Method::GET, "/.well-known/jwks.json").send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn jwks_kids(set: &Value) -> Vec<String> {
    set["keys"].as_array().unwrap().iter().map(|k| str_of(k, "kid").to_owned()).collect()
}

/// `POST /oauth/token` with form `params` and optional `Authorization`.
async fn token_endpoint(s: &TestServer, params: &[(&str, &str)], auth: Option<&str>) -> Response {
    let mut req = s.req(Method::POST, "/oauth/token").form(params);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    req.send().await.unwrap()
}

/// `POST /oauth/introspect` with `token` and optional `Authorization`.
async fn introspect(s: &TestServer, token: &str, auth: Option<&str>) -> Response {
    let mut req = s.req(Method::POST, "/oauth/introspect").form(&[("token", token)]);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    req.send().await.unwrap()
}

/// `POST /oauth/revoke` with `token` and optional `Authorization` (none:
/// the built-in public client, whose tokens these are).
async fn revoke(s: &TestServer, token: &str, auth: Option<&str>) -> Response {
    let mut req = s.req(Method::POST, "/oauth/revoke").form(&[("token", token)]);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    req.send().await.unwrap()
}

async fn body_of(res: Response, what: &str) -> Value {
    assert_eq!(res.status(), 200, "{what}");
    res.json().await.unwrap()
}

// ------------------------------------------------------------- token login

#[tokio::test]
async fn token_login_valid_credentials_200_exact_fields_no_store_no_cache() {
    let s = TestServer::start().await;
    s.create_user("alice", "admin read").await;
    let res = s
        .req(Method::POST, "/v1/token/login")
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(header(&res, "pragma").as_deref(), Some("no-cache"));
    assert_eq!(header(&res, "content-type").as_deref(), Some("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        keys_of(&body),
        ["access_token", "expires_in", "refresh_token", "scope", "token_type"],
        "{body}"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "admin read");
    assert!(is_refresh_token_shaped(rt(&body)), "refresh token shape: {}", rt(&body));
    assert_eq!(at(&body).split('.').count(), 3);

    // A requested scope narrows what is granted.
    let narrowed = s.token_login("alice", Some("read")).await;
    assert_eq!(narrowed["scope"], "read");
    assert_eq!(claims_of(at(&narrowed))["scope"], "read");
}

#[tokio::test]
async fn token_login_form_body_200() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let res = s
        .req(Method::POST, "/v1/token/login")
        .form(&[("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let body = body_of(res, "form login").await;
    assert_eq!(body["token_type"], "Bearer");
}

/// A scope the user lacks is refused like a wrong password (issue 12 item
/// 10: a distinct 400 told a guesser the password was right).
#[tokio::test]
async fn token_login_scope_beyond_user_401_like_a_wrong_password() {
    let s = TestServer::start().await;
    s.create_user("alice", "read").await;
    let res = s
        .req(Method::POST, "/v1/token/login")
        .json(&json!({"username": "alice", "password": PASSWORD, "scope": "read admin"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn access_token_header_and_claims_exact() {
    let s = TestServer::start().await;
    let (login, user_id) = admin_login(&s, "alice").await;
    let token = at(&login);

    let h = header_of(token);
    assert_eq!(keys_of(&h), ["alg", "kid", "typ"], "{h}");
    assert_eq!(h["alg"], "EdDSA");
    assert_eq!(h["typ"], "at+jwt");
    let kid = str_of(&h, "kid");
    assert_eq!(kid, s.tessera.key_ring().current().kid(), "signed with the current key");
    assert!(jwks_kids(&jwks(&s).await).iter().any(|k| k == kid), "kid is published");

    let c = claims_of(token);
    assert_eq!(
        keys_of(&c),
        ["aud", "auth_time", "client_id", "exp", "iat", "iss", "jti", "scope", "sid", "sub"],
        "{c}"
    );
    assert_eq!(c["iss"], ISSUER);
    assert!(
        c["aud"] == AUDIENCE || c["aud"].as_array().is_some_and(|a| a.contains(&json!(AUDIENCE))),
        "{c}"
    );
    assert_eq!(c["sub"], user_id.as_str());
    assert_eq!(c["iat"], T0);
    assert_eq!(c["exp"], T0 + 900);
    assert_eq!(c["auth_time"], T0);
    assert_eq!(c["client_id"], FIRST_PARTY);
    assert_eq!(c["scope"], "admin read");
    assert!(str_of(&c, "jti").len() >= 16, "jti too short: {c}");
    let sid = str_of(&c, "sid");
    assert_eq!(sid.len(), 36, "sid is a UUID: {sid}");

    // A second login: another jti and another sid. A refresh 10 s later:
    // another jti, the same sid and auth_time (the login it descends from).
    let second = claims_of(at(&s.token_login("alice", None).await));
    assert_ne!(second["jti"], c["jti"]);
    assert_ne!(second["sid"], c["sid"]);
    s.advance(10);
    let refreshed = body_of(s.refresh(rt(&login)).await, "refresh").await;
    let r = claims_of(at(&refreshed));
    assert_ne!(r["jti"], c["jti"]);
    assert_eq!(r["sid"], c["sid"]);
    assert_eq!(r["auth_time"], T0);
    assert_eq!(r["iat"], T0 + 10);
    assert_eq!(r["exp"], T0 + 10 + 900);
}

#[tokio::test]
async fn token_login_wrong_password_or_unknown_user_401_identical_to_session_login() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    let attempt = |user: &'static str, pw: &'static str, path: &'static str| {
        s.req(Method::POST, path).json(&json!({"username": user, "password": pw})).send()
    };
    let wrong = attempt("alice", "wrong password!!", "/v1/token/login").await.unwrap();
    let unknown = attempt("nobody", "wrong password!!", "/v1/token/login").await.unwrap();
    let session = attempt("alice", "wrong password!!", "/v1/session/login").await.unwrap();
    let (hw, hu) = (headers_without_date(wrong.headers()), headers_without_date(unknown.headers()));
    assert_eq!(hw, hu, "headers differ between wrong password and unknown user");
    let bw = assert_error(wrong, 401, "invalid_credentials").await;
    let bu = assert_error(unknown, 401, "invalid_credentials").await;
    let bs = assert_error(session, 401, "invalid_credentials").await;
    assert_eq!(bw, bu);
    assert_eq!(bw, bs, "token login fails differently from session login");
}

// ------------------------------------------------------- bearer endpoints

#[tokio::test]
async fn admin_keys_without_bearer_401_bare_challenge() {
    let s = TestServer::start().await;
    let res = s.req(Method::GET, ADMIN_KEYS).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(header(&res, "www-authenticate").as_deref(), Some(BEARER));
}

#[tokio::test]
async fn admin_keys_without_admin_scope_403_insufficient_scope() {
    let s = TestServer::start().await;
    s.create_user("alice", "admin read").await;
    let login = s.token_login("alice", Some("read")).await;
    let res = s.bearer_get(ADMIN_KEYS, at(&login)).await;
    assert_error(res, 403, "insufficient_scope").await;
    let admin = s.token_login("alice", None).await;
    let body = body_of(s.bearer_get(ADMIN_KEYS, at(&admin)).await, "admin").await;
    assert!(body["keys"].as_array().is_some_and(|k| k.len() >= 2), "{body}");
}

#[tokio::test]
async fn bearer_token_in_query_string_401() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let res = s
        .req(Method::GET, &format!("{ADMIN_KEYS}?access_token={}", at(&login)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "a token in the query string was accepted");
    assert_eq!(header(&res, "www-authenticate").as_deref(), Some(BEARER));
}

#[tokio::test]
async fn access_token_expired_beyond_leeway_401() {
    let s = TestServer::start_with(Options { access_ttl: 60, ..Options::default() }).await;
    let (login, _) = admin_login(&s, "alice").await;
    assert_eq!(login["expires_in"], 60);
    // exp = T0 + 60, leeway 30 s: valid up to T0 + 89, dead from T0 + 90.
    s.advance(89);
    assert_ok(&s, at(&login), "within the leeway").await;
    s.advance(1);
    assert_invalid_token(s.bearer_get(ADMIN_KEYS, at(&login)).await, "expired").await;
}

// --------------------------------------------------------- forged tokens

#[tokio::test]
async fn bearer_alg_none_four_casings_401() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let token = at(&login);
    assert_ok(&s, token, "control").await;
    let (kid, claims) = (header_of(token)["kid"].clone(), claims_of(token));
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = json!({"alg": alg, "typ": "at+jwt", "kid": kid});
        let forged = assemble(&h, &claims, b"");
        assert!(forged.ends_with('.'), "empty signature");
        assert_invalid_token(s.bearer_get(ADMIN_KEYS, &forged).await, alg).await;
        // The genuine signature left in place does not help either.
        let kept = format!("{}.{}", &forged[..forged.len() - 1], parts(token).2);
        assert_invalid_token(s.bearer_get(ADMIN_KEYS, &kept).await, alg).await;
    }
}

#[tokio::test]
async fn bearer_hs256_macd_with_our_public_key_401() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let token = at(&login);
    assert_ok(&s, token, "control").await;
    let kid = str_of(&header_of(token), "kid").to_owned();
    let set = jwks(&s).await;
    let jwk = set["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).unwrap();
    let x_text = str_of(jwk, "x");
    let raw = unb64(x_text);
    assert_eq!(raw.len(), 32, "an Ed25519 public key");

    // SubjectPublicKeyInfo for Ed25519 (RFC 8410): the prefix, then the key.
    let mut der = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    der.extend_from_slice(&raw);
    let pem_body =
        format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----", STANDARD.encode(&der));
    let published_jwk =
        serde_json::to_string(&s.tessera.key_ring().current().public_jwk()).unwrap();
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("PEM", format!("{pem_body}\n").into_bytes()),
        ("PEM without final newline", pem_body.clone().into_bytes()),
        ("DER (SPKI)", der.clone()),
        ("JWK JSON as published", published_jwk.into_bytes()),
        ("JWK JSON, sorted members", serde_json::to_vec(jwk).unwrap()),
        ("raw 32 bytes", raw.clone()),
        ("base64url x", x_text.as_bytes().to_vec()),
    ];
    let payload = unb64(&parts(token).1);
    for (what, secret) in secrets {
        let mac = SigningKey::from_pkcs8(Algorithm::HS256, &kid, &secret).unwrap();
        let forged = jws::sign_compact(&mac, Some("at+jwt"), &payload).unwrap();
        assert_eq!(header_of(&forged)["alg"], "HS256");
        assert_invalid_token(s.bearer_get(ADMIN_KEYS, &forged).await, what).await;
    }
}

#[tokio::test]
async fn bearer_embedded_jwk_with_attacker_key_401() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let token = at(&login);
    assert_ok(&s, token, "control").await;
    let kid = str_of(&header_of(token), "kid").to_owned();
    let claims = claims_of(token);
    for key_kid in [kid.as_str(), "attacker"] {
        let key = attacker_key(key_kid);
        let jwk = serde_json::to_value(key.public_jwk().unwrap()).unwrap();
        let h = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": key_kid, "jwk": jwk});
        let forged = sign_with(&key, &h, &claims);
        assert_invalid_token(s.bearer_get(ADMIN_KEYS, &forged).await, key_kid).await;
    }
}

#[tokio::test]
async fn bearer_jku_or_x5u_header_401_and_url_never_fetched() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let token = at(&login);
    assert_ok(&s, token, "control").await;
    let kid = str_of(&header_of(token), "kid").to_owned();
    let claims = claims_of(token);

    // The attacker's key server: it must never hear from Tessera.
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", trap.local_addr().unwrap());
    let key = attacker_key("attacker");
    for (member, key_kid) in
        [("jku", "attacker"), ("jku", kid.as_str()), ("x5u", "attacker"), ("x5u", kid.as_str())]
    {
        let mut h = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": key_kid});
        h[member] = json!(url);
        let forged = sign_with(&key, &h, &claims);
        let what = format!("{member} with kid {key_kid}");
        assert_invalid_token(s.bearer_get(ADMIN_KEYS, &forged).await, &what).await;
    }
    let accepted = tokio::time::timeout(Duration::from_millis(500), trap.accept()).await;
    assert!(accepted.is_err(), "the server connected to the jku/x5u URL: {accepted:?}");
}

#[tokio::test]
async fn bearer_kid_path_traversal_or_sql_401() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let token = at(&login);
    assert_ok(&s, token, "control").await;
    let real = str_of(&header_of(token), "kid").to_owned();
    let claims = claims_of(token);
    let hostile = [
        "../../etc/passwd".to_owned(),
        "../../../../../../dev/null".to_owned(),
        "' OR 1=1 --".to_owned(),
        format!("{real}' OR '1'='1"),
        format!("x' UNION SELECT kid FROM signing_keys WHERE kid='{real}' --"),
    ];
    let key = attacker_key("attacker");
    for kid in &hostile {
        let h = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});
        let forged = sign_with(&key, &h, &claims);
        assert_invalid_token(s.bearer_get(ADMIN_KEYS, &forged).await, kid).await;
        // The genuine signature over a header naming the hostile kid.
        let resigned = format!(
            "{}.{}.{}",
            b64(&serde_json::to_vec(&h).unwrap()),
            parts(token).1,
            parts(token).2
        );
        assert_invalid_token(s.bearer_get(ADMIN_KEYS, &resigned).await, kid).await;
    }
    s.assert_healthy().await;
}

#[tokio::test]
async fn bearer_signature_stripped_truncated_or_extended_401() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let token = at(&login);
    assert_ok(&s, token, "control").await;
    let (h, p, sig64) = parts(token);
    let sig = sig_of(token);
    assert_eq!(sig.len(), 64);
    let mut flipped = sig.clone();
    flipped[63] ^= 1;
    let variants = [
        ("stripped, dot kept", format!("{h}.{p}.")),
        ("stripped, two segments", format!("{h}.{p}")),
        ("truncated by a byte", format!("{h}.{p}.{}", b64(&sig[..63]))),
        ("truncated to half", format!("{h}.{p}.{}", b64(&sig[..32]))),
        ("truncated text", format!("{h}.{p}.{}", &sig64[..sig64.len() - 4])),
        ("extended by a zero byte", format!("{h}.{p}.{}", b64(&[&sig[..], &[0]].concat()))),
        ("extended by itself", format!("{h}.{p}.{}", b64(&[&sig[..], &sig[..]].concat()))),
        ("extended text", format!("{token}AAAA")),
        ("fourth segment", format!("{token}.{sig64}")),
        ("padded", format!("{token}==")),
        ("bit flipped", format!("{h}.{p}.{}", b64(&flipped))),
    ];
    for (what, forged) in variants {
        assert_invalid_token(s.bearer_get(ADMIN_KEYS, &forged).await, what).await;
    }
}

#[tokio::test]
async fn bearer_refresh_token_as_access_token_401() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    assert_invalid_token(s.bearer_get(ADMIN_KEYS, rt(&login)).await, "refresh token").await;
    // And it is still a good refresh token.
    assert_eq!(s.refresh(rt(&login)).await.status(), 200);
}

#[tokio::test]
async fn bearer_typ_jwt_signed_with_real_key_401() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let token = at(&login);
    let payload = unb64(&parts(token).1);
    let ring = s.tessera.key_ring();
    let key = ring.current();
    // Control: the real key, these claims and typ at+jwt make a working token,
    // so the refusals below are about typ alone.
    let genuine = jws::sign_compact(key, Some("at+jwt"), &payload).unwrap();
    assert_ok(&s, &genuine, "re-signed at+jwt").await;
    for typ in [Some("JWT"), Some("jwt"), Some("application/jwt"), Some("id_token+jwt"), None] {
        let forged = jws::sign_compact(key, typ, &payload).unwrap();
        let what = format!("typ {typ:?}");
        assert_invalid_token(s.bearer_get(ADMIN_KEYS, &forged).await, &what).await;
    }
}

#[tokio::test]
async fn bearer_real_key_wrong_claims_or_crit_401() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let token = at(&login);
    let (h, c) = (header_of(token), claims_of(token));
    let ring = s.tessera.key_ring();
    let key = ring.current();
    assert_ok(&s, &sign_with(key, &h, &c), "control: re-signed as issued").await;
    let with = |field: &str, value: Value| {
        let mut c = c.clone();
        c[field] = value;
        c
    };
    let cases = [
        ("other issuer", with("iss", json!("https://evil.example.test"))),
        ("issuer with trailing slash", with("iss", json!(format!("{ISSUER}/")))),
        ("other audience", with("aud", json!("https://other.example.test"))),
        ("expired", with("exp", json!(T0 - 31))),
        ("issued in the future", with("iat", json!(T0 + 3600))),
        ("not yet valid", with("nbf", json!(T0 + 3600))),
        ("exp as string", with("exp", json!((T0 + 900).to_string()))),
    ];
    for (what, claims) in cases {
        assert_invalid_token(s.bearer_get(ADMIN_KEYS, &sign_with(key, &h, &claims)).await, what)
            .await;
    }
    let mut crit = h.clone();
    crit["crit"] = json!(["exp"]);
    assert_invalid_token(s.bearer_get(ADMIN_KEYS, &sign_with(key, &crit, &c)).await, "crit").await;
    let mut lower = h.clone();
    lower["alg"] = json!("eddsa");
    assert_invalid_token(s.bearer_get(ADMIN_KEYS, &sign_with(key, &lower, &c)).await, "alg case")
        .await;
}

#[tokio::test]
async fn bearer_9kib_token_401_invalid_token() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let (h, _, sig) = parts(at(&login));
    let padded = format!("{h}.{}.{sig}", "A".repeat(9 * 1024));
    assert!(padded.len() > 9 * 1024);
    let started = Instant::now();
    let res = s.bearer_get(ADMIN_KEYS, &padded).await;
    let status = res.status().as_u16();
    // Inside the 16 KiB header section, over the 8 KiB token bound: the
    // token is refused as a token (RFC 6750 §3.1 `invalid_token`).
    assert_eq!(status, 401, "9 KiB token");
    assert!(started.elapsed() < Duration::from_secs(2), "slow: {:?}", started.elapsed());
    assert_invalid_token(res, "9 KiB token").await;
}

#[tokio::test]
async fn bearer_one_mib_of_dots_431_never_5xx() {
    let s = TestServer::start().await;
    let started = Instant::now();
    let res = s
        .req(Method::GET, ADMIN_KEYS)
        .header("authorization", format!("Bearer {}", ".".repeat(1024 * 1024)))
        .send()
        .await;
    let elapsed = started.elapsed();
    let res = res.expect("the server dropped the connection instead of answering");
    let status = res.status().as_u16();
    // Over the 16 KiB header section: README "Connection bounds" says 431.
    assert_eq!(status, 431, "1 MiB bearer");
    assert!(elapsed < Duration::from_secs(2), "slow: {elapsed:?}");
    s.assert_healthy().await;
}

#[tokio::test]
async fn revoked_es256_token_replayed_with_high_s_401() {
    let s =
        TestServer::start_with(Options { algorithm: Algorithm::ES256, ..Options::default() }).await;
    let (login, _) = admin_login(&s, "alice").await;
    let token = at(&login);
    assert_eq!(header_of(token)["alg"], "ES256");
    assert_ok(&s, token, "control").await;

    // ECDSA is malleable: (r, n - s) verifies wherever (r, s) does (and this
    // verifier, like JWS generally, accepts high s: the twin works before the
    // revocation). A revocation keyed on the token's bytes would miss it.
    let sig = sig_of(token);
    assert_eq!(sig.len(), 64, "ES256 signature is r || s");
    let twin_s = p256_order_minus(&sig[32..]);
    assert_ne!(&twin_s[..], &sig[32..]);
    let twin = format!(
        "{}.{}.{}",
        parts(token).0,
        parts(token).1,
        b64(&[&sig[..32], &twin_s[..]].concat())
    );
    assert_ne!(twin, token);

    let res = revoke(&s, token, None).await;
    assert_eq!(res.status(), 200, "revoke");
    assert_invalid_token(s.bearer_get(ADMIN_KEYS, token).await, "revoked token").await;
    assert_invalid_token(s.bearer_get(ADMIN_KEYS, &twin).await, "revoked token, s' = n - s").await;
}

/// `n - s` for the P-256 group order `n` (big-endian, 32 bytes, `s < n`).
fn p256_order_minus(s: &[u8]) -> [u8; 32] {
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    assert_eq!(s.len(), 32);
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = u8::try_from(d).unwrap();
    }
    assert_eq!(borrow, 0, "s >= n");
    out
}

// ------------------------------------------------------------------ refresh

#[tokio::test]
async fn refresh_rotation_old_token_dies_new_works() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let res = s.refresh(rt(&login)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(header(&res, "pragma").as_deref(), Some("no-cache"));
    let second: Value = res.json().await.unwrap();
    assert_eq!(
        keys_of(&second),
        ["access_token", "expires_in", "refresh_token", "scope", "token_type"]
    );
    assert_eq!(second["token_type"], "Bearer");
    assert_eq!(second["scope"], "admin read");
    assert_ne!(rt(&second), rt(&login));
    assert_ne!(at(&second), at(&login));
    assert!(is_refresh_token_shaped(rt(&second)));
    assert_ok(&s, at(&second), "new access token").await;

    // The presented token died at once. Presented again at the same instant
    // of the test clock as its rotation, it is taken for a concurrent
    // refresh: refused without harming the family.
    assert_error(s.refresh(rt(&login)).await, 400, "invalid_grant").await;
    let third = body_of(s.refresh(rt(&second)).await, "successor refreshes").await;
    assert_ok(&s, at(&third), "third access token").await;
}

#[tokio::test]
async fn refresh_reuse_after_rotation_400_and_family_revoked() {
    let s = TestServer::start().await;
    let secret = s.confidential_client("rs", "").await;
    let (login, _) = admin_login(&s, "alice").await;
    let other = s.token_login("alice", None).await;
    let second = body_of(s.refresh(rt(&login)).await, "first refresh").await;
    assert_ok(&s, at(&second), "control").await;

    s.advance(3);
    assert_error(s.refresh(rt(&login)).await, 400, "invalid_grant").await;

    // The whole family is dead: its live refresh token and its access tokens.
    assert_error(s.refresh(rt(&second)).await, 400, "invalid_grant").await;
    assert_invalid_token(s.bearer_get(ADMIN_KEYS, at(&login)).await, "first access").await;
    assert_invalid_token(s.bearer_get(ADMIN_KEYS, at(&second)).await, "successor access").await;
    let auth = basic("rs", &secret);
    let res = introspect(&s, at(&second), Some(&auth)).await;
    assert_eq!(body_of(res, "introspect").await, json!({"active": false}));

    // Another login of the same user is another family, untouched.
    assert_ok(&s, at(&other), "other family").await;
    assert_eq!(s.refresh(rt(&other)).await.status(), 200);
}

/// Issue 12, item 6: a reused refresh token presented 1 s after its
/// rotation committed (inside the old 2 s race window) was refused, but the
/// family lived on.
#[tokio::test]
async fn regression_reuse_inside_race_window_goes_unpunished() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let second = body_of(s.refresh(rt(&login)).await, "first refresh").await;
    s.advance(1);
    assert_error(s.refresh(rt(&login)).await, 400, "invalid_grant").await;
    assert_error(s.refresh(rt(&second)).await, 400, "invalid_grant").await;
    assert_invalid_token(s.bearer_get(ADMIN_KEYS, at(&second)).await, "successor access").await;
}

/// Reuse detected on node B, which shares node A's PostgreSQL, revokes the
/// family on both: A refuses the successor refresh token it issued and the
/// access tokens of the family. A replay at the same instant as the
/// rotation (the test clock stands still) is a concurrent refresh on B too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_reuse_on_a_second_node_sharing_postgres_revokes_family_everywhere() {
    let url = tessera_store::testing::fresh_postgres_url().await;
    let a = TestServer::start_with(Options { store_url: Some(url), ..Options::default() }).await;
    let b = a.second_node().await;
    let (login, _) = admin_login(&a, "alice").await;
    let second = body_of(a.refresh(rt(&login)).await, "rotation on A").await;
    assert_error(b.refresh(rt(&login)).await, 400, "invalid_grant").await;
    assert_ok(&a, at(&second), "concurrent on B: the family lives").await;

    a.advance(1);
    assert_error(b.refresh(rt(&login)).await, 400, "invalid_grant").await;
    // The store refuses the family to every node at once ...
    assert_error(a.refresh(rt(&second)).await, 400, "invalid_grant").await;
    // ... and A's next revocation poll (what its watcher runs every 100 ms;
    // run here so that the test waits on no timer) refuses its access tokens.
    a.tessera.watch_revocations(std::time::Duration::from_secs(5)).await.unwrap();
    assert_invalid_token(a.bearer_get(ADMIN_KEYS, at(&second)).await, "on A").await;
    assert_invalid_token(b.bearer_get(ADMIN_KEYS, at(&second)).await, "on B").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_ten_concurrent_of_one_token_exactly_one_successor() {
    concurrent_refreshes_of_one_token(10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_two_hundred_concurrent_of_one_token_exactly_one_successor() {
    concurrent_refreshes_of_one_token(200).await;
}

/// `n` refreshes of one token at once: one winner, the others refused as
/// concurrent, and the family (the winner's tokens) unharmed.
async fn concurrent_refreshes_of_one_token(n: usize) {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let token = rt(&login).to_owned();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (http, url, token, barrier) =
                (s.http.clone(), s.url("/oauth/token"), token.clone(), barrier.clone());
            tokio::spawn(async move {
                let req = http
                    .post(url)
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", token.as_str())]);
                barrier.wait().await;
                let res = req.send().await.unwrap();
                let status = res.status().as_u16();
                (status, res.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let winners: Vec<&Value> = results.iter().filter(|(st, _)| *st == 200).map(|r| &r.1).collect();
    assert_eq!(winners.len(), 1, "exactly one refresh wins: {results:?}");
    for (status, body) in results.iter().filter(|(st, _)| *st != 200) {
        assert_eq!(*status, 400, "{body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }
    // Nothing was revoked: the winner's tokens work on.
    let winner = winners[0];
    assert_ok(&s, at(winner), "the winner's access token").await;
    let next = body_of(s.refresh(rt(winner)).await, "the winner's refresh token").await;
    assert_ok(&s, at(&next), "after the race").await;
    assert_ok(&s, at(&login), "the login's access token").await;
}

#[tokio::test]
async fn refresh_wider_scope_400_invalid_scope_token_survives() {
    let s = TestServer::start().await;
    s.create_user("alice", "admin read").await;
    let login = s.token_login("alice", Some("read")).await;
    let res = token_endpoint(
        &s,
        &[("grant_type", "refresh_token"), ("refresh_token", rt(&login)), ("scope", "read admin")],
        None,
    )
    .await;
    assert_error(res, 400, "invalid_scope").await;
    let next = body_of(s.refresh(rt(&login)).await, "refresh after invalid_scope").await;
    assert_eq!(next["scope"], "read");
    assert_eq!(claims_of(at(&next))["scope"], "read");
    let res = s.bearer_get(ADMIN_KEYS, at(&next)).await;
    assert_error(res, 403, "insufficient_scope").await;
}

#[tokio::test]
async fn refresh_narrower_scope_200_narrowed() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let res = token_endpoint(
        &s,
        &[("grant_type", "refresh_token"), ("refresh_token", rt(&login)), ("scope", "read")],
        None,
    )
    .await;
    let next = body_of(res, "narrowing refresh").await;
    assert_eq!(next["scope"], "read");
    assert_eq!(claims_of(at(&next))["scope"], "read");
}

#[tokio::test]
async fn refresh_by_another_client_400_invalid_grant_token_survives() {
    let s = TestServer::start().await;
    let secret = s.confidential_client("svc", "").await;
    let (login, _) = admin_login(&s, "alice").await;
    let res = token_endpoint(
        &s,
        &[("grant_type", "refresh_token"), ("refresh_token", rt(&login))],
        Some(&basic("svc", &secret)),
    )
    .await;
    assert_error(res, 400, "invalid_grant").await;
    assert_eq!(s.refresh(rt(&login)).await.status(), 200, "bound token was consumed");
}

// --------------------------------------------------------- /oauth/token errors

#[tokio::test]
async fn oauth_token_unknown_grant_type_400_unsupported_grant_type() {
    let s = TestServer::start().await;
    s.create_user("alice", "").await;
    for grant in [
        "password",
        "authorization_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "REFRESH_TOKEN",
    ] {
        let res = token_endpoint(
            &s,
            &[("grant_type", grant), ("username", "alice"), ("password", PASSWORD)],
            None,
        )
        .await;
        assert_error(res, 400, "unsupported_grant_type").await;
    }
}

#[tokio::test]
async fn oauth_token_missing_grant_type_400_invalid_request() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let res = token_endpoint(&s, &[("refresh_token", rt(&login))], None).await;
    assert_error(res, 400, "invalid_request").await;
    let res = s.req(Method::POST, "/oauth/token").json(&json!({})).send().await.unwrap();
    assert_error(res, 400, "invalid_request").await;
    // Nothing was consumed.
    assert_eq!(s.refresh(rt(&login)).await.status(), 200);
}

#[tokio::test]
async fn oauth_token_duplicate_parameter_400_nothing_consumed() {
    let s = TestServer::start().await;
    let (a, _) = admin_login(&s, "alice").await;
    let b = s.token_login("alice", None).await;
    let bodies = [
        format!("grant_type=refresh_token&grant_type=client_credentials&refresh_token={}", rt(&a)),
        format!("grant_type=refresh_token&refresh_token={}&refresh_token={}", rt(&a), rt(&b)),
        format!("grant_type=refresh_token&refresh_token={}&scope=read&scope=admin", rt(&a)),
    ];
    for body in bodies {
        let res = s
            .req(Method::POST, "/oauth/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_error(res, 400, "invalid_request").await;
    }
    assert_eq!(s.refresh(rt(&a)).await.status(), 200, "A was consumed");
    assert_eq!(s.refresh(rt(&b)).await.status(), 200, "B was consumed");
}

#[tokio::test]
async fn oauth_token_unknown_refresh_token_400_invalid_grant() {
    let s = TestServer::start().await;
    assert_error(s.refresh(&forged_secret()).await, 400, "invalid_grant").await;
    assert_error(s.refresh("not a token").await, 400, "invalid_grant").await;
}

// ------------------------------------------------------ client_credentials

#[tokio::test]
async fn client_credentials_without_auth_401_invalid_client_basic_challenge() {
    let s = TestServer::start().await;
    s.confidential_client("svc", "read").await;
    let res = token_endpoint(&s, &[("grant_type", "client_credentials")], None).await;
    assert_invalid_client(res, "no auth").await;
    // Naming the confidential client without its secret is no better.
    let res =
        token_endpoint(&s, &[("grant_type", "client_credentials"), ("client_id", "svc")], None)
            .await;
    assert_invalid_client(res, "client_id without secret").await;
}

#[tokio::test]
async fn client_credentials_wrong_secret_401_invalid_client() {
    let s = TestServer::start().await;
    let secret = s.confidential_client("svc", "read").await;
    let other = s.confidential_client("other", "admin").await;
    let grant = [("grant_type", "client_credentials")];
    for (what, auth) in [
        ("wrong secret", basic("svc", &forged_secret())),
        ("another client's secret", basic("svc", &other)),
        ("unknown client", basic("ghost", &secret)),
        ("empty secret", basic("svc", "")),
        ("secret with a suffix", basic("svc", &format!("{secret}x"))),
    ] {
        assert_invalid_client(token_endpoint(&s, &grant, Some(&auth)).await, what).await;
    }
    let res = token_endpoint(
        &s,
        &[("grant_type", "client_credentials"), ("client_id", "svc"), ("client_secret", "nope")],
        None,
    )
    .await;
    assert_invalid_client(res, "wrong client_secret in the body").await;
}

#[tokio::test]
async fn client_credentials_right_secret_200_sub_is_client_no_refresh_token() {
    let s = TestServer::start().await;
    let secret = s.confidential_client("ops", "admin").await;
    let res =
        token_endpoint(&s, &[("grant_type", "client_credentials")], Some(&basic("ops", &secret)))
            .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(header(&res, "pragma").as_deref(), Some("no-cache"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(keys_of(&body), ["access_token", "expires_in", "scope", "token_type"], "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "admin");
    let c = claims_of(at(&body));
    assert_eq!(c["sub"], "ops");
    assert_eq!(c["client_id"], "ops");
    assert_eq!(c["iss"], ISSUER);
    assert!(c.get("sid").is_none(), "a client token descends from no login: {c}");
    assert_eq!(header_of(at(&body))["typ"], "at+jwt");
    assert_ok(&s, at(&body), "client token with admin scope").await;
}

// ------------------------------------------------------------ introspection

#[tokio::test]
async fn introspect_without_client_auth_401_invalid_client() {
    let s = TestServer::start().await;
    let secret = s.confidential_client("rs", "").await;
    let (login, _) = admin_login(&s, "alice").await;
    assert_invalid_client(introspect(&s, at(&login), None).await, "no auth").await;
    let res = s
        .req(Method::POST, "/oauth/introspect")
        .form(&[("token", at(&login)), ("client_id", FIRST_PARTY)])
        .send()
        .await
        .unwrap();
    assert_invalid_client(res, "public client").await;
    let res = introspect(&s, at(&login), Some(&basic("rs", &forged_secret()))).await;
    assert_invalid_client(res, "wrong secret").await;
    let res = introspect(&s, at(&login), Some(&format!("Bearer {}", at(&login)))).await;
    assert_invalid_client(res, "the token itself as credentials").await;
    // Sanity: the right credentials work.
    let ok = body_of(introspect(&s, at(&login), Some(&basic("rs", &secret))).await, "rs").await;
    assert_eq!(ok["active"], true);
}

#[tokio::test]
async fn introspect_confidential_client_active_fields_and_garbage_inactive() {
    let s = TestServer::start().await;
    let secret = s.confidential_client("rs", "").await;
    let auth = basic("rs", &secret);
    let (login, user_id) = admin_login(&s, "alice").await;
    let c = claims_of(at(&login));
    let res = introspect(&s, at(&login), Some(&auth)).await;
    assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"));
    let body = body_of(res, "introspect").await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["sub"], user_id.as_str());
    assert_eq!(body["scope"], "admin read");
    assert_eq!(body["exp"], c["exp"]);
    assert_eq!(body["iat"], c["iat"]);
    assert_eq!(body["jti"], c["jti"]);
    assert_eq!(body["client_id"], FIRST_PARTY);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["username"], "alice");

    for garbage in ["garbage", "a.b.c", "", rt(&login)] {
        let res = introspect(&s, garbage, Some(&auth)).await;
        assert_eq!(body_of(res, garbage).await, json!({"active": false}), "{garbage:?}");
    }
    // Expired is inactive too.
    s.advance(900 + 30);
    let res = introspect(&s, at(&login), Some(&auth)).await;
    assert_eq!(body_of(res, "expired").await, json!({"active": false}));
}

// --------------------------------------------------------------- revocation

#[tokio::test]
async fn revoke_missing_token_400_invalid_request() {
    let s = TestServer::start().await;
    let res = s.req(Method::POST, "/oauth/revoke").form(&[("token_type_hint", "access_token")]);
    assert_error(res.send().await.unwrap(), 400, "invalid_request").await;
}

#[tokio::test]
async fn revoke_unknown_token_200() {
    let s = TestServer::start().await;
    for token in [forged_secret(), "garbage".to_owned(), "a.b.c".to_owned()] {
        assert_eq!(revoke(&s, &token, None).await.status(), 200, "{token}");
    }
}

#[tokio::test]
async fn revoke_access_token_401_after_and_introspect_inactive() {
    let s = TestServer::start().await;
    let secret = s.confidential_client("rs", "").await;
    let (login, _) = admin_login(&s, "alice").await;
    assert_eq!(revoke(&s, at(&login), None).await.status(), 200);
    assert_invalid_token(s.bearer_get(ADMIN_KEYS, at(&login)).await, "revoked").await;
    let res = introspect(&s, at(&login), Some(&basic("rs", &secret))).await;
    assert_eq!(body_of(res, "introspect").await, json!({"active": false}));
    // Revoking an access token leaves its family's refresh token alone.
    let next = body_of(s.refresh(rt(&login)).await, "refresh").await;
    assert_ok(&s, at(&next), "sibling access token").await;
}

#[tokio::test]
async fn revoke_refresh_token_kills_family() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let res = s
        .req(Method::POST, "/oauth/revoke")
        .form(&[("token", rt(&login)), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_error(s.refresh(rt(&login)).await, 400, "invalid_grant").await;
    assert_invalid_token(s.bearer_get(ADMIN_KEYS, at(&login)).await, "family access").await;
}

#[tokio::test]
async fn revoke_another_clients_tokens_200_left_alone() {
    let s = TestServer::start().await;
    let secret = s.confidential_client("svc", "").await;
    let auth = basic("svc", &secret);
    let (login, _) = admin_login(&s, "alice").await;
    for token in [at(&login), rt(&login)] {
        assert_eq!(revoke(&s, token, Some(&auth)).await.status(), 200);
    }
    assert_ok(&s, at(&login), "access token of another client").await;
    let next = body_of(s.refresh(rt(&login)).await, "refresh token of another client").await;
    assert_ok(&s, at(&next), "its successor").await;
}

// --------------------------------------------------------------------- keys

#[tokio::test]
async fn key_rotation_old_tokens_still_valid_jwks_has_old_and_new() {
    let s = TestServer::start().await;
    let (login, _) = admin_login(&s, "alice").await;
    let old = at(&login).to_owned();
    let old_kid = str_of(&header_of(&old), "kid").to_owned();
    let before = jwks_kids(&jwks(&s).await);
    assert!(before.contains(&old_kid));

    let res = s
        .req(Method::POST, "/admin/keys/rotate")
        .header("authorization", format!("Bearer {old}"))
        .send()
        .await
        .unwrap();
    let rotated = body_of(res, "rotate").await;
    let new_kid = str_of(&rotated, "kid").to_owned();
    assert_ne!(new_kid, old_kid);
    assert!(before.contains(&new_kid), "the next key was published before it signed: {before:?}");

    assert_ok(&s, &old, "token signed before the rotation").await;
    let after = jwks_kids(&jwks(&s).await);
    assert!(after.contains(&old_kid), "old kid gone: {after:?}");
    assert!(after.contains(&new_kid), "new kid missing: {after:?}");

    let fresh = s.token_login("alice", None).await;
    assert_eq!(header_of(at(&fresh))["kid"], new_kid.as_str());
    assert_ok(&s, at(&fresh), "token signed after the rotation").await;
    // And until the old token expires, it keeps working.
    s.advance(900);
    assert_ok(&s, &old, "old token near its expiry").await;
}

#[tokio::test]
async fn key_rotation_without_admin_scope_403_without_token_401() {
    let s = TestServer::start().await;
    s.create_user("alice", "admin read").await;
    let reader = s.token_login("alice", Some("read")).await;
    let before = jwks_kids(&jwks(&s).await);
    let res = s
        .req(Method::POST, "/admin/keys/rotate")
        .header("authorization", format!("Bearer {}", at(&reader)))
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "insufficient_scope").await;
    let res = s.req(Method::POST, "/admin/keys/rotate").send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(header(&res, "www-authenticate").as_deref(), Some(BEARER));
    assert_eq!(jwks_kids(&jwks(&s).await), before, "the ring changed");
}

#[tokio::test]
async fn jwks_public_members_only_kid_alg_use_sig_and_max_age() {
    for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
        let s = TestServer::start_with(Options { algorithm: alg, ..Options::default() }).await;
        let res = s.req(Method::GET, "/.well-known/jwks.json").send().await.unwrap();
        assert_eq!(res.status(), 200);
        let cache = header(&res, "cache-control").unwrap_or_default();
        let max_age = cache
            .split(',')
            .filter_map(|d| d.trim().strip_prefix("max-age="))
            .next()
            .and_then(|v| v.parse::<u64>().ok());
        assert!(max_age.is_some_and(|a| a > 0), "{alg}: Cache-Control {cache:?}");
        assert!(!cache.contains("no-store"), "{alg}: {cache}");
        let set: Value = res.json().await.unwrap();
        assert_eq!(keys_of(&set), ["keys"], "{set}");
        let keys = set["keys"].as_array().unwrap();
        assert!(keys.len() >= 2, "{alg}: next and current are published: {set}");
        for k in keys {
            assert!(!str_of(k, "kid").is_empty());
            assert_eq!(k["alg"], alg.jose_name(), "{k}");
            assert_eq!(k["use"], "sig", "{k}");
            for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
                assert!(k.get(private).is_none(), "{alg}: JWKS publishes {private}: {k}");
            }
        }
    }
}

#[tokio::test]
async fn jwks_hs256_keys_empty_tokens_still_work() {
    let s =
        TestServer::start_with(Options { algorithm: Algorithm::HS256, ..Options::default() }).await;
    assert_eq!(jwks(&s).await, json!({"keys": []}));
    let (login, _) = admin_login(&s, "alice").await;
    assert_eq!(header_of(at(&login))["alg"], "HS256");
    assert_ok(&s, at(&login), "HS256 token").await;
}

#[tokio::test]
async fn metadata_rfc8414_fields_point_at_issuer() {
    let s = TestServer::start().await;
    let res = s.req(Method::GET, "/.well-known/oauth-authorization-server").send().await.unwrap();
    assert_eq!(header(&res, "content-type").as_deref(), Some("application/json"));
    let m = body_of(res, "metadata").await;
    assert_eq!(m["issuer"], ISSUER);
    assert_eq!(m["token_endpoint"], format!("{ISSUER}/oauth/token"));
    assert_eq!(m["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(m["revocation_endpoint"], format!("{ISSUER}/oauth/revoke"));
    assert_eq!(m["introspection_endpoint"], format!("{ISSUER}/oauth/introspect"));
    let grants = m["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!("refresh_token")), "{m}");
    assert!(grants.contains(&json!("client_credentials")), "{m}");
    assert!(!grants.contains(&json!("password")), "the password grant is not offered: {m}");
    let auth = m["token_endpoint_auth_methods_supported"].as_array().unwrap();
    assert!(auth.contains(&json!("client_secret_basic")), "{m}");
}

// ------------------------------------------------------------------ restart

#[tokio::test]
async fn revocations_jti_and_family_in_force_after_restart() {
    let s = TestServer::start().await;
    let (revoked, _) = admin_login(&s, "alice").await;
    let reused = s.token_login("alice", None).await;
    let kept = s.token_login("alice", None).await;

    // A jti revocation.
    assert_eq!(revoke(&s, at(&revoked), None).await.status(), 200);
    // A family revocation by refresh reuse.
    let successor = body_of(s.refresh(rt(&reused)).await, "refresh").await;
    s.advance(3);
    assert_error(s.refresh(rt(&reused)).await, 400, "invalid_grant").await;

    let s = s.restart().await;
    assert_invalid_token(s.bearer_get(ADMIN_KEYS, at(&revoked)).await, "revoked jti").await;
    assert_invalid_token(s.bearer_get(ADMIN_KEYS, at(&reused)).await, "family access").await;
    assert_invalid_token(s.bearer_get(ADMIN_KEYS, at(&successor)).await, "successor access").await;
    assert_error(s.refresh(rt(&successor)).await, 400, "invalid_grant").await;
    // Controls: the keys survived, unrevoked tokens still work, logins work.
    assert_ok(&s, at(&kept), "unrevoked token from before the restart").await;
    assert_eq!(s.refresh(rt(&kept)).await.status(), 200);
    let fresh = s.token_login("alice", None).await;
    assert_ok(&s, at(&fresh), "login after the restart").await;
}
