//! `verify_at` against fixed EdDSA and HS256 rings.
//!
//! Input: first byte = ring (high bit: HS256, else EdDSA) and mode (low bits % 4).
//! - 0: the rest is the token text.
//! - 1: the rest is edits (`tessera_fuzz::mutate`) on the ring's one valid token.
//! - 2: the rest is `header 0x00 payload`, signed with the ring's current key.
//! - 3: the rest is edits on the valid token's header and payload JSON, then signed.
//!
//! Properties:
//! - modes 0 and 1 (no signature of ours): `Ok` only for the token we signed,
//!   byte for byte, and then with exactly the claims we signed. No other
//!   spelling of it (padding, case, alphabet, trailing bits, re-encoded JSON)
//!   verifies.
//! - modes 2 and 3 (correctly signed, arbitrary content): `Ok` only if the
//!   header names our kid and its algorithm, has an access-token `typ` and no
//!   key-source or `crit` member, and the claims meet the validation (issuer,
//!   audience, exp/nbf/iat with leeway), equal to the payload parsed on its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tessera_fuzz::{
    AUD, EDDSA, Fixture, HS256, ISS, JSON_DICT, NOW, mutate, split_at_zero, split_ops, validation,
};
use tessera_token::fuzzing::base64url_encode as b64;
use tessera_token::{AccessClaims, DEFAULT_LEEWAY_SECS, verify_at};

/// Edits that hit base64url and JWS structure: separators, padding, other
/// alphabets, and the start of an encoded JSON object.
const TOKEN_DICT: &[&[u8]] = &[
    b".",
    b"..",
    b"=",
    b"==",
    b"+",
    b"/",
    b"-",
    b"_",
    b" ",
    b"\n",
    b"A",
    b"Q",
    b"g",
    b"w",
    b"eyJ",
    b"e30",
    b"eyJhbGciOiJub25lIn0",
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let fx: &Fixture = if mode & 0x80 != 0 { &HS256 } else { &EDDSA };
    match (mode & 0x7f) % 4 {
        0 => check_unsigned(fx, &String::from_utf8_lossy(rest)),
        1 => {
            let token = mutate(fx.token.as_bytes(), rest, TOKEN_DICT);
            check_unsigned(fx, &String::from_utf8_lossy(&token));
        }
        2 => {
            let (header, payload) = split_at_zero(rest);
            check_signed(fx, header, payload);
        }
        _ => {
            let (header_ops, payload_ops) = split_ops(rest);
            let header = mutate(&fx.header_json, header_ops, JSON_DICT);
            let payload = mutate(&fx.payload_json, payload_ops, JSON_DICT);
            check_signed(fx, &header, &payload);
        }
    }
});

fn check_unsigned(fx: &Fixture, token: &str) {
    if let Ok(verified) = verify_at(token, &fx.ring, &validation(), NOW) {
        assert_eq!(token, fx.token, "a token we did not sign verified");
        assert_eq!(verified.claims(), &fx.claims, "verified claims differ from the signed ones");
    }
}

fn check_signed(fx: &Fixture, header: &[u8], payload: &[u8]) {
    let key = fx.ring.current();
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = key.sign(input.as_bytes()).expect("signing");
    let token = format!("{input}.{}", b64(&sig));
    let Ok(verified) = verify_at(&token, &fx.ring, &validation(), NOW) else { return };

    // The header that was accepted.
    let header: Value = serde_json::from_slice(header).expect("accepted header is not JSON");
    let header = header.as_object().expect("accepted header is not an object");
    assert_eq!(header.get("kid").and_then(Value::as_str), Some(key.kid()));
    assert_eq!(header.get("alg").and_then(Value::as_str), Some(key.algorithm().jose_name()));
    for member in ["jwk", "jku", "x5u", "x5c", "crit"] {
        assert!(!header.contains_key(member), "accepted header has {member}");
    }
    let typ = header.get("typ").and_then(Value::as_str).expect("accepted header lacks typ");
    let typ = typ.to_ascii_lowercase();
    assert!(typ == "at+jwt" || typ == "application/at+jwt", "accepted typ {typ:?}");

    // The claims that were accepted.
    let claims: AccessClaims =
        serde_json::from_slice(payload).expect("accepted payload is not AccessClaims");
    assert_eq!(verified.claims(), &claims);
    assert_eq!(claims.iss, ISS);
    assert!(claims.aud.contains(AUD));
    let leeway = DEFAULT_LEEWAY_SECS;
    assert!(NOW < claims.exp.saturating_add(leeway), "expired token accepted");
    assert!(claims.nbf.is_none_or(|nbf| nbf <= NOW + leeway), "not-yet-valid token accepted");
    assert!(claims.iat <= NOW + leeway, "token issued in the future accepted");
}
