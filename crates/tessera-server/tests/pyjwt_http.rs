//! Interoperability: PyJWT, an independent JOSE implementation, fetches our
//! JWKS with `PyJWKClient` and verifies our access tokens (signature with the
//! key `kid` names, issuer, audience, expiry, required claims, `typ: at+jwt`)
//! for each asymmetric algorithm. The script is `tests/pyjwt/verify.py`.
//!
//! Needs `python3` with `pyjwt[crypto]`. Under CI (env `CI` set) a missing
//! PyJWT fails the test; elsewhere the test prints a notice and passes.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is how a test reports failure")]

mod support;

use std::process::{Command, Output};

use support::*;
use tessera_token::Algorithm;

fn script() -> String {
    format!("{}/tests/pyjwt/verify.py", env!("CARGO_MANIFEST_DIR"))
}

/// Fails the test, naming the package, unless `python3` can import PyJWT
/// with its crypto backend: the interoperability check is never skipped.
fn require_pyjwt() {
    let ok = Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "PyJWT is not importable by python3: run \
         `python3 -m pip install 'pyjwt[crypto]>=2.8'` (`.ci/run` does)"
    );
}

/// A server whose manual clock starts at the real time: PyJWT checks `exp`
/// and `iat` against the wall clock.
async fn server(algorithm: Algorithm) -> TestServer {
    #[allow(clippy::disallowed_methods, reason = "PyJWT verifies against the real clock")]
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let start_unix = i64::try_from(now).unwrap();
    TestServer::start_with(Options { algorithm, start_unix, ..Options::default() }).await
}

/// Runs `verify.py JWKS_URL TOKEN ISSUER AUDIENCE` off the async workers
/// (the server answers PyJWT's JWKS request meanwhile).
async fn verify(s: &TestServer, token: &str, issuer: &str, audience: &str) -> Output {
    let args =
        [script(), s.url("/.well-known/jwks.json"), token.into(), issuer.into(), audience.into()];
    tokio::task::spawn_blocking(move || Command::new("python3").args(args).output().unwrap())
        .await
        .unwrap()
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Logs a fresh user in and returns the access token.
async fn access_token(s: &TestServer) -> String {
    s.create_user("alice", "admin read").await;
    let login = s.token_login("alice", None).await;
    login["access_token"].as_str().unwrap().to_owned()
}

async fn assert_pyjwt_accepts(algorithm: Algorithm) {
    require_pyjwt();
    let s = server(algorithm).await;
    let token = access_token(&s).await;
    // Control: Tessera itself accepts the token at this instant.
    assert_eq!(s.bearer_get("/admin/keys", &token).await.status(), 200);
    let out = verify(&s, &token, ISSUER, AUDIENCE).await;
    assert!(out.status.success(), "PyJWT refused our {algorithm} token: {}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK", "{}", describe(&out));
}

#[tokio::test]
async fn pyjwt_eddsa_access_token_verified() {
    assert_pyjwt_accepts(Algorithm::EdDSA).await;
}

#[tokio::test]
async fn pyjwt_es256_access_token_verified() {
    assert_pyjwt_accepts(Algorithm::ES256).await;
}

#[tokio::test]
async fn pyjwt_rs256_access_token_verified() {
    assert_pyjwt_accepts(Algorithm::RS256).await;
}

/// The script really checks: a wrong issuer or audience, or a tampered
/// signature, makes it fail (so the acceptance above means something).
#[tokio::test]
async fn pyjwt_wrong_issuer_audience_or_signature_rejected() {
    require_pyjwt();
    let s = server(Algorithm::EdDSA).await;
    let token = access_token(&s).await;
    let (signing_input, sig) = token.rsplit_once('.').unwrap();
    // Flip a bit in the first signature character (always a full 6 bits).
    let first = sig.as_bytes()[0];
    let flipped = if first == b'A' { 'B' } else { 'A' };
    let tampered = format!("{signing_input}.{flipped}{}", &sig[1..]);
    for (what, token, issuer, audience) in [
        ("wrong issuer", token.as_str(), "https://evil.example.test", AUDIENCE),
        ("wrong audience", token.as_str(), ISSUER, "https://other.example.test"),
        ("tampered signature", tampered.as_str(), ISSUER, AUDIENCE),
    ] {
        let out = verify(&s, token, issuer, audience).await;
        assert!(!out.status.success(), "PyJWT accepted a token with a {what}: {}", describe(&out));
    }
}
