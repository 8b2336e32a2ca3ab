//! Shared fixtures for the fuzz targets: fixed key rings (deterministic keys,
//! so a crash reproduces on any machine), the one token signed with each, and
//! a small mutation engine that applies the fuzz input as edits to a known
//! good document.

use std::sync::LazyLock;

use tessera_token::fuzzing::base64url_decode;
use tessera_token::{AccessClaims, Algorithm, Audience, KeyRing, SigningKey, Validation, sign_at};

/// The verifier's clock in every target (Unix seconds).
pub const NOW: i64 = 1_800_000_000;
/// The issuer the fixtures sign and the verifier requires.
pub const ISS: &str = "https://auth.example";
/// The audience the fixtures sign and the verifier requires.
pub const AUD: &str = "https://api.example";
/// Upper bound on a mutated document, so no input makes the harness slow.
const MAX_MUTATED_LEN: usize = 16 * 1024;

/// A key ring, the claims it signed, and the resulting token.
#[derive(Debug)]
pub struct Fixture {
    /// Current and next key (both verify).
    pub ring: KeyRing,
    /// What [`Fixture::token`] carries.
    pub claims: AccessClaims,
    /// The one valid access token for this ring (`sign_at` with the current key).
    pub token: String,
    /// The token's decoded header JSON.
    pub header_json: Vec<u8>,
    /// The token's decoded payload JSON.
    pub payload_json: Vec<u8>,
}

impl Fixture {
    fn new(current: SigningKey, next: SigningKey) -> Self {
        let ring = KeyRing::bootstrap_at(NOW - 100, current, next).expect("fixture ring");
        let claims = claims();
        let token = sign_at(&ring, &claims).expect("fixture token");
        let mut parts = token.split('.');
        let mut segment = || base64url_decode(parts.next().expect("segment")).expect("base64url");
        let header_json = segment();
        let payload_json = segment();
        Self { ring, claims, token, header_json, payload_json }
    }
}

/// The claims every fixture token carries; valid at [`NOW`].
pub fn claims() -> AccessClaims {
    AccessClaims {
        iss: ISS.into(),
        sub: "user-1".into(),
        aud: Audience::One(AUD.into()),
        exp: NOW + 900,
        iat: NOW,
        nbf: None,
        jti: "jti-1".into(),
        client_id: "first-party".into(),
        scope: "read write".into(),
        sid: Some("sid-1".into()),
        auth_time: Some(NOW - 10),
    }
}

/// What every target's verifier requires (the secure defaults).
pub fn validation() -> Validation {
    Validation::new(ISS, AUD)
}

/// An Ed25519 key from a fixed seed (PKCS#8 v1, RFC 8410).
pub fn ed25519(kid: &str, seed: u8) -> SigningKey {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend((0..32u8).map(|i| i.wrapping_mul(31).wrapping_add(seed)));
    SigningKey::from_pkcs8(Algorithm::EdDSA, kid, &der).expect("fixed Ed25519 key")
}

/// An HS256 key with a fixed 32-byte secret.
pub fn hs256(kid: &str, seed: u8) -> SigningKey {
    let secret: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(13).wrapping_add(seed)).collect();
    SigningKey::from_pkcs8(Algorithm::HS256, kid, &secret).expect("fixed HS256 key")
}

/// EdDSA ring: `ed-cur` (current) and `ed-nxt` (next).
pub static EDDSA: LazyLock<Fixture> =
    LazyLock::new(|| Fixture::new(ed25519("ed-cur", 1), ed25519("ed-nxt", 2)));
/// HS256 ring: `hs-cur` (current) and `hs-nxt` (next).
pub static HS256: LazyLock<Fixture> =
    LazyLock::new(|| Fixture::new(hs256("hs-cur", 3), hs256("hs-nxt", 4)));

/// Applies `ops` to `base`: every 4 input bytes are one edit
/// `[kind, position (2 bytes, big-endian), value]`. Kinds: overwrite a byte,
/// insert a byte, delete a byte, insert a `dict` entry, flip a bit, delete a
/// run of up to `value` bytes. Positions wrap, so every input is some edit.
pub fn mutate(base: &[u8], ops: &[u8], dict: &[&[u8]]) -> Vec<u8> {
    let mut out = base.to_vec();
    for op in ops.chunks_exact(4) {
        let pos = usize::from(u16::from_be_bytes([op[1], op[2]]));
        let value = op[3];
        match op[0] % 6 {
            0 if !out.is_empty() => {
                let i = pos % out.len();
                out[i] = value;
            }
            1 => {
                let i = pos % (out.len() + 1);
                out.insert(i, value);
            }
            2 if !out.is_empty() => {
                let i = pos % out.len();
                out.remove(i);
            }
            3 if !dict.is_empty() => {
                let i = pos % (out.len() + 1);
                let word = dict[usize::from(value) % dict.len()];
                out.splice(i..i, word.iter().copied());
            }
            4 if !out.is_empty() => {
                let i = pos % out.len();
                out[i] ^= 1 << (value % 8);
            }
            5 if !out.is_empty() => {
                let i = pos % out.len();
                let end = (i + usize::from(value)).min(out.len());
                out.drain(i..end);
            }
            _ => {}
        }
        if out.len() > MAX_MUTATED_LEN {
            out.truncate(MAX_MUTATED_LEN);
        }
    }
    out
}

/// Splits `data` at its first zero byte (the zero dropped); all of it and an
/// empty tail when there is none.
pub fn split_at_zero(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// Splits ops for two documents: the first byte says how many 4-byte edits
/// go to the first one, the rest go to the second.
pub fn split_ops(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((&n, rest)) = data.split_first() else { return (&[], &[]) };
    let first = (usize::from(n) * 4).min(rest.len());
    rest.split_at(first)
}

/// JSON fragments for mutating headers, claims, JWKS and bodies.
pub const JSON_DICT: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"true",
    b"0",
    b"-1",
    b"1.5",
    b"1e3",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"18446744073709551616",
    b"\\u0000",
    b"\\u0069",
    b"\\ud800",
    b" ",
    b"\"alg\"",
    b"\"kid\"",
    b"\"typ\"",
    b"\"jwk\"",
    b"\"jku\"",
    b"\"x5c\"",
    b"\"crit\"",
    b"\"none\"",
    b"\"EdDSA\"",
    b"\"HS256\"",
    b"\"ES256\"",
    b"\"RS256\"",
    b"\"at+jwt\"",
    b"\"application/AT+JWT\"",
    b"\"JWT\"",
    b"\"iss\"",
    b"\"sub\"",
    b"\"aud\"",
    b"\"exp\"",
    b"\"nbf\"",
    b"\"iat\"",
    b"\"jti\"",
    b"\"sid\"",
    b"\"https://auth.example\"",
    b"\"https://api.example\"",
    b"\"kty\"",
    b"\"crv\"",
    b"\"x\"",
    b"\"y\"",
    b"\"n\"",
    b"\"e\"",
    b"\"d\"",
    b"\"k\"",
    b"\"use\"",
    b"\"key_ops\"",
    b"\"verify\"",
    b"\"sig\"",
    b"\"enc\"",
    b"\"OKP\"",
    b"\"EC\"",
    b"\"RSA\"",
    b"\"oct\"",
    b"\"Ed25519\"",
    b"\"P-256\"",
    b"\"AQAB\"",
    b"\"keys\"",
    b"\"username\"",
    b"\"password\"",
    b"\"grant_type\"",
    b"\"refresh_token\"",
    b"\"client_id\"",
    b"\"client_secret\"",
    b"\"scope\"",
];
